// cluster/admin_calls.h — server-API calls (herald/clients.h) between
// nodes: out to the peers a call names, answers merged; in from a peer,
// applied to this node's clients and answered.
//
// A call goes to every link whose peer announced the "admin" feature (or to
// the one node a client id names) and waits at most admin_timeout for their
// answers. A peer that does not answer in time, whose link ends first, or
// that cannot be sent to is listed in `unreached` — expiry and link loss
// take one path (Fail). The call's `done` runs exactly once, on whichever
// thread ended it.
//
// Thread-safe: one mutex guards the table; callbacks run outside it.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/peer_link.h"
#include "herald/broker.h"
#include "herald/cluster_options.h"

namespace herald::cluster {

inline constexpr std::string_view kAdminFeature = "admin";

class AdminCalls {
 public:
  using Clock = std::chrono::steady_clock;

  AdminCalls(Broker& broker, const ClusterOptions& options) : broker_(broker), options_(options) {}

  // Sends `call` over `links` (each to its peer) and merges their answers.
  // `wanted`: a node the call is for that has no link (listed unreached).
  void Send(const std::vector<std::shared_ptr<PeerLink>>& links, const AdminCall& call,
            const std::string& wanted, AdminCallback done);
  // A peer's call: applied to this node's clients, answered on `link`
  // (id 0: a call that wants no answer).
  void Apply(PeerLink& link, const pb::AdminCall& frame);
  // `link` is up: its peer is told every revocation this node holds (as
  // revoke calls wanting no answer), so a node that restarted without them
  // refuses what the others refuse.
  void Announce(const std::shared_ptr<PeerLink>& link);
  // A peer's answer, from its link's reader; only the node asked may answer.
  void OnResult(const PeerLink& from, pb::AdminResult& result);

  // Fails every call whose deadline is `now` or earlier.
  void Expire(Clock::time_point now);
  // Fails every call to `peer` (every call at all, when `peer` is empty).
  void FailPeer(const std::string& peer);

  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  uint64_t unreached() const { return unreached_.load(std::memory_order_relaxed); }

 private:
  // One call to several peers: their answers merge here.
  struct FanOut {
    std::mutex mu;
    AdminResult result;
    size_t waiting = 0;
    uint32_t limit = 0;
    AdminCallback done;
  };
  struct Pending {
    std::string peer;
    Clock::time_point deadline;
    std::shared_ptr<FanOut> fan;
  };
  // Adds one peer's answer (or, `reached` false, its absence) to `fan`.
  static void Answer(const std::shared_ptr<FanOut>& fan, const std::string& peer, bool reached,
                     AdminResult r);
  void Fail(std::vector<Pending> gone);

  Broker& broker_;
  const ClusterOptions& options_;
  std::mutex mu_;
  uint64_t next_id_ = 1;
  bool stopped_ = false;  // FailPeer("") ran: calls fail at once
  std::map<uint64_t, Pending> pending_;
  std::atomic<uint64_t> sent_{0}, unreached_{0};
};

}  // namespace herald::cluster
