#include "broker/work_queue.h"

#include <algorithm>
#include <charconv>
#include <climits>

namespace herald {

std::string_view SettleKindName(SettleKind kind) {
  switch (kind) {
    case SettleKind::kAck:
      return "ack";
    case SettleKind::kNack:
      return "nack";
    case SettleKind::kProgress:
      return "progress";
    case SettleKind::kTerm:
      return "term";
  }
  return "unknown";
}

namespace {

constexpr char kHex[] = "0123456789abcdef";

// "<queue>/<seq>/<delivery>/<nonce as 16 hex digits>", in one allocation:
// every delivery makes one.
std::string FormatHandle(std::string_view queue, uint64_t seq, uint32_t delivery, uint64_t nonce) {
  std::string out;
  out.reserve(queue.size() + 2 * 20 + 3 + 16);
  out.append(queue);
  char digits[20];
  for (uint64_t n : {seq, uint64_t{delivery}}) {
    out += '/';
    out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
  }
  out += '/';
  const size_t at = out.size();
  out.resize(at + 16);
  for (int i = 15; i >= 0; --i, nonce >>= 4) out[at + static_cast<size_t>(i)] = kHex[nonce & 15];
  return out;
}

template <typename T>
bool ParseNumber(std::string_view s, T& out, int base = 10) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Result<JobHandle> ParseJobHandle(std::string_view handle) {
  auto bad = [&] {
    return Status(ErrorCode::kUnknownHandle,
                  "malformed job handle '" + std::string(handle.substr(0, 200)) +
                      "' (expected <queue>/<seq>/<delivery>/<nonce>, as delivered)");
  };
  JobHandle h;
  std::string_view rest = handle;
  std::string_view parts[4];
  for (int i = 3; i >= 1; --i) {
    const size_t slash = rest.rfind('/');
    if (slash == std::string_view::npos) return bad();
    parts[i] = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  parts[0] = rest;
  if (parts[0].empty() || !ParseNumber(parts[1], h.seq) || !ParseNumber(parts[2], h.delivery) ||
      parts[3].size() != 16 || !ParseNumber(parts[3], h.nonce, 16)) {
    return bad();
  }
  h.queue = std::string(parts[0]);
  return h;
}

uint64_t JobWireBytes(const Message& m, std::string_view queue) {
  // The payload as the costlier of the fronts' encodings: base64 (a binary
  // payload in JSON) or JSON-escaped text (a quote or backslash takes 2
  // bytes, a control character 6). Then the other strings, the queue's
  // name twice (its field and the handle's), and the frame's fixed fields
  // (handle numbers, position, stamp, count, field names).
  uint64_t escaped = m.payload.size();
  for (char c : m.payload) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20) {
      escaped += 5;
    } else if (c == '"' || c == '\\') {
      escaped += 1;
    }
  }
  const uint64_t base64 = (m.payload.size() + 2) / 3 * 4;
  // Strings that may hold characters JSON escapes count twice.
  uint64_t bytes = std::max(escaped, base64) + 2 * m.topic.size() + 2 * m.content_type.size() +
                   2 * m.reply_to.size() + 2 * m.msg_id.size() + 2 * queue.size() + 320;
  for (const Header& h : m.headers) bytes += 2 * (h.name.size() + h.value.size()) + 8;
  return bytes;
}

Status WorkQueue::Closed() const {
  return Status(ErrorCode::kNotFound, "work queue '" + options_.name + "' was deleted");
}

WorkQueue::WorkQueue(QueueOptions options, std::function<uint64_t()> nonce,
                     std::atomic<uint64_t>* node_bytes, QueueStore* store, uint64_t incarnation,
                     SharedQueueStore* shared, std::string holder)
    : options_(std::move(options)),
      nonce_(std::move(nonce)),
      node_bytes_(node_bytes),
      store_(store),
      incarnation_(incarnation),
      shared_(shared),
      backfill_(MakeBackfill(options_, shared)),
      holder_(std::move(holder)) {}

std::unique_ptr<QueueBackfill> WorkQueue::MakeBackfill(const QueueOptions& o,
                                                       SharedQueueStore* shared) {
  if (o.start == QueueOptions::Start::kNew || shared) return nullptr;
  int64_t since = INT64_MIN;
  if (o.start == QueueOptions::Start::kTime) {
    since = std::chrono::duration_cast<std::chrono::microseconds>(o.start_time.time_since_epoch())
                .count();
  }
  return std::make_unique<QueueBackfill>(since);
}

std::set<std::tuple<std::string, uint64_t, uint64_t>> WorkQueue::HeldPositions() const {
  std::lock_guard lock(mu_);
  std::set<std::tuple<std::string, uint64_t, uint64_t>> held;
  for (const auto& [seq, job] : jobs_) {
    if (job.message) held.emplace(job.message->topic, job.message->epoch, job.message->offset);
  }
  return held;
}

WorkQueue::Room WorkQueue::BackfillRoom(size_t bytes) const {
  std::lock_guard lock(mu_);
  if (closed_) return Room::kYes;
  if (bytes > options_.max_pending_bytes) return Room::kNever;
  const uint64_t held = jobs_.size() + reserved_;
  if (held == 0) return Room::kYes;
  const bool count = held + 1 <= options_.max_pending / 2;
  const bool size = bytes_ + bytes <= options_.max_pending_bytes / 2;
  return count && size ? Room::kYes : Room::kNotNow;
}

Result<uint64_t> WorkQueue::Reserve(size_t bytes) {
  std::lock_guard lock(mu_);
  if (closed_) return uint64_t{0};  // deleted meanwhile: no job
  // A shared queue's jobs are in the store: max_pending against its count
  // (as of the last claim, and what was published here since); the bytes
  // are the store's (its max_queued_bytes while they are written).
  const uint64_t pending = shared_ ? shared_pending_ : jobs_.size();
  if (pending + reserved_ + 1 > options_.max_pending) {
    ++counts_.refused;
    return Status(ErrorCode::kResourceExhausted,
                  "work queue '" + options_.name + "' holds max_pending " +
                      std::to_string(options_.max_pending) + " jobs: nothing was published");
  }
  if (bytes_ + bytes > options_.max_pending_bytes) {
    ++counts_.refused;
    return Status(ErrorCode::kResourceExhausted, "work queue '" + options_.name +
                                                     "' holds max_pending_bytes " +
                                                     std::to_string(options_.max_pending_bytes) +
                                                     " of jobs: nothing was published");
  }
  ++reserved_;
  if (shared_) return ++next_seq_;
  bytes_ += bytes;
  node_bytes_->fetch_add(bytes, std::memory_order_relaxed);
  return ++next_seq_;
}

void WorkQueue::Release(uint64_t seq, size_t bytes, std::string_view topic) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  --reserved_;
  if (shared_) return;  // nothing was held here, nor written
  bytes_ -= bytes;
  node_bytes_->fetch_sub(bytes, std::memory_order_relaxed);
  if (store_) store_->DeleteJob(Ref(seq, topic));
}

