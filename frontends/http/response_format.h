// frontends/http/response_format.h — the bytes of a response head.
//
// Pure functions, no I/O: status reasons, the head serialiser, the JSON error
// body and the cached Date value.
//
//   std::string head = FormatHead({.status = 200, .content_length = 5}, extra);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "frontends/http/headers.h"
#include "herald/status.h"

namespace herald::http {

// "OK", "Not Found"…; "Unknown" for codes without a registered reason.
std::string_view StatusReason(int status);

// RFC 9110 §6.4.1 / §8.6: 1xx, 204 and 304 carry no body (and 1xx/204 no
// Content-Length).
bool StatusHasBody(int status);

struct HeadSpec {
  int status = 200;
  std::string_view content_type;           // omitted if empty
  std::optional<uint64_t> content_length;  // set for fixed-length bodies
  bool chunked = false;                    // Transfer-Encoding: chunked
  bool close = false;                      // Connection: close
  bool keep_alive_header = false;          // Connection: keep-alive (HTTP/1.0 peers)
};

// Status line, Date, Server, the framing headers from `spec`, then `extra`.
std::string FormatHead(const HeadSpec& spec, const HeaderList& extra);

// False when the content type or an extra header could break the head: a
// name that is not a token, a CR, LF, NUL or other control byte in a value.
// The session refuses to write such a head (a 500 goes out instead), the
// last guard against response splitting whatever produced the values.
bool HeadIsSafe(std::string_view content_type, const HeaderList& extra);

// The HTTP status a failed broker operation answers with: 400 for bad
// input, 413 for an over-size payload, 504 for a timeout, 503 for no
// responders or an exhausted limit, and so on.
int HttpStatusFor(const Status& status);

// {"error":"<code>","message":"<message>"} with JSON string escaping.
std::string ErrorJson(std::string_view code, std::string_view message);

// IMF-fixdate of the current second (RFC 9110 §5.6.7), cached per thread.
std::string_view HttpDate();

}  // namespace herald::http
