#include "broker/store_read_budget.h"

namespace herald {

namespace {

// One read always fits when nothing is held, so a read larger than the
// whole budget still goes, alone.
bool Fits(size_t held, size_t max_bytes, size_t bytes) {
  return held == 0 || (held <= max_bytes && bytes <= max_bytes - held);
}

}  // namespace

StoreReadBudget::Block::~Block() {
  if (bytes == 0) return;  // never armed
  std::lock_guard lock(state->mu);
  state->held -= bytes;
  // Signalled under the lock, so Close() cannot return while it runs.
  if (!state->waiting.empty() && state->notify) state->notify();
}

StoreReadBudget::StoreReadBudget(size_t max_bytes, std::function<void()> waiting)
    : state_(std::make_shared<State>()) {
  state_->max_bytes = max_bytes;
  state_->notify = std::move(waiting);
}

StoreReadBudget::Charge StoreReadBudget::TryCharge(size_t bytes, Start& start, Turn turn) {
  auto block = std::make_shared<Block>();
  block->state = state_;
  {
    std::lock_guard lock(state_->mu);
    if (state_->closed) return nullptr;
    const bool ahead = turn == Turn::kLast && !state_->waiting.empty();
    if (!ahead && Fits(state_->held, state_->max_bytes, bytes)) {
      state_->held += bytes;
      block->bytes = bytes;
      return block;
    }
    if (turn == Turn::kFirst) {
      state_->waiting.emplace_front(bytes, std::move(start));
    } else {
      state_->waiting.emplace_back(bytes, std::move(start));
    }
  }
  return nullptr;  // the unarmed block goes without touching the state
}

std::vector<std::pair<StoreReadBudget::Start, StoreReadBudget::Charge>>
StoreReadBudget::TakeReady() {
  std::vector<std::pair<Start, Charge>> ready;
  for (;;) {
    auto block = std::make_shared<Block>();
    block->state = state_;
    std::lock_guard lock(state_->mu);
    if (state_->waiting.empty()) break;
    const size_t bytes = state_->waiting.front().first;
    if (!Fits(state_->held, state_->max_bytes, bytes)) break;
    state_->held += bytes;
    block->bytes = bytes;
    ready.emplace_back(std::move(state_->waiting.front().second), std::move(block));
    state_->waiting.pop_front();
  }
  return ready;
}

void StoreReadBudget::Close() {
  std::deque<std::pair<size_t, Start>> dropped;
  {
    std::lock_guard lock(state_->mu);
    state_->closed = true;
    state_->notify = nullptr;
    dropped.swap(state_->waiting);
  }
  // Destroyed unlocked: their captures (replays, their subscriptions) are
  // let go outside the budget's lock.
}

void StoreReadBudget::set_max_bytes(size_t max_bytes) {
  std::lock_guard lock(state_->mu);
  const bool raised = max_bytes > state_->max_bytes;
  state_->max_bytes = max_bytes;
  if (raised && !state_->waiting.empty() && state_->notify) state_->notify();
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
