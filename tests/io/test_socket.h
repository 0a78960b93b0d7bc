// tests/io/test_socket.h — a blocking loopback client for io/ tests.
#pragma once

#include <cstdint>
#include <string>

namespace herald::io::testing {

class TestSocket {
 public:
  // Connects to 127.0.0.1:port (blocking); aborts the test on failure.
  explicit TestSocket(uint16_t port);
  ~TestSocket();
  TestSocket(const TestSocket&) = delete;
  TestSocket& operator=(const TestSocket&) = delete;

  bool connected() const { return fd_ >= 0; }
  void Send(const std::string& bytes);
  // Reads exactly n bytes (or until EOF/timeout); returns what arrived.
  std::string ReadExactly(size_t n, int timeout_ms = 5000);
  // Reads until EOF (or timeout); returns what arrived.
  std::string ReadToEof(int timeout_ms = 5000);
  void ShutdownWrite();

 private:
  int fd_ = -1;
};

}  // namespace herald::io::testing
