#include "frontends/ws/extension_parser.h"

#include "base/http_tokens.h"

namespace herald::ws {
namespace {

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  void SkipOws() {
    while (!done() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }
  bool Consume(char c) {
    if (done() || peek() != c) return false;
    ++pos_;
    return true;
  }
  std::optional<std::string> Token() {
    size_t start = pos_;
    while (!done() && IsTokenChar(peek())) ++pos_;
    if (pos_ == start) return std::nullopt;
    return std::string(s_.substr(start, pos_ - start));
  }
  // RFC 9110 §5.6.4 quoted-string, returned unescaped.
  std::optional<std::string> QuotedString() {
    if (!Consume('"')) return std::nullopt;
    std::string out;
    while (!done()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (done()) return std::nullopt;
        c = s_[pos_++];
      }
      out += c;
    }
    return std::nullopt;  // unterminated
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::vector<ExtensionOffer>> ParseExtensionList(std::string_view value) {
  std::vector<ExtensionOffer> offers;
  Cursor cur(value);
  while (true) {
    cur.SkipOws();
    if (cur.done()) break;
    if (cur.Consume(',')) continue;  // empty list element
    ExtensionOffer offer;
    auto name = cur.Token();
    if (!name) return std::nullopt;
    offer.name = std::move(*name);
    cur.SkipOws();
    while (cur.Consume(';')) {
      cur.SkipOws();
      ExtensionParam param;
      auto pname = cur.Token();
      if (!pname) return std::nullopt;
      param.name = std::move(*pname);
      cur.SkipOws();
      if (cur.Consume('=')) {
        cur.SkipOws();
        auto v = (!cur.done() && cur.peek() == '"') ? cur.QuotedString() : cur.Token();
        // RFC 6455 §9.1: a quoted value must be a token after unescaping.
        if (!v || !IsToken(*v)) return std::nullopt;
        param.value = std::move(*v);
        cur.SkipOws();
      }
      offer.params.push_back(std::move(param));
    }
    offers.push_back(std::move(offer));
    if (cur.done()) break;
    if (!cur.Consume(',')) return std::nullopt;
  }
  return offers;
}

}  // namespace herald::ws
