// The disk store: RocksDB under a directory, one writer thread that commits
// whatever appends have queued as one atomic WriteBatch (group commit: the
// appends that arrive during one fsync go out together in the next), and
// completes them in order.
#include "herald/disk_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/thread_name.h"
#include "herald/queue_store.h"
#include "herald/revocation_store.h"
#include "store/disk_codec.h"
#include "store/store_dir.h"

namespace herald {

namespace {

using store::Head;

// Roughly what an append holds while queued: its value, its key, the op.
size_t QueuedCost(const Message& m) {
  size_t headers = 0;
  for (const Header& h : m.headers) headers += h.name.size() + h.value.size() + 8;
  return 128 + 2 * m.topic.size() + m.payload.size() + m.content_type.size() + m.reply_to.size() +
         headers;
}

class DiskStore final : public HistoryStore, public QueueStore, public RevocationStore {
 public:
  DiskStore(DiskStoreOptions options, store::OpenedDir opened)
      : options_(std::move(options)),
        db_(std::move(opened.db)),
        recovery_(std::move(opened.recovery)),
        topics_(std::move(opened.topics)) {
    for (size_t i = 0; i < topics_.size(); ++i) {
      const StoredTopic& t = topics_[i];
      const store::TopicExtent& e = opened.extents[i];
      last_[t.name] = Held{t.epoch, t.last_offset, t.first_offset, e.bytes, e.first_timestamp_us};
      for (const StoredId& id : t.ids) oldest_id_us_ = std::min(oldest_id_us_, id.timestamp_us);
    }
    disk_bytes_ = store::DiskBytes(*db_);
    // Measured again by the writer; until then an unmeasurable directory
    // (gone since it was opened) refuses rather than guesses.
    const Result<uint64_t> free = store::FreeBytes(options_.dir);
    free_bytes_ = free.ok() ? *free : 0;
    writer_ = std::thread([this] {
      NameThisThread("herald-store-wr");
      WriterLoop();
    });
    reader_ = std::thread([this] {
      NameThisThread("herald-store-rd");
      ReaderLoop();
    });
    if (options_.sync == DiskStoreOptions::Sync::kBatch)
      syncer_ = std::thread([this] {
        NameThisThread("herald-store-sy");
        SyncerLoop();
      });
  }

  ~DiskStore() override {
    {
      std::lock_guard lock(read_mu_);
      read_stopping_ = true;
    }
    read_cv_.notify_one();
    reader_.join();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_one();
    sync_cv_.notify_one();
    writer_.join();
    if (syncer_.joinable()) syncer_.join();
    // Everything queued is committed; make it durable and say so, so that
    // the next start knows nothing was cut short.
    if (!failed_) {
      rocksdb::Status s = db_->SyncWAL();
      if (s.ok()) s = store::WriteRunMarker(*db_, store::RunMarker{true, options_.sync, BootId()});
      (void)s;  // nothing to report to: the next start finds no clean marker
    }
    db_->Close();
  }

  const StoreRecovery& recovery() const override { return recovery_; }
  std::vector<StoredTopic> TakeTopics() override { return std::move(topics_); }

  // The bounds every queued write is held to (mu_ held): the store's state,
  // its disk quota and free space, and the bytes waiting for the disk.
  Status AdmitLocked(size_t cost) {
    if (failed_) {
      ++refused_;
      return Status(ErrorCode::kUnavailable,
                    "the history store failed (" + failure_ + "): restart heraldd to recover");
    }
    // Compared by what is left under each bound, so that no configured
    // bound, however large, can wrap a sum around.
    const uint64_t wanted = uint64_t{queued_bytes_} + cost;
    if (disk_bytes_ > options_.max_disk_bytes || wanted > options_.max_disk_bytes - disk_bytes_) {
      ++refused_;
      over_quota_ = true;  // the writer compacts, so trimmed ranges free their space
      work_cv_.notify_one();
      return Status(ErrorCode::kResourceExhausted,
                    "the history store is full: " + std::to_string(disk_bytes_) +
                        " bytes on disk (max_disk_bytes " +
                        std::to_string(options_.max_disk_bytes) +
                        "); publishes to topics with history resume once retention frees space");
    }
    if (free_bytes_ < options_.min_free_disk_bytes ||
        free_bytes_ - options_.min_free_disk_bytes < wanted) {
      ++refused_;
      over_quota_ = true;  // measured again (and compacted) until space is freed
      work_cv_.notify_one();
      return Status(
          ErrorCode::kResourceExhausted,
          "the disk under " + options_.dir + " is nearly full: " + std::to_string(free_bytes_) +
              " bytes free (min_free_disk_bytes " + std::to_string(options_.min_free_disk_bytes) +
              "); publishes to topics with history resume once space is freed");
    }
    if (wanted > options_.max_queued_bytes) {
      ++refused_;
      return Status(ErrorCode::kResourceExhausted,
                    "the history store is behind: " + std::to_string(queued_bytes_) +
                        " bytes wait for the disk (max_queued_bytes " +
                        std::to_string(options_.max_queued_bytes) + ")");
    }
    return Status::Ok();
  }

