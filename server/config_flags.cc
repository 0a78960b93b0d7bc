// The command-line half of heraldd's configuration: flags override the config
// file, which overrides the defaults.
#include <CLI/CLI.hpp>
#include <cstdlib>

#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "herald/topic.h"
#include "server/config.h"

namespace herald::server {
namespace {

ParsedArgs Exit(int code, std::string output) {
  ParsedArgs p;
  p.action = ParsedArgs::Action::kExit;
  p.exit_code = code;
  p.output = std::move(output);
  return p;
}

// Applies the file at `path` to `c`; its text in `text`.
Status LoadFile(const std::string& path, Config& c, std::string& text) {
  std::ifstream in(path);
  if (!in) {
    return Status(ErrorCode::kInvalidArgument, "--config " + path + ": cannot read the file");
  }
  std::stringstream read;
  read << in.rdbuf();
  text = read.str();
  return ApplyToml(text, path, c);
}

Status Validate(const Config& c) {
  // listen = "" with [tls] listen: HTTPS only.
  if (!c.server.listen.empty() || c.server.tls.listen.empty()) {
    if (Status s = ValidateListenAddress("listen", c.server.listen); !s.ok()) return s;
  }
  if (!c.server.grpc.listen.empty()) {
    if (Status s = ValidateListenAddress("grpc_listen", c.server.grpc.listen); !s.ok()) return s;
  }
  if (!c.server.tls.listen.empty()) {
    if (Status s = ValidateListenAddress("tls.listen", c.server.tls.listen); !s.ok()) return s;
  }
  if (!c.server.tls.grpc_listen.empty()) {
    if (Status s = ValidateListenAddress("tls.grpc_listen", c.server.tls.grpc_listen); !s.ok()) {
      return s;
    }
  }
  // Two listeners on one address would share it (gRPC binds with
  // SO_REUSEPORT): the kernel would split connections between, say, the
  // plain and the TLS port. Port 0 picks a free port each time.
  const std::pair<const char*, const std::string*> listeners[] = {
      {"listen", &c.server.listen},
      {"grpc_listen", &c.server.grpc.listen},
      {"tls.listen", &c.server.tls.listen},
      {"tls.grpc_listen", &c.server.tls.grpc_listen},
      {"cluster_listen", &c.server.cluster.listen}};
  for (size_t i = 0; i < std::size(listeners); ++i) {
    const std::string& a = *listeners[i].second;
    if (a.empty() || a.ends_with(":0")) continue;
    for (size_t j = 0; j < i; ++j) {
      if (*listeners[j].second == a) {
        return Status(ErrorCode::kInvalidArgument, std::string(listeners[i].first) + ": '" + a +
                                                       "' is " + listeners[j].first +
                                                       "'s address too");
      }
    }
  }
  if (c.store_kind == Config::StoreKind::kDisk && c.store.dir.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "[store] kind = \"disk\" needs a directory: set [store] dir or --data-dir");
  }
  if (c.store_kind == Config::StoreKind::kRedis &&
      (c.redis.host.empty() || c.redis.prefix.empty())) {
    return Status(ErrorCode::kInvalidArgument,
                  "[store] kind = \"redis\" needs redis_host and a non-empty redis_prefix");
  }
  if (c.durability == Config::Durability::kReplicated &&
      c.store_kind != Config::StoreKind::kRedis) {
    return Status(ErrorCode::kInvalidArgument,
                  "[store] durability = \"replicated\" needs kind = \"redis\" (it waits for "
                  "Redis replicas)");
  }
  if (c.store_kind == Config::StoreKind::kRedis && !c.redis.sentinels.empty() &&
      c.redis.sentinel_master.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "[store] redis_sentinels need redis_sentinel_master (the name the sentinels "
                  "monitor)");
  }
  const ClusterOptions& cl = c.server.cluster;
  if (!cl.listen.empty()) {
    if (Status s = ValidateListenAddress("cluster_listen", cl.listen); !s.ok()) return s;
  } else if (!cl.seeds.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "seeds need cluster_listen (--cluster-listen): peers must be able to reach "
                  "this node");
  }
  if (!cl.advertise.empty()) {
    if (Status s = ValidateListenAddress("cluster.advertise", cl.advertise); !s.ok()) return s;
  }
  for (const std::string& seed : cl.seeds) {
    if (Status s = ValidateListenAddress("seed", seed); !s.ok()) return s;
  }
  const std::string& id = c.broker.node_id;
  if (id.empty() || id.find('.') != std::string::npos || !ValidateTopic(id).ok()) {
    return Status(ErrorCode::kInvalidArgument,
                  "'node_id' must be one topic token: no dots, spaces or wildcards");
  }
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  bool level_ok = false;
  for (const char* l : kLevels) level_ok |= c.log_level == l;
  if (!level_ok) {
    return Status(ErrorCode::kInvalidArgument,
                  "'log_level' must be one of trace, debug, info, warn, error, critical, off");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateListenAddress(std::string_view key, std::string_view value) {
  auto bad = [&](std::string why) {
    return Status(ErrorCode::kInvalidArgument,
                  "'" + std::string(key) + "' = \"" + std::string(value) + "\": " + why);
  };
  const size_t colon = value.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad("expected HOST:PORT");
  std::string_view host = value.substr(0, colon);
  std::string_view port = value.substr(colon + 1);
  if (host.front() == '[' && host.back() != ']') return bad("unterminated IPv6 literal");
  if (host.front() != '[' && host.find(':') != std::string_view::npos) {
    return bad("IPv6 addresses go in brackets, e.g. [::1]:8080");
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos ||
      std::stoi(std::string(port)) > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  return Status::Ok();
}

ParsedArgs ParseArgs(int argc, const char* const* argv) {
  CLI::App app{"heraldd — the Herald pub/sub message broker"};
  app.set_version_flag("--version", "heraldd 0.1.0");
  std::string config_file, listen, grpc_listen, cluster_listen, node_id, log_level, static_dir;
  std::vector<std::string> seeds;
  std::string cluster_advertise, cluster_name;
  int workers = -1;
  auto* o_config = app.add_option(
      "--config", config_file, "TOML config file (every key: docs/CONFIG.md); flags override it");
  auto* o_listen = app.add_option("--listen", listen,
                                  "HOST:PORT for HTTP, WebSocket and SSE (default 127.0.0.1:8080; "
                                  "port 0 picks a free port, logged at start)");
  auto* o_grpc = app.add_option("--grpc-listen", grpc_listen,
                                "HOST:PORT for the gRPC API (herald.v1.Broker; default: off; "
                                "port 0 picks a free port, logged at start)");
  auto* o_static = app.add_option("--static", static_dir,
                                  "DIR of static files served at / (default: the built-in demo "
                                  "chat page)");
  auto* o_cluster = app.add_option("--cluster-listen", cluster_listen,
                                   "HOST:PORT for peer links to other nodes (default: off; "
                                   "port 0 picks a free port, logged at start). Off loopback "
                                   "or with [auth] it needs HERALD_CLUSTER_SECRET or mutual TLS");
  auto* o_seed = app.add_option("--seed", seeds, "HOST:PORT of a cluster member; repeatable");
  auto* o_advertise = app.add_option("--cluster-advertise", cluster_advertise,
                                     "HOST:PORT peers dial to reach this node (default: "
                                     "--cluster-listen with the bound port)");
  auto* o_cluster_name =
      app.add_option("--cluster-name", cluster_name, "links to other cluster names are refused");
  auto* o_node = app.add_option("--node-id", node_id, "this node's name (default: herald)");
  auto* o_workers =
      app.add_option("--workers", workers, "event-loop worker threads (default 0: one per core)")
          ->check(CLI::Range(0, 256));
  std::string data_dir;
  auto* o_data_dir = app.add_option("--data-dir", data_dir,
                                    "DIR where history is kept across restarts (the disk store; "
                                    "same as [store] kind = \"disk\" with dir = DIR)");
  auto* o_log = app.add_option("--log-level", log_level,
                               "trace, debug, info, warn, error, critical or off (default info)");
  std::string log_format;
  auto* o_log_format =
      app.add_option("--log-format", log_format,
                     "text (default) or json: one JSON object per line with ts, level, msg "
                     "and the event's fields (connection, front, user; never a token)")
          ->check(CLI::IsMember({"text", "json"}));
  std::string check_file;
  auto* o_check = app.add_option("--check-config", check_file,
                                 "check FILE (with the other flags) as a start would, without "
                                 "binding or opening anything; print what is wrong, or ok, and "
                                 "exit (0: valid, 2: not)")
                      ->excludes(o_config);
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "print the effective config (defaults, then --config, then flags) as TOML, "
               "secrets as \"********\", and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return Exit(0, app.help());
  } catch (const CLI::CallForVersion& v) {
    return Exit(0, "heraldd 0.1.0\n");
  } catch (const CLI::ParseError& e) {
    return Exit(2, std::string("heraldd: ") + e.what() + "\nRun with --help for usage.\n");
  }

  ParsedArgs p;
  Config& c = p.config;
  if (o_check->count()) {
    config_file = check_file;
    p.action = ParsedArgs::Action::kCheck;
  }
  std::string file_text;
  if (!config_file.empty()) {
    c.config_file = config_file;
    if (Status s = LoadFile(config_file, c, file_text); !s.ok()) {
      return Exit(2, "heraldd: " + s.message() + "\n");
    }
  }
  if (o_listen->count()) c.server.listen = listen;
  if (o_grpc->count()) c.server.grpc.listen = grpc_listen;
  if (o_static->count()) c.server.static_dir = static_dir;
  if (o_cluster->count()) c.server.cluster.listen = cluster_listen;
  if (o_seed->count()) c.server.cluster.seeds = seeds;
  if (o_advertise->count()) c.server.cluster.advertise = cluster_advertise;
  if (o_cluster_name->count()) c.server.cluster.name = cluster_name;
  if (const char* secret = std::getenv("HERALD_CLUSTER_SECRET"); secret && *secret) {
    c.server.cluster.secret = secret;  // not a flag: argv is visible to every user
  }
  if (o_node->count()) c.broker.node_id = node_id;
  if (o_workers->count()) c.server.workers = workers;
  if (o_log->count()) c.log_level = log_level;
  if (o_log_format->count()) {
    c.log_format = log_format == "json" ? Config::LogFormat::kJson : Config::LogFormat::kText;
  }
  if (o_data_dir->count()) {
    c.store_kind = Config::StoreKind::kDisk;
    c.store.dir = data_dir;
  }
  if (Status s = Validate(c); !s.ok()) return Exit(2, "heraldd: " + s.message() + "\n");
  if (print_config) {
    Result<std::string> printed = PrintToml(file_text, config_file, c);
    if (!printed.ok()) return Exit(2, "heraldd: " + printed.status().message() + "\n");
    return Exit(0, std::move(*printed));
  }
  p.file_text = std::move(file_text);
  return p;
}

}  // namespace herald::server