void WorkQueue::Restore(std::vector<StoredJob> jobs, uint64_t shared_pending, int64_t now_us,
                        Effects& fx) {
  std::lock_guard lock(mu_);
  shared_pending_ = shared_pending;
  for (StoredJob& j : jobs) {
    bytes_ += j.message->payload.size();
    node_bytes_->fetch_add(j.message->payload.size(), std::memory_order_relaxed);
    next_seq_ = std::max(next_seq_, j.seq);
    JobRecord& job = jobs_[j.seq];
    job.wire_bytes = JobWireBytes(*j.message, options_.name);
    job.message = std::move(j.message);
    job.deliveries = j.deliveries;
    ++counts_.enqueued;
    // Its last delivery may have been the one in flight at the crash.
    if (options_.max_deliver != 0 && job.deliveries >= options_.max_deliver) {
      ToDeadLetter(j.seq, job, "max_deliver", fx);
    } else {
      ready_.insert(j.seq);
    }
  }
  Pump(now_us, fx);
  NextDeadline(fx);
}

void WorkQueue::CountRefused() {
  std::lock_guard lock(mu_);
  ++counts_.refused;
}

void WorkQueue::Fill(uint64_t seq, MessagePtr m, int64_t now_us, Effects& fx) {
  if (shared_) {
    // Written to the store with its message: any broker's claim takes it.
    std::lock_guard lock(mu_);
    if (closed_) return;
    --reserved_;
    ++shared_pending_;
    ++counts_.enqueued;
    idle_ = false;
    return;
  }
  const uint64_t wire_bytes = JobWireBytes(*m, options_.name);  // a scan: not under the lock
  std::lock_guard lock(mu_);
  if (closed_) return;
  --reserved_;
  JobRecord& job = jobs_[seq];
  job.wire_bytes = wire_bytes;
  job.message = std::move(m);
  ready_.insert(seq);
  ++counts_.enqueued;
  Pump(now_us, fx);
  NextDeadline(fx);
}

