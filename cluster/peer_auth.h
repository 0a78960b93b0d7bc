// cluster/peer_auth.h — who may be a peer.
//
// A peer is trusted with everything: it sees every message its interest
// asks for, publishes into any topic, answers history and routes replies,
// none of it checked against [auth]. So joining must be as hard as being an
// admin, and a node refuses to start with a peer port anyone could join:
//
//   - CheckPeerAuthPolicy: a node whose clients authenticate, or whose peer
//     listener is reachable from other hosts (not loopback), needs peer
//     authentication — mutual TLS or a shared secret of at least
//     min_secret_length bytes — or it does not start, and says why;
//   - PeerProof: the secret is never sent. Each side of the handshake sends
//     a fresh 32-byte nonce and proves it knows the secret with
//     HMAC-SHA256(secret, transcript), the transcript binding the direction,
//     the cluster name, both node ids, the dialler's address and both
//     nonces. A proof is good for one link and one direction only, so
//     neither a stranger who dials nor a fake listener who is dialled gets
//     anything it could replay. (Without TLS the link itself is plaintext:
//     the secret keeps strangers out, it does not stop someone on the path
//     reading or altering the stream — that takes mutual TLS.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "herald/cluster_options.h"
#include "herald/status.h"

namespace herald::cluster {

// Version 2: the challenge-response handshake (version 1 sent the secret).
inline constexpr uint32_t kProtocolVersion = 2;
inline constexpr size_t kNonceBytes = 32;
// No configuration goes below this: a shorter secret is guessable offline
// by anyone who captures one proof.
inline constexpr size_t kMinSecretFloor = 16;

// kInvalidArgument naming the key and the reason when `options` would let
// anyone who reaches the peer port join; `clients_authenticated`: the node
// checks its clients' tokens ([auth] is configured).
Status CheckPeerAuthPolicy(const ClusterOptions& options, bool clients_authenticated);

// "host:port" whose host can only be reached from this machine: localhost,
// 127.0.0.0/8, [::1] (or ::ffff:127.x). Names other than localhost, and
// wildcard addresses, are not.
bool IsLoopbackListen(std::string_view listen);

// kNonceBytes from OpenSSL's CSPRNG; empty if it failed.
std::string NewNonce();

enum class Prover { kDialer, kAcceptor };

// What both sides of one link's handshake agree on.
struct Transcript {
  std::string_view cluster_name;
  std::string_view dialer_id;
  std::string_view dialer_address;
  std::string_view acceptor_id;
  std::string_view dialer_nonce;
  std::string_view acceptor_nonce;
};

// HMAC-SHA256(secret, "herald.cluster.v2 proof" ‖ prover ‖ each field with
// its length): 32 bytes. An empty secret still gives a proof (of nothing:
// links authenticated by TLS alone).
std::string PeerProof(std::string_view secret, Prover prover, const Transcript& t);
// Compares in constant time.
bool ProofMatches(std::string_view secret, Prover prover, const Transcript& t,
                  std::string_view mac);

}  // namespace herald::cluster
