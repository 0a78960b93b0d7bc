#include "frontends/rest/rest_api.h"

#include <charconv>

#include "base/json_string.h"
#include "frontends/http/url.h"
#include "frontends/http_auth/http_auth.h"
#include "frontends/json/command.h"
#include "frontends/json/envelope.h"
#include "frontends/json/json_writer.h"
#include "io/loop.h"

namespace herald::rest {
namespace {

constexpr std::string_view kHeaderPrefix = "herald-";

void SendStatus(http::Response& res, const Status& s) { res.SendError(s); }

Result<std::string> TopicOf(const http::Request& req) {
  Result<std::string> topic = http::PercentDecode(req.path_rest);
  if (!topic.ok()) return Status(ErrorCode::kInvalidTopic, topic.status().message());
  return topic;
}

// A non-negative integer query parameter, or `fallback` when absent.
Result<uint64_t> UintParam(const http::Request& req, std::string_view name, uint64_t fallback) {
  auto v = req.query.Get(name);
  if (!v) return fallback;
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size() || v->empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "'" + std::string(name) + "' must be a non-negative integer");
  }
  return out;
}

PublishOptions OptionsFrom(const http::Request& req) {
  PublishOptions o;
  if (auto ct = req.header("Content-Type")) o.content_type = std::string(*ct);
  for (const http::Header& h : req.headers) {
    if (h.name.size() > kHeaderPrefix.size() &&
        http::EqualsIgnoreCase(std::string_view(h.name).substr(0, kHeaderPrefix.size()),
                               kHeaderPrefix)) {
      o.headers.push_back({h.name.substr(kHeaderPrefix.size()), h.value});
    }
  }
  return o;
}

std::string HistoryJson(const std::string& topic, const ResumeResult& r) {
  std::string out = "{\"topic\":";
  AppendJsonString(out, topic);
  out += ",\"epoch\":" + std::to_string(r.epoch) +
         ",\"last_offset\":" + std::to_string(r.last_offset) + ",\"messages\":[";
  for (size_t i = 0; i < r.messages.size(); ++i) {
    if (i) out += ',';
    out += json::EncodeMessage(*r.messages[i]);
  }
  out += "],\"gap\":";
  out += r.gap ? json::EncodeGap(*r.gap) : "null";
  out += ",\"truncated\":";
  out += r.truncated ? "true" : "false";
  out += '}';
  return out;
}

}  // namespace

void RestApi::Register(http::Router& router) {
  router.HandlePrefix("POST", "/publish/",
                      [this](http::Request& req, http::Response res) { Publish(req, res); });
  router.HandlePrefix("POST", "/request/",
                      [this](http::Request& req, http::Response res) { Request(req, res); });
  router.HandlePrefix("GET", "/history/",
                      [this](http::Request& req, http::Response res) { History(req, res); });
}

bool RestApi::Allowed(http::Request& req, http::Response& res, Op op, const std::string& topic) {
  Result<httpauth::IdentityPtr> who = httpauth::Authenticate(options_.verifier.get(), req);
  if (!who.ok()) {
    httpauth::SendUnauthenticated(res, who.status());
    return false;
  }
  const auth::Grants& g = (*who)->grants;
  if (op == Op::kPublish ? g.MayPublish(topic) : g.MaySubscribe(topic)) return true;
  httpauth::SendDenied(res, (op == Op::kPublish ? "publish to '" : "read '") + topic + "'");
  return false;
}

void RestApi::Publish(http::Request& req, http::Response res) {
  Result<std::string> topic = TopicOf(req);
  if (!topic.ok()) return SendStatus(res, topic.status());
  if (!Allowed(req, res, Op::kPublish, *topic)) return;
  // Answered once sequenced: at once, or (in a cluster) when the topic's
  // owner node answers, back on this connection's loop.
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  broker_.PublishAsync(*topic, std::move(req.body), OptionsFrom(req),
                       [loop, res](Result<PublishAck> ack) mutable {
                         loop->RunHereOrPost([res, ack = std::move(ack)]() mutable {
                           if (!ack.ok()) return SendStatus(res, ack.status());
                           json::JsonWriter w;
                           w.Begin().Field("epoch", ack->epoch).Field("offset", ack->offset).End();
                           res.Send(200, w.Take(), json::kJsonContentType);
                         });
                       });
}