Status WorkQueue::Join(uint64_t member, SubscriptionPtr target, uint32_t max_in_flight,
                       std::shared_ptr<JobBudget> budget, int64_t now_us, Effects& fx) {
  std::lock_guard lock(mu_);
  if (closed_) return Closed();
  Member& m = members_[member];
  m.target = std::move(target);
  m.max_in_flight = max_in_flight == 0 || max_in_flight > options_.max_in_flight_per_member
                        ? options_.max_in_flight_per_member
                        : max_in_flight;
  m.budget = std::move(budget);  // membership ids are never reused
  if (m.budget) m.budget->AddMember();
  idle_ = false;  // new room: worth a claim
  stalled_until_us_ = 0;
  Pump(now_us, fx);
  NextDeadline(fx);
  return Status::Ok();
}

void WorkQueue::Leave(uint64_t member, int64_t now_us, Effects& fx) {
  std::lock_guard lock(mu_);
  auto it = members_.find(member);
  if (it == members_.end()) return;
  const std::set<uint64_t> held = std::move(it->second.held);
  it->second.Release();
  // Jobs already queued for it are not shown to it (they are offered again).
  it->second.target->active.store(false, std::memory_order_release);
  members_.erase(it);
  for (uint64_t seq : held) {
    auto job = jobs_.find(seq);
    if (job == jobs_.end() || job->second.state != State::kInFlight) continue;
    Unhold(seq, job->second);
    GiveBack(seq, job->second, 0, now_us, fx);
  }
  Pump(now_us, fx);
  NextDeadline(fx);
}

uint64_t WorkQueue::Pull(size_t max, int64_t wait_us, size_t max_waiting, PullCallback done,
                         int64_t now_us, Effects& fx) {
  std::lock_guard lock(mu_);
  if (closed_) {
    fx.pulls.emplace_back(std::move(done), Closed());
    return 0;
  }
  // A shared queue holds no jobs to answer at once with: a pull waits for
  // one claim at least (kSharedPullWaitUs).
  if (shared_) {
    wait_us = std::max(wait_us, kSharedPullWaitUs);
    idle_ = false;
    stalled_until_us_ = 0;
  }
  if (wait_us > 0 && pulls_.size() >= max_waiting) {
    ++counts_.pulls_refused;
    fx.pulls.emplace_back(
        std::move(done),
        Status(ErrorCode::kResourceExhausted, "work queue '" + options_.name + "' already has " +
                                                  std::to_string(max_waiting) +
                                                  " pulls waiting (max_waiting_pulls)"));
    return 0;
  }
  const uint64_t id = ++next_pull_;
  const int64_t deadline = now_us + std::max<int64_t>(wait_us, 0);
  pulls_.push_back({id, max == 0 ? 1 : max, deadline, std::move(done)});
  pull_timers_.insert({deadline, id});
  Pump(now_us, fx);
  const bool waits = !pulls_.empty() && pulls_.back().id == id;
  // Nothing for it and no wait asked: answered now, empty.
  if (waits && wait_us <= 0) {
    fx.pulls.emplace_back(std::move(pulls_.back().done), std::vector<Job>{});
    pull_timers_.erase({pulls_.back().deadline_us, id});
    pulls_.pop_back();
    NextDeadline(fx);
    return 0;
  }
  NextDeadline(fx);
  return waits ? id : 0;
}

void WorkQueue::CancelPull(uint64_t id, Effects& fx) {
  std::lock_guard lock(mu_);
  for (auto it = pulls_.begin(); it != pulls_.end(); ++it) {
    if (it->id != id) continue;
    fx.pulls.emplace_back(std::move(it->done),
                          Status(ErrorCode::kCancelled, "the pull was cancelled by its caller"));
    pull_timers_.erase({it->deadline_us, id});
    pulls_.erase(it);
    break;
  }
  NextDeadline(fx);
}

