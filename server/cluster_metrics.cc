#include "server/cluster_metrics.h"

#include "base/json_string.h"

namespace herald::server {
namespace {

// A Prometheus label value: backslash, quote and newline escaped.
std::string Label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string JsonQuoted(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

void WriteClusterMetrics(const cluster::ClusterStats& s, PrometheusWriter& w) {
  uint64_t live = 0;
  for (const cluster::MemberStats& m : s.members) live += m.live ? 1 : 0;
  w.Gauge("herald_cluster_members_live", "Live cluster members, this node included", live);
  w.Gauge("herald_cluster_members_known", "Cluster members ever heard of, this node included",
          s.members.size());
  w.Counter("herald_cluster_membership_changes_total",
            "Times the set of live members changed (each moves topic ownership)",
            s.membership_generation - 1);
  w.Counter("herald_cluster_forwards_total", "Publishes forwarded to their topic's owner node",
            s.forwards);
  w.Counter("herald_cluster_forward_failures_total",
            "Forwarded publishes that failed (owner unreachable, link lost, timeout)",
            s.forward_failures);
  w.Counter("herald_cluster_history_fetches_total", "Resumes served from another node's history",
            s.history_fetches);
  w.Counter("herald_cluster_history_failures_total", "History fetches that failed",
            s.history_failures);
  w.Counter("herald_cluster_replies_routed_total", "Replies sent to the node of their request",
            s.replies_routed);
  w.Family("herald_cluster_links_refused_total", "counter",
           "Incoming links refused, by reason: secret (the dialler did not prove the cluster "
           "secret), version, cluster_name, node_id, address, same_node, dial_back (normal: the "
           "other node dials), protocol");
  for (const auto& [reason, n] : s.refused_by_reason) {
    w.Sample("herald_cluster_links_refused_total", "reason=\"" + reason + "\"", n);
  }
  w.Counter("herald_cluster_dialed_peer_unproven_total",
            "Links this node dialled whose far side did not prove the cluster secret",
            s.dialed_unproven);
  w.Counter("herald_cluster_members_ignored_total",
            "Members named by peers and ignored: malformed id or address, or over max_members",
            s.members_ignored);

  struct Family {
    const char* name;
    const char* type;
    const char* help;
    uint64_t (*get)(const cluster::LinkStats&);
  };
  static const Family kFamilies[] = {
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
  for (const Family& f : kFamilies) {
    w.Family(f.name, f.type, f.help);
    for (const cluster::LinkStats& l : s.links) {
      w.Sample(f.name, "peer=\"" + Label(l.peer_id) + "\"", f.get(l));
    }
  }
}

std::string ClusterJson(const cluster::ClusterStats& s) {
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
  out += "]}\n";
  return out;
}

}  // namespace herald::server
