// store/codec/record_codec.h — how a store writes a message, a work queue's
// definition and a job as bytes: one encoding for every store (the disk
// store's RocksDB values, the Redis store's job records), so a record means
// the same wherever it is kept.
//
// Values start with a format byte; decoding checks every length and fails
// with a description rather than read past the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "herald/message.h"
#include "herald/queue_store.h"
#include "herald/status.h"
#include "herald/work_queue.h"

namespace herald::store {

struct MessagePosition {
  std::string_view topic;
  uint64_t epoch = 0;
  uint64_t offset = 0;
};

// The message's fields besides topic, epoch and offset (those are the key).
std::string EncodeMessage(const Message& m);
// The same encoding without its payload, which ends it: a writer that can
// hand its store the two parts (RocksDB's SliceParts) need not copy the
// payload into a string of its own first.
std::string EncodeMessageBeforePayload(const Message& m);
// Rebuilds the message stored at `position`; an error describes the damage.
Result<MessagePtr> DecodeMessage(const MessagePosition& position, std::string_view value);

// A work queue's definition, with which creation of its name it is and
// where its reading of history stands (QueueStore::PutQueue).
std::string EncodeQueue(const QueueOptions& q, uint64_t incarnation, std::string_view backfill);
// The definition, its incarnation and its reading (no jobs).
Result<StoredQueue> DecodeQueue(std::string_view name, std::string_view value);
// A job: its message whole (topic, epoch and offset too).
std::string EncodeJob(const Message& m);
Result<MessagePtr> DecodeJob(std::string_view value);

}  // namespace herald::store
