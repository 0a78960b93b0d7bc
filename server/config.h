// heraldd's configuration: defaults, then the TOML config file, then flags
// (flags win). Every key is documented in docs/CONFIG.md. A bad value names
// its key; heraldd prints it and exits with status 2.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "herald/broker_options.h"
#include "herald/disk_store.h"
#include "herald/redis_store.h"
#include "herald/server.h"
#include "herald/status.h"

namespace herald::server {

struct Config {
  Config() { server.demo_page = true; }  // heraldd serves the demo chat page at /
  ServerOptions server;
  BrokerOptions broker;
  // [store]: where history is kept. kMemory: in memory only; kDisk: in
  // `store.dir`, surviving restarts (herald/disk_store.h); kRedis: in a
  // Redis server (herald/redis_store.h). The keys both stores share
  // (max_queued_bytes, tail_bytes, max_pending_reads) live in `store`.
  enum class StoreKind { kMemory, kDisk, kRedis };
  StoreKind store_kind = StoreKind::kMemory;
  DiskStoreOptions store;
  RedisStoreOptions redis;
  // [store] durability (kind = "redis"): kMaster acknowledges once the
  // master has a message; kReplicated once `redis_replicas` replicas have
  // received it too (RedisStoreOptions::wait_replicas).
  enum class Durability { kMaster, kReplicated };
  Durability durability = Durability::kMaster;
  int redis_replicas = 1;
  // [[queues]]: work queues created at start (herald/work_queue.h).
  std::vector<QueueOptions> queues;
  // [hooks]: the backend asked before a client connects, subscribes,
  // publishes or refreshes (herald/hooks.h): over HTTP at `hooks_url`, or
  // gRPC at `hooks_grpc_target`. BuildHooks() makes the transport into
  // server.hooks.hooks; the policies are read into server.hooks directly.
  std::string hooks_url;
  std::string hooks_grpc_target;
  size_t hooks_connections = 64;
  std::string log_level = "info";
  // Logs on stderr as text lines, or one JSON object per line
  // (server/logging.h).
  enum class LogFormat { kText, kJson };
  LogFormat log_format = LogFormat::kText;
  // How often limit trips are reported in the log (one line per limit).
  std::chrono::milliseconds limit_log_interval = std::chrono::seconds(10);
  std::string config_file;
};

// What parsing the command line decided.
struct ParsedArgs {
  // kCheck: --check-config; the config is valid as far as flags and file go,
  // and the caller checks the rest (what a start would refuse) and exits.
  enum class Action { kRun, kCheck, kExit };
  Action action = Action::kRun;
  int exit_code = 0;   // with kExit: 0 after --help/--version, 2 after an error
  std::string output;  // with kExit: what to print (help text or error)
  Config config;
  std::string file_text;  // the config file as read (empty: none)
};

ParsedArgs ParseArgs(int argc, const char* const* argv);

// Applies a TOML document to `config`. `origin` names it in error messages.
Status ApplyToml(std::string_view toml_text, std::string_view origin, Config& config);

// The effective config as a TOML document (heraldd --print-config): every
// key with the value `effective` holds (the defaults, the file's and the
// flags'), secrets as "********"; the arrays of tables ([[history.rule]],
// [[auth.keys]], [[queues]]...) as `toml_text` (the config file, already
// applied to `effective`) has them.
Result<std::string> PrintToml(std::string_view toml_text, std::string_view origin,
                              const Config& effective);

// The keys (dotted: "http.max_body_bytes"; an array of tables as one key,
// "auth.keys") whose values differ between two PrintToml() documents.
Result<std::vector<std::string>> ChangedKeys(std::string_view printed_before,
                                             std::string_view printed_after);

// Whether a key of [limits] ("dedup_window_ms") is read at start only. The
// others are BrokerLimits, which a reload applies (Broker::SetLimits).
bool IsRestartOnlyLimit(std::string_view key);

// A key of the config file, as the reader knows it: every one must be
// documented in docs/CONFIG.md (a test checks, and that the defaults agree).
struct ConfigKey {
  std::string section;        // "http", "history.rule", "auth.keys"; "" at the top level
  std::string key;            // "max_body_bytes"
  std::string default_value;  // as TOML writes it ("1048576", "true", "\"drop\"", "[]"); or ""
};
// Every key ApplyToml() reads, in reading order, with its default.
std::vector<ConfigKey> ConfigKeys();

// The hook transport [hooks] names (HTTP or gRPC) into
// config.server.hooks.hooks; an error if it cannot be made.
Status BuildHooks(Config& config);

// "HOST:PORT" with an IPv4/IPv6 literal or a name; IPv6 in brackets.
Status ValidateListenAddress(std::string_view key, std::string_view value);

}  // namespace herald::server
