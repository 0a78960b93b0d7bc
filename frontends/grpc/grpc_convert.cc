#include "frontends/grpc/grpc_convert.h"

namespace herald::grpcfront {

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(ToGrpcCode(s)), s.message());
}

int32_t ToGrpcCode(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOk:
      return grpc::OK;
    case ErrorCode::kInvalidTopic:
    case ErrorCode::kInvalidArgument:
      return grpc::INVALID_ARGUMENT;
    case ErrorCode::kPayloadTooLarge:
    case ErrorCode::kTooManySubscriptions:
    case ErrorCode::kTooManyTopics:
      return grpc::RESOURCE_EXHAUSTED;
    case ErrorCode::kNoResponders:
    case ErrorCode::kUnavailable:
      return grpc::UNAVAILABLE;
    case ErrorCode::kTimeout:
      return grpc::DEADLINE_EXCEEDED;
    case ErrorCode::kHistoryUnavailable:
      return grpc::OUT_OF_RANGE;
    case ErrorCode::kNotFound:
      return grpc::NOT_FOUND;
    case ErrorCode::kPermissionDenied:
      return grpc::PERMISSION_DENIED;
    case ErrorCode::kRateLimited:
    case ErrorCode::kResourceExhausted:
      return grpc::RESOURCE_EXHAUSTED;
    case ErrorCode::kCancelled:
      return grpc::CANCELLED;
    case ErrorCode::kInternal:
      return grpc::INTERNAL;
    case ErrorCode::kUnauthenticated:
      return grpc::UNAUTHENTICATED;
    case ErrorCode::kUnknownHandle:
      return grpc::NOT_FOUND;
    case ErrorCode::kStaleHandle:
      return grpc::FAILED_PRECONDITION;
  }
  return grpc::UNKNOWN;
}

void ToProto(const Message& m, v1::Message* out) {
  out->set_topic(m.topic);
  out->set_payload(m.payload);
  if (!m.content_type.empty()) out->set_content_type(m.content_type);
  if (!m.reply_to.empty()) out->set_reply_to(m.reply_to);
  if (!m.msg_id.empty()) out->set_msg_id(m.msg_id);
  for (const Header& h : m.headers) (*out->mutable_headers())[h.name] = h.value;
  out->set_epoch(m.epoch);
  out->set_offset(m.offset);
  out->set_timestamp_us(m.timestamp_us);
}

void ToProto(const PresenceMember& m, v1::PresenceMember* out) {
  out->set_client(m.client);
  out->set_user(m.user);
  out->set_info(m.info);
}

void ToProto(const PresenceEvent& e, v1::PresenceEvent* out) {
  out->set_topic(e.topic);
  for (const PresenceMember& m : e.joins) ToProto(m, out->add_joins());
  for (const PresenceMember& m : e.leaves) ToProto(m, out->add_leaves());
  out->set_clients(e.clients);
  out->set_users(e.users);
  out->set_snapshot(e.snapshot);
  out->set_truncated(e.truncated);
  out->set_resync(e.resync);
}

void ToProto(const PresenceSnapshot& s, v1::PresenceResponse* out) {
  out->set_clients(s.clients);
  out->set_users(s.users);
  for (const PresenceMember& m : s.members) ToProto(m, out->add_members());
  out->set_next(s.next);
}

void ToProto(const Gap& g, v1::Gap* out) {
  out->set_topic(g.topic);
  switch (g.reason) {
    case GapReason::kEpochChanged:
      out->set_reason(v1::Gap::EPOCH_CHANGED);
      break;
    case GapReason::kTrimmed:
      out->set_reason(v1::Gap::TRIMMED);
      break;
    case GapReason::kSlowConsumer:
      out->set_reason(v1::Gap::SLOW_CONSUMER);
      break;
  }
  out->set_epoch(g.epoch);
  out->set_from_offset(g.from_offset);
  out->set_to_offset(g.to_offset);
}

PublishOptions OptionsFrom(const std::string& content_type,
                           const google::protobuf::Map<std::string, std::string>& headers) {
  PublishOptions o;
  o.content_type = content_type;
  o.headers.reserve(headers.size());
  for (const auto& [name, value] : headers) o.headers.push_back({name, value});
  return o;
}

PublishOptions OptionsOf(const v1::PublishRequest& r) {
  PublishOptions o = OptionsFrom(r.content_type(), r.headers());
  o.msg_id = r.msg_id();
  return o;
}

