// The hooks' rows of /metrics (session::HookStats), by event.
#pragma once

#include "frontends/session/hook_gate.h"
#include "server/metric_table.h"

namespace herald::server {

void AddHookMetrics(const session::HookStats& s, MetricTable& t);

}  // namespace herald::server
