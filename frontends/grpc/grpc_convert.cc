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

}  // namespace herald::grpcfront
