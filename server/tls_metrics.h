// The TLS listener's rows of /metrics (io::TlsServer): handshakes, their
// failures by reason, and when the certificate in use expires.
#pragma once

#include "io/tls_context.h"
#include "server/metric_table.h"

namespace herald::server {

void AddTlsMetrics(const io::TlsServer& tls, MetricTable& t);

}  // namespace herald::server
