// The JWT verifier against tokens built here: good ones of each algorithm
// and a table of bad ones (forged, confused, malformed, expired, aimed at
// another issuer or audience). 0 false accepts, 0 false denies.
#include "auth/jwt_verifier.h"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <string>

#include "base/base64.h"
#include "tests/support/test_tokens.h"

namespace herald::auth {
namespace {

constexpr int64_t kNow = 1'800'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-hs256-test-secret";

using testing::B64Url;
using testing::HsToken;

struct KeyPair {
  std::string public_pem, private_pem;
};

KeyPair Generate(const char* type, const char* param) {
  EVP_PKEY* k = std::string(type) == "RSA"
                    ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", param);
  auto pem = [&](bool priv) {
    BIO* b = BIO_new(BIO_s_mem());
    if (priv) {
      PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_bio_PUBKEY(b, k);
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(b);
    return out;
  };
  KeyPair kp{pem(false), pem(true)};
  EVP_PKEY_free(k);
  return kp;
}

// A token signed by libjwt itself (RS256/ES256/HS256) with `private_key`.
std::string LibjwtToken(jwt_alg_t alg, const std::string& private_key, const std::string& claims) {
  jwt_t* j = nullptr;
  jwt_new(&j);
  jwt_add_grants_json(j, claims.c_str());
  jwt_set_alg(j, alg, reinterpret_cast<const unsigned char*>(private_key.data()),
              static_cast<int>(private_key.size()));
  char* s = jwt_encode_str(j);
  std::string out = s ? s : "";
  std::free(s);
  jwt_free(j);
  return out;
}

std::string Claims(const std::string& extra = "") {
  return R"({"sub":"alice","iss":"auth.test","aud":"herald","exp":)" + std::to_string(kNow + 600) +
         R"(,"herald":{"publish":["chat.room1"],"subscribe":["chat.>"]})" + extra + "}";
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new KeyPair(Generate("RSA", nullptr));
    other_rsa_ = new KeyPair(Generate("RSA", nullptr));
    ec_ = new KeyPair(Generate("EC", "P-256"));
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete other_rsa_;
    delete ec_;
  }
  std::shared_ptr<const JwtVerifier> Make() {
    AuthOptions o;
    o.issuer = "auth.test";
    o.audience = "herald";
    o.keys.push_back({"HS256", "hs", kSecret, ""});
    o.keys.push_back({"RS256", "rs", "", rsa_->public_pem});
    o.keys.push_back({"ES256", "es", "", ec_->public_pem});
    auto v = JwtVerifier::Create(o);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return *v;
  }
  static inline KeyPair* rsa_ = nullptr;
  static inline KeyPair* other_rsa_ = nullptr;
  static inline KeyPair* ec_ = nullptr;
};

TEST_F(JwtVerifierTest, AcceptsValidTokensOfEachAlgorithmAndReadsTheirGrants) {
  auto v = Make();
  const std::string hs = HsToken(R"({"alg":"HS256","typ":"JWT"})", Claims(), kSecret);
  const std::string rs = LibjwtToken(JWT_ALG_RS256, rsa_->private_pem, Claims());
  const std::string es = LibjwtToken(JWT_ALG_ES256, ec_->private_pem, Claims());
  const std::string aud_list =
      HsToken(R"({"alg":"HS256"})",
              R"({"sub":"bob","iss":"auth.test","aud":["x","herald"],"exp":)" +
                  std::to_string(kNow + 5) + R"(,"nbf":)" + std::to_string(kNow + 3) + "}",
              kSecret);  // nbf within the 5 s leeway
  int false_denies = 0;
  for (const std::string& t : {hs, rs, es, aud_list}) {
    Result<Identity> id = v->Verify(t, kNow);
    EXPECT_TRUE(id.ok()) << id.status().ToString() << " for " << t;
    false_denies += !id.ok();
  }
  EXPECT_EQ(false_denies, 0);
  Result<Identity> id = v->Verify(rs, kNow);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->subject, "alice");
  EXPECT_EQ(id->expires_at_s, kNow + 600);
  EXPECT_TRUE(id->grants.MayPublish("chat.room1"));
  EXPECT_FALSE(id->grants.MayPublish("chat.room2"));
  EXPECT_TRUE(id->grants.MaySubscribe("chat.room2"));
}

TEST_F(JwtVerifierTest, RefusesEveryBadTokenInTheTable) {
  auto v = Make();
  const std::string good_hs = HsToken(R"({"alg":"HS256"})", Claims(), kSecret);
  const std::string es_claims = Claims();
  std::string tampered = good_hs;
  tampered[good_hs.find('.') + 5] ^= 1;
  const std::string b64_header = B64Url(R"({"alg":"none"})");
  const std::string b64_claims = B64Url(Claims());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"one segment", "abc"},
      {"two segments", b64_header + "." + b64_claims},
      {"four segments", good_hs + ".x"},
      {"empty signature", b64_header + "." + b64_claims + "."},
      {"padding and +/", good_hs + "=="},
      {"space inside", good_hs.substr(0, 10) + " " + good_hs.substr(10)},
      {"NUL inside", good_hs.substr(0, 10) + std::string(1, '\0') + good_hs.substr(10)},
      {"over max_token_bytes",
       HsToken(R"({"alg":"HS256"})", Claims(R"(,"pad":")" + std::string(9000, 'x') + "\""),
               kSecret)},
      {"alg none, unsigned", b64_header + "." + b64_claims + ".x"},
      {"alg none, HMAC-signed", HsToken(R"({"alg":"none"})", Claims(), kSecret)},
      {"alg None", HsToken(R"({"alg":"None"})", Claims(), kSecret)},
      {"alg hs256 (case)", HsToken(R"({"alg":"hs256"})", Claims(), kSecret)},
      {"alg HS512", HsToken(R"({"alg":"HS512"})", Claims(), kSecret)},
      {"two alg keys", HsToken(R"({"alg":"none","alg":"HS256"})", Claims(), kSecret)},
      {"alg not a string", HsToken(R"({"alg":1})", Claims(), kSecret)},
      {"crit header", HsToken(R"({"alg":"HS256","crit":["x"]})", Claims(), kSecret)},
      {"jku header", HsToken(R"({"alg":"HS256","jku":"http://evil"})", Claims(), kSecret)},
      {"unknown kid", HsToken(R"({"alg":"HS256","kid":"nope"})", Claims(), kSecret)},
      {"wrong HS secret",
       HsToken(R"({"alg":"HS256"})", Claims(), "another-secret-of-at-least-32-bytes!!")},
      {"tampered payload", tampered},
      {"RS256 by another key", LibjwtToken(JWT_ALG_RS256, other_rsa_->private_pem, Claims())},
      {"confusion: HS256 with the RSA public PEM",
       HsToken(R"({"alg":"HS256","kid":"rs"})", Claims(), rsa_->public_pem)},
      {"confusion: HS256 with the RSA public PEM, no kid",
       HsToken(R"({"alg":"HS256"})", Claims(), rsa_->public_pem)},
      {"confusion: HS256 with the EC public PEM",
       HsToken(R"({"alg":"HS256","kid":"es"})", Claims(), ec_->public_pem)},
      {"confusion: RS256 header, HMAC signature",
       HsToken(R"({"alg":"RS256"})", Claims(), rsa_->public_pem)},
      {"ES256 header on an RS256 signature",
       [&] {
         std::string t = LibjwtToken(JWT_ALG_RS256, rsa_->private_pem, Claims());
         return B64Url(R"({"alg":"ES256","typ":"JWT"})") + t.substr(t.find('.'));
       }()},
      {"header not JSON", B64Url("{alg:HS256") + "." + b64_claims + ".sig"},
      {"header not base64url", "%%%." + b64_claims + ".sig"},
      {"claims not JSON", HsToken(R"({"alg":"HS256"})", "{sub:1", kSecret)},
      {"claims a JSON array", HsToken(R"({"alg":"HS256"})", R"(["a"])", kSecret)},
      {"expired", HsToken(R"({"alg":"HS256"})",
                          R"({"sub":"a","iss":"auth.test","aud":"herald","exp":)" +
                              std::to_string(kNow - 60) + "}",
                          kSecret)},
      {"no exp",
       HsToken(R"({"alg":"HS256"})", R"({"sub":"a","iss":"auth.test","aud":"herald"})", kSecret)},
      {"exp a string",
       HsToken(R"({"alg":"HS256"})",
               R"({"sub":"a","iss":"auth.test","aud":"herald","exp":"9999999999"})", kSecret)},
      {"nbf in the future",
       HsToken(R"({"alg":"HS256"})", Claims(R"(,"nbf":)" + std::to_string(kNow + 60)), kSecret)},
      {"wrong issuer",
       HsToken(R"({"alg":"HS256"})",
               R"({"sub":"a","iss":"evil","aud":"herald","exp":)" + std::to_string(kNow + 60) + "}",
               kSecret)},
      {"no issuer",
       HsToken(R"({"alg":"HS256"})",
               R"({"sub":"a","aud":"herald","exp":)" + std::to_string(kNow + 60) + "}", kSecret)},
      {"wrong audience", HsToken(R"({"alg":"HS256"})",
                                 R"({"sub":"a","iss":"auth.test","aud":"other","exp":)" +
                                     std::to_string(kNow + 60) + "}",
                                 kSecret)},
      {"audience list without ours",
       HsToken(R"({"alg":"HS256"})",
               R"({"sub":"a","iss":"auth.test","aud":["a","b"],"exp":)" +
                   std::to_string(kNow + 60) + "}",
               kSecret)},
      {"grants a string, not a list",
       HsToken(R"({"alg":"HS256"})",
               R"({"sub":"a","iss":"auth.test","aud":"herald","exp":)" + std::to_string(kNow + 60) +
                   R"(,"herald":{"publish":"chat.>"}})",
               kSecret)},
      {"grants not a list", HsToken(R"({"alg":"HS256"})",
                                    R"({"sub":"a","iss":"auth.test","aud":"herald","exp":)" +
                                        std::to_string(kNow + 60) + R"(,"herald":{"publish":7}})",
                                    kSecret)},
  };
  ASSERT_GE(bad.size(), 25u);
  int false_accepts = 0;
  for (const auto& [name, token] : bad) {
    Result<Identity> id = v->Verify(token, kNow);
    EXPECT_FALSE(id.ok()) << "accepted: " << name;
    false_accepts += id.ok();
  }
  EXPECT_EQ(false_accepts, 0);
}

