// Limit trips for the log: every counter of a refusal or a cut (a limit
// that tripped) is compared with its value at the previous report, and each
// one that moved gives one line — its name, its reason, how many times —
// rather than one line per event, which an attacker could turn into a flood.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace herald::server {

class LimitLog {
 public:
  // `metrics`: the Prometheus text of /metrics. Returns the lines to log for
  // the counters that moved since the last call (none on the first call).
  std::vector<std::string> Report(std::string_view metrics);

 private:
  std::map<std::string, double, std::less<>> last_;
  bool primed_ = false;
};

}  // namespace herald::server
