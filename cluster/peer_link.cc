#include "cluster/peer_link.h"

#include "cluster/cluster.h"

namespace herald::cluster {
namespace {

// A batch stops growing past this many payload bytes (unless one frame is
// bigger): keeps each gRPC message well under the link's message limit and
// the first frame of a burst from waiting on the last.
constexpr size_t kBatchBytes = size_t{1} << 20;
constexpr int kBatchFrames = 4096;

}  // namespace

PeerLink::PeerLink(Cluster& cluster, Side side, std::string address)
    : cluster_(cluster), side_(side), address_(std::move(address)) {}

bool PeerLink::Send(pb::PeerFrame frame) {
  const size_t cost = FrameCost(frame);
  bool start = false;
  bool overflow = false;
  {
    std::lock_guard lock(mu_);
    if (closing_) return false;
    queue_bytes_ += cost;
    queue_.push_back(std::move(frame));
    if (queue_bytes_ > cluster_.options().max_link_queue_bytes) {
      overflow = true;
    } else if (!writing_ && !starting_) {
      start = TakeBatchLocked();
    }
  }
  if (start) StartWrites();
  if (overflow) {
    // Closed by the cluster's next tick, not here: Send runs under callers'
    // locks, and closing can complete the stream on this very thread.
    overflowed_.store(true, std::memory_order_relaxed);
    return false;
  }
  return true;
}

bool PeerLink::TakeBatchLocked() {
  if (queue_.empty() || ended_) return false;
  out_.Clear();
  size_t bytes = 0;
  int frames = 0;
  while (!queue_.empty() && frames < kBatchFrames && (frames == 0 || bytes < kBatchBytes)) {
    const size_t cost = FrameCost(queue_.front());
    bytes += cost;
    queue_bytes_ -= cost;
    *out_.add_frames() = std::move(queue_.front());
    queue_.pop_front();
    ++frames;
  }
  counters_.frames_out.fetch_add(frames, std::memory_order_relaxed);
  counters_.bytes_out.fetch_add(out_.ByteSizeLong(), std::memory_order_relaxed);
  writing_ = true;
  starting_ = true;
  return true;
}

// out_ is serialised inside StartWrite, on this thread; the write's
// completion comes on another, handed over inside gRPC where ThreadSanitizer
// cannot see it. So out_ is refilled only by a thread that knows StartWrite
// returned: this one (when the write completed meanwhile), or one that takes
// mu_ after starting_ is cleared here.
void PeerLink::StartWrites() {
  for (bool again = true; again;) {
    StartWriteBatch(&out_);
    std::lock_guard lock(mu_);
    starting_ = false;
    again = !writing_ && !queue_.empty() && (!closing_ || flush_then_end_) && TakeBatchLocked();
  }
}

void PeerLink::Close(std::string reason, bool flush) {
  bool start = false;
  bool end = false;
  {
    std::lock_guard lock(mu_);
    if (!closing_) close_reason_ = std::move(reason);
    closing_ = true;
    if (ended_) return;
    if (flush && (writing_ || !queue_.empty())) {
      flush_then_end_ = true;  // HandleWriteDone ends the stream once drained
      if (!writing_ && !starting_) start = TakeBatchLocked();
    } else {
      flush_then_end_ = false;
      queue_.clear();
      queue_bytes_ = 0;
      end = ended_ = true;
    }
  }
  if (start) StartWrites();
  if (end) EndStream();
}

std::string PeerLink::close_reason() const {
  std::lock_guard lock(mu_);
  return close_reason_;
}

size_t PeerLink::queued_frames() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t PeerLink::queued_bytes() const {
  std::lock_guard lock(mu_);
  return queue_bytes_;
}

void PeerLink::SendDelivery(const MessagePtr& m, const std::string& pattern,
                            const std::string& group) {
  if (group.empty()) {
    if (m == last_plain_) return;
    last_plain_ = m;
  }
  pb::PeerFrame f;
  pb::Delivery* d = f.mutable_delivery();
  ToDelivery(*m, d);
  if (!group.empty()) {
    d->set_pattern(pattern);
    d->set_queue_group(group);
  }
  if (Send(std::move(f))) counters_.messages_out.fetch_add(1, std::memory_order_relaxed);
}

void PeerLink::HandleRead(pb::LinkBatch& batch) {
  last_heard_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  counters_.bytes_in.fetch_add(batch.ByteSizeLong(), std::memory_order_relaxed);
  counters_.frames_in.fetch_add(batch.frames_size(), std::memory_order_relaxed);
  for (pb::PeerFrame& frame : *batch.mutable_frames()) {
    if (state() == State::kClosed) break;
    cluster_.OnFrame(*this, frame);
  }
  batch.Clear();
}

void PeerLink::HandleWriteDone(bool ok) {
  bool start = false;
  bool end = false;
  {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      closing_ = true;
      if (close_reason_.empty()) close_reason_ = "the peer went away (write failed)";
      queue_.clear();
      queue_bytes_ = 0;
      flush_then_end_ = false;
      if (!ended_) end = ended_ = true;
    } else if (!queue_.empty() && (!closing_ || flush_then_end_)) {
      // While the write's starter is still inside StartWrite, out_ is its:
      // it takes the next batch once it returns (StartWrites).
      if (!starting_) start = TakeBatchLocked();
    } else if (closing_ && !ended_) {
      end = ended_ = true;
    }
  }
  if (start) StartWrites();
  if (end) EndStream();
}