TEST_F(JwtVerifierTest, WeakOrUnknownKeysAreRefusedAtStart) {
  AuthOptions o;
  o.keys.push_back({"HS256", "", "short", ""});
  EXPECT_FALSE(JwtVerifier::Create(o).ok());
  o.keys = {{"none", "", std::string(40, 'k'), ""}};
  EXPECT_FALSE(JwtVerifier::Create(o).ok());
  o.keys = {{"RS256", "", "", "not a pem"}};
  EXPECT_FALSE(JwtVerifier::Create(o).ok());
  o.keys = {{"ES256", "", "", rsa_->public_pem}};  // an RSA key pinned to ES256
  EXPECT_FALSE(JwtVerifier::Create(o).ok());
}

// A reload swaps the keys for every later check; a configuration Create()
// would refuse changes nothing.
TEST_F(JwtVerifierTest, AReloadSwapsTheKeysAndABadOneChangesNothing) {
  std::shared_ptr<const JwtVerifier> v = Make();
  const std::string rs = LibjwtToken(JWT_ALG_RS256, rsa_->private_pem, Claims());
  const std::string rs_other = LibjwtToken(JWT_ALG_RS256, other_rsa_->private_pem, Claims());
  ASSERT_TRUE(v->Verify(rs, kNow).ok());
  ASSERT_FALSE(v->Verify(rs_other, kNow).ok());
  AuthOptions bad;
  bad.keys.push_back({"HS256", "", "short", ""});
  EXPECT_FALSE(v->Reload(bad).ok());
  EXPECT_TRUE(v->Verify(rs, kNow).ok());  // unchanged
  AuthOptions next;
  next.issuer = "auth.test";
  next.audience = "herald";
  next.keys.push_back({"RS256", "rs", "", other_rsa_->public_pem});
  ASSERT_TRUE(v->Reload(next).ok());
  EXPECT_FALSE(v->Verify(rs, kNow).ok());
  EXPECT_TRUE(v->Verify(rs_other, kNow).ok());
}

