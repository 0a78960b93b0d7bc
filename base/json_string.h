// JSON string escaping (RFC 8259 §7), shared by the HTTP layer's error bodies
// and the JSON envelopes: quote, backslash and control characters escaped,
// other UTF-8 passed through (callers make sure it is valid UTF-8).
#pragma once

#include <string>
#include <string_view>

namespace herald {

// Appends `s` as a quoted, escaped JSON string.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace herald
