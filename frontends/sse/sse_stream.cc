#include "frontends/sse/sse_stream.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "frontends/json/admin_json.h"
#include "herald/topic.h"
#include "io/loop.h"

namespace herald::sse {
namespace {

const SharedBytes& Heartbeat() {
  static const SharedBytes kHeartbeat = std::make_shared<const std::string>(":\n\n");
  return kHeartbeat;
}

}  // namespace

SseStream::SseStream(Broker& broker, http::Response res, io::Loop& loop, SseOptions options,
                     std::shared_ptr<SseStats> stats, StreamSpec spec, StreamPositions positions,
                     std::shared_ptr<TopicNames> names)
    : broker_(broker),
      res_(std::move(res)),
      loop_(loop),
      options_(std::move(options)),
      stats_(std::move(stats)),
      spec_(std::move(spec)),
      positions_(std::move(positions)),
      names_(std::move(names)),
      outbound_(broker_, options_.outbound) {}

SseStream::~SseStream() = default;

Status SseStream::Subscribe(const std::shared_ptr<Inbox>& inbox,
                            const std::vector<ResumePoint>& resume) {
  std::shared_ptr<SseStream> self = shared_from_this();
  for (const std::string& pattern : spec_.patterns) {
    SubscribeOptions o;
    for (const ResumePoint& p : resume) {
      if (PatternMatches(pattern, p.topic)) o.resume.push_back(p);
    }
    Result<uint64_t> id = broker_.Subscribe(pattern, self, inbox, std::move(o));
    if (!id.ok()) {
      Release();
      return id.status();
    }
    subscriptions_.push_back(*id);
  }
  return Status::Ok();
}

void SseStream::Start(int64_t expires_at_s, bool left_out) {
  expires_at_s_ = expires_at_s;
  http::HeaderList headers;
  headers.Add("Cache-Control", "no-cache");
  // nginx and similar proxies buffer responses unless told not to.
  headers.Add("X-Accel-Buffering", "no");
  if (!res_.StartStream(200, "text/event-stream; charset=utf-8", std::move(headers)) ||
      !res_.Watch(shared_from_this())) {
    Release();
    return;
  }
  open_ = true;
  stats_->streams_open.fetch_add(1, std::memory_order_relaxed);
  SseStats::Add(stats_->streams_total);
  // The starting position as an event named "position": the client records
  // its id as the last event id, so even a stream cut before its first
  // message resumes without loss. (An id-only event would do for browsers,
  // but some client libraries ignore ids of events without data.)
  std::string first = "retry: " + std::to_string(options_.retry.count()) + "\n";
  if (positions_.size() > 0) first += "id: " + CurrentId() + "\nevent: position\ndata: \n";
  first.push_back('\n');
  Write(std::move(first));
  if (left_out) {
    // Never silently: the topics the id did not carry resume live only.
    SseStats::Add(stats_->resumes_incomplete);
    for (const std::string& pattern : spec_.patterns) {
      if (pattern.find_first_of("*>") == std::string::npos) continue;
      Write(PositionsNotKeptEvent(CurrentId(), pattern));
      SseStats::Add(stats_->gaps_sent);
    }
  }
  ScheduleTimer();
}

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// The heartbeat, or the token's expiry when that comes first.
// The heartbeat is due `heartbeat_interval` after the last byte written, not after
// the last timer: an idle stream hears something within every interval (a
// stream that wrote just after a tick would otherwise wait almost two).
void SseStream::ScheduleTimer() {
  const int64_t idle = SteadyMs() - last_write_ms_;
  const auto heartbeat_ms = static_cast<uint64_t>(options_.heartbeat_interval.count());
  uint64_t delay = heartbeat_ms > static_cast<uint64_t>(std::max<int64_t>(idle, 0))
                       ? heartbeat_ms - static_cast<uint64_t>(std::max<int64_t>(idle, 0))
                       : 1;
  if (expires_at_s_ != 0) {
    const int64_t left = expires_at_s_ * 1000 - NowMs();
    delay = std::min<uint64_t>(delay, static_cast<uint64_t>(std::max<int64_t>(left, 0)) + 1);
  }
  loop_.timers().Schedule(this, delay);
}

std::string SseStream::CurrentId() const {
  return FormatEventId(positions_.entries(), spec_.patterns, positions_.forgot());
}

void SseStream::Write(SharedBytes bytes) {
  last_write_ms_ = SteadyMs();
  res_.Write(std::move(bytes));
}

void SseStream::Write(std::string bytes) {
  last_write_ms_ = SteadyMs();
  res_.Write(std::move(bytes));
}

void SseStream::OnDelivery(const Delivery& d) {
  if (!open_ || closing_) return;
  if (d.kind == Delivery::Kind::kGap) return SendGapNotice(*d.gap);  // held if its topic is
  if (!held_.empty() && held_.contains(d.message->topic)) {
    return Hold(d.subscription_id, d.message);
  }
  SendMessage(d.subscription_id, d.message);
}

size_t SseStream::HeldCost(const Held& h) {
  if (h.message) {
    return sizeof(Held) + sizeof(Message) + h.message->topic.size() + h.message->payload.size();
  }
  return sizeof(Held) + h.gap->topic.size();
}

void SseStream::Hold(uint64_t subscription_id, const MessagePtr& m) {
  Held h{subscription_id, m, std::nullopt};
  const size_t cost = HeldCost(h);
  // Judged as if sent: a gap notice owed for the topic joins the queue first.
  if (!outbound_.Admit(*this, subscription_id, *m, cost, Queued())) return;
  auto it = held_.find(m->topic);
  if (it == held_.end()) return;  // the stream was released meanwhile
  it->second.push_back(std::move(h));
  held_bytes_ += cost;
}

void SseStream::SendGapNotice(const Gap& gap) {
  if (auto it = held_.find(gap.topic); it != held_.end()) {
    Held h{0, nullptr, gap};
    held_bytes_ += HeldCost(h);
    it->second.push_back(std::move(h));
    return;
  }
  SendGap(gap);
}

void SseStream::SendMessage(uint64_t subscription_id, const MessagePtr& m, bool admitted) {
  const bool known = positions_.Knows(m->topic);
  if (!known && positions_.unresolved() > 0) {
    if (std::optional<TopicPosition> was = positions_.Resolve(m->topic)) {
      if (CatchUp(*was, subscription_id, m)) return;  // `m` waits for its history
      if (closing_) return;
    }
  }
  if (!positions_.IsNew(m->topic, m->epoch, m->offset)) return;  // a copy already sent
  SharedBytes body = EventBody(*m, spec_.format);
  // The id line is small next to any real payload; estimate it rather than
  // format an id for a message that may be dropped. Dropped, the position
  // stays put: the gap notice owed moves it.
  if (!admitted && !outbound_.Admit(*this, subscription_id, *m, body->size() + 32, Queued())) {
    return;
  }
  positions_.Advance(m->topic, m->epoch, m->offset);
  if (!known && names_ && positions_.Knows(m->topic)) {
    // A new entry is the last; one the id names by hash is remembered by
    // name, so a reconnect to this node resumes it from history at once.
    if (const TopicPosition& e = positions_.entries().back(); e.hash != 0) {
      names_->Remember(e.hash, e.topic);
      stats_->id_topic_names.store(static_cast<int64_t>(names_->size()), std::memory_order_relaxed);
    }
  }
  // The whole event is shared when this stream's id is just this message's
  // entry at index 0 (a stream over one exact topic); otherwise the id and
  // the event name are this stream's own and the rest is shared.
  if (positions_.size() == 1 && !positions_.forgot() && !spec_.name_events &&
      spec_.patterns[0] == m->topic) {
    Write(IndexZeroEvent(*m, spec_.format));
  } else {
    Write(EventHead(CurrentId(), spec_.name_events ? std::string_view(m->topic) : ""));
    Write(std::move(body));
  }
  SseStats::Add(stats_->events_sent);
}

bool SseStream::CatchUp(const TopicPosition& was, uint64_t subscription_id,
                        const MessagePtr& live) {
  SseStats::Add(stats_->id_hashes_resolved_live);
  if (was.epoch == live->epoch && live->offset <= was.offset + 1) return false;  // nothing missed
  // Only what lies before `live`: the rest comes live, after it.
  const size_t limit = was.epoch == live->epoch ? live->offset - was.offset - 1 : SIZE_MAX;
  held_[live->topic];  // held from now on: `live` and what follows wait
  Hold(subscription_id, live);
  if (closing_) return true;
  AskHistory(live->topic, subscription_id, was.epoch, was.offset, limit, live->epoch, live->offset);
  return true;
}

void SseStream::AskHistory(const std::string& topic, uint64_t subscription_id, uint64_t epoch,
                           uint64_t after, size_t limit, uint64_t live_epoch,
                           uint64_t live_offset) {
  std::weak_ptr<SseStream> weak = weak_from_this();
  std::shared_ptr<io::LoopHandle> loop = loop_.handle();
  broker_.ResumeAsync(topic, epoch, after, limit,
                      [weak, loop, topic, subscription_id, live_epoch,
                       live_offset](Result<ResumeResult> r) mutable {
                        loop->RunHereOrPost([weak, topic = std::move(topic), subscription_id,
                                             live_epoch, live_offset, r = std::move(r)]() mutable {
                          if (auto self = weak.lock()) {
                            self->CaughtUp(topic, subscription_id, live_epoch, live_offset,
                                           std::move(r));
                          }
                        });
                      });
}

void SseStream::CaughtUp(const std::string& topic, uint64_t subscription_id, uint64_t live_epoch,
                         uint64_t live_offset, Result<ResumeResult> r) {
  auto it = held_.find(topic);
  if (it == held_.end()) return;
  if (open_ && !closing_ && r.ok() && r->truncated && !r->messages.empty() &&
      r->messages.back()->epoch == live_epoch && r->messages.back()->offset + 1 < live_offset) {
    // One page of a history read from disk: it goes out, and the next is
    // asked for; what is held keeps waiting.
    if (r->gap) SendGap(*r->gap);
    for (const MessagePtr& old : r->messages) {
      if (old->epoch != live_epoch || closing_) break;
      SendMessage(subscription_id, old);
    }
    const uint64_t sent = r->messages.back()->offset;
    if (!closing_) {
      AskHistory(topic, subscription_id, live_epoch, sent, live_offset - sent - 1, live_epoch,
                 live_offset);
      return;
    }
    r = ResumeResult{};  // closing: what is held is dropped below
  }
  std::vector<Held> held = std::move(it->second);
  held_.erase(it);
  // Gap notices still owed for drops while held cover messages after the
  // held ones: they go last, not before the history.
  for (Gap& gap : outbound_.TakeGapsFor(topic)) {
    held.push_back(Held{0, nullptr, std::move(gap)});
    held_bytes_ += HeldCost(held.back());
  }
  // The held deliveries stay charged while the history goes out before them.
  if (open_ && !closing_) {
    if (!r.ok()) {
      // A position this topic's history cannot have given (ahead of it):
      // everything before `live` is unaccounted for, and the client is told.
      SendGap(Gap{topic, GapReason::kEpochChanged, live_epoch, 0, 0});
    } else {
      if (r->gap) SendGap(*r->gap);
      for (const MessagePtr& old : r->messages) {
        if (old->epoch != live_epoch || old->offset >= live_offset || closing_) break;
        SendMessage(subscription_id, old);
      }
    }
    // History the budget had no room for is reported now, in line.
    for (const Gap& gap : outbound_.TakeGapsFor(topic)) SendGap(gap);
  }
  for (Held& h : held) {
    // Out of held_ into the response: admitted when it was held, so not
    // judged again (the bytes only change place).
    Unhold(HeldCost(h));
    if (!open_ || closing_) continue;
    if (h.gap) {
      SendGap(*h.gap);
    } else {
      SendMessage(h.subscription_id, h.message, /*admitted=*/true);
    }
  }
}

void SseStream::SendGap(const Gap& gap) {
  // A position known by hash only is named by this topic's gap as well.
  if (positions_.unresolved() > 0 && !positions_.Knows(gap.topic)) {
    (void)positions_.Resolve(gap.topic);
  }
  positions_.Skip(gap);
  Write(GapEvent(CurrentId(), gap));
  SseStats::Add(stats_->gaps_sent);
}

bool SseStream::CloseSlowConsumer() {
  if (!open_ || closing_) return false;
  closing_ = true;  // counted once; the rest of a batch is not for it
  SseStats::Add(stats_->slow_consumer_closes);
  // What is queued still goes out (bounded by the linger time); the browser
  // then reconnects and resumes after the last event it received.
  res_.Abort(io::CloseReason::kSlowConsumer);
  return true;
}

// A burst queued in one loop turn is only checked once it is flushed: if the
// kernel refused more than the limit, the stream is as far behind as if the
// messages had come one by one.
void SseStream::OnStreamBlocked(size_t backlog) {
  if (!open_ || closing_) return;
  outbound_.Blocked(*this, backlog + held_bytes_);
}

// Gap notices of held topics wait in line (SendGapNotice).
void SseStream::OnStreamDrained() {
  if (!open_ || !outbound_.owes_gaps()) return;
  outbound_.Drained(*this, Queued());
}

void SseStream::OnTimerExpired() {
  if (!open_ || closing_) return;
  if (expires_at_s_ != 0 && NowMs() >= expires_at_s_ * 1000) {
    // The browser reconnects (with Last-Event-ID) and must show a fresh token.
    closing_ = true;
    res_.Write(": token expired\n\n");
    res_.Abort(io::CloseReason::kDone);
    return;
  }
  if (SteadyMs() - last_write_ms_ >= options_.heartbeat_interval.count()) {
    Write(Heartbeat());
    SseStats::Add(stats_->heartbeats_sent);
  }
  ScheduleTimer();
}

// The node is going away: ask the browser to come back after a jittered
// delay (between one and two `retry` periods), so the clients of a drained
// node do not all reconnect in the same instant.
void SseStream::OnStreamDrain() {
  if (!open_) return;
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const auto retry_ms = static_cast<uint64_t>(options_.retry.count());
  const uint64_t retry = retry_ms + rng() % (retry_ms + 1);
  res_.Write("retry: " + std::to_string(retry) + "\n: server shutting down\n\n");
}

void SseStream::OnStreamClosed() { Release(); }

namespace {

// Hops each server-API call to the stream's loop.
class SseControl final : public ClientControl {
 public:
  SseControl(std::weak_ptr<SseStream> stream, std::shared_ptr<io::LoopHandle> loop)
      : stream_(std::move(stream)), loop_(std::move(loop)) {}
  void Disconnect(const DisconnectNotice& notice) override {
    loop_->RunHereOrPost([weak = stream_, notice] {
      if (auto s = weak.lock()) s->Disconnect(notice);
    });
  }

