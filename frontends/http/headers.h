// frontends/http/headers.h — an ordered header list with case-insensitive
// lookup (RFC 9110 §5.1: field names are case-insensitive).
//
//   HeaderList h;
//   h.Add("Content-Type", "text/plain");
//   if (auto v = h.Get("content-type")) ...
//
// A plain vector: requests carry a dozen headers, where a linear scan beats
// any map. Order and duplicates are kept as received.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/http_tokens.h"

namespace herald::http {

struct Header {
  std::string name;
  std::string value;
};

using herald::EqualsIgnoreCase;  // base/http_tokens.h

// True if the comma-separated list `value` contains `token` (case-insensitive),
// as in `Connection: keep-alive, Upgrade` (RFC 9110 §5.6.1).
bool HasToken(std::string_view value, std::string_view token);

class HeaderList {
 public:
  HeaderList() = default;
  HeaderList(std::initializer_list<Header> headers) : items_(headers) {}

  void Add(std::string name, std::string value) {
    items_.push_back(Header{std::move(name), std::move(value)});
  }
  // The first value of `name`, if any.
  std::optional<std::string_view> Get(std::string_view name) const;
  size_t Count(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Header> items_;
};

}  // namespace herald::http
