// herald/work_queue.h — durable work queues: jobs that stay until a worker
// acknowledges them.
//
// A work queue is a named consumer of one topic pattern. Every message
// published to a matching topic after the queue was created becomes a job
// of the queue (a copy: the topic's history may trim it, the job stays).
// Members join the queue and are offered jobs, each to one member at a time,
// at most `max_in_flight_per_member` each. A member settles each job it
// receives:
//
//   ack       done: the job leaves the queue;
//   nack      give it back, to be offered again after `delay` (or the next
//             step of `backoff`);
//   progress  still working on it: its deadline moves to now + ack_wait;
//   term      never offer it again: it goes to the dead-letter topic.
//
// A job not settled within `ack_wait`, or held by a member that leaves, is
// offered again; after `max_deliver` deliveries it goes to the dead-letter
// topic instead, with headers saying why (kDeadReasonHeader, ...). Queue
// groups (SubscribeOptions::queue_group) stay the fast, at-most-once form.
//
//   herald::QueueOptions q;
//   q.name = "judge"; q.pattern = "submissions.>"; q.dead_letter = "judge.dead";
//   broker.CreateQueue(q);
//   broker.JoinQueue("judge", [&](const herald::Delivery& d) {
//     run(d.job->message->payload);
//     broker.Settle(d.subscription_id, d.job->handle, herald::SettleKind::kAck);
//   });
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "herald/message.h"
#include "herald/status.h"