Job WorkQueue::Deliver(uint64_t seq, JobRecord& job, uint64_t member, int64_t now_us) {
  ready_.erase(seq);
  ++job.deliveries;
  ++counts_.delivered;
  if (job.deliveries > 1) ++counts_.redelivered;
  job.state = State::kInFlight;
  job.member = member;
  job.prev_nonce = job.nonce;
  job.nonce = nonce_();
  job.due_us =
      now_us + std::chrono::duration_cast<std::chrono::microseconds>(options_.ack_wait).count();
  timers_.insert({job.due_us, seq});
  ++in_flight_;
  if (store_ && !shared_) store_->SetDeliveries(RefOf(seq, job), job.deliveries);
  Job out;
  out.queue = options_.name;
  out.seq = seq;
  out.deliveries = job.deliveries;
  out.message = job.message;
  out.handle = FormatHandle(options_.name, seq, job.deliveries, job.nonce);
  return out;
}

void WorkQueue::Pump(int64_t now_us, Effects& fx) {
  if (closed_) return;
  // Pulls first: they are waiting callers; then members, round robin.
  while (!pulls_.empty() && !ready_.empty() && in_flight_ < options_.max_in_flight) {
    WaitingPull pull = std::move(pulls_.front());
    pulls_.erase(pulls_.begin());
    pull_timers_.erase({pull.deadline_us, pull.id});
    std::vector<Job> jobs;
    while (jobs.size() < pull.max && !ready_.empty() && in_flight_ < options_.max_in_flight) {
      const uint64_t seq = *ready_.begin();
      jobs.push_back(Deliver(seq, jobs_.at(seq), kPullMember, now_us));
    }
    fx.pulls.emplace_back(std::move(pull.done), std::move(jobs));
  }
  while (!ready_.empty() && in_flight_ < options_.max_in_flight && !members_.empty()) {
    ClearWaiting();  // each job asks every member again
    const uint64_t seq = *ready_.begin();
    JobRecord& job = jobs_.at(seq);
    const uint64_t bytes = job.wire_bytes;
    // The next member after the last served with room, wrapping around.
    auto it = members_.upper_bound(last_served_);
    bool found = false;
    for (size_t i = 0; i < members_.size(); ++i, ++it) {
      if (it == members_.end()) it = members_.begin();
      const Member::Room room = it->second.TakeRoom(bytes);
      if (room == Member::Room::kTaken) {
        found = true;
        break;
      }
      if (room == Member::Room::kWaits) {
        it->second.SetWaiting(true);
        waiting_.push_back(it->first);
      }
    }
    // Nobody could take it: those refused within their share wait for it
    // (until this queue's next pump), and past-share jobs on their
    // connections yield to them.
    if (!found) return;
    last_served_ = it->first;
    Member& m = it->second;
    m.held.insert(seq);
    m.held_bytes += bytes;  // charged to its budget by TakeRoom
    m.target->queued_jobs.fetch_add(1, std::memory_order_relaxed);
    fx.sends.emplace_back(m.target,
                          std::make_shared<const Job>(Deliver(seq, job, it->first, now_us)));
  }
  ClearWaiting();
}

void WorkQueue::ClearWaiting() {
  for (uint64_t id : waiting_) {
    if (auto m = members_.find(id); m != members_.end()) m->second.SetWaiting(false);
  }
  waiting_.clear();
}

void WorkQueue::Unhold(uint64_t seq, JobRecord& job, bool expired) {
  stalled_until_us_ = 0;  // room freed
  timers_.erase({job.due_us, seq});
  if (job.state == State::kInFlight) {
    --in_flight_;
    if (job.member != kPullMember) {
      if (auto it = members_.find(job.member); it != members_.end() && it->second.held.erase(seq)) {
        Member& m = it->second;
        m.held_bytes -= job.wire_bytes;
        if (expired && m.budget && m.owed.emplace(job.nonce, job.wire_bytes).second) {
          m.owed_bytes += job.wire_bytes;  // still charged
        } else if (m.budget) {
          m.budget->Credit(job.wire_bytes);
        }
      }
    }
  } else if (job.state == State::kDelayed) {
    --delayed_;
  }
}

bool WorkQueue::ReleaseOwed(uint64_t member, uint64_t nonce) {
  auto m = members_.find(member);
  if (m == members_.end()) return false;
  auto it = m->second.owed.find(nonce);
  if (it == m->second.owed.end()) return false;
  m->second.owed_bytes -= it->second;
  m->second.budget->Credit(it->second);
  m->second.owed.erase(it);
  stalled_until_us_ = 0;  // bytes freed
  return true;
}

int64_t WorkQueue::Backoff(uint32_t deliveries) const {
  if (options_.backoff.empty() || deliveries == 0) return 0;
  const size_t step = std::min<size_t>(deliveries - 1, options_.backoff.size() - 1);
  return std::chrono::duration_cast<std::chrono::microseconds>(options_.backoff[step]).count();
}

