// broker/store_read_budget.h — the node-wide bound on replay pages read from
// the store and not yet delivered.
//
// A subscription that resumes from older than memory replays from the store
// a page at a time; each page is held from its read until the inbox has
// delivered it to the subscriber's session (whose own outbound budget then
// charges it). Many such replays at once would hold a page each: this budget
// bounds them together (BrokerOptions::max_store_read_bytes). A page that
// does not fit is not refused (that would cost the client a gap for the node
// being busy): it waits its turn, as one small record; every waiting page
// belongs to a subscription, which is bounded. Only asynchronous replays use
// it: a caller that waits for a read (Broker::Resume) must never wait for
// pages that its own thread would have to deliver.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace herald {

class StoreReadBudget {
 public:
  // Releases its bytes when the last copy goes.
  using Charge = std::shared_ptr<void>;
  using Start = std::function<void(Charge)>;
  // Where a read that must wait goes: a replay's later pages go before
  // replays not yet begun, so a begun replay finishes soonest.
  enum class Turn { kFirst, kLast };

  // `waiting` is called (from whichever thread releases bytes, with this
  // budget's lock and possibly a caller's held: it must only signal) when
  // reads wait and bytes were freed; its thread then calls TakeReady.
  StoreReadBudget(size_t max_bytes, std::function<void()> waiting);

  // Charges `bytes` and returns the charge when they fit and no read waits
  // before this one; otherwise queues `start` (moved from) and returns null.
  // Once closed, returns null and queues nothing.
  Charge TryCharge(size_t bytes, Start& start, Turn turn = Turn::kLast);
  // The waiting reads that now fit, in order, each with its charge: the
  // caller runs them with no lock held.
  std::vector<std::pair<Start, Charge>> TakeReady();
  // Drops the waiting reads, refuses new ones and stops signalling; charges
  // still out keep counting down. Called as the broker goes.
  void Close();

  // A reload: reads from now on are charged against `max_bytes`; charges
  // out stay. A raise signals `waiting` when reads wait (they may fit now).
  void set_max_bytes(size_t max_bytes);

  size_t held() const;
  size_t waiting() const;

 private:
  struct State {
    std::mutex mu;
    size_t max_bytes;
    size_t held = 0;
    bool closed = false;
    std::deque<std::pair<size_t, Start>> waiting;
    std::function<void()> notify;
  };
  // The charge's bytes, given back when the last copy of the charge goes.
  // Made before the lock is taken (no allocation under it), armed under it.
  struct Block {
    std::shared_ptr<State> state;  // so a charge may outlive the budget
    size_t bytes = 0;              // 0 until armed
    ~Block();
  };

  std::shared_ptr<State> state_;
};

}  // namespace herald
