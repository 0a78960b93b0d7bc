// A new work queue reading its topics' history (QueueOptions::start; the
// cut that makes it exact is explained in queue_backfill.h).
//
// The maintenance thread steps each such queue: it lists the matching
// topics once, then reads one page at a time through the resume path (from
// memory, or from the history store on its reader thread), and adds what it
// read as jobs while the queue has room. Nothing here waits: a page
// completes on the store's thread and wakes the maintenance thread for the
// next step; a full queue, or messages below a cut still on their way to
// the store, are stepped again after a short while.
#include "broker/broker_impl.h"

namespace herald {
namespace {

constexpr size_t kBackfillPage = 256;
constexpr int64_t kCommitWaitUs = 5'000;          // numbered below a cut, not yet committed
constexpr int64_t kFullWaitUs = 100'000;          // the queue is full (and no settlement woke it)
constexpr int64_t kFailedReadWaitUs = 1'000'000;  // the store refused or failed a read
constexpr int64_t kSaveEveryUs = 200'000;         // how often its progress is written

}  // namespace

void Broker::Impl::NoteCuts(const JobPlaces& places, std::string_view topic, uint64_t epoch,
                            uint64_t offset) {
  for (const JobPlace& p : places) {
    QueueBackfill* bf = p.queue->backfill();
    if (bf && bf->cutting()) bf->Cut(topic, epoch, offset);
  }
}

void Broker::Impl::SaveBackfill(const WorkQueuePtr& q, QueueBackfill& bf) {
  if (queue_store_) queues_.SaveBackfill(q, bf.Encode(), /*finished=*/false);
}

void Broker::Impl::ListBackfill(const WorkQueuePtr& q, QueueBackfill& bf) {
  std::vector<std::string> names;
  const std::string& pattern = q->options().pattern;
  topics_.RemoveIf([&](TopicState& ts) {
    if (PatternMatches(pattern, ts.name)) names.push_back(ts.name);
    return false;
  });
  for (const std::string& name : names) {
    TopicStatePtr ts = topics_.Find(name);
    if (!ts) continue;
    std::lock_guard lock(ts->mu);
    if (ts->removed) continue;
    // Everything numbered so far is history (some of it maybe still on its
    // way to the store); the next number is live.
    bf.Cut(ts->name, ts->epoch, ts->last_offset + ts->store_pending + 1);
  }
  bf.Listed();
  // Kept at once: a restart from here on reads on from these cuts.
  SaveBackfill(q, bf);
}

bool Broker::Impl::AddBackfilled(const WorkQueuePtr& q, QueueBackfill& bf) {
  JobPlaces made;
  std::vector<MessagePtr> messages;
  bool room = true;
  while (MessagePtr m = bf.PeekReady()) {
    const size_t bytes = m->payload.size();
    const WorkQueue::Room fits = q->BackfillRoom(bytes);
    if (fits == WorkQueue::Room::kNever || bytes > limits_.max_queue_bytes) {
      bf.PopReady(/*skipped=*/true);  // a publish of it would be refused as well
      continue;
    }
    // The node's bound too, half of it for the reading (as the queue's).
    const uint64_t node = queues_.bytes();
    if (fits == WorkQueue::Room::kNotNow ||
        (node != 0 && node + bytes > limits_.max_queue_bytes / 2)) {
      room = false;
      break;
    }
    Result<uint64_t> seq = q->Reserve(bytes);
    if (!seq.ok()) {  // a publish took the room meanwhile
      room = false;
      break;
    }
    if (*seq == 0) {  // deleted: the places made go as a publish's would
      bf.Abandon();
      break;
    }
    JobPlaces one{{q, *seq}};
    // The message is already stored: its job is written on its own.
    if (!PutJobs(m, one, nullptr).ok()) {  // the store is busy: later
      room = false;
      break;
    }
    made.push_back(one.front());
    messages.push_back(std::move(m));
    bf.PopReady();
  }
  if (!made.empty()) {
    // Where the reading stands is written after these jobs and before
    // any of them can be settled (they are offered below): a crash that
    // keeps a settlement keeps this too (QueueStore::KeepsWriteOrder), so
    // no job settled before it is made again.
    SaveBackfill(q, bf);
    for (size_t i = 0; i < made.size(); ++i) {
      JobPlaces one{made[i]};
      FillJobs(messages[i], one);
    }
  }
  return room;
}

int64_t Broker::Impl::StepBackfill(const WorkQueuePtr& q, int64_t now_us) {
  QueueBackfill* bf = q->backfill();
  if (!bf || bf->done()) return INT64_MAX;
  if (bf->cutting()) ListBackfill(q, *bf);
  if (const int64_t at = bf->retry_at_us(); now_us < at) return at;
  const bool room = AddBackfilled(q, *bf);
  // How far it read when that made no job (a page before the start
  // time), now and then: a restart reads on from there.
  if (bf->dirty() && now_us - bf->saved_at_us() >= kSaveEveryUs) {
    bf->SavedAt(now_us);
    SaveBackfill(q, *bf);
  }
  if (!room) {
    bf->RetryAt(now_us + kFullWaitUs);
    bf->SetFull();  // after: a settlement from now on wakes it at once
    return now_us + kFullWaitUs;
  }
  if (bf->MarkFinished()) {
    queues_.SaveBackfill(q, {}, /*finished=*/true);
    return INT64_MAX;
  }
  std::optional<QueueBackfill::Read> read = bf->NextRead();
  if (!read) return INT64_MAX;  // one is on its way: its completion wakes this thread
  const std::string topic = read->topic;
  ResumeOwned(topic, read->epoch, read->after, kBackfillPage,
              [this, q, read = std::move(*read)](Result<ResumeResult> page) {
                BackfillPage(q, read, std::move(page));
              });
  return INT64_MAX;
}

void Broker::Impl::BackfillPage(const WorkQueuePtr& q, const QueueBackfill::Read& read,
                                Result<ResumeResult> page) {
  QueueBackfill& bf = *q->backfill();
  const int64_t now = SteadyUs(RequestTracker::Clock::now());
  if (!page.ok()) {
    bf.ReadFailed();
    bf.RetryAt(now + kFailedReadWaitUs);
    NoteQueueDeadline(now + kFailedReadWaitUs);
    return;
  }
  const uint64_t read_last = page->last_offset;
  if (bf.Page(read, page->epoch, read_last, std::move(page->messages), page->truncated)) {
    // Numbered below the cut and not committed when the page was read:
    // committed since (read again), on their way (wait), or lost with the
    // store's failure or a new epoch (the topic is done: never published).
    bool lost = true;
    bool again = false;
    if (TopicStatePtr ts = topics_.Find(read.topic)) {
      std::lock_guard lock(ts->mu);
      if (!ts->removed && ts->epoch == read.epoch && !ts->store_failed) {
        again = ts->last_offset > read_last;
        lost = !again && ts->store_pending == 0;
      }
    }
    if (lost) {
      bf.TopicDone(read.topic);
    } else if (!again) {
      bf.RetryAt(now + kCommitWaitUs);
      NoteQueueDeadline(now + kCommitWaitUs);
      return;
    }
  }
  NoteQueueDeadline(now);
}

}  // namespace herald
