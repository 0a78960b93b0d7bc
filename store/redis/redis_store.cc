// The history store on Redis (include/herald/redis_store.h).
//
// Threads: Append, Trim, Retain, Forget, ExpireIds and Read run on any
// thread; they check what can be checked at once (the connection is up, the
// budgets, the position follows), queue the operation and wake the store's
// own loop (one wake-up for many operations). The loop sends them in order,
// pipelined: appends and retention on the write connection (runs of one
// topic's appends in one script), reads on the read connection, so that a
// large read never holds appends up. Every completion runs on that loop.
#include "herald/redis_store.h"
#include "herald/queue_store.h"
#include "herald/shared_history_store.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "io/loop.h"
#include "store/codec/record_codec.h"
#include "store/redis/connection.h"
#include "store/redis/continuity.h"
#include "store/redis/queue_records.h"
#include "store/redis/scripts.h"
#include "store/redis/sentinel.h"
#include "store/redis/sharded_store.h"
#include "store/redis/stream_entry.h"
#include "store/redis/topic_head.h"

namespace herald {
namespace {

using redis::Connection;
using redis::ConnectionState;
using redis::Reply;

// For the store's own script answers (always decimals): 0 if not.
uint64_t ToU64(std::string_view s) { return redis::ParseDecimal(s).value_or(0); }

// Lua 5.1 passes a call's arguments on a C stack of about 8,000 slots: a
// message's fields go to XADD as arguments.
constexpr size_t kMaxHeaders = 1000;

// Script indexes in ConnectionOptions::scripts (and script_shas()).
enum Script {
  kAppend,
  kDrop,
  kExpireIds,
  kForget,
  kContinuity,
  kClaim,
  kRelease,
  kExtend,
  kSettle,
  kReleaseEarlier,
  kPutJobs
};

class RedisStore final : public SharedHistoryStore, public QueueStore, public SharedQueueStore {
 public:
  // `map`: this server is shard `shard` of it (else the only one).
  RedisStore(RedisStoreOptions options, std::shared_ptr<const redis::ShardMap> map = nullptr,
             size_t shard = 0)
      : options_(std::move(options)), map_(std::move(map)), shard_(shard) {}

  ~RedisStore() override {
    Drain();
    loop_.RunSync([this] {
      writer_.reset();
      reader_.reset();
      sentinels_.reset();
    });
    loop_.Stop();
  }

  Status Open();

  const StoreRecovery& recovery() const override { return recovery_; }
  std::vector<StoredTopic> TakeTopics() override { return std::move(topics_); }

  Status Append(const MessagePtr& m, AppendCallback&& done) override {
    return AppendOp(m, std::move(done), {});
  }

  // QueueStore (herald/queue_store.h; the keys: store/redis/queue_records.h).
  std::vector<StoredQueue> TakeQueues() override { return std::move(queues_); }
  // One connection's pipeline, in order; but its queues are shared, and a
  // shared queue reads no history (QueueRegistry refuses a start).
  bool KeepsWriteOrder() const override { return true; }
  void PutQueue(const QueueOptions& q, uint64_t incarnation, std::string_view backfill) override {
    QueueDefinition(q.name, {{"HSET", redis::QueuesKey(options_.prefix), q.name,
                              store::EncodeQueue(q, incarnation, backfill)},
                             {"SADD", redis::QueueNamesKey(options_.prefix), q.name}});
  }
  // The name stays in P:wqs: a job whose publish raced the delete is found
  // at the next open, and goes with the name then.
  void DeleteQueue(std::string_view name) override {
    const redis::QueueKeys keys = redis::QueueKeysOf(options_.prefix, name);
    QueueDefinition(std::string(name),
                    {{"HDEL", redis::QueuesKey(options_.prefix), std::string(name)},
                     {"DEL", keys.jobs, keys.deliveries, keys.ready, keys.leased, keys.holders}});
  }
  Status AppendWithJobs(const MessagePtr& m, const std::vector<JobRef>& jobs,
                        HistoryStore::AppendCallback&& done) override {
    return AppendOp(m, std::move(done), jobs);
  }
  Status PutJobs(const MessagePtr& m, const std::vector<JobRef>& jobs,
                 CommitCallback* done) override {
    Op op;
    op.kind = Op::kCommands;
    op.cost = JobsCost(*m, jobs.size());
    const std::string job = store::EncodeJob(*m);
    if (shared()) {
      // One script: each job ready now on Redis's clock, atomically.
      op.script = kPutJobs;
      std::vector<std::string> keys, fields;
      for (const JobRef& j : jobs) {
        redis::QueueKeys k = redis::QueueKeysOf(options_.prefix, j.queue);
        keys.push_back(std::move(k.jobs));
        keys.push_back(std::move(k.ready));
        fields.push_back(FieldOf(*m, j));
      }
      std::vector<std::string> call = {"EVALSHA", "", std::to_string(keys.size())};
      call.insert(call.end(), keys.begin(), keys.end());
      call.push_back(job);
      call.insert(call.end(), fields.begin(), fields.end());
      op.commands.push_back(std::move(call));
    } else {
      op.commands.push_back({"MULTI"});
      for (const JobRef& j : jobs) {
        op.commands.push_back(
            {"HSET", redis::QueueKeysOf(options_.prefix, j.queue).jobs, FieldOf(*m, j), job});
      }
      op.commands.push_back({"EXEC"});
    }
    // durability = "replicated": acknowledged once the replicas have them,
    // as an append is (one WAIT of its own: these are the jobs of topics
    // without history, the rarer case).
    if (options_.wait_replicas > 0) {
      op.commands.push_back(WaitCommand());
      op.wait_last = true;
    }
    std::lock_guard lock(mu_);
    if (!writer_ready_) {
      ++stats_.appends_refused;
      return Down();
    }
    if (queued_bytes_ + op.cost > options_.max_queued_bytes) {
      ++stats_.appends_refused;
      return Behind();
    }
    if (done) op.committed = std::move(*done);
    queued_bytes_ += op.cost;
    Queue(std::move(op));
    return Status::Ok();
  }
  void SetDeliveries(const JobRef& job, uint32_t deliveries) override {
    if (!job.key.empty()) return;  // a shared queue's claims count
    JobCommands({{"HSET", redis::QueueKeysOf(options_.prefix, job.queue).deliveries,
                  redis::JobField(job.incarnation, job.seq), std::to_string(deliveries)}});
  }
  void DeleteJob(const JobRef& job) override {
    if (!job.key.empty()) return QueueScript(kSettle, job.queue, {job.key}, nullptr);
    const redis::QueueKeys keys = redis::QueueKeysOf(options_.prefix, job.queue);
    const std::string field = redis::JobField(job.incarnation, job.seq);
    JobCommands({{"HDEL", keys.jobs, field}, {"HDEL", keys.deliveries, field}});
  }

  // SharedQueueStore (on one server: a shard is not one).
  void Claim(std::string_view queue, std::string_view holder, size_t max,
             std::chrono::milliseconds lease, ClaimCallback done) override {
    QueueScript(kClaim, queue,
                {std::string(holder), std::to_string(max), std::to_string(Micros(lease))},
                [this, name = std::string(queue), done = std::move(done)](Result<Reply> r) {
                  uint64_t pending = 0;
                  done(ParseClaim(name, r, pending), pending);
                });
  }
  void Release(std::string_view queue, const std::string& key, std::string_view holder,
               std::chrono::milliseconds delay, bool uncount,
               const std::string& ready_at) override {
    QueueScript(kRelease, queue,
                {key, std::string(holder), std::to_string(Micros(delay)), uncount ? "1" : "0",
                 uncount ? ready_at : std::string()},
                nullptr);
  }
  void Extend(std::string_view queue, const std::string& key, std::string_view holder,
              std::chrono::milliseconds lease) override {
    QueueScript(kExtend, queue, {key, std::string(holder), std::to_string(Micros(lease))}, nullptr);
  }
  void ReleaseEarlier(std::string_view queue, std::string_view prefix,
                      std::string_view holder) override {
    QueueScript(kReleaseEarlier, queue, {std::string(prefix), std::string(holder)}, nullptr);
  }

  // Whether this store's queues are shared (one server, not a shard).
  bool shared() const { return map_ == nullptr; }

  // At open: every work queue record this server holds.
  Result<redis::QueueRecords> ReadQueues();
  // At open: what ReadQueues found that no queue owns goes.
  void DropStrays(const redis::QueueStrays& strays);

 private:
  static int64_t Micros(std::chrono::milliseconds d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  }

  // A job's field in its queue's hashes.
  std::string FieldOf(const Message& m, const JobRef& j) const {
    return shared() ? redis::SharedJobKey(m) : redis::JobField(j.incarnation, j.seq);
  }

  // A shared queue's script on the write connection (after everything
  // queued before it); `replied` (may be null) gets Redis's answer. One
  // that cannot be sent, or that Redis refuses, is counted in
  // append_errors: a release or an extension that did not happen ends as
  // a lease that runs out (the job is offered again), a settlement as a
  // job delivered again.
  void QueueScript(Script script, std::string_view queue, std::vector<std::string> args,
                   std::function<void(Result<Reply>)> replied) {
    const redis::QueueKeys keys = redis::QueueKeysOf(options_.prefix, queue);
    Op op;
    op.kind = Op::kCall;
    op.script = script;
    op.commands.push_back(
        {"EVALSHA", "", "5", keys.jobs, keys.deliveries, keys.ready, keys.leased, keys.holders});
    op.commands[0].insert(op.commands[0].end(), std::make_move_iterator(args.begin()),
                          std::make_move_iterator(args.end()));
    op.replied = std::move(replied);
    std::lock_guard lock(mu_);
    Queue(std::move(op));
  }

