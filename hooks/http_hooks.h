// Hooks over HTTP: each call is `POST <url>/<event>` with a JSON body
// (hook_json.h), answered by a JSON HookDecision with a 2xx status.
//
// libcurl's multi interface on a thread of its own: calls are queued under
// a mutex and the thread, woken by curl_multi_wakeup, runs every transfer
// at once, keeping up to `connections` keep-alive connections to the
// backend. Nothing here blocks a caller; `done` runs on this thread.
#pragma once

#include <memory>
#include <string>
#include <thread>

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
  // The multi handle, the queue and the transfers: owned by the thread as
  // much as by this object, so that a last reference dropped on the thread
  // itself (inside a call's `done`) cannot free them under it.
  struct Engine;

 private:
  explicit HttpHooks(std::shared_ptr<Engine> engine);

  const std::shared_ptr<Engine> engine_;
  std::thread thread_;
};

}  // namespace herald::hooks
