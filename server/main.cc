// heraldd: the standalone broker. Parses flags and the config file, starts a
// Broker and a Server, and shuts down gracefully on SIGINT/SIGTERM (stop
// accepting, finish in-flight responses, close).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "herald/broker.h"
#include "herald/disk_store.h"
#include "herald/server.h"
#include "server/config.h"
#include "server/limit_log.h"
#include "server/logging.h"
#include "server/systemd_notify.h"

// jemalloc's settings, read from this symbol when heraldd is linked with it
// (server/CMakeLists.txt; inert with any other allocator; MALLOC_CONF in the
// environment still adds to them). By default jemalloc keeps freed pages for
// about 10 s before giving them back, which let RSS reach 2-3x the history
// budget in test_broker_budgets; here one background thread of its own (its
// signals masked, so sigwait below still takes SIGTERM) returns them within
// about a second, and no loop thread pays for it. docs/ARCHITECTURE.md,
// "Memory allocator".
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0";
}

namespace {

// Signals are blocked in every thread (workers inherit the mask) and taken
// synchronously by the main thread with sigwait, so no handler ever runs in
// the middle of an event loop.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);  // a reload, not an end
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return set;
}

// heraldd's reload handler (SIGHUP and POST /admin/reload, through
// Server::ReloadNow): the command line and the config file read again; what
// can change live is applied (Server::Reload), with the log level; an
// invalid configuration changes nothing, and the reason is logged and
// returned. Never on a loop's thread (it reads files). `started` is what
// heraldd started with, and `started_doc` its --print-config document, made
// once at start (the files it names may be gone by now: a key rotation
// deletes the old one): a key that needs a restart is named at every
// reload for as long as the file differs.
herald::Result<herald::ReloadReport> Reload(int argc, char** argv, herald::Broker& broker,
                                            herald::Server& server,
                                            const herald::server::ParsedArgs& started,
                                            const herald::Result<std::string>& started_doc) {
  using herald::server::ParsedArgs;
  auto refused = [](std::string why) {
    while (!why.empty() && why.back() == '\n') why.pop_back();
    spdlog::error("reload: refused, the running configuration stays: {}", why);
    return herald::Status(herald::ErrorCode::kInvalidArgument,
                          "reload refused, the running configuration stays: " + why);
  };
  ParsedArgs again = herald::server::ParseArgs(argc, argv);
  if (again.action != ParsedArgs::Action::kRun) return refused(again.output);
  herald::Result<herald::ReloadReport> r = server.Reload(again.config.server);
  if (!r.ok()) {
    // Not running (stopping): no configuration to keep.
    if (r.status().code() == herald::ErrorCode::kUnavailable) return r.status();
    return refused(r.status().message());
  }
  // The broker's bounds, once the server's part is applied (it cannot
  // fail: the values were checked as the file was read).
  broker.SetLimits(herald::BrokerLimits::Of(again.config.broker));
  std::vector<std::string> applied = r->applied;
  applied.push_back("limits");
  applied.push_back("log_level");
  // Every other key that differs is named: what the server could not apply
  // live (it said so), and what heraldd reads at start only (the store,
  // queues, the [limits] keys that are not BrokerLimits...).
  std::vector<std::string> restart = r->needs_restart;
  auto add = [&](const std::string& key) {
    if (std::find(restart.begin(), restart.end(), key) == restart.end()) restart.push_back(key);
  };
  // A reloaded section is live, but for the keys the server named.
  auto live = [&](const std::string& key) {
    const std::string section = key.substr(0, key.find('.'));
    if (key == "log_level") return true;
    if (std::find(applied.begin(), applied.end(), section) == applied.end()) return false;
    if (key.starts_with("limits.") &&
        herald::server::IsRestartOnlyLimit(std::string_view(key).substr(7))) {
      return false;
    }
    return std::none_of(restart.begin(), restart.end(), [&](const std::string& r) {
      return r == key || key.rfind(r + ".", 0) == 0;
    });
  };
  const auto after =
      herald::server::PrintToml(again.file_text, again.config.config_file, again.config);
  herald::Result<std::vector<std::string>> changed =
      started_doc.ok() && after.ok()
          ? herald::server::ChangedKeys(*started_doc, *after)
          : herald::Result<std::vector<std::string>>(!started_doc.ok() ? started_doc.status()
                                                                       : after.status());
  const bool auth_toggled = std::find(restart.begin(), restart.end(), "auth") != restart.end();
  if (changed.ok()) {
    // The top-level spellings of [cluster] keys are the same settings.
    for (std::string key : *changed) {
      if (auth_toggled && key.rfind("auth.", 0) == 0) continue;  // said as a whole
      if (key == "cluster_listen") key = "cluster.listen";
      if (key == "seeds") key = "cluster.seeds";
      if (!live(key)) add(key);
    }
  } else {
    spdlog::warn("reload: cannot tell which other keys differ: {}", changed.status().message());
  }
  // Secrets print as "********" on both sides: compared here.
  const herald::server::Config& was = started.config;
  const herald::server::Config& now = again.config;
  if (was.server.cluster.secret != now.server.cluster.secret) add("cluster.secret");
  if (was.redis.password != now.redis.password) add("store.redis_password");
  if (was.redis.sentinel_password != now.redis.sentinel_password) {
    add("store.redis_sentinel_password");
  }
  if (was.hooks_url != now.hooks_url) add("hooks.url");  // its user:password@ prints masked
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? std::string("nothing") : out;
  };
  // Said before the level changes, so a quieter level does not hide it.
  spdlog::info("reload: applied {}", join(applied));
  if (!restart.empty()) {
    spdlog::warn("reload: these differ and need a restart (not applied): {}", join(restart));
  }
  herald::server::SetLogLevel(again.config.log_level);
  return herald::ReloadReport{std::move(applied), std::move(restart)};
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts (the logger's is the first): every thread
  // inherits the mask, so SIGTERM and SIGHUP reach only the sigtimedwait
  // below (and a SIGHUP while starting waits for it).
  const sigset_t signals = BlockShutdownSignals();
  herald::server::ParsedArgs args = herald::server::ParseArgs(argc, argv);
  if (args.action == herald::server::ParsedArgs::Action::kExit) {
    std::fputs(args.output.c_str(), args.exit_code == 0 ? stdout : stderr);
    return args.exit_code;
  }
  herald::server::Config& config = args.config;
  if (args.action == herald::server::ParsedArgs::Action::kCheck) {
    // What a start refuses before binding: the server's files and keys, and
    // the hooks' transport. The store is not opened (a running heraldd
    // holds its lock).
    herald::Status s = herald::server::BuildHooks(config);
    if (s.ok()) s = herald::Server::Check(config.server);
    if (!s.ok()) {
      std::fprintf(stderr, "heraldd: %s: %s\n", config.config_file.c_str(), s.message().c_str());
      return 2;
    }
    std::printf("heraldd: %s: ok\n", config.config_file.c_str());
    return 0;
  }

  herald::server::SetUpLogging(config.log_format, config.log_level);
  // What a reload compares with (made now: the files it names may be gone
  // by then).
  const herald::Result<std::string> started_doc =
      herald::server::PrintToml(args.file_text, config.config_file, config);
  if (!config.config_file.empty()) spdlog::info("config file {}", config.config_file);

  if (config.store_kind == herald::server::Config::StoreKind::kDisk) {
    herald::Result<std::shared_ptr<herald::HistoryStore>> store =
        herald::OpenDiskStore(config.store);
    if (!store.ok()) {
      spdlog::error("cannot start: {}", store.status().message());
      return 1;
    }
    config.broker.store = *store;
    spdlog::info("history store {} (sync = {}): {}", config.store.dir,
                 config.store.sync == herald::DiskStoreOptions::Sync::kAlways ? "always" : "batch",
                 (*store)->recovery().detail);
  }
  if (config.store_kind == herald::server::Config::StoreKind::kRedis) {
    herald::RedisStoreOptions& r = config.redis;
    r.max_queued_bytes = config.store.max_queued_bytes;
    r.tail_bytes = config.store.tail_bytes;
    r.max_pending_reads = config.store.max_pending_reads;
    r.wait_replicas = config.durability == herald::server::Config::Durability::kReplicated
                          ? config.redis_replicas
                          : 0;
    herald::Result<std::shared_ptr<herald::HistoryStore>> store = herald::OpenRedisStore(r);
    if (!store.ok()) {
      spdlog::error("cannot start: {}", store.status().message());
      return 1;
    }
    config.broker.store = *store;
    spdlog::info("history store on redis (prefix {}, durability {}): {}", r.prefix,
                 r.wait_replicas > 0 ? "replicated" : "master", (*store)->recovery().detail);
  }
  herald::Broker broker(config.broker);
  for (const herald::QueueOptions& q : config.queues) {
    // A queue the store kept with other settings keeps them (and its jobs):
    // changing a definition is an explicit delete, not a restart.
    if (herald::Result<herald::QueueInfo> kept = broker.GetQueue(q.name);
        kept.ok() && !(kept->options == q)) {
      spdlog::warn(
          "[[queues]] '{}': the stored queue has other settings and keeps them (and its {} "
          "jobs); delete it (DELETE /queues/{}) and restart to apply the config's",
          q.name, kept->pending, q.name);
      continue;
    }
    if (herald::Status s = broker.CreateQueue(q); !s.ok()) {
      spdlog::error("cannot start: [[queues]]: {}", s.message());
      return 1;
    }
  }
  if (herald::Status s = herald::server::BuildHooks(config); !s.ok()) {
    spdlog::error("cannot start: [hooks]: {}", s.message());
    return 1;
  }
  herald::Server* reloading = nullptr;  // the server, once made
  config.server.reload_handler = [&] {
    return Reload(argc, argv, broker, *reloading, args, started_doc);
  };
  herald::Server server(broker, config.server);
  reloading = &server;
  // The server holds the hooks' transport from here on, so it goes with the
  // server, before the broker: calls still in flight then fail (and may
  // still reach the broker, which is alive).
  config.server.hooks.hooks.reset();
  if (herald::Status s = server.Start(); !s.ok()) {
    spdlog::error("cannot start: {}", s.message());
    return 1;
  }
  // The limit log takes stock before the port is announced: clients (and
  // tests) connect once they read it, and a refusal counted before the first
  // reading would never be reported.
  herald::server::LimitLog limits;
  (void)limits.Report(server.LimitCounters());
  const int workers = config.server.workers > 0
                          ? config.server.workers
                          : static_cast<int>(std::thread::hardware_concurrency());
  const auto host = [](const std::string& listen) { return listen.substr(0, listen.rfind(':')); };
  if (server.port() != 0) {
    spdlog::info("heraldd node '{}' listening on http://{}:{} ({} workers)", config.broker.node_id,
                 host(config.server.listen), server.port(), workers);
  }
  if (server.tls_port() != 0) {
    spdlog::info("heraldd node '{}' listening on https://{}:{} ({} workers)", config.broker.node_id,
                 host(config.server.tls.listen), server.tls_port(), workers);
  }
  if (server.grpc_tls_port() != 0) {
    spdlog::info("gRPC API over TLS listening on {}:{}", host(config.server.tls.grpc_listen),
                 server.grpc_tls_port());
  }
  if (server.grpc_port() != 0) {
    const std::string& g = config.server.grpc.listen;
    spdlog::info("gRPC API (herald.v1.Broker) listening on {}:{}", g.substr(0, g.rfind(':')),
                 server.grpc_port());
  }
  if (server.cluster_port() != 0) {
    const std::string& c = config.server.cluster.listen;
    spdlog::info("peer links (herald.cluster.v1.Peer) listening on {}:{}",
                 c.substr(0, c.rfind(':')), server.cluster_port());
  }

  // Every listener is bound: systemd may start what depends on heraldd.
  herald::server::SystemdNotify systemd;
  systemd.Ready("listening on port " +
                std::to_string(server.port() != 0 ? server.port() : server.tls_port()));

  // Waiting for a signal, reporting the limits that tripped meanwhile (one
  // line per counter that moved, every limit_log_interval), and pinging
  // systemd's watchdog while every event loop turns.
  using Clock = std::chrono::steady_clock;
  const std::chrono::milliseconds limit_every = config.limit_log_interval;
  const std::chrono::milliseconds watchdog_every = systemd.watchdog_interval();
  Clock::time_point next_limits = Clock::now() + limit_every;
  Clock::time_point next_watchdog = Clock::now();  // the first ping at once
  int sig = 0;
  for (;;) {
    Clock::time_point next = next_limits;
    if (watchdog_every.count() > 0) next = std::min(next, next_watchdog);
    const auto wait = std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(next - Clock::now()).count());
    const timespec until{static_cast<time_t>(wait / 1'000'000'000),
                         static_cast<long>(wait % 1'000'000'000)};
    if ((sig = sigtimedwait(&signals, nullptr, &until)) == SIGHUP) {
      (void)server.ReloadNow();  // logged by the handler
      continue;
    }
    if (sig > 0) break;
    const Clock::time_point now = Clock::now();
    if (watchdog_every.count() > 0 && now >= next_watchdog) {
      if (server.LoopsTurning()) {
        systemd.Watchdog();
      } else {
        spdlog::error("an event loop ran nothing for {} ms: no watchdog ping to systemd",
                      watchdog_every.count());
      }
      next_watchdog = now + watchdog_every;
    }
    if (now >= next_limits) {
      for (const std::string& line : limits.Report(server.LimitCounters()))
        spdlog::warn("{}", line);
      next_limits = now + limit_every;
    }
  }
  systemd.Stopping(sig == SIGTERM ? "draining" : "stopping");
  if (sig == SIGTERM && config.server.drain_window.count() > 0) {
    // An orchestrator's stop: hand clients over to other nodes gently.
    spdlog::info("SIGTERM received: shutting down, draining connections over {} ms",
                 config.server.drain_window.count());
    server.Drain(config.server.drain_window);
  } else {
    spdlog::info("{} received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  }
  server.Stop();
  spdlog::info("stopped");
  return 0;
}