void WorkQueue::GiveBack(uint64_t seq, JobRecord& job, int64_t delay_us, int64_t now_us,
                         Effects& fx) {
  if (options_.max_deliver != 0 && job.deliveries >= options_.max_deliver) {
    return ToDeadLetter(seq, job, "max_deliver", fx);
  }
  if (shared_) return ReleaseShared(jobs_.find(seq), delay_us, /*uncount=*/false);
  if (delay_us > 0) {
    job.state = State::kDelayed;
    job.due_us = now_us + delay_us;
    timers_.insert({job.due_us, seq});
    ++delayed_;
    return;
  }
  job.state = State::kReady;
  ready_.insert(seq);
}

namespace {

bool IsDeadLetter(const Message& m) {
  for (const Header& h : m.headers) {
    if (h.name == kDeadReasonHeader) return true;
  }
  return false;
}

}  // namespace

void WorkQueue::ToDeadLetter(uint64_t seq, JobRecord& job, std::string_view reason, Effects& fx) {
  // A dead letter is not dead-lettered again (dropped, counted): queues
  // whose dead letters feed each other cannot pass a job around forever.
  if (options_.dead_letter.empty() || IsDeadLetter(*job.message)) {
    ++counts_.dropped;
    Remove(jobs_.find(seq));
    return;
  }
  job.state = State::kDeadLettering;
  job.dead_reason = reason;
  // Its publish may take a while (a remote owner, replicas): the lease must
  // outlast it, or another broker would dead-letter it too.
  if (shared_) shared_->Extend(options_.name, job.key, holder_, Lease());
  fx.dead.push_back({seq, job.message, job.deliveries, reason});
}

void WorkQueue::Remove(std::map<uint64_t, JobRecord>::iterator it) {
  if (store_) store_->DeleteJob(RefOf(it->first, it->second));
  if (shared_ && shared_pending_ > 0) --shared_pending_;  // until the next claim says
  Forget(it);
}

std::map<uint64_t, WorkQueue::JobRecord>::iterator WorkQueue::Forget(
    std::map<uint64_t, JobRecord>::iterator it) {
  bytes_ -= it->second.message->payload.size();
  node_bytes_->fetch_sub(it->second.message->payload.size(), std::memory_order_relaxed);
  if (shared_) keys_.erase(it->second.key);
  return jobs_.erase(it);
}

void WorkQueue::ReleaseShared(std::map<uint64_t, JobRecord>::iterator it, int64_t delay_us,
                              bool uncount) {
  // Given back unused, it keeps its place in line (the oldest stay first).
  shared_->Release(options_.name, it->second.key, holder_,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::microseconds(std::max<int64_t>(delay_us, 0))),
                   uncount, it->second.ready_at);
  Forget(it);
  idle_ = false;  // a job may be ready in the store again
}

uint32_t WorkQueue::Demand() const {
  uint64_t want = 0;
  for (const auto& [id, m] : members_) {
    // Out of bytes (TakeRoom would refuse any job): no claim for it, or
    // every poll would claim jobs only to give them back.
    if (m.budget) {
      const uint64_t mine = m.held_bytes + m.owed_bytes;
      if ((mine != 0 && mine >= m.budget->share()) || m.budget->used() >= m.budget->max_bytes()) {
        continue;
      }
    }
    const uint64_t holds =
        std::max<uint64_t>(m.held.size(), m.target->queued_jobs.load(std::memory_order_acquire));
    if (holds < m.max_in_flight) want += m.max_in_flight - holds;
  }
  for (const WaitingPull& p : pulls_) want += p.max;
  // What claims on their way will bring is asked for already.
  want = want > claimed_for_ ? want - claimed_for_ : 0;
  const uint64_t busy = in_flight_ + ready_.size() + claimed_for_;
  const uint64_t room = options_.max_in_flight > busy ? options_.max_in_flight - busy : 0;
  return static_cast<uint32_t>(std::min<uint64_t>({want, room, kMaxClaim}));
}

bool WorkQueue::StartRefresh(int64_t now_us) {
  std::lock_guard lock(mu_);
  if (!shared_ || closed_ || claims_ != 0 || now_us < next_refresh_us_) return false;
  ++claims_;
  next_refresh_us_ = now_us + kRefreshUs;
  return true;
}

