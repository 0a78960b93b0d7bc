// herald_sse_loadgen: 1 publisher → N Server-Sent Events subscribers, for
// `make bench-sse` (bench/sse/run.sh). Standalone (plain epoll, no Herald
// library) so that it measures any server with the same two endpoints:
//
//   GET  /sse?topic=<topic>     an event stream; each event's data is the payload
//   POST /publish/<topic>       publishes the request body
//
// The publisher POSTs at a fixed rate on one keep-alive connection; each
// payload carries its sequence number and the CLOCK_MONOTONIC time it was
// sent, so every subscriber measures end-to-end latency and checks that it
// got every message once, in order. Subscribers speak HTTP/1.0, so the
// stream is the bare event stream (no chunked framing to undo).
//
//   herald_sse_loadgen --port 8080 --conns 1000 --rate 1000 --seconds 10
//
// Prints one JSON object with counts (sent, acked, received, lost,
// duplicates, reordered) and latency quantiles in microseconds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "bench/ws_loadgen/histogram.h"

namespace {

using herald::wsbench::LatencyHistogram;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

struct Options {
  int port = 8080;
  int conns = 1000;
  int rate = 1000;  // messages per second
  double seconds = 10;
  size_t payload = 64;
  std::string topic = "bench.sse";
  double drain_seconds = 5;
};

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "sse_loadgen: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 && errno != EINPROGRESS) {
    Die("connect");
  }
  return fd;
}

struct Subscriber {
  int fd = -1;
  std::string request;
  size_t request_sent = 0;
  std::string buf;
  bool head = false;  // the response head arrived with status 200
  bool closed = false;
  uint64_t last_seq = 0;
  uint64_t received = 0;
  uint64_t duplicates = 0;
  uint64_t reordered = 0;
};

struct Publisher {
  int fd = -1;
  std::string out;  // requests not yet written
  std::string in;   // responses not yet parsed
  uint64_t sent = 0;
  uint64_t acked = 0;   // 2xx responses
  uint64_t failed = 0;  // other responses
};

// Parses complete events' data lines out of s.buf.
void ParseEvents(Subscriber& s, uint64_t now, LatencyHistogram& h) {
  size_t pos = 0;
  if (!s.head) {
    const size_t end = s.buf.find("\r\n\r\n");
    if (end == std::string::npos) return;
    if (s.buf.compare(0, 12, "HTTP/1.1 200") != 0 && s.buf.compare(0, 12, "HTTP/1.0 200") != 0) {
      std::fprintf(stderr, "sse_loadgen: subscribe refused: %.*s\n",
                   static_cast<int>(std::min<size_t>(end, 200)), s.buf.data());
      std::exit(1);
    }
    s.head = true;
    pos = end + 4;
  }
  for (;;) {
    const size_t nl = s.buf.find('\n', pos);
    if (nl == std::string::npos) break;
    std::string_view line(s.buf.data() + pos, nl - pos);
    pos = nl + 1;
    if (!line.starts_with("data: s=")) continue;
    uint64_t seq = 0, t = 0;
    size_t i = 8;  // after "data: s="
    while (i < line.size() && line[i] >= '0' && line[i] <= '9') seq = seq * 10 + (line[i++] - '0');
    if (line.substr(i, 3) != " t=") continue;
    for (i += 3; i < line.size() && line[i] >= '0' && line[i] <= '9';)
      t = t * 10 + (line[i++] - '0');
    if (seq <= s.last_seq) {
      ++s.duplicates;
      continue;
    }
    if (seq != s.last_seq + 1) ++s.reordered;  // something before it is missing
    s.last_seq = seq;
    ++s.received;
    h.Record(now > t ? now - t : 0);
  }
  s.buf.erase(0, pos);
}

// Counts complete responses in p.in (Content-Length framed).
void ParseAcks(Publisher& p) {
  for (;;) {
    const size_t end = p.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    size_t length = 0;
    const size_t cl = p.in.find("Content-Length: ");
    if (cl != std::string::npos && cl < end)
      length = std::strtoul(p.in.c_str() + cl + 16, nullptr, 10);
    if (p.in.size() < end + 4 + length) return;
    if (p.in.compare(9, 1, "2") == 0) {
      ++p.acked;
    } else {
      ++p.failed;
    }
    p.in.erase(0, end + 4 + length);
  }
}

