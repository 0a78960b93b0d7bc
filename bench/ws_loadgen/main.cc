// herald_ws_loadgen: a WebSocket pub/sub load generator for any server that
// speaks Herald's raw mode (ws://HOST:PORT/ws/<topic>: every frame a client
// sends goes to every client of the topic, sender included), or nats-server
// over its WebSocket listener (--mode nats). See bench/ws/README.md.
//
//   herald_ws_loadgen --url ws://127.0.0.1:8080/ws/bench --scenario S1
//   herald_ws_loadgen --url ws://127.0.0.1:8222/ --mode nats --scenario S3 --duration 5
//   herald_ws_loadgen --url wss://127.0.0.1:8443/ws/bench --ca ca.pem --scenario S3
//
// Prints a human-readable summary on stderr and one JSON line on stdout.
// Exit status: 0 ok, 1 the scenario failed (the JSON says why), 2 bad flags.
#include <sys/resource.h>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "bench/ws_loadgen/loadgen.h"

namespace {

using herald::wsbench::Config;
using herald::wsbench::Mode;
using herald::wsbench::Result;

const char kUsage[] =
    "usage: herald_ws_loadgen --url ws[s]://HOST:PORT/PATH [options]\n"
    "  --scenario S1|S2|S3|S4|S5  preset (default S1), the flags below override it\n"
    "  --mode raw|nats            raw: Herald/node raw topics; nats: NATS protocol over WS\n"
    "  --tls                      TLS below WebSocket (implied by wss://), TLS 1.2+, ALPN\n"
    "                             http/1.1; the certificate must name HOST (IP SAN for an IP)\n"
    "  --ca FILE                  CA certificate(s) to verify the server (default: the system's)\n"
    "  --subject NAME             nats subject (default bench.<scenario>)\n"
    "  --pubs N --subs N          publishing / subscribe-only connections\n"
    "  --chat                     publishers also subscribe (S3)\n"
    "  --size BYTES               payload size (>= 24)\n"
    "  --rate R                   msg/s per publisher; 0 = window mode\n"
    "  --window W                 window mode: max messages ahead of the slowest subscriber\n"
    "  --count N                  max messages per publisher (0 = time only)\n"
    "  --duration S --drain S     publishing time, max wait for in-flight deliveries\n"
    "  --conns N --hold S         S5: idle connections, how long to hold them\n"
    "  --threads T                event loops (1-2 sensible)\n"
    "  --server-pid PID           read the server's VmRSS (S5 memory per connection)\n"
    "  --server NAME              label for the JSON line\n"
    "  --max-connecting N --setup-timeout S\n";

void Preset(Config& c, const std::string& s) {
  c.scenario = s;
  if (s == "S1") {
    c.publishers = 1, c.subscribers = 100, c.payload = 64, c.rate = 0, c.window = 256;
  } else if (s == "S2") {
    c.publishers = 1, c.subscribers = 1000, c.payload = 64, c.rate = 100;
  } else if (s == "S3") {
    c.publishers = 100, c.subscribers = 0, c.publishers_subscribe = true, c.payload = 256,
    c.rate = 10;
  } else if (s == "S4") {
    c.publishers = 1, c.subscribers = 10, c.payload = 65536, c.rate = 0, c.window = 64;
  } else if (s == "S5") {
    c.publishers = 0, c.subscribers = 10000, c.idle = true, c.hold_s = 3;
  } else {
    std::fprintf(stderr, "unknown scenario %s\n", s.c_str());
    std::exit(2);
  }
}

bool ParseUrl(Config& c, const std::string& url) {
  std::string_view u = url;
  if (u.substr(0, 6) == "wss://") {
    c.tls = true;
    u.remove_prefix(6);
  } else if (u.substr(0, 5) == "ws://") {
    u.remove_prefix(5);
  } else {
    return false;
  }
  size_t slash = u.find('/');
  std::string_view hostport = u.substr(0, slash);
  c.path = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return false;
  c.host = std::string(hostport.substr(0, colon));
  if (c.host == "localhost") c.host = "127.0.0.1";
  c.port = std::atoi(std::string(hostport.substr(colon + 1)).c_str());
  return c.port > 0;
}

void RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      o += ' ';
    } else {
      o += ch;
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  Preset(cfg, "S1");
  std::string url, server = "unknown", subject;
  bool tls_flag = false;
  // First pass: the scenario preset, so later flags override it.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scenario") == 0) Preset(cfg, argv[i + 1]);
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--chat") {
      cfg.publishers_subscribe = true;
      continue;
    }
    if (a == "--tls") {
      tls_flag = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n%s", a.c_str(), kUsage);
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--scenario") {
    } else if (a == "--url") {
      url = v;
    } else if (a == "--mode") {
      if (v != "raw" && v != "nats") {
        std::fprintf(stderr, "--mode raw|nats\n");
        return 2;
      }
      cfg.mode = v == "raw" ? Mode::kRaw : Mode::kNats;
    } else if (a == "--ca") {
      cfg.ca_file = v;
    } else if (a == "--subject") {
      subject = v;
    } else if (a == "--pubs") {
      cfg.publishers = std::atoi(v.c_str());
    } else if (a == "--subs" || a == "--conns") {
      cfg.subscribers = std::atoi(v.c_str());
    } else if (a == "--size") {
      cfg.payload = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--rate") {
      cfg.rate = std::atof(v.c_str());
    } else if (a == "--window") {
      cfg.window = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--count") {
      cfg.count = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--duration") {
      cfg.duration_s = std::atof(v.c_str());
    } else if (a == "--drain") {
      cfg.drain_s = std::atof(v.c_str());
    } else if (a == "--hold") {
      cfg.hold_s = std::atof(v.c_str());
    } else if (a == "--threads") {
      cfg.threads = std::atoi(v.c_str());
    } else if (a == "--server-pid") {
      cfg.server_pid = std::atoi(v.c_str());
    } else if (a == "--server") {
      server = v;
    } else if (a == "--max-connecting") {
      cfg.max_connecting = std::atoi(v.c_str());
    } else if (a == "--setup-timeout") {
      cfg.setup_timeout_s = std::atof(v.c_str());
    } else {
      std::fprintf(stderr, "unknown flag %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (url.empty() || !ParseUrl(cfg, url)) {
    std::fprintf(stderr, "--url ws[s]://HOST:PORT/PATH is required\n%s", kUsage);
    return 2;
  }
  cfg.tls = cfg.tls || tls_flag;
  // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a peer that closed
  // must give EPIPE, not kill the generator.
  std::signal(SIGPIPE, SIG_IGN);
  if (cfg.payload < 24) cfg.payload = 24;
  if (cfg.window == 0) cfg.window = 1;
  std::string lower = cfg.scenario;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  cfg.subject = subject.empty() ? "bench." + lower : subject;
  RaiseFdLimit();

  Result r = herald::wsbench::RunScenario(cfg);

  const double p50 = static_cast<double>(r.latency.Quantile(0.50)) / 1e3;
  const double p99 = static_cast<double>(r.latency.Quantile(0.99)) / 1e3;
  const double p999 = static_cast<double>(r.latency.Quantile(0.999)) / 1e3;
  const double pmax = static_cast<double>(r.latency.max()) / 1e3;
  const double dps = r.delivery_s > 0 ? static_cast<double>(r.received) / r.delivery_s : 0;
  const double mps = r.publish_s > 0 ? static_cast<double>(r.sent) / r.publish_s : 0;
  const double gen_pct = r.measure_s > 0 ? 100.0 * r.gen_cpu_s / r.measure_s : 0;
  double kib_per_conn = -1;
  if (cfg.idle && r.rss_before_kib >= 0 && r.rss_after_kib >= 0 && r.connections > 0) {
    kib_per_conn = static_cast<double>(r.rss_after_kib - r.rss_before_kib) / r.connections;
  }

  std::string tls_desc;
  if (cfg.tls && !r.tls_version.empty()) {
    tls_desc = " " + r.tls_version + " " + r.tls_cipher +
               " alpn=" + (r.alpn.empty() ? std::string("none") : r.alpn);
  }
  std::fprintf(
      stderr,
      "%-3s %-10s %-4s%s %s  conns=%d subs=%d payload=%zu setup=%.2fs%s\n"
      "    sent=%llu expected=%llu received=%llu lost=%llu dup=%llu echo=%llu "
      "disconnects=%llu\n"
      "    %.0f deliveries/s (%.0f msg/s published)  latency us p50=%.1f p99=%.1f "
      "p99.9=%.1f max=%.1f  generator cpu %.0f%%\n",
      cfg.scenario.c_str(), server.c_str(), cfg.mode == Mode::kRaw ? "raw" : "nats",
      cfg.tls ? "+tls" : "", r.ok ? "ok" : ("FAILED: " + r.error).c_str(), r.connections,
      r.subscriber_count, cfg.payload, r.setup_s, tls_desc.c_str(),
      static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.expected),
      static_cast<unsigned long long>(r.received), static_cast<unsigned long long>(r.lost),
      static_cast<unsigned long long>(r.duplicates), static_cast<unsigned long long>(r.echoes),
      static_cast<unsigned long long>(r.disconnects), dps, mps, p50, p99, p999, pmax, gen_pct);
  if (cfg.idle) {
    std::fprintf(stderr, "    server VmRSS %ld -> %ld KiB: %.2f KiB/connection\n", r.rss_before_kib,
                 r.rss_after_kib, kib_per_conn);
  }

  std::printf(
      "{\"scenario\":\"%s\",\"server\":\"%s\",\"mode\":\"%s\",\"status\":\"%s\","
      "\"error\":\"%s\",\"connections\":%d,\"publishers\":%d,\"subscribers\":%d,"
      "\"payload\":%zu,\"rate\":%g,\"window\":%llu,\"duration_s\":%g,\"setup_s\":%.3f,"
      "\"publish_s\":%.3f,\"delivery_s\":%.3f,\"sent\":%llu,\"expected\":%llu,"
      "\"received\":%llu,\"lost\":%llu,\"duplicates\":%llu,\"echoes\":%llu,"
      "\"disconnects\":%llu,\"deliveries_per_s\":%.1f,\"published_per_s\":%.1f,"
      "\"latency_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f},"
      "\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,\"kib_per_conn\":%.3f,"
      "\"generator_cpu_pct\":%.1f,\"tls\":%s,\"tls_version\":\"%s\",\"tls_cipher\":\"%s\","
      "\"alpn\":\"%s\"}\n",
      cfg.scenario.c_str(), JsonEscape(server).c_str(), cfg.mode == Mode::kRaw ? "raw" : "nats",
      r.ok ? "ok" : "failed", JsonEscape(r.error).c_str(), r.connections,
      cfg.idle ? 0 : cfg.publishers, r.subscriber_count, cfg.payload, cfg.rate,
      static_cast<unsigned long long>(cfg.window), cfg.duration_s, r.setup_s, r.publish_s,
      r.delivery_s, static_cast<unsigned long long>(r.sent),
      static_cast<unsigned long long>(r.expected), static_cast<unsigned long long>(r.received),
      static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.duplicates),
      static_cast<unsigned long long>(r.echoes), static_cast<unsigned long long>(r.disconnects),
      dps, mps, p50, p99, p999, pmax, r.rss_before_kib, r.rss_after_kib, kib_per_conn, gen_pct,
      cfg.tls ? "true" : "false", JsonEscape(r.tls_version).c_str(),
      JsonEscape(r.tls_cipher).c_str(), JsonEscape(r.alpn).c_str());
  return r.ok ? 0 : 1;
}
