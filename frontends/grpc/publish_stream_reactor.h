// frontends/grpc/publish_stream_reactor.h — one `PublishStream` call.
//
// Each message read is published at once; messages with a sequence number get
// their own StreamAck (or StreamError), and a BatchAck with the running
// totals goes out every `ack_every` messages and when the client half-closes.
// Flow control: while `max_pending_answers` answers wait to be written the
// reactor stops reading, so a client that does not read its answers is held
// back by gRPC's own window instead of growing the server's memory.
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
  PublishStreamReactor(Broker& broker, const GrpcOptions& options);

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
  Result<PublishAck> Publish(v1::PublishRequest& m);

  Broker& broker_;
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
};

}  // namespace herald::grpcfront
