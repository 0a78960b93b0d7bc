#include "store/store_dir.h"

#include <cstdarg>
#include <cstdio>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <rocksdb/slice_transform.h>

#include "store/disk_codec.h"

namespace herald::store {

namespace {

// RocksDB's own log goes to heraldd's standard error, never to a file in the
// store's directory: on a full disk, Debian's librocksdb asserts when its
// error-recovery path logs to a LOG file whose last write failed (found with
// a full tmpfs). Warnings and worse only.
class StderrLogger final : public rocksdb::Logger {
 public:
  StderrLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[1024];
    const int n = std::vsnprintf(line, sizeof(line), format, ap);
    size_t len = n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof(line) - 1);
    while (len > 0 && line[len - 1] == '\n') --len;  // some of its messages end in one
    std::fprintf(stderr, "[rocksdb] %.*s\n", static_cast<int>(len),
                 line);  // one call: lines do not interleave
  }
};

}  // namespace

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFormatName = "herald-history-store";
constexpr int kFormatVersion = 1;
constexpr std::string_view kEngine = "rocksdb";

std::string FormatLine() {
  return std::string(kFormatName) + " " + std::to_string(kFormatVersion) + " " +
         std::string(kEngine) + "\n";
}

Status Refuse(const std::string& dir, const std::string& what, const std::string& fix) {
  return Status(ErrorCode::kUnavailable, "history store " + dir + ": " + what + ". " + fix);
}

const char* SyncName(DiskStoreOptions::Sync s) {
  return s == DiskStoreOptions::Sync::kAlways ? "always" : "batch";
}

// Writes `content` to `path` durably: a temporary file, synced, renamed over
// it, and the directory synced.
bool WriteFileDurably(const fs::path& path, const std::string& content) {
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return false;
  const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return false;
  ok = ::fsync(dfd) == 0;
  ::close(dfd);
  return ok;
}

// Checks DIR/FORMAT. Returns whether the store is new (no FORMAT, empty dir).
Result<bool> CheckFormat(const std::string& dir) {
  const fs::path format = fs::path(dir) / "FORMAT";
  std::error_code ec;
  if (!fs::exists(format, ec)) {
    if (!fs::is_empty(dir, ec) || ec) {
      return Refuse(dir,
                    "the directory is not empty and is not a Herald history store (no FORMAT file)",
                    "Give an empty or new directory");
    }
    return true;
  }
  std::ifstream in(format);
  std::string line;
  std::getline(in, line);
  std::istringstream words(line);
  std::string name, engine;
  int version = 0;
  words >> name >> version >> engine;
  if (name != kFormatName || version <= 0 || engine.empty()) {
    return Refuse(dir, "FORMAT is damaged (it reads '" + line + "')",
                  "Restore the directory from a backup, or move it aside and start with an empty "
                  "one (its history is then lost)");
  }
  if (version > kFormatVersion) {
    return Refuse(dir,
                  "it was written by a newer Herald (store format " + std::to_string(version) +
                      ", this version reads " + std::to_string(kFormatVersion) + ")",
                  "Run the version that wrote it, or move it aside and start with an empty one");
  }
  if (engine != kEngine) {
    return Refuse(
        dir,
        "it holds a '" + engine + "' store, and this build reads '" + std::string(kEngine) + "'",
        "Run the build that wrote it, or give another directory");
  }
  if (!fs::exists(fs::path(dir) / "db" / "CURRENT", ec)) {
    return Refuse(dir, "its database (db/CURRENT) is missing",
                  "Restore the directory from a backup, or move it aside and start with an empty "
                  "one (its history is then lost)");
  }
  return false;
}

std::optional<RunMarker> ReadRunMarker(rocksdb::DB& db) {
  std::string value;
  if (!db.Get(rocksdb::ReadOptions(), MetaKey("run"), &value).ok()) return std::nullopt;
  RunMarker m;
  std::istringstream in(value);
  std::string word;
  while (in >> word) {
    if (word == "clean=1") m.clean = true;
    if (word == "sync=always") m.sync = DiskStoreOptions::Sync::kAlways;
    if (word.starts_with("boot=")) m.boot_id = word.substr(5);
  }
  return m;
}

