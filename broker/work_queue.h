// One work queue's state (herald/work_queue.h): its jobs, which are waiting,
// delayed or in flight to which member, and their deadlines.
//
// Every call takes the queue's own lock, decides, and writes what must
// happen outside it into an Effects: jobs to push to members' inboxes,
// pulls to answer, jobs to publish to the dead letters. The caller carries
// those out with no queue lock held (a member's sink may settle inline, and
// a dead letter is a publish that may enqueue into other queues). Time is
// passed in (steady-clock microseconds), so tests drive it.
//
// Thread rule: any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "broker/queue_backfill.h"
#include "broker/subscription.h"
#include "herald/queue_store.h"
#include "herald/status.h"
#include "herald/work_queue.h"

namespace herald {

// A handle's parts: "<queue>/<seq>/<delivery>/<nonce>".
struct JobHandle {
  std::string queue;
  uint64_t seq = 0;
  uint32_t delivery = 0;
  uint64_t nonce = 0;
};
Result<JobHandle> ParseJobHandle(std::string_view handle);

// What a delivery of `m` from `queue` may put on a member's connection, at
// most (the costlier of the fronts' encodings of its payload): what a
// member's byte bound (WorkQueue::Join) counts.
uint64_t JobWireBytes(const Message& m, std::string_view queue);

using PullCallback = std::function<void(Result<std::vector<Job>>)>;

class WorkQueue {
 public:
  struct Effects {
    // A job for a member: pushed to its inbox.
    std::vector<std::pair<SubscriptionPtr, std::shared_ptr<const Job>>> sends;
    // Pulls answered.
    std::vector<std::pair<PullCallback, Result<std::vector<Job>>>> pulls;
    // Jobs to publish to the dead-letter topic; DeadLettered(seq) follows.
    struct Dead {
      uint64_t seq;
      MessagePtr message;
      uint32_t deliveries;
      std::string_view reason;  // "max_deliver" or "term"
    };
    std::vector<Dead> dead;
    // The queue's earliest deadline after the call (INT64_MAX: none), for
    // the maintenance thread's wake-up.
    int64_t next_deadline = INT64_MAX;
  };

  // `nonce` makes handles unguessable (a keyed PRF in production). Every
  // queue of a node adds its jobs' payload bytes to `node_bytes` (the
  // broker bounds it: max_queue_bytes).
  //
  // `shared` (with `holder`, this node's name in it): the queue's jobs stay
  // in that store, which brokers share (herald/queue_store.h). This queue
  // then holds only the jobs it claimed for its own members: a publish
  // writes its job to the store (Fill only counts it), the broker claims
  // what the members can take (StartClaim, Adopt), and a job given back
  // (nack, ack_wait, a member leaving) goes back to the store, for any
  // broker, instead of waiting here.
  WorkQueue(QueueOptions options, std::function<uint64_t()> nonce,
            std::atomic<uint64_t>* node_bytes, QueueStore* store = nullptr,
            uint64_t incarnation = 0, SharedQueueStore* shared = nullptr, std::string holder = {});

  const QueueOptions& options() const { return options_; }
  const std::string& name() const { return options_.name; }
  // Which creation of the name this is (QueueStore keys its jobs by it).
  uint64_t incarnation() const { return incarnation_; }
  JobRef Ref(uint64_t seq, std::string_view topic) const {
    return {options_.name, incarnation_, seq, std::string(topic), {}};
  }
  bool shared() const { return shared_ != nullptr; }
  // Its reading of history (QueueOptions::start other than kNew); null
  // for a queue that starts with new messages, or on a shared store.
  QueueBackfill* backfill() const { return backfill_.get(); }
  // Where the jobs it holds come from: (topic, epoch, offset) each.
  std::set<std::tuple<std::string, uint64_t, uint64_t>> HeldPositions() const;
  // A shared queue's lease of a job: ack_wait, and a margin that keeps it
  // past this node's own deadline (a delivery starts after its claim).
  std::chrono::milliseconds Lease() const { return options_.ack_wait + std::chrono::seconds(2); }
  // `progress` extends a shared job's lease only once less than this is
  // left past its new deadline: a worker sending progress in a loop makes
  // one store write a second, not one per progress.
  static constexpr int64_t kLeaseMarginUs = 1'000'000;

