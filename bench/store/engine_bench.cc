// The engine prototypes of the history store (`make bench-store` runs this
// beside heraldd, in the same run): the append workload of durable history on
// RocksDB, LMDB and SQLite, each from Debian, to choose the engine by
// measurement (ARCHITECTURE.md, "Why RocksDB"). heraldd's store is on RocksDB.
//   herald_engine_bench rocksdb|lmdb|sqlite always|batch <payload B> <group> <messages> <empty dir>
// Prints one JSON line.
// Append-only history workload on three embedded engines: N messages to T
// topics, committed in groups of G (one transaction / WriteBatch per group),
// with a sync per group ("always") or none ("batch": the OS flushes).
// Key: topic id (4 B) + epoch (8 B) + offset (8 B), big-endian.
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

static void Key(char* k, uint32_t topic, uint64_t epoch, uint64_t off) {
  for (int i = 0; i < 4; ++i) k[i] = char(topic >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) k[4 + i] = char(epoch >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) k[12 + i] = char(off >> (56 - 8 * i));
}

struct Result {
  double msgs_per_s, p50_us, p99_us;
};

template <typename Commit>
Result Run(size_t n, size_t group, Commit commit) {
  std::vector<double> lat;
  auto t0 = Clock::now();
  for (size_t i = 0; i < n; i += group) {
    auto g0 = Clock::now();
    commit(i, std::min(group, n - i));
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - g0).count());
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(lat.begin(), lat.end());
  return {n / secs, lat[lat.size() / 2], lat[lat.size() * 99 / 100]};
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr,
            "usage: %s rocksdb|lmdb|sqlite always|batch <payload B> <group> <messages> <dir>\n",
            argv[0]);
    return 2;
  }
  const char* engine = argv[1];
  const bool sync = std::string(argv[2]) == "always";
  const size_t payload = std::atoi(argv[3]);
  const size_t group = std::atoi(argv[4]);
  const size_t n = std::atoi(argv[5]);
  const std::string dir = argv[6];
  const uint32_t topics = 100;
  std::string value(payload, 'x');
  char k[20];
  Result r{};
  if (!strcmp(engine, "rocksdb")) {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db;
    if (!rocksdb::DB::Open(o, dir, &db).ok()) return 1;
    rocksdb::WriteOptions w;
    w.sync = sync;
    r = Run(n, group, [&](size_t first, size_t count) {
      rocksdb::WriteBatch b;
      for (size_t i = first; i < first + count; ++i) {
        Key(k, i % topics, 1, i / topics + 1);
        b.Put(rocksdb::Slice(k, 20), value);
      }
      if (!db->Write(w, &b).ok()) abort();
    });
    delete db;
  } else if (!strcmp(engine, "lmdb")) {
    MDB_env* env;
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, size_t(8) << 30);
    if (mdb_env_open(env, dir.c_str(), sync ? 0 : MDB_NOSYNC, 0644)) return 1;
    MDB_dbi dbi;
    MDB_txn* t;
    mdb_txn_begin(env, nullptr, 0, &t);
    mdb_dbi_open(t, nullptr, 0, &dbi);
    mdb_txn_commit(t);
    r = Run(n, group, [&](size_t first, size_t count) {
      MDB_txn* txn;
      mdb_txn_begin(env, nullptr, 0, &txn);
      for (size_t i = first; i < first + count; ++i) {
        Key(k, i % topics, 1, i / topics + 1);
        MDB_val kk{20, k}, vv{value.size(), value.data()};
        if (mdb_put(txn, dbi, &kk, &vv, 0)) abort();
      }
      if (mdb_txn_commit(txn)) abort();
    });
    mdb_env_close(env);
  } else {
    sqlite3* db;
    if (sqlite3_open((dir + "/h.db").c_str(), &db)) return 1;
    sqlite3_exec(db, "PRAGMA journal_mode=WAL;", 0, 0, 0);
    sqlite3_exec(db, sync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;", 0, 0, 0);
    sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS m(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;", 0,
                 0, 0);
    sqlite3_stmt* st;
    sqlite3_prepare_v2(db, "INSERT INTO m VALUES(?,?)", -1, &st, 0);
    r = Run(n, group, [&](size_t first, size_t count) {
      sqlite3_exec(db, "BEGIN", 0, 0, 0);
      for (size_t i = first; i < first + count; ++i) {
        Key(k, i % topics, 1, i / topics + 1);
        sqlite3_bind_blob(st, 1, k, 20, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, value.data(), value.size(), SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) abort();
        sqlite3_reset(st);
      }
      if (sqlite3_exec(db, "COMMIT", 0, 0, 0)) abort();
    });
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  printf(
      "{\"engine\":\"%s\",\"sync\":\"%s\",\"size\":%zu,\"group\":%zu,\"messages\":%zu,"
      "\"msgs_per_s\":%.0f,\"commit_p50_us\":%.1f,\"commit_p99_us\":%.1f}\n",
      engine, sync ? "always" : "batch", payload, group, n, r.msgs_per_s, r.p50_us, r.p99_us);
}
