#include "hooks/hook_json.h"

#include <simdjson.h>

#include "base/base64.h"
#include "base/json_string.h"

namespace herald::hooks {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

Status Bad(std::string message) {
  return {ErrorCode::kInvalidArgument, "hook answer: " + std::move(message)};
}

void Field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  AppendJsonString(out, value);
}

Status ReadString(element e, std::string_view key, std::string& out) {
  std::string_view v;
  if (e.get(v) != simdjson::SUCCESS) return Bad("'" + std::string(key) + "' must be a string");
  out = std::string(v);
  return Status::Ok();
}

Status ReadList(element e, std::string_view key, std::vector<std::string>& out) {
  simdjson::dom::array list;
  if (e.get(list) != simdjson::SUCCESS) {
    return Bad("'grants." + std::string(key) + "' must be a list of patterns");
  }
  for (element item : list) {
    std::string_view v;
    if (item.get(v) != simdjson::SUCCESS) {
      return Bad("'grants." + std::string(key) + "' must be a list of patterns");
    }
    out.emplace_back(v);
  }
  return Status::Ok();
}

Status ReadGrants(element e, HookGrants& out) {
  object obj;
  if (e.get(obj) != simdjson::SUCCESS) return Bad("'grants' must be an object");
  for (auto field : obj) {
    const std::string_view key = field.key;
    std::vector<std::string>* into = key == "publish"     ? &out.publish
                                     : key == "subscribe" ? &out.subscribe
                                     : key == "queues"    ? &out.queues
                                     : key == "admin"     ? &out.admin
                                                          : nullptr;
    if (!into) continue;
    if (Status s = ReadList(field.value, key, *into); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeHookRequest(const HookRequest& r) {
  std::string out = "{\"event\":";
  AppendJsonString(out, HookEventName(r.event));
  if (!r.client.empty()) Field(out, "client", r.client);
  Field(out, "user", r.user);
  out += r.anonymous ? ",\"anonymous\":true" : ",\"anonymous\":false";
  Field(out, "transport", r.transport);
  // Checked JSON object text (auth::ClientInfo), written as the object.
  if (!r.info.empty()) out += ",\"info\":" + r.info;
  if (!r.token.empty()) Field(out, "token", r.token);
  if (!r.topic.empty()) Field(out, "topic", r.topic);
  if (r.event == HookEvent::kPublish) {
    Field(out, "data", Base64Encode(r.data));
    if (!r.content_type.empty()) Field(out, "content_type", r.content_type);
  }
  out += '}';
  return out;
}

Result<HookDecision> DecodeHookDecision(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  element root;
  if (auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    return Bad(std::string("malformed JSON: ") + simdjson::error_message(error));
  }
  object obj;
  if (root.get(obj) != simdjson::SUCCESS) return Bad("not a JSON object");
  HookDecision d;
  bool have_allow = false;
  for (auto field : obj) {
    const std::string_view key = field.key;
    const element v = field.value;
    Status s;
    if (key == "allow") {
      if (v.get(d.allow) != simdjson::SUCCESS) return Bad("'allow' must be true or false");
      have_allow = true;
    } else if (key == "code") {
      s = ReadString(v, key, d.code);
    } else if (key == "message") {
      s = ReadString(v, key, d.message);
    } else if (key == "user") {
      s = ReadString(v, key, d.user.emplace());
    } else if (key == "info") {
      if (!v.is_object()) return Bad("'info' must be an object");
      d.info = simdjson::minify(v);
    } else if (key == "grants") {
      s = ReadGrants(v, d.grants.emplace());
    } else if (key == "expires_at") {
      if (v.get(d.expires_at) != simdjson::SUCCESS || d.expires_at < 0) {
        return Bad("'expires_at' must be a time in Unix seconds");
      }
    } else if (key == "data") {
      std::string_view text;
      if (v.get(text) != simdjson::SUCCESS) return Bad("'data' must be a base64 string");
      std::optional<std::string> bytes = Base64Decode(text);
      if (!bytes) return Bad("'data' is not base64");
      d.data = std::move(*bytes);
    }
    if (!s.ok()) return s;
  }
  if (!have_allow) return Bad("no 'allow'");
  return d;
}

}  // namespace herald::hooks
