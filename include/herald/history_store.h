// herald/history_store.h — where a broker keeps topic history so that it
// outlives the process.
//
// A broker without a store (the default) keeps history in memory only: a
// restart starts every topic in a new epoch, and resuming clients get a gap.
// With a store (BrokerOptions::store), every message of a topic with history
// is appended to the store before anyone sees it: subscribers receive it, and
// its publisher's acknowledgement comes, once the store has committed it.
// On start the broker reloads what the store holds, so every topic continues
// its epoch and offsets.
//
// Threads: Append, Trim and Forget are called from any thread (the broker
// calls Append with the topic's lock held) and never wait for I/O; the store
// completes appends on a thread of its own, in the order they were made.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/message.h"
#include "herald/status.h"

namespace herald {

// A message id the store remembers (idempotent publish), with where its
// message landed, so a retry after a restart is still recognised.
struct StoredId {
  std::string msg_id;
  uint64_t epoch = 0;
  uint64_t offset = 0;
  int64_t timestamp_us = 0;
};

// One topic as the store holds it at start: its numbering, where its
// retained messages begin, and the most recent of them (oldest first,
// contiguous, the last one at last_offset; a store reads back only a bounded
// tail, so memory does not grow with what it keeps: the rest is read when a
// resume asks for it).
struct StoredTopic {
  std::string name;
  uint64_t epoch = 0;
  uint64_t last_offset = 0;
  // The first offset of `epoch` the store holds (last_offset + 1: none).
  uint64_t first_offset = 1;
  std::vector<MessagePtr> messages;  // the tail: offsets up to last_offset
  std::vector<StoredId> ids;         // oldest first; may name messages trimmed since
  // A shared store cannot show that it holds every message acknowledged in
  // `epoch` (its server came back from a restart without fsync, or a
  // failover to a replica that may have missed the newest): no more of
  // `epoch` is numbered, so no offset is given twice, and resuming clients
  // are told of a gap.
  bool epoch_unproven = false;
};

// What opening the store found.
struct StoreRecovery {
  // The previous run closed the store (false after a crash or kill -9).
  bool clean_shutdown = true;
  // Every message the previous run acknowledged is held. False only when it
  // cannot be shown: an unclean stop of a run that acknowledged before
  // syncing (sync = batch) across an OS restart. The broker then starts every
  // topic in a new epoch, so resuming clients are told of a gap.
  bool complete = true;
  std::string detail;  // one line for the log
};

// What a read found: the topic's messages of the epoch asked for after the
// offset asked for, oldest first, contiguous. Retention may have removed
// the first ones: the first message then comes later than the one after the
// offset. Empty when nothing of that epoch follows the offset.
struct StoreRead {
  std::vector<MessagePtr> messages;
  // Stopped at max_messages or max_bytes: more of the epoch may follow the
  // last message returned.
  bool truncated = false;
};

struct HistoryStoreStats {
  uint64_t appends = 0;          // messages committed
  uint64_t commits = 0;          // groups written (appends / commits = mean group size)
  uint64_t syncs = 0;            // fsyncs of the log
  uint64_t append_errors = 0;    // appends completed with an error
  uint64_t appends_refused = 0;  // appends refused at once (queue full, store failed)
  uint64_t queued_bytes = 0;     // appended, not yet committed
  uint64_t reads = 0;            // reads answered
  uint64_t reads_refused = 0;    // reads refused at once (too many waiting, store failed)
  uint64_t disk_bytes = 0;       // the store's files
  uint64_t disk_free_bytes = 0;  // free on the store's filesystem (0: not measured)
  // A store on a server (Redis): whether it is reachable now (its
  // connections are ready), and how many times a connection was lost.
  // Always true and 0 for an embedded store.
  bool reachable = true;
  uint64_t disconnects = 0;
  // Where writes go now (Redis: the master's host:port; "" for an embedded
  // store), how many times that moved (a Sentinel failover), and appends a
  // replica did not confirm in time (durability = "replicated").
  std::string server;
  uint64_t failovers = 0;
  uint64_t unreplicated = 0;
  // Times the server came back unable to show it holds every append it
  // acknowledged (a restart without fsync, a failover to a replica that may
  // have missed some): the topics written before then each start a new
  // epoch when next loaded (StoredTopic::epoch_unproven).
  uint64_t tails_unproven = 0;
  std::string last_unproven;  // why, the last time ("" if never)
};

// What a topic keeps (HistoryStore::Retain): its newest messages, at most
// this many, with at most this many payload bytes, none stamped before
// min_timestamp_us.
struct Retention {
  uint64_t max_messages = 0;
  uint64_t max_bytes = 0;
  int64_t min_timestamp_us = 0;

