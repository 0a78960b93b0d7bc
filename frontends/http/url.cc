#include "frontends/http/url.h"

namespace herald::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Target> SplitTarget(std::string_view target) {
  if (target == "*") return Target{target, {}};
  if (!target.empty() && target.front() != '/') {
    // absolute-form: scheme "://" authority path-abempty [ "?" query ]
    const size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) return std::nullopt;
    target.remove_prefix(scheme_end + 3);
    const size_t path_start = target.find_first_of("/?#");
    target = path_start == std::string_view::npos ? std::string_view() : target.substr(path_start);
    if (target.empty() || target.front() != '/') {
      // "http://host" or "http://host?q": the path is "/" (RFC 9112 §3.2.2).
      const std::string_view rest = target;
      Target t{"/", {}};
      if (!rest.empty() && rest.front() == '?') t.query = rest.substr(1, rest.find('#') - 1);
      return t;
    }
  }
  if (target.empty()) return std::nullopt;
  target = target.substr(0, target.find('#'));
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return Target{target, {}};
  return Target{target.substr(0, q), target.substr(q + 1)};
}

Result<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) {
        return Status(ErrorCode::kInvalidArgument,
                      "truncated percent-escape in \"" + std::string(s) + "\"");
      }
      const int h = HexValue(s[i + 1]);
      const int l = HexValue(s[i + 2]);
      if (h < 0 || l < 0) {
        return Status(ErrorCode::kInvalidArgument,
                      "bad percent-escape in \"" + std::string(s) + "\"");
      }
      out.push_back(static_cast<char>(h * 16 + l));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string_view> QueryParams::Get(std::string_view name) const {
  for (const Param& p : items_) {
    if (p.name == name) return std::string_view(p.value);
  }
  return std::nullopt;
}

Result<QueryParams> ParseQuery(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    Result<std::string> name = PercentDecode(pair.substr(0, eq), /*plus_is_space=*/true);
    if (!name.ok()) return name.status();
    Result<std::string> value = PercentDecode(
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!value.ok()) return value.status();
    params.Add(std::move(*name), std::move(*value));
  }
  return params;
}

}  // namespace herald::http
