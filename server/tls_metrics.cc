#include "server/tls_metrics.h"

namespace herald::server {

void AddTlsMetrics(const io::TlsServer& tls, MetricTable& t) {
  const io::TlsStats& s = *tls.stats();
  t.Counter("herald_tls_handshakes_total", "TLS handshakes finished on the HTTPS listener.",
            [&s](const MetricSnapshot&) { return Get(s.handshakes); });
  t.Gauge("herald_tls_handshakes_in_progress", "TLS handshakes begun and not finished.",
          [&s](const MetricSnapshot&) { return Get(s.in_progress); });
  t.Family(
      "herald_tls_handshake_failures_total", "counter",
      "TLS handshakes that did not finish, by reason (timeout: the head timeout ran out; "
      "peer_alert: the client refused our certificate; plaintext_http: plain HTTP on the "
      "TLS port).",
      [&s](const MetricSnapshot&, std::vector<MetricSample>& out) {
        for (size_t i = 0; i < io::kTlsFailureCount; ++i) {
          out.push_back(
              {"",
               "reason=\"" + std::string(io::TlsFailureName(static_cast<io::TlsFailure>(i))) + "\"",
               static_cast<double>(s.failures[i].load(std::memory_order_relaxed))});
        }
      },
      Trip::kYes);
  t.Gauge("herald_tls_certificate_not_after_seconds",
          "When the certificate new TLS connections get expires (Unix time).",
          [&tls](const MetricSnapshot&) { return tls.Current()->not_after_s(); });
}

}  // namespace herald::server
