#include "io/loop.h"

#include <cassert>
#include <string>

#include "base/thread_name.h"

namespace herald::io {
namespace {

Status UvError(const char* what, int rc) {
  return Status(ErrorCode::kInternal, std::string(what) + ": " + uv_strerror(rc));
}

}  // namespace

bool LoopHandle::Post(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  return loop_ != nullptr && loop_->Post(std::move(task));
}

bool LoopHandle::PostOrDefer(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (loop_ == nullptr) return false;
  if (loop_->InLoopThread()) {
    loop_->Defer(std::move(task));
    return true;
  }
  return loop_->Post(std::move(task));
}

bool LoopHandle::OnLoopThread() {
  std::lock_guard<std::mutex> lock(mu_);
  return loop_ != nullptr && loop_->InLoopThread();
}

Loop::Loop() { handle_->loop_ = this; }

Loop::~Loop() {
  Stop();
  std::lock_guard<std::mutex> lock(handle_->mu_);
  handle_->loop_ = nullptr;  // also when the loop never started
}

Status Loop::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (started_) return Status(ErrorCode::kInternal, "loop already started");
  if (int rc = uv_loop_init(&loop_); rc != 0) return UvError("uv_loop_init", rc);
  loop_.data = this;
  // Trampolines: cast ->data, call a method. Nothing else lives in callbacks.
  async_.data = this;
  uv_async_init(&loop_, &async_, [](uv_async_t* a) { static_cast<Loop*>(a->data)->DrainTasks(); });
  // Flushing happens in uv_check (right after the I/O callbacks of this turn,
  // where nearly all writes originate) and again in uv_prepare (right before
  // the loop blocks in poll), which catches writes made by timer and close
  // callbacks. Both are unref'd: they must not keep the loop alive.
  check_.data = this;
  uv_check_init(&loop_, &check_);
  uv_check_start(&check_,
                 [](uv_check_t* c) { static_cast<Loop*>(c->data)->RunDeferredAndFlush(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  prepare_.data = this;
  uv_prepare_init(&loop_, &prepare_);
  uv_prepare_start(&prepare_,
                   [](uv_prepare_t* p) { static_cast<Loop*>(p->data)->RunDeferredAndFlush(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));

  timers_.Init(&loop_);
  started_ = true;
  accepting_.store(true);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Loop::Run() {
  NameThisThread("herald-loop");
  thread_id_.store(std::this_thread::get_id());
  uv_run(&loop_, UV_RUN_DEFAULT);
  // A close callback may have opened something late; close it too so that
  // uv_loop_close() succeeds and nothing leaks.
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
}

bool Loop::Post(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_requested_ || !accepting_.load()) return false;
  // Only the post that makes the queue non-empty wakes the loop: every later
  // one rides on the same wake-up, since the drain takes the whole queue.
  // The send happens under the lock so it can never race the handle's close.
  const bool wake = tasks_.empty();
  tasks_.push_back(std::move(task));
  if (wake) uv_async_send(&async_);
  return true;
}

bool Loop::RunSync(const std::function<void()>& task) {
  if (InLoopThread()) {
    task();
    return true;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  const bool posted = Post([&] {
    task();
    std::lock_guard<std::mutex> lock(m);
    done = true;
    cv.notify_one();
  });
  if (!posted) return false;
  // A posted task always runs: Stop() drains the queue before closing.
  std::unique_lock<std::mutex> lock(m);
  // blocking-ok: RunSync is for a controlling thread, never a loop (see loop.h)
  cv.wait(lock, [&] { return done; });
  return true;
}

void Loop::DrainTasks() {
  wakeups_.fetch_add(1, std::memory_order_relaxed);
  bool stop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.swap(tasks_);
    stop = stop_requested_;
  }
  // libuv merges async wake-ups, so one callback may stand for many posts:
  // run the whole batch.
  for (auto& task : running_) task();
  running_.clear();
  if (stop) BeginShutdown();
}

void Loop::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (!started_ || stopped_) return;
  assert(!InLoopThread() && "Loop::Stop() from its own thread would deadlock");
  stopped_ = true;
  {
    // From now on posts through handles fail instead of reaching a loop that
    // is about to stop (and may then be destroyed).
    std::lock_guard<std::mutex> lock(handle_->mu_);
    handle_->loop_ = nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_requested_ = true;
    accepting_.store(false);
    uv_async_send(&async_);
  }
  thread_.join();
  const int rc = uv_loop_close(&loop_);
  assert(rc == 0 && "handles still open after Loop::Stop()");
  (void)rc;
}

void Loop::BeginShutdown() {
  // Closing one resource may unregister others (or itself): take them from
  // the head one at a time rather than walking links that may change.
  for (int guard = 0; resources_ != nullptr && guard < (1 << 30); ++guard) {
    Resource* r = resources_;
    r->CloseForShutdown();
    // A resource that stays registered after CloseForShutdown() is done
    // closing itself later (in a libuv callback); stop asking it.
    if (resources_ == r) Unregister(r);
  }
  FlushDirty();
  dirty_.clear();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
}

void Loop::MarkDirty(Flushable* f) {
  if (f->dirty_) return;
  f->dirty_ = true;
  dirty_.push_back(f);
}

void Loop::CancelFlush(Flushable* f) {
  if (!f->dirty_) return;
  f->dirty_ = false;
  std::erase(dirty_, f);
  for (Flushable*& g : flushing_) {
    if (g == f) g = nullptr;
  }
}

size_t Loop::Undrained() const {
  size_t n = 0;
  for (Resource* r = resources_; r; r = r->next_) n += r->drain_started_ ? 0 : 1;
  return n;
}

size_t Loop::DrainSome(size_t n) {
  // Collect first: draining may close (and unregister) a resource.
  std::vector<Resource*> picked;
  for (Resource* r = resources_; r && picked.size() < n; r = r->next_) {
    if (!r->drain_started_) picked.push_back(r);
  }
  for (Resource* r : picked) {
    r->drain_started_ = true;
    r->Drain();
  }
  return Undrained();
}

void Loop::Register(Resource* r) {
  if (r->registered_) return;
  r->registered_ = true;
  r->prev_ = nullptr;
  r->next_ = resources_;
  if (resources_) resources_->prev_ = r;
  resources_ = r;
}

void Loop::Unregister(Resource* r) {
  if (!r->registered_) return;
  r->registered_ = false;
  if (r->prev_) {
    r->prev_->next_ = r->next_;
  } else {
    resources_ = r->next_;
  }
  if (r->next_) r->next_->prev_ = r->prev_;
  r->prev_ = r->next_ = nullptr;
}

void Loop::Defer(std::function<void()> task) {
  assert(InLoopThread());
  deferred_.push_back(std::move(task));
}

void Loop::RunDeferredAndFlush() {
  // Deferred work may defer more (bounded: a drain re-defers only when it
  // stopped early); run it all, then flush what it wrote.
  for (int round = 0; !deferred_.empty() && round < 16; ++round) {
    deferred_running_.swap(deferred_);
    for (auto& task : deferred_running_) task();
    deferred_running_.clear();
  }
  // Still more (a producer that keeps re-deferring): hand the rest to the
  // posted queue, whose wake-up keeps the loop from blocking in poll.
  for (auto& task : deferred_) Post(std::move(task));
  deferred_.clear();
  FlushDirty();
}

void Loop::FlushDirty() {
  if (dirty_.empty()) return;
  // One pass: whatever a Flush() dirties again is picked up by the next
  // prepare/check, so this cannot spin.
  flushing_.swap(dirty_);
  for (Flushable* f : flushing_) {
    if (f == nullptr) continue;
    f->dirty_ = false;
    f->Flush();
  }
  flushing_.clear();
}

}  // namespace herald::io
