// herald/disk_store.h — the embedded on-disk history store.
//
// Keeps every topic's history in a directory, on RocksDB (Debian's
// librocksdb-dev; ARCHITECTURE.md says why this engine), so that a broker
// restarted on the same directory continues every topic's epoch and offsets
// and resuming clients get exactly what they missed.
//
//   herald::DiskStoreOptions o;
//   o.dir = "/var/lib/herald";
//   auto store = herald::OpenDiskStore(o);
//   if (!store.ok()) { std::cerr << store.status().message(); return 1; }
//   herald::BrokerOptions b;
//   b.store = *store;
//   herald::Broker broker(b);
//
// Only one process may have a directory open. Closing (the last reference
// going away, after the broker) waits for queued appends, syncs, and marks
// the directory cleanly closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "herald/history_store.h"
#include "herald/status.h"

namespace herald {

struct DiskStoreOptions {
  std::string dir;  // created if missing; must be empty or hold a store
  enum class Sync {
    // A publish is acknowledged once its group is on disk (fsync): nothing
    // acknowledged is ever lost, whatever fails.
    kAlways,
    // A publish is acknowledged once its group is written to the operating
    // system; the log is synced every sync_interval. A crash of heraldd loses
    // nothing; a crash of the machine may lose what was acknowledged in the
    // last sync_interval (plus one sync), and resuming clients are then told
    // of a gap (every topic starts a new epoch).
    kBatch,
  };
  Sync sync = Sync::kBatch;
  std::chrono::milliseconds sync_interval = std::chrono::seconds(1);
  // Bytes appended and not yet committed; past it publishes to topics with
  // history are refused (resource_exhausted) until the disk catches up.
  size_t max_queued_bytes = 64u << 20;
  // The store's files (tables and logs) may take this much disk; past it,
  // publishes to topics with history are refused (resource_exhausted) until
  // retention frees space. Checked against a figure refreshed every 100 ms,
  // so it can be passed by what is written in that time.
  uint64_t max_disk_bytes = uint64_t{16} << 30;
  // Free space the store leaves on its filesystem (statvfs, refreshed with
  // the quota's figure). Below it, publishes to topics with history are
  // refused (resource_exhausted) until space is freed: the disk never runs
  // full under the store, whoever else writes to it. A real "no space left"
  // (a reserve of 0, or a faster writer) fails the store instead: every
  // later append is refused (unavailable) until heraldd is restarted, and
  // nothing acknowledged is lost.
  uint64_t min_free_disk_bytes = uint64_t{64} << 20;
  // Payload bytes of each topic's newest messages read back into memory at
  // start (StoredTopic::messages; at least one message). The rest stays on
  // disk until a resume reads it.
  size_t tail_bytes = 1u << 20;
  // Reads (HistoryStore::Read) waiting for the reader thread; past it a
  // read is refused (resource_exhausted).
  size_t max_pending_reads = 1024;
  // Identifies the running system (Linux's boot id when empty): after an
  // unclean stop with sync = batch, a different boot id means the machine
  // went down too. For tests.
  std::string boot_id;
};

// Opens (or creates) the store in options.dir and reads what it holds.
// Errors name what is wrong and how to recover: a directory that is not a
// store, one written by an incompatible version, one in use by another
// process, or damaged files.
Result<std::shared_ptr<HistoryStore>> OpenDiskStore(const DiskStoreOptions& options);

}  // namespace herald
