#include "frontends/sse/event_id.h"

#include <algorithm>

#include "frontends/sse/topic_hash.h"

namespace herald::sse {
namespace {

constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";

void AppendBase36(std::string& out, uint64_t v) {
  char buf[16];  // 2^64 needs 13 base-36 digits
  size_t n = 0;
  do {
    buf[n++] = kDigits[v % 36];
    v /= 36;
  } while (v != 0);
  while (n > 0) out.push_back(buf[--n]);
}

bool ParseBase36(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 13) return false;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'z') {
      d = static_cast<unsigned>(c - 'a') + 10;
    } else {
      return false;
    }
    if (v > (UINT64_MAX - d) / 36) return false;
    v = v * 36 + d;
  }
  out = v;
  return true;
}

bool KeptInId(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

void AppendEncodedTopic(std::string& out, std::string_view topic) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : topic) {
    const auto c = static_cast<unsigned char>(ch);
    if (KeptInId(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

size_t EncodedSize(std::string_view topic) {
  size_t n = 0;
  for (char ch : topic) n += KeptInId(static_cast<unsigned char>(ch)) ? 1 : 3;
  return n;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool DecodeTopic(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      if (!KeptInId(static_cast<unsigned char>(s[i]))) return false;
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;
    const int hi = HexValue(s[i + 1]);
    const int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

Status Bad(std::string message) {
  return Status(ErrorCode::kInvalidArgument, "bad event id: " + std::move(message));
}

bool IsWildcardPattern(std::string_view p) {
  return p.find('*') != std::string_view::npos || p.find('>') != std::string_view::npos;
}

}  // namespace

TopicPosition& StreamPositions::Touch(std::string_view topic) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const TopicPosition& p) { return p.topic == topic; });
  if (it == entries_.end()) {
    if (entries_.size() >= max_topics_) {
      // The least recent goes; the id says from now on that some are missing.
      if (entries_.front().topic.empty()) --unresolved_;
      entries_.erase(entries_.begin());
      forgot_ = true;
    }
    // Hashed once here rather than for every id that names it.
    const uint64_t hash = EncodedSize(topic) > kMaxInlineTopicChars ? TopicHash(topic) : 0;
    entries_.push_back({std::string(topic), 0, 0, hash});
    return entries_.back();
  }
  // Keep the most recent last; with one topic (the common case) this is a no-op.
  if (it + 1 != entries_.end()) std::rotate(it, it + 1, entries_.end());
  return entries_.back();
}

void StreamPositions::Seed(const ResumePoint& p) {
  TopicPosition& e = Touch(p.topic);
  e.epoch = p.epoch;
  e.offset = p.after_offset;
}

void StreamPositions::SeedHashed(const TopicPosition& p) {
  if (entries_.size() >= max_topics_) {
    if (entries_.front().topic.empty()) --unresolved_;
    entries_.erase(entries_.begin());
    forgot_ = true;
  }
  entries_.push_back({std::string(), p.epoch, p.offset, p.hash});
  ++unresolved_;
}

std::optional<TopicPosition> StreamPositions::Resolve(std::string_view topic) {
  if (unresolved_ == 0) return std::nullopt;
  const uint64_t hash = TopicHash(topic);
  for (TopicPosition& e : entries_) {
    if (e.topic.empty() && e.hash == hash) {
      e.topic = std::string(topic);
      --unresolved_;
      return e;
    }
  }
  return std::nullopt;
}

const TopicPosition* StreamPositions::Find(std::string_view topic) const {
  // The newest entry first: a single-topic stream finds it at once.
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->topic == topic) return &*it;
  }
  return nullptr;
}

bool StreamPositions::IsNew(std::string_view topic, uint64_t epoch, uint64_t offset) const {
  const TopicPosition* e = Find(topic);
  return e == nullptr || epoch > e->epoch || (epoch == e->epoch && offset > e->offset);
}

bool StreamPositions::Advance(std::string_view topic, uint64_t epoch, uint64_t offset) {
  if (!IsNew(topic, epoch, offset)) return false;
  TopicPosition& t = Touch(topic);
  t.epoch = epoch;
  t.offset = offset;
  return true;
}

void StreamPositions::Skip(const Gap& gap) {
  if (gap.epoch == 0) {
    // The topic is gone: no position in it is meaningful any more.
    std::erase_if(entries_, [&](const TopicPosition& p) { return p.topic == gap.topic; });
    return;
  }
  TopicPosition& t = Touch(gap.topic);
  // A changed epoch restarts the numbering: whatever the old position said
  // (even a bogus offset ahead of the topic) no longer applies.
  if (gap.epoch != t.epoch || gap.reason == GapReason::kEpochChanged) {
    t.epoch = gap.epoch;
    t.offset = gap.to_offset;
  } else {
    t.offset = std::max(t.offset, gap.to_offset);
  }
}

