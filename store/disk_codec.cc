#include "store/disk_codec.h"

#include <algorithm>
#include <cstring>

namespace herald::store {

namespace {

constexpr uint8_t kMessageFormat = 1;

void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

uint64_t GetU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// Reads fields off the front of a value, remembering the first failure.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t left() const { return in_.size(); }
  uint64_t U64() {
    if (!Need(8)) return 0;
    uint64_t v = GetU64(in_);
    in_.remove_prefix(8);
    return v;
  }
  uint32_t U32() {
    if (!Need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(4);
    return v;
  }
  uint8_t U8() {
    if (!Need(1)) return 0;
    uint8_t v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return v;
  }
  std::string String() {
    const uint32_t n = U32();
    if (!Need(n)) return {};
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  std::string Rest() {
    std::string s(in_);
    in_ = {};
    return s;
  }

 private:
  bool Need(size_t n) {
    if (ok_ && in_.size() >= n) return true;
    ok_ = false;
    return false;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

std::string MessageKey(std::string_view topic, uint64_t epoch, uint64_t offset) {
  std::string k;
  k.reserve(topic.size() + 18);
  k.push_back(kMessagePrefix);
  k.append(topic);
  k.push_back('\0');
  PutU64(k, epoch);
  PutU64(k, offset);
  return k;
}

std::string MessageKeyEnd(std::string_view topic) {
  std::string k;
  k.push_back(kMessagePrefix);
  k.append(topic);
  k.push_back('\1');
  return k;
}

std::string HeadKey(std::string_view topic) {
  std::string k;
  k.push_back(kHeadPrefix);
  k.append(topic);
  return k;
}

std::string MetaKey(std::string_view name) {
  std::string k;
  k.push_back(kMetaPrefix);
  k.append(name);
  return k;
}

std::string DedupKeyAt(int64_t timestamp_us) {
  std::string k;
  k.push_back(kDedupPrefix);
  PutU64(k, static_cast<uint64_t>(std::max<int64_t>(timestamp_us, 0)));
  return k;
}

std::string DedupKey(int64_t timestamp_us, std::string_view topic, std::string_view msg_id) {
  std::string k = DedupKeyAt(timestamp_us);
  k.append(topic);
  k.push_back('\0');
  k.append(msg_id);
  return k;
}

std::optional<DedupPosition> ParseDedupKey(std::string_view key) {
  if (key.size() < 1 + 8 + 3 || key[0] != kDedupPrefix) return std::nullopt;
  const size_t nul = key.find('\0', 9);
  if (nul == std::string_view::npos || nul == 9 || nul + 1 == key.size()) return std::nullopt;
  DedupPosition p;
  p.timestamp_us = static_cast<int64_t>(GetU64(key.substr(1, 8)));
  p.topic = key.substr(9, nul - 9);
  p.msg_id = key.substr(nul + 1);
  return p;
}

std::optional<MessagePosition> ParseMessageKey(std::string_view key) {
  if (key.size() < 1 + 1 + 16 || key[0] != kMessagePrefix) return std::nullopt;
  const size_t nul = key.size() - 17;
  if (key[nul] != '\0' || nul < 2) return std::nullopt;
  MessagePosition p;
  p.topic = key.substr(1, nul - 1);
  p.epoch = GetU64(key.substr(nul + 1, 8));
  p.offset = GetU64(key.substr(nul + 9, 8));
  return p;
}

std::string EncodeHead(const Head& head) {
  std::string v;
  PutU64(v, head.epoch);
  PutU64(v, head.last_offset);
  return v;
}

std::optional<Head> DecodeHead(std::string_view value) {
  if (value.size() != 16) return std::nullopt;
  return Head{GetU64(value), GetU64(value.substr(8))};
}

std::string EncodeMessage(const Message& m) {
  std::string v;
  size_t headers = 0;
  for (const Header& h : m.headers) headers += 8 + h.name.size() + h.value.size();
  v.reserve(1 + 8 + 16 + m.content_type.size() + m.reply_to.size() + m.msg_id.size() + headers +
            m.payload.size());
  v.push_back(static_cast<char>(kMessageFormat));
  PutU64(v, static_cast<uint64_t>(m.timestamp_us));
  PutString(v, m.content_type);
  PutString(v, m.reply_to);
  PutString(v, m.msg_id);
  PutU32(v, static_cast<uint32_t>(m.headers.size()));
  for (const Header& h : m.headers) {
    PutString(v, h.name);
    PutString(v, h.value);
  }
  v.append(m.payload);
  return v;
}

Result<MessagePtr> DecodeMessage(const MessagePosition& position, std::string_view value) {
  auto damaged = [&](std::string_view what) {
    return Status(ErrorCode::kInternal, "stored message " + std::string(position.topic) + " (" +
                                            std::to_string(position.epoch) + ", " +
                                            std::to_string(position.offset) + ") " +
                                            std::string(what));
  };
  Reader r(value);
  const uint8_t format = r.U8();
  if (!r.ok()) return damaged("is empty");
  if (format != kMessageFormat) {
    return damaged("has format " + std::to_string(format) + ", which this version does not read");
  }
  auto m = std::make_shared<Message>();
  m->topic = std::string(position.topic);
  m->epoch = position.epoch;
  m->offset = position.offset;
  m->timestamp_us = static_cast<int64_t>(r.U64());
  m->content_type = r.String();
  m->reply_to = r.String();
  m->msg_id = r.String();
  const uint32_t headers = r.U32();
  // Each header takes at least 8 bytes: a count beyond what is left is damage.
  if (!r.ok() || headers > r.left() / 8) return damaged("is truncated");
  m->headers.reserve(headers);
  for (uint32_t i = 0; i < headers; ++i) {
    Header h;
    h.name = r.String();
    h.value = r.String();
    m->headers.push_back(std::move(h));
  }
  if (!r.ok()) return damaged("is truncated");
  m->payload = r.Rest();
  return MessagePtr(std::move(m));
}

std::string QueueKey(std::string_view name) {
  std::string k(1, kQueuePrefix);
  k.append(name);
  return k;
}

std::string JobKey(char prefix, std::string_view queue, uint64_t incarnation, uint64_t seq) {
  std::string k(1, prefix);
  k.append(queue);
  k.push_back('\0');
  PutU64(k, incarnation);
  PutU64(k, seq);
  return k;
}

std::string JobKeyEnd(char prefix, std::string_view queue) {
  std::string k(1, prefix);
  k.append(queue);
  k.push_back('\1');
  return k;
}

std::optional<JobPosition> ParseJobKey(std::string_view key) {
  if (key.size() < 1 + 1 + 1 + 16) return std::nullopt;
  const std::string_view name = key.substr(1, key.size() - 1 - 17);
  if (key[key.size() - 17] != '\0' || name.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  return JobPosition{name, GetU64(key.substr(key.size() - 16)), GetU64(key.substr(key.size() - 8))};
}

namespace {
constexpr uint8_t kQueueFormat = 2;  // 2: with the incarnation
}  // namespace

std::string EncodeQueue(const QueueOptions& q, uint64_t incarnation) {
  std::string v;
  v.push_back(static_cast<char>(kQueueFormat));
  PutU64(v, incarnation);
  PutString(v, q.pattern);
  PutU64(v, static_cast<uint64_t>(q.ack_wait.count()));
  PutU32(v, q.max_deliver);
  PutU32(v, static_cast<uint32_t>(q.backoff.size()));
  for (auto step : q.backoff) PutU64(v, static_cast<uint64_t>(step.count()));
  PutU32(v, q.max_in_flight);
  PutU32(v, q.max_in_flight_per_member);
  PutU64(v, q.max_pending);
  PutU64(v, q.max_pending_bytes);
  PutString(v, q.dead_letter);
  return v;
}

Result<std::pair<QueueOptions, uint64_t>> DecodeQueue(std::string_view name,
                                                      std::string_view value) {
  Reader r(value);
  const uint8_t format = r.U8();
  auto damaged = [&](std::string_view what) {
    return Status(ErrorCode::kInternal,
                  "stored work queue '" + std::string(name) + "' " + std::string(what));
  };
  if (!r.ok() || format != kQueueFormat) return damaged("has a format this version does not read");
  QueueOptions q;
  const uint64_t incarnation = r.U64();
  q.name = std::string(name);
  q.pattern = r.String();
  q.ack_wait = std::chrono::milliseconds(static_cast<int64_t>(r.U64()));
  q.max_deliver = r.U32();
  const uint32_t steps = r.U32();
  if (!r.ok() || steps > r.left() / 8) return damaged("is truncated");
  for (uint32_t i = 0; i < steps; ++i) {
    q.backoff.emplace_back(static_cast<int64_t>(r.U64()));
  }
  q.max_in_flight = r.U32();
  q.max_in_flight_per_member = r.U32();
  q.max_pending = r.U64();
  q.max_pending_bytes = r.U64();
  q.dead_letter = r.String();
  if (!r.ok() || r.left() != 0) return damaged("is truncated");
  return std::make_pair(std::move(q), incarnation);
}

std::string EncodeJob(const Message& m) {
  std::string v;
  PutString(v, m.topic);
  PutU64(v, m.epoch);
  PutU64(v, m.offset);
  v.append(EncodeMessage(m));
  return v;
}

Result<MessagePtr> DecodeJob(std::string_view value) {
  Reader r(value);
  MessagePosition p;
  const std::string topic = r.String();
  p.epoch = r.U64();
  p.offset = r.U64();
  if (!r.ok()) return Status(ErrorCode::kInternal, "a stored job is truncated");
  p.topic = topic;
  return DecodeMessage(p, r.Rest());
}

}  // namespace herald::store
