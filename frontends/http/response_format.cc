#include "frontends/http/response_format.h"

#include "base/http_tokens.h"
#include "base/json_string.h"

#include <ctime>

namespace herald::http {

std::string_view StatusReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

bool StatusHasBody(int status) { return status >= 200 && status != 204 && status != 304; }

bool HeadIsSafe(std::string_view content_type, const HeaderList& extra) {
  if (!IsFieldValue(content_type)) return false;
  for (const Header& h : extra) {
    if (!IsToken(h.name) || !IsFieldValue(h.value)) return false;
  }
  return true;
}

std::string FormatHead(const HeadSpec& spec, const HeaderList& extra) {
  std::string out;
  out.reserve(160);
  out += "HTTP/1.1 ";
  out += std::to_string(spec.status);
  out += ' ';
  out += StatusReason(spec.status);
  out += "\r\nDate: ";
  out += HttpDate();
  out += "\r\nServer: herald\r\n";
  if (!spec.content_type.empty()) {
    out += "Content-Type: ";
    out += spec.content_type;
    out += "\r\n";
  }
  // RFC 9110 §8.6: no Content-Length in 1xx or 204 responses.
  if (spec.content_length && spec.status >= 200 && spec.status != 204) {
    out += "Content-Length: ";
    out += std::to_string(*spec.content_length);
    out += "\r\n";
  }
  if (spec.chunked) out += "Transfer-Encoding: chunked\r\n";
  if (spec.close) {
    out += "Connection: close\r\n";
  } else if (spec.keep_alive_header) {
    out += "Connection: keep-alive\r\n";
  }
  for (const Header& h : extra) {
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kInvalidTopic:
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kNotFound:
    case ErrorCode::kUnknownHandle:
      return 404;
    case ErrorCode::kStaleHandle:
      return 409;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kTimeout:
      return 504;
    case ErrorCode::kRateLimited:
      return 429;
    case ErrorCode::kNoResponders:
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kCancelled:
    case ErrorCode::kTooManyTopics:
    case ErrorCode::kTooManySubscriptions:
    case ErrorCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string ErrorJson(std::string_view code, std::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(out, code);
  out += ",\"message\":";
  AppendJsonString(out, message);
  out += '}';
  return out;
}

std::string_view HttpDate() {
  // Formatting a date per response would be wasted work: it changes once a
  // second. One cache per loop thread, no locking.
  thread_local time_t cached_second = 0;
  thread_local char cached[40] = {};
  const time_t now = std::time(nullptr);
  if (now != cached_second) {
    cached_second = now;
    tm t{};
    gmtime_r(&now, &t);
    std::strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S GMT", &t);
  }
  return cached;
}

}  // namespace herald::http