void AppendIdEntry(std::string& out, std::string_view topic, uint64_t epoch, uint64_t offset,
                   std::span<const std::string> params, uint64_t hash) {
  auto it = topic.empty() ? params.end() : std::find(params.begin(), params.end(), topic);
  if (it != params.end()) {
    out += std::to_string(it - params.begin());
  } else if (topic.empty() || EncodedSize(topic) > kMaxInlineTopicChars) {
    out.push_back('#');
    AppendBase36(out, hash != 0 || topic.empty() ? hash : TopicHash(topic));
  } else {
    out.push_back('@');
    AppendEncodedTopic(out, topic);
  }
  out.push_back(':');
  AppendBase36(out, epoch);
  out.push_back(':');
  AppendBase36(out, offset);
}

std::string FormatEventId(std::span<const TopicPosition> positions,
                          std::span<const std::string> params, bool forgot) {
  std::string out;
  for (const TopicPosition& p : positions) {
    if (!out.empty()) out.push_back(',');
    AppendIdEntry(out, p.topic, p.epoch, p.offset, params, p.hash);
  }
  if (forgot) out += out.empty() ? "!" : ",!";
  return out;
}

Result<ParsedEventId> ParseEventId(std::string_view id, std::span<const std::string> params,
                                   const TopicLimits& limits, size_t max_entries) {
  ParsedEventId parsed;
  std::vector<ResumePoint>& points = parsed.points;
  if (id.empty()) return parsed;  // the spec's way of saying "no id"
  const bool has_wildcard = std::any_of(params.begin(), params.end(),
                                        [](const std::string& q) { return IsWildcardPattern(q); });
  size_t start = 0;
  while (start <= id.size()) {
    size_t end = id.find(',', start);
    if (end == std::string_view::npos) end = id.size();
    const std::string_view entry = id.substr(start, end - start);
    start = end + 1;
    if (entry == "!") {
      if (parsed.forgot) return Bad("'!' appears twice");
      parsed.forgot = true;
      continue;
    }
    if (points.size() + parsed.hashed.size() == max_entries) {
      return Bad("more than " + std::to_string(max_entries) + " topics");
    }
    const size_t c2 = entry.rfind(':');
    const size_t c1 =
        c2 == std::string_view::npos || c2 == 0 ? std::string_view::npos : entry.rfind(':', c2 - 1);
    if (c1 == std::string_view::npos || c1 == 0) {
      return Bad("entry '" + std::string(entry) + "' is not ref:epoch:offset");
    }
    ResumePoint p;
    if (!ParseBase36(entry.substr(c1 + 1, c2 - c1 - 1), p.epoch) ||
        !ParseBase36(entry.substr(c2 + 1), p.after_offset)) {
      return Bad("epoch and offset must be base-36 numbers in '" + std::string(entry) + "'");
    }
    const std::string_view ref = entry.substr(0, c1);
    if (ref[0] == '#') {
      TopicPosition h{std::string(), p.epoch, p.after_offset, 0};
      if (!ParseBase36(ref.substr(1), h.hash)) {
        return Bad("'" + std::string(ref) + "' is not a base-36 topic hash");
      }
      if (!has_wildcard) return Bad("'" + std::string(ref) + "' names no topic of this stream");
      for (const TopicPosition& seen : parsed.hashed) {
        if (seen.hash == h.hash) return Bad("'" + std::string(ref) + "' appears twice");
      }
      parsed.hashed.push_back(std::move(h));
      continue;
    }
    if (ref[0] == '@') {
      if (!DecodeTopic(ref.substr(1), p.topic)) {
        return Bad("badly encoded topic in '" + std::string(entry) + "'");
      }
      if (Status s = ValidateTopic(p.topic, limits); !s.ok()) return Bad(s.message());
      const bool matched = std::any_of(params.begin(), params.end(), [&](const std::string& q) {
        return PatternMatches(q, p.topic);
      });
      if (!matched) return Bad("topic '" + p.topic + "' is not in this stream");
    } else {
      uint64_t index = 0;
      bool digits = ref.size() <= 4;  // a stream has far fewer parameters
      for (char ch : ref) {
        if (ch < '0' || ch > '9') digits = false;
        index = index * 10 + static_cast<uint64_t>(ch - '0');
      }
      if (!digits || index >= params.size() || IsWildcardPattern(params[index])) {
        return Bad("'" + std::string(ref) + "' is not the index of a topic of this stream");
      }
      p.topic = params[index];
    }
    for (const ResumePoint& seen : points) {
      if (seen.topic == p.topic) return Bad("topic '" + p.topic + "' appears twice");
    }
    points.push_back(std::move(p));
  }
  // A long name sent as it is (ids before hashing did) and by hash too.
  for (const TopicPosition& h : parsed.hashed) {
    for (const ResumePoint& p : points) {
      if (EncodedSize(p.topic) > kMaxInlineTopicChars && TopicHash(p.topic) == h.hash) {
        return Bad("topic '" + p.topic + "' appears twice");
      }
    }
  }
  return parsed;
}

}  // namespace herald::sse
