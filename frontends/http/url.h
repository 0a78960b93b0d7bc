// frontends/http/url.h — request-target splitting and percent-decoding.
//
//   std::optional<Target> t = SplitTarget("/publish/chat%2Eroom?x=1");
//   Result<std::string> topic = PercentDecode(t->path.substr(9));
//   Result<QueryParams> q = ParseQuery(t->query);  // decode errors → 400
//
// Routing matches the raw (still encoded) path, so an encoded "/" (%2F) can
// never change which route is taken; handlers decode the parts they use.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/status.h"

namespace herald::http {

struct Target {
  std::string_view path;   // "/a/b"; "*" for OPTIONS *
  std::string_view query;  // without the '?', may be empty
};

// Accepts origin-form ("/p?q"), absolute-form ("http://h/p?q", which RFC 9112
// §3.2.2 says servers MUST accept) and asterisk-form ("*"). Any fragment is
// dropped. nullopt for anything else.
std::optional<Target> SplitTarget(std::string_view target);

// Decodes %XX escapes (RFC 3986 §2.1); with `plus_is_space` also '+' (HTML
// form encoding, used in query strings). A '%' not followed by two hex digits
// is an error, reported for a 400.
Result<std::string> PercentDecode(std::string_view s, bool plus_is_space = false);

class QueryParams {
 public:
  struct Param {
    std::string name;
    std::string value;
  };
  void Add(std::string name, std::string value) {
    items_.push_back({std::move(name), std::move(value)});
  }
  // The first value of `name` (case-sensitive, as query names are).
  std::optional<std::string_view> Get(std::string_view name) const;
  size_t size() const { return items_.size(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Param> items_;
};

// "a=1&b=x%20y&flag" → {a:1, b:"x y", flag:""}.
Result<QueryParams> ParseQuery(std::string_view query);

}  // namespace herald::http
