// cluster/member_names.h — what a node id and a peer address may look like.
//
// Both arrive from other nodes (hellos, gossip) and end up in reply inbox
// names, logs and dials, so they are checked before the node remembers them.
#pragma once

#include <string_view>

namespace herald::cluster {

// Non-empty, at most 255 bytes, no '.' (it names reply inboxes:
// `_INBOX.<node id>.<n>`), no control characters.
bool IsValidNodeId(std::string_view id);

// "host:port": a DNS name or IPv4 address ([A-Za-z0-9.-], at most 253
// bytes) or a bracketed IPv6 address, and a port 1–65535. Nothing with a
// scheme ("unix:", "dns:///"), so gossip can only ever name TCP peers.
bool IsValidPeerAddress(std::string_view address);

}  // namespace herald::cluster