  // A claim's answer: {pending, {key, job, deliveries, ready since, ...}}.
  // A job that cannot be decoded is dropped (settled, counted in
  // append_errors): it could never be delivered, and left leased it would
  // come back in every claim, counting deliveries nobody made.
  Result<std::vector<ClaimedJob>> ParseClaim(const std::string& queue, const Result<Reply>& r,
                                             uint64_t& pending) {
    if (!r.ok()) return r.status();
    if (r->type != Reply::Type::kArray || r->elements.size() != 2 ||
        r->elements[1].type != Reply::Type::kArray || r->elements[1].elements.size() % 4 != 0) {
      return Status(ErrorCode::kUnavailable,
                    "redis answered a claim of work queue '" + queue + "' with " + r->Describe());
    }
    pending = static_cast<uint64_t>(std::max<int64_t>(r->elements[0].integer, 0));
    std::vector<ClaimedJob> jobs;
    const std::vector<Reply>& e = r->elements[1].elements;
    for (size_t i = 0; i + 3 < e.size(); i += 4) {
      Result<MessagePtr> m = store::DecodeJob(e[i + 1].str);
      if (!m.ok()) {
        {
          std::lock_guard lock(mu_);
          ++stats_.append_errors;
        }
        QueueScript(kSettle, queue, {e[i].str}, nullptr);
        continue;
      }
      ClaimedJob job;
      job.key = e[i].str;
      job.deliveries =
          static_cast<uint32_t>(std::clamp<int64_t>(e[i + 2].integer, 1, int64_t{UINT32_MAX}));
      job.message = std::move(*m);
      job.ready_at = e[i + 3].str;
      jobs.push_back(std::move(job));
    }
    return jobs;
  }

  // What a message and copies of it as `jobs` jobs hold while queued.
  static size_t JobsCost(const Message& m, size_t jobs) {
    return (m.payload.size() + m.topic.size() + 64) * jobs;
  }

  // mu_ held.
  Status Behind() const {
    return Status(ErrorCode::kResourceExhausted,
                  "the history store is behind: " + std::to_string(queued_bytes_) +
                      " bytes wait for redis (max_queued_bytes " +
                      std::to_string(options_.max_queued_bytes) + ")");
  }

  // A queue's definition written or deleted: never refused, and kept for
  // when Redis is back if it cannot be sent (a restart must not bring back
  // a deleted queue, nor lose a created one's jobs).
  void QueueDefinition(std::string name, std::vector<std::vector<std::string>> commands) {
    Op op;
    op.kind = Op::kCommands;
    op.topic = std::move(name);
    op.definition = true;
    op.commands = std::move(commands);
    std::lock_guard lock(mu_);
    Queue(std::move(op));
  }

  // A job's delivery count or settlement: small, never refused. One that
  // cannot be written (Redis down) is counted in append_errors; the job
  // then comes back after a restart with its last count written (a job is
  // delivered at least once, never lost).
  void JobCommands(std::vector<std::vector<std::string>> commands) {
    Op op;
    op.kind = Op::kCommands;
    op.commands = std::move(commands);
    std::lock_guard lock(mu_);
    Queue(std::move(op));
  }

 public:
  Status AppendOp(const MessagePtr& m, AppendCallback&& done, const std::vector<JobRef>& jobs) {
    const size_t cost = m->payload.size() + m->topic.size() + 64 + JobsCost(*m, jobs.size());
    if (m->headers.size() > kMaxHeaders) {
      return Status(ErrorCode::kInvalidArgument,
                    "a message with " + std::to_string(m->headers.size()) +
                        " headers: the history store on redis keeps at most " +
                        std::to_string(kMaxHeaders));
    }
    {
      std::lock_guard lock(mu_);
      if (!writer_ready_) {
        ++stats_.appends_refused;
        return Down();
      }
      if (queued_bytes_ + cost > options_.max_queued_bytes) {
        ++stats_.appends_refused;
        return Behind();
      }
      auto [it, fresh] = held_.try_emplace(m->topic);
      Held& h = it->second;
      Status follows = CheckAppendFollows(h.epoch, h.last_offset, *m);
      if (follows.ok() && h.failed && m->epoch == h.epoch) {
        follows = Status(ErrorCode::kUnavailable, "an earlier append to '" + m->topic +
                                                      "' failed: its epoch takes no more messages");
      }
      if (follows.ok() && h.unproven && m->epoch == h.epoch) {
        follows = Status(ErrorCode::kUnavailable,
                         "redis cannot show it holds the newest messages of '" + m->topic +
                             "' epoch " + std::to_string(h.epoch) +
                             " (its server came back without what it may have acknowledged): "
                             "the epoch takes no more messages, start a new one");
      }
      if (!follows.ok()) {
        if (fresh) held_.erase(it);
        ++stats_.appends_refused;
        return follows;
      }
      // A new epoch starts over the head this node knows, and only over it.
      const uint64_t base_epoch = h.epoch;
      if (m->epoch != h.epoch) h = Held{m->epoch, 0, 1, 0, 0};
      if (h.first_offset > h.last_offset) h.first_timestamp_us = m->timestamp_us;
      h.last_offset = m->offset;
      h.bytes += m->payload.size();
      Op op;
      op.kind = Op::kAppend;
      op.message = m;
      op.epoch = base_epoch;
      op.cost = cost;
      op.appended = std::move(done);
      op.jobs = jobs;
      queued_bytes_ += cost;
      Queue(std::move(op));
    }
    return Status::Ok();
  }

  void Trim(std::string_view topic, uint64_t epoch, uint64_t first_kept) override {
    std::lock_guard lock(mu_);
    Held& h = held_[std::string(topic)];
    if (epoch > h.epoch) {
      h = Held{epoch, first_kept - 1, first_kept, 0, 0};
    } else if (epoch == h.epoch && first_kept > h.first_offset) {
      h.first_offset = std::min(first_kept, h.last_offset + 1);
    }
    Op op;
    op.kind = Op::kDrop;
    op.topic = std::string(topic);
    op.epoch = epoch;
    op.first_kept = first_kept;
    op.keep = Retention{UINT64_MAX, UINT64_MAX, 0};
    Queue(std::move(op));
  }

  void Retain(std::string_view topic, uint64_t epoch, const Retention& keep,
              RetainCallback&& done) override {
    std::lock_guard lock(mu_);
    auto it = held_.find(std::string(topic));
    if (it == held_.end() || !writer_ready_) return;
    Held& h = it->second;
    if (h.epoch != epoch || h.retaining || h.first_offset > h.last_offset) return;
    if (keep.KeepsAll(h.last_offset - h.first_offset + 1, h.bytes, h.first_timestamp_us)) {
      return;  // nothing to drop: decided without a round trip
    }
    h.retaining = true;
    Op op;
    op.kind = Op::kDrop;
    op.topic = std::string(topic);
    op.epoch = epoch;
    op.first_kept = 0;
    op.keep = keep;
    op.retained = std::move(done);
    Queue(std::move(op));
  }

  void Forget(std::string_view topic) override {
    std::lock_guard lock(mu_);
    held_.erase(std::string(topic));
    Op op;
    op.kind = Op::kForget;
    op.topic = std::string(topic);
    Queue(std::move(op));
  }

  Status Load(std::string_view topic, LoadCallback&& done) override {
    std::lock_guard lock(mu_);
    if (!writer_ready_) {
      return Down();
    }
    Op op;
    op.kind = Op::kLoad;
    op.topic = std::string(topic);
    op.loaded = std::move(done);
    Queue(std::move(op));
    return Status::Ok();
  }

  void ExpireIds(int64_t before_us) override {
    std::lock_guard lock(mu_);
    Op op;
    op.kind = Op::kExpireIds;
    op.before_us = before_us;
    Queue(std::move(op));
  }

  Status Read(std::string_view topic, uint64_t epoch, uint64_t after_offset, size_t max_messages,
              size_t max_bytes, ReadCallback&& done) override {
    std::lock_guard lock(mu_);
    if (Status s = AdmitRead(); !s.ok()) return s;
    Op op;
    op.kind = Op::kRead;
    op.topic = std::string(topic);
    op.epoch = epoch;
    op.after = after_offset;
    op.max_messages = std::max<size_t>(max_messages, 1);
    op.max_bytes = max_bytes;
    op.read = std::move(done);
    Queue(std::move(op));
    return Status::Ok();
  }

  Status Head(std::string_view topic, LoadCallback&& done) override {
    std::lock_guard lock(mu_);
    if (!writer_ready_) {
      // Its continuity check may not have run (SendHead).
      ++stats_.reads_refused;
      return Down();
    }
    if (Status s = AdmitRead(); !s.ok()) return s;
    Op op;
    op.kind = Op::kHead;
    op.topic = std::string(topic);
    op.loaded = std::move(done);
    Queue(std::move(op));
    return Status::Ok();
  }

  HistoryStoreStats Stats() const override {
    std::lock_guard lock(mu_);
    HistoryStoreStats s = stats_;
    s.queued_bytes = queued_bytes_;
    s.reachable = writer_ready_ && reader_ready_;
    s.server = server_;
    return s;
  }

  void Drain() override {
    std::unique_lock lock(mu_);
    // blocking-ok: the broker's shutdown (or a test), never the store's loop.
    drained_cv_.wait(lock, [this] { return outstanding_ == 0; });
  }

 private:
  // What this node last appended to a topic: checks that appends follow,
  // and decides retention without a round trip when nothing is to go.
  struct Held {
    uint64_t epoch = 0;
    uint64_t last_offset = 0;
    uint64_t first_offset = 1;
    uint64_t bytes = 0;
    int64_t first_timestamp_us = 0;
    bool retaining = false;
    bool failed = false;  // an append of `epoch` failed: no later one is sent
    // Loaded with StoredTopic::epoch_unproven: `epoch` takes no more.
    bool unproven = false;
  };

  struct Op {
    enum Kind {
      kAppend,
      kDrop,
      kForget,
      kExpireIds,
      kRead,
      kLoad,
      kHead,
      kCommands,
      kCall
    } kind = kAppend;
    MessagePtr message;        // kAppend (epoch: the head's epoch before it)
    std::vector<JobRef> jobs;  // kAppend: its jobs, in its script
    size_t cost = 0;
    AppendCallback appended;
    std::string topic;
    uint64_t epoch = 0;
    uint64_t first_kept = 0;  // kDrop: a trim
    Retention keep;           // kDrop: retention
    RetainCallback retained;
    int64_t before_us = 0;  // kExpireIds
    uint64_t after = 0;     // kRead
    size_t max_messages = 0;
    size_t max_bytes = 0;
    ReadCallback read;
    LoadCallback loaded;  // kLoad, kHead
    // kCommands: sent in order; `committed` (may be null) runs once the
    // last answered. `definition`: a queue's (`topic`: its name), kept for
    // later when it cannot be sent.
    std::vector<std::vector<std::string>> commands;
    QueueStore::CommitCallback committed;
    bool definition = false;
    bool wait_last = false;  // the last command is a WAIT for the replicas
    // kCall: commands[0] runs `script` (its sha filled in when sent);
    // `replied` (may be null) gets the answer.
    int script = -1;
    std::function<void(Result<Reply>)> replied;
  };