// The per-user cap follows a reload: places held stay, new ones meet it.
TEST_F(JwtVerifierTest, AReloadedPerUserCapHoldsForLaterConnections) {
  AuthOptions o;
  o.keys.push_back({"HS256", "", kSecret, ""});
  auto v = JwtVerifier::Create(o);
  ASSERT_TRUE(v.ok());
  Identity alice;
  alice.subject = "alice";
  std::shared_ptr<void> first = (*v)->TakeConnectionSlot(alice);
  std::shared_ptr<void> second = (*v)->TakeConnectionSlot(alice);
  ASSERT_TRUE(first && second);  // no cap
  o.max_connections_per_user = 2;
  ASSERT_TRUE((*v)->Reload(o).ok());
  EXPECT_EQ((*v)->TakeConnectionSlot(alice), nullptr);  // two held already
  second.reset();
  EXPECT_NE((*v)->TakeConnectionSlot(alice), nullptr);
}

TEST_F(JwtVerifierTest, AnonymousIsOffOnceAKeyIsConfiguredUnlessAskedFor) {
  AuthOptions open;
  auto v = JwtVerifier::Create(open);
  ASSERT_TRUE(v.ok());
  Result<Identity> a = (*v)->Anonymous();
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->grants.MayPublish("anything"));

  AuthOptions keyed;
  keyed.keys.push_back({"HS256", "", kSecret, ""});
  v = JwtVerifier::Create(keyed);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)->Anonymous().status().code(), ErrorCode::kPermissionDenied);

  keyed.anonymous = AuthOptions::Anonymous::kAllow;
  keyed.rules.push_back({"anonymous", {}, {"public.>"}});
  v = JwtVerifier::Create(keyed);
  ASSERT_TRUE(v.ok());
  a = (*v)->Anonymous();
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->grants.MaySubscribe("public.news"));
  EXPECT_FALSE(a->grants.MaySubscribe("private.x"));
  EXPECT_FALSE(a->grants.MayPublish("public.news"));
}

