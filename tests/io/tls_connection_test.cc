// io::Connection behind TLS (Connection::StartTls), against a blocking
// OpenSSL client: data both ways, records and writes batched, input held
// across a pause, close_notify both ways, the handshake deadline, and each
// failure counted once by its reason.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "io/connection.h"
#include "io/listener.h"
#include "io/tls_context.h"
#include "io/worker_pool.h"
#include "tests/io/test_pki.h"
#include "tests/io/test_socket.h"
#include "tests/io/wait_on_loop.h"

namespace herald::io {
namespace {

using testing::TestPki;
using testing::TestSocket;

// A blocking TLS client trusting the test CA, verifying 127.0.0.1.
class TlsClient {
 public:
  TlsClient(uint16_t port, const std::string& ca_file, int max_version = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (max_version != 0) SSL_CTX_set_max_proto_version(ctx_, max_version);
    SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ssl_ = SSL_new(ctx_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    close(fd_);
  }
  bool connected() const { return connected_; }
  void Send(const std::string& s) {
    size_t n = 0;
    ASSERT_EQ(SSL_write_ex(ssl_, s.data(), s.size(), &n), 1);
  }
  // Several records sent with one send(): they reach the server in one read.
  void SendRecordsAtOnce(const std::vector<std::string>& records) {
    BIO* mem = BIO_new(BIO_s_mem());
    BIO_up_ref(SSL_get_wbio(ssl_));  // SSL_set0_wbio drops one reference
    BIO* sock = SSL_get_wbio(ssl_);
    SSL_set0_wbio(ssl_, mem);
    for (const std::string& r : records) Send(r);
    char* data = nullptr;
    const long len = BIO_get_mem_data(mem, &data);
    ASSERT_EQ(send(fd_, data, static_cast<size_t>(len), 0), len);
    SSL_set0_wbio(ssl_, sock);
  }
  std::string ReadExactly(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      size_t r = 0;
      if (SSL_read_ex(ssl_, out.data() + got, n - got, &r) != 1) break;
      got += r;
    }
    out.resize(got);
    return out;
  }
  // SSL_get_error of a read that finds no more data (ZERO_RETURN: close_notify).
  int ReadEnd() {
    char c;
    size_t r = 0;
    const int rc = SSL_read_ex(ssl_, &c, 1, &r);
    return rc == 1 ? -1 : SSL_get_error(ssl_, rc);
  }
  void Shutdown() { SSL_shutdown(ssl_); }
  // The TCP write side only (no close_notify).
  void ShutdownTcpWrite() { shutdown(fd_, SHUT_WR); }
  // TLS 1.2: asks for a new handshake; false once the server is gone.
  bool Renegotiate() {
    if (SSL_renegotiate(ssl_) != 1) return false;
    const bool ok = SSL_do_handshake(ssl_) == 1;
    ERR_clear_error();
    return ok;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
};

struct Recorder : ConnectionHandler {
  Connection* conn = nullptr;
  std::string data;
  bool echo = false;
  bool pause_after_data = false;
  std::optional<CloseReason> closed;

  void OnData(std::string_view d) override {
    data.append(d);
    if (echo) conn->Write(std::string(d));
    if (pause_after_data) conn->PauseReading();
  }
  void OnClose(CloseReason r) override {
    closed = r;
    conn = nullptr;
  }
};

class TlsConnectionTest : public ::testing::Test {
 protected:
  virtual std::chrono::milliseconds HandshakeTimeout() const { return std::chrono::seconds(5); }
  void SetUp() override {
    pki_.Issue("server");
    TlsOptions o;
    o.cert_file = pki_.path("server.pem");
    o.key_file = pki_.path("server.key");
    auto context = TlsContext::Create(o);
    ASSERT_TRUE(context.ok()) << context.status().message();
    tls_ = std::make_shared<TlsServer>(*context, HandshakeTimeout());
    ASSERT_TRUE(pool_.Start().ok());
    listener_ = std::make_unique<Listener>(pool_, [this](Connection* c) {
      c->StartTls(*tls_);
      auto r = std::make_shared<Recorder>();
      r->conn = c;
      recorders_.push_back(r);
      c->SetHandler(r);
    });
    ASSERT_TRUE(listener_->Listen("127.0.0.1", 0).ok());
  }
  void TearDown() override {
    listener_.reset();
    pool_.Stop();
  }
  Loop& loop() { return pool_[0]; }
  bool WaitFor(const std::function<bool()>& pred) { return testing::WaitOnLoop(loop(), pred); }
  std::shared_ptr<Recorder> Accepted(size_t i) {
    EXPECT_TRUE(WaitFor([&] { return recorders_.size() > i; }));
    std::shared_ptr<Recorder> r;
    loop().RunSync([&] { r = recorders_.size() > i ? recorders_[i] : nullptr; });
    return r;
  }
  uint64_t Failures(TlsFailure f) { return tls_->stats()->failures[static_cast<size_t>(f)].load(); }

