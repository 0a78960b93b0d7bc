// The JSON bodies of the HTTP work-queue API (docs/PROTOCOL.md, "Work
// queues"): a queue's definition (PUT /queues/<name>), a settlement of
// pulled jobs (POST /queues/<name>/ack|nack|progress|term), and a pull's
// answer. Every kind of bad input gets a specific message.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/status.h"
#include "herald/work_queue.h"

namespace herald::json {

// {"pattern":"jobs.>","ack_wait_ms":30000,"max_deliver":5,"backoff_ms":[..],
//  "max_in_flight":..,"max_in_flight_per_member":..,"max_pending":..,
//  "max_pending_bytes":..,"dead_letter":".."}; absent keys keep their
// defaults, unknown keys are errors. The broker checks the values.
Result<QueueOptions> DecodeQueueOptions(std::string_view name, std::string_view body);

// {"handles":["<handle>",...],"delay_ms":N}: 1 to `max_handles` handles.
struct Settlement {
  std::vector<std::string> handles;
  std::optional<int64_t> delay_ms;
};
Result<Settlement> DecodeSettlement(std::string_view body, size_t max_handles);

// {"jobs":[<job envelope>,...]}
std::string EncodeJobs(const std::vector<Job>& jobs);
// {"results":[{"handle":..,"ok":true} | {"handle":..,"code":..,"message":..}]}
std::string EncodeSettled(const std::vector<std::string>& handles,
                          const std::vector<Status>& results);

}  // namespace herald::json