  // A topic as Redis holds it, and what this node then knows of it.
  struct Fetched {
    StoredTopic topic;
    Held held;
  };

  // mu_ held. What a call refused while a connection is down answers.
  Status Down() const {
    return Status(ErrorCode::kUnavailable, "the history store is unavailable: " + down_why_);
  }

  // mu_ held. A read (or a head) may be sent: counted in pending_reads_.
  Status AdmitRead() {
    if (!reader_ready_) {
      ++stats_.reads_refused;
      return Down();
    }
    if (pending_reads_ >= options_.max_pending_reads) {
      ++stats_.reads_refused;
      return Status(ErrorCode::kResourceExhausted,
                    "too many history reads wait for redis (max_pending_reads " +
                        std::to_string(options_.max_pending_reads) + ")");
    }
    ++pending_reads_;
    return Status::Ok();
  }

  // Loop thread. A read (or a head) completed: its place is free.
  void ReadDone() {
    std::lock_guard lock(mu_);
    --pending_reads_;
    ++stats_.reads;
  }

  // mu_ held. One wake-up of the loop for everything queued before it runs.
  void Queue(Op op) {
    queue_.push_back(std::move(op));
    ++outstanding_;
    if (posted_) return;
    posted_ = true;
    loop_.Post([this] { Flush(); });
  }

  // mu_ not held. An operation's callback returned.
  void Finish(size_t n = 1) {
    std::lock_guard lock(mu_);
    outstanding_ -= n;
    if (outstanding_ == 0) drained_cv_.notify_all();
  }

  // durability = "replicated": appends acknowledged together once a WAIT
  // behind them says enough replicas have them (one round trip per group,
  // not per message). One WAIT is in flight at a time: Redis runs nothing
  // the connection sends behind a WAIT until it answers, so a second one
  // would only make the appends between them wait a whole timeout more.
  // Appends sent meanwhile gather for the next WAIT, sent when this one
  // answers (it covers everything the connection wrote before it).
  struct ReplicaWait {
    uint64_t id = 0;
    std::vector<std::pair<std::shared_ptr<std::vector<Op>>, Status>> runs;  // as answered
    size_t sent = 0;
  };

  // Loop thread: sends everything queued, in order.
  void Flush() {
    std::vector<Op> ops;
    {
      std::lock_guard lock(mu_);
      ops.swap(queue_);
      posted_ = false;
    }
    const bool replicated = options_.wait_replicas > 0;
    if (replicated && !gathering_) {
      gathering_ = std::make_shared<ReplicaWait>();
      gathering_->id = ++last_wait_id_;
    }
    for (size_t i = 0; i < ops.size();) {
      Op& op = ops[i];
      if (op.kind == Op::kAppend) {
        // A run of one topic's appends: one script.
        size_t j = i + 1;
        while (j < ops.size() && j - i < options_.max_batch && ops[j].kind == Op::kAppend &&
               ops[j].message->topic == op.message->topic &&
               ops[j].message->epoch == op.message->epoch &&
               ops[j].message->offset == ops[j - 1].message->offset + 1) {
          ++j;
        }
        SendAppends(std::make_move_iterator(ops.begin() + i),
                    std::make_move_iterator(ops.begin() + j), gathering_);
        i = j;
        continue;
      }
      switch (op.kind) {
        case Op::kDrop:
          SendDrop(std::move(op));
          break;
        case Op::kForget:
          SendForget(std::move(op));
          break;
        case Op::kExpireIds:
          SendExpireIds(op.before_us);
          break;
        case Op::kRead:
          SendRead(std::move(op));
          break;
        case Op::kHead:
          SendHead(std::move(op));
          break;
        case Op::kCommands:
          SendCommands(std::move(op));
          break;
        case Op::kCall:
          SendCall(std::move(op));
          break;
        case Op::kLoad:
          // A load must not complete before the appends made before it
          // (it sets the head they are checked against): with replicas, it
          // is sent once their WAIT has answered.
          if (replicated && (gathering_->sent > 0 || waiting_for_)) {
            loads_after_wait_.emplace_back(gathering_->sent > 0 ? gathering_->id : waiting_for_,
                                           std::move(op));
          } else {
            SendLoad(std::move(op));
          }
          break;
        case Op::kAppend:
          break;
      }
      ++i;
    }
    if (replicated) SendWaitIfDue();
  }

  // Loop thread: a WAIT for the appends gathered, unless one is in flight.
  void SendWaitIfDue() {
    if (waiting_for_ != 0 || !gathering_ || gathering_->sent == 0) return;
    std::shared_ptr<ReplicaWait> wait = std::move(gathering_);
    gathering_ = nullptr;
    waiting_for_ = wait->id;
    SendWait(std::move(wait));
  }

  // Loop thread: the WAIT for group `id` answered and its appends completed.
  void WaitAnswered(uint64_t id) {
    waiting_for_ = 0;
    std::vector<Op> due;
    while (!loads_after_wait_.empty() && loads_after_wait_.front().first <= id) {
      due.push_back(std::move(loads_after_wait_.front().second));
      loads_after_wait_.pop_front();
    }
    for (Op& op : due) SendLoad(std::move(op));
    SendWaitIfDue();
  }

  // Loop thread. Behind a Flush's appends: their acknowledgements wait for
  // the replicas. A group the replicas did not confirm in time is written
  // on the master, so it fails as "outcome unknown" (unavailable), as a
  // lost reply does: a retry with the same message id gets its position.
  void SendWait(std::shared_ptr<ReplicaWait> wait) {
    auto finish = [this, wait](const Status& replicated) {
      for (auto& [run, status] : wait->runs) {
        if (status.ok() && !replicated.ok()) {
          std::lock_guard lock(mu_);
          stats_.unreplicated += run->size();
        }
        CompleteAppends(*run, status.ok() ? replicated : status);
      }
      WaitAnswered(wait->id);
    };
    Status sent = writer_->Command(Views(WaitCommand()), [this, finish](Result<Reply> r) {
      finish(ReplicasConfirmed("the message", r,
                               ": the master holds it, retry with the same message id"));
    });
    // After the appends' own completions (their connection is being freed).
    if (!sent.ok()) loop_.Defer([finish, sent] { finish(sent); });
  }

  template <typename It>
  void SendAppends(It first, It last, const std::shared_ptr<ReplicaWait>& wait) {
    auto run = std::make_shared<std::vector<Op>>(first, last);
    const Message& head = *run->front().message;
    const redis::TopicKeys keys = redis::KeysOf(options_.prefix, head.topic);
    // The run's queues: KEYS 7 on (Lua counts from 1).
    std::vector<std::string> queues;
    for (const Op& op : *run) {
      for (const JobRef& j : op.jobs) {
        if (std::find(queues.begin(), queues.end(), j.queue) == queues.end())
          queues.push_back(j.queue);
      }
    }
    std::vector<std::string> args = {
        "EVALSHA",
        writer_->script_shas().empty() ? "" : writer_->script_shas()[kAppend],
        std::to_string(6 + queues.size()),
        keys.meta,
        keys.stream,
        keys.ids,
        redis::TopicsKey(options_.prefix),
        redis::IdsKey(options_.prefix),
        redis::LostKey(options_.prefix)};
    const size_t per_queue = shared() ? 2 : 1;  // its jobs (and its ready set)
    for (const std::string& q : queues) {
      redis::QueueKeys k = redis::QueueKeysOf(options_.prefix, q);
      args.push_back(std::move(k.jobs));
      if (shared()) args.push_back(std::move(k.ready));
    }
    args[2] = std::to_string(6 + queues.size() * per_queue);
    args.insert(args.end(), {head.topic, std::to_string(head.epoch), std::to_string(head.offset),
                             std::to_string(run->size()), std::to_string(run->front().epoch),
                             shared() ? "1" : "0"});
    for (const Op& op : *run) {
      args.push_back(std::to_string(op.message->timestamp_us));
      args.push_back(op.message->msg_id);
      redis::AppendFields(*op.message, args);
      args.push_back(std::to_string(op.jobs.size()));
      if (op.jobs.empty()) continue;
      args.push_back(store::EncodeJob(*op.message));
      for (const JobRef& j : op.jobs) {
        const size_t key = std::find(queues.begin(), queues.end(), j.queue) - queues.begin();
        args.push_back(std::to_string(7 + key * per_queue));
        args.push_back(FieldOf(*op.message, j));
      }
    }
    Status sent = writer_->Command(Views(args), [this, run, wait](Result<Reply> r) {
      MendScripts(r);
      if (wait) {
        wait->runs.emplace_back(run, AppendOutcome(r));
      } else {
        CompleteAppends(*run, AppendOutcome(r));
      }
    });
    if (sent.ok() && wait) ++wait->sent;
    // Commands still in flight on a connection being dropped complete when
    // it is freed, later in this loop turn: completed after them, in order.
    if (!sent.ok()) loop_.Defer([this, run, sent] { CompleteAppends(*run, sent); });
  }

  // Loop thread. Scripts gone from Redis's cache (SCRIPT FLUSH, or a
  // restart the connection did not notice): a new connection loads them.
  void MendScripts(const Result<Reply>& r) {
    if (r.ok() && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0)
      writer_->Reset("redis lost the store's scripts (" + r->str + ")");
  }

  static Status AppendOutcome(const Result<Reply>& r) {
    if (!r.ok()) return r.status();
    if (r->type == Reply::Type::kString && r->str == "OK") return Status::Ok();
    if (r->type == Reply::Type::kString && r->str.rfind("MISMATCH", 0) == 0) {
      return Status(ErrorCode::kInternal, "redis holds another head for the topic (" +
                                              r->str.substr(9) + "): another writer?");
    }
    if (r->type == Reply::Type::kString && r->str.rfind("UNPROVEN", 0) == 0) {
      return Status(ErrorCode::kUnavailable,
                    "redis cannot show it kept the newest messages of the topic's epoch (" +
                        r->str.substr(9) +
                        "; its server came back without what it may have acknowledged): the "
                        "epoch takes no more messages, a new one starts");
    }
    return Status(ErrorCode::kUnavailable, "redis refused an append: " + r->Describe());
  }

