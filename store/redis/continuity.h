// store/redis/continuity.h — does the master a write connection reached
// hold every append acknowledged before?
//
// Redis can come back without writes it acknowledged: a restart of a master
// that answered before fsync (appendfsync everysec), or a failover to a
// replica that had not received the newest writes (replication is
// asynchronous). A store that went on numbering over what is left would
// give offsets clients already saw to other messages. So each write
// connection, before its first command, runs kContinuityScript (scripts.h)
// with what the master says of itself (INFO: run_id, master_replid,
// master_replid2, connected_slaves; CONFIG GET: appendonly, appendfsync)
// and where the connection went. When the master
// cannot show it holds everything, P:lost grows, and every topic written
// before it starts a new epoch when next loaded: resuming clients are told
// of a gap, never given a renumbered message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "herald/status.h"
#include "store/redis/connection.h"
#include "store/redis/reply.h"

namespace herald::redis {

// What a master says of its current run (INFO).
struct MasterRun {
  std::string run_id;
  std::string replid;   // master_replid
  std::string replid2;  // master_replid2: all zeros unless it took over as master
  int replicas = 0;     // connected_slaves
};
// From INFO's text; an error naming the field that is missing.
Result<MasterRun> ParseMasterRun(const Reply& info);

// "always", "everysec" or "no" (appendfsync), "off" without appendonly, or
// "unknown" when CONFIG GET is refused (an ACL): taken as not always.
std::string SyncPolicy(const Result<Reply>& config);

struct Continuity {
  std::string why;    // "" when the master holds everything acknowledged before
  uint64_t lost = 0;  // P:lost now
};

struct ContinuityOptions {
  std::string script_sha;  // kContinuityScript's
  std::string prefix;
  std::string address;  // where the connection went: which server this is
  // durability = "replicated": appends are acknowledged once this many
  // replicas have them (0: by the master alone). A takeover by a replica
  // is trusted only when every replica the master had was waited for.
  int wait_replicas = 0;
  // How long the record that this node does not wait for every replica
  // may take to reach them (the connect attempt's time covers it).
  std::chrono::milliseconds record_timeout{1000};
};

// Loop thread, during a write connection's prepare step (its `send`).
// Answers once: an error when the master cannot be asked (INFO refused), or
// when the record could not reach its replicas in time (the attempt fails
// and is made again).
void CheckContinuity(const PrepareSend& send, const ContinuityOptions& options,
                     std::function<void(Result<Continuity>)> done);

}  // namespace herald::redis
