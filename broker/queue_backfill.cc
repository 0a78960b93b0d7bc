#include "broker/queue_backfill.h"

#include <charconv>
#include <utility>

namespace herald {

void QueueBackfill::Cut(std::string_view topic, uint64_t epoch, uint64_t offset) {
  std::lock_guard lock(mu_);
  if (listed_.load(std::memory_order_relaxed)) return;
  if (cuts_.find(topic) != cuts_.end()) return;
  TopicCut c;
  c.epoch = epoch;
  c.cut = offset;
  c.done = offset <= 1;  // nothing numbered before it in its epoch
  cuts_.emplace(std::string(topic), c);
}

void QueueBackfill::Listed() {
  std::lock_guard lock(mu_);
  listed_.store(true, std::memory_order_release);
}

void QueueBackfill::Skip(std::set<std::tuple<std::string, uint64_t, uint64_t>> held) {
  std::lock_guard lock(mu_);
  skip_ = std::move(held);
}

std::optional<QueueBackfill::Read> QueueBackfill::NextRead() {
  std::lock_guard lock(mu_);
  if (in_flight_ || !listed_.load(std::memory_order_relaxed)) return std::nullopt;
  for (auto& [topic, c] : cuts_) {
    if (c.done) continue;
    in_flight_ = true;
    return Read{topic, c.epoch, c.after, c.cut};
  }
  return std::nullopt;
}

bool QueueBackfill::Page(const Read& read, uint64_t epoch, uint64_t last_offset,
                         std::vector<MessagePtr> msgs, bool truncated) {
  std::lock_guard lock(mu_);
  in_flight_ = false;
  auto it = cuts_.find(read.topic);
  if (it == cuts_.end() || it->second.done) return false;
  TopicCut& c = it->second;
  dirty_ = true;
  if (epoch != c.epoch) {
    // The topic left the cut's epoch (a store failure, or it was forgotten
    // and made again): what that epoch held is no longer history.
    c.done = true;
    return false;
  }
  for (MessagePtr& m : msgs) {
    // The store's reader may see a commit the topic has not shown yet:
    // read again once it is (its offset is then within last_offset).
    if (m->offset > last_offset) break;
    if (m->epoch != c.epoch || m->offset >= c.cut) {
      c.done = true;
      return false;
    }
    if (m->offset <= c.after) continue;
    c.after = m->offset;
    dirty_ = true;
    if (m->timestamp_us < since_us_) continue;
    if (!skip_.empty() && skip_.count({m->topic, m->epoch, m->offset}) != 0) continue;
    ready_.push_back(std::move(m));
  }
  if (c.after + 1 >= c.cut) {
    c.done = true;
    return false;
  }
  if (truncated) return false;  // more to read now
  // History has nothing more up to the newest committed offset (what it
  // no longer keeps, or a topic that keeps none, is not read).
  if (last_offset > c.after) {
    c.after = last_offset;
    dirty_ = true;
  }
  if (c.after + 1 >= c.cut) {
    c.done = true;
    return false;
  }
  // The cut is past the newest committed: the offsets between were
  // numbered and are still on their way to the store.
  return true;
}

void QueueBackfill::ReadFailed() {
  std::lock_guard lock(mu_);
  in_flight_ = false;
}

void QueueBackfill::TopicDone(const std::string& topic) {
  std::lock_guard lock(mu_);
  if (auto it = cuts_.find(topic); it != cuts_.end()) {
    it->second.done = true;
    dirty_ = true;
  }
}

bool QueueBackfill::HasReady() const {
  std::lock_guard lock(mu_);
  return !ready_.empty();
}

MessagePtr QueueBackfill::PeekReady() const {
  std::lock_guard lock(mu_);
  return ready_.empty() ? nullptr : ready_.front();
}

void QueueBackfill::PopReady(bool skipped) {
  std::lock_guard lock(mu_);
  if (ready_.empty()) return;
  ready_.pop_front();
  dirty_ = true;
  (skipped ? skipped_ : added_).fetch_add(1, std::memory_order_relaxed);
}

void QueueBackfill::Abandon() {
  std::lock_guard lock(mu_);
  ready_.clear();
  for (auto& [topic, c] : cuts_) c.done = true;
  done_.store(true, std::memory_order_release);
}

std::vector<std::pair<std::string, uint64_t>> QueueBackfill::Cuts() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& [topic, c] : cuts_) out.emplace_back(topic, c.epoch);
  return out;
}