  // A place for a job of `bytes` payload, held until Fill or Release: its
  // seq, 0 when the queue is closed (deleted: no job), or
  // resource_exhausted (counted) when max_pending or max_pending_bytes
  // would be passed. A publish reserves before it is sequenced, so a
  // refused one takes no offset, and the store can write the job first.
  Result<uint64_t> Reserve(size_t bytes);
  void CountRefused();
  // Whether a job of `bytes` read from history may be reserved now
  // (kYes once closed: Reserve then answers 0). The reading takes at most
  // half of max_pending and max_pending_bytes, so the other half stays for
  // live publishes — but a job the queue could hold goes in when the queue
  // is empty; kNever: one larger than max_pending_bytes. Counts nothing.
  enum class Room : uint8_t { kYes, kNotNow, kNever };
  Room BackfillRoom(size_t bytes) const;
  // The reserved job's message is shown: it is offered.
  void Fill(uint64_t seq, MessagePtr m, int64_t now_us, Effects& fx);
  // The message (of `topic`) was lost (its append failed): the place goes back.
  void Release(uint64_t seq, size_t bytes, std::string_view topic);
  // At start, the jobs a store kept (their delivery counts too); for a
  // shared queue, how many the store holds.
  void Restore(std::vector<StoredJob> jobs, uint64_t shared_pending, int64_t now_us, Effects& fx);

  // A shared queue: how many jobs to claim for the members and waiting
  // pulls, besides what claims on their way asked for (0: none, or
  // kMaxClaims are on their way: while one waits for Redis, the room acks
  // free goes into the next, so Redis sees claims pipelined). After a claim
  // that found nothing, none until `poll` (the broker's timer) or a job
  // published or given back here.
  // A claim that found jobs none of the members here could take (their
  // bytes, a job too large for them) stalls the queue's claims until room
  // is freed here (a settlement, a leave, a join, a pull) or kRefreshUs
  // passed: polling would otherwise claim and give back the same jobs.
  size_t StartClaim(bool poll, int64_t now_us);
  static constexpr uint32_t kMaxClaims = 4;
  // A shared queue nobody here waits on: whether to ask the store for its
  // count now (a claim of none, at most every kRefreshUs), so that
  // max_pending is held against what the store holds, not only against
  // what this node published.
  bool StartRefresh(int64_t now_us);
  static constexpr int64_t kRefreshUs = 1'000'000;
  // The answer to a claim of `asked` jobs (StartClaim's number; 0 for a
  // refresh): the jobs go to members; what none can take now goes back to
  // the store at once. False when the claim found nothing.
  bool Adopt(Result<std::vector<ClaimedJob>> jobs, uint64_t pending, size_t asked, int64_t now_us,
             Effects& fx);
  // Whether members or pulls wait for jobs (a shared queue polls for them).
  bool Hungry() const;

  // `member` is a membership id (never kPullMember); `target` its sink and
  // inbox. `max_in_flight` 0: the queue's per-member bound. `budget` (may
  // be null): the byte budget it shares with its connection's other
  // memberships, charged JobWireBytes per job (herald/work_queue.h).
  // not_found once the queue is closed (deleted).
  Status Join(uint64_t member, SubscriptionPtr target, uint32_t max_in_flight,
              std::shared_ptr<JobBudget> budget, int64_t now_us, Effects& fx);
  // The member's jobs are offered again at once (counted as deliveries).
  void Leave(uint64_t member, int64_t now_us, Effects& fx);
  // Up to `max` jobs now, or the first that come within `wait_us` (0: answer
  // at once, possibly empty). At most `max_waiting` pulls wait at once.
  // Returns the pull's id while it waits (for CancelPull), else 0.
  uint64_t Pull(size_t max, int64_t wait_us, size_t max_waiting, PullCallback done, int64_t now_us,
                Effects& fx);
  // A waiting pull's caller went away: answered (cancelled) now, if it
  // still waits.
  void CancelPull(uint64_t id, Effects& fx);

  Status Settle(uint64_t member, const JobHandle& handle, SettleKind kind, int64_t delay_us,
                int64_t now_us, Effects& fx);
  // A pulled job whose answer never reached its caller: offered again at
  // once, that delivery not counted (Broker::ReturnUnsent).
  Status Unsent(const JobHandle& handle, int64_t now_us, Effects& fx);
  // The dead-letter publish of `seq` ended: the job leaves, or (failed) is
  // tried again after `retry_us`.
  void DeadLettered(uint64_t seq, bool published, int64_t retry_us, int64_t now_us, Effects& fx);

