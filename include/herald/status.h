// herald/status.h — errors as values.
//
// Every fallible call at a module edge returns a `Status` or a `Result<T>`;
// nothing in Herald throws across an event loop or a C callback. The error
// code says what kind of failure it was (callers branch on it, fronts map it to
// a close code, HTTP status or gRPC status); the message says what exactly was
// wrong, for a human.
//
//   herald::Result<herald::PublishAck> ack = broker.Publish("chat.room1", "hi");
//   if (!ack.ok()) log(ack.status().ToString());
//
// Not for: control flow inside a parser's inner loop (those use small enums).
#pragma once

#include <cassert>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace herald {

enum class ErrorCode {
  kOk = 0,
  kInvalidTopic,     // a topic or pattern that breaks the naming rules
  kInvalidArgument,  // any other malformed input
  kPayloadTooLarge,  // over the configured payload limit
  kTooManySubscriptions,
  kTooManyTopics,
  kNoResponders,        // a request matched no subscriber at all
  kTimeout,             // a request's deadline passed before any reply
  kHistoryUnavailable,  // resume point not covered by history (a gap)
  kNotFound,
  kPermissionDenied,
  kUnavailable,        // shutting down, not started, resource gone
  kRateLimited,        // over a configured rate (messages or commands per second)
  kResourceExhausted,  // over a configured budget (pending requests, topics, memory)
  kCancelled,          // the caller went away before the outcome (its connection closed)
  kInternal,
  kUnauthenticated,  // no credential where one is required, or one that does not check out
  // A work queue's job handle that names no delivery in flight to this
  // member (malformed, settled already, another member's).
  kUnknownHandle,
  // A job handle of an earlier delivery: the job was offered again since.
  kStaleHandle,
};
// The last code, for code that walks them all (mapping names back to codes).
inline constexpr ErrorCode kLastErrorCode = ErrorCode::kStaleHandle;
inline constexpr size_t kErrorCodeCount = static_cast<size_t>(kLastErrorCode) + 1;

// Stable lower_snake_case name of a code, used in logs, JSON errors and metrics.
std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_topic: empty token at position 2" — or "ok".
  std::string ToString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace herald
