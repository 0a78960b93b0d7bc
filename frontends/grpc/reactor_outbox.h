// frontends/grpc/reactor_outbox.h — the outgoing side of a server stream.
//
// gRPC allows one outstanding write per stream, but events for a stream come
// from many threads: the broker's dispatcher (deliveries), whichever thread
// answers a request, gRPC's own (command answers). The outbox queues them,
// keeps exactly one write in flight, applies the slow-consumer policy to
// deliveries (session::Outbound), and finishes the call exactly once, only when
// no write is pending.
//
// Shared (std::shared_ptr) by the reactor and every callback that may push,
// so a push racing the end of the call is harmless: after Finish nothing
// reaches the reactor. Reactor calls are made with the lock released.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>

#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "frontends/session/outbound.h"
#include "herald/broker.h"

namespace herald::grpcfront {

template <typename Reactor, typename Event>
class ReactorOutbox {
 public:
  ReactorOutbox(Reactor* reactor, Broker& broker, OutboundLimits limits)
      : reactor_(reactor), outbound_(broker, limits) {}

  // Any thread. Queues an answer or notice (not subject to the guard).
  void Push(Event e) {
    Step step;
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      PushLocked(std::move(e));
      step = NextLocked();
    }
    Run(step);
  }

  // Any thread. A message for subscription `sub`, through the slow-consumer
  // policy (frontends/session/outbound.h); `make(message)` and
  // `make_gap(gap)` build the events.
  template <typename MakeMessage, typename MakeGap>
  void Deliver(uint64_t sub, const Message& m, MakeMessage&& make, MakeGap&& make_gap) {
    Step step;
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      const size_t estimate = m.payload.size() + m.topic.size() + 64;
      Port<MakeGap> port(*this, make_gap);
      if (outbound_.Admit(port, sub, m, estimate, queued_bytes_)) {
        PushLocked(make(m));
      } else if (!finishing_) {
        return;  // dropped: nothing to write (a cut finishes the call below)
      }
      step = NextLocked();
    }
    Run(step);
  }

  // Reactor's OnWriteDone.
  void WriteDone(bool ok) {
    Step step;
    {
      std::lock_guard lock(mu_);
      queued_bytes_ -= queue_.front().second;
      queue_.pop_front();
      writing_ = false;
      if (!ok) FinishLocked(grpc::Status(grpc::CANCELLED, "stream broken"));
      step = NextLocked();
    }
    Run(step);
  }

  // Any thread. Ends the call with `status` (the first status wins) once no
  // write is in flight; queued events are dropped.
  void Finish(grpc::Status status) {
    Step step;
    {
      std::lock_guard lock(mu_);
      FinishLocked(std::move(status));
      step = NextLocked();
    }
    Run(step);
  }

  // Any thread. Ends the call with `status` once everything queued so far
  // (and pushed until then) has been written.
  void FinishWhenDrained(grpc::Status status) {
    Step step;
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      drain_then_finish_ = true;
      drain_status_ = std::move(status);
      step = NextLocked();
    }
    Run(step);
  }

  size_t pending() const {
    std::lock_guard lock(mu_);
    return queue_.size();
  }
  size_t queued_bytes() const {
    std::lock_guard lock(mu_);
    return queued_bytes_;
  }
  bool finishing() const {
    std::lock_guard lock(mu_);
    return finishing_;
  }
  // Any thread. Runs `start` (a reactor operation: StartRead, metadata)
  // unless the call is ending, and says whether it ran. Under the lock that
  // Finish takes first, so an operation started here always precedes the
  // reactor's Finish: gRPC counts it before the call can be done.
  template <typename F>
  bool StartUnlessFinishing(F&& start) {
    std::lock_guard lock(mu_);
    if (finishing_) return false;
    start();
    return true;
  }

  // Any thread. Holds writes back until Release: events pushed meanwhile
  // queue, in order. A stream whose headers must go out before its first
  // message, and only once it is live, holds while it gets going.
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }

  // Any thread. Runs `start` (the headers) unless the call is ending, then
  // lets the held writes go after it. Says whether `start` ran.
  template <typename F>
  bool Release(F&& start) {
    Step step;
    bool ran = false;
    {
      std::lock_guard lock(mu_);
      held_ = false;
      if (!finishing_) {
        start();
        ran = true;
      }
      step = NextLocked();
    }
    Run(step);
    return ran;
  }

  // Gap notices owed per topic after drops; provided by the owner (which
  // knows how to build gap events) when the queue has drained.
  template <typename MakeGap>
  void FlushOwedGaps(MakeGap&& make_gap) {
    Step step;
    {
      std::lock_guard lock(mu_);
      if (finishing_ || !outbound_.owes_gaps() || queued_bytes_ > 0) return;
      Port<MakeGap> port(*this, make_gap);
      outbound_.Drained(port, 0);
      step = NextLocked();
    }
    Run(step);
  }

 private:
  // What the policy asks of this stream, under mu_: a gap notice is queued,
  // a cut finishes the call.
  template <typename MakeGap>
  class Port final : public session::OutboundPort {
   public:
    Port(ReactorOutbox& box, MakeGap& make_gap) : box_(box), make_gap_(make_gap) {}
    void SendGapNotice(const Gap& gap) override { box_.PushLocked(make_gap_(gap)); }
    bool CloseSlowConsumer() override {
      if (box_.finishing_) return false;
      box_.FinishLocked(
          grpc::Status(grpc::RESOURCE_EXHAUSTED, "slow consumer: the stream fell too far behind"));
      return true;
    }

   private:
    ReactorOutbox& box_;
    MakeGap& make_gap_;
  };

  struct Step {
    const Event* write = nullptr;
    bool finish = false;
  };

  void PushLocked(Event e) {
    const size_t bytes = e.ByteSizeLong();
    queued_bytes_ += bytes;
    queue_.emplace_back(std::move(e), bytes);
  }
  void FinishLocked(grpc::Status status) {
    if (finishing_) return;
    finishing_ = true;
    status_ = std::move(status);
  }
  Step NextLocked() {
    Step s;
    if (drain_then_finish_ && !finishing_ && !writing_ && queue_.empty()) {
      FinishLocked(std::move(drain_status_));
    }
    if (finishing_) {
      if (!writing_ && !finish_called_) {
        finish_called_ = true;
        s.finish = true;
      }
      return s;
    }
    if (!writing_ && !held_ && !queue_.empty()) {
      writing_ = true;
      s.write = &queue_.front().first;  // stable: deque push_back keeps references
    }
    return s;
  }
  void Run(const Step& s) {
    if (s.write) reactor_->StartWrite(s.write);
    if (s.finish) reactor_->Finish(status_);  // status_ is final once finish_called_
  }

  Reactor* const reactor_;
  mutable std::mutex mu_;
  session::Outbound outbound_;
  std::deque<std::pair<Event, size_t>> queue_;  // front: being written
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool held_ = false;  // see Hold
  bool finishing_ = false;
  bool finish_called_ = false;
  bool drain_then_finish_ = false;
  grpc::Status status_;
  grpc::Status drain_status_;
};

