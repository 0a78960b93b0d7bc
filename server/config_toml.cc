// The TOML half of heraldd's configuration. Unknown keys are errors (a typo
// must not silently fall back to a default); every error names its key.
#include <toml++/toml.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "herald/topic.h"
#include "server/config.h"

namespace herald::server {
namespace {

class TomlReader {
 public:
  TomlReader(const toml::table& table, std::string prefix) : table_(table), prefix_(prefix) {}

  // Reads an integer in [min, max] into `out` if the key is present.
  template <typename T>
  void Int(std::string_view key, T& out, int64_t min = 0,
           int64_t max = std::numeric_limits<int64_t>::max()) {
    const toml::node* node = Take(key);
    if (!node || !error_.ok()) return;
    auto v = node->value_exact<int64_t>();
    if (!v || *v < min || *v > max) {
      Fail(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return;
    }
    out = static_cast<T>(*v);
  }
  void Millis(std::string_view key, std::chrono::milliseconds& out, int64_t min = 1) {
    int64_t ms = out.count();
    Int(key, ms, min);
    out = std::chrono::milliseconds(ms);
  }
  void String(std::string_view key, std::string& out) {
    const toml::node* node = Take(key);
    if (!node || !error_.ok()) return;
    auto v = node->value_exact<std::string>();
    if (!v) return Fail(key, "must be a string");
    out = *v;
  }
  void StringList(std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = Take(key);
    if (!node || !error_.ok()) return;
    const toml::array* arr = node->as_array();
    if (!arr) return Fail(key, "must be an array of strings");
    out.clear();
    for (const toml::node& item : *arr) {
      auto v = item.value_exact<std::string>();
      if (!v) return Fail(key, "must be an array of strings");
      out.push_back(*v);
    }
  }
  const toml::node* Take(std::string_view key) {
    seen_.insert(std::string(key));
    return table_.get(key);
  }
  void Fail(std::string_view key, std::string what) {
    if (error_.ok()) error_ = Status(ErrorCode::kInvalidArgument, Key(key) + " " + what);
  }
  std::string Key(std::string_view key) const { return "'" + prefix_ + std::string(key) + "'"; }
  // After all reads: any key not read is unknown.
  Status Finish() {
    if (!error_.ok()) return error_;
    for (const auto& [k, v] : table_) {
      if (!seen_.count(std::string(k.str()))) {
        return Status(ErrorCode::kInvalidArgument, "unknown key " + Key(k.str()));
      }
    }
    return Status::Ok();
  }
  Status error() const { return error_; }

 private:
  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> seen_;
  Status error_;
};

const toml::table* Section(TomlReader& parent, std::string_view key, Status& error) {
  const toml::node* node = parent.Take(key);
  if (!node) return nullptr;
  if (!node->is_table()) {
    error = Status(ErrorCode::kInvalidArgument, parent.Key(key) + " must be a table");
    return nullptr;
  }
  return node->as_table();
}

Status ReadHistoryLimits(TomlReader& r, HistoryLimits& limits) {
  r.Int("max_messages", limits.max_messages);
  r.Int("max_bytes", limits.max_bytes);
  r.Millis("max_age_ms", limits.max_age);
  return r.error();
}

Status ReadHistory(const toml::table& t, Config& c) {
  TomlReader r(t, "history.");
  if (Status s = ReadHistoryLimits(r, c.broker.default_history); !s.ok()) return s;
  r.Millis("topic_idle_ttl_ms", c.broker.topic_idle_ttl);
  if (const toml::node* rules = r.Take("rule")) {
    const toml::array* arr = rules->as_array();
    if (!arr) return Status(ErrorCode::kInvalidArgument, "'history.rule' must be [[history.rule]]");
    c.broker.history_rules.clear();
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::table* rule = arr->get(i)->as_table();
      const std::string where = "history.rule[" + std::to_string(i) + "].";
      if (!rule) return Status(ErrorCode::kInvalidArgument, "'" + where + "' must be a table");
      TomlReader rr(*rule, where);
      HistoryRule hr{"", c.broker.default_history};
      rr.String("pattern", hr.pattern);
      if (Status s = ReadHistoryLimits(rr, hr.limits); !s.ok()) return s;
      if (Status s = ValidatePattern(hr.pattern); !s.ok()) {
        return Status(ErrorCode::kInvalidArgument, rr.Key("pattern") + ": " + s.message());
      }
      if (Status s = rr.Finish(); !s.ok()) return s;
      c.broker.history_rules.push_back(std::move(hr));
    }
  }
  return r.Finish();
}

Status ReadLimits(const toml::table& t, Config& c) {
  TomlReader r(t, "limits.");
  BrokerOptions& b = c.broker;
  r.Int("max_payload_bytes", b.max_payload_bytes, 1);
  r.Int("max_subscriptions_per_connection", b.max_subscriptions_per_sink, 1);
  r.Int("max_topics", b.max_topics, 1);
  r.Int("max_topic_bytes", b.max_topic_bytes, 4096);
  r.Int("max_history_bytes", b.max_history_bytes);
  r.Int("max_topic_length", b.topic_limits.max_length, 1, 65535);
  r.Int("max_topic_tokens", b.topic_limits.max_tokens, 1, 64);
  r.Int("max_inbox_pending", b.max_inbox_pending, 1);
  r.Millis("max_request_timeout_ms", b.max_request_timeout);
  r.Int("max_pending_requests", b.max_pending_requests, 1);
  r.Int("max_pending_requests_per_connection", b.max_pending_requests_per_session, 1);
  r.Int("max_reply_inboxes_per_connection", b.max_reply_inboxes_per_session, 1);
  return r.Finish();
}

Status ReadHttp(const toml::table& t, Config& c) {
  TomlReader r(t, "http.");
  HttpLimits& h = c.server.http;
  r.Int("max_header_bytes", h.max_header_bytes, 256);
  r.Int("max_target_bytes", h.max_target_bytes, 16);
  r.Int("max_body_bytes", h.max_body_bytes, 0);
  r.Millis("header_timeout_ms", h.header_timeout);
  r.Millis("idle_timeout_ms", h.idle_timeout);
  r.Millis("body_timeout_ms", h.body_timeout);
  r.Int("request_burst", h.request_burst, 1, 1u << 20);
  if (const toml::node* n = r.Take("max_requests_per_second")) {
    std::optional<double> v = n->value<double>();
    if (!v || *v < 0) {
      return Status(ErrorCode::kInvalidArgument,
                    r.Key("max_requests_per_second") + " must be a number >= 0");
    }
    h.max_requests_per_second = *v;
  }
  r.Int("max_connections", h.max_connections, 1);
  r.Int("max_connections_per_ip", h.max_connections_per_ip);
  r.Int("max_pending_heads_per_ip", h.max_pending_heads_per_ip);
  r.Int("max_output_backlog_bytes", h.max_output_backlog_bytes);
  r.StringList("cors_origins", h.cors_origins);
  return r.Finish();
}

Status ReadWebSocket(const toml::table& t, Config& c) {
  TomlReader r(t, "websocket.");
  WebSocketLimits& w = c.server.websocket;
  r.Int("max_message_bytes", w.max_message_bytes, 1);
  r.Millis("ping_interval_ms", w.ping_interval);
  r.Millis("idle_timeout_ms", w.idle_timeout);
  if (const toml::node* n = r.Take("permessage_deflate")) {
    auto v = n->value_exact<bool>();
    if (!v)
      return Status(ErrorCode::kInvalidArgument,
                    r.Key("permessage_deflate") + " must be true or false");
    w.permessage_deflate = *v;
  }
  r.StringList("allowed_origins", w.allowed_origins);
  if (const toml::node* n = r.Take("max_messages_per_second")) {
    std::optional<double> v = n->value<double>();
    if (!v || *v < 0) {
      return Status(ErrorCode::kInvalidArgument,
                    r.Key("max_messages_per_second") + " must be a number >= 0");
    }
    w.max_messages_per_second = *v;
  }
  r.Int("message_burst", w.message_burst, 1, 1u << 20);
  r.Int("max_empty_fragments", w.max_empty_fragments, 1, 1u << 30);
  r.Int("max_outbound_bytes", w.max_outbound_bytes, 1024);
  std::string policy = w.disconnect_slow_consumers ? "disconnect" : "drop";
  r.String("slow_consumer_policy", policy);
  if (!r.error().ok()) return r.error();
  if (policy != "drop" && policy != "disconnect") {
    return Status(ErrorCode::kInvalidArgument,
                  r.Key("slow_consumer_policy") + " must be \"drop\" or \"disconnect\"");
  }
  w.disconnect_slow_consumers = policy == "disconnect";
  return r.Finish();
}

Status ReadSse(const toml::table& t, Config& c) {
  TomlReader r(t, "sse.");
  SseLimits& l = c.server.sse;
  r.Millis("heartbeat_interval_ms", l.heartbeat_interval);
  r.Millis("retry_ms", l.retry);
  r.Int("max_topics", l.max_topics, 1, 1024);
  r.Int("max_id_topics", l.max_id_topics, 1, 1024);
  r.Int("id_topic_names", l.id_topic_names, 0, 1u << 24);
  r.StringList("allowed_origins", l.allowed_origins);
  r.Int("max_outbound_bytes", l.max_outbound_bytes, 1024);
  std::string policy = l.disconnect_slow_consumers ? "disconnect" : "drop";
  r.String("slow_consumer_policy", policy);
  if (!r.error().ok()) return r.error();
  if (policy != "drop" && policy != "disconnect") {
    return Status(ErrorCode::kInvalidArgument,
                  r.Key("slow_consumer_policy") + " must be \"drop\" or \"disconnect\"");
  }
  l.disconnect_slow_consumers = policy == "disconnect";
  return r.Finish();
}

Status ReadGrpc(const toml::table& t, Config& c) {
  TomlReader r(t, "grpc.");
  GrpcLimits& g = c.server.grpc;
  r.Int("max_message_bytes", g.max_message_bytes, 1024, INT32_MAX);
  r.Millis("keepalive_time_ms", g.keepalive_time);
  r.Millis("keepalive_timeout_ms", g.keepalive_timeout);
  r.Millis("default_request_timeout_ms", g.default_request_timeout);
  r.Int("max_outbound_bytes", g.max_outbound_bytes, 1024);
  r.Int("ack_every", g.ack_every, 1, 1u << 20);
  r.Int("max_refusals_per_request", g.max_refusals_per_request, 1, 1u << 16);
  r.Int("max_concurrent_streams", g.max_concurrent_streams, 1, 1u << 20);
  r.Int("command_burst", g.command_burst, 1, 1u << 20);
  if (const toml::node* n = r.Take("max_commands_per_second")) {
    std::optional<double> v = n->value<double>();
    if (!v || *v < 0) {
      return Status(ErrorCode::kInvalidArgument,
                    r.Key("max_commands_per_second") + " must be a number >= 0");
    }
    g.max_commands_per_second = *v;
  }
  std::string policy = g.disconnect_slow_consumers ? "disconnect" : "drop";
  r.String("slow_consumer_policy", policy);
  if (!r.error().ok()) return r.error();
  if (policy != "drop" && policy != "disconnect") {
    return Status(ErrorCode::kInvalidArgument,
                  r.Key("slow_consumer_policy") + " must be \"drop\" or \"disconnect\"");
  }
  g.disconnect_slow_consumers = policy == "disconnect";
  return r.Finish();
}

// A file's whole content (key material is kept out of the config file).
Result<std::string> ReadWholeFile(const std::string& key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ErrorCode::kInvalidArgument, key + ": cannot read '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Status ReadAuth(const toml::table& t, Config& c) {
  TomlReader r(t, "auth.");
  AuthOptions& a = c.server.auth;
  r.String("issuer", a.issuer);
  r.String("audience", a.audience);
  r.Millis("leeway_ms", a.leeway, 0);
  r.Int("max_token_bytes", a.max_token_bytes, 64, 1u << 20);
  r.Int("max_connections_per_user", a.max_connections_per_user);
  if (const toml::node* n = r.Take("anonymous")) {
    auto v = n->value_exact<bool>();
    if (!v)
      return Status(ErrorCode::kInvalidArgument, r.Key("anonymous") + " must be true or false");
    a.anonymous = *v ? AuthOptions::Anonymous::kAllow : AuthOptions::Anonymous::kDeny;
  }
  if (!r.error().ok()) return r.error();
  auto tables = [&](std::string_view name, auto&& each) -> Status {
    const toml::node* node = r.Take(name);
    if (!node) return Status::Ok();
    const toml::array* arr = node->as_array();
    const std::string what = "auth." + std::string(name);
    if (!arr) return Status(ErrorCode::kInvalidArgument, "'" + what + "' must be [[" + what + "]]");
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::table* table = arr->get(i)->as_table();
      const std::string where = what + "[" + std::to_string(i) + "].";
      if (!table) return Status(ErrorCode::kInvalidArgument, "'" + where + "' must be a table");
      TomlReader rr(*table, where);
      if (Status s = each(rr); !s.ok()) return s;
      if (Status s = rr.Finish(); !s.ok()) return s;
    }
    return Status::Ok();
  };
  Status s = tables("keys", [&](TomlReader& rr) -> Status {
    JwtKey k;
    std::string secret_file, public_key_file;
    rr.String("alg", k.alg);
    rr.String("kid", k.kid);
    rr.String("secret", k.secret);
    rr.String("secret_file", secret_file);
    rr.String("public_key_file", public_key_file);
    if (!rr.error().ok()) return rr.error();
    if (!secret_file.empty()) {
      Result<std::string> f = ReadWholeFile(rr.Key("secret_file"), secret_file);
      if (!f.ok()) return f.status();
      k.secret = std::move(*f);
      while (!k.secret.empty() && (k.secret.back() == '\n' || k.secret.back() == '\r')) {
        k.secret.pop_back();
      }
    }
    if (!public_key_file.empty()) {
      Result<std::string> f = ReadWholeFile(rr.Key("public_key_file"), public_key_file);
      if (!f.ok()) return f.status();
      k.public_pem = std::move(*f);
    }
    a.keys.push_back(std::move(k));
    return Status::Ok();
  });
  if (!s.ok()) return s;
  s = tables("rules", [&](TomlReader& rr) -> Status {
    AuthRule rule;
    rr.String("subject", rule.subject);
    rr.StringList("publish", rule.publish);
    rr.StringList("subscribe", rule.subscribe);
    if (!rr.error().ok()) return rr.error();
    if (rule.subject.empty())
      return Status(ErrorCode::kInvalidArgument, rr.Key("subject") + " is empty");
    for (const auto* list : {&rule.publish, &rule.subscribe}) {
      for (const std::string& p : *list) {
        if (Status v = ValidatePattern(p); !v.ok()) {
          return Status(ErrorCode::kInvalidArgument,
                        "auth rule pattern '" + p + "': " + v.message());
        }
      }
    }
    a.rules.push_back(std::move(rule));
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return r.Finish();
}

Status ReadCluster(const toml::table& t, Config& c) {
  TomlReader r(t, "cluster.");
  ClusterOptions& o = c.server.cluster;
  r.String("listen", o.listen);
  r.String("advertise", o.advertise);
  r.StringList("seeds", o.seeds);
  r.String("name", o.name);
  r.String("secret", o.secret);
  std::string secret_file;
  r.String("secret_file", secret_file);
  r.Int("min_secret_length", o.min_secret_length, 16, 4096);
  r.Millis("heartbeat_interval_ms", o.heartbeat_interval);
  r.Millis("peer_timeout_ms", o.peer_timeout);
  r.Millis("reconnect_min_ms", o.reconnect_min);
  r.Millis("reconnect_max_ms", o.reconnect_max);
  r.Millis("forward_timeout_ms", o.forward_timeout);
  r.Int("max_link_queue_bytes", o.max_link_queue_bytes, 1u << 16);
  r.Int("max_batch_bytes", o.max_batch_bytes, 1u << 20, INT32_MAX);
  r.Int("max_members", o.max_members, 1, 4096);
  r.String("tls_cert_file", o.tls_cert_file);
  r.String("tls_key_file", o.tls_key_file);
  r.String("tls_ca_file", o.tls_ca_file);
  if (!r.error().ok()) return r.error();
  if (!secret_file.empty()) {
    // Kept out of the config file, which is often readable by more people.
    if (!o.secret.empty()) {
      return Status(ErrorCode::kInvalidArgument,
                    r.Key("secret") + " and " + r.Key("secret_file") + " are exclusive");
    }
    Result<std::string> f = ReadWholeFile(r.Key("secret_file"), secret_file);
    if (!f.ok()) return f.status();
    o.secret = std::move(*f);
    while (!o.secret.empty() && (o.secret.back() == '\n' || o.secret.back() == '\r')) {
      o.secret.pop_back();
    }
  }
  if (o.name.empty()) return Status(ErrorCode::kInvalidArgument, r.Key("name") + " is empty");
  if (o.heartbeat_interval.count() <= 0 || o.peer_timeout <= o.heartbeat_interval) {
    return Status(ErrorCode::kInvalidArgument,
                  r.Key("peer_timeout_ms") + " must be greater than heartbeat_interval_ms (> 0)");
  }
  if (o.reconnect_min.count() <= 0 || o.reconnect_max < o.reconnect_min) {
    return Status(ErrorCode::kInvalidArgument,
                  r.Key("reconnect_max_ms") + " must be >= reconnect_min_ms (> 0)");
  }
  return r.Finish();
}

}  // namespace

Status ApplyToml(std::string_view toml_text, std::string_view origin, Config& c) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return Status(ErrorCode::kInvalidArgument, msg.str());
  }
  TomlReader r(root, "");
  r.String("listen", c.server.listen);
  r.String("static_dir", c.server.static_dir);
  r.String("grpc_listen", c.server.grpc.listen);
  r.String("cluster_listen", c.server.cluster.listen);
  r.StringList("seeds", c.server.cluster.seeds);
  r.String("node_id", c.broker.node_id);
  r.Int("workers", c.server.workers, 0, 256);
  r.Millis("drain_window_ms", c.server.drain_window, 0);
  r.Millis("limit_log_interval_ms", c.limit_log_interval, 100);
  r.String("log_level", c.log_level);
  if (!r.error().ok()) return r.error();
  Status section_error;
  if (const toml::table* t = Section(r, "limits", section_error)) {
    if (Status s = ReadLimits(*t, c); !s.ok()) return s;
  }
  if (const toml::table* t = Section(r, "history", section_error)) {
    if (Status s = ReadHistory(*t, c); !s.ok()) return s;
  }
  if (const toml::table* t = Section(r, "http", section_error)) {
    if (Status s = ReadHttp(*t, c); !s.ok()) return s;
  }
  if (const toml::table* t = Section(r, "websocket", section_error)) {
    if (Status s = ReadWebSocket(*t, c); !s.ok()) return s;
  }
  if (const toml::table* t = Section(r, "grpc", section_error)) {
    if (Status s = ReadGrpc(*t, c); !s.ok()) return s;
  }
  if (const toml::table* t = Section(r, "sse", section_error)) {
    if (Status s = ReadSse(*t, c); !s.ok()) return s;
  }
  if (const toml::table* t = Section(r, "auth", section_error)) {
    if (Status s = ReadAuth(*t, c); !s.ok()) return s;
  }
  if (const toml::table* t = Section(r, "cluster", section_error)) {
    if (Status s = ReadCluster(*t, c); !s.ok()) return s;
  }
  if (!section_error.ok()) return section_error;
  return r.Finish();
}

}  // namespace herald::server