TEST_F(JwtVerifierTest, StaticRulesAddGrantsBySubject) {
  AuthOptions o;
  o.keys.push_back({"HS256", "", kSecret, ""});
  o.rules.push_back({"*", {}, {"status.>"}});
  o.rules.push_back({"bob", {"orders.*"}, {}});
  auto v = JwtVerifier::Create(o);
  ASSERT_TRUE(v.ok());
  auto token = [&](const char* sub) {
    return HsToken(
        R"({"alg":"HS256"})",
        std::string(R"({"sub":")") + sub + R"(","exp":)" + std::to_string(kNow + 60) + "}",
        kSecret);
  };
  Result<Identity> bob = (*v)->Verify(token("bob"), kNow);
  ASSERT_TRUE(bob.ok()) << bob.status().ToString();
  EXPECT_TRUE(bob->grants.MayPublish("orders.1"));
  EXPECT_TRUE(bob->grants.MaySubscribe("status.x"));
  Result<Identity> carol = (*v)->Verify(token("carol"), kNow);
  ASSERT_TRUE(carol.ok());
  EXPECT_FALSE(carol->grants.MayPublish("orders.1"));
  EXPECT_TRUE(carol->grants.MaySubscribe("status.x"));
}

TEST_F(JwtVerifierTest, ReadsTheTokenIdIssueTimeAndAdminGrants) {
  auto v = Make();
  const std::string claims = R"({"sub":"alice","iss":"auth.test","aud":"herald","exp":)" +
                             std::to_string(kNow + 600) + R"(,"jti":"tok-7","iat":)" +
                             std::to_string(kNow - 10) + R"(,"herald":{"admin":["chat.>"]}})";
  Result<Identity> id = v->Verify(HsToken(R"({"alg":"HS256"})", claims, kSecret), kNow);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->token_id, "tok-7");
  EXPECT_EQ(id->issued_at_s, kNow - 10);
  EXPECT_TRUE(id->grants.MayAdmin("chat.x"));
  EXPECT_FALSE(id->grants.MayAdmin("news.x"));
  EXPECT_FALSE(id->grants.MayAdminClients());
  const std::string long_jti = R"(,"jti":")" + std::string(300, 'j') + R"(")";
  for (const std::string& bad : {std::string(R"(,"jti":7)"), std::string(R"(,"iat":"x")"),
                                 std::string(R"(,"iat":-5)"), long_jti}) {
    Result<Identity> r = v->Verify(HsToken(R"({"alg":"HS256"})", Claims(bad), kSecret), kNow);
    EXPECT_FALSE(r.ok()) << bad;
  }
  // A NumericDate with a fraction is a time (whole seconds kept).
  Result<Identity> frac = v->Verify(
      HsToken(R"({"alg":"HS256"})", Claims(R"(,"iat":)" + std::to_string(kNow) + ".75"), kSecret),
      kNow);
  ASSERT_TRUE(frac.ok()) << frac.status().ToString();
  EXPECT_EQ(frac->issued_at_s, kNow);
  // A rule grants the server API too; `all` (an open node) never does.
  AuthOptions o;
  o.keys.push_back({"HS256", "", kSecret, ""});
  AuthRule ops{"ops", {}, {}};
  ops.admin = {">"};
  o.rules.push_back(ops);
  auto with_rule = JwtVerifier::Create(o);
  ASSERT_TRUE(with_rule.ok());
  Result<Identity> op =
      (*with_rule)
          ->Verify(HsToken(R"({"alg":"HS256"})",
                           R"({"sub":"ops","exp":)" + std::to_string(kNow + 60) + "}", kSecret),
                   kNow);
  ASSERT_TRUE(op.ok());
  EXPECT_TRUE(op->grants.MayAdminClients());
  Grants all;
  all.all = true;
  EXPECT_FALSE(all.MayAdmin("a"));
}

}  // namespace
}  // namespace herald::auth