  // QueueStore (herald/queue_store.h): ops queued with the appends.
  std::vector<StoredQueue> TakeQueues() override { return std::move(queues_); }

  // One writer thread, one WriteBatch per group, in queue order, with the WAL.
  bool KeepsWriteOrder() const override { return true; }

  void PutQueue(const QueueOptions& q, uint64_t incarnation, std::string_view backfill) override {
    Op op;
    op.kind = Op::kWrite;
    op.puts.emplace_back(store::QueueKey(q.name), store::EncodeQueue(q, incarnation, backfill));
    QueueOp(std::move(op));
  }

  // RevocationStore (herald/revocation_store.h): written with the appends,
  // answered once committed.
  std::vector<Revocation> TakeRevocations() override { return std::move(revocations_); }

  void PutRevocation(const Revocation& r, std::function<void(Status)> done) override {
    Op op;
    op.kind = Op::kWrite;
    op.puts.emplace_back(store::RevocationKey(r), store::EncodeRevocation(r));
    op.done = std::move(done);
    std::unique_lock lock(mu_);
    if (failed_) {
      Status why(ErrorCode::kUnavailable, "the store failed (" + failure_ + ")");
      lock.unlock();
      op.done(std::move(why));
      return;
    }
    queue_.push_back(std::move(op));
    work_cv_.notify_one();
  }

  void DeleteRevocation(const Revocation& r) override {
    Op op;
    op.kind = Op::kWrite;
    op.deletes.push_back(store::RevocationKey(r));
    QueueOp(std::move(op));
  }

  void DeleteQueue(std::string_view name) override {
    Op op;
    op.kind = Op::kDeleteQueue;
    op.topic = std::string(name);
    QueueOp(std::move(op));
  }

  Status AppendWithJobs(const MessagePtr& m, const std::vector<JobRef>& jobs,
                        AppendCallback&& done) override {
    return AppendOp(m, std::move(done), JobPuts(*m, jobs));
  }

  Status PutJobs(const MessagePtr& m, const std::vector<JobRef>& jobs,
                 CommitCallback* done) override {
    Op op;
    op.kind = Op::kWrite;
    op.puts = JobPuts(*m, jobs);
    for (const auto& [k, v] : op.puts) op.cost += k.size() + v.size();
    std::lock_guard lock(mu_);
    if (Status s = AdmitLocked(op.cost); !s.ok()) return s;
    if (done) op.done = std::move(*done);
    queued_bytes_ += op.cost;
    queue_.push_back(std::move(op));
    work_cv_.notify_one();
    return Status::Ok();
  }

  void SetDeliveries(const JobRef& job, uint32_t deliveries) override {
    std::string v(4, '\0');
    for (int i = 0; i < 4; ++i)
      v[static_cast<size_t>(i)] = static_cast<char>(deliveries >> (24 - 8 * i));
    Op op;
    op.kind = Op::kWrite;
    op.puts.emplace_back(
        store::JobKey(store::kDeliveriesPrefix, job.queue, job.incarnation, job.seq), std::move(v));
    QueueOp(std::move(op));
  }

  void DeleteJob(const JobRef& job) override {
    Op op;
    op.kind = Op::kWrite;
    for (char prefix : {store::kJobPrefix, store::kDeliveriesPrefix}) {
      op.deletes.push_back(store::JobKey(prefix, job.queue, job.incarnation, job.seq));
    }
    QueueOp(std::move(op));
  }

  Status Append(const MessagePtr& m, AppendCallback&& done) override {
    return AppendOp(m, std::move(done), {});
  }

  // The keys and values of a message's jobs (one encoding for all).
  static std::vector<std::pair<std::string, std::string>> JobPuts(const Message& m,
                                                                  const std::vector<JobRef>& jobs) {
    std::vector<std::pair<std::string, std::string>> puts;
    if (jobs.empty()) return puts;
    const std::string value = store::EncodeJob(m);
    for (const JobRef& j : jobs) {
      puts.emplace_back(store::JobKey(store::kJobPrefix, j.queue, j.incarnation, j.seq), value);
    }
    return puts;
  }

