#include "broker/queue_registry.h"

#include <random>

#include "base/seeded_hash.h"
#include "herald/topic.h"

namespace herald {

namespace {

Status Bad(const QueueOptions& o, std::string why) {
  return Status(ErrorCode::kInvalidArgument, "work queue '" + o.name + "': " + why);
}

bool NameCharOk(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

std::function<uint64_t()> RandomHandleNonce() {
  SipKey key;
  std::random_device rd;  // getrandom(2) on Linux
  key.k0 = (uint64_t{rd()} << 32) | rd();
  key.k1 = (uint64_t{rd()} << 32) | rd();
  auto counter = std::make_shared<std::atomic<uint64_t>>(0);
  return [key, counter] {
    const uint64_t n = counter->fetch_add(1, std::memory_order_relaxed);
    return SipHash<2, 4>(key, std::string_view(reinterpret_cast<const char*>(&n), sizeof(n)));
  };
}

Status ValidateQueueOptions(const QueueOptions& o, const TopicLimits& limits) {
  if (o.name.empty() || o.name.size() > 128) {
    return Status(ErrorCode::kInvalidArgument, "a work queue's name must be 1-128 characters");
  }
  bool token_empty = true;
  for (char c : o.name) {
    if (c == '.') {
      if (token_empty) break;
      token_empty = true;
    } else if (NameCharOk(c)) {
      token_empty = false;
    } else {
      token_empty = true;
      break;
    }
  }
  if (token_empty) {
    return Status(ErrorCode::kInvalidArgument,
                  "work queue name '" + o.name.substr(0, 128) +
                      "': dot-separated tokens of letters, digits, '_' and '-' only");
  }
  if (Status s = ValidatePattern(o.pattern, limits); !s.ok()) {
    return Status(s.code(), "work queue '" + o.name + "' pattern: " + s.message());
  }
  if (o.pattern.starts_with(kInboxPrefix)) {
    return Bad(o, "topics under _INBOX. are reply inboxes, not jobs");
  }
  if (IsSystemTopic(o.pattern)) return Bad(o, "topics under _HERALD. are the nodes' own");
  if (o.ack_wait.count() <= 0) return Bad(o, "ack_wait must be positive");
  if (o.ack_wait > std::chrono::hours(24 * 7)) return Bad(o, "ack_wait must be at most 7 days");
  for (std::chrono::milliseconds step : o.backoff) {
    if (step.count() < 0 || step > std::chrono::hours(24 * 7)) {
      return Bad(o, "backoff steps must be 0 to 7 days");
    }
  }
  if (o.backoff.size() > 32) return Bad(o, "backoff has at most 32 steps");
  if (o.max_in_flight == 0) return Bad(o, "max_in_flight must be at least 1");
  if (o.max_in_flight_per_member == 0) return Bad(o, "max_in_flight_per_member must be at least 1");
  if (o.max_pending == 0) return Bad(o, "max_pending must be at least 1");
  if (o.max_pending_bytes == 0) return Bad(o, "max_pending_bytes must be at least 1");
  if (!o.dead_letter.empty()) {
    if (Status s = ValidateTopic(o.dead_letter, limits); !s.ok()) {
      return Status(s.code(), "work queue '" + o.name + "' dead_letter: " + s.message());
    }
    if (o.dead_letter.starts_with(kInboxPrefix)) {
      return Bad(o, "dead_letter may not be a reply inbox");
    }
    if (PatternMatches(o.pattern, o.dead_letter)) {
      return Bad(o, "dead_letter '" + o.dead_letter + "' matches the queue's own pattern '" +
                        o.pattern + "': its dead letters would come back as jobs");
    }
  }
  return Status::Ok();
}

Status QueueRegistry::Create(const QueueOptions& options, const TopicLimits& limits) {
  if (Status s = ValidateQueueOptions(options, limits); !s.ok()) return s;
  std::lock_guard lock(mu_);
  if (auto it = queues_.find(options.name); it != queues_.end()) {
    if (SameQueueDefinition(it->second->options(), options)) return Status::Ok();
    return Status(ErrorCode::kInvalidArgument,
                  "work queue '" + options.name +
                      "' exists with other settings: delete it first to change them");
  }
  if (options.start != QueueOptions::Start::kNew &&
      (shared_ || (store_ && !store_->KeepsWriteOrder()))) {
    return Status(ErrorCode::kInvalidArgument,
                  "work queue '" + options.name + "': start '" + QueueStartText(options) +
                      "' is not supported on " +
                      (shared_ ? "a store brokers share (the Redis store)"
                               : "a store whose writes may commit out of order (Redis shards)") +
                      ": only \"new\" (reading history needs the disk store, or none)");
  }
  if (const size_t max = max_queues_; queues_.size() >= max) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return Status(ErrorCode::kResourceExhausted,
                  "this node already has max_queues " + std::to_string(max) + " work queues");
  }
  const uint64_t incarnation = nonce_() | 1;  // never 0
  queues_.emplace(options.name, std::make_shared<WorkQueue>(options, nonce_, &bytes_, store_,
                                                            incarnation, shared_, holder_));
  if (store_) store_->PutQueue(options, incarnation, {});
  count_.store(queues_.size(), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return Status::Ok();
}

WorkQueuePtr QueueRegistry::Restore(const QueueOptions& options, uint64_t incarnation) {
  std::lock_guard lock(mu_);
  auto q =
      std::make_shared<WorkQueue>(options, nonce_, &bytes_, store_, incarnation, shared_, holder_);
  queues_[options.name] = q;
  count_.store(queues_.size(), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return q;
}

void QueueRegistry::SaveBackfill(const WorkQueuePtr& queue, std::string_view backfill,
                                 bool finished) {
  std::lock_guard lock(mu_);
  // Under the registry's lock, as Remove deletes it from the store: a
  // queue deleted meanwhile is not written back.
  auto it = queues_.find(queue->name());
  if (!store_ || it == queues_.end() || it->second != queue) return;
  QueueOptions options = queue->options();
  if (finished) {
    options.start = QueueOptions::Start::kNew;
    options.start_time = {};
  }
  store_->PutQueue(options, queue->incarnation(), finished ? std::string_view{} : backfill);
}

Result<WorkQueuePtr> QueueRegistry::Remove(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = queues_.find(name);
  if (it == queues_.end()) {
    return Status(ErrorCode::kNotFound, "no work queue '" + std::string(name) + "'");
  }
  WorkQueuePtr q = std::move(it->second);
  queues_.erase(it);
  if (store_) store_->DeleteQueue(name);
  std::erase_if(members_, [&](const auto& m) { return m.second == q; });
  count_.store(queues_.size(), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return q;
}

Result<WorkQueuePtr> QueueRegistry::Find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = queues_.find(name);
  if (it == queues_.end()) {
    return Status(ErrorCode::kNotFound, "no work queue '" + std::string(name) + "'");
  }
  return it->second;
}

std::vector<WorkQueuePtr> QueueRegistry::All() const {
  std::lock_guard lock(mu_);
  std::vector<WorkQueuePtr> all;
  all.reserve(queues_.size());
  for (const auto& [name, q] : queues_) all.push_back(q);
  return all;
}

std::vector<WorkQueuePtr> QueueRegistry::Matching(std::string_view topic) const {
  std::vector<WorkQueuePtr> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, q] : queues_) {
    if (PatternMatches(q->options().pattern, topic)) out.push_back(q);
  }
  return out;
}

uint64_t QueueRegistry::AddMember(const WorkQueuePtr& queue) {
  std::lock_guard lock(mu_);
  const uint64_t id = ++next_member_;
  members_.emplace(id, queue);
  return id;
}

WorkQueuePtr QueueRegistry::MemberQueue(uint64_t member) const {
  std::lock_guard lock(mu_);
  auto it = members_.find(member);
  return it == members_.end() ? nullptr : it->second;
}

WorkQueuePtr QueueRegistry::RemoveMember(uint64_t member) {
  std::lock_guard lock(mu_);
  auto it = members_.find(member);
  if (it == members_.end()) return nullptr;
  WorkQueuePtr q = std::move(it->second);
  members_.erase(it);
  return q;
}

}  // namespace herald
