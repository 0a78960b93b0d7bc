// A file named by a config key, read whole: certificates, keys, secrets.
// Errors name the key, so the operator knows which setting to fix:
//
//   Result<std::string> pem = ReadConfiguredFile("tls.cert_file", path);
//   // "tls.cert_file: cannot read '/etc/herald/cert.pem'"
#pragma once

#include <string>
#include <string_view>

#include "herald/status.h"

namespace herald {

enum class EmptyFile { kAllowed, kRefused };

// With kRefused, an empty file is an error ("<key>: '<path>' is empty").
Result<std::string> ReadConfiguredFile(std::string_view key, const std::string& path,
                                       EmptyFile empty = EmptyFile::kRefused);

}  // namespace herald
