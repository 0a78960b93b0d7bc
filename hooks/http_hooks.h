// Hooks over HTTP: each call is `POST <url>/<event>` with a JSON body
// (hook_json.h), answered by a JSON HookDecision with a 2xx status.
//
// libcurl's multi interface on a thread of its own: calls are queued under
// a mutex and the thread, woken by curl_multi_wakeup, runs every transfer
// at once, keeping up to `connections` keep-alive connections to the
// backend. Nothing here blocks a caller; `done` runs on this thread.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "herald/hooks.h"
#include "herald/status.h"

namespace herald::hooks {

struct HttpHooksOptions {
  std::string url;                      // "http://127.0.0.1:9000/hooks"
  size_t connections = 64;              // to the backend, at most
  size_t max_answer_bytes = 64 * 1024;  // a longer answer is a failure
};

class HttpHooks final : public Hooks {
 public:
  static Result<std::shared_ptr<HttpHooks>> Create(HttpHooksOptions options);
  // Ends the thread; calls still waiting complete with kUnavailable.
  ~HttpHooks() override;

  void Call(HookRequest request, std::function<void(Result<HookDecision>)> done) override;

  struct Transfer;

 private:
  explicit HttpHooks(HttpHooksOptions options);
  void Run();
  void StartQueued();
  void Finish(Transfer* t, int curl_code);

  const HttpHooksOptions options_;
  void* multi_ = nullptr;                  // CURLM*, touched only by the thread
  std::unordered_set<Transfer*> running_;  // added to multi_; the thread's
  std::mutex mu_;
  std::deque<std::unique_ptr<Transfer>> queue_;  // under mu_
  bool stopping_ = false;                        // under mu_
  std::thread thread_;
};

}  // namespace herald::hooks
