#include "server/readiness_metrics.h"

namespace herald::server {
namespace {

// One sample per canary target, `target="local"`, `target="n2"`...
void ByTarget(MetricTable& t, const Readiness& r, std::string name, std::string type,
              std::string help, double (*read)(const Readiness::Target&)) {
  t.Family(std::move(name), std::move(type), std::move(help),
           [&r, read](const MetricSnapshot&, std::vector<MetricSample>& out) {
             for (const Readiness::Target& target : r.Check().targets) {
               out.push_back({"", "target=\"" + LabelValue(target.name) + "\"", read(target)});
             }
           });
}

}  // namespace

void AddReadinessMetrics(const Readiness& r, MetricTable& t) {
  t.Gauge("herald_ready", "1 while /readyz answers ready: every canary came back in time.",
          [&r](const MetricSnapshot&) { return r.Check().ready ? 1 : 0; });
  ByTarget(t, r, "herald_readiness_canary_ok", "gauge",
           "1 when the target's last canary came back within the timeout.",
           [](const Readiness::Target& x) { return x.ok ? 1.0 : 0.0; });
  ByTarget(t, r, "herald_readiness_canary_latency_seconds", "gauge",
           "Round trip of the target's last canary that came back.",
           [](const Readiness::Target& x) { return x.latency_s; });
  ByTarget(t, r, "herald_readiness_canary_probes_total", "counter",
           "Canaries to the target that came back or failed.",
           [](const Readiness::Target& x) { return static_cast<double>(x.probes); });
  ByTarget(t, r, "herald_readiness_canary_failures_total", "counter",
           "Canaries to the target that failed: no answer in time, a refusal, no link.",
           [](const Readiness::Target& x) { return static_cast<double>(x.failures); });
}

}  // namespace herald::server