void FlushPublisher(Publisher& p) {
  while (!p.out.empty()) {
    ssize_t n = write(p.fd, p.out.data(), p.out.size());
    if (n < 0) {
      if (errno == EAGAIN) return;
      Die("publisher write");
    }
    p.out.erase(0, static_cast<size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--port")
      o.port = std::atoi(v);
    else if (k == "--conns")
      o.conns = std::atoi(v);
    else if (k == "--rate")
      o.rate = std::atoi(v);
    else if (k == "--seconds")
      o.seconds = std::atof(v);
    else if (k == "--payload")
      o.payload = static_cast<size_t>(std::atol(v));
    else if (k == "--topic")
      o.topic = v;
    else if (k == "--drain")
      o.drain_seconds = std::atof(v);
    else {
      std::fprintf(stderr,
                   "usage: %s --port P [--conns N] [--rate R] [--seconds S] "
                   "[--payload B] [--topic T] [--drain S]\n",
                   argv[0]);
      return 2;
    }
  }
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Subscriber> subs(static_cast<size_t>(o.conns));
  for (size_t i = 0; i < subs.size(); ++i) {
    Subscriber& s = subs[i];
    s.fd = Connect(o.port);
    s.request = "GET /sse?topic=" + o.topic +
                " HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
  }
  Publisher pub;
  pub.fd = Connect(o.port);
  const uint64_t kPub = UINT64_MAX;
  {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = kPub;
    epoll_ctl(ep, EPOLL_CTL_ADD, pub.fd, &ev);
  }

  LatencyHistogram hist;
  std::vector<epoll_event> events(1024);
  char buf[65536];
  size_t with_head = 0;
  const uint64_t setup_deadline = NowNs() + 20'000'000'000ull;
  uint64_t start = 0, stop = 0, drain_deadline = 0;
  const uint64_t interval_ns = 1'000'000'000ull / static_cast<uint64_t>(o.rate);
  std::string pad(o.payload, 'x');
  bool done = false;
  while (!done) {
    const uint64_t now = NowNs();
    int timeout_ms = 100;
    if (start != 0 && now < stop) {
      // Publish what is due (catching up after a late wake-up).
      const uint64_t due = (now - start) / interval_ns + 1;
      while (pub.sent < due) {
        ++pub.sent;
        std::string body = "s=" + std::to_string(pub.sent) + " t=" + std::to_string(NowNs()) + " ";
        if (body.size() < o.payload) body += pad.substr(0, o.payload - body.size());
        pub.out += "POST /publish/" + o.topic +
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body;
      }
      FlushPublisher(pub);
      const uint64_t next = start + pub.sent * interval_ns;
      timeout_ms = next > now ? static_cast<int>((next - now) / 1'000'000) : 0;
    }
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    const uint64_t t = NowNs();
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[static_cast<size_t>(i)].data.u64;
      const uint32_t what = events[static_cast<size_t>(i)].events;
      if (id == kPub) {
        if (what & EPOLLOUT) FlushPublisher(pub);
        if (what & EPOLLIN) {
          ssize_t r;
          while ((r = read(pub.fd, buf, sizeof(buf))) > 0)
            pub.in.append(buf, static_cast<size_t>(r));
          ParseAcks(pub);
        }
        continue;
      }
      Subscriber& s = subs[id];
      if ((what & EPOLLOUT) && s.request_sent < s.request.size()) {
        ssize_t w =
            write(s.fd, s.request.data() + s.request_sent, s.request.size() - s.request_sent);
        if (w > 0) s.request_sent += static_cast<size_t>(w);
        if (s.request_sent == s.request.size()) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = id;
          epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &ev);
        }
      }
      if (what & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t r = read(s.fd, buf, sizeof(buf));
          if (r > 0) {
            s.buf.append(buf, static_cast<size_t>(r));
            continue;
          }
          if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            s.closed = true;
            epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
          }
          break;
        }
        const bool had_head = s.head;
        ParseEvents(s, t, hist);
        if (!had_head && s.head) ++with_head;
      }
    }
    if (start == 0) {
      if (with_head == subs.size()) {
        start = NowNs();
        stop = start + static_cast<uint64_t>(o.seconds * 1e9);
      } else if (t > setup_deadline) {
        std::fprintf(stderr, "sse_loadgen: only %zu of %zu streams opened\n", with_head,
                     subs.size());
        return 1;
      }
      continue;
    }
    if (t >= stop) {
      if (drain_deadline == 0) drain_deadline = t + static_cast<uint64_t>(o.drain_seconds * 1e9);
      bool all = pub.acked + pub.failed == pub.sent;
      for (const Subscriber& s : subs) all = all && (s.closed || s.received >= pub.acked);
      if (all || t > drain_deadline) done = true;
    }
  }

  uint64_t received = 0, duplicates = 0, reordered = 0, closed = 0;
  for (const Subscriber& s : subs) {
    received += s.received;
    duplicates += s.duplicates;
    reordered += s.reordered;
    closed += s.closed ? 1 : 0;
  }
  const uint64_t expected = pub.acked * subs.size();
  std::printf("{\"conns\":%d,\"rate\":%d,\"seconds\":%.1f,\"payload\":%zu,\"sent\":%" PRIu64
              ",\"acked\":%" PRIu64 ",\"publish_errors\":%" PRIu64 ",\"expected\":%" PRIu64
              ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"duplicates\":%" PRIu64
              ",\"reordered\":%" PRIu64 ",\"streams_closed\":%" PRIu64
              ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
              o.conns, o.rate, o.seconds, o.payload, pub.sent, pub.acked, pub.failed, expected,
              received, expected > received ? expected - received : 0, duplicates, reordered,
              closed, static_cast<double>(hist.Quantile(0.50)) / 1e3,
              static_cast<double>(hist.Quantile(0.99)) / 1e3,
              static_cast<double>(hist.Quantile(0.999)) / 1e3,
              static_cast<double>(hist.max()) / 1e3);
  for (const Subscriber& s : subs) close(s.fd);
  close(pub.fd);
  return 0;
}
