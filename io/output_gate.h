// io/output_gate.h — backpressure on a peer that sends but does not read.
//
// Set on an io::Connection (Connection::SetOutputGate); see there. Apart so
// that options structs can name the stats without pulling in libuv.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace herald::io {

// Counters of the output gate, shared by the connections of a server.
struct OutputGateStats {
  std::atomic<uint64_t> pauses_total{0};  // times a connection stopped reading for its backlog
  std::atomic<int64_t> paused{0};         // connections not reading for it right now
};

// Backpressure on a peer that sends but does not read: while its write queue
// costs more than `high` bytes (WriteQueue::footprint: the bytes and each
// chunk's bookkeeping), the connection stops reading, and resumes once the
// queue has drained to `low`. Everything queued counts, whatever
// produced it (responses, deliveries, control frames, command answers), so
// no kind of input can make the server queue more than `high` plus what one
// input produces, as long as handlers also stop acting on input they have
// already read while output_gated() (see HttpSession, WsSession).
struct OutputGate {
  size_t high = 0;  // 0: no gate
  size_t low = 0;
  std::shared_ptr<OutputGateStats> stats;  // may be null
};

}  // namespace herald::io
