// store/redis/queue_records.h — work queues (herald/queue_store.h) as the
// Redis store keeps them, and how what it reads back at open becomes the
// broker's queues.
//
// Keys under a prefix P (one server; with shards, on each):
//   P:queues   hash  queue name -> its definition (store/codec EncodeQueue,
//                    with its incarnation); with shards, on every shard
//   P:wqs      set   every queue name ever defined here and not yet cleaned
//                    up: where jobs may be left (no keyspace SCAN at open)
//   P:wq:{Q}:j hash  job -> EncodeJob of its message, on the server of the
//                    message's topic, written in the message's append
//                    script (or, for a topic without history, in one
//                    MULTI/EXEC): an acknowledged publish is never a lost job
//   P:wq:{Q}:d hash  job -> its delivery count, a decimal (absent: none yet)
// A job's field is JobField(incarnation, seq): 16 bytes, big-endian.
//
// On one server (no shards) the queues are shared (herald/queue_store.h
// SharedQueueStore): every broker using the server claims jobs from them,
// and they stay in Redis until settled. A job's field is then
// SharedJobKey(message) (its message's position: unique whoever wrote it),
// and three more keys hold where each job is:
//   P:wq:{Q}:r zset  ready jobs by when they may be claimed (Redis's clock, µs)
//   P:wq:{Q}:l zset  leased jobs by when their lease runs out
//   P:wq:{Q}:o hash  leased job -> its holder ("<node id>.<run>")
// The scripts below (and the append script) move a job between them, on
// Redis's clock (TIME): brokers' clocks do not matter.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/queue_store.h"

namespace herald::redis {

struct QueueKeys {
  std::string jobs, deliveries, ready, leased, holders;
};
QueueKeys QueueKeysOf(std::string_view prefix, std::string_view queue);
std::string QueuesKey(std::string_view prefix);
std::string QueueNamesKey(std::string_view prefix);
std::string JobField(uint64_t incarnation, uint64_t seq);
// (incarnation, seq), or nullopt when `field` is not a job's.
std::optional<std::pair<uint64_t, uint64_t>> ParseJobField(std::string_view field);
// A shared queue's job: epoch and offset (8 bytes each, big-endian), then
// the topic.
std::string SharedJobKey(const Message& m);

// Shared queues' scripts. KEYS, for each: jobs, deliveries, ready, leased,
// holders (QueueKeys, in that order).
//
// Claim: leases that ran out make their jobs ready again (at most 100 per
// call); then up to `max` ready jobs are leased to the holder, each
// delivery counted. ARGV: holder, max, lease µs. Returns {pending (ready
// and leased), {key, job, deliveries, ready since (µs), ...}}. max 0: only
// the count (and the leases that ran out).
extern const char* const kClaimScript;
// Release: the job is ready again after a delay, if the holder holds it.
// ARGV: key, holder, delay µs, "1" to take back the delivery counted, and
// optionally when it was ready before (µs): a claim given back unused keeps
// its place in line. Returns 1, or 0 when another holds it.
extern const char* const kReleaseScript;
// Put jobs (a message to a topic without history): each ready now.
// KEYS: per queue its jobs hash and ready set. ARGV: the job, then per
// queue its field.
extern const char* const kPutJobsScript;
// Extend: the holder's lease runs from now. ARGV: key, holder, lease µs.
extern const char* const kExtendScript;
// Settle: the job goes (acknowledged, terminated, dead-lettered). ARGV: key.
extern const char* const kSettleScript;
// Release earlier runs: every job leased to a holder starting with the
// prefix but not the holder is ready now. ARGV: prefix, holder. Returns
// how many.
extern const char* const kReleaseEarlierScript;

// What one server holds of the work queues.
struct QueueRecords {
  std::map<std::string, StoredQueue> definitions;  // name -> it (no jobs)
  std::vector<std::string> names;                  // P:wqs
  struct Job {
    uint64_t incarnation = 0;
    StoredJob job;
  };
  std::map<std::string, std::vector<Job>> jobs;  // by queue name, any incarnation
  // Delivery counts whose job is not there (a settlement half written).
  std::map<std::string, std::vector<std::string>> stray_counts;
  // Shared queues: how many jobs each holds (their jobs are not read).
  std::map<std::string, uint64_t> shared_pending;
};

// What a server holds that is no queue's any more: names with no
// definition (their keys go) and jobs of another incarnation than their
// queue's (a publish that raced a delete), by queue name.
struct QueueStrays {
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::string>> fields;
  std::map<std::string, std::vector<std::string>> counts;  // delivery counts only
  bool empty() const { return names.empty() && fields.empty() && counts.empty(); }
};

// The queues of one or more servers (shards): each name's definition with
// the highest incarnation any of them holds, with every job of that
// incarnation, by seq. strays[i] gets what servers[i] holds that no queue
// owns: the keys of names defined nowhere, and jobs of another incarnation
// of a name every server defines alike (when they disagree, a definition
// missed a shard, and incarnations, being random, cannot say which is
// newer: nothing of that name is deleted).
std::vector<StoredQueue> AssembleQueues(std::vector<QueueRecords> servers,
                                        std::vector<QueueStrays>& strays);

}  // namespace herald::redis