  // An append, with `puts` (its jobs) in the same commit.
  Status AppendOp(const MessagePtr& m, AppendCallback&& done,
                  std::vector<std::pair<std::string, std::string>> puts) {
    size_t cost = QueuedCost(*m);
    for (const auto& [k, v] : puts) cost += k.size() + v.size();
    std::lock_guard lock(mu_);
    if (Status s = AdmitLocked(cost); !s.ok()) return s;
    auto [it, fresh] = last_.try_emplace(m->topic, Held{});
    Held& last = it->second;
    if (Status follows = CheckAppendFollows(last.epoch, last.last_offset, *m); !follows.ok()) {
      if (fresh) last_.erase(it);
      ++refused_;
      return follows;
    }
    if (m->epoch != last.epoch) last = Held{m->epoch, 0, 1, 0, 0};
    if (last.first_offset > last.last_offset) {
      last.first_offset = m->offset;
      last.first_timestamp_us = m->timestamp_us;
    }
    last.last_offset = m->offset;
    last.bytes += m->payload.size();
    if (!m->msg_id.empty()) oldest_id_us_ = std::min(oldest_id_us_, m->timestamp_us);
    Op op;
    op.kind = Op::kAppend;
    op.message = m;
    op.cost = cost;
    op.puts = std::move(puts);
    op.done = std::move(done);
    queue_.push_back(std::move(op));
    queued_bytes_ += cost;
    work_cv_.notify_one();
    return Status::Ok();
  }

  void Trim(std::string_view topic, uint64_t epoch, uint64_t first_kept) override {
    std::lock_guard lock(mu_);
    Op op;
    auto [it, fresh] = last_.try_emplace(std::string(topic), Held{});
    Held& held = it->second;
    // A newer epoch with nothing in it yet: its head is written with the
    // trim, so a restart before its first message does not go back to the
    // old one.
    if (epoch > held.epoch) {
      held = Held{epoch, first_kept - 1, first_kept, 0, 0};
      op.new_head = true;
    } else if (epoch == held.epoch && first_kept > held.first_offset) {
      // Bytes of the dropped range are not known here: they are counted
      // as held until the topic empties, which only makes retention by
      // bytes trim sooner.
      held.first_offset = std::min(first_kept, held.last_offset + 1);
      if (held.first_offset > held.last_offset) held.bytes = 0;
    }
    op.kind = Op::kTrim;
    op.topic = std::string(topic);
    op.epoch = epoch;
    op.first_kept = first_kept;
    queue_.push_back(std::move(op));
    work_cv_.notify_one();
  }

  void Retain(std::string_view topic, uint64_t epoch, const Retention& keep,
              RetainCallback&& done) override {
    {
      std::lock_guard lock(mu_);
      if (failed_) return;
      auto it = last_.find(std::string(topic));
      if (it == last_.end()) return;
      Held& held = it->second;
      if (held.epoch != epoch || held.retaining || held.first_offset > held.last_offset) return;
      const uint64_t count = held.last_offset - held.first_offset + 1;
      if (keep.KeepsAll(count, held.bytes, held.first_timestamp_us)) {
        return;  // nothing to drop: decided without a read
      }
      held.retaining = true;
    }
    std::lock_guard lock(read_mu_);
    ReadOp op;
    op.topic = std::string(topic);
    op.epoch = epoch;
    op.keep = keep;
    op.retained = std::move(done);
    // Retention is never refused: at most one per topic waits.
    reads_.push_back(std::move(op));
    read_cv_.notify_one();
  }

  void Forget(std::string_view topic) override {
    std::lock_guard lock(mu_);
    last_.erase(std::string(topic));
    Op op;
    op.kind = Op::kForget;
    op.topic = std::string(topic);
    queue_.push_back(std::move(op));
    work_cv_.notify_one();
  }

  void ExpireIds(int64_t before_us) override {
    std::lock_guard lock(mu_);
    // One range delete per sweep, and none while no id is old enough.
    if (oldest_id_us_ >= before_us) return;  // none stamped before it (or none at all)
    oldest_id_us_ = before_us;
    Op op;
    op.kind = Op::kExpireIds;
    op.before_us = before_us;
    queue_.push_back(std::move(op));
    work_cv_.notify_one();
  }

  Status Read(std::string_view topic, uint64_t epoch, uint64_t after_offset, size_t max_messages,
              size_t max_bytes, ReadCallback&& done) override {
    if (HasFailed()) {
      std::lock_guard lock(read_mu_);
      ++reads_refused_;
      return Status(ErrorCode::kUnavailable,
                    "the history store failed: restart heraldd to recover");
    }
    std::lock_guard lock(read_mu_);
    if (read_stopping_) {
      ++reads_refused_;
      return Status(ErrorCode::kUnavailable, "the history store is closing");
    }
    if (reads_.size() >= options_.max_pending_reads) {
      ++reads_refused_;
      return Status(ErrorCode::kResourceExhausted,
                    "the history store is behind: " + std::to_string(reads_.size()) +
                        " reads wait (max_pending_reads " +
                        std::to_string(options_.max_pending_reads) + ")");
    }
    reads_.push_back(
        ReadOp{std::string(topic), epoch, after_offset, max_messages, max_bytes, std::move(done)});
    read_cv_.notify_one();
    return Status::Ok();
  }

  HistoryStoreStats Stats() const override {
    HistoryStoreStats s;
    {
      std::lock_guard lock(mu_);
      s = stats_;
      s.appends_refused = refused_;
      s.queued_bytes = queued_bytes_;
      s.disk_bytes = disk_bytes_;
      s.disk_free_bytes = free_bytes_;
    }
    {
      std::lock_guard lock(read_mu_);
      s.reads = reads_done_;
      s.reads_refused = reads_refused_;
    }
    return s;
  }

