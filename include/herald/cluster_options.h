// herald/cluster_options.h — how a node joins a cluster of broker nodes.
//
// Nodes form a full mesh of gRPC peer links (herald.cluster.v1.Peer). A node
// needs its own peer address and one seed; it learns the other members from
// its peers. Each topic has one owner node (rendezvous hashing over the live
// members) that numbers its messages and keeps its history, so a client can
// resume on any node. docs/CLUSTER.md describes the model and its limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace herald {

struct ClusterOptions {
  // "host:port" for peer links; empty: this node is not part of a cluster.
  // The node's id is BrokerOptions::node_id (unique in the cluster).
  std::string listen;
  // The address peers dial to reach this node (default: `listen` with the
  // port actually bound). Must be reachable from every other node.
  std::string advertise;
  // Peer addresses to join through; any one live member is enough.
  std::vector<std::string> seeds;
  // Links to nodes of another cluster name are refused.
  std::string name = "herald";
  // When set, peers must prove they know the same secret (HMAC challenge-
  // response in the handshake; it is never sent). A node whose clients
  // authenticate, or whose `listen` is not loopback, must have this or
  // mutual TLS (below) to start: a peer is trusted with every topic.
  std::string secret;
  // Shorter secrets are refused at start (never below 16 bytes).
  size_t min_secret_length = 16;

  std::chrono::milliseconds heartbeat_interval{500};
  // A peer silent this long is declared dead (its topics move to others).
  std::chrono::milliseconds peer_timeout{2500};
  // Reconnect back-off: starts at min, doubles up to max, with full jitter.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  // How long a publish forwarded to a topic's owner, or each page of a
  // history fetch from it, may wait for the owner's answer. Deadlines are
  // checked on the cluster's tick (every min(heartbeat_interval / 2, 100 ms)),
  // so a call fails up to one tick later. An unanswered forward fails with
  // kTimeout, not kUnavailable: the owner may or may not have sequenced it,
  // so blind retries may duplicate. An unanswered history fetch fails with
  // kUnavailable. Losing the owner's link fails them the same way at once;
  // a forward that never left this node (no link) fails with kUnavailable.
  std::chrono::milliseconds forward_timeout{5000};
  // How long a server-API call (herald/clients.h) waits for the other
  // nodes; one that has not answered by then is reported as unreached.
  std::chrono::milliseconds admin_timeout{1000};
  // Bytes queued for one peer beyond which the link is reset (the peer is
  // not keeping up; its subscribers get a gap rather than unbounded memory).
  size_t max_link_queue_bytes = size_t{256} << 20;
  // gRPC message limit on peer links (a batch of frames is one message).
  size_t max_batch_bytes = size_t{64} << 20;
  // Members (other nodes) this node keeps track of, live or not. Gossip that
  // names more is ignored, so a confused or hostile peer cannot make the
  // node remember, and dial, an unbounded number of addresses.
  size_t max_members = 64;
  // Mutual TLS on peer links (PEM files; all three or none): this node's
  // certificate (chain) and private key, and the CA that signs every
  // member's certificate. A node then accepts only peers with a
  // certificate from that CA, and a dialler checks that the certificate of
  // the node it dials names the host it dials. Without them links are
  // plaintext gRPC: a secret then keeps strangers from joining, but does not
  // hide or protect the traffic. The secret is checked either way.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;
};

}  // namespace herald
