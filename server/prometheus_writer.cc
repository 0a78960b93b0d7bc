#include "server/prometheus_writer.h"

#include <cstdio>

namespace herald::server {

void PrometheusWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusWriter::Sample(std::string_view name, std::string_view labels, uint64_t value) {
  Line(name, labels, std::to_string(value));
}

void PrometheusWriter::Sample(std::string_view name, std::string_view labels, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  Line(name, labels, buf);
}

void PrometheusWriter::Line(std::string_view name, std::string_view labels,
                            std::string_view value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    out_ += labels;
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

void PrometheusWriter::Counter(std::string_view name, std::string_view help, uint64_t value) {
  Family(name, "counter", help);
  Sample(name, "", value);
}

void PrometheusWriter::Gauge(std::string_view name, std::string_view help, uint64_t value) {
  Family(name, "gauge", help);
  Sample(name, "", value);
}

}  // namespace herald::server
