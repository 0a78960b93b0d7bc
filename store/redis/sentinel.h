// store/redis/sentinel.h — where the master is, asked of Redis Sentinels.
//
// A Sentinels keeps one Connection to each sentinel it is given and answers
// "where is master <name> now" by asking every sentinel that is connected
// (SENTINEL MASTER) and taking the address named in the newest
// configuration epoch: a sentinel that has not heard of a failover yet
// names the old master, which may be back and say it is a master until the
// sentinels convert it. It is a data connection's
// `locate` (ConnectionOptions): asked before every connect attempt, so a
// reconnect after any failure goes to the master of the moment.
//
// A failover is followed two ways, so that neither alone is relied on:
//   - a data connection to a demoted or dead master fails (READONLY, a reset,
//     a timeout) and asks again when it reconnects;
//   - every `poll_interval` the sentinels are asked, and a master that moved
//     is reported to `on_moved`, which relocates the data connections (a
//     connection in backoff tries at once rather than after its delay).
// Polling rather than a +switch-master subscription: an answer is all a
// pub/sub event would be a reason to fetch, and a poll cannot be missed
// while a subscription's connection is down.
//
// A sentinel's answer is only a hint: the data connection's handshake still
// asks ROLE and refuses a server that is not a master (a sentinel may
// answer with the old master until the failover ends).
//
// Loop thread only, every member.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "herald/status.h"
#include "io/loop.h"
#include "io/timer_wheel.h"
#include "store/redis/connection.h"

namespace herald::redis {

struct SentinelOptions {
  std::vector<Endpoint> sentinels;
  std::string master_name;
  // The sentinels' own AUTH (not the data servers').
  std::string user;
  std::string password;
  std::string client_name;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  std::chrono::milliseconds poll_interval{1000};
};

struct SentinelStats {
  uint64_t asked = 0;    // sentinels asked (get-master-addr-by-name, SENTINEL MASTER)
  uint64_t refused = 0;  // answers that named no master (unknown name, error)
  uint64_t moves = 0;    // times the master's address changed
};

class Sentinels final : private io::TimerWheel::Entry {
 public:
  using MovedCallback = std::function<void(const Endpoint& master)>;

  Sentinels(io::Loop& loop, SentinelOptions options, MovedCallback on_moved);
  ~Sentinels();
  Sentinels(const Sentinels&) = delete;
  Sentinels& operator=(const Sentinels&) = delete;

  // Connects to every sentinel and starts polling. Once.
  void Start();
  // Where the master is now: as named by the sentinel with the newest
  // configuration epoch, or an error naming each sentinel and what it said. Waits (without
  // blocking) while no sentinel is connected yet but some are connecting.
  void Master(LocateCallback done);
  // A `locate` for the data connections. Valid while this lives.
  Locate Locator();

  // The last address a sentinel gave ({} before the first).
  const Endpoint& master() const { return master_; }
  const SentinelStats& stats() const { return stats_; }

 private:
  struct Sentinel {
    Endpoint where;
    std::unique_ptr<Connection> conn;
  };

  // One question, asked of every ready sentinel at once.
  struct Question {
    std::string name;  // the master's
    LocateCallback done;
    size_t pending = 0;            // sentinels still to answer
    std::optional<Endpoint> best;  // named in the newest configuration
    uint64_t best_epoch = 0;
    bool best_failing_over = false;
    Endpoint best_from;  // the sentinel that named it
    std::string why;     // what the others said
  };

  void OnTimerExpired() override;
  void OnSentinelState(ConnectionState s);
  // Asks every ready sentinel; Answer once they all answered.
  void Ask(std::shared_ptr<Question> q, LocateCallback done);
  void Answer(const std::shared_ptr<Question>& q);
  void Found(size_t i, const Endpoint& master);
  bool AnyConnecting() const;

  io::Loop& loop_;
  const SentinelOptions options_;
  MovedCallback on_moved_;
  std::vector<Sentinel> sentinels_;      // the one that answered last first
  std::vector<LocateCallback> waiting_;  // asked while none was connected
  Endpoint master_;
  SentinelStats stats_;
  bool polling_ = false;  // a poll is in flight
  std::shared_ptr<Sentinels*> self_ = std::make_shared<Sentinels*>(this);
};

}  // namespace herald::redis
