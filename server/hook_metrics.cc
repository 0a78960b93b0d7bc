#include "server/hook_metrics.h"

namespace herald::server {
namespace {

using PerEvent = session::HookStats::PerEvent;

// One sample per event, `event="connect"`...
void ByEvent(MetricTable& t, const session::HookStats& s, std::string name, std::string type,
             std::string help, double (*read)(const PerEvent&), Trip trip = Trip::kNo) {
  t.Family(
      std::move(name), std::move(type), std::move(help),
      [&s, read](const MetricSnapshot&, std::vector<MetricSample>& out) {
        for (HookEvent e : {HookEvent::kConnect, HookEvent::kSubscribe, HookEvent::kPublish,
                            HookEvent::kRefresh}) {
          out.push_back({"", std::string("event=\"") + HookEventName(e) + "\"",
                         read(s.events[static_cast<size_t>(e)])});
        }
      },
      trip);
}

double Of(const std::atomic<uint64_t>& a) {
  return static_cast<double>(a.load(std::memory_order_relaxed));
}

}  // namespace

void AddHookMetrics(const session::HookStats& s, MetricTable& t) {
  ByEvent(t, s, "herald_hook_calls_total", "counter", "Hook calls made to the backend.",
          [](const PerEvent& e) { return Of(e.calls); });
  ByEvent(t, s, "herald_hook_allowed_total", "counter", "Hook calls the backend allowed.",
          [](const PerEvent& e) { return Of(e.allowed); });
  ByEvent(
      t, s, "herald_hook_denied_total", "counter", "Hook calls the backend denied.",
      [](const PerEvent& e) { return Of(e.denied); }, Trip::kYes);
  ByEvent(
      t, s, "herald_hook_failures_allowed_total", "counter",
      "Hook calls that failed (timeout, transport, bad answer) and were allowed by on_failure.",
      [](const PerEvent& e) { return Of(e.failed_allowed); }, Trip::kYes);
  ByEvent(
      t, s, "herald_hook_failures_denied_total", "counter",
      "Hook calls that failed (timeout, transport, bad answer) and were refused by on_failure.",
      [](const PerEvent& e) { return Of(e.failed_denied); }, Trip::kYes);
  ByEvent(
      t, s, "herald_hook_overloaded_total", "counter",
      "Hook calls not made: max_in_flight calls were waiting (on_failure applied).",
      [](const PerEvent& e) { return Of(e.overloaded); }, Trip::kYes);
  ByEvent(t, s, "herald_hook_latency_seconds_sum", "counter",
          "Time spent waiting for the backend's answers (divide by calls for the mean).",
          [](const PerEvent& e) { return Of(e.latency_us_sum) / 1e6; });
  t.Gauge("herald_hook_in_flight", "Hook calls waiting for the backend.",
          [&s](const MetricSnapshot&) { return Get(s.in_flight); });
}

}  // namespace herald::server
