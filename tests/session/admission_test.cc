#include "frontends/session/admission.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/test_tokens.h"

namespace herald::session {
namespace {

const std::string kSecret = "a-secret-for-the-admission-tests-32-bytes-at-least";

// An HS256 token under kSecret: `sub`, `exp` seconds from now, publish
// grant on "p.>".
std::string Token(std::string_view sub, int64_t exp_in_s) {
  return testing::Hs256Token(kSecret, R"({"sub":")" + std::string(sub) + R"(","exp":)" +
                                          std::to_string(testing::NowSeconds() + exp_in_s) +
                                          R"(,"herald":{"publish":["p.>"]}})");
}

Admission Checked(AuthOptions::Anonymous anonymous,
                  std::chrono::milliseconds leeway = std::chrono::milliseconds(0)) {
  AuthOptions o;
  JwtKey key;
  key.alg = "HS256";
  key.secret = kSecret;
  o.keys.push_back(key);
  o.leeway = leeway;
  o.anonymous = anonymous;
  Result<std::shared_ptr<const auth::JwtVerifier>> v = auth::JwtVerifier::Create(o);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return Admission(TopicLimits{}, v.ok() ? *v : nullptr);
}

std::shared_ptr<const auth::Identity> Granted(std::vector<std::string> publish,
                                              std::vector<std::string> subscribe) {
  auto id = std::make_shared<auth::Identity>();
  id->subject = "tester";
  id->grants.publish = std::move(publish);
  id->grants.subscribe = std::move(subscribe);
  return id;
}

TEST(Admission, WithoutAVerifierEveryoneIsTheOpenIdentityAndUncounted) {
  Admission a(TopicLimits{}, nullptr);
  Result<Admitted> one = a.Connect(Credential::None());
  Result<Admitted> two = a.Connect(Credential::Bearer("whatever"));
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_TRUE(one->identity->grants.all);
  EXPECT_NE(one->slot, nullptr);
  EXPECT_TRUE(a.Check(*one->identity, Op::kPublish, "a.b").ok());
}

TEST(Admission, TheTopicRulesComeBeforeTheGrants) {
  Admission a(TopicLimits{}, nullptr);
  auto who = Granted({"ok.>"}, {"ok.>"});
  // A malformed name is malformed whatever the grants say.
  EXPECT_EQ(a.Check(*who, Op::kPublish, "no..a").code(), ErrorCode::kInvalidTopic);
  EXPECT_EQ(a.Check(*who, Op::kPublish, "no.a").code(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(a.Check(*who, Op::kPublish, "ok.a").ok());
}

TEST(Admission, OnlySubscriptionsTakePatterns) {
  Admission a(TopicLimits{}, nullptr);
  auto who = Granted({"ok.>"}, {"ok.>"});
  EXPECT_TRUE(a.Check(*who, Op::kSubscribe, "ok.*").ok());
  for (Op op : {Op::kPublish, Op::kRequest, Op::kHistory}) {
    EXPECT_EQ(a.Check(*who, op, "ok.*").code(), ErrorCode::kInvalidTopic) << OpVerb(op);
  }
}

TEST(Admission, ReplyInboxesAreOutOfReachForEveryOperation) {
  Admission a(TopicLimits{}, nullptr);
  auth::Identity all;
  all.grants.all = true;
  for (Op op : {Op::kSubscribe, Op::kPublish, Op::kRequest, Op::kHistory}) {
    Status s = a.Check(all, op, "_INBOX.n.abc");
    EXPECT_EQ(s.code(), ErrorCode::kInvalidTopic) << OpVerb(op);
    EXPECT_NE(s.message().find("reserved for replies"), std::string::npos);
  }
  EXPECT_EQ(a.Check(all, Op::kSubscribe, "_INBOX.>").code(), ErrorCode::kInvalidTopic);
}

TEST(Admission, ADeniedOperationNamesTheVerbAndTheTopic) {
  Admission a(TopicLimits{}, nullptr);
  auto who = Granted({}, {});
  EXPECT_EQ(a.Check(*who, Op::kRequest, "svc.x").message(),
            "permission denied: request on 'svc.x'");
  EXPECT_EQ(a.Check(*who, Op::kSubscribe, "t.>").message(),
            "permission denied: subscribe to 't.>'");
}

TEST(Admission, AMalformedCredentialIsUnauthenticatedWhenTokensAreChecked) {
  AuthOptions o;
  JwtKey key;
  key.alg = "HS256";
  key.secret = std::string(40, 's');
  o.keys.push_back(key);
  o.anonymous = AuthOptions::Anonymous::kAllow;
  Result<std::shared_ptr<const auth::JwtVerifier>> v = auth::JwtVerifier::Create(o);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  Admission a(TopicLimits{}, *v);
  EXPECT_EQ(a.Authenticate(Credential::Malformed("not a bearer token")).status().code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(a.Authenticate(Credential::Bearer("a.b.c")).status().code(),
            ErrorCode::kUnauthenticated);
  EXPECT_TRUE(a.Authenticate(Credential::None()).ok());  // anonymous allowed
}

TEST(Admission, ARenewalNeedsAValidTokenOfTheSameUser) {
  Admission a = Checked(AuthOptions::Anonymous::kAllow);
  Result<Admitted> alice = a.Connect(Credential::Bearer(Token("alice", 60)));
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();

  Result<IdentityPtr> renewed = a.Renew(*alice->identity, Credential::Bearer(Token("alice", 600)));
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ((*renewed)->subject, "alice");
  EXPECT_GT((*renewed)->expires_at_s, alice->identity->expires_at_s);
  EXPECT_TRUE(a.Check(**renewed, Op::kPublish, "p.x").ok());

  Status other = a.Renew(*alice->identity, Credential::Bearer(Token("bob", 600))).status();
  EXPECT_EQ(other.code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(other.message().find("keeps the connection's user"), std::string::npos);
  EXPECT_EQ(a.Renew(*alice->identity, Credential::Bearer(Token("alice", -5))).status().code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(a.Renew(*alice->identity, Credential::Bearer("a.b.c")).status().code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(a.Renew(*alice->identity, Credential::None()).status().code(),
            ErrorCode::kInvalidArgument);

  // An anonymous connection cannot become someone by refreshing.
  Result<Admitted> anon = a.Connect(Credential::None());
  ASSERT_TRUE(anon.ok());
  EXPECT_EQ(a.Renew(*anon->identity, Credential::Bearer(Token("alice", 600))).status().code(),
            ErrorCode::kPermissionDenied);
}

TEST(Admission, ARenewalPastItsExpIsRefusedEvenWithinTheLeeway) {
  Admission a = Checked(AuthOptions::Anonymous::kDeny, std::chrono::seconds(30));
  Result<Admitted> alice = a.Connect(Credential::Bearer(Token("alice", 60)));
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  // The leeway admits it as a new connection; as a renewal it would end the
  // connection at once.
  EXPECT_TRUE(a.Connect(Credential::Bearer(Token("alice", -5))).ok());
  Status s = a.Renew(*alice->identity, Credential::Bearer(Token("alice", -5))).status();
  EXPECT_EQ(s.code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(s.message(), "invalid token: expired");
}

TEST(Admission, WithoutAVerifierARenewalIsTheOpenIdentity) {
  Admission a(TopicLimits{}, nullptr);
  Result<Admitted> who = a.Connect(Credential::None());
  ASSERT_TRUE(who.ok());
  Result<IdentityPtr> renewed = a.Renew(*who->identity, Credential::Bearer("anything"));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ((*renewed)->expires_at_s, 0);
}

}  // namespace
}  // namespace herald::session