void RestApi::Request(http::Request& req, http::Response res) {
  Result<std::string> topic = TopicOf(req);
  if (!topic.ok()) return SendStatus(res, topic.status());
  if (!Allowed(req, res, Op::kPublish, *topic)) return;
  Result<uint64_t> timeout =
      UintParam(req, "timeout_ms", static_cast<uint64_t>(options_.default_request_timeout.count()));
  if (!timeout.ok()) return SendStatus(res, timeout.status());
  // The broker's max_request_timeout bounds every front; here a longer one
  // is refused rather than shortened, since the caller named it explicitly.
  const auto max_timeout = static_cast<uint64_t>(broker_.options().max_request_timeout.count());
  if (*timeout == 0 || *timeout > max_timeout) {
    return SendStatus(res, Status(ErrorCode::kInvalidArgument,
                                  "'timeout_ms' must be from 1 to " + std::to_string(max_timeout)));
  }
  // The reply (or the timeout) arrives on another thread, possibly after the
  // server stopped: answer on the connection's loop, if it is still there.
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  broker_.Request(
      *topic, std::move(req.body), std::chrono::milliseconds(*timeout),
      [loop, res](Result<MessagePtr> reply) mutable {
        loop->Post([res, reply = std::move(reply)]() mutable {
          if (!reply.ok()) return SendStatus(res, reply.status());
          const Message& m = **reply;
          http::HeaderList headers;
          for (const Header& h : m.headers) headers.Add("Herald-" + h.name, h.value);
          res.Send(200, m.payload,
                   m.content_type.empty() ? std::string_view("application/octet-stream")
                                          : std::string_view(m.content_type),
                   std::move(headers));
        });
      },
      OptionsFrom(req));
}

void RestApi::History(http::Request& req, http::Response res) {
  Result<std::string> topic = TopicOf(req);
  if (!topic.ok()) return SendStatus(res, topic.status());
  if (!Allowed(req, res, Op::kSubscribe, *topic)) return;
  Result<uint64_t> after = UintParam(req, "after", 0);
  Result<uint64_t> limit = UintParam(req, "limit", options_.max_history_limit);
  Result<uint64_t> epoch = UintParam(req, "epoch", 0);
  for (const auto* r : {&after, &limit, &epoch}) {
    if (!r->ok()) return SendStatus(res, r->status());
  }
  const size_t n = static_cast<size_t>(std::min<uint64_t>(*limit, options_.max_history_limit));
  // History may live on another node (the topic's owner): the answer comes
  // back on whatever thread it arrives on and is sent from this connection's
  // loop, which never waits for it.
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  auto send = [loop, res, topic = *topic](Result<ResumeResult> r) mutable {
    loop->RunHereOrPost([res, topic = std::move(topic), r = std::move(r)]() mutable {
      if (!r.ok()) return SendStatus(res, r.status());
      res.Send(200, HistoryJson(topic, *r), json::kJsonContentType);
    });
  };
  if (*epoch == 0 && *after > 0) {
    // `after` without an epoch is an offset in the topic's current epoch:
    // learn the epoch first, then read.
    broker_.ResumeAsync(*topic, 0, 0, 0,
                        [broker = &broker_, topic = *topic, after = *after, n,
                         send = std::move(send)](Result<ResumeResult> current) mutable {
                          if (!current.ok()) return send(current.status());
                          broker->ResumeAsync(topic, current->epoch, after, n, std::move(send));
                        });
    return;
  }
  broker_.ResumeAsync(*topic, *epoch, *after, n, std::move(send));
}

}  // namespace herald::rest