namespace herald {

struct QueueOptions {
  // 1-128 characters: dot-separated tokens of letters, digits, '_' and '-'
  // (so grants can name queues as they name topics).
  std::string name;
  std::string pattern;  // the topics whose messages become jobs
  // A delivery not settled within this long is offered again.
  std::chrono::milliseconds ack_wait{30'000};
  // Deliveries a job may have; the next one goes to the dead letters
  // instead. 0: no limit.
  uint32_t max_deliver = 5;
  // Delay before a nacked job (without its own delay) is offered again, by
  // the number of deliveries it had: backoff[0] after the first, ...; the
  // last step repeats. Empty: at once.
  std::vector<std::chrono::milliseconds> backoff;
  uint32_t max_in_flight = 10'000;            // jobs delivered and not settled, queue-wide
  uint32_t max_in_flight_per_member = 1'000;  // ... per member (a member may ask fewer)
  // Jobs the queue holds (waiting and in flight) and their payload bytes;
  // a publish that would pass either is refused (resource_exhausted).
  uint64_t max_pending = 100'000;
  uint64_t max_pending_bytes = 64u << 20;
  // Where jobs past max_deliver and termed jobs are published; empty: they
  // are dropped (and counted). Must not match `pattern`.
  std::string dead_letter;
  // Where a new queue begins reading. kNew: messages published from its
  // creation on. kFirst: first every message its topics' history still
  // holds (memory, and the store's), then new ones. kTime: the same, from
  // the messages published at or after start_time. Exactly once: each
  // message of a matching topic becomes one job, from history or live,
  // whatever is published while the queue is created, and across a
  // restart that cuts the reading short. The reading fills at most half of
  // max_pending(_bytes): the rest is for live publishes. Only a creation
  // reads history; a queue the store kept goes on where it was. Needs the
  // disk store or none (CreateQueue refuses it on the Redis store).
  enum class Start : uint8_t { kNew, kFirst, kTime };
  Start start = Start::kNew;
  std::chrono::system_clock::time_point start_time{};  // kTime

  bool operator==(const QueueOptions&) const = default;
};

// The text form of a start, for configs and APIs: "new", "first", or a UTC
// time in RFC 3339 form ("2026-12-05T10:00:00Z", with optional fraction
// of a second and a +hh:mm / -hh:mm offset instead of Z), from 1970 to
// 2261 (what the system clock holds). Parse fails with invalid_argument
// saying what it accepts.
Status ParseQueueStart(std::string_view text, QueueOptions& options);
std::string QueueStartText(const QueueOptions& options);
// Whether two definitions name the same queue: everything but the start,
// which matters only when the queue is created.
bool SameQueueDefinition(const QueueOptions& a, const QueueOptions& b);

// One delivery of a job to a member (Delivery::job).
struct Job {
  std::string queue;
  // Names this delivery: "<queue>/<seq>/<delivery>/<nonce>". Settle takes
  // it; it is valid for this delivery only, from the member it was given to.
  std::string handle;
  uint64_t seq = 0;         // the job's number in its queue
  uint32_t deliveries = 0;  // 1 on the first delivery
  MessagePtr message;       // topic, (epoch, offset), payload, headers
};

// The bytes of unsettled jobs that memberships sharing it may hold at once
// (Broker::JoinQueue): a front gives each connection one, sized to its
// outbound budget, so a client that stops reading holds no more than that
// however many queues it joins. What a job costs is an upper bound of its
// frame on any front. A delivery whose ack_wait passed stays charged until
// its member settles it (stale) or leaves: it may still sit unread in the
// connection's output.
//
// Each membership may hold its share (max_bytes over the memberships), so
// one queue's backlog cannot take what another queue's member needs: a
// settlement in one queue frees room that only that queue is pumped for.
// A membership holding nothing may take one job larger than its share if
// it fits in what is left, or nothing at all is charged (a job larger than
// the budget still goes out) — but not while a membership whose job is
// within its share waits for room: that one gets it first (when its queue
// is next pumped: by its own traffic, or the broker's maintenance pass).
class JobBudget {
 public:
  explicit JobBudget(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  JobBudget(const JobBudget&) = delete;
  JobBudget& operator=(const JobBudget&) = delete;

  uint64_t max_bytes() const { return max_bytes_; }
  uint64_t used() const { return used_.load(std::memory_order_acquire); }
  uint64_t share() const {
    const uint32_t n = members_.load(std::memory_order_acquire);
    return max_bytes_ / (n == 0 ? 1 : n);
  }
  // Charges `bytes` if they fit under max_bytes, or nothing is charged; in
  // one step, as memberships of different queues charge it at once. A
  // charge past the membership's share (`over_share`) is refused while a
  // membership waits.
  bool TryCharge(uint64_t bytes, bool over_share) {
    if (over_share && waiters_.load(std::memory_order_acquire) != 0) return false;
    uint64_t u = used_.load(std::memory_order_acquire);
    do {
      if (u != 0 && u + bytes > max_bytes_) return false;
    } while (!used_.compare_exchange_weak(u, u + bytes, std::memory_order_acq_rel));
    return true;
  }
  void Credit(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_acq_rel); }
  // The broker counts the memberships sharing it (their shares).
  void AddMember() { members_.fetch_add(1, std::memory_order_acq_rel); }
  void RemoveMember() { members_.fetch_sub(1, std::memory_order_acq_rel); }
  // ... and those waiting: refused the head job of their queue within their
  // share, until that queue's next pump.
  void AddWaiter() { waiters_.fetch_add(1, std::memory_order_acq_rel); }
  void RemoveWaiter() { waiters_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  const uint64_t max_bytes_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint32_t> members_{0};
  std::atomic<uint32_t> waiters_{0};
};

// Who settles a pulled job (Broker::Pull): no membership, the handle is the
// only proof.
inline constexpr uint64_t kPullMember = 0;

enum class SettleKind { kAck, kNack, kProgress, kTerm };
// "ack", "nack", "progress", "term".
std::string_view SettleKindName(SettleKind kind);

// Headers of a job published to a dead-letter topic (its own headers kept).
inline constexpr std::string_view kDeadReasonHeader = "Herald-Dead-Reason";  // max_deliver|term
inline constexpr std::string_view kDeadDeliveriesHeader = "Herald-Deliveries";
inline constexpr std::string_view kDeadQueueHeader = "Herald-Queue";
inline constexpr std::string_view kDeadTopicHeader = "Herald-Original-Topic";
inline constexpr std::string_view kDeadPositionHeader = "Herald-Original-Position";  // epoch:offset

struct QueueInfo {
  QueueOptions options;
  uint64_t pending = 0;  // jobs held: waiting, delayed and in flight
  uint64_t pending_bytes = 0;
  uint64_t in_flight = 0;
  uint64_t delayed = 0;  // waiting for a nack's delay or backoff
  uint64_t members = 0;
  uint64_t waiting_pulls = 0;
  // Wire bytes of unsettled jobs charged to members' connection budgets
  // (JobBudget), and of those the deliveries whose ack_wait passed that
  // their members have not settled yet (still charged: a member that never
  // settles them holds its budget until it leaves).
  uint64_t charged_bytes = 0;
  uint64_t owed = 0;
  // Counters since the queue was created.
  uint64_t enqueued = 0;
  uint64_t delivered = 0;
  uint64_t redelivered = 0;  // deliveries after the first
  uint64_t acked = 0;
  uint64_t nacked = 0;
  uint64_t expired = 0;  // deliveries whose ack_wait passed
  uint64_t termed = 0;
  uint64_t dead_lettered = 0;  // published to the dead-letter topic
  uint64_t dropped = 0;        // past max_deliver or termed, with no dead-letter topic
  uint64_t refused = 0;        // publishes refused for max_pending(_bytes)
  uint64_t pulls_refused = 0;  // pulls refused: max_waiting_pulls were waiting
  // Reading history for its start (QueueOptions::start): still going, the
  // jobs it made so far, and the messages it could not make jobs of
  // (larger than max_pending_bytes or the node's max_queue_bytes).
  bool backfilling = false;
  uint64_t backfilled = 0;
  uint64_t backfill_skipped = 0;
};

}  // namespace herald