  void Drain() override {
    {
      // Reads first: a retention queues its trim for the writer.
      std::unique_lock lock(read_mu_);
      read_drained_cv_.wait(lock, [this] { return reads_.empty() && !reading_; });
    }
    std::unique_lock lock(mu_);
    drained_cv_.wait(lock, [this] { return queue_.empty() && !writing_; });
  }

 private:
  struct Op {
    enum Kind {
      kAppend,
      kTrim,
      kForget,
      kExpireIds,
      // Work queues: `topic` is the queue's name.
      // Work queues: keys written and deleted (a queue's definition, jobs,
      // delivery counts); `done`, when set, once committed.
      kWrite,
      kDeleteQueue,  // `topic` is the queue's name: every key of it
    } kind = kAppend;
    // kAppend (its jobs), kWrite.
    std::vector<std::pair<std::string, std::string>> puts;
    std::vector<std::string> deletes;  // kWrite
    MessagePtr message;                // kAppend
    std::string topic;                 // kTrim, kForget
    uint64_t epoch = 0;                // kTrim
    uint64_t first_kept = 0;
    bool new_head = false;  // kTrim: the topic's head moves to (epoch, first_kept - 1)
    int64_t before_us = 0;  // kExpireIds
    size_t cost = 0;
    AppendCallback done;
  };

  // A read, or a retention (`retained` set): both are reads of a topic's
  // oldest messages, on the reader thread.
  struct ReadOp {
    std::string topic;
    uint64_t epoch = 0;
    uint64_t after_offset = 0;
    size_t max_messages = 0;
    size_t max_bytes = 0;
    ReadCallback done;
    Retention keep;
    RetainCallback retained;
  };

  // What the store holds of a topic: its head, and what retention needs.
  struct Held {
    uint64_t epoch = 0;
    uint64_t last_offset = 0;
    uint64_t first_offset = 1;  // last_offset + 1: nothing held
    uint64_t bytes = 0;         // payload bytes held (appended, not yet trimmed)
    int64_t first_timestamp_us = 0;
    bool retaining = false;  // a retention of it waits for the reader
  };

  // Messages one retention looks at: a larger excess goes over several
  // sweeps, so the reader is never held for long.
  static constexpr size_t kMaxRetainStep = 65536;

  // Upper bound of one group's queued bytes: a bigger backlog is committed
  // as several groups, so no WriteBatch grows without bound.
  static constexpr size_t kMaxGroupBytes = 4u << 20;

  std::string BootId() const {
    return options_.boot_id.empty() ? store::CurrentBootId() : options_.boot_id;
  }

  void WriterLoop() {
    using Clock = std::chrono::steady_clock;
    std::vector<Op> group;
    std::unique_lock lock(mu_);
    Clock::time_point measured{};
    Clock::time_point compacted{};
    for (;;) {
      work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty() || over_quota_; });
      if (over_quota_ && !stopping_) {
        over_quota_ = false;
        lock.unlock();
        MeasureDisk(measured, compacted, /*full=*/true);
        lock.lock();
        continue;
      }
      if (queue_.empty()) {
        if (stopping_) return;
        continue;
      }
      size_t bytes = 0;
      while (!queue_.empty() && (group.empty() || bytes < kMaxGroupBytes)) {
        bytes += queue_.front().cost;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      writing_ = true;
      lock.unlock();

      const Status status = Commit(group);
      uint64_t appended = 0;
      for (const Op& op : group) appended += op.kind == Op::kAppend;
      {
        // Counted before the publishers hear, so an acknowledged message is
        // already in the figures.
        std::lock_guard counted(mu_);
        unsynced_ = true;
        ++stats_.commits;
        (status.ok() ? stats_.appends : stats_.append_errors) += appended;
      }
      for (Op& op : group) {
        if (op.done) op.done(status);
      }
      group.clear();
      MeasureDisk(measured, compacted, /*full=*/false);

      lock.lock();
      queued_bytes_ -= bytes;
      writing_ = false;
      if (queue_.empty()) drained_cv_.notify_all();
    }
  }

  // Reader thread: reads one at a time, beside the writer (RocksDB reads
  // see what is committed; they never hold the writer up).
  void ReaderLoop() {
    std::unique_lock lock(read_mu_);
    for (;;) {
      read_cv_.wait(lock, [this] { return read_stopping_ || !reads_.empty(); });
      if (reads_.empty()) return;
      ReadOp op = std::move(reads_.front());
      reads_.pop_front();
      const bool closing = read_stopping_;
      reading_ = true;
      lock.unlock();
      if (op.retained) {
        if (!closing) RetainRange(op);
        op = ReadOp{};  // its callback's captures go before Drain returns
        lock.lock();
        reading_ = false;
        if (reads_.empty()) read_drained_cv_.notify_all();
        continue;
      }
      Result<StoreRead> r =
          closing
              ? Result<StoreRead>(Status(ErrorCode::kUnavailable, "the history store is closing"))
              : ReadRange(op);
      {
        // Counted before the reader hears, as appends are.
        std::lock_guard counted(read_mu_);
        ++reads_done_;
      }
      op.done(std::move(r));
      op = ReadOp{};
      lock.lock();
      reading_ = false;
      if (reads_.empty()) read_drained_cv_.notify_all();
    }
  }

