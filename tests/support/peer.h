// tests/support/peer.h — the test's end of a loopback TCP connection whose
// other end a LoopFixture adopted on its loop. Blocking, buffered reads with
// deadlines: a test waits for exactly what it expects, never sleeps.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace herald::testing {

class Peer {
 public:
  static constexpr std::chrono::milliseconds kDeadline{5000};

  Peer() = default;
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer();
  Peer(Peer&& other) noexcept;
  Peer& operator=(Peer&& other) noexcept;
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool connected() const { return fd_ >= 0; }
  void Send(std::string_view bytes);
  // Reads until `n` bytes are buffered (or EOF, or the deadline); returns
  // and consumes up to `n` of them.
  std::string Read(size_t n, std::chrono::milliseconds deadline = kDeadline);
  // Reads until `needle` arrived; returns and consumes everything up to and
  // including it — or, on EOF or the deadline, everything read (the test's
  // expectation on the result then fails with what did arrive).
  std::string ReadUntil(std::string_view needle, std::chrono::milliseconds deadline = kDeadline);
  // Reads until the server closes (or the deadline); returns all of it.
  std::string ReadToEof(std::chrono::milliseconds deadline = kDeadline);
  // True once the server closed its side (every byte before it is consumed).
  bool ClosedWithin(std::chrono::milliseconds deadline = kDeadline);
  // Whatever arrives within `window`, without waiting for more; for checking
  // that nothing (more) was sent.
  std::string ReadFor(std::chrono::milliseconds window);
  const std::string& buffered() const { return buffer_; }
  void ShutdownWrite();
  // Shrinks the kernel's receive buffer, so a peer that stops reading makes
  // the server's output back up quickly (slow-consumer tests).
  void SetReceiveBuffer(int bytes);
  void Close();

 private:
  // One read into buffer_ within `deadline`; false on EOF, error or timeout.
  bool FillOnce(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  bool eof_ = false;
  std::string buffer_;
};

}  // namespace herald::testing
