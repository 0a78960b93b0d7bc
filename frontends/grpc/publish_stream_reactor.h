// frontends/grpc/publish_stream_reactor.h — one `PublishStream` call.
//
// Each message read is published at once; messages with a sequence number get
// their own StreamAck, refused ones a StreamError, and a BatchAck with the
// running totals goes out once `ack_every` messages were counted (at the end
// of the request that crossed it) and when the client half-closes (once
// every message read has its result, so the last totals count them all).
// Flow control: while `max_pending_answers` answers wait to be written (or
// that many messages wait for their topic's owner node, in a cluster) the
// reactor stops reading, so a client that does not read its answers is held
// back by gRPC's own window instead of growing the server's memory.
// One request can carry hundreds of thousands of messages, so what it adds
// is bounded too: neighbouring refusals alike are one StreamError (with a
// `count`), and past `max_refusals_per_request` such runs the rest of the
// request is not published and one error covers it. A stream thus queues at
// most about max_pending_answers + max_refusals_per_request answers.
// Publishing never blocks a gRPC thread: a message for a topic another node
// owns is answered when the owner answers, and the call finishes only once
// every such answer is in.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <mutex>

#include "frontends/grpc/grpc_options.h"
#include "frontends/session/operations.h"
#include "herald/broker.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {

class PublishStreamReactor final
    : public grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse> {
 public:
  // Held until the call is done: the caller's place in its user's count.
  void HoldUserSlot(std::shared_ptr<void> slot) { user_slot_ = std::move(slot); }
  // Each message is published through the session layer (`ops`): the same
  // admission and rules as every front's publish.
  // Nothing is read until Start: admission may wait on the connect hook.
  PublishStreamReactor(std::shared_ptr<const session::Operations> ops, const GrpcOptions& options);

  // The reactor while it lives, for an admission that may answer after it.
  struct Guard {
    std::mutex mu;
    PublishStreamReactor* reactor = nullptr;
  };
  const std::shared_ptr<Guard>& guard() const { return guard_; }
  // Admitted: reading starts, as `who`, holding its slot; refused: the
  // call ends with the refusal. Any thread; the call may be gone by then.
  static void Start(const std::shared_ptr<Guard>& guard, grpc::CallbackServerContext* ctx,
                    Result<session::Admitted> who);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;
  ~PublishStreamReactor() override;

 private:
  // What to start once the lock is released.
  struct Next {
    const v1::PublishStreamResponse* write = nullptr;
    bool read = false;
    bool finish = false;
  };
  Next NextLocked();
  void Run(const Next& next);
  void QueueBatchLocked();
  // One read request's messages, answered together. Results that come back
  // inline (this node owns the topic) are kept here without a lock, as runs
  // of neighbours alike, and applied in order once the request is
  // published; results from other nodes take the lock one by one. Freed
  // when the last result is in.
  struct Batch;
  struct Slot {
    Batch* batch;
    int index;
  };
  // `count` messages from `index` with the same outcome: all accepted
  // (`result` is the last one's ack) or all refused with the same status.
  struct Outcome {
    int index;
    int count;
    Result<PublishAck> result;
  };
  struct Batch {
    uint64_t serial = 0;  // this stream's request number
    uint64_t sequence = 0;
    int remaining = 0;  // results still to come (+1 while still publishing)
    int last_ok_index = -1;
    PublishAck last_ok;
    std::vector<Slot> slots;
    std::vector<Outcome> inline_runs;  // the publishing thread's, no lock
    int inline_error_runs = 0;
    // mu_ held from here on.
    uint32_t error_answers = 0;  // StreamErrors queued for this request
    // Refusals from other nodes that came after the cap: one summary at the
    // end (the first one's status, how many, the first index).
    int late_first = -1;
    uint32_t late_count = 0;
    std::string late_message;
  };
  void Publish(v1::PublishRequest& m, Slot* slot);
  // A message's result, from whichever thread produced it.
  void OnPublished(Slot* slot, Result<PublishAck> ack);
  // mu_ held. Counts a run of results and queues what it answers.
  void ApplyLocked(Batch& batch, int index, int count, const Result<PublishAck>& ack);
  // mu_ held. One StreamError for `count` refusals from `index`, folded into
  // the last answer when that is this request's error for the run just
  // before; past the cap (unless `forced`) only tallied for the summary.
  void QueueErrorLocked(Batch& batch, int index, uint32_t count, int code,
                        const std::string& message, bool forced);
  void PushLocked(v1::PublishStreamResponse r);
  // mu_ held. One result fewer to wait for; answers and frees the batch at 0.
  void ReleaseLocked(Batch* batch);

  const std::shared_ptr<const session::Operations> ops_;
  Broker& broker_;
  std::shared_ptr<const auth::Identity> identity_;  // what the caller may publish (Start's)
  const std::shared_ptr<Guard> guard_ = std::make_shared<Guard>();
  const std::shared_ptr<GrpcStats> stats_;
  const uint32_t ack_every_;
  const size_t max_pending_;
  const uint32_t max_refusal_runs_;
  std::mutex mu_;
  v1::PublishStreamRequest request_;               // the read buffer
  std::deque<v1::PublishStreamResponse> answers_;  // front: being written
  bool writing_ = false;
  bool read_wanted_ = false;  // a read is due once answers drain
  bool read_done_ = false;    // the client half-closed (or the call broke)
  bool broken_ = false;       // a write failed: nothing more goes out
  bool finish_called_ = false;
  bool totals_queued_ = false;  // the half-close totals (queued once in_flight_ is 0)
  uint64_t accepted_ = 0;
  uint64_t refused_ = 0;
  uint32_t since_batch_ = 0;
  uint64_t next_serial_ = 0;
  // The request whose StreamError is the last answer queued (0: the last
  // answer is something else), so a neighbouring refusal extends it.
  uint64_t open_error_serial_ = 0;
  size_t in_flight_ = 0;                 // messages whose result has not come back yet
  std::atomic<size_t> hook_waiting_{0};  // of them, those waiting on the publish hook
  std::shared_ptr<void> user_slot_;
};

}  // namespace herald::grpcfront
