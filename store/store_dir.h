// The store's directory: what makes it a Herald store (the FORMAT file),
// opening RocksDB in it with errors that say what is wrong and how to
// recover, the run marker that tells a clean stop from a crash, and reading
// back every topic at start.
//
//   DIR/FORMAT   "herald-history-store 1 rocksdb": format version and engine
//   DIR/db/      RocksDB's files (its LOCK keeps a second process out)
#pragma once

#include <rocksdb/db.h>

#include <memory>
#include <optional>
#include <string>

#include "herald/disk_store.h"
#include "herald/history_store.h"
#include "herald/status.h"

namespace herald::store {

// Written when a run starts (clean = false) and when it closes the store
// (clean = true), both synced: at the next start, whether the last run
// ended cleanly, how it acknowledged, and on which boot of the machine.
struct RunMarker {
  bool clean = false;
  DiskStoreOptions::Sync sync = DiskStoreOptions::Sync::kBatch;
  std::string boot_id;
};
rocksdb::Status WriteRunMarker(rocksdb::DB& db, const RunMarker& marker);

// Whether every message the last run acknowledged is held, from its marker
// (none: a new store) and the current boot id.
StoreRecovery JudgeLastRun(const std::optional<RunMarker>& last, const std::string& boot_id);

// Linux's id of the current boot (/proc/sys/kernel/random/boot_id).
std::string CurrentBootId();

// Bytes of the store's files: tables and logs.
uint64_t DiskBytes(rocksdb::DB& db);
// Bytes an unprivileged writer may still use on the filesystem under `dir`,
// or why that cannot be told: kNotFound when `dir` is no longer a directory
// (removed, say), kUnavailable for any other error (which may pass).
Result<uint64_t> FreeBytes(const std::string& dir);

// What retention needs of a topic's current epoch besides its offsets.
struct TopicExtent {
  uint64_t bytes = 0;              // payload bytes held
  int64_t first_timestamp_us = 0;  // of the first message held
};

struct OpenedDir {
  std::unique_ptr<rocksdb::DB> db;
  StoreRecovery recovery;
  std::vector<StoredTopic> topics;
  std::vector<TopicExtent> extents;  // one per topic, in the same order
};
// Checks the directory, opens (or creates) the database, marks the run as
// started, and reads every topic's head, extent and newest messages.
Result<OpenedDir> OpenStoreDir(const DiskStoreOptions& options);

}  // namespace herald::store
