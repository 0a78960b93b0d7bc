// base/http_tokens.h — the bits of HTTP field syntax (RFC 9110 §5.6) that both
// the HTTP layer and the WebSocket handshake read.
//
// RFC 9110 §5.6.1: `#rule` lists are comma-separated with optional whitespace
// and empty elements allowed; header field names and most tokens compare
// case-insensitively (§5.1). Used for `Upgrade`, `Connection` and
// `Sec-WebSocket-Protocol`. `Sec-WebSocket-Extensions`, whose elements carry
// quoted strings, has its own parser (extension_parser.h).
#pragma once

#include <functional>
#include <string_view>

namespace herald {

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Trims spaces and horizontal tabs (RFC 9110 §5.6.3 OWS) at both ends.
std::string_view TrimOws(std::string_view s);

// Calls `fn` with each non-empty, trimmed element of a comma-separated list.
// Stops early and returns false if `fn` returns false.
bool ForEachListElement(std::string_view list, const std::function<bool(std::string_view)>& fn);

// True if `list` contains `token`, compared case-insensitively.
bool ListHasToken(std::string_view list, std::string_view token);

// RFC 9110 §5.6.2 tchar / token.
bool IsTokenChar(char c);
bool IsToken(std::string_view s);

// RFC 9110 §5.5 field-value bytes: visible ASCII, obs-text, SP and HTAB — no
// CR, LF, NUL or other control character, so the value cannot end a header
// line early or start another one (response splitting).
bool IsFieldValue(std::string_view s);

}  // namespace herald