size_t WorkQueue::StartClaim(bool poll, int64_t now_us) {
  std::lock_guard lock(mu_);
  if (!shared_ || closed_ || claims_ >= kMaxClaims || (idle_ && !poll)) return 0;
  if (stalled_until_us_ != 0) {
    if (now_us < stalled_until_us_) return 0;
    stalled_until_us_ = 0;
  }
  const uint32_t n = Demand();
  if (n == 0) return 0;
  ++claims_;
  claimed_for_ += n;
  return n;
}

bool WorkQueue::Hungry() const {
  std::lock_guard lock(mu_);
  return shared_ && !closed_ && stalled_until_us_ == 0 && Demand() > 0;
}

bool WorkQueue::Adopt(Result<std::vector<ClaimedJob>> claimed, uint64_t pending, size_t asked,
                      int64_t now_us, Effects& fx) {
  std::vector<uint64_t> wire;  // a scan of each payload: not under the lock
  if (claimed.ok()) {
    for (const ClaimedJob& j : *claimed) wire.push_back(JobWireBytes(*j.message, options_.name));
  }
  std::lock_guard lock(mu_);
  --claims_;
  claimed_for_ -= asked;
  if (!claimed.ok()) {
    idle_ = true;  // tried again at the next poll
    return false;
  }
  shared_pending_ = pending;
  size_t used = 0;
  std::vector<uint64_t> adopted;
  for (size_t i = 0; i < claimed->size(); ++i) {
    ClaimedJob& c = (*claimed)[i];
    if (closed_) {
      shared_->Release(options_.name, c.key, holder_, std::chrono::milliseconds(0), true,
                       c.ready_at);
      continue;
    }
    if (!keys_.insert(c.key).second) {
      // Held here already (its lease ran out meanwhile): leased again.
      shared_->Extend(options_.name, c.key, holder_, Lease());
      continue;
    }
    const uint64_t seq = ++next_seq_;
    JobRecord& job = jobs_[seq];
    job.message = std::move(c.message);
    job.key = std::move(c.key);
    job.ready_at = std::move(c.ready_at);
    job.wire_bytes = wire[i];
    job.deliveries = c.deliveries - 1;  // Deliver counts the one claimed
    job.leased_until_us = now_us + std::chrono::microseconds(Lease()).count();
    bytes_ += job.message->payload.size();
    node_bytes_->fetch_add(job.message->payload.size(), std::memory_order_relaxed);
    if (options_.max_deliver != 0 && job.deliveries >= options_.max_deliver) {
      // Its last delivery was made (by a broker that died, or before a
      // restart): the claim that would make one more dead-letters it.
      ToDeadLetter(seq, job, "max_deliver", fx);
      ++used;
      continue;
    }
    ready_.insert(seq);
    adopted.push_back(seq);
  }
  Pump(now_us, fx);
  // A claimed job waits in no broker: what nobody here can take now (their
  // bytes, say) goes back at once, its claim not counted.
  for (uint64_t seq : adopted) {
    auto it = jobs_.find(seq);
    if (it == jobs_.end() || it->second.state != State::kReady) {
      ++used;
      continue;
    }
    ready_.erase(seq);
    ReleaseShared(it, 0, /*uncount=*/true);
  }
  idle_ = used == 0;
  if (used == 0 && !claimed->empty()) stalled_until_us_ = now_us + kRefreshUs;
  NextDeadline(fx);
  return used != 0;
}

Status WorkQueue::Settle(uint64_t member, const JobHandle& handle, SettleKind kind,
                         int64_t delay_us, int64_t now_us, Effects& fx) {
  std::lock_guard lock(mu_);
  // A late settlement of an expired delivery proves the member read it: its
  // charge goes, and the member may have room again even though the
  // settlement itself is refused (stale).
  const bool released = member != kPullMember && ReleaseOwed(member, handle.nonce);
  Status s = SettleLocked(member, handle, kind, delay_us, now_us, fx);
  if (!s.ok() && released) {
    Pump(now_us, fx);
    NextDeadline(fx);
  }
  return s;
}

Status WorkQueue::Unsent(const JobHandle& handle, int64_t now_us, Effects& fx) {
  std::lock_guard lock(mu_);
  Result<std::map<uint64_t, JobRecord>::iterator> it = InFlight(kPullMember, handle);
  if (!it.ok()) return it.status();
  JobRecord& job = (*it)->second;
  Unhold(handle.seq, job);
  // Not a delivery after all: nobody saw it, so max_deliver does not count
  // it. (The counters, Prometheus counters, never go down: `delivered`
  // counts attempts.)
  --job.deliveries;
  if (shared_) {
    ReleaseShared(*it, 0, /*uncount=*/true);
    Pump(now_us, fx);
    NextDeadline(fx);
    return Status::Ok();
  }
  if (store_) store_->SetDeliveries(RefOf(handle.seq, job), job.deliveries);
  job.state = State::kReady;
  ready_.insert(handle.seq);
  Pump(now_us, fx);
  NextDeadline(fx);
  return Status::Ok();
}