// Reads every topic: its head, and the messages of its current epoch, each
// checked (contiguous, matching the head); of those only the newest
// `tail_bytes` are kept, so memory at start does not grow with the history.
Status LoadTopics(rocksdb::DB& db, const std::string& dir, size_t tail_bytes,
                  std::vector<StoredTopic>& out, std::vector<TopicExtent>& extents) {
  auto damaged = [&](const std::string& what) {
    return Refuse(dir, "its data is damaged: " + what,
                  "Restore the directory from a backup, or move it aside and start with an empty "
                  "one (its history is then lost)");
  };
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> heads(db.NewIterator(ro));
  std::unique_ptr<rocksdb::Iterator> msgs(db.NewIterator(ro));
  const std::string head_prefix(1, kHeadPrefix);
  for (heads->Seek(head_prefix); heads->Valid() && heads->key().starts_with(head_prefix);
       heads->Next()) {
    StoredTopic t;
    TopicExtent extent;
    t.name = heads->key().ToString().substr(1);
    std::optional<Head> head = DecodeHead(heads->value().ToStringView());
    if (!head) return damaged("the head of topic '" + t.name + "' is malformed");
    t.epoch = head->epoch;
    t.last_offset = head->last_offset;
    t.first_offset = t.last_offset + 1;
    std::deque<MessagePtr> tail;
    size_t tail_held = 0;
    uint64_t previous = 0;
    for (msgs->Seek(MessageKey(t.name, t.epoch, 0)); msgs->Valid(); msgs->Next()) {
      std::optional<MessagePosition> at = ParseMessageKey(msgs->key().ToStringView());
      if (!at || at->topic != t.name || at->epoch != t.epoch) break;
      if (previous != 0 && at->offset != previous + 1) {
        return damaged("topic '" + t.name + "' has a hole after offset " +
                       std::to_string(previous));
      }
      Result<MessagePtr> m = DecodeMessage(*at, msgs->value().ToStringView());
      if (!m.ok()) return damaged(m.status().message());
      if (previous == 0) {
        t.first_offset = at->offset;
        extent.first_timestamp_us = (*m)->timestamp_us;
      }
      previous = at->offset;
      extent.bytes += (*m)->payload.size();
      tail_held += (*m)->payload.size();
      tail.push_back(std::move(*m));
      while (tail.size() > 1 && tail_held > tail_bytes) {
        tail_held -= tail.front()->payload.size();
        tail.pop_front();
      }
    }
    if (!msgs->status().ok()) return damaged(msgs->status().ToString());
    if (previous != 0 && previous != t.last_offset) {
      return damaged("topic '" + t.name + "' ends at offset " + std::to_string(previous) +
                     " but its head says " + std::to_string(t.last_offset));
    }
    t.messages.assign(std::make_move_iterator(tail.begin()), std::make_move_iterator(tail.end()));
    out.push_back(std::move(t));
    extents.push_back(extent);
  }
  if (!heads->status().ok()) return damaged(heads->status().ToString());

  // Dedup records, by time: each goes to its topic (records of topics no
  // longer stored are left for expiry).
  std::unordered_map<std::string_view, StoredTopic*> by_name;
  for (StoredTopic& t : out) by_name[t.name] = &t;
  const std::string dedup_prefix(1, kDedupPrefix);
  for (msgs->Seek(dedup_prefix); msgs->Valid() && msgs->key().starts_with(dedup_prefix);
       msgs->Next()) {
    std::optional<DedupPosition> at = ParseDedupKey(msgs->key().ToStringView());
    std::optional<Head> where = DecodeHead(msgs->value().ToStringView());
    if (!at || !where) return damaged("a message id record is malformed");
    auto t = by_name.find(at->topic);
    if (t == by_name.end()) continue;
    t->second->ids.push_back(
        {std::string(at->msg_id), where->epoch, where->last_offset, at->timestamp_us});
  }
  if (!msgs->status().ok()) return damaged(msgs->status().ToString());
  return Status::Ok();
}

}  // namespace

StoreRecovery JudgeLastRun(const std::optional<RunMarker>& last, const std::string& boot_id) {
  StoreRecovery r;
  r.clean_shutdown = !last || last->clean;
  if (!last) {
    r.detail = "new store";
  } else if (last->clean) {
    r.detail = "the last run closed it cleanly";
  } else if (last->sync == DiskStoreOptions::Sync::kAlways) {
    r.detail =
        "the last run stopped without closing it; with sync = always it acknowledged "
        "only what was on disk";
  } else if (last->boot_id == boot_id) {
    r.detail =
        "the last run stopped without closing it; with sync = batch on the same boot, "
        "what it wrote was in the operating system's cache, which survived";
  } else {
    r.complete = false;
    r.detail =
        "the last run (sync = batch) stopped without closing it and the machine restarted "
        "since: messages acknowledged in its last sync interval may be lost, so every "
        "topic starts a new epoch";
  }
  return r;
}

