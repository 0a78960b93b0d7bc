// The server API over HTTP (rest_api.h): a codec around
// session::Operations::Admin, answered from the connection's loop once every
// node named answered.
#include "frontends/json/admin_json.h"
#include "frontends/json/command.h"
#include "frontends/json/json_writer.h"
#include "frontends/rest/rest_api.h"
#include "io/loop.h"

namespace herald::rest {

void RestApi::Admin(http::Request& req, http::Response res) {
  using Op = AdminCall::Op;
  const std::string_view name = req.path_rest;
  const bool get = req.method == "GET";
  if (!get && name == "reload" && options_.reload) return Reload(req, std::move(res));
  std::optional<Op> op;
  if (get && name == "connections") op = Op::kConnections;
  if (get && name == "topics") op = Op::kTopics;
  if (!get && name == "disconnect") op = Op::kDisconnect;
  if (!get && name == "subscribe") op = Op::kSubscribe;
  if (!get && name == "unsubscribe") op = Op::kUnsubscribe;
  if (!get && name == "revoke") op = Op::kRevoke;
  if (!op) {
    return (void)res.SendError(404, "not_found",
                               std::string("no such operation: GET /admin/connections|topics, "
                                           "POST /admin/disconnect|subscribe|unsubscribe|revoke") +
                                   (options_.reload ? "|reload" : ""));
  }
  session::IdentityPtr who = Caller(req, res);
  if (!who) return;
  // GET: the query's parameters; POST: the JSON body.
  auto parse = [&]() -> Result<AdminCall> {
    if (!get) return json::DecodeAdminCall(*op, req.body);
    AdminCall c;
    c.op = *op;
    Result<uint64_t> limit = UintParam(req, "limit", 1000);
    if (!limit.ok()) return limit.status();
    c.limit = static_cast<uint32_t>(std::min<uint64_t>(*limit, UINT32_MAX));
    if (*op == Op::kConnections) {
      c.user = std::string(req.query.Get("user").value_or(""));
      c.client = std::string(req.query.Get("client").value_or(""));
    } else {
      c.topic = std::string(req.query.Get("prefix").value_or(""));
    }
    return c;
  };
  Result<AdminCall> call = parse();
  if (!call.ok()) return (void)res.SendError(call.status());
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  ops_->Admin(*who, std::move(*call), [loop, res, op = *op](Result<AdminResult> r) mutable {
    loop->RunHereOrPost([res, op, r = std::move(r)]() mutable {
      if (!r.ok()) return (void)res.SendError(r.status());
      res.Send(200, json::EncodeAdminResult(op, *r), json::kJsonContentType);
    });
  });
}

void RestApi::Reload(http::Request& req, http::Response res) {
  session::IdentityPtr who = Caller(req, res);
  if (!who) return;
  // The whole node's configuration: the grant over every topic.
  if (Status s = session::Operations::MayAdminOn(*who, "reload", ">"); !s.ok()) {
    broker_.RecordAdminCall(false);
    return (void)res.SendError(s);
  }
  broker_.RecordAdminCall(true);
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  // The answer is sent, and the response let go, on the loop.
  options_.reload([loop, res = std::move(res)](Result<ReloadReport> r) mutable {
    loop->RunHereOrPost([res = std::move(res), r = std::move(r)]() mutable {
      if (!r.ok()) return (void)res.SendError(r.status());
      auto list = [](const std::vector<std::string>& keys) {
        std::string out = "[";
        for (const std::string& k : keys) {
          if (out.size() > 1) out += ',';
          json::AppendJsonString(out, k);
        }
        return out + "]";
      };
      json::JsonWriter w;
      w.Begin().RawField("applied", list(r->applied));
      w.RawField("needs_restart", list(r->needs_restart));
      res.Send(200, w.End().Take(), json::kJsonContentType);
    });
  });
}

}  // namespace herald::rest