 private:
  const std::weak_ptr<SseStream> stream_;
  const std::shared_ptr<io::LoopHandle> loop_;
};

}  // namespace

void SseStream::Register(
    const std::function<std::shared_ptr<void>(std::weak_ptr<ClientControl>)>& registrar) {
  if (!open_) return;
  control_ = std::make_shared<SseControl>(weak_from_this(), loop_.handle());
  registration_ = registrar(control_);
}

void SseStream::Disconnect(const DisconnectNotice& notice) {
  if (!open_ || closing_) return;
  closing_ = true;
  // The browser's EventSource reconnects after an end; the event lets a
  // page (HeraldEventSource) stop when told not to come back.
  res_.Write("event: disconnect\ndata: " + json::EncodeDisconnect(notice) + "\n\n");
  res_.Abort(io::CloseReason::kDone);
}

void SseStream::Release() {
  if (open_) stats_->streams_open.fetch_sub(1, std::memory_order_relaxed);
  open_ = false;
  loop_.timers().Cancel(this);
  for (uint64_t id : subscriptions_) broker_.Unsubscribe(id);
  subscriptions_.clear();
  held_.clear();
  held_bytes_ = 0;
  res_ = http::Response();
  user_slot_.reset();
  registration_.reset();
}

}  // namespace herald::sse
