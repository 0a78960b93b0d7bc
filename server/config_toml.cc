// The TOML half of heraldd's configuration: one line per key, naming the
// key, the field it writes (in the public option structs: herald/server.h,
// herald/broker_options.h and what they include) and the values it accepts.
// The typed readers (server/toml_reader.h) give every error its key; unknown
// keys are errors. Every key here is documented in docs/CONFIG.md
// (Config.EveryKeyIsDocumented checks).
#include <toml++/toml.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <tuple>

#include "base/file_text.h"
#include "herald/topic.h"
#include "server/config.h"
#include "server/toml_reader.h"
#include "store/redis/connection.h"

namespace herald::server {
namespace {

constexpr EnumNames<Config::LogFormat> kLogFormats[] = {
    {"text", Config::LogFormat::kText},
    {"json", Config::LogFormat::kJson},
};

constexpr EnumNames<SlowConsumerPolicy> kSlowConsumerPolicies[] = {
    {"drop", SlowConsumerPolicy::kDropWithGap},
    {"disconnect", SlowConsumerPolicy::kDisconnect},
};

// The keys of [history] and of each [[history.rule]].
void ReadHistoryLimits(TomlReader& r, HistoryLimits& h) {
  r.Int("max_messages", h.max_messages);
  r.Bytes("max_bytes", h.max_bytes);
  r.Millis("max_age_ms", h.max_age);
}

Status ReadHistory(TomlReader& r, Config& c) {
  BrokerOptions& b = c.broker;
  ReadHistoryLimits(r, b.default_history);
  r.Millis("topic_idle_ttl_ms", b.topic_idle_ttl);
  return r.Tables("rule", [&](TomlReader& rule, size_t i) -> Status {
    if (i == 0) b.history_rules.clear();
    HistoryRule hr{"", b.default_history};  // keys a rule leaves out: as [history]
    rule.String("pattern", hr.pattern);
    ReadHistoryLimits(rule, hr.limits);
    if (!rule.error().ok()) return rule.error();
    if (Status s = ValidatePattern(hr.pattern); !s.ok()) {
      return Status(ErrorCode::kInvalidArgument, rule.Key("pattern") + ": " + s.message());
    }
    b.history_rules.push_back(std::move(hr));
    return Status::Ok();
  });
}

// [presence] and each [[presence.rule]].
Status ReadPresence(TomlReader& r, Config& c) {
  PresenceLimits& p = c.broker.presence;
  r.Bool("enabled", p.enabled);
  r.Int("max_members_per_topic", p.max_members_per_topic, AtLeast(1));
  r.Bytes("max_presence_bytes", p.max_presence_bytes, AtLeast(1024));
  r.Int("max_info_bytes", p.max_info_bytes, Between(2, 65536));
  r.Bool("client_info", p.client_info, PresenceLimits::ClientInfo::kDeny,
         PresenceLimits::ClientInfo::kAllow);
  r.Millis("event_interval_ms", p.event_interval, AtLeast(0));
  r.Int("max_event_members", p.max_event_members, AtLeast(1));
  r.Int("snapshot_members", p.snapshot_members, AtLeast(0));
  r.Int("max_query_members", p.max_query_members, AtLeast(1));
  return r.Tables("rule", [&](TomlReader& rule, size_t i) -> Status {
    if (i == 0) p.rules.clear();
    PresenceRule pr;
    rule.String("pattern", pr.pattern);
    rule.Bool("enabled", pr.enabled);
    rule.Int("max_members", pr.max_members, AtLeast(0));
    if (!rule.error().ok()) return rule.error();
    if (Status s = ValidatePattern(pr.pattern); !s.ok()) {
      return Status(ErrorCode::kInvalidArgument, rule.Key("pattern") + ": " + s.message());
    }
    p.rules.push_back(std::move(pr));
    return Status::Ok();
  });
}

constexpr EnumNames<Config::StoreKind> kStoreKinds[] = {
    {"memory", Config::StoreKind::kMemory},
    {"disk", Config::StoreKind::kDisk},
    {"redis", Config::StoreKind::kRedis},
};
constexpr EnumNames<DiskStoreOptions::Sync> kStoreSyncs[] = {
    {"batch", DiskStoreOptions::Sync::kBatch},
    {"always", DiskStoreOptions::Sync::kAlways},
};

// [store] redis_shards: "name=host:port" each, or with redis_sentinels
// "name=master" or "name" (the master's name is the shard's).
Status ParseRedisShards(const std::vector<std::string>& texts, RedisStoreOptions& r) {
  r.shards.clear();
  for (const std::string& text : texts) {
    const size_t eq = text.find('=');
    RedisShard shard;
    shard.name = text.substr(0, eq);
    const std::string where = eq == std::string::npos ? "" : text.substr(eq + 1);
    if (shard.name.empty()) {
      return Status(ErrorCode::kInvalidArgument,
                    "[store] redis_shards: '" + text + "' has no shard name (name=host:port)");
    }
    if (!r.sentinels.empty()) {
      shard.sentinel_master = where.empty() ? shard.name : where;
    } else {
      Result<redis::Endpoint> e = redis::ParseEndpoint(where);
      if (!e.ok()) {
        return Status(ErrorCode::kInvalidArgument, "[store] redis_shards: shard '" + shard.name +
                                                       "': " + e.status().message() +
                                                       " (name=host:port; with redis_sentinels, "
                                                       "name=master)");
      }
      shard.host = e->host;
      shard.port = e->port;
    }
    r.shards.push_back(std::move(shard));
  }
  return Status::Ok();
}

// ParseRedisShards' input back from the shards it made.
std::vector<std::string> FormatRedisShards(const RedisStoreOptions& r) {
  std::vector<std::string> texts;
  for (const RedisShard& shard : r.shards) {
    texts.push_back(shard.name + "=" +
                    (shard.sentinel_master.empty()
                         ? redis::Endpoint{shard.host, shard.port}.ToString()
                         : shard.sentinel_master));
  }
  return texts;
}

constexpr EnumNames<Config::Durability> kDurabilities[] = {
    {"master", Config::Durability::kMaster},
    {"replicated", Config::Durability::kReplicated},
};

Status ReadStore(TomlReader& r, Config& c) {
  r.Enum("kind", c.store_kind, kStoreKinds);
  r.String("dir", c.store.dir);
  r.Enum("sync", c.store.sync, kStoreSyncs);
  r.Millis("sync_interval_ms", c.store.sync_interval, Between(1, 60'000));
  r.Bytes("max_queued_bytes", c.store.max_queued_bytes, AtLeast(1 << 16));
  r.Int("max_disk_bytes", c.store.max_disk_bytes, AtLeast(1 << 20));
  r.Int("min_free_disk_bytes", c.store.min_free_disk_bytes, AtLeast(0));
  r.Bytes("tail_bytes", c.store.tail_bytes, AtLeast(0));
  r.Int("max_pending_reads", c.store.max_pending_reads, AtLeast(1));
  r.String("redis_host", c.redis.host);
  r.Int("redis_port", c.redis.port, Between(1, 65535));
  r.String("redis_user", c.redis.user);
  r.Secret("redis_password", c.redis.password);
  r.String("redis_prefix", c.redis.prefix);
  r.Bool("redis_require_durable", c.redis.require_durable);
  r.Millis("redis_connect_timeout_ms", c.redis.connect_timeout, Between(1, 600'000));
  r.Millis("redis_command_timeout_ms", c.redis.command_timeout, Between(1, 600'000));
  r.List("redis_sentinels", c.redis.sentinels);
  r.String("redis_sentinel_master", c.redis.sentinel_master);
  r.String("redis_sentinel_user", c.redis.sentinel_user);
  r.Secret("redis_sentinel_password", c.redis.sentinel_password);
  r.Millis("redis_sentinel_poll_ms", c.redis.sentinel_poll_interval, Between(10, 60'000));
  r.Enum("durability", c.durability, kDurabilities);
  r.Int("redis_replicas", c.redis_replicas, Between(1, 64));
  r.Millis("redis_wait_timeout_ms", c.redis.wait_timeout, Between(1, 600'000));
  std::vector<std::string> shards;
  if (r.printing()) shards = FormatRedisShards(c.redis);
  r.List("redis_shards", shards);
  if (!r.error().ok()) return r.error();
  return ParseRedisShards(shards, c.redis);
}

}  // namespace

// The [limits] keys that are not BrokerLimits (herald/broker_options.h says
// why each is read at start only).
bool IsRestartOnlyLimit(std::string_view key) {
  return key == "max_topic_length" || key == "max_topic_tokens" || key == "max_inbox_pending" ||
         key == "dedup_window_ms";
}

namespace {

Status ReadLimits(TomlReader& r, Config& c) {
  BrokerOptions& b = c.broker;
  r.Bytes("max_payload_bytes", b.max_payload_bytes, AtLeast(1));
  r.Int("max_subscriptions_per_connection", b.max_subscriptions_per_sink, AtLeast(1));
  r.Int("max_topics", b.max_topics, AtLeast(1));
  r.Bytes("max_topic_bytes", b.max_topic_bytes, AtLeast(4096));
  r.Bytes("max_history_bytes", b.max_history_bytes);
  r.Bytes("max_store_read_bytes", b.max_store_read_bytes, AtLeast(1));
  r.Bytes("max_held_publish_bytes", b.max_held_publish_bytes, AtLeast(1));
  r.Int("max_topic_length", b.topic_limits.max_length, Between(1, 65535));
  r.Int("max_topic_tokens", b.topic_limits.max_tokens, Between(1, 64));
  r.Int("max_inbox_pending", b.max_inbox_pending, AtLeast(1));
  r.Millis("max_request_timeout_ms", b.max_request_timeout);
  r.Int("max_pending_requests", b.max_pending_requests, AtLeast(1));
  r.Int("max_pending_requests_per_connection", b.max_pending_requests_per_session, AtLeast(1));
  r.Int("max_reply_inboxes_per_connection", b.max_reply_inboxes_per_session, AtLeast(1));
  r.Millis("dedup_window_ms", b.dedup_window);
  r.Bytes("max_dedup_bytes", b.max_dedup_bytes);
  r.Int("max_queues", b.max_queues);
  r.Bytes("max_queue_bytes", b.max_queue_bytes, AtLeast(1));
  r.Int("max_waiting_pulls", b.max_waiting_pulls);
  r.Int("max_revocations", b.max_revocations, AtLeast(1));
  r.Millis("max_revocation_ttl_ms", b.max_revocation_ttl);
  r.Int("max_admin_results", b.max_admin_results, AtLeast(1));
  return r.error();
}

Status ReadHttp(TomlReader& r, Config& c) {
  HttpLimits& h = c.server.http;
  r.Bytes("max_header_bytes", h.max_header_bytes, AtLeast(256));
  r.Bytes("max_target_bytes", h.max_target_bytes, AtLeast(16));
  r.Bytes("max_body_bytes", h.max_body_bytes);
  r.Millis("header_timeout_ms", h.header_timeout);
  r.Millis("idle_timeout_ms", h.idle_timeout);
  r.Millis("body_timeout_ms", h.body_timeout);
  r.Int("request_burst", h.request_burst, Between(1, 1 << 20));
  r.Rate("max_requests_per_second", h.max_requests_per_second);
  r.Int("max_connections", h.max_connections, AtLeast(1));
  r.Int("max_connections_per_ip", h.max_connections_per_ip);
  r.Int("max_pending_heads_per_ip", h.max_pending_heads_per_ip);
  r.Bytes("max_output_backlog_bytes", h.max_output_backlog_bytes);
  r.List("cors_origins", h.cors_origins);
  r.Int("max_pipelined_requests", h.max_pipelined_requests, Between(1, 4096));
  return r.error();
}

Status ReadWebSocket(TomlReader& r, Config& c) {
  WebSocketLimits& w = c.server.websocket;
  r.Bytes("max_message_bytes", w.max_message_bytes, AtLeast(1));
  r.Millis("ping_interval_ms", w.ping_interval);
  r.Millis("idle_timeout_ms", w.idle_timeout);
  r.Bool("permessage_deflate", w.permessage_deflate);
  r.List("allowed_origins", w.allowed_origins);
  r.Rate("max_messages_per_second", w.max_messages_per_second);
  r.Int("message_burst", w.message_burst, Between(1, 1 << 20));
  r.Int("max_empty_fragments", w.max_empty_fragments, Between(1, 1 << 30));
  r.Bytes("max_outbound_bytes", w.outbound.max_bytes, AtLeast(1024));
  r.Enum("slow_consumer_policy", w.outbound.policy, kSlowConsumerPolicies);
  return r.error();
}

Status ReadSse(TomlReader& r, Config& c) {
  SseLimits& l = c.server.sse;
  r.Millis("heartbeat_interval_ms", l.heartbeat_interval);
  r.Millis("retry_ms", l.retry);
  r.Int("max_topics", l.max_topics, Between(1, 1024));
  r.Int("max_id_topics", l.max_id_topics, Between(1, 1024));
  r.Int("id_topic_names", l.id_topic_names, Between(0, 1 << 24));
  r.List("allowed_origins", l.allowed_origins);
  r.Bytes("max_outbound_bytes", l.outbound.max_bytes, AtLeast(1024));
  r.Enum("slow_consumer_policy", l.outbound.policy, kSlowConsumerPolicies);
  return r.error();
}

Status ReadGrpc(TomlReader& r, Config& c) {
  GrpcLimits& g = c.server.grpc;
  r.Bytes("max_message_bytes", g.max_message_bytes, Between(1024, INT32_MAX));
  r.Millis("keepalive_time_ms", g.keepalive_time);
  r.Millis("keepalive_timeout_ms", g.keepalive_timeout);
  r.Millis("default_request_timeout_ms", g.default_request_timeout);
  r.Bytes("max_outbound_bytes", g.outbound.max_bytes, AtLeast(1024));
  r.Int("ack_every", g.ack_every, Between(1, 1 << 20));
  r.Int("max_refusals_per_request", g.max_refusals_per_request, Between(1, 1 << 16));
  r.Int("max_concurrent_streams", g.max_concurrent_streams, Between(1, 1 << 20));
  r.Int("command_burst", g.command_burst, Between(1, 1 << 20));
  r.Rate("max_commands_per_second", g.max_commands_per_second);
  r.Enum("slow_consumer_policy", g.outbound.policy, kSlowConsumerPolicies);
  return r.error();
}

// A file's whole content (key material is kept out of the config file),
// without a trailing newline when `trim`.
Result<std::string> ReadWholeFile(const std::string& key, const std::string& path, bool trim) {
  Result<std::string> r = ReadConfiguredFile(key, path, EmptyFile::kAllowed);
  if (!r.ok()) return r;
  std::string s = std::move(*r);
  while (trim && !s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

Status ReadAuth(TomlReader& r, Config& c) {
  AuthOptions& a = c.server.auth;
  r.String("issuer", a.issuer);
  r.String("audience", a.audience);
  r.Millis("leeway_ms", a.leeway, AtLeast(0));
  r.Int("max_token_bytes", a.max_token_bytes, Between(64, 1 << 20));
  r.Int("max_connections_per_user", a.max_connections_per_user);
  r.Bool("anonymous", a.anonymous, AuthOptions::Anonymous::kDeny, AuthOptions::Anonymous::kAllow);
  Status s = r.Tables("keys", [&](TomlReader& rr, size_t) -> Status {
    JwtKey k;
    std::string secret_file, public_key_file;
    rr.String("alg", k.alg);
    rr.String("kid", k.kid);
    rr.Secret("secret", k.secret);
    rr.String("secret_file", secret_file);
    rr.String("public_key_file", public_key_file);
    if (!rr.error().ok()) return rr.error();
    if (!secret_file.empty()) {
      Result<std::string> f = ReadWholeFile(rr.Key("secret_file"), secret_file, true);
      if (!f.ok()) return f.status();
      k.secret = std::move(*f);
    }
    if (!public_key_file.empty()) {
      Result<std::string> f = ReadWholeFile(rr.Key("public_key_file"), public_key_file, false);
      if (!f.ok()) return f.status();
      k.public_pem = std::move(*f);
    }
    a.keys.push_back(std::move(k));
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return r.Tables("rules", [&](TomlReader& rr, size_t) -> Status {
    AuthRule rule;
    rr.String("subject", rule.subject);
    rr.List("publish", rule.publish);
    rr.List("subscribe", rule.subscribe);
    rr.List("queues", rule.queues);
    rr.List("admin", rule.admin);
    if (!rr.error().ok()) return rr.error();
    if (rule.subject.empty())
      return Status(ErrorCode::kInvalidArgument, rr.Key("subject") + " is empty");
    for (const auto* list : {&rule.publish, &rule.subscribe, &rule.queues, &rule.admin}) {
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
}

Status ReadCluster(TomlReader& r, Config& c) {
  ClusterOptions& o = c.server.cluster;
  std::string secret_file;
  r.String("listen", o.listen);
  r.String("advertise", o.advertise);
  r.List("seeds", o.seeds);
  r.String("name", o.name);
  r.Secret("secret", o.secret);
  r.String("secret_file", secret_file);
  r.Int("min_secret_length", o.min_secret_length, Between(16, 4096));
  r.Millis("heartbeat_interval_ms", o.heartbeat_interval);
  r.Millis("peer_timeout_ms", o.peer_timeout);
  r.Millis("reconnect_min_ms", o.reconnect_min);
  r.Millis("reconnect_max_ms", o.reconnect_max);
  r.Millis("forward_timeout_ms", o.forward_timeout);
  r.Millis("admin_timeout_ms", o.admin_timeout);
  r.Bytes("max_link_queue_bytes", o.max_link_queue_bytes, AtLeast(1 << 16));
  r.Bytes("max_batch_bytes", o.max_batch_bytes, Between(1 << 20, INT32_MAX));
  r.Int("max_members", o.max_members, Between(1, 4096));
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
    Result<std::string> f = ReadWholeFile(r.Key("secret_file"), secret_file, true);
    if (!f.ok()) return f.status();
    o.secret = std::move(*f);
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
  return Status::Ok();
}

constexpr EnumNames<bool> kFailurePolicies[] = {{"deny", false}, {"allow", true}};

// [hooks.<event>]: whether and how one event calls out.
Status ReadHookPolicy(TomlReader& r, HookPolicy& p, bool topics) {
  r.Bool("enabled", p.enabled);
  r.Millis("timeout_ms", p.timeout, Between(1, 60000));
  r.Enum("on_failure", p.allow_on_failure, kFailurePolicies);
  if (topics) r.List("patterns", p.patterns);
  if (!r.error().ok()) return r.error();
  for (const std::string& pattern : p.patterns) {
    if (Status v = ValidatePattern(pattern); !v.ok()) {
      return Status(ErrorCode::kInvalidArgument, r.Key("patterns") + ": " + v.message());
    }
  }
  return Status::Ok();
}

Status ReadHooks(TomlReader& r, Config& c) {
  HookOptions& h = c.server.hooks;
  r.Url("url", c.hooks_url);
  r.String("grpc_target", c.hooks_grpc_target);
  r.Int("connections", c.hooks_connections, Between(1, 1024));
  r.Int("max_in_flight", h.max_in_flight, AtLeast(1));
  r.Int("max_in_flight_per_connection", h.max_in_flight_per_connection, Between(1, 1024));
  if (!r.error().ok()) return r.error();
  if (!c.hooks_url.empty() && !c.hooks_grpc_target.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  r.Key("url") + " and " + r.Key("grpc_target") + " are exclusive");
  }
  for (auto [name, policy, topics] :
       {std::tuple{"connect", &h.connect, false}, std::tuple{"subscribe", &h.subscribe, true},
        std::tuple{"publish", &h.publish, true}, std::tuple{"refresh", &h.refresh, false}}) {
    if (Status s =
            r.Section(name, [&, policy = policy, topics = topics](
                                TomlReader& e) { return ReadHookPolicy(e, *policy, topics); });
        !s.ok()) {
      return s;
    }
  }
  const bool any =
      h.connect.enabled || h.subscribe.enabled || h.publish.enabled || h.refresh.enabled;
  if (any && c.hooks_url.empty() && c.hooks_grpc_target.empty()) {
    return Status(ErrorCode::kInvalidArgument, "a hook is enabled but neither " + r.Key("url") +
                                                   " nor " + r.Key("grpc_target") +
                                                   " names the backend");
  }
  return Status::Ok();
}

// One [[queues]] table: a work queue created at start.
Status ReadQueue(TomlReader& r, Config& c) {
  QueueOptions q;
  r.String("name", q.name);
  r.String("pattern", q.pattern);
  r.Millis("ack_wait_ms", q.ack_wait);
  r.Int("max_deliver", q.max_deliver);
  r.MillisList("backoff_ms", q.backoff);
  r.Int("max_in_flight", q.max_in_flight, AtLeast(1));
  r.Int("max_in_flight_per_member", q.max_in_flight_per_member, AtLeast(1));
  r.Int("max_pending", q.max_pending, AtLeast(1));
  r.Int("max_pending_bytes", q.max_pending_bytes, AtLeast(1));
  r.String("dead_letter", q.dead_letter);
  std::string start;
  r.String("start", start);
  if (!r.error().ok()) return r.error();
  if (!start.empty()) {
    if (Status s = ParseQueueStart(start, q); !s.ok()) {
      return Status(ErrorCode::kInvalidArgument, r.Key("start") + ": " + s.message());
    }
  }
  for (const QueueOptions& other : c.queues) {
    if (other.name == q.name) {
      return Status(ErrorCode::kInvalidArgument,
                    r.Key("name") + ": work queue '" + q.name + "' is defined twice");
    }
  }
  c.queues.push_back(std::move(q));
  return Status::Ok();
}

Status ReadTls(TomlReader& r, Config& c) {
  TlsOptions& t = c.server.tls;
  r.String("listen", t.listen);
  r.String("grpc_listen", t.grpc_listen);
  r.String("cert_file", t.cert_file);
  r.String("key_file", t.key_file);
  r.String("client_ca_file", t.client_ca_file);
  r.String("min_version", t.min_version);
  r.Millis("handshake_timeout_ms", t.handshake_timeout, Between(100, 600'000));
  return r.error();
}

Status ReadReadiness(TomlReader& r, Config& c) {
  ReadinessOptions& o = c.server.readiness;
  r.Millis("interval_ms", o.interval, Between(10, 600'000));
  r.Millis("timeout_ms", o.timeout, Between(10, 600'000));
  r.Millis("peer_grace_ms", o.peer_grace, AtLeast(0));
  r.Bool("require_peers", o.require_peers);
  return r.error();
}

// The sections, in reading order: each reads its keys into the config.
constexpr std::pair<std::string_view, Status (*)(TomlReader&, Config&)> kSections[] = {
    {"limits", ReadLimits},     {"history", ReadHistory},     {"store", ReadStore},
    {"http", ReadHttp},         {"websocket", ReadWebSocket}, {"grpc", ReadGrpc},
    {"sse", ReadSse},           {"auth", ReadAuth},           {"cluster", ReadCluster},
    {"presence", ReadPresence}, {"hooks", ReadHooks},         {"readiness", ReadReadiness},
    {"tls", ReadTls},
};

// Reads `toml_text` into `c`; with `log`, records every key read; with
// `echo`, prints `c` into it instead (TomlReader: the sections echo what
// `c` holds, and the arrays of tables what the text holds).
Status Apply(std::string_view toml_text, std::string_view origin, Config& c,
             std::vector<ConfigKey>* log, toml::table* echo = nullptr) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return Status(ErrorCode::kInvalidArgument, msg.str());
  }
  TomlReader r(root, "", "", log, echo, /*effective=*/echo != nullptr);
  r.String("listen", c.server.listen);
  r.String("static_dir", c.server.static_dir);
  r.String("grpc_listen", c.server.grpc.listen);
  r.String("cluster_listen", c.server.cluster.listen);
  r.List("seeds", c.server.cluster.seeds);
  r.String("node_id", c.broker.node_id);
  r.Int("workers", c.server.workers, Between(0, 256));
  r.Millis("drain_window_ms", c.server.drain_window, AtLeast(0));
  r.Millis("limit_log_interval_ms", c.limit_log_interval, AtLeast(100));
  r.String("log_level", c.log_level);
  r.Enum("log_format", c.log_format, kLogFormats);
  for (const auto& [name, read] : kSections) {
    const toml::table* t = r.Table(name);
    if (!t && !echo) continue;
    TomlReader section = r.SectionReader(t, name);
    if (Status s = read(section, c); !s.ok()) return s;
    if (Status s = section.Finish(); !s.ok()) return s;
  }
  if (Status s = r.Tables("queues", [&](TomlReader& q, size_t) { return ReadQueue(q, c); });
      !s.ok()) {
    return s;
  }
  return r.Finish();
}

}  // namespace

Status ApplyToml(std::string_view toml_text, std::string_view origin, Config& c) {
  return Apply(toml_text, origin, c, nullptr);
}

Result<std::string> PrintToml(std::string_view toml_text, std::string_view origin,
                              const Config& effective) {
  Config c = effective;
  // Made again from the text's [[queues]] (which would otherwise be
  // "defined twice").
  c.queues.clear();
  toml::table printed;
  if (Status s = Apply(toml_text, origin, c, nullptr, &printed); !s.ok()) return s;
  std::ostringstream out;
  out << toml::toml_formatter(printed) << "\n";
  return out.str();
}

namespace {

std::string NodeText(const toml::node& n) {
  std::ostringstream out;
  n.visit([&](const auto& v) { out << v; });
  return out.str();
}

void Differences(const toml::table& a, const toml::table& b, const std::string& prefix,
                 std::vector<std::string>& out) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : a) keys.emplace_back(k.str());
  for (const auto& [k, v] : b) {
    if (!a.contains(k.str())) keys.emplace_back(k.str());
  }
  for (const std::string& k : keys) {
    const toml::node* x = a.get(k);
    const toml::node* y = b.get(k);
    const std::string name = prefix.empty() ? k : prefix + "." + k;
    if (x && y && x->is_table() && y->is_table()) {
      Differences(*x->as_table(), *y->as_table(), name, out);
    } else if (!x || !y || NodeText(*x) != NodeText(*y)) {
      out.push_back(name);
    }
  }
}

}  // namespace

Result<std::vector<std::string>> ChangedKeys(std::string_view printed_before,
                                             std::string_view printed_after) {
  toml::table a, b;
  try {
    a = toml::parse(printed_before);
    b = toml::parse(printed_after);
  } catch (const toml::parse_error& e) {
    return Status(ErrorCode::kInvalidArgument, std::string(e.description()));
  }
  std::vector<std::string> out;
  Differences(a, b, "", out);
  return out;
}

std::vector<ConfigKey> ConfigKeys() {
  // Every section, and one entry of each array of tables, so that every
  // reader runs once over the defaults.
  static constexpr std::string_view kEverySection = R"(
    [limits]
    [history]
    [[history.rule]]
    pattern = ">"
    [store]
    [http]
    [websocket]
    [grpc]
    [sse]
    [auth]
    [[auth.keys]]
    [[auth.rules]]
    subject = "*"
    [cluster]
    [presence]
    [[presence.rule]]
    pattern = ">"
    [hooks]
    [readiness]
    [[queues]]
  )";
  Config config;
  std::vector<ConfigKey> keys;
  if (Status s = Apply(kEverySection, "ConfigKeys", config, &keys); !s.ok()) {
    keys.push_back({"", "(ConfigKeys failed: " + s.message() + ")", ""});  // fails the doc test
  }
  return keys;
}

}  // namespace herald::server
