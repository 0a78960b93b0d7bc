// tests/sse/sse_fixture.h — SSE streams served by a real HttpSession on a
// real loop, read as a browser would: the head, then the chunked body.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "tests/support/loop_fixture.h"

namespace herald::sse::testing {

using herald::testing::ChunkedBody;
using herald::testing::HttpAnswer;
using herald::testing::HttpRequest;
using herald::testing::Peer;
using herald::testing::ReadHttpAnswer;

// An open stream: its connection, its head and a reader of its body.
struct OpenStream {
  Peer peer;
  std::string head;
  std::unique_ptr<ChunkedBody> body;
  std::string ReadUntil(std::string_view needle,
                        std::chrono::milliseconds deadline = Peer::kDeadline) {
    return body->ReadUntil(needle, deadline);
  }
};

// Sends GET `target` on `peer` and reads the head; the body is left to read.
inline OpenStream StartStream(Peer peer, std::string_view target, std::string_view extra = {}) {
  OpenStream s{std::move(peer), {}, nullptr};
  s.peer.Send(HttpRequest("GET", target, {}, extra));
  s.head = s.peer.ReadUntil("\r\n\r\n");
  s.body = std::make_unique<ChunkedBody>(s.peer);
  return s;
}

// The value of the first `id:` line in `events`.
inline std::string FirstId(const std::string& events) {
  const size_t at = events.find("id: ");
  if (at == std::string::npos) return "";
  return events.substr(at + 4, events.find('\n', at) - at - 4);
}

// The value of the last `id:` line in `events`: the browser's last event id.
inline std::string LastId(const std::string& events) {
  const size_t at = events.rfind("id: ");
  if (at == std::string::npos) return "";
  return events.substr(at + 4, events.find('\n', at) - at - 4);
}

}  // namespace herald::sse::testing
