#include "frontends/json/admin_json.h"

#include <simdjson.h>

#include <limits>

#include "frontends/json/json_writer.h"

namespace herald::json {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

Status Bad(std::string message) { return {ErrorCode::kInvalidArgument, std::move(message)}; }

Status ReadString(element e, std::string_view key, std::string& out) {
  std::string_view v;
  if (e.get(v) != simdjson::SUCCESS) return Bad("'" + std::string(key) + "' must be a string");
  out = std::string(v);
  return Status::Ok();
}

Status ReadSeconds(element e, std::string_view key, int64_t& out) {
  if (e.get(out) != simdjson::SUCCESS || out < 0) {
    return Bad("'" + std::string(key) + "' must be a Unix time in seconds");
  }
  return Status::Ok();
}

}  // namespace

Result<AdminCall> DecodeAdminCall(AdminCall::Op op, std::string_view body) {
  using Op = AdminCall::Op;
  AdminCall call;
  call.op = op;
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  element root;
  if (auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    return Bad(std::string("malformed JSON: ") + simdjson::error_message(error));
  }
  object obj;
  if (root.get(obj) != simdjson::SUCCESS) return Bad("the body must be a JSON object");
  std::string jti;
  bool have_until = false;
  bool have_reconnect = false;
  for (auto field : obj) {
    const std::string_view key = field.key;
    Status s;
    if (key == "client" && op != Op::kRevoke) {
      s = ReadString(field.value, key, call.client);
    } else if (key == "user") {
      s = ReadString(field.value, key, call.user);
    } else if (key == "topic" && (op == Op::kSubscribe || op == Op::kUnsubscribe)) {
      s = ReadString(field.value, key, call.topic);
    } else if (key == "presence" && op == Op::kSubscribe) {
      if (field.value.get(call.presence) != simdjson::SUCCESS)
        s = Bad("'presence' must be a boolean");
    } else if (key == "code" && op == Op::kDisconnect) {
      uint64_t code = 0;
      if (field.value.get(code) != simdjson::SUCCESS || code > 65535) {
        s = Bad("'code' must be an integer from 4000 to 4999");
      }
      call.notice.code = static_cast<uint16_t>(code);
    } else if (key == "reason" && op == Op::kDisconnect) {
      s = ReadString(field.value, key, call.notice.reason);
    } else if (key == "reconnect" && op == Op::kDisconnect) {
      have_reconnect = true;
      if (field.value.get(call.notice.reconnect) != simdjson::SUCCESS) {
        s = Bad("'reconnect' must be a boolean");
      }
    } else if (key == "jti" && op == Op::kRevoke) {
      s = ReadString(field.value, key, jti);
    } else if (key == "issued_before" && op == Op::kRevoke) {
      s = ReadSeconds(field.value, key, call.revocation.issued_before_s);
    } else if (key == "until" && op == Op::kRevoke) {
      s = ReadSeconds(field.value, key, call.revocation.until_s);
      have_until = true;
    } else {
      return Bad("unknown key '" + std::string(key.substr(0, 64)) + "' for this operation");
    }
    if (!s.ok()) return s;
  }
  if (op == Op::kDisconnect) {
    // Either says the other: the code's range is whether to come back.
    DisconnectNotice& n = call.notice;
    if (n.code == 0) n.code = have_reconnect && !n.reconnect ? 4500 : 4000;
    if (!have_reconnect) n.reconnect = n.code < 4500;
  }
  if ((op == Op::kSubscribe || op == Op::kUnsubscribe) && call.topic.empty()) {
    return Bad("'topic' is required");
  }
  if (op == Op::kRevoke) {
    if (jti.empty() == call.user.empty()) return Bad("name a 'jti' or a 'user' (one of them)");
    if (!have_until) return Bad("'until' is required: when the revocation may be forgotten");
    if (!jti.empty() && call.revocation.issued_before_s != 0) {
      return Bad("'issued_before' applies to a user, not a jti");
    }
    call.revocation.kind = jti.empty() ? Revocation::Kind::kUser : Revocation::Kind::kToken;
    call.revocation.key = jti.empty() ? call.user : jti;
    call.user.clear();
  }
  return call;
}

std::string EncodeAdminResult(const AdminCall::Op op, const AdminResult& r) {
  // Arrays are built as text and written as raw fields (JsonWriter writes
  // objects only).
  auto strings = [](const std::vector<std::string>& list) {
    std::string out = "[";
    for (const std::string& s : list) {
      if (out.size() > 1) out.push_back(',');
      AppendJsonString(out, s);
    }
    out.push_back(']');
    return out;
  };
  JsonWriter w;
  w.Begin().Field("nodes", uint64_t{r.nodes}).RawField("unreached", strings(r.unreached));
  if (op != AdminCall::Op::kTopics) {
    w.Field("matched", r.matched).Field("applied", r.applied).Field("refused", r.refused);
  }
  if (!r.errors.empty()) w.RawField("errors", strings(r.errors));
  if (op == AdminCall::Op::kConnections) {
    std::string list = "[";
    for (const ClientRecord& c : r.clients) {
      if (list.size() > 1) list.push_back(',');
      JsonWriter e(std::move(list));
      e.Begin().Field("client", c.client).Field("user", c.user);
      if (c.anonymous) e.Field("anonymous", true);
      if (!c.token_id.empty()) e.Field("jti", c.token_id);
      if (c.issued_at_s) e.Field("issued_at", c.issued_at_s);
      if (c.expires_at_s) e.Field("expires_at", c.expires_at_s);
      e.Field("transport", c.transport).Field("connected_at_ms", c.connected_at_ms).End();
      list = e.Take();
    }
    list.push_back(']');
    w.RawField("clients", list);
  }
  if (op == AdminCall::Op::kTopics) {
    std::string list = "[";
    for (const TopicCount& t : r.topics) {
      if (list.size() > 1) list.push_back(',');
      JsonWriter e(std::move(list));
      e.Begin().Field("pattern", t.pattern).Field("subscribers", t.subscribers).End();
      list = e.Take();
    }
    list.push_back(']');
    w.RawField("topics", list);
  }
  if (r.truncated) w.Field("truncated", true);
  w.End();
  return w.Take();
}

std::string EncodeDisconnect(const DisconnectNotice& n) {
  JsonWriter w;
  w.Begin()
      .Field("op", "disconnect")
      .Field("code", uint64_t{n.code})
      .Field("reason", n.reason)
      .Field("reconnect", n.reconnect)
      .End();
  return w.Take();
}

std::string EncodeServerSubscribed(std::string_view op, std::string_view topic,
                                   std::string_view client) {
  JsonWriter w;
  w.Begin().Field("op", op).Field("topic", topic).Field("server", true);
  if (!client.empty()) w.Field("client", client);
  w.End();
  return w.Take();
}

}  // namespace herald::json
