#include "frontends/sse/sse_front.h"

#include <algorithm>
#include <utility>

#include "frontends/http_auth/http_auth.h"
#include "frontends/sse/event_id.h"
#include "frontends/sse/sse_stream.h"
#include "herald/topic.h"
#include "io/loop.h"

namespace herald::sse {
namespace {

bool HasWildcard(std::string_view pattern) {
  return pattern.find_first_of("*>") != std::string_view::npos;
}

}  // namespace

SseFront::SseFront(Broker& broker, SseOptions options, InboxFor inbox_for)
    : broker_(broker),
      options_(std::move(options)),
      ops_(std::make_shared<session::Operations>(
          broker,
          session::Admission(broker.options().topic_limits, options_.Get()->verifier, &broker),
          options_.Get()->hooks)),
      inbox_for_(std::move(inbox_for)),
      names_(std::make_shared<TopicNames>(options_.Get()->id_topic_names)) {}

void SseFront::SetLimits(const SseLimits& limits) {
  options_.Update([&](SseOptions& o) {
    const size_t names = o.id_topic_names;  // the cache's size, from the start
    static_cast<SseLimits&>(o) = limits;
    o.id_topic_names = names;
  });
}

void SseFront::Register(http::Router& router) {
  router.Handle("GET", "/sse",
                [this](http::Request& req, http::Response res) { Open(req, std::move(res)); });
}

void SseFront::Open(http::Request& req, http::Response res) {
  auto reject = [&](int status, std::string_view code, const std::string& message) {
    SseStats::Add(stats_->rejects);
    res.SendError(status, code, message);
  };
  std::shared_ptr<const SseOptions> options = options_.Get();
  if (!options->allowed_origins.empty()) {
    if (std::optional<std::string_view> origin = req.header("Origin")) {
      const auto& allowed = options->allowed_origins;
      if (std::find(allowed.begin(), allowed.end(), *origin) == allowed.end()) {
        return reject(403, "forbidden_origin",
                      "origin '" + std::string(*origin) + "' may not open streams here");
      }
    }
  }
  StreamSpec spec;
  std::string_view id_param;
  bool has_format = false, has_event = false, has_id = false;
  auto once = [&](bool& seen, const std::string& name) {
    if (seen) reject(400, "bad_parameter", "'" + name + "' given twice");
    return !std::exchange(seen, true);
  };
  for (const http::QueryParams::Param& p : req.query) {
    if (p.name == "topic") {
      if (Status s = ops_->admission().CheckName(session::Op::kSubscribe, p.value); !s.ok()) {
        return reject(400, ErrorCodeName(s.code()), s.message());
      }
      if (spec.patterns.size() == options->max_topics) {
        return reject(400, "too_many_topics",
                      "at most " + std::to_string(options->max_topics) + " topics per stream");
      }
      spec.patterns.push_back(p.value);
    } else if (p.name == "format") {
      if (!once(has_format, p.name)) return;
      if (p.value != "raw" && p.value != "json") {
        return reject(400, "bad_parameter", "format must be 'raw' or 'json'");
      }
      spec.format = p.value == "json" ? DataFormat::kJson : DataFormat::kRaw;
    } else if (p.name == "event") {
      if (!once(has_event, p.name)) return;
      if (p.value != "topic") return reject(400, "bad_parameter", "event must be 'topic'");
      spec.name_events = true;
    } else if (p.name == "token") {
      // the credential, read by Authenticate below
    } else if (p.name == "lastEventId") {
      if (!once(has_id, p.name)) return;
      id_param = p.value;
    } else {
      return reject(
          400, "bad_parameter",
          "unknown parameter '" + p.name + "' (expected topic, format, event, lastEventId, token)");
    }
  }
  if (spec.patterns.empty()) {
    return reject(400, "missing_topic", "give at least one topic: /sse?topic=<pattern>");
  }
  if (req.loop == nullptr) return reject(503, "unavailable", "no inbox for this worker");
  auto open = std::make_shared<PendingOpen>();
  open->res = res;
  open->loop = req.loop;
  open->options = std::move(options);
  open->spec = std::move(spec);
  // The browser sends Last-Event-ID on every reconnect, to the same URL — so
  // the header is newer than a lastEventId left in the URL from the start.
  const std::optional<std::string_view> header = req.header("Last-Event-ID");
  open->event_id = std::string(header ? *header : id_param);
  // Who it is (401), the connect hook's word if there is one, its user's
  // connection slot (429), then whether it may read every topic it named
  // (403, and the subscribe hook). Hooks answer on their own thread; the
  // stream goes on on its connection's loop.
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  ops_->Connect(httpauth::CredentialOf(req), {{}, "sse", {}},
                [this, open, loop](Result<session::Admitted> who) {
                  loop->RunHereOrPost(
                      [this, open, who = std::move(who)]() mutable { Vet(open, std::move(who)); });
                });
}

void SseFront::Vet(const std::shared_ptr<PendingOpen>& open, Result<session::Admitted> who) {
  if (!who.ok()) {
    SseStats::Add(stats_->rejects);
    if (open->res.alive()) httpauth::SendRefused(open->res, who.status());
    return;
  }
  open->expires_at_s = who->identity->expires_at_s;
  open->user_slot = std::move(who->slot);
  open->identity = who->identity;
  open->client = who->client;
  open->waiting = open->spec.patterns.size() + 1;  // +1: held until every topic is asked
  std::shared_ptr<io::LoopHandle> loop = open->loop->handle();
  auto vetted = [this, open, loop](Status s) {
    if (!s.ok()) {
      std::lock_guard lock(open->mu);
      if (open->refused.ok()) open->refused = s;
    }
    if (--open->waiting == 0) loop->RunHereOrPost([this, open] { Resolve(open); });
  };
  for (const std::string& pattern : open->spec.patterns) {
    ops_->VetSubscribe(*open->identity, pattern, {open->client, "sse", {}}, vetted);
  }
  vetted(Status::Ok());
}

void SseFront::Resolve(const std::shared_ptr<PendingOpen>& open) {
  http::Response& res = open->res;
  if (!res.alive()) return;
  if (!open->refused.ok()) {
    SseStats::Add(stats_->rejects);
    return httpauth::SendRefused(res, open->refused);
  }
  auto reject = [&](int status, std::string_view code, const std::string& message) {
    SseStats::Add(stats_->rejects);
    res.SendError(status, code, message);
  };
  const TopicLimits& limits = broker_.options().topic_limits;
  Result<ParsedEventId> parsed =
      ParseEventId(open->event_id, open->spec.patterns, limits, open->options->max_id_topics);
  if (!parsed.ok()) return reject(400, "bad_event_id", parsed.status().message());
  std::vector<ResumePoint>* resume = &parsed->points;
  // Topics the id names by hash: this node remembers the names it hashed,
  // so those resume from history now like the others; the rest wait for
  // their topic's next message to show their name (SseStream::CatchUp).
  std::vector<TopicPosition> unresolved;
  for (TopicPosition& h : parsed->hashed) {
    std::optional<std::string> name = names_->Find(h.hash);
    const bool usable = name &&
                        std::none_of(resume->begin(), resume->end(),
                                     [&](const ResumePoint& p) { return p.topic == *name; }) &&
                        std::any_of(open->spec.patterns.begin(), open->spec.patterns.end(),
                                    [&](const std::string& q) { return PatternMatches(q, *name); });
    if (usable) {
      SseStats::Add(stats_->id_hashes_resolved);
      resume->push_back({std::move(*name), h.epoch, h.offset});
    } else {
      unresolved.push_back(std::move(h));
    }
  }

  // Two questions for the topics' history before the stream can open, asked
  // of each topic's owner — in a cluster possibly another node, so they are
  // asked without waiting and the stream opens on this connection's loop
  // once the last answer is back:
  //  - a resume position the topic has not reached cannot come from its
  //    history (a forged or foreign id): refused rather than skipping;
  //  - exact topics the client has no position in start from where they are
  //    now. Subscribing with that as a resume point replays whatever is
  //    published in between, and the first id the client gets names it, so a
  //    stream that drops before its first event still resumes without loss.
  open->resume = std::move(*resume);
  open->unresolved = std::move(unresolved);
  open->forgot = parsed->forgot;
  const size_t checks = open->resume.size();
  std::vector<std::string> fresh;
  for (const std::string& pattern : open->spec.patterns) {
    if (HasWildcard(pattern)) continue;
    const bool known = std::any_of(open->resume.begin(), open->resume.end(),
                                   [&](const ResumePoint& p) { return p.topic == pattern; });
    if (!known) fresh.push_back(pattern);
  }
  open->waiting = checks + fresh.size() + 1;  // +1: held until every question is asked
  std::shared_ptr<io::LoopHandle> loop = open->loop->handle();
  auto answered = [this, open, loop] {
    if (--open->waiting == 0) loop->RunHereOrPost([this, open] { Finish(*open); });
  };
  for (size_t i = 0; i < checks; ++i) {
    const ResumePoint& p = open->resume[i];
    broker_.ResumeAsync(
        p.topic, p.epoch, p.after_offset, 0, [open, answered](Result<ResumeResult> now) {
          if (!now.ok()) {
            open->Fail(400, "bad_event_id", "bad event id: " + now.status().message());
          }
          answered();
        });
  }
  for (std::string& pattern : fresh) {
    broker_.ResumeAsync(pattern, 0, 0, 0, [open, answered, pattern](Result<ResumeResult> now) {
      if (!now.ok()) {
        open->Fail(400, "invalid_topic", now.status().message());
      } else {
        std::lock_guard lock(open->mu);
        open->resume.push_back({pattern, now->epoch, now->last_offset});
      }
      answered();
    });
  }
  answered();
}

void SseFront::PendingOpen::Fail(int status, std::string code, std::string message) {
  std::lock_guard lock(mu);
  if (error_status != 0) return;  // the first refusal is the one answered
  error_status = status;
  error_code = std::move(code);
  error_message = std::move(message);
}

void SseFront::Finish(PendingOpen& open) {
  http::Response& res = open.res;
  if (!res.alive()) return;  // the client left while its history was asked about
  if (open.error_status != 0) {
    SseStats::Add(stats_->rejects);
    res.SendError(open.error_status, open.error_code, open.error_message);
    return;
  }
  StreamPositions positions(open.options->max_id_topics);
  for (const TopicPosition& h : open.unresolved) positions.SeedHashed(h);
  for (const ResumePoint& p : open.resume) positions.Seed(p);
  if (open.forgot) positions.MarkForgot();

  std::shared_ptr<Inbox> inbox = inbox_for_(open.loop);
  if (!inbox) {
    SseStats::Add(stats_->rejects);
    res.SendError(503, "unavailable", "no inbox for this worker");
    return;
  }
  auto stream = std::make_shared<SseStream>(broker_, res, *open.loop, *open.options, stats_,
                                            std::move(open.spec), std::move(positions), names_);
  if (Status s = stream->Subscribe(inbox, open.resume); !s.ok()) {
    SseStats::Add(stats_->rejects);
    res.SendError(s);
    return;
  }
  stream->HoldUserSlot(std::move(open.user_slot));
  stream->Start(open.expires_at_s, open.forgot);
  // Reachable by the server API for its life (a disconnect only: an SSE
  // stream's topics are its URL's).
  stream->Register([&](std::weak_ptr<ClientControl> control) {
    return ops_->RegisterClient(*open.identity, open.client, "sse", std::move(control));
  });
}

}  // namespace herald::sse
