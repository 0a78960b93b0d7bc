// One peer link: a herald.cluster.v1.Peer/Link stream to another node, from
// either side (this node dialled it, or accepted it). The link owns the
// outbound queue — frames from any thread, batched into one gRPC message
// per write, exactly one write in flight — and the per-link counters; what
// the frames mean is the Cluster's business (cluster.cc).
//
// Lifetime: a link keeps itself alive (self_) until gRPC reports the stream
// done; the Cluster and the peer's interest sinks hold shared references.
// Close() may be called any number of times from any thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cluster/frame_convert.h"
#include "herald/cluster/v1/peer.grpc.pb.h"
#include "herald/delivery.h"
#include "herald/message.h"

namespace herald::cluster {

class Cluster;

struct LinkCounters {
  std::atomic<uint64_t> messages_in{0}, messages_out{0};
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0};
  std::atomic<uint64_t> frames_in{0}, frames_out{0};
};

class PeerLink : public std::enable_shared_from_this<PeerLink> {
 public:
  enum class Side { kDialed, kAccepted };
  enum class State { kHandshake, kUp, kClosed };
  using Clock = std::chrono::steady_clock;

  PeerLink(Cluster& cluster, Side side, std::string address);
  virtual ~PeerLink() = default;
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  // Any thread. Queues `frame`; false once the link is closing. Past the
  // configured queue bound the link is closed instead (the peer is stuck).
  bool Send(pb::PeerFrame frame);
  // Any thread. Ends the stream; with `flush`, after what is queued is sent.
  void Close(std::string reason, bool flush = false);

  // Cluster thread only (interest sinks): a message sequenced here, for the
  // peer (the core never hands peers' interest a message another node
  // sequenced: one hop). Plain deliveries of one message through several of
  // the peer's patterns cross the link once.
  void SendDelivery(const MessagePtr& m, const std::string& pattern, const std::string& group);

  Side side() const { return side_; }
  const std::string& address() const { return address_; }
  // Set once at the handshake, before the link is announced as up.
  const std::string& peer_id() const { return peer_id_; }
  void set_peer_id(std::string id) { peer_id_ = std::move(id); }
  // What the peer understands beyond the protocol version (Hello/Welcome
  // `features`): set once at the handshake, like the peer id.
  void set_peer_features(std::vector<std::string> features) {
    peer_features_ = std::move(features);
  }
  bool speaks(std::string_view feature) const {
    for (const std::string& f : peer_features_) {
      if (f == feature) return true;
    }
    return false;
  }
  State state() const { return state_.load(std::memory_order_acquire); }
  void set_up() {
    was_up_.store(true, std::memory_order_relaxed);
    state_.store(State::kUp, std::memory_order_release);
  }
  bool was_up() const { return was_up_.load(std::memory_order_relaxed); }
  Clock::time_point created() const { return created_; }
  Clock::time_point last_heard() const {
    return Clock::time_point(Clock::duration(last_heard_.load(std::memory_order_relaxed)));
  }
  std::string close_reason() const;
  // The queue went over its bound; the cluster closes the link.
  bool overflowed() const { return overflowed_.load(std::memory_order_relaxed); }
  // True the first time only: the link is listed as overflowed on every
  // tick until its close completes, and is counted once.
  bool FirstOverflowReport() { return !overflow_reported_.exchange(true); }
  size_t queued_frames() const;
  size_t queued_bytes() const;
  const LinkCounters& counters() const { return counters_; }
  void CountMessageIn() { counters_.messages_in.fetch_add(1, std::memory_order_relaxed); }

  // The peer's interest, as subscriptions on this broker: (pattern, group) →
  // subscription id. Touched by the link's reader and its teardown only.
  std::map<std::pair<std::string, std::string>, uint64_t> interest;

