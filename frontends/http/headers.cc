#include "frontends/http/headers.h"

#include "base/http_tokens.h"

namespace herald::http {

bool HasToken(std::string_view value, std::string_view token) { return ListHasToken(value, token); }

std::optional<std::string_view> HeaderList::Get(std::string_view name) const {
  for (const Header& h : items_) {
    if (EqualsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

size_t HeaderList::Count(std::string_view name) const {
  size_t n = 0;
  for (const Header& h : items_) n += EqualsIgnoreCase(h.name, name) ? 1 : 0;
  return n;
}

}  // namespace herald::http
