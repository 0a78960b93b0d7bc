// herald/clients.h — the node's connected clients, and what a backend may do
// to them (the server API, docs/PROTOCOL.md "Server API").
//
// Every connection a front holds for a client (a WebSocket, an SSE stream, a
// gRPC stream) registers here for its life (Broker::RegisterClient) with a
// ClientControl: the way to end it, and — for fronts whose clients keep a
// session — to subscribe it to a topic or unsubscribe it. Broker::Admin
// finds clients by id or by user, on this node and (in a cluster) on every
// node, and acts on them; revocations refuse tokens before their `exp`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "herald/status.h"

namespace herald {

// One connected client, as the server API shows it.
struct ClientRecord {
  std::string client;  // "<node>.<base36>": names its node
  std::string user;    // the token's subject ("anonymous" without one)
  bool anonymous = false;
  std::string token_id;         // the token's jti (empty: none)
  int64_t issued_at_s = 0;      // the token's iat (0: none)
  int64_t expires_at_s = 0;     // the token's exp (0: never)
  std::string transport;        // "ws", "ws-raw", "sse", "grpc"
  int64_t connected_at_ms = 0;  // Unix ms
};

// How a client is told it is being disconnected. Codes 4000–4499 ask it to
// reconnect, 4500–4999 not to (PROTOCOL.md, "Close codes").
struct DisconnectNotice {
  uint16_t code = 4000;
  std::string reason;
  bool reconnect = true;
};

// Implemented by a front for each registered connection. Every method may be
// called from any thread, with no broker lock held; the front hops to the
// connection's own thread. `done` runs exactly once, on any thread.
class ClientControl {
 public:
  virtual ~ClientControl() = default;
  virtual void Disconnect(const DisconnectNotice& notice) = 0;
  // A server-side subscription, made as the client's own would be (its
  // limits); the client is told of it. Default: this kind of connection
  // takes none (kUnavailable).
  virtual void ServerSubscribe(const std::string& topic, bool presence,
                               std::function<void(Status)> done);
  // Ends the client's subscription to exactly `topic` (kNotFound: none).
  virtual void ServerUnsubscribe(const std::string& topic, std::function<void(Status)> done);
};

// A token refused before its `exp`: by id (`jti`), or every token of a user
// issued before `issued_before_s` (a token without `iat` counts as issued
// before). The record is forgotten at `until_s`: make it the longest
// lifetime a token may have.
struct Revocation {
  enum class Kind { kToken, kUser };
  Kind kind = Kind::kToken;
  std::string key;  // the jti, or the user
  int64_t issued_before_s = 0;
  int64_t until_s = 0;
};

// One operation of the server API. A call naming `client` acts on that
// connection (on the node its id names); naming `user`, on every connection
// of the user on every node.
struct AdminCall {
  enum class Op { kDisconnect, kSubscribe, kUnsubscribe, kConnections, kTopics, kRevoke };
  Op op = Op::kDisconnect;
  std::string client;
  std::string user;
  std::string topic;        // subscribe, unsubscribe; topics: a prefix (empty: all)
  bool presence = false;    // subscribe
  DisconnectNotice notice;  // disconnect
  Revocation revocation;    // revoke
  uint32_t limit = 1000;    // connections, topics: at most this many listed
};

struct TopicCount {
  std::string pattern;       // as subscribed
  uint64_t subscribers = 0;  // subscriptions to it, on the nodes that answered
};

struct AdminResult {
  uint32_t nodes = 0;                  // nodes that answered (this one included)
  std::vector<std::string> unreached;  // nodes that did not answer in time
  uint64_t matched = 0;                // connections the call named
  uint64_t applied = 0;                // of those, the ones it was applied to
  uint64_t refused = 0;                // and the ones that refused it
  std::vector<std::string> errors;     // the first refusals' messages (at most 8)
  std::vector<ClientRecord> clients;   // connections
  std::vector<TopicCount> topics;      // topics, by pattern
  bool truncated = false;              // more than `limit` to list
};

using AdminCallback = std::function<void(AdminResult)>;

// Errors an answer lists at most.
inline constexpr size_t kMaxAdminErrors = 8;
// Adds `from` (another node's answer) into `into`: counts add up, lists are
// joined (clients in order of arrival, topics by pattern with their counts
// added), each within `limit` (past it: truncated).
void MergeAdminResult(AdminResult& into, AdminResult from, uint32_t limit);

}  // namespace herald