void PeerLink::HandleDone() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    ended_ = true;
    queue_.clear();
    queue_bytes_ = 0;
    if (close_reason_.empty()) close_reason_ = "the stream ended";
  }
  state_.store(State::kClosed, std::memory_order_release);
  cluster_.OnLinkDone(shared_from_this());
}

void InterestSink::OnDelivery(const Delivery& d) {
  std::shared_ptr<PeerLink> link = link_.lock();
  if (!link) return;  // the link ended; its subscriptions are on their way out
  if (d.kind == Delivery::Kind::kMessage) {
    link->SendDelivery(d.message, pattern_, group_);
  } else if (d.gap->reason == GapReason::kSlowConsumer) {
    // The peer inbox overflowed and messages for this peer were dropped:
    // reset the link, so the peer tells its subscribers (a gap) instead of
    // them missing messages without a word.
    link->Close("deliveries to this peer were dropped (this node's peer queue overflowed)");
  }
}

// --- AcceptedLink --------------------------------------------------------------

AcceptedLink::AcceptedLink(Cluster& cluster, std::string address)
    : PeerLink(cluster, Side::kAccepted, std::move(address)) {}

void AcceptedLink::Begin() {
  self_ = shared_from_this();
  cluster_.ReactorStarted();
  StartRead(&in_);
}

void AcceptedLink::OnReadDone(bool ok) {
  if (!ok) {
    Close("the peer closed the link");
    return;
  }
  HandleRead(in_);
  if (state() != State::kClosed) StartRead(&in_);
}

void AcceptedLink::OnDone() {
  HandleDone();
  Cluster& cluster = cluster_;
  std::shared_ptr<PeerLink> last = std::move(self_);
  last.reset();  // may destroy this: before the cluster may finish stopping
  cluster.ReactorFinished();
}

// --- DialedLink ------------------------------------------------------------------

DialedLink::DialedLink(Cluster& cluster, std::string address,
                       std::shared_ptr<grpc::Channel> channel)
    : PeerLink(cluster, Side::kDialed, std::move(address)),
      channel_(std::move(channel)),
      stub_(pb::Peer::NewStub(channel_)) {}

void DialedLink::Begin(pb::PeerFrame hello) {
  self_ = shared_from_this();
  cluster_.ReactorStarted();
  stub_->async()->Link(&ctx_, this);
  // The hold keeps OnDone away while other threads may still start writes;
  // EndStream releases it.
  AddHold();
  StartRead(&in_);
  Send(std::move(hello));
  StartCall();
}

void DialedLink::OnReadDone(bool ok) {
  if (!ok) {
    Close("the peer closed the link");
    return;
  }
  HandleRead(in_);
  if (state() != State::kClosed) StartRead(&in_);
}

void DialedLink::EndStream() {
  ctx_.TryCancel();
  RemoveHold();
}

void DialedLink::OnDone(const grpc::Status& status) {
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    Close(status.error_message());  // records the reason when none was set
  }
  HandleDone();
  Cluster& cluster = cluster_;
  std::shared_ptr<PeerLink> last = std::move(self_);
  last.reset();  // may destroy this (and its channel reference) first
  cluster.ReactorFinished();
}

}  // namespace herald::cluster
