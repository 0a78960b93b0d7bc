// herald/reload_report.h — what a configuration reload did
// (herald::Server::Reload, SIGHUP, POST /admin/reload).
#pragma once

#include <string>
#include <vector>

namespace herald {

struct ReloadReport {
  std::vector<std::string> applied;        // what took effect, by config section or key
  std::vector<std::string> needs_restart;  // keys that differ and cannot change live
};

}  // namespace herald
