// The start-up policy for peer authentication and the handshake's proofs.
#include "cluster/peer_auth.h"

#include <gtest/gtest.h>

namespace herald::cluster {
namespace {

ClusterOptions Listening(const std::string& listen) {
  ClusterOptions o;
  o.listen = listen;
  return o;
}

TEST(PeerAuth, LoopbackAddressesAreRecognised) {
  for (const char* a :
       {"127.0.0.1:0", "127.3.2.1:7400", "localhost:1", "[::1]:0", "[::ffff:127.0.0.1]:5"}) {
    EXPECT_TRUE(IsLoopbackListen(a)) << a;
  }
  for (const char* a : {"0.0.0.0:7400", "[::]:0", "10.0.0.1:1", "node1.internal:7400",
                        "128.0.0.1:1", "localhost.evil.example:1", "unix:/tmp/x", "nocolon"}) {
    EXPECT_FALSE(IsLoopbackListen(a)) << a;
  }
}

TEST(PeerAuth, AnOpenPeerPortIsRefusedWithTheReason) {
  // Loopback, no [auth]: only this machine can dial in.
  EXPECT_TRUE(CheckPeerAuthPolicy(Listening("127.0.0.1:0"), false).ok());
  Status auth = CheckPeerAuthPolicy(Listening("127.0.0.1:0"), true);
  EXPECT_EQ(auth.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(auth.message().find("[auth] is configured"), std::string::npos) << auth.message();
  EXPECT_NE(auth.message().find("cluster.secret"), std::string::npos) << auth.message();
  Status open = CheckPeerAuthPolicy(Listening("0.0.0.0:7400"), false);
  EXPECT_NE(open.message().find("'0.0.0.0:7400' is not on loopback"), std::string::npos)
      << open.message();
}

TEST(PeerAuth, ASecretOrMutualTlsSatisfiesThePolicy) {
  ClusterOptions o = Listening("0.0.0.0:7400");
  o.secret = std::string(16, 's');
  EXPECT_TRUE(CheckPeerAuthPolicy(o, true).ok());
  o.secret.clear();
  o.tls_cert_file = "c.pem";
  o.tls_key_file = "k.pem";
  o.tls_ca_file = "ca.pem";
  EXPECT_TRUE(CheckPeerAuthPolicy(o, true).ok());
}

TEST(PeerAuth, AShortSecretIsRefusedEvenOnLoopback) {
  ClusterOptions o = Listening("127.0.0.1:0");
  o.secret = "short";
  Status s = CheckPeerAuthPolicy(o, false);
  EXPECT_NE(s.message().find("5 bytes: at least 16"), std::string::npos) << s.message();
  o.min_secret_length = 32;
  o.secret = std::string(20, 'x');
  EXPECT_NE(CheckPeerAuthPolicy(o, false).message().find("at least 32"), std::string::npos);
  o.min_secret_length = 4;  // never below the floor
  o.secret = "12345678";
  EXPECT_FALSE(CheckPeerAuthPolicy(o, false).ok());
}

TEST(PeerAuth, AProofIsBoundToItsDirectionAndTranscript) {
  const std::string dn(kNonceBytes, 'd'), an(kNonceBytes, 'a');
  const Transcript t{"c", "n1", "127.0.0.1:1", "n2", dn, an};
  const std::string secret = "0123456789abcdef";
  const std::string dialer = PeerProof(secret, Prover::kDialer, t);
  EXPECT_EQ(dialer.size(), 32u);
  EXPECT_EQ(dialer.find(secret), std::string::npos);
  EXPECT_TRUE(ProofMatches(secret, Prover::kDialer, t, dialer));
  EXPECT_FALSE(ProofMatches(secret, Prover::kAcceptor, t, dialer));  // no reflection
  EXPECT_FALSE(ProofMatches("0123456789abcdeX", Prover::kDialer, t, dialer));
  EXPECT_FALSE(ProofMatches(secret, Prover::kDialer, t, ""));
  EXPECT_FALSE(ProofMatches(secret, Prover::kDialer, t, dialer.substr(0, 31)));
  for (int field = 0; field < 6; ++field) {
    Transcript u = t;
    const std::string other(kNonceBytes, 'x');
    std::string_view* f[] = {&u.cluster_name, &u.dialer_id,    &u.dialer_address,
                             &u.acceptor_id,  &u.dialer_nonce, &u.acceptor_nonce};
    *f[field] = other;
    EXPECT_FALSE(ProofMatches(secret, Prover::kDialer, u, dialer)) << "field " << field;
  }
  // Fields cannot slide into each other.
  const Transcript shifted{"c", "n1", "127.0.0.1:1n", "2", dn, an};
  EXPECT_NE(PeerProof(secret, Prover::kDialer, shifted), dialer);
  // No secret (TLS alone) still gives a well-formed proof.
  EXPECT_EQ(PeerProof("", Prover::kDialer, t).size(), 32u);
  EXPECT_NE(NewNonce(), NewNonce());
  EXPECT_EQ(NewNonce().size(), kNonceBytes);
}

}  // namespace
}  // namespace herald::cluster