  // The handshake so far (peer_auth.h): what both proofs are computed over.
  // Touched by the link's reader only (and by the dialler before the
  // stream starts).
  struct Handshake {
    bool hello_answered = false;  // acceptor: a challenge was sent
    bool challenged = false;      // dialler: the proof was sent
    bool ended = false;           // refused or failed: later frames are ignored
    std::string dialer_id, dialer_address, acceptor_id;
    std::string dialer_nonce, acceptor_nonce;
    std::vector<std::string> peer_features;  // acceptor: the hello's, believed after the proof
  } handshake;

 protected:
  virtual void StartWriteBatch(const pb::LinkBatch* batch) = 0;
  virtual void EndStream() = 0;  // once; after it no write starts
  // Subclasses report stream events here.
  void HandleRead(pb::LinkBatch& batch);
  void HandleWriteDone(bool ok);
  void HandleDone();

  Cluster& cluster_;
  std::shared_ptr<PeerLink> self_;  // until the stream is done

 private:
  // mu_ held. Moves queued frames into out_ and returns true if a write
  // should start.
  bool TakeBatchLocked();
  // Starts the write TakeBatchLocked prepared (mu_ not held), and the next
  // ones its completion left to it.
  void StartWrites();

  const Side side_;
  const std::string address_;
  std::string peer_id_;
  std::atomic<State> state_{State::kHandshake};
  std::atomic<bool> was_up_{false};
  std::vector<std::string> peer_features_;
  const Clock::time_point created_ = Clock::now();
  std::atomic<Clock::rep> last_heard_{Clock::now().time_since_epoch().count()};
  LinkCounters counters_;
  MessagePtr last_plain_;  // cluster thread only
  std::atomic<bool> overflowed_{false};
  std::atomic<bool> overflow_reported_{false};

  mutable std::mutex mu_;
  std::deque<pb::PeerFrame> queue_;
  size_t queue_bytes_ = 0;
  bool writing_ = false;
  bool starting_ = false;  // a thread is inside StartWriteBatch(&out_)
  bool closing_ = false;   // no more frames accepted
  bool flush_then_end_ = false;
  bool ended_ = false;  // EndStream was called
  std::string close_reason_;
  pb::LinkBatch out_;
};

// A broker sink standing for one (pattern, queue group) of a peer's
// interest: what it receives (on the cluster thread) crosses the link.
// Weak: the broker's match caches may keep a sink long after its link ended,
// and a link (with its gRPC channel) must not outlive the cluster.
class InterestSink final : public Sink {
 public:
  InterestSink(std::weak_ptr<PeerLink> link, std::string pattern, std::string group)
      : link_(std::move(link)), pattern_(std::move(pattern)), group_(std::move(group)) {}
  void OnDelivery(const Delivery& d) override;

 private:
  std::weak_ptr<PeerLink> link_;
  const std::string pattern_, group_;
};

// The accepting side: a server reactor per incoming Link call.
class AcceptedLink final : public PeerLink,
                           public grpc::ServerBidiReactor<pb::LinkBatch, pb::LinkBatch> {
 public:
  AcceptedLink(Cluster& cluster, std::string address);
  void Begin();

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override { HandleWriteDone(ok); }
  void OnCancel() override { Close("the stream was cancelled"); }
  void OnDone() override;

 private:
  void StartWriteBatch(const pb::LinkBatch* batch) override { StartWrite(batch); }
  void EndStream() override { Finish(grpc::Status::OK); }
  pb::LinkBatch in_;
};

// The dialling side: a client reactor on a channel of its own.
class DialedLink final : public PeerLink,
                         public grpc::ClientBidiReactor<pb::LinkBatch, pb::LinkBatch> {
 public:
  DialedLink(Cluster& cluster, std::string address, std::shared_ptr<grpc::Channel> channel);
  void Begin(pb::PeerFrame hello);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override { HandleWriteDone(ok); }
  void OnDone(const grpc::Status& status) override;

 private:
  void StartWriteBatch(const pb::LinkBatch* batch) override { StartWrite(batch); }
  void EndStream() override;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Peer::Stub> stub_;
  grpc::ClientContext ctx_;
  pb::LinkBatch in_;
};

}  // namespace herald::cluster
