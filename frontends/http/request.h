// frontends/http/request.h — what a route handler receives.
//
//   router->Handle("GET", "/hello", [](Request& req, Response res) {
//     auto name = req.query.Get("name");
//     res.Send(200, "hello " + std::string(name.value_or("world")) + "\n");
//   });
//
// The Request is valid only during the handler call; copy (or move out) what
// a later response needs. Loop thread only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "frontends/http/headers.h"
#include "frontends/http/url.h"

namespace herald::io {
class Loop;
}

namespace herald::http {

struct Request {
  std::string method;  // "GET", "POST"… (HEAD is routed to GET handlers)
  std::string target;  // the raw request-target: "/publish/a%2Eb?x=1"
  std::string path;    // raw (still percent-encoded) path: "/publish/a%2Eb"
  // For a prefix route, the raw path after the prefix ("a%2Eb" for prefix
  // "/publish/"); empty for exact routes. Decode with PercentDecode().
  std::string path_rest;
  std::string raw_query;  // "x=1"
  QueryParams query;      // decoded (a bad escape was answered 400 already)
  HeaderList headers;     // case-insensitive Get()
  std::string body;       // whole body, at most HttpOptions::max_body_bytes
  int version_minor = 1;  // HTTP/1.<minor>
  bool keep_alive = true;
  bool upgrade = false;  // the client asked to switch protocols; see Response::TakeOver
  // The worker this request's connection lives on: post the response here
  // when it is produced on another thread.
  io::Loop* loop = nullptr;

  std::optional<std::string_view> header(std::string_view name) const { return headers.Get(name); }
};

}  // namespace herald::http