// How a call the server API disconnects ends (herald/clients.h): a status a
// client's retry logic reads — UNAUTHENTICATED for an expired or revoked
// token (fetch a new one), UNAVAILABLE to come back, FAILED_PRECONDITION
// not to — with the code and reason in its message.
inline grpc::Status DisconnectStatus(const DisconnectNotice& n) {
  const grpc::StatusCode code = n.code == 4001 || n.code == 4002 ? grpc::UNAUTHENTICATED
                                : n.reconnect                    ? grpc::UNAVAILABLE
                                                                 : grpc::FAILED_PRECONDITION;
  return grpc::Status(code, "disconnected (" + std::to_string(n.code) + ")" +
                                (n.reason.empty() ? std::string() : ": " + n.reason));
}

// The server API's way into a streaming call: a disconnect finishes its
// outbox (any thread; a call already gone is left alone).
template <typename Outbox>
class OutboxControl : public ClientControl {
 public:
  explicit OutboxControl(std::weak_ptr<Outbox> outbox) : outbox_(std::move(outbox)) {}
  void Disconnect(const DisconnectNotice& notice) override {
    if (std::shared_ptr<Outbox> o = outbox_.lock()) o->Finish(DisconnectStatus(notice));
  }

 protected:
  const std::weak_ptr<Outbox> outbox_;
};

// Ends a streaming call with UNAUTHENTICATED when its caller's token expires
// (`expires_at_s` 0: never). The alarm belongs to the reactor; when the call
// ends first, the reactor's end cancels it, and a late firing finds the
// outbox finished (or gone) and does nothing. `current` (optional) is the
// session's expiry as a refresh moves it: an alarm that fires after a
// refresh replaced it finds the session renewed and does nothing.
template <typename Outbox>
void FinishAtExpiry(grpc::Alarm& alarm, int64_t expires_at_s, const std::shared_ptr<Outbox>& outbox,
                    std::shared_ptr<const std::atomic<int64_t>> current = nullptr) {
  if (expires_at_s == 0) return;
  alarm.Set(std::chrono::system_clock::time_point(std::chrono::seconds(expires_at_s)),
            [weak = std::weak_ptr<Outbox>(outbox), current = std::move(current),
             expires_at_s](bool fired) {
              if (!fired) return;
              // Renewed since this alarm was set: a newer alarm has its end.
              if (current && current->load(std::memory_order_acquire) != expires_at_s) return;
              if (std::shared_ptr<Outbox> o = weak.lock()) {
                o->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token expired"));
              }
            });
}

}  // namespace herald::grpcfront
