// /readyz: whether this node delivers, proven by canaries (ReadinessOptions
// in herald/server.h says what is checked and when a target fails).
//
// A thread of its own ticks every interval and only starts asynchronous
// calls (PublishAsync, Request); their answers arrive on the broker's, the
// store's or the cluster's threads and are matched to the probe they answer
// by its number, so a late answer never completes a newer probe.
//
//   Readiness r(broker, cluster, options);   // cluster: null on one node
//   r.Start();  ...  r.Check().ready  ...  r.Stop();
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "herald/broker.h"
#include "herald/server.h"

namespace herald::cluster {
class Cluster;
}

namespace herald::server {

class Readiness {
 public:
  // The canary target of this node's own broker (and store).
  static constexpr std::string_view kLocal = "local";

  Readiness(Broker& broker, cluster::Cluster* cluster, ReadinessOptions options);
  ~Readiness();  // Stop()
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // Subscribes the canary responder and the local canary's subscriber, and
  // starts ticking. In a cluster, before the fronts (as the cluster is).
  Status Start();
  void Stop();
  // From now on not ready (a drain has begun).
  void SetDraining();

  struct Target {
    std::string name;       // kLocal, or a peer's node id
    bool ok = false;        // its last probe came back in time
    std::string why;        // when not ok; when ok, a note ("unverified: ...")
    double latency_s = 0;   // of its last successful probe
    uint64_t probes = 0;    // probes completed (answered or failed)
    uint64_t failures = 0;  // of them, failed
  };
  struct Report {
    bool ready = false;
    std::string why;  // the first reason, when not ready
    std::vector<Target> targets;
  };
  Report Check() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Probe;
  struct State;

  void Run();
  void Tick();
  // A topic under `prefix` that `owner` ("" for this node) owns now, or ""
  // when none of the names tried is.
  // Found names are kept until the membership changes. Readiness thread.
  std::string OwnedTopic(const std::string& prefix, const std::string& owner, size_t members);
  void StartLocal(uint64_t seq);
  void StartPeer(const std::string& peer, uint64_t seq);

  Broker& broker_;
  cluster::Cluster* const cluster_;
  const ReadinessOptions options_;
  const std::string node_id_;
  std::shared_ptr<State> state_;  // shared with the calls' answers
  // OwnedTopic's names, by prefix, under one membership generation.
  std::map<std::string, std::string> owned_;
  uint64_t owned_generation_ = 0;
  size_t members_ = 1;      // live members at the last tick, this node included
  uint64_t responder_ = 0;  // subscription ids
  uint64_t local_sub_ = 0;
  std::thread thread_;
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stopping_ = false;
};

}  // namespace herald::server
