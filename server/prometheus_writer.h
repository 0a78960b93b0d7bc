// Writes the Prometheus text exposition format (version 0.0.4): one HELP and
// TYPE line per family, then its samples.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herald::server {

class PrometheusWriter {
 public:
  void Counter(std::string_view name, std::string_view help, uint64_t value);
  void Gauge(std::string_view name, std::string_view help, uint64_t value);
  // Starts a family whose samples carry labels; add them with Sample().
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, std::string_view labels, uint64_t value);
  void Sample(std::string_view name, std::string_view labels, double value);

  const std::string& text() const { return out_; }

 private:
  void Line(std::string_view name, std::string_view labels, std::string_view value);

  std::string out_;
};

}  // namespace herald::server