  // Reader thread. The epoch's keys after `after_offset`, in key order.
  Result<StoreRead> ReadRange(const ReadOp& op) {
    if (HasFailed()) return Status(ErrorCode::kUnavailable, "the history store failed");
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    const std::string end = op.epoch == std::numeric_limits<uint64_t>::max()
                                ? store::MessageKeyEnd(op.topic)
                                : store::MessageKey(op.topic, op.epoch + 1, 0);
    const rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    StoreRead out;
    size_t bytes = 0;
    for (it->Seek(store::MessageKey(op.topic, op.epoch, op.after_offset + 1)); it->Valid();
         it->Next()) {
      if (out.messages.size() >= op.max_messages) {
        out.truncated = true;
        break;
      }
      std::optional<store::MessagePosition> at = store::ParseMessageKey(it->key().ToStringView());
      if (!at || at->topic != op.topic || at->epoch != op.epoch) break;
      Result<MessagePtr> m = store::DecodeMessage(*at, it->value().ToStringView());
      if (!m.ok()) {
        return Status(ErrorCode::kInternal,
                      "reading '" + op.topic + "' from the history store: " + m.status().message());
      }
      if (!out.messages.empty() && bytes + (*m)->payload.size() > op.max_bytes) {
        out.truncated = true;
        break;
      }
      bytes += (*m)->payload.size();
      out.messages.push_back(std::move(*m));
    }
    if (!it->status().ok()) {
      return Status(ErrorCode::kInternal, "reading '" + op.topic + "' from the history store: " +
                                              it->status().ToString());
    }
    return out;
  }

  // Reader thread. Finds the first message `op.keep` keeps, from the
  // topic's oldest, and queues the trim of what comes before it.
  void RetainRange(ReadOp& op) {
    uint64_t first = 0, last = 0, bytes = 0;
    {
      std::lock_guard lock(mu_);
      auto it = last_.find(op.topic);
      if (it == last_.end() || it->second.epoch != op.epoch) return;
      it->second.retaining = false;  // cleared first: a failed read is retried next sweep
      first = it->second.first_offset;
      last = it->second.last_offset;
      bytes = it->second.bytes;
    }
    if (HasFailed() || first > last) return;
    const uint64_t by_count =
        last >= op.keep.max_messages ? last - op.keep.max_messages + 1 : uint64_t{1};
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    const std::string end = store::MessageKey(op.topic, op.epoch, last + 1);
    const rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    uint64_t kept = first;  // the first offset kept
    uint64_t freed = 0;
    int64_t kept_stamp = std::numeric_limits<int64_t>::max();  // unknown: none read yet
    size_t looked = 0;
    for (it->Seek(store::MessageKey(op.topic, op.epoch, first));
         it->Valid() && looked < kMaxRetainStep; it->Next(), ++looked) {
      std::optional<store::MessagePosition> at = store::ParseMessageKey(it->key().ToStringView());
      if (!at || at->topic != op.topic || at->epoch != op.epoch) break;
      Result<MessagePtr> m = store::DecodeMessage(*at, it->value().ToStringView());
      if (!m.ok()) return;  // damage: reported by reads; retention waits
      const bool drop = at->offset < by_count || (*m)->timestamp_us < op.keep.min_timestamp_us ||
                        bytes - freed > op.keep.max_bytes;
      if (!drop) {
        kept_stamp = (*m)->timestamp_us;
        break;
      }
      freed += (*m)->payload.size();
      kept = at->offset + 1;
    }
    if (kept == first) return;
    // Stopped at kMaxRetainStep: the first kept one's stamp is not known,
    // so the next sweep looks again.
    if (kept_stamp == std::numeric_limits<int64_t>::max() && kept <= last) {
      kept_stamp = std::numeric_limits<int64_t>::min();
    }
    {
      std::lock_guard lock(mu_);
      auto held = last_.find(op.topic);
      if (held == last_.end() || held->second.epoch != op.epoch ||
          held->second.first_offset != first) {
        return;  // a new epoch or a trim meanwhile: the next sweep decides again
      }
      held->second.first_offset = kept;
      held->second.bytes -= std::min(freed, held->second.bytes);
      held->second.first_timestamp_us = kept_stamp;
      Op trim;
      trim.kind = Op::kTrim;
      trim.topic = op.topic;
      trim.epoch = op.epoch;
      trim.first_kept = kept;
      queue_.push_back(std::move(trim));
    }
    work_cv_.notify_one();
    op.retained(kept);
  }

