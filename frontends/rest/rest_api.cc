#include "frontends/rest/rest_api.h"

#include <algorithm>
#include <charconv>

#include "base/json_string.h"
#include "frontends/http/url.h"
#include "frontends/http_auth/http_auth.h"
#include "frontends/json/command.h"
#include "frontends/json/envelope.h"
#include "frontends/json/json_writer.h"
#include "frontends/json/presence_json.h"
#include "io/loop.h"

namespace herald::rest {
namespace {

constexpr std::string_view kHeaderPrefix = "herald-";
// Not a message header: the publish's id (idempotent publish).
constexpr std::string_view kMsgIdHeader = "Herald-Msg-Id";

void SendStatus(http::Response& res, const Status& s) { res.SendError(s); }

Result<std::string> TopicOf(const http::Request& req) {
  Result<std::string> topic = http::PercentDecode(req.path_rest);
  if (!topic.ok()) return Status(ErrorCode::kInvalidTopic, topic.status().message());
  return topic;
}

PublishOptions OptionsFrom(const http::Request& req) {
  PublishOptions o;
  if (auto ct = req.header("Content-Type")) o.content_type = std::string(*ct);
  for (const http::Header& h : req.headers) {
    if (http::EqualsIgnoreCase(h.name, kMsgIdHeader)) {
      o.msg_id = h.value;
      continue;
    }
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

RestApi::RestApi(Broker& broker, RestOptions options)
    : broker_(broker),
      options_(std::move(options)),
      ops_(std::make_shared<session::Operations>(
          broker, session::Admission(broker.options().topic_limits, options_.verifier, &broker),
          options_.hooks)) {}

void RestApi::Register(http::Router& router) {
  router.HandlePrefix("POST", "/publish/",
                      [this](http::Request& req, http::Response res) { Publish(req, res); });
  router.HandlePrefix("POST", "/request/",
                      [this](http::Request& req, http::Response res) { Request(req, res); });
  router.HandlePrefix("GET", "/history/",
                      [this](http::Request& req, http::Response res) { History(req, res); });
  router.HandlePrefix("GET", "/presence/",
                      [this](http::Request& req, http::Response res) { Presence(req, res); });
  router.Handle("GET", "/queues",
                [this](http::Request& req, http::Response res) { ListQueues(req, res); });
  for (const char* method : {"GET", "PUT", "DELETE", "POST"}) {
    router.HandlePrefix(method, "/queues/",
                        [this](http::Request& req, http::Response res) { Queue(req, res); });
  }
  for (const char* method : {"GET", "POST"}) {
    router.HandlePrefix(method, "/admin/",
                        [this](http::Request& req, http::Response res) { Admin(req, res); });
  }
}

session::IdentityPtr RestApi::Caller(const http::Request& req, http::Response& res) const {
  Result<session::IdentityPtr> who = ops_->admission().Authenticate(httpauth::CredentialOf(req));
  if (who.ok()) return *who;
  httpauth::SendRefused(res, who.status());
  return nullptr;
}

void RestApi::Publish(http::Request& req, http::Response res) {
  Result<std::string> topic = TopicOf(req);
  if (!topic.ok()) return SendStatus(res, topic.status());
  session::IdentityPtr who = Caller(req, res);
  if (!who) return;
  // Answered once sequenced: at once, or (in a cluster) when the topic's
  // owner node answers, back on this connection's loop.
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  ops_->Publish(*who, *topic, std::move(req.body), OptionsFrom(req),
                [loop, res](Result<PublishAck> ack) mutable {
                  loop->RunHereOrPost([res, ack = std::move(ack)]() mutable {
                    if (!ack.ok()) return SendStatus(res, ack.status());
                    json::JsonWriter w;
                    w.Begin().Field("epoch", ack->epoch).Field("offset", ack->offset);
                    if (ack->duplicate) w.Field("duplicate", true);
                    res.Send(200, w.End().Take(), json::kJsonContentType);
                  });
                },
                {{}, "http", {}});
}

void RestApi::Request(http::Request& req, http::Response res) {
  Result<std::string> topic = TopicOf(req);
  if (!topic.ok()) return SendStatus(res, topic.status());
  session::IdentityPtr who = Caller(req, res);
  if (!who) return;
  std::optional<int64_t> asked;
  if (req.query.Get("timeout_ms")) {
    Result<uint64_t> ms = UintParam(req, "timeout_ms", 0);
    if (!ms.ok()) return SendStatus(res, ms.status());
    asked = static_cast<int64_t>(std::min<uint64_t>(*ms, INT64_MAX));
  }
  Result<std::chrono::milliseconds> timeout =
      ops_->RequestTimeout(asked, options_.default_request_timeout);
  if (!timeout.ok()) return SendStatus(res, timeout.status());
  // The reply (or the timeout) arrives on another thread, possibly after the
  // server stopped: answer on the connection's loop, if it is still there.
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  ops_->Request(*who, *topic, std::move(req.body), *timeout, OptionsFrom(req),
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
                nullptr, {{}, "http", {}});
}

void RestApi::History(http::Request& req, http::Response res) {
  Result<std::string> topic = TopicOf(req);
  if (!topic.ok()) return SendStatus(res, topic.status());
  session::IdentityPtr who = Caller(req, res);
  if (!who) return;
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
  ops_->History(*who, *topic, {.epoch = *epoch, .after = *after, .limit = n},
                [loop, res, topic = *topic](Result<ResumeResult> r) mutable {
                  loop->RunHereOrPost([res, topic = std::move(topic), r = std::move(r)]() mutable {
                    if (!r.ok()) return SendStatus(res, r.status());
                    res.Send(200, HistoryJson(topic, *r), json::kJsonContentType);
                  });
                },
                {{}, "http", {}});
}

void RestApi::Presence(http::Request& req, http::Response res) {
  Result<std::string> topic = TopicOf(req);
  if (!topic.ok()) return SendStatus(res, topic.status());
  session::IdentityPtr who = Caller(req, res);
  if (!who) return;
  Result<uint64_t> limit = UintParam(req, "limit", 100);
  if (!limit.ok()) return SendStatus(res, limit.status());
  PresenceQuery q;
  q.limit = static_cast<uint32_t>(std::clamp<uint64_t>(*limit, 1, UINT32_MAX));
  q.after = std::string(req.query.Get("after").value_or(""));
  // Answered from this node's table: nothing to wait for.
  Result<PresenceSnapshot> s = ops_->Presence(*who, *topic, q);
  if (!s.ok()) return SendStatus(res, s.status());
  res.Send(200, json::EncodePresenceAnswer(*topic, *s), json::kJsonContentType);
}

}  // namespace herald::rest