  void CompleteAppends(std::vector<Op>& run, const Status& status) {
    size_t cost = 0;
    for (const Op& op : run) cost += op.cost;
    {
      std::lock_guard lock(mu_);
      queued_bytes_ -= cost;
      if (status.ok()) {
        stats_.appends += run.size();
        ++stats_.commits;
      } else {
        stats_.append_errors += run.size();
        auto it = held_.find(run.front().message->topic);
        if (it != held_.end() && it->second.epoch == run.front().message->epoch)
          it->second.failed = true;
      }
    }
    for (Op& op : run) op.appended(status);
    Finish(run.size());
  }

  void SendDrop(Op op) {
    const redis::TopicKeys keys = redis::KeysOf(options_.prefix, op.topic);
    const std::vector<std::string> args = {
        "EVALSHA",
        writer_->script_shas().empty() ? "" : writer_->script_shas()[kDrop],
        "4",
        keys.meta,
        keys.stream,
        redis::TopicsKey(options_.prefix),
        redis::LostKey(options_.prefix),
        op.topic,
        std::to_string(op.epoch),
        std::to_string(op.first_kept),
        std::to_string(op.keep.max_messages),
        std::to_string(op.keep.max_bytes),
        std::to_string(op.keep.min_timestamp_us),
        std::to_string(kMaxDropStep)};
    auto shared = std::make_shared<Op>(std::move(op));
    Status sent = writer_->Command(Views(args), [this, shared](Result<Reply> r) {
      MendScripts(r);
      CompleteDrop(*shared, r);
      // A trim whose connection went first may not have run: again later
      // (a trim is idempotent).
      if (!r.ok() && !shared->retained) KeepForLater(*shared);
      Finish();
    });
    if (!sent.ok()) {
      if (shared->retained) {
        CompleteDrop(*shared, sent);  // retention: the next sweep tries again
      } else {
        KeepForLater(std::move(*shared));  // a trim: Redis must hear it
      }
      Finish();
    }
  }

  // Loop thread. A trim updates what is known of the topic's head; a
  // retention also ends its sweep and says what it dropped, if anything.
  void CompleteDrop(Op& op, const Result<Reply>& r) {
    const bool retention = static_cast<bool>(op.retained);
    const bool known = r.ok() && r->type == Reply::Type::kArray && r->elements.size() == 5;
    const uint64_t first = known ? ToU64(r->elements[0].str) : 0;
    const bool dropped = known && ToU64(r->elements[4].str) > 0;
    {
      std::lock_guard lock(mu_);
      auto it = held_.find(op.topic);
      if (it != held_.end() && it->second.epoch == op.epoch) {
        Held& h = it->second;
        if (retention) h.retaining = false;  // a failed sweep is tried again next time
        if (known) {
          // Appends made since the script ran are counted here already:
          // what it dropped is taken off, not its totals copied.
          const uint64_t seen_last = ToU64(r->elements[1].str);
          h.first_offset = std::max(h.first_offset, first);
          h.bytes -= std::min(h.bytes, ToU64(r->elements[2].str));
          if (first <= seen_last) {
            h.first_timestamp_us = static_cast<int64_t>(ToU64(r->elements[3].str));
          } else if (h.first_offset <= h.last_offset && dropped) {
            h.first_timestamp_us = 0;  // appended since: the next sweep reads it
          }
        }
      }
    }
    if (retention && dropped) op.retained(first);
  }

  // Loop thread. A trim, forget or queue definition the write connection
  // refused (Redis is down): sent first once it is back, or a restart would
  // bring back what the broker ended. A later one of the same topic (or
  // queue) supersedes it.
  void KeepForLater(Op op) {
    auto superseded = [&](const Op& earlier) {
      if (earlier.topic != op.topic) return false;
      // A queue's definitions are of another namespace than topics.
      if (earlier.kind == Op::kCommands || op.kind == Op::kCommands) return earlier.kind == op.kind;
      return op.kind == Op::kForget || earlier.kind == op.kind;
    };
    later_.erase(std::remove_if(later_.begin(), later_.end(), superseded), later_.end());
    later_.push_back(std::move(op));
  }

  // Loop thread, when the write connection is ready again.
  void SendKeptForLater() {
    std::vector<Op> ops;
    ops.swap(later_);
    {
      std::lock_guard lock(mu_);
      outstanding_ += ops.size();
    }
    for (Op& op : ops) {
      if (op.kind == Op::kForget) {
        SendForget(std::move(op));
      } else if (op.kind == Op::kCommands) {
        SendCommands(std::move(op));
      } else {
        SendDrop(std::move(op));
      }
    }
  }

  void SendForget(Op op) {
    const redis::TopicKeys keys = redis::KeysOf(options_.prefix, op.topic);
    const std::vector<std::string> args = {
        "EVALSHA",
        writer_->script_shas().empty() ? "" : writer_->script_shas()[kForget],
        "4",
        keys.meta,
        keys.stream,
        keys.ids,
        redis::TopicsKey(options_.prefix),
        op.topic};
    auto shared = std::make_shared<Op>(std::move(op));
    Status sent = writer_->Command(Views(args), [this, shared](Result<Reply> r) {
      MendScripts(r);
      if (!r.ok()) KeepForLater(*shared);  // it may not have run; forgetting is idempotent
      Finish();
    });
    if (!sent.ok()) {
      KeepForLater(std::move(*shared));
      Finish();
    }
  }

  // Loop thread. Work-queue records (queue_records.h): the commands in
  // order, done when the last answers; the first failure is the outcome.
  void SendCommands(Op op) {
    struct Sending {
      Op op;
      size_t left = 0;
      Status outcome = Status::Ok();
      bool unsent = false;  // a transport failure: it may not have run
    };
    if (op.definition) {
      // What was kept of the same queue is older: never sent after this.
      later_.erase(std::remove_if(later_.begin(), later_.end(),
                                  [&](const Op& kept) {
                                    return kept.kind == Op::kCommands && kept.topic == op.topic;
                                  }),
                   later_.end());
    }
    auto s = std::make_shared<Sending>();
    s->left = op.commands.size();
    s->op = std::move(op);
    // `transport`: the command may not have reached Redis (else Redis
    // answered it with an error, and sending it again later, behind newer
    // writes, could undo them).
    auto answered = [this, s](const Status& status, bool transport = false) {
      if (s->outcome.ok() && !status.ok()) s->outcome = status;
      if (transport) s->unsent = true;
      if (--s->left != 0) return;
      if (s->op.cost != 0) {
        std::lock_guard lock(mu_);
        queued_bytes_ -= s->op.cost;
      }
      if (s->op.committed) s->op.committed(s->outcome);
      if (!s->outcome.ok()) {
        if (s->op.definition && s->unsent) {
          // It may not have run; writing or deleting a definition again is
          // idempotent.
          KeepForLater(std::move(s->op));
        } else {
          std::lock_guard lock(mu_);
          ++stats_.append_errors;
        }
      }
      Finish();
    };
    // Copied: KeepForLater may take the op while later ones are sent.
    std::vector<std::vector<std::string>> commands = s->op.commands;
    if (s->op.script >= 0) {
      commands[0][1] = writer_->script_shas().empty() ? "" : writer_->script_shas()[s->op.script];
    }
    for (size_t i = 0; i < commands.size(); ++i) {
      const bool wait = s->op.wait_last && i + 1 == commands.size();
      Status sent = writer_->Command(Views(commands[i]), [this, answered, wait](Result<Reply> r) {
        MendScripts(r);  // a script's (PutJobs) NOSCRIPT: the connection reloads them
        if (!r.ok()) return answered(r.status(), /*transport=*/true);
        if (wait) {
          return answered(ReplicasConfirmed("the jobs", r,
                                            ": the master holds them, retry with the same "
                                            "message id"));
        }
        if (r->is_error()) {
          return answered(Status(ErrorCode::kUnavailable,
                                 "redis refused a work-queue record: " + r->Describe()));
        }
        // EXEC: nil when the transaction was dropped, else every answer.
        if (r->type == Reply::Type::kNil) {
          return answered(Status(ErrorCode::kUnavailable, "redis dropped a work-queue record"));
        }
        for (const Reply& e : r->elements) {
          if (e.is_error()) {
            return answered(Status(ErrorCode::kUnavailable,
                                   "redis refused a work-queue record: " + e.Describe()));
          }
        }
        answered(Status::Ok());
      });
      // Commands in flight on a connection being dropped complete when it
      // is freed: this one after them.
      if (!sent.ok()) loop_.Defer([answered, sent] { answered(sent, /*transport=*/true); });
    }
  }

  // Loop thread: a shared queue's script (QueueScript).
  void SendCall(Op op) {
    std::vector<std::string>& args = op.commands[0];
    if (op.script >= 0) {
      args[1] = writer_->script_shas().empty() ? "" : writer_->script_shas()[op.script];
    }
    auto replied = std::make_shared<std::function<void(Result<Reply>)>>(std::move(op.replied));
    auto answered = [this, replied](Result<Reply> r) {
      MendScripts(r);
      if (!r.ok() || r->is_error()) {
        std::lock_guard lock(mu_);
        ++stats_.append_errors;
      }
      if (*replied) {
        if (r.ok() && r->is_error()) {
          (*replied)(Status(ErrorCode::kUnavailable, "redis refused: " + r->Describe()));
        } else {
          (*replied)(std::move(r));
        }
      }
      Finish();
    };
    Status sent = writer_->Command(Views(args), answered);
    if (!sent.ok()) loop_.Defer([answered, sent] { answered(sent); });
  }

  // Bounded per call (a long script blocks every client of Redis): called
  // again while a call removes as many as it may.
  void SendExpireIds(int64_t before_us) {
    const std::vector<std::string> args = {
        "EVALSHA",
        writer_->script_shas().empty() ? "" : writer_->script_shas()[kExpireIds],
        "1",
        redis::IdsKey(options_.prefix),
        options_.prefix,
        std::to_string(before_us),
        std::to_string(kMaxDropStep)};
    Status sent = writer_->Command(Views(args), [this, before_us](Result<Reply> r) {
      MendScripts(r);
      if (r.ok() && r->type == Reply::Type::kInteger &&
          r->integer == static_cast<int64_t>(kMaxDropStep)) {
        {
          std::lock_guard lock(mu_);
          ++outstanding_;
        }
        SendExpireIds(before_us);
      }
      Finish();
    });
    if (!sent.ok()) Finish();
  }