  TestPki pki_;
  WorkerPool pool_{1};
  std::shared_ptr<TlsServer> tls_;
  std::unique_ptr<Listener> listener_;
  std::vector<std::shared_ptr<Recorder>> recorders_;
};

TEST_F(TlsConnectionTest, EchoesAMegabyteExactly) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"));
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  loop().RunSync([&] { r->echo = true; });
  std::string sent;
  for (int i = 0; sent.size() < (1u << 20); ++i) sent += "line " + std::to_string(i) + "\n";
  std::thread writer([&] { client.Send(sent); });
  EXPECT_EQ(client.ReadExactly(sent.size()), sent);
  writer.join();
  EXPECT_EQ(tls_->stats()->handshakes.load(), 1u);
  EXPECT_EQ(tls_->stats()->in_progress.load(), 0);
}

TEST_F(TlsConnectionTest, AHundredWritesInOneTurnBecomeOneRecordAndOneWrite) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"));
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  client.Send("go");
  ASSERT_TRUE(WaitFor([&] { return r->data == "go"; }));  // the handshake is over
  Connection::Stats before;
  loop().RunSync([&] { before = r->conn->stats(); });
  std::string expected;
  loop().RunSync([&] {
    for (int i = 0; i < 100; ++i) {
      const std::string m = "message " + std::to_string(i) + "\n";
      expected += m;
      r->conn->Write(m);
    }
  });
  EXPECT_EQ(client.ReadExactly(expected.size()), expected);
  loop().RunSync([&] {
    EXPECT_EQ(r->conn->stats().write_calls - before.write_calls, 1u);
    // One record: the plaintext plus one header, tag and content type.
    const uint64_t wire = r->conn->stats().bytes_written - before.bytes_written;
    EXPECT_GT(wire, expected.size());
    EXPECT_LE(wire, expected.size() + 32);
  });
}

TEST_F(TlsConnectionTest, RecordsReadBeforeAPauseAreDeliveredOnResume) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"));
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  loop().RunSync([&] { r->pause_after_data = true; });
  client.SendRecordsAtOnce({"first", "second"});
  ASSERT_TRUE(WaitFor([&] { return r->data == "first"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  loop().RunSync([&] {
    EXPECT_EQ(r->data, "first");  // paused: the second record waits
    r->pause_after_data = false;
    r->conn->ResumeReading();
  });
  // Nothing more comes from the socket: the held record is delivered anyway.
  EXPECT_TRUE(WaitFor([&] { return r->data == "firstsecond"; }));
}

// The end of the stream comes after the records a paused handler has not
// taken yet, not before them.
TEST_F(TlsConnectionTest, AnEndThatArrivesWhilePausedComesAfterTheHeldRecords) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"));
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  loop().RunSync([&] { r->pause_after_data = true; });
  client.SendRecordsAtOnce({"first", "second"});
  client.ShutdownTcpWrite();
  ASSERT_TRUE(WaitFor([&] { return r->data == "first"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  loop().RunSync([&] {
    EXPECT_FALSE(r->closed.has_value());
    r->pause_after_data = false;
    r->conn->ResumeReading();
  });
  EXPECT_TRUE(WaitFor([&] { return r->closed == CloseReason::kPeerClosed; }));
  loop().RunSync([&] { EXPECT_EQ(r->data, "firstsecond"); });
}

// OpenSSL's error queue is the thread's: an error another user of the loop
// thread left there (libjwt after a bad signature does) must not fail the
// next TLS read.
TEST_F(TlsConnectionTest, AnErrorLeftOnTheThreadsQueueDoesNotFailAConnection) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"));
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  client.Send("one");
  ASSERT_TRUE(WaitFor([&] { return r->data == "one"; }));
  loop().RunSync([] { ERR_raise(ERR_LIB_RSA, 104); });  // RSA_R_BAD_SIGNATURE, left behind
  client.Send("two");
  EXPECT_TRUE(WaitFor([&] { return r->data == "onetwo"; }));
  loop().RunSync([&] { EXPECT_FALSE(r->closed.has_value()); });
}

// A TLS 1.2 client asking for a new handshake is disconnected, not
// answered with an alert it could ask for again and again.
TEST_F(TlsConnectionTest, RenegotiationEndsTheConnection) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"), TLS1_2_VERSION);
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  client.Send("x");
  ASSERT_TRUE(WaitFor([&] { return r->data == "x"; }));
  client.Renegotiate();
  EXPECT_TRUE(WaitFor([&] { return r->closed == CloseReason::kProtocolError; }));
}

// A TCP connect and close (a health check, a port scan) began no handshake:
// nothing is counted as failed.
TEST_F(TlsConnectionTest, AConnectionThatSendsNothingIsNoFailedHandshake) {
  {
    TestSocket probe(listener_->port());
    ASSERT_TRUE(Accepted(0));
  }
  EXPECT_TRUE(WaitFor([&] { return tls_->stats()->in_progress.load() == 0; }));
  for (const auto& f : tls_->stats()->failures) EXPECT_EQ(f.load(), 0u);
}

TEST_F(TlsConnectionTest, AGracefulCloseSendsCloseNotify) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"));
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  client.Send("x");
  ASSERT_TRUE(WaitFor([&] { return r->data == "x"; }));
  loop().RunSync([&] {
    r->conn->Write(std::string("bye"));
    r->conn->Close(CloseReason::kDone);
  });
  EXPECT_EQ(client.ReadExactly(3), "bye");
  EXPECT_EQ(client.ReadEnd(), SSL_ERROR_ZERO_RETURN);
}

TEST_F(TlsConnectionTest, TheClientsCloseNotifyIsItsEof) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"));
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  client.Shutdown();
  EXPECT_TRUE(WaitFor([&] { return r->closed == CloseReason::kPeerClosed; }));
}

class ShortHandshakeTest : public TlsConnectionTest {
 protected:
  std::chrono::milliseconds HandshakeTimeout() const override {
    return std::chrono::milliseconds(100);
  }
};

TEST_F(ShortHandshakeTest, AStalledHandshakeIsCutAtItsDeadlineAndCounted) {
  TestSocket stalled(listener_->port());
  stalled.Send(std::string("\x16\x03\x01\x00\xff", 5));  // a record header, no more
  EXPECT_EQ(stalled.ReadToEof(5000), "");
  EXPECT_TRUE(WaitFor([&] { return Failures(TlsFailure::kTimeout) == 1; }));
  EXPECT_EQ(tls_->stats()->in_progress.load(), 0);
  EXPECT_EQ(tls_->stats()->handshakes.load(), 0u);
}

TEST_F(TlsConnectionTest, GarbageIsAProtocolFailureCountedOnce) {
  TestSocket garbage(listener_->port());
  garbage.Send(std::string("\x16\x03\x01\x00\x05hello", 10));
  garbage.ReadToEof(5000);  // an alert, then the end
  EXPECT_TRUE(WaitFor([&] { return Failures(TlsFailure::kProtocol) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint64_t all = 0;
  for (const auto& f : tls_->stats()->failures) all += f.load();
  EXPECT_EQ(all, 1u);
  EXPECT_EQ(tls_->stats()->in_progress.load(), 0);
}

TEST_F(TlsConnectionTest, PlainHttpIsAnswered400InPlainText) {
  TestSocket plain(listener_->port());
  plain.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string answer = plain.ReadToEof(5000);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("plain_http_on_tls_port"), std::string::npos);
  EXPECT_TRUE(WaitFor([&] { return Failures(TlsFailure::kPlaintextHttp) == 1; }));
}

// Every byte a client makes us hold is counted once: plaintext waiting in
// the queue plus ciphertext encrypted ahead of the socket (at most a
// window), both in queued_bytes() and in the output gate's measure.
TEST_F(TlsConnectionTest, QueuedBytesCountCiphertextAndTheGateSeesThem) {
  TlsClient client(listener_->port(), pki_.path("ca.pem"));
  ASSERT_TRUE(client.connected());
  auto r = Accepted(0);
  client.Send("x");
  ASSERT_TRUE(WaitFor([&] { return r->data == "x"; }));
  const SharedBuffer payload = MakeShared(std::string(8 << 20, 'p'));
  loop().RunSync([&] {
    r->conn->SetOutputGate({.high = 1 << 20, .low = 1 << 19});
    r->conn->Write(payload);
  });
  loop().RunSync([&] {
    const size_t q = r->conn->queued_bytes();
    EXPECT_GT(q, 0u);
    // What the kernel did not take, plus at most each record's overhead.
    EXPECT_LE(q, payload->size() + (payload->size() / 16384 + 1) * 32);
    EXPECT_TRUE(r->conn->output_gated());
  });
  EXPECT_EQ(client.ReadExactly(payload->size()), *payload);
  EXPECT_TRUE(WaitFor([&] { return r->conn->queued_bytes() == 0 && !r->conn->output_gated(); }));
}

}  // namespace
}  // namespace herald::io
