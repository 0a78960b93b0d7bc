// herald/redis_store.h — topic history kept in Redis.
//
// Keeps every topic's history and numbering in a Redis server (a stream and
// a hash per topic; docs/design/redis-store.md has the keys and scripts), so
// that a broker restarted against the same Redis continues every topic's
// epoch and offsets. Appends are pipelined Lua scripts that check the
// position they write at: a second writer, or a gap, is refused, never
// written.
//
//   herald::RedisStoreOptions o;
//   o.port = 6379;
//   auto store = herald::OpenRedisStore(o);
//   if (!store.ok()) { std::cerr << store.status().message(); return 1; }
//   herald::BrokerOptions b;
//   b.store = *store;
//
// The store is a SharedHistoryStore: the nodes of a cluster share it, and a
// topic's new owner loads its head and goes on in its epoch
// (herald/shared_history_store.h, docs/CLUSTER.md).
//
// One Redis server, a master found through Redis Sentinel (and followed
// through a failover), or several of either as shards. Every write
// connection first checks that its master holds every append acknowledged
// before (the same process as the master that took them, a replica
// promoted when every append waited for every replica, or a restart of one
// that fsyncs each append). When it cannot show that, the topics written before start new
// epochs (StoredTopic::epoch_unproven): a loss is told to resuming clients
// as a gap, never hidden under renumbered offsets, even when no node is
// left that saw them.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "herald/history_store.h"
#include "herald/status.h"

namespace herald {

// One shard of a store on several Redis servers (RedisStoreOptions::shards).
struct RedisShard {
  // What topics are hashed to: keep it when the shard moves to another
  // address, and never reuse it for another server's data.
  std::string name;
  std::string host = "127.0.0.1";
  int port = 6379;
  // With sentinels: the name they monitor this shard's master by (empty:
  // the shard's name). host and port are then not used.
  std::string sentinel_master;
};

struct RedisStoreOptions {
  std::string host = "127.0.0.1";  // a name or a numeric address
  int port = 6379;
  std::string user;      // an ACL user (Redis 6+), or empty
  std::string password;  // AUTH, when set
  // Every key starts with it: several brokers may share one Redis.
  std::string prefix = "herald";
  std::string client_name = "herald";  // CLIENT SETNAME (shows in CLIENT LIST)
  // Opening waits this long for Redis; so does each connect attempt later.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);
  // A command without a reply this long closes its connection: what was
  // in flight completes with `timeout` or `unavailable`.
  std::chrono::milliseconds command_timeout = std::chrono::seconds(5);
  // Bytes appended and not yet acknowledged by Redis; past it publishes to
  // topics with history are refused (resource_exhausted).
  size_t max_queued_bytes = 64u << 20;
  // Reads waiting for Redis; past it a read is refused (resource_exhausted).
  size_t max_pending_reads = 1024;
  // Payload bytes of each topic's newest messages read back at open.
  size_t tail_bytes = 1u << 20;
  // Most messages of one topic in one append script.
  size_t max_batch = 256;
  // Shards. When set, each topic is kept on one of these Redis servers (the
  // shard with the highest rendezvous hash of its name and the topic's), so
  // capacity grows with servers; host, port and sentinel_master are then
  // not used, and every other option applies to each shard. Each shard
  // keeps the list of shard names it belongs to: opening refuses a shard
  // whose list differs, or that holds a topic the list puts on another
  // shard (its history would be left behind: moving topics between shards
  // is not supported).
  std::vector<RedisShard> shards;
  // Redis Sentinel. When set, the master named `sentinel_master` is asked
  // of these sentinels ("host:port" each, tried in order) before every
  // connect, and a failover is followed (the sentinels are polled every
  // `sentinel_poll_interval`); host and port are then not used.
  std::vector<std::string> sentinels;
  std::string sentinel_master = "mymaster";
  std::string sentinel_user;  // the sentinels' own AUTH, when they ask one
  std::string sentinel_password;
  std::chrono::milliseconds sentinel_poll_interval = std::chrono::seconds(1);
  // durability = "replicated": an append is acknowledged only once this
  // many replicas have received it (one WAIT after each group of appends);
  // 0 acknowledges once the master has it. Received, not on the replica's
  // disk (Redis 7.0 has no WAITAOF). An append not confirmed within
  // `wait_timeout` fails with `unavailable` ("outcome unknown": the master
  // holds it; a retry with the same message id is answered with it).
  int wait_replicas = 0;
  std::chrono::milliseconds wait_timeout = std::chrono::seconds(1);
  // Opening refuses a Redis that can lose what it acknowledged in a crash:
  // one without appendonly yes and appendfsync always (read with CONFIG
  // GET). False accepts it (appendfsync everysec: up to about a second of
  // acknowledged messages lost if Redis or its machine dies), for history
  // that may lose its newest messages: a loss is still never silent (the
  // topics written before start new epochs, and resuming clients are told
  // of the gap).
  bool require_durable = true;
};

// Connects (waiting up to connect_timeout) and reads every topic's head and
// tail, on each shard. Errors name the server (and shard) and why:
// unreachable, refused AUTH, not a master, not durable, data that is not a
// Herald store's, or a shard list that differs from the one it was written
// with.
Result<std::shared_ptr<HistoryStore>> OpenRedisStore(const RedisStoreOptions& options);

}  // namespace herald
