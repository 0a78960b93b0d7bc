// The one declaration of every metric the server exports: a row holds the
// name, the type, the help text, where the values come from (with their
// labels) and whether the metric counts a tripped limit. /metrics renders the
// rows (Prometheus text 0.0.4); heraldd's limit log reads the counters of the
// rows marked Trip::kYes from the same table, never by parsing the text. So a
// metric is named once: renaming it cannot silently drop it from the log.
//
//   MetricTable t;
//   t.Counter("herald_ws_rate_limited_total", "WebSocket messages refused ...",
//             [&s](const MetricSnapshot&) { return Get(s.rate_limited); }, Trip::kYes);
//   std::string text = t.Render(snapshot);
//
// Thread rule: build the table once (before Start returns), then read it from
// any thread; the sources must be safe to read concurrently (atomics, or the
// snapshot each caller takes).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/cluster_stats.h"
#include "herald/broker_stats.h"

namespace herald::server {

// What is read once per render rather than per row: the broker's and the
// cluster's stats are snapshots that cost a walk to take.
struct MetricSnapshot {
  BrokerStats broker;
  std::optional<cluster::ClusterStats> cluster;
};

// A limit that tripped: a refusal or a cut. heraldd logs each such counter
// that moved, once per limit_log_interval_ms.
enum class Trip { kNo, kYes };

struct MetricSample {
  std::string suffix;  // appended to the name: "" or a histogram's _bucket, _sum, _count
  std::string labels;  // `reason="x"` (escaped), or empty
  double value = 0;
};

class MetricTable {
 public:
  using Read = std::function<uint64_t(const MetricSnapshot&)>;
  using ReadSamples = std::function<void(const MetricSnapshot&, std::vector<MetricSample>&)>;

  // One unlabelled sample.
  void Counter(std::string name, std::string help, Read read, Trip trip = Trip::kNo);
  void Gauge(std::string name, std::string help, Read read);
  // Labelled samples (or a histogram's series), read together.
  void Family(std::string name, std::string type, std::string help, ReadSamples read,
              Trip trip = Trip::kNo);

  std::string Render(const MetricSnapshot& snapshot) const;
  // ("name{labels}", value) of every sample of the Trip::kYes rows.
  std::vector<std::pair<std::string, uint64_t>> Trips(const MetricSnapshot& snapshot) const;

 private:
  struct Row {
    std::string name, type, help;
    Trip trip;
    ReadSamples read;
  };
  std::vector<Row> rows_;
};

// A relaxed atomic counter or gauge of a front's stats, never below zero.
template <typename Atomic>
uint64_t Get(const Atomic& a) {
  const auto v = a.load(std::memory_order_relaxed);
  return v < 0 ? 0 : static_cast<uint64_t>(v);
}

// A Prometheus label value: backslash, quote and newline escaped.
std::string LabelValue(std::string_view v);

}  // namespace herald::server
