#include "hooks/http_hooks.h"

#include <curl/curl.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "base/thread_name.h"
#include "hooks/hook_json.h"

namespace herald::hooks {

struct HttpHooks::Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string url;
  std::string body;
  std::string answer;
  size_t max_answer = 0;
  bool too_long = false;
  long timeout_ms = 1000;
  // Ours, not only libcurl's: a transfer queued inside libcurl behind busy
  // connections is not always timed out on time there.
  std::chrono::steady_clock::time_point deadline;
  std::function<void(Result<HookDecision>)> done;

  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    if (headers) curl_slist_free_all(headers);
  }
};

namespace {

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<HttpHooks::Transfer*>(user);
  const size_t bytes = size * n;
  if (t->answer.size() + bytes > t->max_answer) {
    t->too_long = true;
    return 0;  // libcurl fails the transfer (CURLE_WRITE_ERROR)
  }
  t->answer.append(data, bytes);
  return bytes;
}

Status Unavailable(std::string why) {
  return {ErrorCode::kUnavailable, "hook backend: " + std::move(why)};
}

}  // namespace

struct HttpHooks::Engine {
  const HttpHooksOptions options;
  CURLM* const multi;                     // touched only by the thread
  std::unordered_set<Transfer*> running;  // added to `multi`; the thread's
  std::mutex mu;
  std::deque<std::unique_ptr<Transfer>> queue;  // under mu
  bool stopping = false;                        // under mu

  Engine(HttpHooksOptions o, CURLM* m) : options(std::move(o)), multi(m) {}
  ~Engine() { curl_multi_cleanup(multi); }
  void Run();
  void StartQueued();
  void Finish(Transfer* t, int curl_code);
};

Result<std::shared_ptr<HttpHooks>> HttpHooks::Create(HttpHooksOptions options) {
  if (!options.url.starts_with("http://") && !options.url.starts_with("https://")) {
    return Status(ErrorCode::kInvalidArgument,
                  "hooks url '" + options.url + "' must start with http:// or https://");
  }
  while (options.url.ends_with('/')) options.url.pop_back();
  static std::once_flag global;
  std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURLM* multi = curl_multi_init();
  if (!multi) return Status(ErrorCode::kInternal, "libcurl: no multi handle");
  const long connections = static_cast<long>(options.connections ? options.connections : 1);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, connections);
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, connections);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, connections);
  auto engine = std::make_shared<Engine>(std::move(options), multi);
  std::shared_ptr<HttpHooks> hooks(new HttpHooks(engine));
  hooks->thread_ = std::thread([engine] {
    NameThisThread("herald-hooks");
    engine->Run();
  });
  return hooks;
}

HttpHooks::HttpHooks(std::shared_ptr<Engine> engine) : engine_(std::move(engine)) {}

HttpHooks::~HttpHooks() {
  {
    std::lock_guard lock(engine_->mu);
    engine_->stopping = true;
  }
  curl_multi_wakeup(engine_->multi);
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    // Dropped inside a call's `done`, on the thread: it ends by itself once
    // this returns, holding the engine until then.
    thread_.detach();
    return;
  }
  thread_.join();
}

void HttpHooks::Call(HookRequest request, std::function<void(Result<HookDecision>)> done) {
  auto t = std::make_unique<Transfer>();
  t->url = engine_->options.url + "/" + HookEventName(request.event);
  t->body = EncodeHookRequest(request);
  t->max_answer = engine_->options.max_answer_bytes;
  t->timeout_ms = std::max<long>(1, static_cast<long>(request.timeout.count()));
  t->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(t->timeout_ms);
  t->done = std::move(done);
  {
    std::lock_guard lock(engine_->mu);
    if (!engine_->stopping) {
      engine_->queue.push_back(std::move(t));
      t = nullptr;
    }
  }
  if (t) return t->done(Unavailable("the node is stopping"));
  curl_multi_wakeup(engine_->multi);
}

void HttpHooks::Engine::StartQueued() {
  std::deque<std::unique_ptr<Transfer>> queued;
  {
    std::lock_guard lock(mu);
    queued.swap(queue);
  }
  for (std::unique_ptr<Transfer>& owned : queued) {
    Transfer* t = owned.release();
    t->easy = curl_easy_init();
    if (!t->easy) {
      Finish(t, CURLE_OUT_OF_MEMORY);
      continue;
    }
    t->headers = curl_slist_append(nullptr, "Content-Type: application/json");
    t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(t->easy, CURLOPT_URL, t->url.c_str());
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body.data());
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->body.size()));
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, t->timeout_ms);
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_TCP_NODELAY, 1L);
    // Never through a proxy from the environment: a connect call carries
    // the client's token.
    curl_easy_setopt(t->easy, CURLOPT_PROXY, "");
    if (curl_multi_add_handle(multi, t->easy) != CURLM_OK) {
      Finish(t, CURLE_FAILED_INIT);
      continue;
    }
    running.insert(t);
  }
}

void HttpHooks::Engine::Finish(Transfer* t, int curl_code) {
  std::unique_ptr<Transfer> owned(t);
  if (running.erase(t)) curl_multi_remove_handle(multi, t->easy);
  if (curl_code != CURLE_OK) {
    const std::string why = t->too_long ? "answer over " + std::to_string(t->max_answer) + " bytes"
                            : curl_code == CURLE_OPERATION_TIMEDOUT
                                ? "no answer in " + std::to_string(t->timeout_ms) + " ms"
                                : curl_easy_strerror(static_cast<CURLcode>(curl_code));
    return t->done(Unavailable(why));
  }
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return t->done(Unavailable("HTTP status " + std::to_string(status)));
  }
  t->done(DecodeHookDecision(t->answer));
}

void HttpHooks::Engine::Run() {
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (stopping) break;
    }
    StartQueued();
    int active = 0;
    curl_multi_perform(multi, &active);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      Finish(t, msg->data.result);
    }
    // Past their deadline: failed now, whatever libcurl's state.
    const auto now = std::chrono::steady_clock::now();
    auto next = now + std::chrono::seconds(1);
    std::vector<Transfer*> late;
    for (Transfer* t : running) {
      if (t->deadline <= now) {
        late.push_back(t);
      } else {
        next = std::min(next, t->deadline);
      }
    }
    for (Transfer* t : late) Finish(t, CURLE_OPERATION_TIMEDOUT);
    // Sleeps until a socket is ready, a transfer's timer or deadline is due
    // or Call wakes it (curl_multi_wakeup); at most a second.
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::max<int64_t>(1, wait)), nullptr);
  }
  // Stopping: what is queued or running fails, once each.
  std::deque<std::unique_ptr<Transfer>> queued;
  {
    std::lock_guard lock(mu);
    queued.swap(queue);
  }
  for (std::unique_ptr<Transfer>& t : queued) t->done(Unavailable("the node is stopping"));
  while (!running.empty()) {
    Transfer* t = *running.begin();
    running.erase(running.begin());
    curl_multi_remove_handle(multi, t->easy);
    std::unique_ptr<Transfer> owned(t);
    t->done(Unavailable("the node is stopping"));
  }
}

}  // namespace herald::hooks
