#include "broker/cluster_view.h"

#include "broker/delivery_inbox.h"
#include "broker/subscription.h"

namespace herald {

void ClusterView::Attach(ClusterHook* hook, std::shared_ptr<Inbox> peer_inbox) {
  peer_inbox_ = static_cast<DeliveryInbox*>(peer_inbox.get());
  peer_inbox_->MarkPeerInterest();
  hook_.store(hook, std::memory_order_release);
}

ClusterView::Settled ClusterView::Settle(TopicClusterSlot& slot, std::string_view topic) const {
  ClusterHook* h = hook();
  const uint64_t generation = h->membership_generation();
  if (slot.generation_ == generation) return {slot.owner_.empty(), false};
  std::string owner = h->OwnerOf(topic);
  const bool moved = slot.generation_ == 0 ? !owner.empty() : owner != slot.owner_;
  slot.owner_ = std::move(owner);
  slot.generation_ = generation;
  return {slot.owner_.empty(), moved};
}

void ClusterView::FetchResume(const std::string& owner, std::string_view topic, uint64_t epoch,
                              uint64_t after_offset, size_t limit, ResumeCallback done) const {
  hook()->FetchHistory(owner, std::string(topic), epoch, after_offset,
                       [limit, done = std::move(done)](Result<ResumeResult> r) {
                         if (r.ok() && r->messages.size() > limit) {
                           r->messages.resize(limit);
                           r->truncated = true;
                         }
                         done(std::move(r));
                       });
}

bool ClusterView::IsPeerInbox(const DeliveryInbox* inbox) { return inbox->serves_peers(); }

bool ClusterView::IsPeerInterest(const Subscription& sub) { return IsPeerInbox(sub.inbox); }

}  // namespace herald