Result<std::map<uint64_t, WorkQueue::JobRecord>::iterator> WorkQueue::InFlight(
    uint64_t member, const JobHandle& handle) {
  auto it = jobs_.find(handle.seq);
  // Built only for a refusal: a settlement that holds costs no string.
  auto refuse = [&](ErrorCode code, std::string_view why) {
    return Status(code, "job " + std::to_string(handle.seq) + " of work queue '" + options_.name +
                            "' (delivery " + std::to_string(handle.delivery) + ") " +
                            std::string(why));
  };
  if (it == jobs_.end()) {
    return refuse(ErrorCode::kUnknownHandle, "is not pending: settled already, or never delivered");
  }
  JobRecord& job = it->second;
  if (handle.delivery < job.deliveries) {
    return refuse(ErrorCode::kStaleHandle, "was delivered again since (delivery " +
                                               std::to_string(job.deliveries) +
                                               "): only that delivery can settle it");
  }
  const bool this_delivery = handle.delivery == job.deliveries && handle.nonce == job.nonce;
  if (this_delivery && job.member != member) {
    return refuse(ErrorCode::kUnknownHandle,
                  "was delivered to another member: only it can settle the job");
  }
  // Its ack_wait passed (or it was nacked) and it waits to be offered again.
  const bool waiting =
      job.state == State::kReady || (job.state == State::kDelayed && job.dead_reason.empty());
  if (this_delivery && waiting) {
    return refuse(ErrorCode::kStaleHandle,
                  "is over (its ack_wait passed, or it was given back): the job waits to be "
                  "offered again");
  }
  if (job.state != State::kInFlight || !this_delivery) {
    return refuse(ErrorCode::kUnknownHandle, "is not in flight under this handle");
  }
  return it;
}

Status WorkQueue::SettleLocked(uint64_t member, const JobHandle& handle, SettleKind kind,
                               int64_t delay_us, int64_t now_us, Effects& fx) {
  Result<std::map<uint64_t, JobRecord>::iterator> found = InFlight(member, handle);
  if (!found.ok()) return found.status();
  auto it = *found;
  JobRecord& job = it->second;
  switch (kind) {
    case SettleKind::kAck:
      Unhold(handle.seq, job);
      ++counts_.acked;
      Remove(it);
      break;
    case SettleKind::kProgress:
      timers_.erase({job.due_us, handle.seq});
      job.due_us =
          now_us + std::chrono::duration_cast<std::chrono::microseconds>(options_.ack_wait).count();
      timers_.insert({job.due_us, handle.seq});
      if (shared_ && job.leased_until_us < job.due_us + kLeaseMarginUs) {
        shared_->Extend(options_.name, job.key, holder_, Lease());
        job.leased_until_us = now_us + std::chrono::microseconds(Lease()).count();
      }
      NextDeadline(fx);
      return Status::Ok();  // nothing freed: nothing to offer
    case SettleKind::kNack:
      Unhold(handle.seq, job);
      ++counts_.nacked;
      GiveBack(handle.seq, job, delay_us >= 0 ? delay_us : Backoff(job.deliveries), now_us, fx);
      break;
    case SettleKind::kTerm:
      Unhold(handle.seq, job);
      ++counts_.termed;
      ToDeadLetter(handle.seq, job, "term", fx);
      break;
  }
  Pump(now_us, fx);
  NextDeadline(fx);
  return Status::Ok();
}

void WorkQueue::DeadLettered(uint64_t seq, bool published, int64_t retry_us, int64_t now_us,
                             Effects& fx) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(seq);
  if (it == jobs_.end() || it->second.state != State::kDeadLettering) return;
  if (published) {
    ++counts_.dead_lettered;
    Remove(it);
    if (closed_) return;
    Pump(now_us, fx);
    NextDeadline(fx);
    return;
  }
  if (closed_) {
    // Refused during the stop: left to the store (the next start, or the
    // lease's end), at least once.
    Forget(it);
    return;
  }
  // The dead-letter topic refused it (full, say): kept, and tried again.
  JobRecord& job = it->second;
  if (shared_) shared_->Extend(options_.name, job.key, holder_, Lease());
  job.state = State::kDelayed;
  job.due_us = now_us + retry_us;
  timers_.insert({job.due_us, seq});
  ++delayed_;
  NextDeadline(fx);
}

