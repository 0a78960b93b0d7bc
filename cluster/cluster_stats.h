// cluster/cluster_stats.h — what Cluster::Stats() reports (/cluster and
// /metrics read it): the members, the links and the cluster's counters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace herald::cluster {

struct LinkStats {
  std::string peer_id;
  std::string address;
  std::string direction;  // "dialed" | "accepted"
  std::string state;      // "handshake" | "up" | "closed"
  uint64_t messages_in = 0, messages_out = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  uint64_t frames_in = 0, frames_out = 0;
  size_t queue_frames = 0, queue_bytes = 0;
  uint64_t reconnects = 0;  // times a link to this peer came up again
  double up_seconds = 0;
};

struct MemberStats {
  std::string node_id;
  std::string address;
  bool live = false;
  bool self = false;
  std::string last_error;  // why the last link to it ended or was refused
};

struct ClusterStats {
  std::string node_id;
  std::string cluster_name;
  std::string address;
  uint64_t membership_generation = 0;
  std::vector<MemberStats> members;
  std::vector<LinkStats> links;
  uint64_t forwards = 0, forward_failures = 0;
  uint64_t admin_calls = 0, admin_unreached = 0;  // server-API calls sent to peers
  uint64_t history_fetches = 0, history_failures = 0;
  uint64_t replies_routed = 0;
  uint64_t links_refused = 0;  // incoming, every reason
  // Incoming links refused, by reason (label, count), every reason listed.
  std::vector<std::pair<std::string, uint64_t>> refused_by_reason;
  // Nodes this one dialled that did not prove the cluster secret (a
  // listener posing as a member, or one with another secret).
  uint64_t dialed_unproven = 0;
  uint64_t members_ignored = 0;  // malformed, or over max_members
  uint64_t link_overflows = 0;   // links closed at max_link_queue_bytes
};

}  // namespace herald::cluster
