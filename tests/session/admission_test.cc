#include "frontends/session/admission.h"

#include <gtest/gtest.h>

namespace herald::session {
namespace {

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

}  // namespace
}  // namespace herald::session
