#include "tests/support/peer.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace herald::testing {

Peer::~Peer() { Close(); }

Peer::Peer(Peer&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), eof_(other.eof_), buffer_(std::move(other.buffer_)) {}

Peer& Peer::operator=(Peer&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    eof_ = other.eof_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

void Peer::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Peer::Send(std::string_view bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

bool Peer::FillOnce(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0 || eof_) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[65536];
  const ssize_t r = ::recv(fd_, buf, sizeof(buf), 0);
  if (r <= 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(buf, static_cast<size_t>(r));
  return true;
}

std::string Peer::Read(size_t n, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (buffer_.size() < n && FillOnce(until)) {
  }
  const size_t take = std::min(n, buffer_.size());
  std::string out = buffer_.substr(0, take);
  buffer_.erase(0, take);
  return out;
}

std::string Peer::ReadUntil(std::string_view needle, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  size_t at;
  while ((at = buffer_.find(needle)) == std::string::npos && FillOnce(until)) {
  }
  const size_t take = at == std::string::npos ? buffer_.size() : at + needle.size();
  std::string out = buffer_.substr(0, take);
  buffer_.erase(0, take);
  return out;
}

std::string Peer::ReadToEof(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (FillOnce(until)) {
  }
  return std::exchange(buffer_, {});
}

bool Peer::ClosedWithin(std::chrono::milliseconds deadline) {
  ReadToEof(deadline);
  return eof_;
}

std::string Peer::ReadFor(std::chrono::milliseconds window) {
  const auto until = std::chrono::steady_clock::now() + window;
  while (FillOnce(until)) {
  }
  return std::exchange(buffer_, {});
}

void Peer::ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

void Peer::SetReceiveBuffer(int bytes) {
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

}  // namespace herald::testing