  // Writer thread. One atomic batch: the messages, then each touched
  // topic's head as it stands after the group.
  Status Commit(std::vector<Op>& group) {
    {
      std::lock_guard lock(mu_);
      if (failed_) return Status(ErrorCode::kUnavailable, "the history store failed: " + failure_);
    }
    // Room for the whole group at once: grown append by append, the batch
    // reallocated and copied itself as it went.
    size_t room = 0;
    for (const Op& op : group) room += op.cost;
    rocksdb::WriteBatch batch(room);
    std::unordered_map<std::string_view, std::optional<Head>> heads;  // nullopt: forgotten
    // Appends go into the batch in key order (topic by topic; each topic's
    // already come in offset order), not in arrival order: the memtable's
    // skiplist then finds each insert's place from the previous one's
    // instead of searching from the top. With 16 topics interleaved that
    // search was 38% of the writer's time (18% sorted; PERFORMANCE.md, #16).
    // Only a run of appends between two other ops is reordered: a trim or
    // forget stays where it was among them.
    std::vector<const Message*> run;
    const auto put_run = [&] {
      std::stable_sort(run.begin(), run.end(),
                       [](const Message* a, const Message* b) { return a->topic < b->topic; });
      for (const Message* m : run) {
        // store::EncodeMessage in two parts: the payload is copied once,
        // into the batch, not into a string of its own first.
        const std::string key = store::MessageKey(m->topic, m->epoch, m->offset);
        const std::string before = store::EncodeMessageBeforePayload(*m);
        const rocksdb::Slice key_part(key);
        const rocksdb::Slice value_parts[] = {before, rocksdb::Slice(m->payload)};
        batch.Put(rocksdb::SliceParts(&key_part, 1), rocksdb::SliceParts(value_parts, 2));
        if (!m->msg_id.empty()) {
          batch.Put(store::DedupKey(m->timestamp_us, m->topic, m->msg_id),
                    store::EncodeHead({m->epoch, m->offset}));
        }
        heads[m->topic] = Head{m->epoch, m->offset};
      }
      run.clear();
    };
    for (const Op& op : group) {
      if (op.kind != Op::kAppend) put_run();
      switch (op.kind) {
        case Op::kAppend:
          run.push_back(op.message.get());
          for (const auto& [k, v] : op.puts) batch.Put(k, v);
          break;
        case Op::kExpireIds:
          batch.DeleteRange(store::DedupKeyAt(0), store::DedupKeyAt(op.before_us));
          break;
        case Op::kTrim: {
          batch.DeleteRange(store::MessageKey(op.topic, 0, 0),
                            store::MessageKey(op.topic, op.epoch, op.first_kept));
          if (op.new_head) heads[op.topic] = Head{op.epoch, op.first_kept - 1};
          break;
        }
        case Op::kForget:
          batch.DeleteRange(store::MessageKey(op.topic, 0, 0), store::MessageKeyEnd(op.topic));
          heads[op.topic] = std::nullopt;
          break;
        case Op::kWrite:
          for (const auto& [k, v] : op.puts) batch.Put(k, v);
          for (const std::string& k : op.deletes) batch.Delete(k);
          break;
        case Op::kDeleteQueue:
          batch.Delete(store::QueueKey(op.topic));
          for (char prefix : {store::kJobPrefix, store::kDeliveriesPrefix}) {
            batch.DeleteRange(store::JobKey(prefix, op.topic, 0, 0),
                              store::JobKeyEnd(prefix, op.topic));
          }
          break;
      }
    }
    put_run();
    for (const auto& [topic, head] : heads) {
      if (head) {
        batch.Put(store::HeadKey(topic), store::EncodeHead(*head));
      } else {
        batch.Delete(store::HeadKey(topic));
      }
    }
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync == DiskStoreOptions::Sync::kAlways;
    // After a failed write RocksDB's log may not be synced (see HasFailed),
    // and the syncer may be about to: where a write may fail for space, it
    // holds the syncer off until the failure is marked. Elsewhere (the
    // common case) the two run side by side.
    std::unique_lock gate(sync_mu_, std::defer_lock);
    if (options_.sync == DiskStoreOptions::Sync::kBatch && NearlyFull(batch.GetDataSize()))
      gate.lock();
    rocksdb::Status s = db_->Write(wo, &batch);
    if (s.ok()) {
      if (wo.sync) {
        std::lock_guard lock(mu_);
        ++stats_.syncs;
      }
      return Status::Ok();
    }
    return Fail("writing " + std::to_string(group.size()) + " records: " + s.ToString());
  }