int64_t WorkQueue::Expire(int64_t now_us, Effects& fx) {
  std::lock_guard lock(mu_);
  while (!timers_.empty() && timers_.begin()->first <= now_us) {
    const uint64_t seq = timers_.begin()->second;
    JobRecord& job = jobs_.at(seq);
    const State was = job.state;
    Unhold(seq, job, was == State::kInFlight);
    if (was == State::kInFlight) {
      ++counts_.expired;
      GiveBack(seq, job, 0, now_us, fx);
    } else if (!job.dead_reason.empty()) {
      // A dead letter whose publish failed: tried again.
      ToDeadLetter(seq, job, job.dead_reason, fx);
    } else {
      job.state = State::kReady;
      ready_.insert(seq);
    }
  }
  if (!pull_timers_.empty() && pull_timers_.begin()->first <= now_us) {
    for (auto it = pulls_.begin(); it != pulls_.end();) {
      if (it->deadline_us > now_us) {
        ++it;
        continue;
      }
      fx.pulls.emplace_back(std::move(it->done), std::vector<Job>{});
      pull_timers_.erase({it->deadline_us, it->id});
      it = pulls_.erase(it);
    }
  }
  Pump(now_us, fx);
  return NextDeadline(fx);
}

int64_t WorkQueue::NextDeadline(Effects& fx) const {
  int64_t next = timers_.empty() ? INT64_MAX : timers_.begin()->first;
  if (!pull_timers_.empty()) next = std::min(next, pull_timers_.begin()->first);
  fx.next_deadline = next;
  return next;
}

int64_t WorkQueue::next_deadline() const {
  std::lock_guard lock(mu_);
  Effects fx;
  return NextDeadline(fx);
}

void WorkQueue::Close(Effects& fx) {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (auto& [id, m] : members_) {
    m.target->active.store(false, std::memory_order_release);
    m.Release();
  }
  pull_timers_.clear();
  // A shared queue's jobs go back to the store (the broker stops: another,
  // or the next run, takes them at once); a job claimed and not delivered
  // was not a delivery.
  if (shared_) {
    for (auto& [seq, job] : jobs_) {
      if (job.state == State::kDeadLettering) {
        // Its dead-letter publish may still complete: not offered again
        // before its lease runs out (then it is dead-lettered again, past
        // max_deliver, or delivered if it was termed: at least once).
        shared_->Extend(options_.name, job.key, holder_, Lease());
        continue;
      }
      const bool unused = job.state == State::kReady;
      shared_->Release(options_.name, job.key, holder_, std::chrono::milliseconds(0), unused,
                       job.ready_at);
    }
  }
  // The jobs go with the queue, but for those whose dead letter is still
  // being published: its answer may come during the broker's stop, and
  // then deletes the job from the store (DeadLettered), before the store's
  // last commit, rather than leave it to be offered again.
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    it = it->second.state == State::kDeadLettering ? std::next(it) : Forget(it);
  }
  ready_.clear();
  timers_.clear();
  members_.clear();
  waiting_.clear();
  in_flight_ = delayed_ = 0;
  for (WaitingPull& p : pulls_) fx.pulls.emplace_back(std::move(p.done), Closed());
  pulls_.clear();
}

size_t WorkQueue::pending_bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

QueueInfo WorkQueue::Info() const {
  std::lock_guard lock(mu_);
  QueueInfo info = counts_;
  info.options = options_;
  info.pending = shared_ ? std::max<uint64_t>(shared_pending_, jobs_.size()) : jobs_.size();
  info.pending_bytes = bytes_;
  info.in_flight = in_flight_;
  info.delayed = delayed_;
  info.members = members_.size();
  info.waiting_pulls = pulls_.size();
  if (backfill_) {
    info.backfilling = !backfill_->done();
    info.backfilled = backfill_->added();
    info.backfill_skipped = backfill_->skipped();
  }
  for (const auto& [id, m] : members_) {
    if (!m.budget) continue;
    info.charged_bytes += m.held_bytes + m.owed_bytes;
    info.owed += m.owed.size();
  }
  return info;
}

}  // namespace herald