void ToProto(const PublishAck& ack, v1::PublishAck* out) {
  out->set_epoch(ack.epoch);
  out->set_offset(ack.offset);
  if (ack.duplicate) out->set_duplicate(true);
}

void ToProto(const Job& job, v1::Job* out) {
  out->set_queue(job.queue);
  out->set_handle(job.handle);
  out->set_deliveries(job.deliveries);
  ToProto(*job.message, out->mutable_message());
}

void ToProto(const QueueInfo& q, v1::QueueState* out) {
  const QueueOptions& o = q.options;
  v1::QueueDefinition* d = out->mutable_definition();
  d->set_name(o.name);
  d->set_pattern(o.pattern);
  d->set_ack_wait_ms(static_cast<uint64_t>(o.ack_wait.count()));
  d->set_max_deliver(
      o.max_deliver == 0 ? -1 : static_cast<int32_t>(std::min<uint32_t>(o.max_deliver, INT32_MAX)));
  for (auto step : o.backoff) d->add_backoff_ms(static_cast<uint64_t>(step.count()));
  d->set_max_in_flight(o.max_in_flight);
  d->set_max_in_flight_per_member(o.max_in_flight_per_member);
  d->set_max_pending(o.max_pending);
  d->set_max_pending_bytes(o.max_pending_bytes);
  d->set_dead_letter(o.dead_letter);
  d->set_start(QueueStartText(o));
  out->set_pending(q.pending);
  out->set_pending_bytes(q.pending_bytes);
  out->set_in_flight(q.in_flight);
  out->set_delayed(q.delayed);
  out->set_members(q.members);
  out->set_waiting_pulls(q.waiting_pulls);
  out->set_charged_bytes(q.charged_bytes);
  out->set_owed(q.owed);
  out->set_enqueued(q.enqueued);
  out->set_delivered(q.delivered);
  out->set_redelivered(q.redelivered);
  out->set_acked(q.acked);
  out->set_nacked(q.nacked);
  out->set_expired(q.expired);
  out->set_termed(q.termed);
  out->set_dead_lettered(q.dead_lettered);
  out->set_dropped(q.dropped);
  out->set_refused(q.refused);
  out->set_backfilling(q.backfilling);
  out->set_backfilled(q.backfilled);
  out->set_backfill_skipped(q.backfill_skipped);
  out->set_pulls_refused(q.pulls_refused);
}

Result<QueueOptions> FromProto(const v1::QueueDefinition& d) {
  QueueOptions o;
  o.name = d.name();
  o.pattern = d.pattern();
  // A wait past any bound the broker accepts is refused there, by name.
  if (d.ack_wait_ms() != 0) {
    o.ack_wait = std::chrono::milliseconds(
        static_cast<int64_t>(std::min<uint64_t>(d.ack_wait_ms(), uint64_t{1} << 62)));
  }
  if (d.max_deliver() < 0) o.max_deliver = 0;  // no limit
  if (d.max_deliver() > 0) o.max_deliver = static_cast<uint32_t>(d.max_deliver());
  for (uint64_t step : d.backoff_ms()) {
    o.backoff.emplace_back(static_cast<int64_t>(std::min<uint64_t>(step, uint64_t{1} << 62)));
  }
  if (d.max_in_flight() != 0) o.max_in_flight = d.max_in_flight();
  if (d.max_in_flight_per_member() != 0) o.max_in_flight_per_member = d.max_in_flight_per_member();
  if (d.max_pending() != 0) o.max_pending = d.max_pending();
  if (d.max_pending_bytes() != 0) o.max_pending_bytes = d.max_pending_bytes();
  o.dead_letter = d.dead_letter();
  if (!d.start().empty()) {
    if (Status s = ParseQueueStart(d.start(), o); !s.ok()) return s;
  }
  return o;
}

Result<SettleKind> FromProto(v1::SettleKind kind) {
  switch (kind) {
    case v1::ACK:
      return SettleKind::kAck;
    case v1::NACK:
      return SettleKind::kNack;
    case v1::PROGRESS:
      return SettleKind::kProgress;
    case v1::TERM:
      return SettleKind::kTerm;
    default:
      return Status(ErrorCode::kInvalidArgument, "'kind' must be ACK, NACK, PROGRESS or TERM");
  }
}

}  // namespace herald::grpcfront