  // Writer thread. Refreshes disk_bytes_ (at most every 100 ms). At the
  // quota (`full`), first compacts everything, at most every 5 s: range
  // deletes (trims, forgotten topics) free their space only once compacted.
  void MeasureDisk(std::chrono::steady_clock::time_point& measured,
                   std::chrono::steady_clock::time_point& compacted, bool full) {
    const auto now = std::chrono::steady_clock::now();
    if (HasFailed()) return;
    if (full && now - compacted >= std::chrono::seconds(5)) {
      compacted = now;
      rocksdb::CompactRangeOptions o;
      o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      (void)db_->Flush(rocksdb::FlushOptions());
      (void)db_->CompactRange(o, nullptr, nullptr);
    } else if (now - measured < std::chrono::milliseconds(100)) {
      return;
    }
    measured = now;
    const uint64_t bytes = store::DiskBytes(*db_);
    const Result<uint64_t> free = store::FreeBytes(options_.dir);
    if (free.status().code() == ErrorCode::kNotFound) {
      // Its directory removed under a running store: new log and table
      // files cannot be made there, so nothing more can be kept. Said as it
      // is, rather than "0 bytes free" from then on. (Any other error may
      // pass, a network filesystem's say: refused as full, measured again.)
      (void)Fail("its directory " + options_.dir + " cannot be used any more (" +
                 free.status().message() + "): was it removed?");
      return;
    }
    std::lock_guard lock(mu_);
    disk_bytes_ = bytes;
    free_bytes_ = free.ok() ? *free : 0;
  }

  // After a failure RocksDB's log writer is in an error state in which a
  // sync trips an assertion in Debian's build (found with a full tmpfs):
  // a failed store makes no RocksDB call but Close().
  bool HasFailed() const {
    std::lock_guard lock(mu_);
    return failed_;
  }

