#include "frontends/json/command.h"

#include <simdjson.h>

#include "base/base64.h"

namespace herald::json {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

Status Bad(std::string message) { return {ErrorCode::kInvalidArgument, std::move(message)}; }

// Reads an optional string field; a present field of another type is an error.
Status OptionalString(const object& obj, std::string_view key, std::string& out) {
  element e;
  if (obj[key].get(e) != simdjson::SUCCESS) return Status::Ok();
  std::string_view s;
  if (e.get(s) != simdjson::SUCCESS) return Bad("'" + std::string(key) + "' must be a string");
  out = std::string(s);
  return Status::Ok();
}

Status RequiredString(const object& obj, std::string_view key, std::string& out) {
  element e;
  if (obj[key].get(e) != simdjson::SUCCESS) return Bad("missing '" + std::string(key) + "'");
  return OptionalString(obj, key, out);
}

Status ReadId(const object& obj, std::string& out) {
  element e;
  if (obj["id"].get(e) != simdjson::SUCCESS) return Status::Ok();
  switch (e.type()) {
    case element_type::STRING:
    case element_type::INT64:
    case element_type::UINT64:
      out = simdjson::minify(e);
      return Status::Ok();
    default:
      return Bad("'id' must be a string or an integer");
  }
}

// "payload" (any JSON value: a string is text, anything else JSON) or
// "payload_b64" (binary). Absent: an empty text payload.
Status ReadPayload(const object& obj, Command& c) {
  element p, b64;
  const bool has_p = obj["payload"].get(p) == simdjson::SUCCESS;
  const bool has_b64 = obj["payload_b64"].get(b64) == simdjson::SUCCESS;
  if (has_p && has_b64) return Bad("give 'payload' or 'payload_b64', not both");
  if (has_b64) {
    std::string_view text;
    if (b64.get(text) != simdjson::SUCCESS) return Bad("'payload_b64' must be a string");
    auto bytes = Base64Decode(text);
    if (!bytes) return Bad("'payload_b64' is not valid base64");
    c.payload = std::move(*bytes);
    c.content_type = kBinaryContentType;
  } else if (has_p && p.type() == element_type::STRING) {
    c.payload = std::string(p.get_string().value_unsafe());
    c.content_type = kTextContentType;
  } else if (has_p) {
    c.payload = simdjson::minify(p);
    c.content_type = kJsonContentType;
  } else {
    c.content_type = kTextContentType;
  }
  return Status::Ok();
}

Status ReadHeaders(const object& obj, const CommandLimits& limits, Command& c) {
  element e;
  if (obj["headers"].get(e) != simdjson::SUCCESS) return Status::Ok();
  object h;
  if (e.get(h) != simdjson::SUCCESS) return Bad("'headers' must be an object of strings");
  for (auto field : h) {
    std::string_view value;
    if (field.value.get(value) != simdjson::SUCCESS) {
      return Bad("header '" + std::string(field.key) + "' must be a string");
    }
    if (c.headers.size() == limits.max_headers) {
      return Bad("more than " + std::to_string(limits.max_headers) + " headers");
    }
    c.headers.push_back({std::string(field.key), std::string(value)});
  }
  return Status::Ok();
}

// "resume": {"<topic>": {"epoch": E, "offset": O}, ...}
Status ReadResume(const object& obj, Command& c) {
  element e;
  if (obj["resume"].get(e) != simdjson::SUCCESS) return Status::Ok();
  object points;
  if (e.get(points) != simdjson::SUCCESS) {
    return Bad("'resume' must be an object of {\"epoch\":E,\"offset\":O} per topic");
  }
  for (auto field : points) {
    object point;
    uint64_t epoch = 0, offset = 0;
    if (field.value.get(point) != simdjson::SUCCESS || point["epoch"].get(epoch) ||
        point["offset"].get(offset)) {
      return Bad("resume point for '" + std::string(field.key) +
                 "' needs non-negative integers 'epoch' and 'offset'");
    }
    c.resume.push_back({std::string(field.key), epoch, offset});
  }
  return Status::Ok();
}

Status ReadTimeout(const object& obj, Command& c) {
  element e;
  if (obj["timeout_ms"].get(e) != simdjson::SUCCESS) return Status::Ok();
  int64_t ms = 0;
  if (e.get(ms) != simdjson::SUCCESS) return Bad("'timeout_ms' must be an integer");
  c.timeout_ms = ms;  // its range is checked by the session layer
  return Status::Ok();
}

Status OptionalBool(const object& obj, std::string_view key, bool& out) {
  element e;
  if (obj[key].get(e) != simdjson::SUCCESS) return Status::Ok();
  if (e.get(out) != simdjson::SUCCESS)
    return Bad("'" + std::string(key) + "' must be true or false");
  return Status::Ok();
}

Status OptionalInteger(const object& obj, std::string_view key, std::optional<int64_t>& out) {
  element e;
  if (obj[key].get(e) != simdjson::SUCCESS) return Status::Ok();
  int64_t v = 0;
  if (e.get(v) != simdjson::SUCCESS) return Bad("'" + std::string(key) + "' must be an integer");
  out = v;
  return Status::Ok();
}

Status DecodeQueueOp(const object& obj, std::string_view op, Command& c) {
  if (op == "join" || op == "leave") {
    c.op = op == "join" ? Command::Op::kJoin : Command::Op::kLeave;
    if (Status s = RequiredString(obj, "queue", c.queue); !s.ok()) return s;
    std::optional<int64_t> max;
    if (Status s = OptionalInteger(obj, "max_in_flight", max); !s.ok()) return s;
    if (max && (*max < 1 || *max > UINT32_MAX)) return Bad("'max_in_flight' must be 1 or more");
    if (max) c.max_in_flight = static_cast<uint32_t>(*max);
    std::optional<int64_t> batch;
    if (Status s = OptionalInteger(obj, "batch", batch); !s.ok()) return s;
    if (batch && (*batch < 1 || *batch > UINT32_MAX)) return Bad("'batch' must be 1 or more");
    if (batch) c.batch = static_cast<uint32_t>(*batch);
    return Status::Ok();
  }
  c.op = op == "ack"        ? Command::Op::kAck
         : op == "nack"     ? Command::Op::kNack
         : op == "progress" ? Command::Op::kProgress
                            : Command::Op::kTerm;
  if (Status s = RequiredString(obj, "handle", c.handle); !s.ok()) return s;
  if (c.op == Command::Op::kNack) return OptionalInteger(obj, "delay_ms", c.delay_ms);
  return Status::Ok();
}

Status DecodeInto(const object& obj, const CommandLimits& limits, Command& c) {
  if (Status s = ReadId(obj, c.id); !s.ok()) return s;
  std::string op;
  if (Status s = RequiredString(obj, "op", op); !s.ok()) return s;
  if (op == "sub" || op == "unsub") {
    c.op = op == "sub" ? Command::Op::kSub : Command::Op::kUnsub;
    if (Status s = RequiredString(obj, "topic", c.topic); !s.ok()) return s;
    if (Status s = OptionalString(obj, "group", c.group); !s.ok()) return s;
    if (c.op == Command::Op::kSub) {
      if (Status s = OptionalBool(obj, "presence", c.presence); !s.ok()) return s;
      return ReadResume(obj, c);
    }
    return Status::Ok();
  }
  if (op == "members") {
    c.op = Command::Op::kMembers;
    if (Status s = RequiredString(obj, "topic", c.topic); !s.ok()) return s;
    if (Status s = OptionalInteger(obj, "limit", c.limit); !s.ok()) return s;
    if (c.limit && (*c.limit < 1 || *c.limit > UINT32_MAX)) return Bad("'limit' must be 1 or more");
    return OptionalString(obj, "after", c.after);
  }
  if (op == "pub" || op == "req") {
    c.op = op == "pub" ? Command::Op::kPub : Command::Op::kReq;
    if (Status s = RequiredString(obj, "topic", c.topic); !s.ok()) return s;
    if (Status s = ReadPayload(obj, c); !s.ok()) return s;
    if (Status s = ReadHeaders(obj, limits, c); !s.ok()) return s;
    if (c.op == Command::Op::kPub) {
      if (Status s = OptionalString(obj, "msg_id", c.msg_id); !s.ok()) return s;
    }
    if (c.op == Command::Op::kReq) {
      if (c.id.empty()) return Bad("'req' needs an 'id' to match the reply to");
      return ReadTimeout(obj, c);
    }
    return Status::Ok();
  }
  if (op == "reply") {
    c.op = Command::Op::kReply;
    if (Status s = RequiredString(obj, "to", c.topic); !s.ok()) return s;
    return ReadPayload(obj, c);
  }
  if (op == "ping") {
    c.op = Command::Op::kPing;
    return Status::Ok();
  }
  if (op == "refresh") {
    c.op = Command::Op::kRefresh;
    if (Status s = RequiredString(obj, "token", c.token); !s.ok()) return s;
    if (c.token.empty()) return Bad("'token' must not be empty");
    return Status::Ok();
  }
  if (op == "join" || op == "leave" || op == "ack" || op == "nack" || op == "progress" ||
      op == "term") {
    return DecodeQueueOp(obj, op, c);
  }
  return Bad("unknown op '" + op +
             "' (expected sub, unsub, pub, req, reply, ping, refresh, members, join, leave, ack, "
             "nack, progress or term)");
}

}  // namespace

Decoded DecodeCommand(std::string_view text, const CommandLimits& limits) {
  Decoded d;
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  element root;
  if (auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    d.status = Bad(std::string("malformed JSON: ") + simdjson::error_message(error));
    return d;
  }
  object obj;
  if (root.get(obj) != simdjson::SUCCESS) {
    d.status = Bad("a command must be a JSON object");
    return d;
  }
  d.status = DecodeInto(obj, limits, d.command);
  return d;
}

}  // namespace herald::json
