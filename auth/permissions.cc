#include "auth/permissions.h"

namespace herald::auth {
namespace {

// Splits at the next '.', advancing `rest`.
std::string_view NextToken(std::string_view& rest) {
  const size_t dot = rest.find('.');
  std::string_view token = rest.substr(0, dot);
  rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  return token;
}

}  // namespace

bool GrantCovers(std::string_view grant, std::string_view pattern) {
  if (grant.empty() || pattern.empty()) return false;
  std::string_view g = grant, p = pattern;
  bool g_done = false, p_done = false;
  for (;;) {
    g_done = g.empty();
    p_done = p.empty();
    if (g_done) return p_done;
    const std::string_view gt = NextToken(g);
    if (gt == ">") return !p_done;  // one or more of anything, wildcards included
    if (p_done) return false;
    const std::string_view pt = NextToken(p);
    if (pt == ">") return false;  // many tokens where the grant allows one
    if (gt == "*") continue;      // any single token, '*' included
    if (pt != gt) return false;   // a literal covers only itself
  }
}

bool Grants::MayPublish(std::string_view topic) const {
  if (all) return true;
  for (const std::string& g : publish) {
    if (GrantCovers(g, topic)) return true;
  }
  return false;
}

bool Grants::MaySubscribe(std::string_view pattern) const {
  if (all) return true;
  for (const std::string& g : subscribe) {
    if (GrantCovers(g, pattern)) return true;
  }
  return false;
}

bool Grants::MayManageQueue(std::string_view name) const {
  if (all) return true;
  for (const std::string& g : queues) {
    if (GrantCovers(g, name)) return true;
  }
  return false;
}

bool Grants::MayAdmin(std::string_view pattern) const {
  for (const std::string& g : admin) {
    if (GrantCovers(g, pattern)) return true;
  }
  return false;
}

}  // namespace herald::auth
