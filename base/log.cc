#include "base/log.h"

namespace herald::log {
namespace {

// Set once at start, before other threads run; read without a lock after.
std::shared_ptr<Sink>& Installed() {
  static std::shared_ptr<Sink> sink;
  return sink;
}

}  // namespace

void SetSink(std::shared_ptr<Sink> sink) { Installed() = std::move(sink); }

bool Enabled(Level level) {
  const std::shared_ptr<Sink>& sink = Installed();
  return sink && sink->Enabled(level);
}

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  const std::shared_ptr<Sink>& sink = Installed();
  if (sink && sink->Enabled(level)) sink->Write(level, message, fields);
}

}  // namespace herald::log
