// base/log.h — what Herald's modules log, and where it goes.
//
// A module writes an event with fields; the program decides the format and
// the destination by installing a sink once, at start (heraldd: spdlog, as
// text or JSON, on a thread of its own, so no loop waits on stderr). With no
// sink, nothing is logged and Enabled() is false, so a library user pays
// nothing.
//
//   if (log::Enabled(log::Level::kDebug))
//     log::Write(log::Level::kDebug, "connection opened",
//                {{"front", "ws"}, {"connection", id}, {"user", subject}});
//
// Fields are what a log reader filters on: a connection id, the front, the
// user's subject. Never a token or a secret.
#pragma once

#include <initializer_list>
#include <memory>
#include <string_view>

namespace herald::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError };

struct Field {
  std::string_view key;
  std::string_view value;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool Enabled(Level level) const = 0;
  // Any thread; must not wait on I/O.
  virtual void Write(Level level, std::string_view message,
                     std::initializer_list<Field> fields) = 0;
};

// Installs the sink (null: none). Once, before any thread logs.
void SetSink(std::shared_ptr<Sink> sink);
bool Enabled(Level level);
void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

}  // namespace herald::log
