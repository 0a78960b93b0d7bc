// CommandOrder: a session's commands complete in the order they were read,
// though some wait on a hook (HookGate) and others do not.
//
// A command that waits takes a ticket before it starts and hands its
// continuation to Complete() when its wait is over; a command that does not
// wait goes through Run(). A continuation runs once every command read
// before it has run; with nothing waiting (always, without hooks) Run()
// runs its step at once, inline, as if the order were not there.
//
// Not thread-safe: the owner serialises its calls (a WebSocket's loop; a
// gRPC Connect stream's command lock). A step may end the session, but the
// order must outlive the steps it runs (they hold the session alive).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

namespace herald::session {

class CommandOrder {
 public:
  using Ticket = uint64_t;

  Ticket Take() {
    entries_.push_back({});
    return first_ + entries_.size() - 1;
  }
  void Complete(Ticket ticket, std::function<void()> step) {
    Entry& e = entries_[ticket - first_];
    e.ready = true;
    e.step = std::move(step);
    Drain();
  }
  void Run(std::function<void()> step) {
    if (entries_.empty() && !draining_) return step();
    entries_.push_back({true, std::move(step)});
    Drain();
  }
  // Commands read and not yet run: a front stops reading past its bound.
  size_t waiting() const { return entries_.size(); }

 private:
  struct Entry {
    bool ready = false;
    std::function<void()> step;
  };
  void Drain() {
    if (draining_) return;
    draining_ = true;
    while (!entries_.empty() && entries_.front().ready) {
      std::function<void()> step = std::move(entries_.front().step);
      entries_.pop_front();
      ++first_;
      step();
    }
    draining_ = false;
  }

  std::deque<Entry> entries_;
  Ticket first_ = 0;  // the ticket of entries_.front()
  bool draining_ = false;
};

}  // namespace herald::session
