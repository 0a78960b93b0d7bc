// broker/store_read_budget.h — the node-wide bound on history read from the
// store and not yet handed on.
//
// A resume older than memory reads the store a page at a time; the page is
// held from the read until it reaches the subscriber's session (whose own
// outbound budget then charges it) or until a resume answer is built. Many
// resumes at once would hold a page each: this budget bounds them together
// (BrokerOptions::max_store_read_bytes). A read that does not fit is not
// refused (that would cost the client a gap for the node being busy): it
// waits its turn, first come first served, as one small record; every
// waiting read belongs to a subscription or a call, which are bounded.
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

  // `waiting` is called (from whichever thread releases bytes, with this
  // budget's lock and possibly a caller's held: it must only signal) when
  // reads wait and bytes were freed; its thread then calls TakeReady.
  StoreReadBudget(size_t max_bytes, std::function<void()> waiting);

  // Charges `bytes` and returns the charge when they fit and nobody waits
  // before; otherwise queues `start` and returns null.
  Charge TryCharge(size_t bytes, Start& start);
  // The waiting reads that now fit, in order, each with its charge: the
  // caller runs them with no lock held.
  std::vector<std::pair<Start, Charge>> TakeReady();

  // Stops signalling and hands back the reads still waiting, for the
  // caller to run uncharged (each still gets its answer); charges still out
  // keep counting down. Called as the broker goes.
  std::vector<Start> Close();

  size_t held() const;
  size_t waiting() const;

 private:
  struct State {
    std::mutex mu;
    size_t max_bytes;
    size_t held = 0;
    std::deque<std::pair<size_t, Start>> waiting;
    std::function<void()> notify;
  };
  static Charge ChargeLocked(const std::shared_ptr<State>& state, size_t bytes);

  // Shared with every charge, so a charge may outlive the budget.
  std::shared_ptr<State> state_;
};

}  // namespace herald