rocksdb::Status WriteRunMarker(rocksdb::DB& db, const RunMarker& marker) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return db.Put(wo, MetaKey("run"),
                std::string("clean=") + (marker.clean ? "1" : "0") +
                    " sync=" + SyncName(marker.sync) + " boot=" + marker.boot_id);
}

std::string CurrentBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id.empty() ? "unknown" : id;
}

uint64_t DiskBytes(rocksdb::DB& db) {
  uint64_t bytes = 0;
  (void)db.GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &bytes);
  rocksdb::VectorLogPtr logs;
  if (db.GetSortedWalFiles(logs).ok()) {
    for (const auto& log : logs) bytes += log->SizeFileBytes();
  }
  return bytes;
}

Result<uint64_t> FreeBytes(const std::string& dir) {
  std::error_code ec;
  const fs::space_info space = fs::space(dir, ec);
  if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) {
    return Status(ErrorCode::kNotFound, ec.message());
  }
  if (ec) return Status(ErrorCode::kUnavailable, ec.message());
  return static_cast<uint64_t>(space.available);
}

namespace {

// Hands RocksDB the runs of store/disk_codec.h's AppendRun: with a hint per
// run, appending to a topic costs the memtable a few comparisons, where a
// search from the skiplist's top cost it a fifth of the writer's time
// (perf, HTTP publishes to 64 topics).
class AppendRunTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "herald.AppendRun"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const std::string_view run = AppendRun(std::string_view(key.data(), key.size()));
    return rocksdb::Slice(run.data(), run.size());
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return !AppendRun(std::string_view(key.data(), key.size())).empty();
  }
};

}  // namespace

Result<OpenedDir> OpenStoreDir(const DiskStoreOptions& options) {
  const std::string& dir = options.dir;
  if (dir.empty()) return Status(ErrorCode::kInvalidArgument, "history store: no directory given");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir, ec)) {
    return Refuse(dir, "cannot create or use it as a directory (" + ec.message() + ")",
                  "Give a directory heraldd can write to");
  }
  Result<bool> fresh = CheckFormat(dir);
  if (!fresh.ok()) return fresh.status();

  rocksdb::Options o;
  o.create_if_missing = *fresh;
  o.paranoid_checks = true;
  // A torn last record (a crash mid-write) is dropped; damage anywhere else
  // in the log is an error, never a silently shorter history.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  o.max_background_jobs = 2;
  // Hints need a single memtable writer, which the store's one writer
  // thread is anyway.
  o.allow_concurrent_memtable_write = false;
  o.memtable_insert_with_hint_prefix_extractor = std::make_shared<AppendRunTransform>();
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.info_log = std::make_shared<StderrLogger>();
  rocksdb::DB* raw = nullptr;
  // RocksDB logs an error when a new database's directory is missing.
  if (*fresh) fs::create_directories(fs::path(dir) / "db", ec);
  rocksdb::Status s = rocksdb::DB::Open(o, (fs::path(dir) / "db").string(), &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return Refuse(dir, "it is in use by another process (" + s.ToString() + ")",
                    "Stop that process, or give another directory");
    }
    if (s.IsCorruption()) {
      return Refuse(dir, "its database is damaged (" + s.ToString() + ")",
                    "Restore the directory from a backup, or move it aside and start with an "
                    "empty one (its history is then lost)");
    }
    return Refuse(dir, "cannot open its database (" + s.ToString() + ")",
                  "Check the directory's permissions and free space");
  }
  OpenedDir opened;
  opened.db.reset(raw);
  if (*fresh && !WriteFileDurably(fs::path(dir) / "FORMAT", FormatLine())) {
    return Refuse(dir, "cannot write its FORMAT file",
                  "Check the directory's permissions and free space");
  }

  const std::string boot = options.boot_id.empty() ? CurrentBootId() : options.boot_id;
  opened.recovery = JudgeLastRun(ReadRunMarker(*opened.db), boot);
  if (Status loaded =
          LoadTopics(*opened.db, dir, options.tail_bytes, opened.topics, opened.extents);
      !loaded.ok()) {
    return loaded;
  }
  s = WriteRunMarker(*opened.db, RunMarker{false, options.sync, boot});
  if (!s.ok()) {
    return Refuse(dir, "cannot write to it (" + s.ToString() + ")",
                  "Check the directory's permissions and free space");
  }
  return opened;
}

}  // namespace herald::store
