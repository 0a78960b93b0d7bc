// fuzz/quiet_logs.h — silences the logs a fuzzed node would write for every
// input: protobuf reports each string that is not UTF-8, and the node logs
// each refusal. A fuzzer's rules speak for themselves.
#pragma once

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

namespace herald::fuzz {

inline void QuietLogs() {
  google::protobuf::SetLogHandler(nullptr);
  spdlog::set_level(spdlog::level::off);
}

}  // namespace herald::fuzz