  // Deadlines due by `now_us` (ack_wait, delays, pulls); returns the next
  // one (INT64_MAX: none).
  int64_t Expire(int64_t now_us, Effects& fx);
  int64_t next_deadline() const;

  // The queue was deleted (or the broker stops): its waiting pulls are
  // answered (not_found), its members receive nothing more, its jobs go.
  void Close(Effects& fx);

  QueueInfo Info() const;
  size_t pending_bytes() const;

 private:
  enum class State : uint8_t { kReady, kDelayed, kInFlight, kDeadLettering };
  struct JobRecord {
    MessagePtr message;
    uint64_t wire_bytes = 0;  // JobWireBytes: what a delivery of it costs a member's bound
    State state = State::kReady;
    uint32_t deliveries = 0;
    uint64_t member = kPullMember;  // in flight: to whom
    uint64_t nonce = 0;             // in flight: of this delivery
    uint64_t prev_nonce = 0;        // of the delivery before (a stale handle proves itself)
    int64_t due_us = 0;             // in flight: ack deadline; delayed: when it is ready
    // Set while it goes to the dead letters (and while a failed publish
    // there waits to be tried again): why.
    std::string_view dead_reason;
    std::string key;       // a shared queue's: its key in the store
    std::string ready_at;  // and where it stood in line when claimed
    // ... and when its lease runs out, as this node reckons it (from the
    // claim's answer or its last extension: no earlier than in the store).
    int64_t leased_until_us = 0;
  };
  struct Member {
    SubscriptionPtr target;
    uint32_t max_in_flight = 0;
    std::shared_ptr<JobBudget> budget;  // null: no byte bound
    std::set<uint64_t> held;            // seqs in flight to it
    // What it has charged to `budget`: the jobs in `held`, and deliveries
    // whose ack_wait passed before it settled them, by nonce. Those may
    // still sit unread in its connection's output, so they stay charged
    // until it settles them (stale or not) or leaves: a member that stops
    // reading cannot be handed a fresh budget's worth every ack_wait.
    uint64_t held_bytes = 0;
    std::map<uint64_t, uint64_t> owed;  // nonce -> wire bytes
    uint64_t owed_bytes = 0;
    // Counted in budget's waiters: refused the job at the head of the queue
    // within its share, in the queue's last pump. Only until the next pump
    // (WorkQueue::waiting_ lists who to clear), which tries it again.
    bool waiting = false;
    enum class Room { kTaken, kNone, kWaits };
    // Whether it may be sent a job of `bytes` — room in its in-flight
    // bound, counting the jobs still queued in its inbox (a delivery whose
    // ack_wait passed leaves `held`, not necessarily the inbox), and in its
    // share of its budget — which is then charged (kTaken). kWaits: refused
    // within its share, because others hold past theirs.
    Room TakeRoom(uint64_t bytes) {
      if (held.size() >= max_in_flight ||
          target->queued_jobs.load(std::memory_order_acquire) >= max_in_flight) {
        return Room::kNone;
      }
      if (!budget) return Room::kTaken;
      const uint64_t mine = held_bytes + owed_bytes;
      const bool over_share = mine + bytes > budget->share();
      if (over_share && mine != 0) return Room::kNone;
      if (budget->TryCharge(bytes, over_share)) return Room::kTaken;
      return over_share ? Room::kNone : Room::kWaits;
    }
    void SetWaiting(bool on) {
      if (!budget || waiting == on) return;
      waiting = on;
      on ? budget->AddWaiter() : budget->RemoveWaiter();
    }
    // Leaving (or the queue closing): what it charged goes back, and its
    // share to the others.
    void Release() {
      if (budget) {
        SetWaiting(false);
        budget->Credit(held_bytes + owed_bytes);
        budget->RemoveMember();
        budget.reset();
      }
      held_bytes = owed_bytes = 0;
      owed.clear();
    }
  };
  struct WaitingPull {
    uint64_t id;
    size_t max;
    int64_t deadline_us;
    PullCallback done;
  };

