#include "frontends/ws/deflate_params.h"

#include <algorithm>

#include "frontends/ws/extension_parser.h"

namespace herald::ws {
namespace {

constexpr std::string_view kExtensionName = "permessage-deflate";  // RFC 7692 §7

// RFC 7692 §7.1.2.1: a window value is 1*DIGIT in 8..15, no leading zero.
std::optional<int> ParseWindowBits(const std::string& v) {
  if (v.empty() || v.size() > 2 || v[0] < '1' || v[0] > '9') return std::nullopt;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < 8 || n > 15) return std::nullopt;
  return n;
}

// One offer against our policy; nullopt declines it.
std::optional<DeflateParams> AcceptOffer(const ExtensionOffer& offer, const DeflateOptions& opts) {
  bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
  std::optional<int> server_bits;  // offered server_max_window_bits
  bool client_bits_offered = false;
  std::optional<int> client_bits;  // offered client_max_window_bits value, if any
  for (const ExtensionParam& p : offer.params) {
    if (p.name == "server_no_context_takeover") {
      // §7.1.1.1: no value; §7.1: a parameter may appear only once.
      if (seen_snct || p.value) return std::nullopt;
      seen_snct = true;
    } else if (p.name == "client_no_context_takeover") {
      if (seen_cnct || p.value) return std::nullopt;  // §7.1.1.2
      seen_cnct = true;
    } else if (p.name == "server_max_window_bits") {
      if (seen_smwb || !p.value) return std::nullopt;  // §7.1.2.1: value required
      seen_smwb = true;
      server_bits = ParseWindowBits(*p.value);
      if (!server_bits) return std::nullopt;
    } else if (p.name == "client_max_window_bits") {
      if (seen_cmwb) return std::nullopt;  // §7.1.2.2: value optional
      seen_cmwb = true;
      client_bits_offered = true;
      if (p.value) {
        client_bits = ParseWindowBits(*p.value);
        if (!client_bits) return std::nullopt;
      }
    } else {
      return std::nullopt;  // §7.1: unknown parameter declines the offer
    }
  }

  DeflateParams params;
  const int our_server_bits = std::clamp(opts.server_max_window_bits, 9, 15);
  if (server_bits) {
    // §7.1.2.1: we must not use a larger window than the client allows.
    if (*server_bits < 9) return std::nullopt;  // zlib has no raw 8-bit window
    params.server_max_window_bits = std::min(*server_bits, our_server_bits);
    params.declare_server_max_window_bits = true;
  } else {
    params.server_max_window_bits = our_server_bits;
    params.declare_server_max_window_bits = our_server_bits < 15;
  }
  if (client_bits_offered) {
    const int ours = std::clamp(opts.client_max_window_bits, 8, 15);
    params.client_max_window_bits = std::min(client_bits.value_or(15), ours);
    params.declare_client_max_window_bits = true;
  } else {
    params.client_max_window_bits = 15;  // §7.1.2.2: the client may use any window
  }
  // §7.1.1.2: the server may ask for client_no_context_takeover unoffered.
  params.client_no_context_takeover = seen_cnct || opts.request_client_no_context_takeover;
  return params;
}

}  // namespace

std::string DeflateParams::ResponseValue() const {
  std::string v(kExtensionName);
  v += "; server_no_context_takeover";  // always: shared compressed frames
  if (client_no_context_takeover) v += "; client_no_context_takeover";
  if (declare_server_max_window_bits) {
    v += "; server_max_window_bits=" + std::to_string(server_max_window_bits);
  }
  if (declare_client_max_window_bits) {
    v += "; client_max_window_bits=" + std::to_string(client_max_window_bits);
  }
  return v;
}

std::optional<DeflateParams> NegotiateDeflate(std::string_view extensions,
                                              const DeflateOptions& options) {
  if (!options.enabled) return std::nullopt;
  auto offers = ParseExtensionList(extensions);
  if (!offers) return std::nullopt;
  for (const ExtensionOffer& offer : *offers) {
    if (offer.name != kExtensionName) continue;
    if (auto params = AcceptOffer(offer, options)) return params;
  }
  return std::nullopt;
}

}  // namespace herald::ws
