#include "hooks/hook_json.h"

#include <gtest/gtest.h>

namespace herald::hooks {
namespace {

TEST(HookJson, ARequestNamesItsEventAndCarriesDataAsBase64) {
  HookRequest r;
  r.event = HookEvent::kPublish;
  r.client = "n1.a";
  r.user = "bob \"b\"";
  r.transport = "ws";
  r.info = R"({"name":"Bob"})";
  r.topic = "chat.a";
  r.data = std::string("\x00\xff", 2);
  EXPECT_EQ(EncodeHookRequest(r),
            R"({"event":"publish","client":"n1.a","user":"bob \"b\"","anonymous":false,)"
            R"("transport":"ws","info":{"name":"Bob"},"topic":"chat.a","data":"AP8="})");
}

TEST(HookJson, ADecisionIsReadWithEveryField) {
  Result<HookDecision> d = DecodeHookDecision(
      R"({"allow":true,"user":"robert","info":{"a":[1, 2]},"grants":{"publish":["x.>"],)"
      R"("subscribe":["y.*"],"admin":[]},"expires_at":123,"data":"aGk=","extra":1})");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->allow);
  EXPECT_EQ(*d->user, "robert");
  EXPECT_EQ(*d->info, R"({"a":[1,2]})");
  EXPECT_EQ(d->grants->publish, std::vector<std::string>{"x.>"});
  EXPECT_EQ(d->grants->subscribe, std::vector<std::string>{"y.*"});
  EXPECT_EQ(d->expires_at, 123);
  EXPECT_EQ(*d->data, "hi");
}

TEST(HookJson, AMalformedDecisionSaysWhatIsWrong) {
  EXPECT_EQ(DecodeHookDecision("{}").status().message(), "hook answer: no 'allow'");
  EXPECT_EQ(DecodeHookDecision("[1]").status().message(), "hook answer: not a JSON object");
  EXPECT_EQ(DecodeHookDecision(R"({"allow":"yes"})").status().message(),
            "hook answer: 'allow' must be true or false");
  EXPECT_EQ(DecodeHookDecision(R"({"allow":true,"data":"***"})").status().message(),
            "hook answer: 'data' is not base64");
  EXPECT_EQ(DecodeHookDecision(R"({"allow":true,"grants":{"publish":"x"}})").status().message(),
            "hook answer: 'grants.publish' must be a list of patterns");
  EXPECT_FALSE(DecodeHookDecision("{").ok());
}

}  // namespace
}  // namespace herald::hooks