  // Lock held for all of these.
  Status SettleLocked(uint64_t member, const JobHandle& handle, SettleKind kind, int64_t delay_us,
                      int64_t now_us, Effects& fx);
  // The job `handle` names, in flight to `member` under that handle; else
  // why not (unknown_handle, stale_handle).
  Result<std::map<uint64_t, JobRecord>::iterator> InFlight(uint64_t member,
                                                           const JobHandle& handle);
  void Pump(int64_t now_us, Effects& fx);
  // The members marked waiting by the last pump are not any more.
  void ClearWaiting();
  Job Deliver(uint64_t seq, JobRecord& job, uint64_t member, int64_t now_us);
  // The job is no longer in flight or delayed: its timer and holder go.
  // `expired`: its ack_wait passed, so its holder stays charged for it
  // (Member::owed).
  void Unhold(uint64_t seq, JobRecord& job, bool expired = false);
  // A settlement from `member` of its delivery `nonce` whose ack_wait
  // passed: no longer charged. True when it was.
  bool ReleaseOwed(uint64_t member, uint64_t nonce);
  // After a delivery that did not end in ack: offered again (after
  // `delay_us`), or dead-lettered past max_deliver.
  void GiveBack(uint64_t seq, JobRecord& job, int64_t delay_us, int64_t now_us, Effects& fx);
  void ToDeadLetter(uint64_t seq, JobRecord& job, std::string_view reason, Effects& fx);
  void Remove(std::map<uint64_t, JobRecord>::iterator it);
  // Drops a job's record here, and its bytes; the store is not told (the
  // callers tell it what they mean). Returns the next record.
  std::map<uint64_t, JobRecord>::iterator Forget(std::map<uint64_t, JobRecord>::iterator it);
  // The earliest deadline (lock held), also written into `fx`.
  int64_t NextDeadline(Effects& fx) const;

  int64_t Backoff(uint32_t deliveries) const;
  Status Closed() const;
  static std::unique_ptr<QueueBackfill> MakeBackfill(const QueueOptions& o,
                                                     SharedQueueStore* shared);
  JobRef RefOf(uint64_t seq, const JobRecord& job) const {
    return {options_.name, incarnation_, seq, job.message->topic, job.key};
  }
  // A shared queue's job leaves this node: back to the store, ready after
  // `delay_us`; `uncount`: its last delivery did not happen.
  void ReleaseShared(std::map<uint64_t, JobRecord>::iterator it, int64_t delay_us, bool uncount);
  // Jobs the members and waiting pulls could take now (lock held).
  uint32_t Demand() const;
  static constexpr uint64_t kMaxClaim = 256;
  // How long a pull of a shared queue without a wait waits: one claim.
  static constexpr int64_t kSharedPullWaitUs = 200'000;

  const QueueOptions options_;
  const std::function<uint64_t()> nonce_;
  std::atomic<uint64_t>* const node_bytes_;
  // Where delivery counts and settlements are written (null: memory only);
  // jobs are put by the broker, which orders them before their message.
  QueueStore* const store_;
  const uint64_t incarnation_;
  SharedQueueStore* const shared_;
  const std::unique_ptr<QueueBackfill> backfill_;
  const std::string holder_;
  uint32_t claims_ = 0;           // claims on their way (a refresh is one, of none)
  uint64_t claimed_for_ = 0;      // jobs they asked for
  int64_t stalled_until_us_ = 0;  // StartClaim (0: not stalled)
  // The keys of the jobs held here: a lease that ran out while one was
  // held (a slow dead-letter publish) may bring it back in a claim.
  std::set<std::string> keys_;
  int64_t next_refresh_us_ = 0;  // StartRefresh
  bool idle_ = false;            // the last claim found nothing
  uint64_t shared_pending_ = 0;  // the store's count at the last claim, and published here since
  uint64_t reserved_ = 0;        // places held for messages not yet shown
  mutable std::mutex mu_;
  bool closed_ = false;
  uint64_t next_seq_ = 0;
  std::map<uint64_t, JobRecord> jobs_;
  uint64_t bytes_ = 0;
  std::set<uint64_t> ready_;                       // oldest first
  std::set<std::pair<int64_t, uint64_t>> timers_;  // (due, seq): in flight and delayed
  std::map<uint64_t, Member> members_;
  uint64_t last_served_ = 0;       // round robin: the member served last
  std::vector<uint64_t> waiting_;  // members whose Member::waiting is set
  uint64_t in_flight_ = 0;
  uint64_t delayed_ = 0;
  std::vector<WaitingPull> pulls_;                      // oldest first
  std::set<std::pair<int64_t, uint64_t>> pull_timers_;  // (deadline, pull id) of waiting pulls
  uint64_t next_pull_ = 0;
  QueueInfo counts_;  // the counters (options and gauges filled by Info)
};

}  // namespace herald