  // After every append queued before it (one connection, in order): the
  // head it reads covers them, and this node's checks start from it.
  void SendLoad(Op op) {
    auto shared = std::make_shared<Op>(std::move(op));
    const std::string read_on = writer_->address();
    FetchTopic(shared->topic, /*must_exist=*/false, [this, shared, read_on](Result<Fetched> f) {
      if (!f.ok() || options_.wait_replicas == 0) return CompleteLoad(*shared, std::move(f));
      // durability = "replicated": what a load read is on the replicas
      // before it is used. Its message ids answer retries, and an append
      // whose WAIT timed out is on the master only: a retry answered from
      // it would be acknowledged without a replica.
      auto fetched = std::make_shared<Result<Fetched>>(std::move(f));
      ConfirmReplicated("what '" + shared->topic + "' holds", read_on,
                        [this, shared, fetched](Status confirmed) {
                          if (!confirmed.ok()) *fetched = std::move(confirmed);
                          CompleteLoad(*shared, std::move(*fetched));
                        });
    });
  }

  void CompleteLoad(Op& op, Result<Fetched> f) {
    if (f.ok()) {
      {
        std::lock_guard lock(mu_);
        held_[op.topic] = f->held;
      }
      op.loaded(std::move(f->topic));
    } else {
      op.loaded(f.status());
    }
    Finish();
  }

  // durability = "replicated": WAIT for the replicas, and its answer: Ok
  // when enough of them have every write made before it, else why `what`
  // is not known to be on them (then `advice`).
  std::vector<std::string> WaitCommand() const {
    return {"WAIT", std::to_string(options_.wait_replicas),
            std::to_string(options_.wait_timeout.count())};
  }
  Status ReplicasConfirmed(const std::string& what, const Result<Reply>& r,
                           std::string_view advice = "") const {
    if (!r.ok()) return r.status();
    if (r->type == Reply::Type::kInteger && r->integer >= options_.wait_replicas) {
      return Status::Ok();
    }
    return Status(ErrorCode::kUnavailable,
                  "redis did not confirm " + what + " on " +
                      std::to_string(options_.wait_replicas) + " replica(s) within " +
                      std::to_string(options_.wait_timeout.count()) + " ms (WAIT answered " +
                      r->Describe() + ")" + std::string(advice));
  }
  // The answer to the write sent before a WAIT confirming reads: a write
  // refused (out of memory, an ACL) moves nothing, and the WAIT would then
  // cover only older writes.
  static Status WroteForWait(const Result<Reply>& r) {
    if (!r.ok()) return r.status();
    if (r->type == Reply::Type::kInteger) return Status::Ok();
    return Status(ErrorCode::kUnavailable,
                  "redis refused the write a WAIT for the replicas needs: " + r->Describe());
  }

  void SendRead(Op op) {
    const redis::TopicKeys keys = redis::KeysOf(options_.prefix, op.topic);
    const std::vector<std::string> args = {
        "EVALSHA",
        reader_->script_shas().empty() ? "" : reader_->script_shas()[0],
        "1",
        keys.stream,
        "(" + std::to_string(op.epoch) + "-" + std::to_string(op.after),
        std::to_string(op.epoch),  // to the epoch's last offset
        std::to_string(op.max_messages),
        std::to_string(op.max_bytes)};
    auto shared = std::make_shared<Op>(std::move(op));
    Status sent = reader_->Command(Views(args), [this, shared](Result<Reply> r) {
      if (r.ok() && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0)
        reader_->Reset("redis lost the store's read script (" + r->str + ")");
      CompleteRead(*shared, std::move(r));
    });
    if (!sent.ok()) CompleteRead(*shared, sent);
  }

  void CompleteRead(Op& op, Result<Reply> r) {
    Result<StoreRead> out = Status(ErrorCode::kInternal, "");
    if (!r.ok()) {
      out = r.status();
    } else if (r->type != Reply::Type::kArray || r->elements.size() != 2 ||
               r->elements[1].type != Reply::Type::kArray) {
      out = Status(ErrorCode::kUnavailable, "redis refused a history read: " + r->Describe());
    } else {
      // The script kept to the count and the byte budget.
      StoreRead read;
      read.truncated = r->elements[0].integer != 0;
      Status bad = Status::Ok();
      for (const Reply& entry : r->elements[1].elements) {
        Result<MessagePtr> m = redis::MessageFromEntry(op.topic, entry);
        if (!m.ok()) {
          bad = m.status();
          break;
        }
        read.messages.push_back(std::move(*m));
      }
      if (bad.ok()) {
        out = std::move(read);
      } else {
        out = bad;
      }
    }
    ReadDone();
    op.read(std::move(out));
    Finish();
  }

  // A head being read (SendHead): the answer once every reply is in.
  struct HeadRead {
    Op op;
    StoredTopic topic;
    uint64_t lost = 0;
    Status error = Status::Ok();
    size_t pending = 1;  // the sender's own turn, then one per reply awaited
  };

  // Loop thread. On the read connection, so no append waits behind it: the
  // head's P:lost, then its hash (replies come in order). Only once the
  // write connection is ready on the same server: its prepare step (the
  // continuity check) has then raised P:lost if the server cannot show it
  // kept what was acknowledged. With replicas, answered once a WAIT behind
  // the reads confirms (ConfirmReplicated).
  void SendHead(Op op) {
    auto h = std::make_shared<HeadRead>();
    h->op = std::move(op);
    h->topic.name = h->op.topic;
    bool ready;
    {
      std::lock_guard lock(mu_);
      ready = writer_ready_;
      if (!ready) h->error = Down();
    }
    if (ready && writer_->address() != reader_->address()) {
      h->error =
          Status(ErrorCode::kUnavailable,
                 "the history store is unavailable: its connections are on two servers (" +
                     writer_->address() + ", " + reader_->address() + "): a failover is under way");
    }
    SendForHead(h, {"GET", redis::LostKey(options_.prefix)}, [h](Result<Reply> r) {
      Result<uint64_t> lost = redis::ParseLost(r);
      if (!lost.ok()) return FailHead(*h, lost.status());
      h->lost = *lost;
    });
    SendForHead(h, redis::HeadCommand(redis::KeysOf(options_.prefix, h->topic.name).meta),
                [h](Result<Reply> r) {
                  Result<std::optional<redis::TopicHead>> head = redis::ParseHead(h->topic.name, r);
                  if (!head.ok()) return FailHead(*h, head.status());
                  if (!*head) return;  // never held: epoch 0
                  StoredTopic& t = h->topic;
                  t.epoch = (*head)->epoch;
                  t.last_offset = (*head)->last_offset;
                  t.first_offset = (*head)->first_offset;
                  t.epoch_unproven = (*head)->Unproven(h->lost);
                });
    HeadStep(h);
  }

  // Sends one command of a head's read; nothing more once one could not be.
  void SendForHead(const std::shared_ptr<HeadRead>& h, const std::vector<std::string>& args,
                   std::function<void(Result<Reply>)> got) {
    if (!h->error.ok()) return;
    Status sent = reader_->Command(Views(args), [this, h, got](Result<Reply> r) {
      got(std::move(r));
      HeadStep(h);
    });
    if (sent.ok()) {
      ++h->pending;
    } else {
      FailHead(*h, std::move(sent));
    }
  }

  static void FailHead(HeadRead& h, Status s) {
    if (h.error.ok()) h.error = std::move(s);
  }

  // One reply (or the sender's turn) is in; after the last, the head is
  // answered (with replicas, once they confirm what it read).
  void HeadStep(const std::shared_ptr<HeadRead>& h) {
    if (--h->pending != 0) return;
    auto answer = [this, h](Status confirmed) {
      FailHead(*h, std::move(confirmed));
      ReadDone();
      if (h->error.ok()) {
        h->op.loaded(std::move(h->topic));
      } else {
        h->op.loaded(std::move(h->error));
      }
      Finish();
    };
    if (options_.wait_replicas == 0 || !h->error.ok()) return answer(Status::Ok());
    ConfirmReplicated("what '" + h->topic.name + "' holds", reader_->address(), std::move(answer));
  }

  // Loop thread, durability = "replicated". `done` runs with Ok once the
  // replicas have every write that reads completed before the call saw, by
  // any node: a write on the read connection after them, then a WAIT
  // behind it (Redis has one replication stream, and a WAIT waits for the
  // connection's own last write). One WAIT in flight at a time, as for
  // appends (Redis runs nothing sent behind a WAIT until it answers): what
  // comes meanwhile shares the next one.
  // `read_on`: the server the reads went to; the WAIT must be sent there
  // (during a failover the two connections may be on two servers).
  void ConfirmReplicated(std::string what, std::string read_on, std::function<void(Status)> done) {
    confirm_next_.push_back({std::move(what), std::move(read_on), std::move(done)});
    if (!confirm_sent_) SendConfirm();
  }

  void SendConfirm() {
    auto group = std::make_shared<std::vector<Confirm>>();
    const std::string here = reader_->address();
    for (Confirm& c : std::exchange(confirm_next_, {})) {
      if (c.read_on == here) {
        group->push_back(std::move(c));
      } else {
        c.done(Status(ErrorCode::kUnavailable, "the history store is unavailable: " + c.what +
                                                   " was read on " + c.read_on +
                                                   " and its replicas would be asked on " + here +
                                                   ": a failover is under way"));
      }
    }
    if (group->empty()) return;
    auto wrote = std::make_shared<Status>(Status::Ok());
    Status sent =
        reader_->Command(Views({"HINCRBY", redis::WriterKey(options_.prefix), "confirms", "1"}),
                         [wrote](Result<Reply> r) { *wrote = WroteForWait(r); });
    if (sent.ok()) {
      sent = reader_->Command(Views(WaitCommand()), [this, group, wrote](Result<Reply> r) {
        confirm_sent_ = false;
        for (Confirm& c : *group) c.done(wrote->ok() ? ReplicasConfirmed(c.what, r) : *wrote);
        if (!confirm_next_.empty()) SendConfirm();
      });
    }
    if (sent.ok()) {
      confirm_sent_ = true;
      return;
    }
    for (Confirm& c : *group) c.done(sent);
  }

  static std::vector<std::string_view> Views(const std::vector<std::string>& args) {
    return std::vector<std::string_view>(args.begin(), args.end());
  }

