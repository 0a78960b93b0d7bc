// io/loop.h — one libuv loop running on its own thread.
//
// A Loop owns a uv_loop_t and the thread that runs it. Everything that lives
// on the loop (connections, listeners, timers) is touched only from that
// thread; other threads hand work over with Post(), which batches: many posts
// between two loop turns cost one uv_async_send and one wake-up.
//
//   herald::io::Loop loop;
//   if (Status s = loop.Start(); !s.ok()) return s;
//   loop.Post([] { /* runs on the loop thread */ });
//   loop.Stop();  // runs what is pending, closes every handle, joins
//
// The loop also offers the two per-turn services the rest of io/ builds on:
//   - a flush list (Flushable): objects with pending output are flushed once
//     per loop turn, after I/O callbacks ran (uv_check) — so a burst of writes
//     becomes one writev;
//   - a shutdown registry (Resource): objects that must free themselves in
//     their own close callbacks are asked to close when the loop stops.
//
// Not for: blocking work. Anything that sleeps or does disk I/O stalls every
// connection of this worker.
#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "herald/status.h"
#include "io/timer_wheel.h"

namespace herald::io {

class Loop;

// A reference to a Loop that may outlive it: Post() through a handle is safe
// from any thread at any time, and returns false once the loop has stopped.
// For callbacks that can fire after a server shut down (a request's reply or
// timeout arriving from the broker's threads).
class LoopHandle {
 public:
  bool Post(std::function<void()> task);
  // Like Post, but from the loop's own thread the task is deferred to later
  // in the current turn (Loop::Defer) instead of costing a wake-up.
  bool PostOrDefer(std::function<void()> task);
  // Runs `task` right away when called on the loop's own thread (a callback
  // that completed inline), else posts it. False once the loop has stopped.
  template <typename Task>
  bool RunHereOrPost(Task&& task) {
    if (OnLoopThread()) {
      task();
      return true;
    }
    return Post(std::function<void()>(std::forward<Task>(task)));
  }
  bool OnLoopThread();

 private:
  friend class Loop;
  std::mutex mu_;
  Loop* loop_ = nullptr;
};

class Loop {
 public:
  // Something with output to flush once per loop turn (see MarkDirty).
  class Flushable {
   public:
    virtual void Flush() = 0;

   protected:
    ~Flushable() = default;

   private:
    friend class Loop;
    bool dirty_ = false;
  };

  // Something that frees itself in a libuv close callback, so the loop cannot
  // simply uv_close() it on Stop(); it is asked to close itself instead.
  class Resource {
   public:
    virtual void CloseForShutdown() = 0;
    // A graceful drain reached this resource: say goodbye the protocol's way
    // (the default: close for shutdown). Called at most once.
    virtual void Drain() { CloseForShutdown(); }
    bool drain_started() const { return drain_started_; }

   protected:
    ~Resource() = default;

   private:
    friend class Loop;
    // Intrusive registry links: no allocation per connection.
    Resource* prev_ = nullptr;
    Resource* next_ = nullptr;
    bool registered_ = false;
    bool drain_started_ = false;
  };

  Loop();
  ~Loop();  // Stop()s if still running.
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Initialises the loop and starts its thread. Any thread, once.
  Status Start();

  // Runs `task` on the loop thread, after the tasks posted before it by the
  // same thread. Any thread. Returns false (and drops the task) once Stop()
  // has begun or before Start().
  bool Post(std::function<void()> task);

  // A handle for posting to this loop from code that may outlive it.
  std::shared_ptr<LoopHandle> handle() const { return handle_; }

  // Loop thread only. Runs `task` later in this same loop turn — after the
  // I/O callbacks, before this turn's flush — with no wake-up syscall. For
  // work a callback creates for its own loop (a publish whose subscribers
  // live on the same worker).
  void Defer(std::function<void()> task);

  // Runs `task` on the loop thread and waits for it. Runs inline when called
  // on the loop thread. Returns false if the loop is not running. Not from a
  // thread the loop itself waits for.
  bool RunSync(const std::function<void()>& task);

  // Runs pending tasks, asks every Resource to close, closes every remaining
  // handle, waits for the close callbacks and joins the thread. Any thread but
  // the loop's own; idempotent.
  void Stop();

  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_.load(); }
  bool running() const { return accepting_.load(); }

  // Loop thread only.
  uv_loop_t* raw() { return &loop_; }
  // Coarse one-shot timers (16 ms ticks) for per-connection deadlines.
  TimerWheel& timers() { return timers_; }

  // Queues `f` to be flushed at the end of this loop turn (idempotent while
  // queued). Loop thread only.
  void MarkDirty(Flushable* f);
  // Removes `f` from the flush list; call before destroying a dirty object.
  void CancelFlush(Flushable* f);

  // Drains up to `n` registered resources not drained yet (Resource::Drain);
  // returns how many are left undrained. Loop thread only.
  size_t DrainSome(size_t n);
  // Resources not drained yet. Loop thread only.
  size_t Undrained() const;
  // Registers/unregisters a resource closed on Stop(). Loop thread only.
  void Register(Resource* r);
  void Unregister(Resource* r);

  // Number of Post() wake-ups handled so far (to observe batching in tests).
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  void Run();
  void DrainTasks();
  void FlushDirty();
  void RunDeferredAndFlush();
  void BeginShutdown();

  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_check_t check_{};
  uv_prepare_t prepare_{};
  TimerWheel timers_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> accepting_{false};  // Post() accepted

  std::mutex lifecycle_mu_;  // serialises Start() and Stop()
  bool started_ = false;     // guarded by lifecycle_mu_
  bool stopped_ = false;     // guarded by lifecycle_mu_

  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;    // guarded by mu_
  bool stop_requested_ = false;                 // guarded by mu_
  std::vector<std::function<void()>> running_;  // loop thread: the batch being run

  std::shared_ptr<LoopHandle> handle_ = std::make_shared<LoopHandle>();
  std::vector<std::function<void()>> deferred_;  // loop thread only
  std::vector<std::function<void()>> deferred_running_;
  std::vector<Flushable*> dirty_;
  std::vector<Flushable*> flushing_;  // swapped with dirty_ while flushing
  Resource* resources_ = nullptr;     // head of the intrusive registry
  std::atomic<uint64_t> wakeups_{0};
};

}  // namespace herald::io
