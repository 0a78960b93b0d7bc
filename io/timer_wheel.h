// io/timer_wheel.h — many coarse one-shot timers on one libuv timer.
//
// Every connection needs a deadline (header timeout, idle timeout, keep-alive
// ping, close linger), and a uv_timer_t per connection costs 152 bytes — at
// 10 000 idle WebSocket connections, a seventh of their memory. This wheel
// keeps timers as intrusive entries (three words each) in 1024 slots of 16 ms
// and ticks one uv_timer only while any timer is armed. Deadlines fire up to
// one tick late, never early; each tick looks at one slot (entries further
// out than one turn of the wheel stay put until their turn).
//
// Loop thread only.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <vector>

namespace herald::io {

class TimerWheel {
 public:
  // Something with a deadline. Derive from it; OnTimerExpired runs once per
  // Schedule, on the loop thread, after the deadline.
  class Entry {
   public:
    bool scheduled() const { return slot_ < kSlots; }

   protected:
    ~Entry() = default;
    virtual void OnTimerExpired() = 0;

   private:
    friend class TimerWheel;
    static constexpr uint32_t kNoSlot = ~uint32_t{0};
    static constexpr uint32_t kFiring = kNoSlot - 1;  // expired, callback pending
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
    uint64_t deadline_ms_ = 0;
    uint32_t slot_ = kNoSlot;
  };

  static constexpr uint64_t kTickMs = 16;
  static constexpr uint32_t kSlots = 1024;

  // Before the loop runs. The tick handle is closed with the loop's others.
  void Init(uv_loop_t* loop);

  // (Re)arms `e` to fire `delay_ms` from now; cancels a previous schedule.
  void Schedule(Entry* e, uint64_t delay_ms);
  void Cancel(Entry* e);
  size_t size() const { return count_; }

 private:
  void Link(Entry* e);
  void Unlink(Entry* e);
  void OnTick();

  uv_loop_t* loop_ = nullptr;
  uv_timer_t tick_{};
  std::array<Entry*, kSlots> slots_{};
  uint64_t next_tick_ = 0;  // the first tick not processed yet
  size_t count_ = 0;
  bool ticking_ = false;
  std::vector<Entry*> firing_;  // reused between ticks
};

}  // namespace herald::io