  // Loop thread: every change of a connection's state.
  void OnState(bool writer, ConnectionState s, const std::string& why) {
    {
      std::lock_guard lock(mu_);
      bool& ready = writer ? writer_ready_ : reader_ready_;
      if (ready && s != ConnectionState::kReady) ++stats_.disconnects;
      ready = s == ConnectionState::kReady;
      if (!why.empty()) down_why_ = why;
      if (writer && ready) server_ = writer_->address();
      state_cv_.notify_all();
    }
    // Before anything queued meanwhile (the loop runs Flush later).
    if (writer && s == ConnectionState::kReady && !later_.empty()) SendKeptForLater();
  }

  // Loop thread: the write connection's prepare step.
  void CheckContinuity(const redis::PrepareSend& send, std::function<void(Status)> done) {
    redis::ContinuityOptions o;
    o.script_sha = writer_->script_shas()[kContinuity];
    o.prefix = options_.prefix;
    o.address = writer_->where().ToString();
    o.wait_replicas = options_.wait_replicas;
    o.record_timeout =
        std::min<std::chrono::milliseconds>(options_.connect_timeout / 2, std::chrono::seconds(1));
    redis::CheckContinuity(
        send, o, [this, done = std::move(done)](Result<redis::Continuity> checked) {
          if (!checked.ok()) {
            return done(Status(ErrorCode::kUnavailable,
                               "cannot check what redis holds: " + checked.status().message()));
          }
          if (!checked->why.empty()) {
            std::lock_guard lock(mu_);
            ++stats_.tails_unproven;
            stats_.last_unproven = writer_->address() + ": " + checked->why;
          }
          done(Status::Ok());
        });
  }

  Status Load();
  void FetchTopic(const std::string& topic, bool must_exist,
                  std::function<void(Result<Fetched>)> done);
  Status CheckDurable();
  Result<bool> ShardMapWritten();
  Status CheckShardTopics();

 public:
  // Opening a sharded store: after every shard opened (RedisStore::Open).
  Status ClaimShard();

 private:
  // The master's address once connected, else what the options name.
  std::string Where() const;
  Result<Reply> CallNow(std::vector<std::string> args);

  static constexpr size_t kMaxDropStep = 1000;

  const RedisStoreOptions options_;
  const std::shared_ptr<const redis::ShardMap> map_;
  const size_t shard_;
  io::Loop loop_;
  std::unique_ptr<Connection> writer_;           // loop thread
  std::unique_ptr<Connection> reader_;           // loop thread
  std::unique_ptr<redis::Sentinels> sentinels_;  // loop thread; with RedisStoreOptions::sentinels
  std::vector<Op> later_;                        // loop thread: trims and forgets Redis must hear
  // Loop thread, with wait_replicas: appends not yet behind a WAIT, the
  // group whose WAIT is in flight (0: none), and loads held until the WAIT
  // of the group before them answered.
  std::shared_ptr<ReplicaWait> gathering_;
  uint64_t last_wait_id_ = 0;
  uint64_t waiting_for_ = 0;
  std::deque<std::pair<uint64_t, Op>> loads_after_wait_;
  // Loop thread, with wait_replicas: whether a WAIT confirming reads is in
  // flight on the read connection, and the reads the next one confirms
  // (ConfirmReplicated).
  struct Confirm {
    std::string what;     // for the error: "what 'T' holds"
    std::string read_on;  // the server the reads went to
    std::function<void(Status)> done;
  };
  bool confirm_sent_ = false;
  std::vector<Confirm> confirm_next_;
  StoreRecovery recovery_;
  std::vector<StoredTopic> topics_;
  std::vector<StoredQueue> queues_;  // until the broker takes them

