// frontends/ws/extension_parser.h — parses `Sec-WebSocket-Extensions`.
//
// RFC 6455 §9.1:
//   extension-list  = 1#extension
//   extension       = extension-token *( ";" extension-param )
//   extension-param = token [ "=" (token | quoted-string) ]
// A quoted value must itself be a token once unescaped. Several header lines
// are one list joined by commas (RFC 9110 §5.3). Offers keep their order: the
// client lists them by preference.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::ws {

struct ExtensionParam {
  std::string name;
  std::optional<std::string> value;  // unquoted
};

struct ExtensionOffer {
  std::string name;
  std::vector<ExtensionParam> params;
};

// The offers in order, or nullopt if the value breaks the grammar anywhere
// (the handshake then declines every extension rather than failing).
std::optional<std::vector<ExtensionOffer>> ParseExtensionList(std::string_view value);

}  // namespace herald::ws
