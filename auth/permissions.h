// Topic grants and the check every front makes before a publish or a
// subscribe. A grant is a pattern; it allows a publish to a topic it matches
// and a subscription to a pattern it covers (every topic the pattern could
// match, the grant matches too). Token by token, case-sensitive: a grant for
// `orders.42` never allows `orders.43`, `orders.>` or `ORDERS.42`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::auth {

// Whether every topic `pattern` matches is also matched by `grant` (both
// valid patterns; a topic is a pattern without wildcards).
bool GrantCovers(std::string_view grant, std::string_view pattern);

struct Grants {
  std::vector<std::string> publish;
  std::vector<std::string> subscribe;
  // Work queues this identity may create and delete, by name (queue names
  // are dot-separated tokens, so a grant is a pattern over them: `jobs.>`).
  std::vector<std::string> queues;
  // The server API (docs/SECURITY.md, "Server API"): a topic operation on a
  // topic its patterns cover; a client or user operation (disconnect,
  // revoke, look up connections) needs `>`. Never implied by `all`: an open
  // node lets anyone publish, not end other clients' connections.
  std::vector<std::string> admin;
  bool all = false;  // anonymous access with no key configured: everything

  bool MayAdmin(std::string_view pattern) const;
  bool MayAdminClients() const { return MayAdmin(">"); }

  bool MayPublish(std::string_view topic) const;
  bool MaySubscribe(std::string_view pattern) const;
  bool MayManageQueue(std::string_view name) const;
};

}  // namespace herald::auth