  mutable std::mutex mu_;
  std::condition_variable drained_cv_;
  std::condition_variable state_cv_;
  bool writer_ready_ = false;
  bool reader_ready_ = false;
  std::string down_why_ = "not connected yet";
  std::string server_;  // the write connection's address, once ready
  std::vector<Op> queue_;
  bool posted_ = false;
  size_t queued_bytes_ = 0;
  size_t pending_reads_ = 0;
  uint64_t outstanding_ = 0;
  std::unordered_map<std::string, Held> held_;
  HistoryStoreStats stats_;
};

std::string RedisStore::Where() const {
  const std::string shard = map_ ? " (shard '" + map_->names()[shard_] + "')" : "";
  {
    std::lock_guard lock(mu_);
    if (!server_.empty()) return "redis " + server_ + shard;
  }
  if (options_.sentinels.empty())
    return "redis " + redis::Endpoint{options_.host, options_.port}.ToString() + shard;
  std::string list;
  for (const std::string& s : options_.sentinels) list += (list.empty() ? "" : ", ") + s;
  return "redis master '" + options_.sentinel_master + "' (sentinels " + list + ")" + shard;
}

Status RedisStore::Open() {
  std::vector<redis::Endpoint> sentinels;
  for (const std::string& text : options_.sentinels) {
    Result<redis::Endpoint> e = redis::ParseEndpoint(text);
    if (!e.ok()) return Status(ErrorCode::kInvalidArgument, "a sentinel: " + e.status().message());
    sentinels.push_back(*e);
  }
  if (!sentinels.empty() && options_.sentinel_master.empty())
    return Status(ErrorCode::kInvalidArgument, "sentinels need the master's name");
  if (options_.wait_replicas < 0 ||
      (options_.wait_replicas > 0 && options_.wait_timeout.count() < 1))
    return Status(ErrorCode::kInvalidArgument,
                  "wait_replicas must be 0 or more, with a wait_timeout of 1 ms or more "
                  "(WAIT 0 would wait for ever)");
  // Appends sent behind a WAIT wait for it in Redis: within their own
  // command timeout only if the WAIT's is shorter.
  if (options_.wait_replicas > 0 && options_.wait_timeout >= options_.command_timeout)
    return Status(ErrorCode::kInvalidArgument,
                  "the replicas' wait_timeout (" + std::to_string(options_.wait_timeout.count()) +
                      " ms) must be shorter than command_timeout (" +
                      std::to_string(options_.command_timeout.count()) +
                      " ms): appends queued behind a WAIT would time out");
  if (Status s = loop_.Start(); !s.ok()) return s;
  redis::ConnectionOptions c;
  c.host = options_.host;
  c.port = options_.port;
  c.user = options_.user;
  c.password = options_.password;
  c.client_name = options_.client_name;
  c.connect_timeout = options_.connect_timeout;
  c.command_timeout = options_.command_timeout;
  c.scripts = {redis::kAppendScript,         redis::kDropScript,       redis::kExpireIdsScript,
               redis::kForgetScript,         redis::kContinuityScript, redis::kClaimScript,
               redis::kReleaseScript,        redis::kExtendScript,     redis::kSettleScript,
               redis::kReleaseEarlierScript, redis::kPutJobsScript};
  // Before the write connection serves anything: whether this master holds
  // every append acknowledged before (continuity.h).
  c.prepare = [this](const redis::PrepareSend& send, std::function<void(Status)> done) {
    CheckContinuity(send, std::move(done));
  };
  loop_.RunSync([&] {
    if (!sentinels.empty()) {
      redis::SentinelOptions so;
      so.sentinels = sentinels;
      so.master_name = options_.sentinel_master;
      so.user = options_.sentinel_user;
      so.password = options_.sentinel_password;
      so.connect_timeout = options_.connect_timeout;
      so.command_timeout = options_.command_timeout;
      so.poll_interval = options_.sentinel_poll_interval;
      sentinels_ = std::make_unique<redis::Sentinels>(loop_, std::move(so),
                                                      [this](const redis::Endpoint& master) {
                                                        {
                                                          std::lock_guard lock(mu_);
                                                          ++stats_.failovers;
                                                        }
                                                        writer_->Relocate(master);
                                                        reader_->Relocate(master);
                                                      });
      sentinels_->Start();
      c.locate = sentinels_->Locator();
    }
    writer_ = std::make_unique<Connection>(
        loop_, c, [this](ConnectionState s, const std::string& why) { OnState(true, s, why); });
    c.client_name += "-reader";
    c.scripts = {redis::kReadScript};
    c.prepare = nullptr;
    reader_ = std::make_unique<Connection>(
        loop_, c, [this](ConnectionState s, const std::string& why) { OnState(false, s, why); });
    writer_->Start();
    reader_->Start();
  });
  {
    std::unique_lock lock(mu_);
    // blocking-ok: opening runs before the broker starts, on its caller.
    const bool up = state_cv_.wait_for(lock, options_.connect_timeout + std::chrono::seconds(1),
                                       [this] { return writer_ready_ && reader_ready_; });
    if (!up) {
      const std::string why = down_why_;
      lock.unlock();
      return Status(ErrorCode::kUnavailable,
                    "cannot open the history store at " + Where() + ": " + why);
    }
  }
  if (options_.require_durable) {
    if (Status s = CheckDurable(); !s.ok()) return s;
  }
  Result<bool> written = ShardMapWritten();
  if (!written.ok()) return written.status();
  if (Status s = Load(); !s.ok()) return s;
  if (map_) return CheckShardTopics();  // OpenRedisStore assembles the shards' queues
  Result<redis::QueueRecords> records = ReadQueues();
  if (!records.ok()) return records.status();
  std::vector<redis::QueueRecords> servers;
  servers.push_back(std::move(*records));
  std::vector<redis::QueueStrays> strays;
  queues_ = redis::AssembleQueues(std::move(servers), strays);
  DropStrays(strays[0]);
  return Status::Ok();
}

// Before the broker starts: round trips on the caller's thread (CallNow).
// Jobs are read a page at a time (HSCAN), so no reply holds a whole queue.
Result<redis::QueueRecords> RedisStore::ReadQueues() {
  redis::QueueRecords out;
  auto failed = [&](const std::string& what, const Result<Reply>& r) {
    return Status(ErrorCode::kUnavailable, "cannot load the work queues from " + Where() + ": " +
                                               what + ": " +
                                               (r.ok() ? r->Describe() : r.status().message()));
  };
  // Every field of a hash, a page at a time (no reply holds a whole queue).
  auto scan = [&](const std::string& key, const std::string& what,
                  const std::function<Status(const std::string&, const std::string&)>& each) {
    std::string cursor = "0";
    do {
      Result<Reply> page = CallNow({"HSCAN", key, cursor, "COUNT", "256"});
      if (!page.ok() || page->type != Reply::Type::kArray || page->elements.size() != 2 ||
          page->elements[1].type != Reply::Type::kArray) {
        return failed(what, page);
      }
      cursor = page->elements[0].str;
      const std::vector<Reply>& kv = page->elements[1].elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2) {
        if (Status s = each(kv[i].str, kv[i + 1].str); !s.ok()) return s;
      }
    } while (cursor != "0");
    return Status::Ok();
  };
  Result<Reply> defs = CallNow({"HGETALL", redis::QueuesKey(options_.prefix)});
  if (!defs.ok() || defs->type != Reply::Type::kArray) return failed("their definitions", defs);
  for (size_t i = 0; i + 1 < defs->elements.size(); i += 2) {
    const std::string& name = defs->elements[i].str;
    auto q = store::DecodeQueue(name, defs->elements[i + 1].str);
    if (!q.ok()) {
      return Status(ErrorCode::kInternal, q.status().message() + " (in " + Where() + ", key " +
                                              redis::QueuesKey(options_.prefix) +
                                              "): delete that field to drop the queue");
    }
    out.definitions[name] = std::move(*q);
  }
  Result<Reply> names = CallNow({"SMEMBERS", redis::QueueNamesKey(options_.prefix)});
  if (!names.ok() || names->type != Reply::Type::kArray) return failed("their names", names);
  for (const Reply& n : names->elements) out.names.push_back(n.str);
  // Jobs may be kept under a defined name whose SADD did not land.
  std::set<std::string> named(out.names.begin(), out.names.end());
  for (const auto& [name, def] : out.definitions) named.insert(name);
  for (const std::string& name : named) {
    const redis::QueueKeys keys = redis::QueueKeysOf(options_.prefix, name);
    if (shared()) {
      // Its jobs stay in Redis, claimed as members can take them.
      Result<Reply> n = CallNow({"HLEN", keys.jobs});
      if (!n.ok() || n->type != Reply::Type::kInteger) return failed("jobs of '" + name + "'", n);
      out.shared_pending[name] = static_cast<uint64_t>(n->integer);
      continue;
    }
    std::map<std::string, uint32_t> deliveries;
    if (Status s = scan(keys.deliveries, "delivery counts of '" + name + "'",
                        [&](const std::string& field, const std::string& value) -> Status {
                          deliveries[field] =
                              static_cast<uint32_t>(std::min<uint64_t>(ToU64(value), UINT32_MAX));
                          return Status::Ok();
                        });
        !s.ok()) {
      return s;
    }
    // By field: HSCAN may return a field twice (a hash being rehashed).
    std::map<std::string, redis::QueueRecords::Job> jobs;
    Status scanned = scan(
        keys.jobs, "jobs of '" + name + "'",
        [&](const std::string& field, const std::string& value) -> Status {
          std::optional<std::pair<uint64_t, uint64_t>> at = redis::ParseJobField(field);
          Result<MessagePtr> m = at ? store::DecodeJob(value)
                                    : Result<MessagePtr>(Status(ErrorCode::kInternal, "bad field"));
          if (!m.ok()) {
            return Status(ErrorCode::kInternal,
                          "a stored job of work queue '" + name + "' is damaged (" +
                              m.status().message() + ", in " + Where() + ", key " + keys.jobs +
                              "): delete that field, or the key to drop every job of the queue");
          }
          redis::QueueRecords::Job job;
          job.incarnation = at->first;
          job.job.seq = at->second;
          job.job.message = std::move(*m);
          if (auto it = deliveries.find(field); it != deliveries.end())
            job.job.deliveries = it->second;
          jobs[field] = std::move(job);
          return Status::Ok();
        });
    if (!scanned.ok()) return scanned;
    for (auto& [field, job] : jobs) out.jobs[name].push_back(std::move(job));
    // A count whose job is gone (a settlement half written): it goes.
    for (const auto& [field, n] : deliveries) {
      if (!jobs.contains(field)) out.stray_counts[name].push_back(field);
    }
  }
  return out;
}

void RedisStore::DropStrays(const redis::QueueStrays& strays) {
  for (const std::string& name : strays.names) {
    const redis::QueueKeys keys = redis::QueueKeysOf(options_.prefix, name);
    JobCommands({{"DEL", keys.jobs, keys.deliveries, keys.ready, keys.leased, keys.holders},
                 {"SREM", redis::QueueNamesKey(options_.prefix), name}});
  }
  for (const auto& [name, fields] : strays.counts) {
    std::vector<std::string> counts = {"HDEL",
                                       redis::QueueKeysOf(options_.prefix, name).deliveries};
    counts.insert(counts.end(), fields.begin(), fields.end());
    JobCommands({std::move(counts)});
  }
  for (const auto& [name, fields] : strays.fields) {
    const redis::QueueKeys keys = redis::QueueKeysOf(options_.prefix, name);
    std::vector<std::string> jobs = {"HDEL", keys.jobs}, counts = {"HDEL", keys.deliveries};
    jobs.insert(jobs.end(), fields.begin(), fields.end());
    counts.insert(counts.end(), fields.begin(), fields.end());
    JobCommands({std::move(jobs), std::move(counts)});
  }
}

// Opening a shard, once every shard of the map opened and checked: the
// server says from now on which shards it belongs to (unless it did).
Status RedisStore::ClaimShard() {
  Result<Reply> set = CallNow({"SET", redis::ShardsKey(options_.prefix), map_->signature(), "NX"});
  if (!set.ok()) return set.status();
  if (set->is_status("OK")) return Status::Ok();
  if (set->type == Reply::Type::kNil) {
    // Already there: written by this map (an earlier start), or by another
    // node starting at the same moment with another list.
    Result<bool> same = ShardMapWritten();
    return same.ok() ? Status::Ok() : same.status();
  }
  return Status(ErrorCode::kUnavailable,
                Where() + " refused to record its shard list (" + set->Describe() + ")");
}

// Opening: whether this server already says which shards it belongs to
// (and they are this map's), refused when it names others, or when it is a
// shard and this store has no shards (it would see only its part).
Result<bool> RedisStore::ShardMapWritten() {
  Result<Reply> got = CallNow({"GET", redis::ShardsKey(options_.prefix)});
  if (!got.ok()) return got.status();
  if (got->type == Reply::Type::kNil) return false;
  if (got->type != Reply::Type::kString) {
    return Status(ErrorCode::kInternal, Where() + ": " + redis::ShardsKey(options_.prefix) +
                                            " is not a Herald shard list (" + got->Describe() +
                                            ")");
  }
  if (!map_) {
    return Status(ErrorCode::kInvalidArgument,
                  Where() + " is one of the shards [" + got->str +
                      "]: name them all (redis_shards), or its topics on the others would "
                      "start over");
  }
  if (got->str != map_->signature()) {
    return Status(ErrorCode::kInvalidArgument,
                  Where() + " was written as one of the shards [" + got->str +
                      "], and this node names [" + map_->signature() +
                      "]: topics would move between shards and leave their history behind "
                      "(not supported). Name the same shards, or use a new redis_prefix");
  }
  return true;
}

// Opening a shard: every topic it holds is one the map puts here (a server
// written before it was a shard, or under another list, is refused).
Status RedisStore::CheckShardTopics() {
  size_t elsewhere = 0;
  const StoredTopic* example = nullptr;
  for (const StoredTopic& t : topics_) {
    if (map_->Route(t.name) == shard_) continue;
    ++elsewhere;
    if (!example) example = &t;
  }
  if (elsewhere == 0) return Status::Ok();
  return Status(ErrorCode::kInvalidArgument,
                Where() + " holds " + std::to_string(elsewhere) + " topics that the shards [" +
                    map_->signature() + "] keep elsewhere (e.g. '" + example->name +
                    "' on shard '" + map_->names()[map_->Route(example->name)] +
                    "'): it was written under another list of shards, and moving topics "
                    "between shards is not supported. Name the same shards, or use a new "
                    "redis_prefix");
}

// Opening only (its caller's thread, not the loop): one command on the
// write connection, waited for.
Result<Reply> RedisStore::CallNow(std::vector<std::string> args) {
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<Reply>> result;
  };
  auto call = std::make_shared<Call>();
  auto answer = [call](Result<Reply> r) {
    std::lock_guard lock(call->mu);
    call->result = std::move(r);
    call->cv.notify_all();
  };
  if (!loop_.Post([this, args = std::move(args), answer] {
        Status s = writer_->Command(Views(args), answer);
        if (!s.ok()) answer(s);
      })) {
    return Status(ErrorCode::kUnavailable, "the history store's loop has stopped");
  }
  std::unique_lock lock(call->mu);
  // Every command completes (a reply, or its connection's timeout).
  // blocking-ok: opening runs on its caller, before the broker starts.
  call->cv.wait(lock, [&] { return call->result.has_value(); });
  return std::move(*call->result);
}

// A Redis that can lose what it acknowledged in a crash: refused unless the
// options say that history may lose its newest messages (the continuity
// check then makes every topic written before a crash start a new epoch).
Status RedisStore::CheckDurable() {
  const std::string where = Where();
  auto setting = [&](const char* name) -> Result<std::string> {
    Result<Reply> r = CallNow({"CONFIG", "GET", name});
    if (!r.ok()) return r.status();
    if (r->type != Reply::Type::kArray || r->elements.size() != 2) {
      return Status(ErrorCode::kPermissionDenied,
                    "cannot read " + where + "'s " + name + " (CONFIG GET answered " +
                        r->Describe() +
                        "): allow CONFIG GET for this user, or set "
                        "redis_require_durable = false if the history may be lost");
    }
    return r->elements[1].str;
  };
  Result<std::string> aof = setting("appendonly");
  if (!aof.ok()) return aof.status();
  Result<std::string> fsync = setting("appendfsync");
  if (!fsync.ok()) return fsync.status();
  if (*aof != "yes" || *fsync != "always") {
    return Status(ErrorCode::kInvalidArgument,
                  where + " can lose acknowledged messages (appendonly " + *aof + ", appendfsync " +
                      *fsync +
                      "; resuming clients would be told of a gap): set appendonly yes and "
                      "appendfsync always on it, or redis_require_durable = false if the "
                      "newest history may be lost in a crash");
  }
  return Status::Ok();
}

