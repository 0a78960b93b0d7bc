#include "io/timer_wheel.h"

namespace herald::io {

void TimerWheel::Init(uv_loop_t* loop) {
  loop_ = loop;
  uv_timer_init(loop, &tick_);
  tick_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));  // timers alone keep nothing alive
}

void TimerWheel::Link(Entry* e) {
  const uint64_t tick = (e->deadline_ms_ + kTickMs - 1) / kTickMs;  // never early
  e->slot_ = static_cast<uint32_t>(tick % kSlots);
  Entry*& head = slots_[e->slot_];
  e->prev_ = nullptr;
  e->next_ = head;
  if (head) head->prev_ = e;
  head = e;
  ++count_;
}

void TimerWheel::Unlink(Entry* e) {
  if (e->prev_) {
    e->prev_->next_ = e->next_;
  } else {
    slots_[e->slot_] = e->next_;
  }
  if (e->next_) e->next_->prev_ = e->prev_;
  e->prev_ = e->next_ = nullptr;
  e->slot_ = Entry::kNoSlot;
  --count_;
}

void TimerWheel::Schedule(Entry* e, uint64_t delay_ms) {
  if (e->scheduled()) Unlink(e);
  uv_update_time(loop_);
  const uint64_t now = uv_now(loop_);
  // uv_now is whole milliseconds, rounded down: up to 1 ms later than it
  // says. One more keeps a deadline from ever firing early.
  e->deadline_ms_ = now + delay_ms + 1;
  Link(e);
  if (!ticking_) {
    ticking_ = true;
    next_tick_ = now / kTickMs + 1;
    uv_timer_start(
        &tick_, [](uv_timer_t* t) { static_cast<TimerWheel*>(t->data)->OnTick(); }, kTickMs,
        kTickMs);
  }
}

void TimerWheel::Cancel(Entry* e) {
  if (e->scheduled()) {
    Unlink(e);
  } else {
    e->slot_ = Entry::kNoSlot;  // also stops a pending kFiring callback
  }
}

void TimerWheel::OnTick() {
  const uint64_t now = uv_now(loop_);
  const uint64_t current = now / kTickMs;
  // Catch up on every slot since the last tick (a busy loop may tick late),
  // but never more than one full turn.
  uint64_t from = next_tick_;
  if (current >= from + kSlots) from = current - kSlots + 1;
  for (uint64_t tick = from; tick <= current; ++tick) {
    // Detach the expired entries first: a callback may schedule or cancel
    // others, including ones in this slot.
    firing_.clear();
    for (Entry* e = slots_[tick % kSlots]; e != nullptr;) {
      Entry* next = e->next_;
      if (e->deadline_ms_ <= now) {
        Unlink(e);
        e->slot_ = Entry::kFiring;
        firing_.push_back(e);
      }
      e = next;
    }
    for (size_t i = 0; i < firing_.size(); ++i) {
      Entry* e = firing_[i];
      // An earlier callback may have re-armed (scheduled) or cancelled it.
      if (e->slot_ != Entry::kFiring) continue;
      e->slot_ = Entry::kNoSlot;
      e->OnTimerExpired();
    }
  }
  next_tick_ = current + 1;
  if (count_ == 0) {
    ticking_ = false;
    uv_timer_stop(&tick_);
  }
}

}  // namespace herald::io
