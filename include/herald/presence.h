// herald/presence.h — who is in a topic right now.
//
// A subscription to one exact topic may ask for presence
// (SubscribeOptions::presence): it makes its client a member of the topic
// and receives the topic's join and leave events (Delivery::Kind::kPresence)
// — first a snapshot of the members, then what changed. Changes are
// coalesced: the first after a quiet PresenceLimits::event_interval goes out
// at once, later ones together at most once per interval, and a join and a
// leave of one client inside one interval cancel. Past max_event_members
// changes in one interval an event says only `resync` (re-query the
// members). Broker::Presence answers the members and the counts at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace herald {

struct PresenceMember {
  std::string client;  // the connection's id: "<node>.<base36>", unique for the node's life
  std::string user;    // the token's subject; for an anonymous client its client id
  // A JSON object's text, or empty. Fronts write it into JSON as it is:
  // an embedder passes only checked text (auth::ClientInfo does it for
  // what clients send).
  std::string info;
};

struct PresenceEvent {
  std::string topic;
  // snapshot: the members when the subscription was made (up to
  // PresenceLimits::snapshot_members); otherwise the clients that joined.
  std::vector<PresenceMember> joins;
  std::vector<PresenceMember> leaves;  // clients that left (client and user only)
  uint32_t clients = 0;                // members after this event
  uint32_t users = 0;                  // distinct users among them
  bool snapshot = false;
  // Snapshot: more members than it lists. Resync: too many changes to list
  // them; the member list must be asked again (Broker::Presence).
  bool truncated = false;
  bool resync = false;
};

struct PresenceQuery {
  uint32_t limit = 100;  // members per answer, at most PresenceLimits::max_query_members
  std::string after;     // a client id: members after it (paging, by client id)
};

struct PresenceSnapshot {
  uint32_t clients = 0;
  uint32_t users = 0;
  std::vector<PresenceMember> members;  // by client id
  std::string next;                     // non-empty: ask again with after = next
};

// A rule for the topics a pattern matches (the first that matches decides).
struct PresenceRule {
  std::string pattern;
  bool enabled = true;
  uint32_t max_members = 0;  // 0: PresenceLimits::max_members_per_topic
};

struct PresenceLimits {
  bool enabled = true;
  uint32_t max_members_per_topic = 10'000;
  // Every member of every topic, with its info, together.
  uint64_t max_presence_bytes = 64u << 20;
  uint32_t max_info_bytes = 256;
  std::chrono::milliseconds event_interval{100};
  uint32_t max_event_members = 64;
  uint32_t snapshot_members = 1'000;
  uint32_t max_query_members = 1'000;
  // Whether a client may set its own info at connect (`/ws?info=`, gRPC
  // metadata `herald-info`). A name a client chose is not a verified one:
  // by default only a node without authentication lets it (with tokens,
  // their `herald.info` claim is the only source).
  enum class ClientInfo { kUnlessAuthenticated, kAllow, kDeny };
  ClientInfo client_info = ClientInfo::kUnlessAuthenticated;
  std::vector<PresenceRule> rules;
};

}  // namespace herald
