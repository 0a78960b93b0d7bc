// The HTTP API's work-queue routes (rest_api.h): backends without a stream
// pull jobs in batches and settle them by handle. A pull that waits is a
// long poll held by the broker, never by this loop: its answer is sent
// from here when it comes.
#include <charconv>

#include "frontends/http/url.h"
#include "frontends/json/command.h"
#include "frontends/json/envelope.h"
#include "frontends/json/queue_json.h"
#include "frontends/rest/rest_api.h"
#include "io/loop.h"

namespace herald::rest {
namespace {

// Handles per settlement request (the body limit bounds them too).
constexpr size_t kMaxHandles = 1000;

Result<int64_t> IntParam(const http::Request& req, std::string_view name, int64_t fallback) {
  auto v = req.query.Get(name);
  if (!v) return fallback;
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size() || v->empty()) {
    return Status(ErrorCode::kInvalidArgument, "'" + std::string(name) + "' must be an integer");
  }
  return out;
}

std::optional<SettleKind> SettleKindOf(std::string_view action) {
  for (SettleKind k :
       {SettleKind::kAck, SettleKind::kNack, SettleKind::kProgress, SettleKind::kTerm}) {
    if (SettleKindName(k) == action) return k;
  }
  return std::nullopt;
}

}  // namespace

void RestApi::ListQueues(http::Request& req, http::Response res) {
  session::IdentityPtr who = Caller(req, res);
  if (!who) return;
  res.Send(200, json::EncodeQueueList(ops_->ListQueues(*who)), json::kJsonContentType);
}

void RestApi::Queue(http::Request& req, http::Response res) {
  // <name> or <name>/<action>; queue names have no '/'.
  Result<std::string> path = http::PercentDecode(req.path_rest);
  if (!path.ok())
    return (void)res.SendError(Status(ErrorCode::kInvalidArgument, path.status().message()));
  const size_t slash = path->find('/');
  const std::string name = path->substr(0, slash);
  const std::string action = slash == std::string::npos ? "" : path->substr(slash + 1);
  session::IdentityPtr who = Caller(req, res);
  if (!who) return;
  const std::string& method = req.method;
  if (action.empty()) {
    if (method == "GET") {
      Result<QueueInfo> q = ops_->GetQueue(*who, name);
      if (!q.ok()) return (void)res.SendError(q.status());
      return (void)res.Send(200, json::EncodeQueueInfo(*q), json::kJsonContentType);
    }
    if (method == "PUT") {
      Result<QueueOptions> o = json::DecodeQueueOptions(name, req.body);
      if (!o.ok()) return (void)res.SendError(o.status());
      if (Status s = ops_->CreateQueue(*who, *o); !s.ok()) return (void)res.SendError(s);
      Result<QueueInfo> q = ops_->GetQueue(*who, name);
      if (!q.ok()) return (void)res.SendError(q.status());
      return (void)res.Send(200, json::EncodeQueueInfo(*q), json::kJsonContentType);
    }
    if (method == "DELETE") {
      if (Status s = ops_->DeleteQueue(*who, name); !s.ok()) return (void)res.SendError(s);
      return (void)res.Send(204, "", "");
    }
  } else if (method == "POST" && action == "pull") {
    Result<int64_t> max = IntParam(req, "max", 1);
    Result<int64_t> wait = IntParam(req, "wait_ms", 0);
    for (const auto* r : {&max, &wait}) {
      if (!r->ok()) return (void)res.SendError(r->status());
    }
    std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
    // Always posted: the answer may come from a publish holding its topic's
    // lock, and sending may start this connection's next request.
    ops_->Pull(*who, name, *max, *wait,
               // The broker, not the operations: a pull waiting at shutdown
               // must not keep the hooks' transport alive.
               [loop, res, broker = &ops_->broker()](Result<std::vector<Job>> jobs) mutable {
                 loop->Post([res, broker, jobs = std::move(jobs)]() mutable {
                   if (!jobs.ok()) return (void)res.SendError(jobs.status());
                   if (res.Send(200, json::EncodeJobs(*jobs), json::kJsonContentType)) return;
                   // The client went away while it waited: its jobs are
                   // offered again now rather than after ack_wait, and
                   // were never delivered (max_deliver does not count them).
                   for (const Job& j : *jobs) (void)broker->ReturnUnsent(j.handle);
                 });
               },
               {{}, "http", {}});
    return;
  } else if (method == "POST") {
    std::optional<SettleKind> kind = SettleKindOf(action);
    if (!kind) {
      return (void)res.SendError(Status(
          ErrorCode::kNotFound, "no action '" + action.substr(0, 64) +
                                    "' on a work queue (pull, ack, nack, progress or term)"));
    }
    Result<json::Settlement> s = json::DecodeSettlement(req.body, kMaxHandles);
    if (!s.ok()) return (void)res.SendError(s.status());
    std::vector<Status> results;
    results.reserve(s->handles.size());
    for (const std::string& h : s->handles) {
      if (h.substr(0, h.find('/')) != name) {
        results.emplace_back(ErrorCode::kUnknownHandle,
                             "the handle is not of work queue '" + name + "'");
        continue;
      }
      results.push_back(ops_->SettlePulled(*who, h, *kind, s->delay_ms));
    }
    return (void)res.Send(200, json::EncodeSettled(s->handles, results), json::kJsonContentType);
  }
  (void)res.SendError(Status(ErrorCode::kNotFound, "no route " + method + " /queues/" + *path));
}

}  // namespace herald::rest
