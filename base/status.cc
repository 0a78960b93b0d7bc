#include "herald/status.h"

namespace herald {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidTopic:
      return "invalid_topic";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kPayloadTooLarge:
      return "payload_too_large";
    case ErrorCode::kTooManySubscriptions:
      return "too_many_subscriptions";
    case ErrorCode::kTooManyTopics:
      return "too_many_topics";
    case ErrorCode::kNoResponders:
      return "no_responders";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kHistoryUnavailable:
      return "history_unavailable";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kUnknownHandle:
      return "unknown_handle";
    case ErrorCode::kStaleHandle:
      return "stale_handle";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(ErrorCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

}  // namespace herald
