// frontends/http/router.h — method + path → handler.
//
//   auto router = std::make_shared<Router>();
//   router->Handle("GET", "/hello", Hello);
//   router->HandlePrefix("POST", "/publish/", Publish);  // req.path_rest = topic
//
// Exact paths win over prefixes, longer prefixes over shorter ones. An unknown
// path is 404; a known path with another method is 405 with an Allow header
// (RFC 9110 §15.5.6). HEAD is served by the GET handler (the body is dropped,
// RFC 9110 §9.3.2). Paths match raw, before percent-decoding.
//
// Build the router before serving; afterwards it is read-only and shared by
// every worker thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/http/request.h"
#include "frontends/http/response.h"

namespace herald::http {

using Handler = std::function<void(Request&, Response)>;

class Router {
 public:
  void Handle(std::string method, std::string path, Handler handler);
  void HandlePrefix(std::string method, std::string prefix, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // set when status == 200
    int status = 404;                  // 200, 404 or 405
    std::string allow;                 // for 405: "GET, HEAD, POST"
    size_t prefix_length = 0;          // for prefix routes
  };
  Match Find(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string path;
    bool prefix;
    std::map<std::string, Handler, std::less<>> by_method;
  };
  Route& RouteFor(std::string path, bool prefix);
  const Route* Lookup(std::string_view path) const;

  std::vector<Route> routes_;
};

}  // namespace herald::http
