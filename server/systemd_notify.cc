#include "server/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>

namespace herald::server {

SystemdNotify::SystemdNotify() {
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set for this process (WATCHDOG_PID, if
  // set, is ours). The environment is left as it is: libraries never read it.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    // A quarter of WatchdogSec: one probe that finds a loop busy still
    // leaves a ping before systemd's deadline.
    watchdog_interval_ = std::chrono::milliseconds(std::max<uint64_t>(1, usec / 4000));
  }
}

void SystemdNotify::Ready(const std::string& status) {
  (void)sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
}

void SystemdNotify::Stopping(const std::string& status) {
  (void)sd_notify(0, ("STOPPING=1\nSTATUS=" + status).c_str());
}

void SystemdNotify::Status(const std::string& status) {
  (void)sd_notify(0, ("STATUS=" + status).c_str());
}

void SystemdNotify::Watchdog() { (void)sd_notify(0, "WATCHDOG=1"); }

}  // namespace herald::server
