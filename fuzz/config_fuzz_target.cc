#include "config_fuzz_target.h"

#include <string_view>

#include "server/config.h"

namespace herald::fuzz {

bool FuzzConfig(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  server::Config config;
  try {
    Status s = server::ApplyToml(text, "fuzz.toml", config);
    // An error must say something.
    if (!s.ok() && s.message().empty()) return false;
  } catch (...) {
    return false;  // errors are values: nothing may escape
  }
  return true;
}

}  // namespace herald::fuzz
