// Limit trips for the log: every counter of a refusal or a cut (a limit
// that tripped; the metric table marks them, server/metric_table.h) is
// compared with its value at the previous report, and each one that moved
// gives one line — its name, its reason, how many times — rather than one
// line per event, which an attacker could turn into a flood.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace herald::server {

class LimitLog {
 public:
  // `counters`: ("name{labels}", value) of every trip counter
  // (herald::Server::LimitCounters). Returns the lines to log for the
  // counters that moved since the last call (none on the first call).
  std::vector<std::string> Report(const std::vector<std::pair<std::string, uint64_t>>& counters);

 private:
  std::map<std::string, uint64_t, std::less<>> last_;
  bool primed_ = false;
};

}  // namespace herald::server
