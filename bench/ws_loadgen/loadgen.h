// bench/ws_loadgen/loadgen.h — the load generator's engine: N WebSocket
// client connections spread over 1-2 epoll loops (one per thread), driven
// through the phases connect -> probe -> run -> drain -> close. With
// Config::tls every connection, in either protocol, runs over TLS: OpenSSL on
// the same non-blocking sockets (SSL_set_fd), driven by the same loop.
//
// Every application message carries a 24-byte header (magic, publisher id,
// sequence number from 1, steady-clock send time in ns) padded to the payload
// size. A subscriber records, per delivery, the latency (receive time of the
// read that completed it minus the send time) and checks the sequence per
// publisher: a jump counts as loss, a step back as a duplicate.
#pragma once

#include <cstdint>
#include <string>

#include "bench/ws_loadgen/histogram.h"

namespace herald::wsbench {

enum class Mode { kRaw, kNats };

struct Config {
  std::string scenario = "S1";
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/ws/bench";  // raw: /ws/<topic>; nats: any path
  std::string subject = "bench";   // nats subject
  Mode mode = Mode::kRaw;
  bool tls = false;     // wss: TLS below the WebSocket handshake
  std::string ca_file;  // verify the server against this CA (empty: the system's)

  int publishers = 1;                 // connections that publish
  int subscribers = 100;              // connections that only subscribe
  bool publishers_subscribe = false;  // chat room: every publisher is also a subscriber
  size_t payload = 64;                // bytes per message (>= 24)
  double rate = 0;                    // msg/s per publisher; 0 = as fast as the window allows
  uint64_t window = 256;              // max messages not yet received by the slowest subscriber
  uint64_t count = 0;                 // max messages per publisher (0 = unbounded, time only)
  double duration_s = 5;              // publishing time
  double drain_s = 3;                 // max wait for in-flight deliveries after publishing
  bool idle = false;                  // S5: open, hold hold_s, close; no traffic
  double hold_s = 2;
  int threads = 1;
  int max_connecting = 128;  // concurrent handshakes per thread
  double setup_timeout_s = 30;
  int server_pid = 0;  // for VmRSS (S5)
};

struct Result {
  bool ok = false;
  std::string error;
  int connections = 0;
  int subscriber_count = 0;  // connections whose deliveries count
  uint64_t sent = 0;         // messages published (all publishers)
  uint64_t expected = 0;     // deliveries expected (sent x subscribers hearing them)
  uint64_t received = 0;     // deliveries counted
  uint64_t lost = 0;
  uint64_t duplicates = 0;   // sequence stepped back (duplicate or reordering)
  uint64_t echoes = 0;       // raw mode: a pure publisher's own messages coming back
  uint64_t disconnects = 0;  // connections the server closed during the run
  double publish_s = 0;      // run start -> publishing stopped
  double delivery_s = 0;     // run start -> last delivery
  double setup_s = 0;        // connect + handshake (+ CONNECT/SUB/PING for nats) of all
  double gen_cpu_s = 0;      // this process's CPU time from run start to end of drain
  double measure_s = 0;      // wall time of the same span
  LatencyHistogram latency;
  long rss_before_kib = -1;
  long rss_after_kib = -1;
  std::string tls_version;  // of the first connection that completed its handshake
  std::string tls_cipher;
  std::string alpn;
};

Result RunScenario(const Config& config);
long ReadVmRssKib(int pid);  // -1 when unreadable

}  // namespace herald::wsbench
