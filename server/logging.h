// heraldd's logs: spdlog writing to stderr from a thread of its own (an
// event loop never waits on stderr; when more than kLogQueue lines wait, the
// oldest are dropped), as text or as JSON lines (--log-format json: one
// object per line with ts, level, msg and the event's fields, e.g. the
// connection, front and user of a connection's events). The sink of
// base/log.h, so that modules' events reach it with their fields.
#pragma once

#include <string>

#include "server/config.h"

namespace herald::server {

inline constexpr size_t kLogQueue = 8192;

// Makes the default logger and installs the base/log.h sink. Logs still
// queued are written at exit.
void SetUpLogging(Config::LogFormat format, const std::string& level);
// The level of SetUpLogging's loggers (a reload; one at a time, from the
// thread that runs it).
void SetLogLevel(const std::string& level);

// One JSON line (no newline) for a log line of `level` at `unix_ms`:
// {"ts":"2026-12-06T09:48:33.123Z","level":"info","msg":...,<fields>}, where
// `payload` is the message, then (with `split`: a line of base/log.h's
// sink) optionally '\x1e' and the fields as JSON members. Invalid UTF-8
// becomes U+FFFD: every line parses.
std::string JsonLogLine(int64_t unix_ms, std::string_view level, std::string_view payload,
                        bool split = true);

}  // namespace herald::server