  // Whether a topic holding `count` messages of `bytes` payload bytes, the
  // oldest stamped `first_timestamp_us`, keeps them all (nothing to drop).
  bool KeepsAll(uint64_t count, uint64_t bytes, int64_t first_timestamp_us) const {
    return count <= max_messages && bytes <= max_bytes && first_timestamp_us >= min_timestamp_us;
  }
};

// Whether `m` may be appended after a topic's last stored message at
// (epoch, last_offset): the next offset of that epoch, or offset 1 of a
// newer one. Ok, or the kInternal error a store refuses the append with
// (HistoryStore::Append). Every store checks appends with it.
inline Status CheckAppendFollows(uint64_t epoch, uint64_t last_offset, const Message& m) {
  if ((m.epoch == epoch && m.offset == last_offset + 1) || (m.epoch > epoch && m.offset == 1))
    return Status::Ok();
  return Status(ErrorCode::kInternal, "append to '" + m.topic + "' at (" + std::to_string(m.epoch) +
                                          ", " + std::to_string(m.offset) +
                                          ") does not follow the stored (" + std::to_string(epoch) +
                                          ", " + std::to_string(last_offset) +
                                          "): another writer?");
}

class HistoryStore {
 public:
  using AppendCallback = std::function<void(Status)>;
  using ReadCallback = std::function<void(Result<StoreRead>)>;
  using RetainCallback = std::function<void(uint64_t first_offset)>;

  virtual ~HistoryStore() = default;

  // What opening found. A store that cannot open (a damaged one) is
  // refused by its maker (e.g. OpenDiskStore), before any broker uses it.
  virtual const StoreRecovery& recovery() const = 0;
  // Called once by the broker as it starts, before anything is appended:
  // hands over every stored topic.
  virtual std::vector<StoredTopic> TakeTopics() = 0;

  // Any thread; never waits for I/O. Queues `message` (its topic, epoch,
  // offset and timestamp set), which must follow the last message appended
  // to its topic: the next offset of the same epoch, or offset 1 of a newer
  // epoch. Refused at once with kResourceExhausted when the queue is full,
  // kInternal when the position does not follow (a second writer, or a bug),
  // and kUnavailable once the store has failed. Otherwise `done` runs exactly
  // once, on the store's thread, in append order: Ok once the message is as
  // durable as the store's sync setting promises, or the error that lost it.
  // A refused append leaves `done` as it was (not moved from, never called).
  // Once an append completes with an error, every later one does too (the
  // store has failed; a restart recovers it), so what is stored of a topic
  // never has a hole.
  virtual Status Append(const MessagePtr& message, AppendCallback&& done) = 0;
  // Any thread. Drops the topic's messages before (epoch, first_kept):
  // every older epoch, and this epoch's offsets below first_kept.
  virtual void Trim(std::string_view topic, uint64_t epoch, uint64_t first_kept) = 0;
  // Any thread; never waits for I/O. Applies `keep` to the topic's `epoch`
  // (the store knows what it holds, so memory need not: a topic may keep
  // far more on disk than in memory). When messages are to go, they go in
  // the background, oldest first, and `done` runs on a thread of the store
  // with the topic's new first offset (last + 1: none left); when nothing
  // is to go (or the store failed, or `epoch` is not the topic's) it never
  // runs. One sweep may drop only part of a large excess; the next goes on.
  virtual void Retain(std::string_view topic, uint64_t epoch, const Retention& keep,
                      RetainCallback&& done) = 0;
  // Any thread. Drops the topic and its numbering.
  virtual void Forget(std::string_view topic) = 0;
  // Any thread. Forgets the message ids (of appended messages with a
  // msg_id, which the store keeps with them) stamped before `before_us`.
  virtual void ExpireIds(int64_t before_us) = 0;

  // Any thread; never waits for I/O. Reads `topic`'s committed messages of
  // `epoch` after `after_offset`: at most `max_messages`, and no more bytes
  // of payload than `max_bytes` past the first message (one is always
  // returned if there is one, whatever its size). Refused at once with
  // kResourceExhausted when too many reads wait and kUnavailable once the
  // store has failed; a refused read leaves `done` as it was (not moved
  // from, never called). Otherwise `done` runs exactly once, on a thread of
  // the store, with what was found or the error that stopped the read
  // (kUnavailable if the store closes first). A read never delays appends,
  // and sees every append completed before it was made.
  virtual Status Read(std::string_view topic, uint64_t epoch, uint64_t after_offset,
                      size_t max_messages, size_t max_bytes, ReadCallback&& done) = 0;

  virtual HistoryStoreStats Stats() const = 0;
  // Waits until every append, read and retention made before it has
  // completed (its callback returned). The broker calls it as it shuts
  // down (those callbacks refer to it); not for an event loop.
  virtual void Drain() = 0;
};

}  // namespace herald
