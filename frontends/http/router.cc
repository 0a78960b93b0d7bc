#include "frontends/http/router.h"

#include <set>

namespace herald::http {

void Router::Handle(std::string method, std::string path, Handler handler) {
  RouteFor(std::move(path), false).by_method[std::move(method)] = std::move(handler);
}

void Router::HandlePrefix(std::string method, std::string prefix, Handler handler) {
  RouteFor(std::move(prefix), true).by_method[std::move(method)] = std::move(handler);
}

Router::Route& Router::RouteFor(std::string path, bool prefix) {
  for (Route& r : routes_) {
    if (r.path == path && r.prefix == prefix) return r;
  }
  routes_.push_back(Route{std::move(path), prefix, {}});
  return routes_.back();
}

const Router::Route* Router::Lookup(std::string_view path) const {
  const Route* best = nullptr;
  for (const Route& r : routes_) {
    if (!r.prefix) {
      if (r.path == path) return &r;  // exact wins outright
    } else if (path.starts_with(r.path) && (best == nullptr || r.path.size() > best->path.size())) {
      best = &r;
    }
  }
  return best;
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match m;
  const Route* route = Lookup(path);
  if (route == nullptr) return m;  // 404
  m.prefix_length = route->prefix ? route->path.size() : 0;
  auto it = route->by_method.find(method);
  if (it == route->by_method.end() && method == "HEAD") it = route->by_method.find("GET");
  if (it != route->by_method.end()) {
    m.handler = &it->second;
    m.status = 200;
    return m;
  }
  m.status = 405;
  std::set<std::string_view> names;
  for (const auto& entry : route->by_method) names.insert(entry.first);
  if (names.count("GET") != 0) names.insert("HEAD");  // served by GET
  for (std::string_view name : names) {
    if (!m.allow.empty()) m.allow += ", ";
    m.allow += name;
  }
  return m;
}

}  // namespace herald::http
