#include "server/limit_log.h"

#include <cstdlib>

namespace herald::server {
namespace {

// The counters that say a limit tripped (docs/CONFIG.md names the limits).
constexpr std::string_view kTrips[] = {
    "herald_http_rejects_total",
    "herald_ws_handshake_rejects_total",
    "herald_ws_rate_limited_total",
    "herald_ws_rate_limit_closes_total",
    "herald_ws_idle_timeouts_total",
    "herald_ws_slow_consumer_closes_total",
    "herald_sse_rejects_total",
    "herald_sse_slow_consumer_closes_total",
    "herald_slow_consumer_disconnects_total",
    "herald_topics_refused_total",
    "herald_cluster_links_refused_total",
    "herald_cluster_members_ignored_total",
    "herald_grpc_unauthenticated_total",
    "herald_grpc_permission_denied_total",
    "herald_grpc_user_limit_refusals_total",
    "herald_grpc_commands_rate_limited_total",
    "herald_grpc_rate_limit_ends_total",
    "herald_grpc_publish_stream_requests_cut_total",
};

bool IsTrip(std::string_view sample) {
  for (std::string_view name : kTrips) {
    if (sample.starts_with(name) && (sample.size() == name.size() || sample[name.size()] == '{')) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> LimitLog::Report(std::string_view metrics) {
  std::vector<std::string> lines;
  while (!metrics.empty()) {
    const size_t nl = metrics.find('\n');
    std::string_view line = metrics.substr(0, nl);
    metrics = nl == std::string_view::npos ? std::string_view() : metrics.substr(nl + 1);
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string_view::npos) continue;
    const std::string_view sample = line.substr(0, space);
    if (!IsTrip(sample)) continue;
    const double value = std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
    auto [it, fresh] = last_.try_emplace(std::string(sample), 0.0);
    const double delta = value - it->second;
    it->second = value;
    if (!primed_ && fresh) continue;  // the first report only takes stock
    if (delta > 0) {
      lines.push_back("limit tripped: " + std::string(sample) + " +" +
                      std::to_string(static_cast<long long>(delta)) + " (total " +
                      std::to_string(static_cast<long long>(value)) + ")");
    }
  }
  primed_ = true;
  return lines;
}

}  // namespace herald::server
