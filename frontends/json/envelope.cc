#include "frontends/json/envelope.h"

#include <algorithm>

#include <simdjson.h>

#include "base/base64.h"
#include "frontends/json/json_writer.h"

namespace herald::json {
namespace {

bool IsJson(std::string_view content_type) { return content_type.starts_with("application/json"); }

// A JSON payload is embedded as-is, so it must really be one JSON value: a
// publisher that labels garbage as JSON gets it delivered base64-encoded
// rather than corrupting every subscriber's envelope.
bool IsValidJson(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  return parser.parse(padded).error() == simdjson::SUCCESS;
}

}  // namespace

bool IsTextPayload(const Message& m) {
  return !m.content_type.starts_with("application/octet-stream") &&
         simdjson::validate_utf8(m.payload.data(), m.payload.size());
}

void WritePayload(JsonWriter& w, std::string_view payload, std::string_view content_type) {
  const bool binary = content_type.starts_with("application/octet-stream");
  if (!binary && IsJson(content_type) && !payload.empty() && IsValidJson(payload)) {
    w.RawField("payload", payload);
  } else if (!binary && simdjson::validate_utf8(payload.data(), payload.size())) {
    w.Field("payload", payload);
  } else {
    w.Field("payload_b64", Base64Encode(payload));
  }
}

namespace {

// The message fields a delivery and a job share.
void WriteMessageFields(JsonWriter& w, const Message& m) {
  w.Field("topic", m.topic)
      .Field("epoch", m.epoch)
      .Field("offset", m.offset)
      .Field("ts", m.timestamp_us);
  WritePayload(w, m.payload, m.content_type);
  if (!m.content_type.empty()) w.Field("content_type", m.content_type);
  if (!m.reply_to.empty()) w.Field("reply_to", m.reply_to);
  if (!m.msg_id.empty()) w.Field("msg_id", m.msg_id);
  if (!m.headers.empty()) {
    w.BeginObject("headers");
    for (const Header& h : m.headers) w.Field(h.name, h.value);
    w.End();
  }
}

}  // namespace

std::string EncodeMessage(const Message& m) {
  JsonWriter w;
  w.Begin().Field("op", "msg");
  WriteMessageFields(w, m);
  w.End();
  return w.Take();
}

std::string EncodeGap(const Gap& gap) {
  JsonWriter w;
  w.Begin()
      .Field("op", "gap")
      .Field("topic", gap.topic)
      .Field("reason", GapReasonName(gap.reason))
      .Field("epoch", gap.epoch)
      .Field("from", gap.from_offset)
      .Field("to", gap.to_offset)
      .End();
  return w.Take();
}

std::string EncodeError(std::string_view id, std::string_view code, std::string_view message) {
  JsonWriter w;
  w.Begin().Field("op", "error");
  if (!id.empty()) w.RawField("id", id);
  w.Field("code", code).Field("message", message).End();
  return w.Take();
}

std::string EncodeError(std::string_view id, const Status& status) {
  return EncodeError(id, ErrorCodeName(status.code()), status.message());
}

std::string EncodeAck(std::string_view id, const PublishAck& ack) {
  JsonWriter w;
  w.Begin()
      .Field("op", "ack")
      .RawField("id", id)
      .Field("epoch", ack.epoch)
      .Field("offset", ack.offset);
  if (ack.duplicate) w.Field("duplicate", true);
  w.End();
  return w.Take();
}

std::string EncodeReply(std::string_view id, const Message& reply) {
  JsonWriter w;
  w.Begin().Field("op", "reply").RawField("id", id);
  WritePayload(w, reply.payload, reply.content_type);
  if (!reply.content_type.empty()) w.Field("content_type", reply.content_type);
  w.End();
  return w.Take();
}

std::string EncodeSubscribed(std::string_view op, std::string_view id, std::string_view topic,
                             std::string_view client) {
  JsonWriter w;
  w.Begin().Field("op", op);
  if (!id.empty()) w.RawField("id", id);
  w.Field("topic", topic);
  if (!client.empty()) w.Field("client", client);
  w.End();
  return w.Take();
}

namespace {

// Room for a job's envelope past its payload and headers, so that it is
// written without growing the buffer.
size_t JobSizeHint(const Job& job) {
  const Message& m = *job.message;
  size_t headers = 0;
  for (const Header& h : m.headers) headers += h.name.size() + h.value.size() + 6;
  return 192 + job.queue.size() + job.handle.size() + m.topic.size() + m.payload.size() * 4 / 3 +
         m.content_type.size() + m.reply_to.size() + m.msg_id.size() + headers;
}

void WriteJob(JsonWriter& w, const Job& job) {
  w.Begin()
      .Field("op", "job")
      .Field("queue", job.queue)
      .Field("handle", job.handle)
      .Field("deliveries", uint64_t{job.deliveries});
  WriteMessageFields(w, *job.message);
  w.End();
}

}  // namespace

std::string EncodeJob(const Job& job) {
  JsonWriter w;
  w.Reserve(JobSizeHint(job));
  WriteJob(w, job);
  return w.Take();
}

void JobList::Add(const Job& job) {
  list_ += size_++ == 0 ? '[' : ',';
  // Grown by doubling whatever the library's reserve does: a batch is built
  // job by job.
  if (const size_t need = list_.size() + JobSizeHint(job); need > list_.capacity()) {
    list_.reserve(std::max(need, 2 * list_.capacity()));
  }
  JsonWriter w(std::move(list_));
  WriteJob(w, job);
  list_ = w.Take();
}

std::string JobList::TakeArray() {
  std::string array = empty() ? std::string("[") : std::move(list_);
  array += ']';
  list_.clear();
  size_ = 0;
  return array;
}

std::string JobList::TakeFrame(std::string_view queue) {
  JsonWriter w;
  w.Begin().Field("op", "jobs").Field("queue", queue).RawField("jobs", TakeArray()).End();
  return w.Take();
}

std::string EncodeQueueAnswer(std::string_view op, std::string_view id, std::string_view queue) {
  JsonWriter w;
  w.Begin().Field("op", op);
  if (!id.empty()) w.RawField("id", id);
  w.Field("queue", queue).End();
  return w.Take();
}

std::string EncodeQueueInfo(const QueueInfo& q) {
  const QueueOptions& o = q.options;
  std::string backoff = "[";
  for (auto step : o.backoff) {
    if (backoff.size() > 1) backoff += ',';
    backoff += std::to_string(step.count());
  }
  backoff += ']';
  JsonWriter w;
  w.Begin()
      .Field("name", o.name)
      .Field("pattern", o.pattern)
      .Field("ack_wait_ms", static_cast<int64_t>(o.ack_wait.count()))
      .Field("max_deliver", uint64_t{o.max_deliver})
      .RawField("backoff_ms", backoff)
      .Field("max_in_flight", uint64_t{o.max_in_flight})
      .Field("max_in_flight_per_member", uint64_t{o.max_in_flight_per_member})
      .Field("max_pending", o.max_pending)
      .Field("max_pending_bytes", o.max_pending_bytes)
      .Field("dead_letter", o.dead_letter)
      .Field("start", QueueStartText(o))
      .Field("pending", q.pending)
      .Field("pending_bytes", q.pending_bytes)
      .Field("in_flight", q.in_flight)
      .Field("delayed", q.delayed)
      .Field("members", q.members)
      .Field("waiting_pulls", q.waiting_pulls)
      .Field("charged_bytes", q.charged_bytes)
      .Field("owed", q.owed)
      .Field("enqueued", q.enqueued)
      .Field("delivered", q.delivered)
      .Field("redelivered", q.redelivered)
      .Field("acked", q.acked)
      .Field("nacked", q.nacked)
      .Field("expired", q.expired)
      .Field("termed", q.termed)
      .Field("dead_lettered", q.dead_lettered)
      .Field("dropped", q.dropped)
      .Field("refused", q.refused)
      .Field("backfilling", q.backfilling)
      .Field("backfilled", q.backfilled)
      .Field("backfill_skipped", q.backfill_skipped)
      .Field("pulls_refused", q.pulls_refused)
      .End();
  return w.Take();
}

std::string EncodeQueueList(const std::vector<QueueInfo>& queues) {
  std::string list = "[";
  for (const QueueInfo& q : queues) {
    if (list.size() > 1) list += ',';
    list += EncodeQueueInfo(q);
  }
  list += ']';
  JsonWriter w;
  w.Begin().RawField("queues", list).End();
  return w.Take();
}

std::string EncodePong(std::string_view id) {
  JsonWriter w;
  w.Begin().Field("op", "pong");
  if (!id.empty()) w.RawField("id", id);
  w.End();
  return w.Take();
}

std::string EncodeRefreshed(std::string_view id, int64_t expires_at_s) {
  JsonWriter w;
  w.Begin().Field("op", "refreshed");
  if (!id.empty()) w.RawField("id", id);
  w.Field("expires_at", expires_at_s).End();
  return w.Take();
}

}  // namespace herald::json
