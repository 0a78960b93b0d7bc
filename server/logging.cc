#include "server/logging.h"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <ctime>

#include "base/json_string.h"
#include "base/log.h"

namespace herald::server {
namespace {

// Separates a payload's message from its fields (JSON members). Only lines
// of the fields logger (SpdlogSink's) are split there: any other line is all
// message, whatever bytes it holds (a peer's refusal reason, say).
constexpr char kFieldsMark = '\x1e';
constexpr const char* kFieldsLogger = "heraldd.fields";

// `s` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
    if (ok && len > 1) {
      // No overlong forms, surrogates or code points past U+10FFFF.
      uint32_t cp = c & (0x7F >> len);
      for (size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const bool fields =
        std::string_view(msg.logger_name.data(), msg.logger_name.size()) == kFieldsLogger;
    std::string line = fields
                           ? JsonLogLine(ms, std::string_view(level.data(), level.size()), payload)
                           : JsonLogLine(ms, std::string_view(level.data(), level.size()), payload,
                                         /*split=*/false);
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

spdlog::level::level_enum SpdlogLevel(log::Level level) {
  switch (level) {
    case log::Level::kTrace:
      return spdlog::level::trace;
    case log::Level::kDebug:
      return spdlog::level::debug;
    case log::Level::kInfo:
      return spdlog::level::info;
    case log::Level::kWarn:
      return spdlog::level::warn;
    case log::Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// base/log.h's events into spdlog: as "message key=value ..." in text, or
// with their fields as JSON members after kFieldsMark for JsonFormatter.
class SpdlogSink final : public log::Sink {
 public:
  SpdlogSink(std::shared_ptr<spdlog::logger> logger, bool json)
      : logger_(std::move(logger)), json_(json) {}

  bool Enabled(log::Level level) const override { return logger_->should_log(SpdlogLevel(level)); }

  void Write(log::Level level, std::string_view message,
             std::initializer_list<log::Field> fields) override {
    std::string payload(message);
    if (json_) {
      payload.push_back(kFieldsMark);
      bool first = true;
      for (const log::Field& f : fields) {
        if (!first) payload.push_back(',');
        first = false;
        AppendJsonString(payload, f.key);
        payload.push_back(':');
        AppendJsonString(payload, f.value);
      }
    } else {
      for (const log::Field& f : fields) {
        payload.push_back(' ');
        payload.append(f.key);
        payload.push_back('=');
        // Quoted (as JSON) when it could be misread: empty, or with a
        // space, a quote, a backslash or a control byte (a forged line).
        bool quote = f.value.empty();
        for (char ch : f.value)
          quote |= static_cast<unsigned char>(ch) <= ' ' || ch == '"' || ch == '\\' || ch == 0x7f;
        if (quote) {
          AppendJsonString(payload, f.value);
        } else {
          payload.append(f.value);
        }
      }
    }
    logger_->log(SpdlogLevel(level), payload);
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  const bool json_;
};

}  // namespace

std::string JsonLogLine(int64_t unix_ms, std::string_view level, std::string_view payload,
                        bool split) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char ts[40];
  const size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(unix_ms % 1000));

  std::string_view message = payload;
  std::string_view members;
  if (const size_t mark = split ? payload.find(kFieldsMark) : std::string_view::npos;
      mark != std::string_view::npos) {
    message = payload.substr(0, mark);
    members = payload.substr(mark + 1);
  }
  std::string line = "{\"ts\":\"";
  line.append(ts);
  line.append("\",\"level\":");
  AppendJsonString(line, level);
  line.append(",\"msg\":");
  AppendJsonString(line, ValidUtf8(message));
  if (!members.empty()) {
    line.push_back(',');
    line.append(ValidUtf8(members));  // already JSON members (SpdlogSink)
  }
  line.push_back('}');
  return line;
}

namespace {
// heraldd's loggers (SetUpLogging), whose level a reload changes.
std::vector<std::shared_ptr<spdlog::logger>>& Loggers() {
  static std::vector<std::shared_ptr<spdlog::logger>> loggers;
  return loggers;
}
}  // namespace

void SetLogLevel(const std::string& level) {
  for (const auto& l : Loggers()) l->set_level(spdlog::level::from_str(level));
}

void SetUpLogging(Config::LogFormat format, const std::string& level) {
  const bool json = format == Config::LogFormat::kJson;
  spdlog::init_thread_pool(kLogQueue, 1);
  spdlog::sink_ptr sink;
  if (json) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::async_logger>(
      "heraldd", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  // The same sink and queue, under the name JsonFormatter splits fields by.
  auto fields = std::make_shared<spdlog::async_logger>(
      kFieldsLogger, sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  spdlog::set_default_logger(logger);
  Loggers() = {logger, fields};
  for (const auto& l : Loggers()) l->flush_on(spdlog::level::info);
  SetLogLevel(level);
  log::SetSink(std::make_shared<SpdlogSink>(fields, json));
  // Whatever is still queued is written on the way out, however main ends.
  std::atexit([] { spdlog::shutdown(); });
}

}  // namespace herald::server
