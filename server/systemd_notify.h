// heraldd under systemd's Type=notify (deploy/heraldd.service), through
// sd_notify (Debian's libsystemd): READY=1 once every listener is bound,
// WATCHDOG=1 while the event loops turn, STOPPING=1 on the way out. Without
// NOTIFY_SOCKET in the environment (not started by systemd) each is a no-op.
#pragma once

#include <chrono>
#include <string>

namespace herald::server {

class SystemdNotify {
 public:
  // Reads WATCHDOG_USEC (and WATCHDOG_PID) as systemd set them.
  SystemdNotify();

  void Ready(const std::string& status);
  void Stopping(const std::string& status);
  void Status(const std::string& status);
  // A quarter of WatchdogSec: how often Watchdog() is due; zero when systemd
  // asks for none.
  std::chrono::milliseconds watchdog_interval() const { return watchdog_interval_; }
  void Watchdog();

 private:
  std::chrono::milliseconds watchdog_interval_{0};
};

}  // namespace herald::server
