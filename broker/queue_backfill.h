// A new work queue reading its topics' history (QueueOptions::start): where
// each topic's history ends and its live jobs begin, and how far reading
// has got.
//
// The cut. Once the queue is registered, every message sequenced for a
// matching topic becomes a live job (Broker::Impl::ReserveJobs). What came
// before is read from history, up to the topic's cut: the offset of its
// first live job, or — for a topic nobody published to since — the next
// offset it would number, as the broker saw it while listing the topics.
// Both are taken under the topic's lock and the first one wins, so each
// message of the cut's epoch is a job once: from history below the cut,
// live from it on. Messages sequenced below the cut but not yet committed
// by the store are waited for (or found lost) before the topic is done.
//
// The broker drives it from its maintenance thread (broker_backfill.cc):
// one page read at a time, and jobs added while the queue has room.
//
// Thread rule: any thread; Cut is called with the topic's lock held, and
// nothing here takes a topic lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "herald/message.h"

namespace herald {

class QueueBackfill {
 public:
  // Messages published before `since_us` (system clock) are not jobs.
  explicit QueueBackfill(int64_t since_us) : since_us_(since_us) {}

  // Whether cuts are still taken: until the broker has listed the topics
  // (a topic made after that has no message before its first live one).
  bool cutting() const { return !listed_.load(std::memory_order_acquire); }
  // The topic's messages of `epoch` from `offset` on are live jobs (topic
  // lock held). The first cut of a topic wins.
  void Cut(std::string_view topic, uint64_t epoch, uint64_t offset);
  // The listing is done: the cuts are all taken.
  void Listed();
  // Positions the queue already holds as jobs (kept by the store, when a
  // restart cut a backfill short): not made again.
  void Skip(std::set<std::tuple<std::string, uint64_t, uint64_t>> held);

  // Where the reading stands, for the store to keep with the queue's
  // definition (QueueStore::PutQueue), so a restart reads on from there:
  // the cuts of the topics not done, and how far each was read such that
  // everything read up to there is a job (a topic read to its cut whose
  // messages still wait for room is not done for this). Clears dirty().
  std::string Encode();
  // Whether the reading moved since the last Encode.
  bool dirty() const;
  // At start: the reading as Encode left it, listed already. False (and
  // nothing changed) when `saved` is damaged: the topics are listed anew.
  bool Restore(std::string_view saved);

  // The read to make next, if any: the topic, its cut's epoch, and the
  // offset after which to read.
  struct Read {
    std::string topic;
    uint64_t epoch = 0;
    uint64_t after = 0;
    uint64_t cut = 0;
  };
  // Nothing (while a read is on its way, or all are done) or the read,
  // which is then on its way until Page or ReadFailed.
  std::optional<Read> NextRead();
  // A page of `read.topic` (in offset order) in the topic's `epoch`, whose
  // newest committed offset is `last_offset`, `truncated` if more follow.
  // The messages below the cut and at or after since_us wait for room
  // (TakeReady). Returns true when the topic still has messages below the
  // cut that are not committed yet (the caller checks whether they can
  // still be, then calls Wait or TopicDone).
  bool Page(const Read& read, uint64_t epoch, uint64_t last_offset, std::vector<MessagePtr> msgs,
            bool truncated);
  // The read failed: tried again later.
  void ReadFailed();
  // The topic's messages below the cut can no longer come (lost with a
  // store failure or an epoch change): the topic is done.
  void TopicDone(const std::string& topic);
  // Messages read and waiting for room in the queue.
  bool HasReady() const;
  MessagePtr PeekReady() const;
  // The one PeekReady gave became a job (its job is written: Encode counts
  // it), or never can (`skipped`: larger than the queue may hold).
  void PopReady(bool skipped = false);
  // The queue was deleted: nothing more is read.
  void Abandon();
  // At start: the topics it reads, and a cut past what the topic's
  // recovered head would number next (offsets numbered before a crash and
  // never committed, which new messages now take, live) brought back to it.
  std::vector<std::pair<std::string, uint64_t>> Cuts() const;  // (topic, epoch)
  void ClampCut(const std::string& topic, uint64_t epoch, uint64_t next);
  // Whether everything is read and made into jobs.
  bool Finished() const;
  // Marks it finished once (true the first time it is).
  bool MarkFinished();

  uint64_t added() const { return added_.load(std::memory_order_relaxed); }
  uint64_t skipped() const { return skipped_.load(std::memory_order_relaxed); }
  bool done() const { return done_.load(std::memory_order_acquire); }

  // When the broker should step it again (steady microseconds), for a
  // wait: commits below a cut, a full queue, a failed read.
  int64_t retry_at_us() const;
  void RetryAt(int64_t at_us);
  // When its progress was last written (the broker's, steady microseconds).
  int64_t saved_at_us() const { return saved_at_us_.load(std::memory_order_relaxed); }
  void SavedAt(int64_t us) { saved_at_us_.store(us, std::memory_order_relaxed); }
  // The queue had no room for the next job: a settlement wakes the
  // reading (TakeFull says whether one should, once) rather than a poll.
  void SetFull() { full_.store(true, std::memory_order_release); }
  bool TakeFull() {
    return full_.load(std::memory_order_acquire) &&
           full_.exchange(false, std::memory_order_acq_rel);
  }

 private:
  struct TopicCut {
    uint64_t epoch = 0;
    uint64_t cut = 0;    // first live offset
    uint64_t after = 0;  // read up to here
    bool done = false;
  };
  const int64_t since_us_;
  mutable std::mutex mu_;
  std::atomic<bool> listed_{false};
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> added_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<bool> full_{false};
  std::atomic<int64_t> saved_at_us_{0};
  std::map<std::string, TopicCut, std::less<>> cuts_;
  std::set<std::tuple<std::string, uint64_t, uint64_t>> skip_;
  std::deque<MessagePtr> ready_;
  bool in_flight_ = false;
  bool dirty_ = false;
  int64_t retry_at_us_ = 0;
};

}  // namespace herald
