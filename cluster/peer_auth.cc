#include "cluster/peer_auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>

namespace herald::cluster {
namespace {

void AppendField(std::string& out, std::string_view field) {
  // Length-prefixed, so no two transcripts concatenate to the same bytes.
  const uint32_t n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  out.append(field);
}

bool HasTls(const ClusterOptions& o) {
  return !o.tls_cert_file.empty() && !o.tls_key_file.empty() && !o.tls_ca_file.empty();
}

}  // namespace

bool IsLoopbackListen(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string host(listen.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

Status CheckPeerAuthPolicy(const ClusterOptions& o, bool clients_authenticated) {
  const size_t min = std::max(o.min_secret_length, kMinSecretFloor);
  if (!o.secret.empty() && o.secret.size() < min) {
    return Status(ErrorCode::kInvalidArgument,
                  "cluster.secret is " + std::to_string(o.secret.size()) + " bytes: at least " +
                      std::to_string(min) +
                      " are required (cluster.min_secret_length), as a short secret can be "
                      "guessed offline from one captured handshake; generate one with "
                      "`openssl rand -hex 32`");
  }
  if (HasTls(o) || !o.secret.empty()) return Status::Ok();
  std::string why;
  if (clients_authenticated) {
    why = "this node authenticates its clients ([auth] is configured)";
  } else if (!IsLoopbackListen(o.listen)) {
    why = "its peer listener '" + o.listen + "' is not on loopback";
  } else {
    return Status::Ok();  // only processes on this machine can dial it
  }
  return Status(ErrorCode::kInvalidArgument,
                "cluster.listen: refusing to start without peer authentication: " + why +
                    ", and a peer is trusted with every topic, so anyone who reached the "
                    "peer port could join and read or publish anything. Set a shared secret "
                    "(cluster.secret, cluster.secret_file or HERALD_CLUSTER_SECRET; at least " +
                    std::to_string(std::max(o.min_secret_length, kMinSecretFloor)) +
                    " bytes) or mutual TLS (cluster.tls_cert_file, tls_key_file, tls_ca_file); "
                    "see docs/CLUSTER.md");
}

std::string NewNonce() {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(kNonceBytes)) !=
      1) {
    return {};
  }
  return nonce;
}

std::string PeerProof(std::string_view secret, Prover prover, const Transcript& t) {
  std::string msg = "herald.cluster.v2 proof";
  AppendField(msg, prover == Prover::kDialer ? "dialer" : "acceptor");
  AppendField(msg, t.cluster_name);
  AppendField(msg, t.dialer_id);
  AppendField(msg, t.dialer_address);
  AppendField(msg, t.acceptor_id);
  AppendField(msg, t.dialer_nonce);
  AppendField(msg, t.acceptor_nonce);
  // A non-null key even when empty: OpenSSL 3 refuses a null one.
  static const unsigned char kNoKey = 0;
  const void* key = secret.empty() ? &kNoKey : static_cast<const void*>(secret.data());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key, static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len)) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac), len);
}

bool ProofMatches(std::string_view secret, Prover prover, const Transcript& t,
                  std::string_view mac) {
  const std::string want = PeerProof(secret, prover, t);
  if (want.empty() || mac.size() != want.size()) return false;
  return CRYPTO_memcmp(want.data(), mac.data(), want.size()) == 0;
}

}  // namespace herald::cluster
