#include "frontends/json/queue_json.h"

#include <simdjson.h>

#include "frontends/json/envelope.h"
#include "frontends/json/json_writer.h"

namespace herald::json {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

Status Bad(std::string message) { return {ErrorCode::kInvalidArgument, std::move(message)}; }

Result<object> ParseObject(simdjson::dom::parser& parser, std::string_view body,
                           std::string_view what) {
  simdjson::padded_string padded(body);
  element root;
  if (auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    return Bad(std::string(what) + ": malformed JSON: " + simdjson::error_message(error));
  }
  object obj;
  if (root.get(obj) != simdjson::SUCCESS) return Bad(std::string(what) + " must be a JSON object");
  return obj;
}

template <typename T>
Status ReadUint(element e, std::string_view key, T& out) {
  uint64_t v = 0;
  if (e.get(v) != simdjson::SUCCESS || v > std::numeric_limits<T>::max()) {
    return Bad("'" + std::string(key) + "' must be a non-negative integer up to " +
               std::to_string(std::numeric_limits<T>::max()));
  }
  out = static_cast<T>(v);
  return Status::Ok();
}

Status ReadMillis(element e, std::string_view key, std::chrono::milliseconds& out) {
  int64_t v = 0;
  if (e.get(v) != simdjson::SUCCESS) {
    return Bad("'" + std::string(key) + "' must be an integer number of milliseconds");
  }
  out = std::chrono::milliseconds(v);
  return Status::Ok();
}

}  // namespace

Result<QueueOptions> DecodeQueueOptions(std::string_view name, std::string_view body) {
  QueueOptions q;
  q.name = std::string(name);
  thread_local simdjson::dom::parser parser;
  Result<object> obj = ParseObject(parser, body.empty() ? "{}" : body, "a queue's definition");
  if (!obj.ok()) return obj.status();
  for (auto field : *obj) {
    const std::string_view key = field.key;
    Status s;
    std::string_view text;
    if (key == "start") {
      if (field.value.get(text) != simdjson::SUCCESS) {
        return Bad("'start' must be a string: \"new\", \"first\" or an RFC 3339 time");
      }
      s = ParseQueueStart(text, q);
    } else if (key == "pattern" || key == "dead_letter") {
      if (field.value.get(text) != simdjson::SUCCESS) {
        return Bad("'" + std::string(key) + "' must be a string");
      }
      (key == "pattern" ? q.pattern : q.dead_letter) = std::string(text);
    } else if (key == "ack_wait_ms") {
      s = ReadMillis(field.value, key, q.ack_wait);
    } else if (key == "max_deliver") {
      s = ReadUint(field.value, key, q.max_deliver);
    } else if (key == "max_in_flight") {
      s = ReadUint(field.value, key, q.max_in_flight);
    } else if (key == "max_in_flight_per_member") {
      s = ReadUint(field.value, key, q.max_in_flight_per_member);
    } else if (key == "max_pending") {
      s = ReadUint(field.value, key, q.max_pending);
    } else if (key == "max_pending_bytes") {
      s = ReadUint(field.value, key, q.max_pending_bytes);
    } else if (key == "backoff_ms") {
      simdjson::dom::array steps;
      if (field.value.get(steps) != simdjson::SUCCESS) {
        return Bad("'backoff_ms' must be an array of integer milliseconds");
      }
      for (element step : steps) {
        if (q.backoff.size() == 32) return Bad("'backoff_ms' has at most 32 steps");
        std::chrono::milliseconds ms{};
        if (Status b = ReadMillis(step, "backoff_ms", ms); !b.ok()) return b;
        q.backoff.push_back(ms);
      }
    } else {
      return Bad("unknown key '" + std::string(key.substr(0, 64)) + "' in a queue's definition");
    }
    if (!s.ok()) return s;
  }
  if (q.pattern.empty()) return Bad("a queue's definition needs a 'pattern'");
  return q;
}

Result<Settlement> DecodeSettlement(std::string_view body, size_t max_handles) {
  thread_local simdjson::dom::parser parser;
  Result<object> obj = ParseObject(parser, body, "a settlement");
  if (!obj.ok()) return obj.status();
  Settlement out;
  for (auto field : *obj) {
    if (field.key == "handles") {
      simdjson::dom::array handles;
      if (field.value.get(handles) != simdjson::SUCCESS) {
        return Bad("'handles' must be an array of strings");
      }
      for (element h : handles) {
        std::string_view text;
        if (h.get(text) != simdjson::SUCCESS) return Bad("'handles' must be an array of strings");
        if (out.handles.size() == max_handles) {
          return Bad("at most " + std::to_string(max_handles) + " handles per settlement");
        }
        out.handles.emplace_back(text);
      }
    } else if (field.key == "delay_ms") {
      int64_t v = 0;
      if (field.value.get(v) != simdjson::SUCCESS) return Bad("'delay_ms' must be an integer");
      out.delay_ms = v;
    } else {
      return Bad("unknown key '" + std::string(field.key.substr(0, 64)) + "' in a settlement");
    }
  }
  if (out.handles.empty()) return Bad("a settlement needs 'handles': one or more");
  return out;
}

std::string EncodeJobs(const std::vector<Job>& jobs) {
  JobList list;
  for (const Job& j : jobs) list.Add(j);
  JsonWriter w;
  w.Begin().RawField("jobs", list.TakeArray()).End();
  return w.Take();
}

std::string EncodeSettled(const std::vector<std::string>& handles,
                          const std::vector<Status>& results) {
  std::string list = "[";
  for (size_t i = 0; i < handles.size(); ++i) {
    if (i) list += ',';
    JsonWriter w;
    w.Begin().Field("handle", handles[i]);
    if (results[i].ok()) {
      w.Field("ok", true);
    } else {
      w.Field("code", ErrorCodeName(results[i].code())).Field("message", results[i].message());
    }
    list += w.End().Take();
  }
  list += ']';
  JsonWriter w;
  w.Begin().RawField("results", list).End();
  return w.Take();
}

}  // namespace herald::json
