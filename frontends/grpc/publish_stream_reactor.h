// frontends/grpc/publish_stream_reactor.h — one `PublishStream` call.
//
// Each message read is published at once; messages with a sequence number get
// their own StreamAck (or StreamError), and a BatchAck with the running
// totals goes out every `ack_every` messages and when the client half-closes.
// Flow control: while `max_pending_answers` answers wait to be written (or
// that many messages wait for their topic's owner node, in a cluster) the
// reactor stops reading, so a client that does not read its answers is held
// back by gRPC's own window instead of growing the server's memory.
// Publishing never blocks a gRPC thread: a message for a topic another node
// owns is answered when the owner answers, and the call finishes only once
// every such answer is in.
#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <mutex>

#include "frontends/grpc/grpc_options.h"
#include "herald/broker.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {

class PublishStreamReactor final
    : public grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse> {
 public:
  // Held until the call is done: the caller's place in its user's count.
  void HoldUserSlot(std::shared_ptr<void> slot) { user_slot_ = std::move(slot); }
  PublishStreamReactor(Broker& broker, const GrpcOptions& options,
                       std::shared_ptr<const auth::Identity> identity);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override { delete this; }

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
  // inline (this node owns the topic) are kept here without a lock and
  // applied in order once the request is published; results from other
  // nodes take the lock one by one. Freed when the last result is in.
  struct Batch;
  struct Slot {
    Batch* batch;
    int index;
  };
  struct Batch {
    uint64_t sequence = 0;
    int remaining = 0;  // results still to come (+1 while still publishing)
    int last_ok_index = -1;
    PublishAck last_ok;
    std::vector<Slot> slots;
    std::vector<std::pair<int, Result<PublishAck>>> inline_results;
  };
  void Publish(v1::PublishRequest& m, Slot* slot);
  // A message's result, from whichever thread produced it.
  void OnPublished(Slot* slot, Result<PublishAck> ack);
  // mu_ held. Counts one result and queues what it answers.
  void ApplyLocked(Batch& batch, int index, const Result<PublishAck>& ack);
  // mu_ held. One result fewer to wait for; answers and frees the batch at 0.
  void ReleaseLocked(Batch* batch);

  Broker& broker_;
  const std::shared_ptr<const auth::Identity> identity_;  // what the caller may publish
  const std::shared_ptr<GrpcStats> stats_;
  const uint32_t ack_every_;
  const size_t max_pending_;
  std::mutex mu_;
  v1::PublishStreamRequest request_;               // the read buffer
  std::deque<v1::PublishStreamResponse> answers_;  // front: being written
  bool writing_ = false;
  bool read_wanted_ = false;  // a read is due once answers drain
  bool read_done_ = false;    // the client half-closed (or the call broke)
  bool broken_ = false;       // a write failed: nothing more goes out
  bool finish_called_ = false;
  uint64_t accepted_ = 0;
  uint64_t refused_ = 0;
  uint32_t since_batch_ = 0;
  size_t in_flight_ = 0;  // messages whose result has not come back yet
  std::shared_ptr<void> user_slot_;
};

}  // namespace herald::grpcfront
