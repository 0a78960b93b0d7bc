// Decoding what a `/ws` client sends: one JSON object per text frame, with
// an "op" and the fields that op takes (docs/PROTOCOL.md). Every kind of bad
// input gets a specific message; the "id", when it could be read, is kept so
// the error can be correlated.
//
//   Decoded d = DecodeCommand(frame_text, limits);
//   if (!d.status.ok()) send(EncodeError(d.command.id, d.status));
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/broker.h"
#include "herald/status.h"

namespace herald::json {

struct Command {
  enum class Op {
    kSub,
    kUnsub,
    kPub,
    kReq,
    kReply,
    kPing,
    kRefresh,  // a new token for the live connection
    kMembers,  // a topic's presence members
    // Work queues.
    kJoin,
    kLeave,
    kAck,
    kNack,
    kProgress,
    kTerm,
  };
  Op op = Op::kPing;
  // The client's correlation id as JSON text (`"abc"` or `7`), echoed
  // verbatim in answers so its type survives; empty when absent.
  std::string id;
  std::string topic;  // sub/unsub: a pattern; pub/req: a topic; reply: the reply inbox
  std::string group;  // sub/unsub: queue group
  std::vector<ResumePoint> resume;  // sub
  bool presence = false;            // sub: be a member and receive join/leave events
  std::optional<int64_t> limit;     // members: as given (bounded by the broker)
  std::string after;                // members: a client id to page after
  std::string payload;              // pub/req/reply: the bytes
  std::string content_type;         // how "payload" was given: JSON, text or binary
  Headers headers;                  // pub/req: optional string map
  std::string msg_id;               // pub: optional, for idempotent publish
  // req: as given; its bounds are the session layer's (one rule, every front).
  std::optional<int64_t> timeout_ms;
  std::string queue;                // join/leave
  uint32_t max_in_flight = 0;       // join: 0 is the queue's per-member bound
  uint32_t batch = 0;               // join: jobs per `jobs` frame; 0: a `job` frame each
  std::string handle;               // ack/nack/progress/term
  std::string token;                // refresh: the new bearer token
  std::optional<int64_t> delay_ms;  // nack: as given; its bounds are the session layer's
};

struct CommandLimits {
  size_t max_headers = 32;
};

struct Decoded {
  Command command;
  Status status;
};

Decoded DecodeCommand(std::string_view text, const CommandLimits& limits = {});

inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";
inline constexpr std::string_view kBinaryContentType = "application/octet-stream";

}  // namespace herald::json