void QueueBackfill::ClampCut(const std::string& topic, uint64_t epoch, uint64_t next) {
  std::lock_guard lock(mu_);
  auto it = cuts_.find(topic);
  if (it == cuts_.end() || it->second.epoch != epoch || it->second.cut <= next) return;
  it->second.cut = next;
  if (it->second.after + 1 >= next) it->second.done = true;
}

bool QueueBackfill::Finished() const {
  std::lock_guard lock(mu_);
  if (!listed_.load(std::memory_order_relaxed) || in_flight_ || !ready_.empty()) return false;
  for (const auto& [topic, c] : cuts_) {
    if (!c.done) return false;
  }
  return true;
}

bool QueueBackfill::MarkFinished() {
  if (!Finished() || done_.exchange(true, std::memory_order_acq_rel)) return false;
  std::lock_guard lock(mu_);
  cuts_.clear();
  skip_.clear();
  return true;
}

int64_t QueueBackfill::retry_at_us() const {
  std::lock_guard lock(mu_);
  return retry_at_us_;
}

void QueueBackfill::RetryAt(int64_t at_us) {
  std::lock_guard lock(mu_);
  retry_at_us_ = at_us;
}

namespace {

constexpr std::string_view kSavedFormat = "backfill 1\n";

// One number and the space or newline after it.
bool ReadNumber(std::string_view& s, uint64_t& out, char end) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p == s.data() + s.size() || *p != end) return false;
  s.remove_prefix(static_cast<size_t>(p - s.data()) + 1);
  return true;
}

}  // namespace

// One line per topic not done: "<epoch> <cut> <after> <name bytes> <name>\n"
// (the name's length first: no byte of it needs escaping).
std::string QueueBackfill::Encode() {
  std::lock_guard lock(mu_);
  dirty_ = false;
  std::map<std::string_view, uint64_t> waiting;  // read, not yet a job: the first per topic
  for (const MessagePtr& m : ready_) waiting.try_emplace(m->topic, m->offset);
  std::string out(kSavedFormat);
  for (const auto& [topic, c] : cuts_) {
    // A topic read to its cut is done, but what was read may still wait.
    auto w = waiting.find(topic);
    if (c.done && w == waiting.end()) continue;
    uint64_t after = c.after;
    if (w != waiting.end()) after = std::min(after, w->second - 1);
    out += std::to_string(c.epoch) + ' ' + std::to_string(c.cut) + ' ' + std::to_string(after) +
           ' ' + std::to_string(topic.size()) + ' ' + topic + '\n';
  }
  return out;
}

bool QueueBackfill::dirty() const {
  std::lock_guard lock(mu_);
  return dirty_;
}

bool QueueBackfill::Restore(std::string_view saved) {
  if (!saved.starts_with(kSavedFormat)) return false;
  saved.remove_prefix(kSavedFormat.size());
  std::map<std::string, TopicCut, std::less<>> cuts;
  while (!saved.empty()) {
    TopicCut c;
    uint64_t size = 0;
    if (!ReadNumber(saved, c.epoch, ' ') || !ReadNumber(saved, c.cut, ' ') ||
        !ReadNumber(saved, c.after, ' ') || !ReadNumber(saved, size, ' ') || size >= saved.size() ||
        saved[size] != '\n') {
      return false;
    }
    cuts.emplace(std::string(saved.substr(0, size)), c);
    saved.remove_prefix(size + 1);
  }
  std::lock_guard lock(mu_);
  cuts_ = std::move(cuts);
  listed_.store(true, std::memory_order_release);
  return true;
}

}  // namespace herald
