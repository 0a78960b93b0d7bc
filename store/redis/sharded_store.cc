#include "store/redis/sharded_store.h"

#include <utility>

namespace herald::redis {
namespace {

class ShardedStore final : public SharedHistoryStore, public QueueStore {
 public:
  ShardedStore(std::shared_ptr<const ShardMap> map,
               std::vector<std::shared_ptr<SharedHistoryStore>> shards,
               std::vector<StoredQueue> queues)
      : map_(std::move(map)), shards_(std::move(shards)), queues_(std::move(queues)) {
    for (auto& shard : shards_) queue_shards_.push_back(dynamic_cast<QueueStore*>(shard.get()));
    for (size_t i = 0; i < shards_.size(); ++i) {
      const StoreRecovery& r = shards_[i]->recovery();
      recovery_.clean_shutdown = recovery_.clean_shutdown && r.clean_shutdown;
      recovery_.complete = recovery_.complete && r.complete;
      recovery_.detail += (i ? "; " : "") + ("shard '" + map_->names()[i] + "': ") + r.detail;
    }
  }

  const StoreRecovery& recovery() const override { return recovery_; }

  std::vector<StoredTopic> TakeTopics() override {
    std::vector<StoredTopic> all;
    for (auto& shard : shards_) {
      std::vector<StoredTopic> some = shard->TakeTopics();
      all.insert(all.end(), std::make_move_iterator(some.begin()),
                 std::make_move_iterator(some.end()));
    }
    return all;
  }

  Status Append(const MessagePtr& m, AppendCallback&& done) override {
    return Of(m->topic).Append(m, std::move(done));
  }

  // QueueStore: a job with its message; a definition on every shard.
  std::vector<StoredQueue> TakeQueues() override { return std::move(queues_); }
  // A definition goes to every shard, a job to its topic's: no order between them.
  bool KeepsWriteOrder() const override { return false; }
  void PutQueue(const QueueOptions& q, uint64_t incarnation, std::string_view backfill) override {
    for (QueueStore* shard : queue_shards_) shard->PutQueue(q, incarnation, backfill);
  }
  void DeleteQueue(std::string_view name) override {
    for (QueueStore* shard : queue_shards_) shard->DeleteQueue(name);
  }
  Status AppendWithJobs(const MessagePtr& m, const std::vector<JobRef>& jobs,
                        AppendCallback&& done) override {
    return QueuesOf(m->topic).AppendWithJobs(m, jobs, std::move(done));
  }
  Status PutJobs(const MessagePtr& m, const std::vector<JobRef>& jobs,
                 CommitCallback* done) override {
    return QueuesOf(m->topic).PutJobs(m, jobs, done);
  }
  void SetDeliveries(const JobRef& job, uint32_t deliveries) override {
    QueuesOf(job.topic).SetDeliveries(job, deliveries);
  }
  void DeleteJob(const JobRef& job) override { QueuesOf(job.topic).DeleteJob(job); }
  void Trim(std::string_view topic, uint64_t epoch, uint64_t first_kept) override {
    Of(topic).Trim(topic, epoch, first_kept);
  }
  void Retain(std::string_view topic, uint64_t epoch, const Retention& keep,
              RetainCallback&& done) override {
    Of(topic).Retain(topic, epoch, keep, std::move(done));
  }
  void Forget(std::string_view topic) override { Of(topic).Forget(topic); }
  void ExpireIds(int64_t before_us) override {
    for (auto& shard : shards_) shard->ExpireIds(before_us);
  }
  Status Read(std::string_view topic, uint64_t epoch, uint64_t after_offset, size_t max_messages,
              size_t max_bytes, ReadCallback&& done) override {
    return Of(topic).Read(topic, epoch, after_offset, max_messages, max_bytes, std::move(done));
  }
  Status Load(std::string_view topic, LoadCallback&& done) override {
    return Of(topic).Load(topic, std::move(done));
  }
  Status Head(std::string_view topic, LoadCallback&& done) override {
    return Of(topic).Head(topic, std::move(done));
  }

  // Counters add up; the store is reachable when every shard is (a topic
  // on an unreachable shard cannot be published to).
  HistoryStoreStats Stats() const override {
    HistoryStoreStats total;
    total.reachable = true;
    for (size_t i = 0; i < shards_.size(); ++i) {
      const HistoryStoreStats s = shards_[i]->Stats();
      total.appends += s.appends;
      total.commits += s.commits;
      total.syncs += s.syncs;
      total.append_errors += s.append_errors;
      total.appends_refused += s.appends_refused;
      total.queued_bytes += s.queued_bytes;
      total.reads += s.reads;
      total.reads_refused += s.reads_refused;
      total.disk_bytes += s.disk_bytes;
      total.reachable = total.reachable && s.reachable;
      total.disconnects += s.disconnects;
      total.failovers += s.failovers;
      total.unreplicated += s.unreplicated;
      total.tails_unproven += s.tails_unproven;
      if (!s.last_unproven.empty()) total.last_unproven = map_->names()[i] + ": " + s.last_unproven;
      total.server += (i ? "," : "") + map_->names()[i] + "=" + s.server;
    }
    return total;
  }

  void Drain() override {
    for (auto& shard : shards_) shard->Drain();
  }

 private:
  SharedHistoryStore& Of(std::string_view topic) { return *shards_[map_->Route(topic)]; }
  QueueStore& QueuesOf(std::string_view topic) { return *queue_shards_[map_->Route(topic)]; }

  const std::shared_ptr<const ShardMap> map_;
  const std::vector<std::shared_ptr<SharedHistoryStore>> shards_;
  std::vector<QueueStore*> queue_shards_;  // shards_[i] as a QueueStore
  std::vector<StoredQueue> queues_;        // until the broker takes them
  StoreRecovery recovery_;
};

}  // namespace

std::shared_ptr<SharedHistoryStore> MakeShardedStore(
    std::shared_ptr<const ShardMap> map, std::vector<std::shared_ptr<SharedHistoryStore>> shards,
    std::vector<StoredQueue> queues) {
  return std::make_shared<ShardedStore>(std::move(map), std::move(shards), std::move(queues));
}

}  // namespace herald::redis
