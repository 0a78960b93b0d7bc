// How the disk store lays out topics and messages as RocksDB keys and
// values. Keys sort by topic, then epoch, then offset (big-endian), so one
// topic's history is one contiguous range and a trim is one range delete.
//
//   'm' topic '\0' epoch:u64be offset:u64be  -> message (EncodeMessage)
//   'h' topic                                -> head: epoch:u64be last_offset:u64be
//   'd' stamp:u64be topic '\0' msg_id         -> dedup record: epoch:u64be offset:u64be
//   'x' name                                 -> the store's own records (run marker)
//
// Topic names never contain '\0' (herald/topic.h), so "a" sorts entirely
// before "a.b". Dedup records sort by time, so expiry is one range delete.
// Values are store/codec/record_codec.h's encodings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "herald/clients.h"
#include "herald/message.h"
#include "herald/status.h"
#include "herald/work_queue.h"
#include "store/codec/record_codec.h"

namespace herald::store {

inline constexpr char kMessagePrefix = 'm';
inline constexpr char kHeadPrefix = 'h';
inline constexpr char kDedupPrefix = 'd';
inline constexpr char kMetaPrefix = 'x';

std::string MessageKey(std::string_view topic, uint64_t epoch, uint64_t offset);
// The first key after every message key of `topic`.
std::string MessageKeyEnd(std::string_view topic);
std::string HeadKey(std::string_view topic);
std::string MetaKey(std::string_view name);
std::string DedupKey(int64_t timestamp_us, std::string_view topic, std::string_view msg_id);
// The first dedup key stamped at or after `timestamp_us`.
std::string DedupKeyAt(int64_t timestamp_us);

struct DedupPosition {
  int64_t timestamp_us = 0;
  std::string_view topic;
  std::string_view msg_id;
};
std::optional<DedupPosition> ParseDedupKey(std::string_view key);

std::optional<MessagePosition> ParseMessageKey(std::string_view key);
// The run a key is appended to in order: a message key's topic part ('m'
// topic '\0', whose offsets only grow), or a whole head key (rewritten in
// place). Empty for every other key, and for a message key of epoch 0 (a
// range delete's start, never a message). The memtable keeps its last insert
// position per run, so an append starts there instead of from the top.
std::string_view AppendRun(std::string_view key);

struct Head {
  uint64_t epoch = 0;
  uint64_t last_offset = 0;
};
std::string EncodeHead(const Head& head);
std::optional<Head> DecodeHead(std::string_view value);

// Work queues (herald/queue_store.h):
//   'q' name                -> the queue's definition (EncodeQueue)
//   'j' name '\0' incarnation:u64be seq:u64be
//                           -> a job: its message's topic, epoch, offset and
//                              EncodeMessage (EncodeJob)
//   'p' name '\0' incarnation:u64be seq:u64be
//                           -> its delivery count, u32be (absent: none yet)
inline constexpr char kQueuePrefix = 'q';
inline constexpr char kJobPrefix = 'j';
inline constexpr char kDeliveriesPrefix = 'p';
std::string QueueKey(std::string_view name);
// prefix 'j' or 'p'
std::string JobKey(char prefix, std::string_view queue, uint64_t incarnation, uint64_t seq);
// Every job key of `queue` (any incarnation) sorts in
// [JobKey(prefix, queue, 0, 0), JobKeyEnd(prefix, queue)): names are tokens
// of bytes above '\1', so no other name's keys fall between.
std::string JobKeyEnd(char prefix, std::string_view queue);
struct JobPosition {
  std::string_view queue;
  uint64_t incarnation = 0;
  uint64_t seq = 0;
};
std::optional<JobPosition> ParseJobKey(std::string_view key);

// Token revocations (herald/revocation_store.h):
//   'r' kind:u8 key         -> until:u64be issued_before:u64be
inline constexpr char kRevocationPrefix = 'r';
std::string RevocationKey(const Revocation& r);
std::string EncodeRevocation(const Revocation& r);
// nullopt: damaged.
std::optional<Revocation> DecodeRevocation(std::string_view key, std::string_view value);

}  // namespace herald::store