  // With sync = "batch": syncs the log every sync_interval when anything
  // was committed since the last sync. On a thread of its own, so that the
  // writer goes on committing meanwhile (RocksDB syncs the log beside
  // writes): on the writer, each sync held every publish for its length (an
  // HTTP p99 of 40-80 ms in make bench-store).
  void SyncerLoop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      sync_cv_.wait_for(lock, std::max(options_.sync_interval, std::chrono::milliseconds(1)),
                        [this] { return stopping_; });
      if (stopping_ || !unsynced_) continue;
      unsynced_ = false;
      lock.unlock();
      SyncLog();
      lock.lock();
    }
  }

  // Whether a write of `bytes` comes within a few groups of the disk's or
  // the quota's end, where a write may fail for space.
  bool NearlyFull(size_t bytes) const {
    std::lock_guard lock(mu_);
    const uint64_t margin = 4 * uint64_t{kMaxGroupBytes} + bytes;
    return free_bytes_ < options_.min_free_disk_bytes + margin ||
           disk_bytes_ + margin > options_.max_disk_bytes;
  }

  void SyncLog() {
    std::lock_guard gate(sync_mu_);  // never after a failed write (Commit)
    if (HasFailed()) return;
    rocksdb::Status s = db_->SyncWAL();
    if (!s.ok()) {
      (void)Fail("syncing the log: " + s.ToString());
      return;
    }
    std::lock_guard lock(mu_);
    ++stats_.syncs;
  }

  // A write or sync that failed leaves what is on disk unknown: the store
  // refuses everything from now on (HistoryStore's contract: no holes).
  Status Fail(std::string what) {
    std::lock_guard lock(mu_);
    if (!failed_) {
      failed_ = true;
      failure_ = std::move(what);
    }
    return Status(ErrorCode::kUnavailable, "the history store failed: " + failure_);
  }

  const DiskStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  const StoreRecovery recovery_;
  std::vector<StoredTopic> topics_;      // until the broker takes them
  std::vector<StoredQueue> queues_;      // until the broker takes them
  std::vector<Revocation> revocations_;  // likewise

  // A queue op, never refused: small (a definition, a count, a delete);
  // what bounds them is the jobs they are about.
  void QueueOp(Op op) {
    std::lock_guard lock(mu_);
    if (failed_) return;
    queue_.push_back(std::move(op));
    work_cv_.notify_one();
  }

 public:
  // At open: every stored queue with its jobs (OpenDiskStore). Keys of a
  // queue deleted since, or of an earlier incarnation of its name (a job
  // whose publish raced the delete), are deleted now.
  Status LoadQueues() {
    rocksdb::ReadOptions ro;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    std::map<std::string, size_t, std::less<>> index;
    const std::string q_prefix(1, store::kQueuePrefix);
    for (it->Seek(q_prefix); it->Valid() && it->key().starts_with(q_prefix); it->Next()) {
      const std::string name = it->key().ToString().substr(1);
      auto q = store::DecodeQueue(name, it->value().ToStringView());
      if (!q.ok()) return q.status();
      index[name] = queues_.size();
      queues_.push_back(std::move(*q));
    }
    std::set<std::string, std::less<>> gone;  // names with keys and no queue
    Op stray;
    stray.kind = Op::kWrite;
    // Whose a key is: the index of its queue, or none (then it goes).
    auto owner = [&](const store::JobPosition& p) -> std::optional<size_t> {
      auto q = index.find(p.queue);
      if (q == index.end()) {
        gone.emplace(p.queue);
        return std::nullopt;
      }
      if (queues_[q->second].incarnation != p.incarnation) {
        stray.deletes.push_back(it->key().ToString());
        return std::nullopt;
      }
      return q->second;
    };
    std::map<std::pair<size_t, uint64_t>, uint32_t> deliveries;
    const std::string p_prefix(1, store::kDeliveriesPrefix);
    for (it->Seek(p_prefix); it->Valid() && it->key().starts_with(p_prefix); it->Next()) {
      std::optional<store::JobPosition> p = store::ParseJobKey(it->key().ToStringView());
      const std::string_view v = it->value().ToStringView();
      if (!p || v.size() != 4) {
        return Status(ErrorCode::kInternal, "a stored delivery count is damaged");
      }
      std::optional<size_t> q = owner(*p);
      if (!q) continue;
      uint32_t n = 0;
      for (char c : v) n = (n << 8) | static_cast<uint8_t>(c);
      deliveries[{*q, p->seq}] = n;
    }
    const std::string j_prefix(1, store::kJobPrefix);
    for (it->Seek(j_prefix); it->Valid() && it->key().starts_with(j_prefix); it->Next()) {
      std::optional<store::JobPosition> p = store::ParseJobKey(it->key().ToStringView());
      if (!p) return Status(ErrorCode::kInternal, "a stored job's key is damaged");
      std::optional<size_t> q = owner(*p);
      if (!q) continue;
      Result<MessagePtr> m = store::DecodeJob(it->value().ToStringView());
      if (!m.ok()) return m.status();
      StoredJob job;
      job.seq = p->seq;
      job.message = std::move(*m);
      if (auto d = deliveries.find({*q, p->seq}); d != deliveries.end()) job.deliveries = d->second;
      queues_[*q].jobs.push_back(std::move(job));
    }
    if (!it->status().ok()) {
      return Status(ErrorCode::kInternal,
                    "reading the stored work queues: " + it->status().ToString());
    }
    it.reset();
    if (!stray.deletes.empty()) QueueOp(std::move(stray));
    for (const std::string& name : gone) DeleteQueue(name);
    return Status::Ok();
  }

  // At open: every kept revocation (OpenDiskStore).
  Status LoadRevocations() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string prefix(1, store::kRevocationPrefix);
    Op damaged;
    damaged.kind = Op::kWrite;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::optional<Revocation> r =
          store::DecodeRevocation(it->key().ToStringView(), it->value().ToStringView());
      if (r) {
        revocations_.push_back(std::move(*r));
        continue;
      }
      // One bad record must not keep the node from starting: it goes.
      damaged.deletes.push_back(it->key().ToString());
    }
    if (!it->status().ok()) {
      return Status(ErrorCode::kInternal,
                    "reading the stored revocations: " + it->status().ToString());
    }
    it.reset();
    if (!damaged.deletes.empty()) QueueOp(std::move(damaged));
    return Status::Ok();
  }

 private:
  std::thread writer_;
  std::thread reader_;
  std::thread syncer_;  // sync = "batch" only

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable drained_cv_;
  std::deque<Op> queue_;
  size_t queued_bytes_ = 0;
  uint64_t disk_bytes_ = 0;  // the store's files, as last measured (MeasureDisk)
  uint64_t free_bytes_ = 0;  // free on the filesystem, as last measured
  bool over_quota_ = false;  // an append was refused at max_disk_bytes or min_free_disk_bytes
  bool writing_ = false;
  bool stopping_ = false;
  std::condition_variable sync_cv_;  // wakes the syncer to stop
  std::mutex sync_mu_;               // a sync, or a write that may fail for space (Commit)
  bool unsynced_ = false;            // committed since the last sync
  bool failed_ = false;
  std::string failure_;
  // Each topic as appended: its last position, to refuse an append that
  // does not follow it (a second writer, or a bug) before it reaches the
  // disk, and what retention needs to decide without reading.
  std::unordered_map<std::string, Held> last_;
  HistoryStoreStats stats_;
  uint64_t refused_ = 0;
  // Reads (their own lock: a read never waits for the writer's).
  mutable std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::condition_variable read_drained_cv_;
  std::deque<ReadOp> reads_;
  bool reading_ = false;  // the reader thread is serving one
  bool read_stopping_ = false;
  uint64_t reads_done_ = 0;
  uint64_t reads_refused_ = 0;
  // No stored id is stamped before this (max: none stored).
  int64_t oldest_id_us_ = std::numeric_limits<int64_t>::max();
};

}  // namespace

Result<std::shared_ptr<HistoryStore>> OpenDiskStore(const DiskStoreOptions& options) {
  Result<store::OpenedDir> opened = store::OpenStoreDir(options);
  if (!opened.ok()) return opened.status();
  auto store = std::make_shared<DiskStore>(options, std::move(*opened));
  if (Status s = store->LoadQueues(); !s.ok()) return s;
  if (Status s = store->LoadRevocations(); !s.ok()) return s;
  return std::shared_ptr<HistoryStore>(std::move(store));
}

}  // namespace herald
