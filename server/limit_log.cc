#include "server/limit_log.h"

namespace herald::server {

std::vector<std::string> LimitLog::Report(
    const std::vector<std::pair<std::string, uint64_t>>& counters) {
  std::vector<std::string> lines;
  for (const auto& [sample, value] : counters) {
    auto [it, fresh] = last_.try_emplace(sample, 0);
    const uint64_t before = it->second;
    it->second = value;
    if (!primed_ && fresh) continue;  // the first report only takes stock
    if (value > before) {
      lines.push_back("limit tripped: " + sample + " +" + std::to_string(value - before) +
                      " (total " + std::to_string(value) + ")");
    }
  }
  primed_ = true;
  return lines;
}

}  // namespace herald::server
