#include "server/cluster_metrics.h"

#include "base/json_string.h"

namespace herald::server {
std::string JsonQuoted(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

void AddClusterMetrics(MetricTable& t) {
  // One sample from the cluster's snapshot, none when there is no cluster.
  auto one = [](uint64_t (*get)(const cluster::ClusterStats&)) {
    return [get](const MetricSnapshot& x, std::vector<MetricSample>& out) {
      if (x.cluster) out.push_back({"", "", static_cast<double>(get(*x.cluster))});
    };
  };
  using S = cluster::ClusterStats;
  t.Family("herald_cluster_members_live", "gauge", "Live cluster members, this node included",
           one([](const S& s) {
             uint64_t live = 0;
             for (const cluster::MemberStats& m : s.members) live += m.live ? 1 : 0;
             return live;
           }));
  t.Family("herald_cluster_members_known", "gauge",
           "Cluster members ever heard of, this node included",
           one([](const S& s) -> uint64_t { return s.members.size(); }));
  t.Family("herald_cluster_membership_changes_total", "counter",
           "Times the set of live members changed (each moves topic ownership)",
           one([](const S& s) -> uint64_t { return s.membership_generation - 1; }));
  t.Family("herald_cluster_forwards_total", "counter",
           "Publishes forwarded to their topic's owner node",
           one([](const S& s) { return s.forwards; }));
  t.Family("herald_cluster_forward_failures_total", "counter",
           "Forwarded publishes that failed (owner unreachable, link lost, timeout)",
           one([](const S& s) { return s.forward_failures; }));
  t.Family("herald_cluster_admin_calls_total", "counter",
           "Server-API calls sent to other nodes (one per node a call named)",
           one([](const S& s) { return s.admin_calls; }));
  t.Family("herald_cluster_admin_unreached_total", "counter",
           "Of those, the ones not answered within admin_timeout_ms or lost with their link",
           one([](const S& s) { return s.admin_unreached; }));
  t.Family("herald_cluster_history_fetches_total", "counter",
           "Resumes served from another node's history",
           one([](const S& s) { return s.history_fetches; }));
  t.Family("herald_cluster_history_failures_total", "counter", "History fetches that failed",
           one([](const S& s) { return s.history_failures; }));
  t.Family("herald_cluster_replies_routed_total", "counter",
           "Replies sent to the node of their request",
           one([](const S& s) { return s.replies_routed; }));
  t.Family(
      "herald_cluster_links_refused_total", "counter",
      "Incoming links refused, by reason: secret (the dialler did not prove the cluster "
      "secret), version, cluster_name, node_id, address, same_node, dial_back (normal: the "
      "other node dials), protocol",
      [](const MetricSnapshot& x, std::vector<MetricSample>& out) {
        if (!x.cluster) return;
        for (const auto& [reason, n] : x.cluster->refused_by_reason) {
          out.push_back({"", "reason=\"" + LabelValue(reason) + "\"", static_cast<double>(n)});
        }
      },
      Trip::kYes);
  t.Family("herald_cluster_dialed_peer_unproven_total", "counter",
           "Links this node dialled whose far side did not prove the cluster secret",
           one([](const S& s) { return s.dialed_unproven; }));
  t.Family("herald_cluster_members_ignored_total", "counter",
           "Members named by peers and ignored: malformed id or address, or over max_members",
           one([](const S& s) { return s.members_ignored; }), Trip::kYes);
  t.Family("herald_cluster_link_overflows_total", "counter",
           "Peer links closed because the peer did not keep up: max_link_queue_bytes queued",
           one([](const S& s) { return s.link_overflows; }), Trip::kYes);

  struct PerLink {
    const char* name;
    const char* type;
    const char* help;
    uint64_t (*get)(const cluster::LinkStats&);
  };
  static const PerLink kPerLink[] = {
      {"herald_cluster_link_up", "gauge", "1 while the link to the peer is up",
       [](const cluster::LinkStats&) -> uint64_t { return 1; }},
      {"herald_cluster_link_messages_out_total", "counter", "Messages sent to the peer",
       [](const cluster::LinkStats& l) { return l.messages_out; }},
      {"herald_cluster_link_messages_in_total", "counter", "Messages received from the peer",
       [](const cluster::LinkStats& l) { return l.messages_in; }},
      {"herald_cluster_link_bytes_out_total", "counter", "Bytes sent to the peer",
       [](const cluster::LinkStats& l) { return l.bytes_out; }},
      {"herald_cluster_link_bytes_in_total", "counter", "Bytes received from the peer",
       [](const cluster::LinkStats& l) { return l.bytes_in; }},
      {"herald_cluster_link_queue_frames", "gauge", "Frames queued for the peer",
       [](const cluster::LinkStats& l) { return static_cast<uint64_t>(l.queue_frames); }},
      {"herald_cluster_link_queue_bytes", "gauge", "Bytes queued for the peer",
       [](const cluster::LinkStats& l) { return static_cast<uint64_t>(l.queue_bytes); }},
      {"herald_cluster_link_reconnects_total", "counter",
       "Times a link to the peer came up again after being lost",
       [](const cluster::LinkStats& l) { return l.reconnects; }},
  };
  for (const PerLink& f : kPerLink) {
    t.Family(f.name, f.type, f.help,
             [get = f.get](const MetricSnapshot& x, std::vector<MetricSample>& out) {
               if (!x.cluster) return;
               for (const cluster::LinkStats& l : x.cluster->links) {
                 out.push_back(
                     {"", "peer=\"" + LabelValue(l.peer_id) + "\"", static_cast<double>(get(l))});
               }
             });
  }
}

std::string ClusterJson(const cluster::ClusterStats& s, const HistoryStoreStats* store) {
  std::string out =
      "{\"node_id\":" + JsonQuoted(s.node_id) + ",\"clustered\":true" +
      ",\"cluster\":" + JsonQuoted(s.cluster_name) + ",\"address\":" + JsonQuoted(s.address) +
      ",\"membership_generation\":" + std::to_string(s.membership_generation) + ",\"members\":[";
  for (size_t i = 0; i < s.members.size(); ++i) {
    const cluster::MemberStats& m = s.members[i];
    if (i) out += ',';
    out += "{\"node_id\":" + JsonQuoted(m.node_id) + ",\"address\":" + JsonQuoted(m.address) +
           ",\"live\":" + (m.live ? "true" : "false") + ",\"self\":" + (m.self ? "true" : "false");
    if (!m.last_error.empty()) out += ",\"last_error\":" + JsonQuoted(m.last_error);
    out += '}';
  }
  out += "],\"links\":[";
  for (size_t i = 0; i < s.links.size(); ++i) {
    const cluster::LinkStats& l = s.links[i];
    if (i) out += ',';
    out += "{\"peer\":" + JsonQuoted(l.peer_id) + ",\"address\":" + JsonQuoted(l.address) +
           ",\"direction\":" + JsonQuoted(l.direction) + ",\"state\":" + JsonQuoted(l.state) +
           ",\"messages_in\":" + std::to_string(l.messages_in) +
           ",\"messages_out\":" + std::to_string(l.messages_out) +
           ",\"bytes_in\":" + std::to_string(l.bytes_in) +
           ",\"bytes_out\":" + std::to_string(l.bytes_out) +
           ",\"queue_frames\":" + std::to_string(l.queue_frames) +
           ",\"queue_bytes\":" + std::to_string(l.queue_bytes) +
           ",\"reconnects\":" + std::to_string(l.reconnects) + "}";
  }
  out += ']';
  if (store) {
    out += ",\"store\":{\"reachable\":" + std::string(store->reachable ? "true" : "false") +
           ",\"server\":" + JsonQuoted(store->server) +
           ",\"disconnects\":" + std::to_string(store->disconnects) +
           ",\"failovers\":" + std::to_string(store->failovers) +
           ",\"unreplicated\":" + std::to_string(store->unreplicated) +
           ",\"tails_unproven\":" + std::to_string(store->tails_unproven) +
           ",\"last_unproven\":" + JsonQuoted(store->last_unproven) +
           ",\"queued_bytes\":" + std::to_string(store->queued_bytes) +
           ",\"append_errors\":" + std::to_string(store->append_errors) + '}';
  }
  out += "}\n";
  return out;
}

}  // namespace herald::server
