#include "tests/support/loop_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <thread>

#include "frontends/http/http_session.h"

namespace herald::testing {

void LoopFixture::SetUp() {
  broker_ = std::make_unique<Broker>(broker_options_);
  ASSERT_TRUE(loop_.Start().ok());
  // As server/worker_inboxes.cc: deliveries published on the loop itself
  // are drained later in the same turn.
  auto slot = std::make_shared<std::weak_ptr<Inbox>>();
  inbox_ = broker_->CreateInbox([slot, handle = loop_.handle()] {
    handle->PostOrDefer([slot] {
      if (auto inbox = slot->lock()) inbox->Drain();
    });
  });
  *slot = inbox_;
}

void LoopFixture::TearDown() {
  loop_.Stop();  // closes every connection: their sinks unsubscribe
  inbox_.reset();
  broker_.reset();
}

void LoopFixture::OnLoop(const std::function<void()>& task) { ASSERT_TRUE(loop_.RunSync(task)); }

bool LoopFixture::WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    bool ok = false;
    loop_.RunSync([&] { ok = pred(); });
    if (ok) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Peer LoopFixture::Connect(const std::function<void(io::Connection*)>& attach, int rcvbuf) {
  // A real TCP pair on 127.0.0.1: accept(2) here, then hand the server's end
  // to the loop as the listener would.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::listen(listener, 1), 0);
  EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (rcvbuf > 0) ::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  const int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  ::close(listener);
  EXPECT_GE(server, 0);
  loop_.RunSync([&] {
    Result<io::Connection*> conn = io::Connection::Adopt(loop_, server);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    attach(*conn);
  });
  return Peer(client);
}

Peer LoopFixture::ConnectHttp(std::shared_ptr<const http::Router> router, http::HttpOptions options,
                              int rcvbuf) {
  auto ctx = std::make_shared<http::SessionContext>();
  const size_t backlog = options.max_output_backlog_bytes;
  ctx->options.Set(std::move(options));
  ctx->router = std::move(router);
  ctx->stats = http_stats_;
  ctx->sessions.resize(1);
  return Connect(
      [&](io::Connection* c) {
        c->SetOutputGate({.high = backlog, .low = backlog / 2, .stats = http_stats_->output_gate});
        auto session = std::make_shared<http::HttpSession>(c, ctx, 0);
        c->SetHandler(session);
        session->Start();
      },
      rcvbuf);
}

std::string HttpRequest(std::string_view method, std::string_view target, std::string_view body,
                        std::string_view extra) {
  std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n";
  r += extra;
  if (!body.empty() || method == "POST")
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

namespace {
// The value of `name` in `head` (case-insensitive name), if present.
std::optional<std::string> HeaderValue(const std::string& head, std::string_view name) {
  size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string::npos) {
    pos += 2;
    const size_t colon = head.find(':', pos);
    const size_t eol = head.find("\r\n", pos);
    if (colon == std::string::npos || eol == std::string::npos || colon > eol) continue;
    if (strncasecmp(head.data() + pos, name.data(), name.size()) == 0 &&
        colon - pos == name.size()) {
      size_t v = colon + 1;
      while (v < eol && head[v] == ' ') ++v;
      return head.substr(v, eol - v);
    }
  }
  return std::nullopt;
}
}  // namespace

HttpAnswer ReadHttpAnswer(Peer& peer, std::chrono::milliseconds deadline) {
  HttpAnswer a;
  a.head = peer.ReadUntil("\r\n\r\n", deadline);
  if (a.head.size() < 12 || !a.head.ends_with("\r\n\r\n")) return a;
  if (std::optional<std::string> len = HeaderValue(a.head, "Content-Length")) {
    a.body = peer.Read(std::stoul(*len), deadline);
  } else if (HeaderValue(a.head, "Transfer-Encoding")) {
    for (;;) {
      std::string size_line = peer.ReadUntil("\r\n", deadline);
      if (!size_line.ends_with("\r\n")) return a;
      const size_t n = std::stoul(size_line, nullptr, 16);
      std::string chunk = peer.Read(n + 2, deadline);
      if (n == 0) break;
      a.body += chunk.substr(0, n);
    }
  }
  a.status = std::stoi(a.head.substr(9, 3));
  return a;
}

std::string ChunkedBody::ReadUntil(std::string_view needle, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  size_t at;
  while ((at = body_.find(needle)) == std::string::npos && !ended_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::string size_line = peer_.ReadUntil("\r\n", left);
    if (!size_line.ends_with("\r\n")) break;
    const size_t n = std::stoul(size_line, nullptr, 16);
    std::string chunk = peer_.Read(n + 2, left);
    if (chunk.size() < n + 2) break;
    if (n == 0) ended_ = true;
    body_.append(chunk, 0, n);
  }
  const size_t take = at == std::string::npos ? body_.size() : at + needle.size();
  std::string out = body_.substr(0, take);
  body_.erase(0, take);
  return out;
}

}  // namespace herald::testing
