// tests/store/redis/store_calls.h — a history store's asynchronous calls
// made and waited for (bounded), for the Redis store's tests.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "herald/history_store.h"
#include "herald/shared_history_store.h"

namespace herald::test {

inline MessagePtr Make(const std::string& topic, uint64_t epoch, uint64_t offset,
                       std::string payload, int64_t stamp = 1'700'000'000'000'000) {
  auto m = std::make_shared<Message>();
  m->topic = topic;
  m->epoch = epoch;
  m->offset = offset;
  m->payload = std::move(payload);
  m->timestamp_us = stamp;
  return m;
}

// Appends and waits for the outcome.
inline Status AppendNow(HistoryStore& store, const MessagePtr& m) {
  auto done = std::make_shared<std::promise<Status>>();
  auto future = done->get_future();
  Status s = store.Append(m, [done](Status st) { done->set_value(std::move(st)); });
  if (!s.ok()) return s;
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    return Status(ErrorCode::kInternal, "no completion within 10 s");
  return future.get();
}

inline Result<StoreRead> ReadNow(HistoryStore& store, const std::string& topic, uint64_t epoch,
                                 uint64_t after, size_t max_messages, size_t max_bytes) {
  auto done = std::make_shared<std::promise<Result<StoreRead>>>();
  auto future = done->get_future();
  Status s = store.Read(topic, epoch, after, max_messages, max_bytes,
                        [done](Result<StoreRead> r) { done->set_value(std::move(r)); });
  if (!s.ok()) return s;
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    return Status(ErrorCode::kInternal, "no completion within 10 s");
  return future.get();
}

// A shared store's Load or Head, waited for.
inline Result<StoredTopic> SharedCallNow(
    HistoryStore& store, const std::string& topic,
    Status (SharedHistoryStore::*call)(std::string_view, SharedHistoryStore::LoadCallback&&)) {
  auto* shared = dynamic_cast<SharedHistoryStore*>(&store);
  if (!shared) return Status(ErrorCode::kInternal, "not a shared store");
  auto done = std::make_shared<std::promise<Result<StoredTopic>>>();
  auto future = done->get_future();
  Status s =
      (shared->*call)(topic, [done](Result<StoredTopic> r) { done->set_value(std::move(r)); });
  if (!s.ok()) return s;
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    return Status(ErrorCode::kInternal, "no completion within 10 s");
  return future.get();
}

// Loads (the node becomes the topic's writer) and waits for the outcome.
inline Result<StoredTopic> LoadNow(HistoryStore& store, const std::string& topic) {
  return SharedCallNow(store, topic, &SharedHistoryStore::Load);
}

// Reads the topic's head only (any node) and waits for the outcome.
inline Result<StoredTopic> HeadNow(HistoryStore& store, const std::string& topic) {
  return SharedCallNow(store, topic, &SharedHistoryStore::Head);
}

}  // namespace herald::test
