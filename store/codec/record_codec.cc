#include "store/codec/record_codec.h"

#include "store/codec/bytes.h"

namespace herald::store {

using codec::GetU64;
using codec::PutString;
using codec::PutU32;
using codec::PutU64;
using codec::Reader;

namespace {
constexpr uint8_t kMessageFormat = 1;
}  // namespace

namespace {

std::string EncodeMessageReserving(const Message& m, size_t room_after) {
  std::string v;
  size_t headers = 0;
  for (const Header& h : m.headers) headers += 8 + h.name.size() + h.value.size();
  v.reserve(1 + 8 + 16 + m.content_type.size() + m.reply_to.size() + m.msg_id.size() + headers +
            room_after);
  v.push_back(static_cast<char>(kMessageFormat));
  PutU64(v, static_cast<uint64_t>(m.timestamp_us));
  PutString(v, m.content_type);
  PutString(v, m.reply_to);
  PutString(v, m.msg_id);
  PutU32(v, static_cast<uint32_t>(m.headers.size()));
  for (const Header& h : m.headers) {
    PutString(v, h.name);
    PutString(v, h.value);
  }
  return v;
}

}  // namespace

std::string EncodeMessageBeforePayload(const Message& m) { return EncodeMessageReserving(m, 0); }

std::string EncodeMessage(const Message& m) {
  std::string v = EncodeMessageReserving(m, m.payload.size());
  v.append(m.payload);
  return v;
}

Result<MessagePtr> DecodeMessage(const MessagePosition& position, std::string_view value) {
  auto damaged = [&](std::string_view what) {
    return Status(ErrorCode::kInternal, "stored message " + std::string(position.topic) + " (" +
                                            std::to_string(position.epoch) + ", " +
                                            std::to_string(position.offset) + ") " +
                                            std::string(what));
  };
  Reader r(value);
  const uint8_t format = r.U8();
  if (!r.ok()) return damaged("is empty");
  if (format != kMessageFormat) {
    return damaged("has format " + std::to_string(format) + ", which this version does not read");
  }
  auto m = std::make_shared<Message>();
  m->topic = std::string(position.topic);
  m->epoch = position.epoch;
  m->offset = position.offset;
  m->timestamp_us = static_cast<int64_t>(r.U64());
  m->content_type = r.String();
  m->reply_to = r.String();
  m->msg_id = r.String();
  const uint32_t headers = r.U32();
  // Each header takes at least 8 bytes: a count beyond what is left is damage.
  if (!r.ok() || headers > r.left() / 8) return damaged("is truncated");
  m->headers.reserve(headers);
  for (uint32_t i = 0; i < headers; ++i) {
    Header h;
    h.name = r.String();
    h.value = r.String();
    m->headers.push_back(std::move(h));
  }
  if (!r.ok()) return damaged("is truncated");
  m->payload = r.Rest();
  return MessagePtr(std::move(m));
}

namespace {
// 2: with the incarnation; 3: and the start (a format 2 record starts new).
constexpr uint8_t kQueueFormat = 3;
}  // namespace

std::string EncodeQueue(const QueueOptions& q, uint64_t incarnation, std::string_view backfill) {
  // A queue that starts new is written as the version before reads it (a
  // rollback keeps its queues); the start and its reading need format 3.
  const bool v3 = q.start != QueueOptions::Start::kNew || !backfill.empty();
  std::string v;
  v.push_back(static_cast<char>(v3 ? kQueueFormat : 2));
  PutU64(v, incarnation);
  PutString(v, q.pattern);
  PutU64(v, static_cast<uint64_t>(q.ack_wait.count()));
  PutU32(v, q.max_deliver);
  PutU32(v, static_cast<uint32_t>(q.backoff.size()));
  for (auto step : q.backoff) PutU64(v, static_cast<uint64_t>(step.count()));
  PutU32(v, q.max_in_flight);
  PutU32(v, q.max_in_flight_per_member);
  PutU64(v, q.max_pending);
  PutU64(v, q.max_pending_bytes);
  PutString(v, q.dead_letter);
  if (!v3) return v;
  v.push_back(static_cast<char>(q.start));
  PutU64(v, static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                      q.start_time.time_since_epoch())
                                      .count()));
  PutString(v, backfill);
  return v;
}

Result<StoredQueue> DecodeQueue(std::string_view name, std::string_view value) {
  Reader r(value);
  const uint8_t format = r.U8();
  auto damaged = [&](std::string_view what) {
    return Status(ErrorCode::kInternal,
                  "stored work queue '" + std::string(name) + "' " + std::string(what));
  };
  if (!r.ok() || (format != 2 && format != kQueueFormat)) {
    return damaged("has a format this version does not read");
  }
  QueueOptions q;
  const uint64_t incarnation = r.U64();
  q.name = std::string(name);
  q.pattern = r.String();
  q.ack_wait = std::chrono::milliseconds(static_cast<int64_t>(r.U64()));
  q.max_deliver = r.U32();
  const uint32_t steps = r.U32();
  if (!r.ok() || steps > r.left() / 8) return damaged("is truncated");
  for (uint32_t i = 0; i < steps; ++i) {
    q.backoff.emplace_back(static_cast<int64_t>(r.U64()));
  }
  q.max_in_flight = r.U32();
  q.max_in_flight_per_member = r.U32();
  q.max_pending = r.U64();
  q.max_pending_bytes = r.U64();
  q.dead_letter = r.String();
  if (format >= 3) {
    const uint8_t start = r.U8();
    if (start > static_cast<uint8_t>(QueueOptions::Start::kTime))
      return damaged("has an unknown start");
    q.start = static_cast<QueueOptions::Start>(start);
    q.start_time = std::chrono::system_clock::time_point(
        std::chrono::microseconds(static_cast<int64_t>(r.U64())));
  }
  StoredQueue out;
  if (format >= 3) out.backfill = r.String();
  if (!r.ok() || r.left() != 0) return damaged("is truncated");
  out.options = std::move(q);
  out.incarnation = incarnation;
  return out;
}

std::string EncodeJob(const Message& m) {
  std::string v;
  PutString(v, m.topic);
  PutU64(v, m.epoch);
  PutU64(v, m.offset);
  v.append(EncodeMessage(m));
  return v;
}

Result<MessagePtr> DecodeJob(std::string_view value) {
  Reader r(value);
  MessagePosition p;
  const std::string topic = r.String();
  p.epoch = r.U64();
  p.offset = r.U64();
  if (!r.ok()) return Status(ErrorCode::kInternal, "a stored job is truncated");
  p.topic = topic;
  return DecodeMessage(p, r.Rest());
}

}  // namespace herald::store
