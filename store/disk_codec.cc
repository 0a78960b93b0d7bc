#include "store/disk_codec.h"

#include "store/codec/bytes.h"

#include <algorithm>
#include <cstring>

namespace herald::store {

using codec::GetU64;
using codec::PutU64;

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

std::string_view AppendRun(std::string_view key) {
  if (key.empty()) return {};
  if (key[0] == kHeadPrefix) return key;
  if (key[0] != kMessagePrefix || key.size() < 1 + 1 + 17) return {};
  // Epoch 0 is never a message's: such a key is a range delete's start.
  // RocksDB 7.8 keeps one hint per run for both its point and its range
  // tables, so a range delete given a run would be inserted from the other
  // table's splice (an assertion in Debian's build, corruption without it).
  if (GetU64(key.substr(key.size() - 16, 8)) == 0) return {};
  return key.substr(0, key.size() - 16);  // up to and with the topic's '\0'
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

std::string RevocationKey(const Revocation& r) {
  std::string k(1, kRevocationPrefix);
  k.push_back(static_cast<char>(r.kind));
  k.append(r.key);
  return k;
}

std::string EncodeRevocation(const Revocation& r) {
  std::string v;
  PutU64(v, static_cast<uint64_t>(r.until_s));
  PutU64(v, static_cast<uint64_t>(r.issued_before_s));
  return v;
}

std::optional<Revocation> DecodeRevocation(std::string_view key, std::string_view value) {
  if (key.size() < 3 || key[0] != kRevocationPrefix || value.size() != 16) return std::nullopt;
  const auto kind = static_cast<uint8_t>(key[1]);
  if (kind > static_cast<uint8_t>(Revocation::Kind::kUser)) return std::nullopt;
  Revocation r;
  r.kind = static_cast<Revocation::Kind>(kind);
  r.key = std::string(key.substr(2));
  r.until_s = static_cast<int64_t>(GetU64(value));
  r.issued_before_s = static_cast<int64_t>(GetU64(value.substr(8)));
  return r;
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

}  // namespace herald::store