// Reads every topic's head, message ids and newest messages, pipelined,
// and waits for the lot (before the broker starts: nothing else runs yet).
Status RedisStore::Load() {
  struct Loading {
    std::mutex mu;
    std::condition_variable cv;
    bool listed = false;
    size_t pending = 0;
    Status error = Status::Ok();
    std::vector<Fetched> topics;
  };
  auto L = std::make_shared<Loading>();
  loop_.Post([this, L] {
    Status sent = writer_->Command(
        Views({"SMEMBERS", redis::TopicsKey(options_.prefix)}), [this, L](Result<Reply> r) {
          std::unique_lock lock(L->mu);
          L->listed = true;
          if (!r.ok() || r->type != Reply::Type::kArray) {
            L->error = r.ok()
                           ? Status(ErrorCode::kInternal, "reading the topic set: " + r->Describe())
                           : r.status();
            L->cv.notify_all();
            return;
          }
          L->pending = r->elements.size();
          if (L->pending == 0) L->cv.notify_all();
          std::vector<std::string> names;
          for (const Reply& name : r->elements) names.push_back(name.str);
          // A fetch refused at once completes inline: not under L->mu.
          lock.unlock();
          for (const std::string& name : names) {
            FetchTopic(name, /*must_exist=*/true, [L](Result<Fetched> f) {
              std::lock_guard lock(L->mu);
              if (f.ok()) {
                L->topics.push_back(std::move(*f));
              } else if (L->error.ok()) {
                L->error = f.status();
              }
              if (--L->pending == 0) L->cv.notify_all();
            });
          }
        });
    if (!sent.ok()) {
      std::lock_guard lock(L->mu);
      L->listed = true;
      L->error = sent;
      L->cv.notify_all();
    }
  });

  std::unique_lock lock(L->mu);
  // Every command completes (a reply, or its connection's timeout).
  // blocking-ok: opening runs on its caller, before the broker starts.
  L->cv.wait(lock, [&] { return L->listed && L->pending == 0; });
  if (!L->error.ok()) {
    return Status(ErrorCode::kUnavailable,
                  "cannot load the history store from " + Where() + ": " + L->error.message());
  }
  for (Fetched& f : L->topics) {
    {
      std::lock_guard held(mu_);
      held_[f.topic.name] = f.held;
    }
    topics_.push_back(std::move(f.topic));
  }
  recovery_.detail = Where() + ": " + std::to_string(topics_.size()) + " topics";
  return Status::Ok();
}

// Loop thread. The head and ids first, then the tail newest first, in pages
// of the head's epoch up to its last offset (appends landing meanwhile are
// not part of what was read), until tail_bytes (at least one message).
void RedisStore::FetchTopic(const std::string& topic, bool must_exist,
                            std::function<void(Result<Fetched>)> done) {
  struct Fetch {
    Fetched out;
    Status error = Status::Ok();
    size_t pending = 2;  // the head and the ids
    size_t bytes = 0;    // of the tail read so far
    uint64_t lost = 0;   // P:lost, read just before the head
    std::function<void(Result<Fetched>)> done;
  };
  auto F = std::make_shared<Fetch>();
  F->out.topic.name = topic;
  F->done = std::move(done);
  auto finish_one = [F] {
    if (--F->pending != 0) return;
    if (!F->error.ok()) return F->done(F->error);
    StoredTopic& t = F->out.topic;
    std::reverse(t.messages.begin(), t.messages.end());  // read newest first
    std::sort(t.ids.begin(), t.ids.end(),
              [](const StoredId& a, const StoredId& b) { return a.timestamp_us < b.timestamp_us; });
    F->done(std::move(F->out));
  };
  auto fail = [F](Status s) {
    if (F->error.ok()) F->error = std::move(s);
  };
  auto read_tail = std::make_shared<std::function<void(std::string)>>();
  *read_tail = [this, F, fail, finish_one, read_tail](std::string end) {
    const StoredTopic& t = F->out.topic;
    const std::string low = std::to_string(t.epoch) + "-" + std::to_string(t.first_offset);
    ++F->pending;
    Status sent = writer_->Command(
        Views(
            {"XREVRANGE", redis::KeysOf(options_.prefix, t.name).stream, end, low, "COUNT", "64"}),
        [this, F, fail, finish_one, read_tail](Result<Reply> r) {
          StoredTopic& t = F->out.topic;
          if (!r.ok() || r->type != Reply::Type::kArray) {
            fail(r.ok() ? Status(ErrorCode::kInternal,
                                 "reading the tail of '" + t.name + "': " + r->Describe())
                        : r.status());
            *read_tail = nullptr;  // breaks its self-reference
            return finish_one();
          }
          bool more = r->elements.size() == 64;
          std::string next;
          for (const Reply& entry : r->elements) {
            Result<MessagePtr> m = redis::MessageFromEntry(t.name, entry);
            if (!m.ok()) {
              fail(m.status());
              more = false;
              break;
            }
            if (!t.messages.empty() && F->bytes + (*m)->payload.size() > options_.tail_bytes) {
              more = false;
              break;
            }
            F->bytes += (*m)->payload.size();
            next = "(" + entry.elements[0].str;
            t.messages.push_back(std::move(*m));
          }
          if (more) {
            (*read_tail)(next);
          } else {
            *read_tail = nullptr;
          }
          finish_one();
        });
    if (!sent.ok()) {
      fail(sent);
      auto finish = finish_one;  // clearing *read_tail destroys this closure
      *read_tail = nullptr;
      finish();
    }
  };

  const redis::TopicKeys keys = redis::KeysOf(options_.prefix, topic);
  auto got_head = [F, fail, finish_one, read_tail, must_exist](Result<Reply> reply) {
    StoredTopic& t = F->out.topic;
    Result<std::optional<redis::TopicHead>> head = redis::ParseHead(t.name, reply);
    if (head.ok() && !*head && !must_exist) {
      *read_tail = nullptr;
      return finish_one();  // never held: epoch 0
    }
    if (!head.ok() || !*head) {
      fail(head.ok() ? Status(ErrorCode::kInternal,
                              "topic '" + t.name + "' has no head in redis: not a Herald store?")
                     : head.status());
      *read_tail = nullptr;
      return finish_one();
    }
    const redis::TopicHead& h = **head;
    t.epoch = h.epoch;
    t.last_offset = h.last_offset;
    t.first_offset = h.first_offset;
    t.epoch_unproven = h.Unproven(F->lost);
    F->out.held = Held{h.epoch, h.last_offset, h.first_offset, h.bytes, h.first_timestamp_us};
    F->out.held.unproven = t.epoch_unproven;
    if (t.first_offset <= t.last_offset) {
      (*read_tail)(std::to_string(t.epoch) + "-" + std::to_string(t.last_offset));
    } else {
      *read_tail = nullptr;
    }
    finish_one();
  };
  // Answered before the head (replies come in order).
  Status lost =
      writer_->Command(Views({"GET", redis::LostKey(options_.prefix)}), [F, fail](Result<Reply> r) {
        Result<uint64_t> n = redis::ParseLost(r);
        if (!n.ok()) return fail(n.status());
        F->lost = *n;
      });
  if (!lost.ok()) fail(lost);
  Status a = writer_->Command(Views(redis::HeadCommand(keys.meta)), std::move(got_head));
  if (!a.ok()) {
    fail(a);
    *read_tail = nullptr;
    finish_one();
  }
  Status b =
      writer_->Command(Views({"HGETALL", keys.ids}), [F, fail, finish_one](Result<Reply> ids) {
        StoredTopic& t = F->out.topic;
        if (ids.ok() && ids->type == Reply::Type::kArray) {
          for (size_t k = 0; k + 1 < ids->elements.size(); k += 2) {
            // "<epoch>:<offset>:<µs>"
            const std::string& v = ids->elements[k + 1].str;
            const size_t a1 = v.find(':'), a2 = v.find(':', a1 + 1);
            if (a1 == std::string::npos || a2 == std::string::npos) continue;
            t.ids.push_back(StoredId{ids->elements[k].str, ToU64(v.substr(0, a1)),
                                     ToU64(v.substr(a1 + 1, a2 - a1 - 1)),
                                     static_cast<int64_t>(ToU64(v.substr(a2 + 1)))});
          }
        } else {
          fail(ids.ok() ? Status(ErrorCode::kInternal,
                                 "reading message ids of '" + t.name + "': " + ids->Describe())
                        : ids.status());
        }
        finish_one();
      });
  if (!b.ok()) {
    fail(b);
    finish_one();
  }
}

}  // namespace

Result<std::shared_ptr<HistoryStore>> OpenRedisStore(const RedisStoreOptions& options) {
  if (options.shards.empty()) {
    auto store = std::make_shared<RedisStore>(options);
    if (Status s = store->Open(); !s.ok()) return s;
    return std::shared_ptr<HistoryStore>(std::move(store));
  }
  std::vector<std::string> names;
  for (const RedisShard& shard : options.shards) names.push_back(shard.name);
  Result<redis::ShardMap> made = redis::ShardMap::Make(std::move(names));
  if (!made.ok()) {
    return Status(ErrorCode::kInvalidArgument, "redis shards: " + made.status().message());
  }
  auto map = std::make_shared<const redis::ShardMap>(std::move(*made));
  // Every shard opened and checked before any records the list: a list
  // that fails on one shard (a typo, one unreachable) claims none.
  std::vector<std::shared_ptr<RedisStore>> opened;
  for (size_t i = 0; i < options.shards.size(); ++i) {
    const RedisShard& shard = options.shards[i];
    RedisStoreOptions one = options;
    one.shards.clear();
    one.host = shard.host;
    one.port = shard.port;
    one.sentinel_master = shard.sentinel_master.empty() ? shard.name : shard.sentinel_master;
    one.client_name += "-" + shard.name;
    auto store = std::make_shared<RedisStore>(std::move(one), map, i);
    if (Status s = store->Open(); !s.ok()) return s;
    opened.push_back(std::move(store));
  }
  // A queue's definition is on every shard, its jobs on their topics'.
  std::vector<redis::QueueRecords> records;
  for (std::shared_ptr<RedisStore>& store : opened) {
    Result<redis::QueueRecords> r = store->ReadQueues();
    if (!r.ok()) return r.status();
    records.push_back(std::move(*r));
  }
  std::vector<redis::QueueStrays> strays;
  std::vector<StoredQueue> queues = redis::AssembleQueues(std::move(records), strays);
  std::vector<std::shared_ptr<SharedHistoryStore>> shards;
  for (size_t i = 0; i < opened.size(); ++i) {
    if (Status s = opened[i]->ClaimShard(); !s.ok()) return s;
    opened[i]->DropStrays(strays[i]);
    shards.push_back(std::move(opened[i]));
  }
  return std::shared_ptr<HistoryStore>(
      redis::MakeShardedStore(map, std::move(shards), std::move(queues)));
}

}  // namespace herald
