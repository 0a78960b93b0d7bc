#include "broker/store_read_budget.h"

namespace herald {

namespace {

// One read always fits when nothing is held, so a read larger than the
// whole budget still goes, alone.
bool Fits(size_t held, size_t max_bytes, size_t bytes) {
  return held == 0 || (held <= max_bytes && bytes <= max_bytes - held);
}

}  // namespace

StoreReadBudget::StoreReadBudget(size_t max_bytes, std::function<void()> waiting)
    : state_(std::make_shared<State>()) {
  state_->max_bytes = max_bytes;
  state_->notify = std::move(waiting);
}

StoreReadBudget::Charge StoreReadBudget::ChargeLocked(const std::shared_ptr<State>& state,
                                                      size_t bytes) {
  state->held += bytes;
  // The deleter holds the state, not the budget: a page may be freed after
  // the broker (an inbox torn down last).
  // Points at the state only so that it tests true.
  return Charge(static_cast<void*>(state.get()), [state, bytes](void*) {
    std::lock_guard lock(state->mu);
    state->held -= bytes;
    // Signalled under the lock, so Close() cannot return while it runs.
    if (!state->waiting.empty() && state->notify) state->notify();
  });
}

StoreReadBudget::Charge StoreReadBudget::TryCharge(size_t bytes, Start& start) {
  std::lock_guard lock(state_->mu);
  if (state_->waiting.empty() && Fits(state_->held, state_->max_bytes, bytes)) {
    return ChargeLocked(state_, bytes);
  }
  state_->waiting.emplace_back(bytes, std::move(start));
  return nullptr;
}

std::vector<std::pair<StoreReadBudget::Start, StoreReadBudget::Charge>>
StoreReadBudget::TakeReady() {
  std::vector<std::pair<Start, Charge>> ready;
  std::lock_guard lock(state_->mu);
  while (!state_->waiting.empty()) {
    const size_t bytes = state_->waiting.front().first;
    if (!Fits(state_->held, state_->max_bytes, bytes)) break;
    ready.emplace_back(std::move(state_->waiting.front().second), ChargeLocked(state_, bytes));
    state_->waiting.pop_front();
  }
  return ready;
}

std::vector<StoreReadBudget::Start> StoreReadBudget::Close() {
  std::vector<Start> waiting;
  std::lock_guard lock(state_->mu);
  state_->notify = nullptr;
  for (auto& [bytes, start] : state_->waiting) waiting.push_back(std::move(start));
  state_->waiting.clear();
  return waiting;
}

size_t StoreReadBudget::held() const {
  std::lock_guard lock(state_->mu);
  return state_->held;
}

size_t StoreReadBudget::waiting() const {
  std::lock_guard lock(state_->mu);
  return state_->waiting.size();
}

}  // namespace herald
