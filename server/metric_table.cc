#include "server/metric_table.h"

#include <cstdio>

namespace herald::server {

void MetricTable::Counter(std::string name, std::string help, Read read, Trip trip) {
  Family(
      std::move(name), "counter", std::move(help),
      [read = std::move(read)](const MetricSnapshot& s, std::vector<MetricSample>& out) {
        out.push_back({"", "", static_cast<double>(read(s))});
      },
      trip);
}

void MetricTable::Gauge(std::string name, std::string help, Read read) {
  Family(std::move(name), "gauge", std::move(help),
         [read = std::move(read)](const MetricSnapshot& s, std::vector<MetricSample>& out) {
           out.push_back({"", "", static_cast<double>(read(s))});
         });
}

void MetricTable::Family(std::string name, std::string type, std::string help, ReadSamples read,
                         Trip trip) {
  rows_.push_back({std::move(name), std::move(type), std::move(help), trip, std::move(read)});
}

std::string MetricTable::Render(const MetricSnapshot& snapshot) const {
  std::string out;
  out.reserve(rows_.size() * 160);
  std::vector<MetricSample> samples;
  char value[64];
  for (const Row& row : rows_) {
    out += "# HELP " + row.name + ' ' + row.help + "\n# TYPE " + row.name + ' ' + row.type + '\n';
    samples.clear();
    row.read(snapshot, samples);
    for (const MetricSample& s : samples) {
      out += row.name;
      out += s.suffix;
      if (!s.labels.empty()) out += '{' + s.labels + '}';
      const double v = s.value;
      if (v >= 0 && v < 1e18 && v == static_cast<double>(static_cast<uint64_t>(v))) {
        std::snprintf(value, sizeof value, "%llu", static_cast<unsigned long long>(v));
      } else {
        std::snprintf(value, sizeof value, "%.9g", v);
      }
      out += ' ';
      out += value;
      out += '\n';
    }
  }
  return out;
}

std::vector<std::pair<std::string, uint64_t>> MetricTable::Trips(
    const MetricSnapshot& snapshot) const {
  std::vector<std::pair<std::string, uint64_t>> out;
  std::vector<MetricSample> samples;
  for (const Row& row : rows_) {
    if (row.trip != Trip::kYes) continue;
    samples.clear();
    row.read(snapshot, samples);
    for (const MetricSample& s : samples) {
      out.emplace_back(row.name + s.suffix + (s.labels.empty() ? "" : '{' + s.labels + '}'),
                       static_cast<uint64_t>(s.value));
    }
  }
  return out;
}

std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace herald::server
