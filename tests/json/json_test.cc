#include <gtest/gtest.h>

#include "frontends/json/command.h"
#include "frontends/json/envelope.h"
#include "frontends/json/json_writer.h"
#include "frontends/json/presence_json.h"

namespace herald::json {
namespace {

std::shared_ptr<Message> Msg(std::string payload, std::string content_type) {
  auto m = std::make_shared<Message>();
  m->topic = "chat.room1";
  m->payload = std::move(payload);
  m->content_type = std::move(content_type);
  m->epoch = 9;
  m->offset = 3;
  m->timestamp_us = 1000;
  return m;
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  std::string out;
  const char kInput[] = "a\"b\\c\n\x01 é";
  AppendJsonString(out, std::string(kInput, sizeof kInput - 1));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001 é\"");
}

// The byte-at-a-time rule AppendJsonString must agree with.
std::string EscapedOneByOne(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (c < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

TEST(JsonWriter, EscapesEveryByteThatNeedsItWhereverItFallsInAWord) {
  // Strings are passed over 8 bytes at a time: every byte value, at every
  // place in and around a word, among bytes that need no escape (including
  // the high ones the word test must not mistake for control characters).
  for (int byte = 0; byte < 256; ++byte) {
    for (size_t at = 0; at < 19; ++at) {
      std::string s(19, 'a');
      s[3] = static_cast<char>(0xc3);
      s[11] = static_cast<char>(0xff);
      s[at] = static_cast<char>(byte);
      std::string out;
      AppendJsonString(out, s);
      ASSERT_EQ(out, EscapedOneByOne(s)) << "byte " << byte << " at " << at;
    }
  }
  std::string out = "kept";
  AppendJsonString(out, "");
  EXPECT_EQ(out, "kept\"\"");
}

TEST(Envelope, AJobsFrameHoldsEachJobAsItsOwnFrameWouldBe) {
  Job a{"q", "q/1/1/00000000000000aa", 1, 1, Msg("one", "text/plain")};
  Job b{"q", "q/2/3/00000000000000bb", 2, 3, Msg("{\"n\":2}", "application/json")};
  JobList list;
  EXPECT_TRUE(list.empty());
  list.Add(a);
  list.Add(b);
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.TakeFrame("q"),
            R"({"op":"jobs","queue":"q","jobs":[)" + EncodeJob(a) + "," + EncodeJob(b) + "]}");
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.TakeArray(), "[]");
  list.Add(b);
  EXPECT_EQ(list.TakeArray(), "[" + EncodeJob(b) + "]");
  EXPECT_EQ(EncodeJob(a),
            R"({"op":"job","queue":"q","handle":"q/1/1/00000000000000aa","deliveries":1,)"
            R"("topic":"chat.room1","epoch":9,"offset":3,"ts":1000,"payload":"one",)"
            R"("content_type":"text/plain"})");
}

TEST(Envelope, JsonPayloadIsEmbeddedAsAValue) {
  EXPECT_EQ(EncodeMessage(*Msg("{\"x\":[1,2]}", "application/json")),
            "{\"op\":\"msg\",\"topic\":\"chat.room1\",\"epoch\":9,\"offset\":3,\"ts\":1000,"
            "\"payload\":{\"x\":[1,2]},\"content_type\":\"application/json\"}");
}

TEST(Envelope, TextPayloadIsAString) {
  std::string e = EncodeMessage(*Msg("line1\nline2 ✓", "text/plain"));
  EXPECT_NE(e.find("\"payload\":\"line1\\nline2 ✓\""), std::string::npos) << e;
}

TEST(Envelope, BinaryOrInvalidUtf8PayloadIsBase64) {
  EXPECT_NE(EncodeMessage(*Msg(std::string("\xff\x00", 2), "")).find("\"payload_b64\":\"/wA=\""),
            std::string::npos);
  EXPECT_NE(EncodeMessage(*Msg("abc", "application/octet-stream")).find("\"payload_b64\":\"YWJj\""),
            std::string::npos);
}

TEST(Envelope, MislabelledJsonIsNotEmbeddedRaw) {
  std::string e = EncodeMessage(*Msg("{not json", "application/json"));
  EXPECT_NE(e.find("\"payload\":\"{not json\""), std::string::npos) << e;
}

TEST(Envelope, GapNamesReasonAndRange) {
  EXPECT_EQ(
      EncodeGap({"t", GapReason::kTrimmed, 5, 2, 4}),
      "{\"op\":\"gap\",\"topic\":\"t\",\"reason\":\"trimmed\",\"epoch\":5,\"from\":2,\"to\":4}");
}

TEST(Envelope, ErrorCarriesIdCodeAndMessage) {
  EXPECT_EQ(
      EncodeError("\"7\"", Status(ErrorCode::kInvalidTopic, "empty token")),
      "{\"op\":\"error\",\"id\":\"7\",\"code\":\"invalid_topic\",\"message\":\"empty token\"}");
}

TEST(Command, DecodesSubscribeWithGroupAndResume) {
  Decoded d = DecodeCommand(
      R"({"op":"sub","id":1,"topic":"chat.*","group":"g","resume":{"chat.a":{"epoch":5,"offset":7}}})");
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  EXPECT_EQ(d.command.op, Command::Op::kSub);
  EXPECT_EQ(d.command.id, "1");  // JSON text: the integer 1
  EXPECT_EQ(d.command.topic, "chat.*");
  EXPECT_EQ(d.command.group, "g");
  ASSERT_EQ(d.command.resume.size(), 1u);
  EXPECT_EQ(d.command.resume[0].topic, "chat.a");
  EXPECT_EQ(d.command.resume[0].epoch, 5u);
  EXPECT_EQ(d.command.resume[0].after_offset, 7u);
}

TEST(Command, PayloadKindsMapToContentTypes) {
  Decoded json = DecodeCommand(R"({"op":"pub","topic":"t","payload":{"a": 1}})");
  EXPECT_EQ(json.command.payload, "{\"a\":1}");
  EXPECT_EQ(json.command.content_type, kJsonContentType);
  Decoded text = DecodeCommand(R"({"op":"pub","topic":"t","payload":"hi\n"})");
  EXPECT_EQ(text.command.payload, "hi\n");
  EXPECT_EQ(text.command.content_type, kTextContentType);
  Decoded bin = DecodeCommand(R"({"op":"pub","topic":"t","payload_b64":"/wA="})");
  EXPECT_EQ(bin.command.payload, std::string("\xff\x00", 2));
  EXPECT_EQ(bin.command.content_type, kBinaryContentType);
}

TEST(Command, DecodesRequestAndReply) {
  Decoded req =
      DecodeCommand(R"({"op":"req","id":"r1","topic":"svc","payload":"x","timeout_ms":250})");
  ASSERT_TRUE(req.status.ok()) << req.status.ToString();
  EXPECT_EQ(req.command.timeout_ms, 250);  // its bounds: session::Operations::RequestTimeout
  Decoded reply = DecodeCommand(R"({"op":"reply","to":"_INBOX.n.1","payload":"y"})");
  ASSERT_TRUE(reply.status.ok());
  EXPECT_EQ(reply.command.topic, "_INBOX.n.1");
}

// Each bad input gets its own message, and the id when it could be read.
TEST(Command, EveryKindOfBadInputHasASpecificError) {
  struct Case {
    const char* text;
    const char* fragment;
  };
  const Case cases[] = {
      {"{not json", "malformed JSON"},
      {"[1,2]", "must be a JSON object"},
      {R"({"topic":"t"})", "missing 'op'"},
      {R"({"op":5})", "'op' must be a string"},
      {R"({"op":"fly"})", "unknown op 'fly'"},
      {R"({"op":"sub"})", "missing 'topic'"},
      {R"({"op":"sub","topic":7})", "'topic' must be a string"},
      {R"({"op":"sub","topic":"t","group":1})", "'group' must be a string"},
      {R"({"op":"sub","topic":"t","resume":[1]})", "'resume' must be an object"},
      {R"({"op":"sub","topic":"t","resume":{"t":{"epoch":-1,"offset":0}}})", "non-negative"},
      {R"({"op":"pub","topic":"t","payload":"a","payload_b64":"YQ=="})", "not both"},
      {R"({"op":"pub","topic":"t","payload_b64":"!!"})", "not valid base64"},
      {R"({"op":"pub","topic":"t","headers":{"a":1}})", "header 'a' must be a string"},
      {R"({"op":"req","topic":"t"})", "needs an 'id'"},
      {R"({"op":"req","id":"1","topic":"t","timeout_ms":"5"})", "'timeout_ms' must be an integer"},
      {R"({"op":"req","id":"1","topic":"t","timeout_ms":1.5})", "'timeout_ms' must be an integer"},
      {R"({"op":"reply","payload":"x"})", "missing 'to'"},
      {R"({"op":"pub","id":[1],"topic":"t"})", "'id' must be a string or an integer"},
      {R"({"op":"join","queue":"q","batch":0})", "'batch' must be 1 or more"},
      {R"({"op":"join","queue":"q","batch":"8"})", "'batch' must be an integer"},
      {R"({"op":"refresh","id":1})", "missing 'token'"},
      {R"({"op":"refresh","token":""})", "'token' must not be empty"},
      {R"({"op":"refresh","token":7})", "'token' must be a string"},
      {R"({"op":"sub","topic":"t","presence":1})", "'presence' must be true or false"},
      {R"({"op":"members"})", "missing 'topic'"},
      {R"({"op":"members","topic":"t","limit":0})", "'limit' must be 1 or more"},
  };
  for (const Case& c : cases) {
    Decoded d = DecodeCommand(c.text);
    ASSERT_FALSE(d.status.ok()) << c.text;
    EXPECT_EQ(d.status.code(), ErrorCode::kInvalidArgument) << c.text;
    EXPECT_NE(d.status.message().find(c.fragment), std::string::npos)
        << c.text << " -> " << d.status.message();
  }
  EXPECT_EQ(DecodeCommand(R"({"op":"sub","id":"abc"})").command.id, "\"abc\"");
  const Decoded join = DecodeCommand(R"({"op":"join","queue":"q","max_in_flight":16,"batch":8})");
  ASSERT_TRUE(join.status.ok()) << join.status.message();
  EXPECT_EQ(join.command.batch, 8u);
  EXPECT_EQ(DecodeCommand(R"({"op":"join","queue":"q"})").command.batch, 0u);
  const Decoded refresh = DecodeCommand(R"({"op":"refresh","id":"r","token":"h.p.s"})");
  ASSERT_TRUE(refresh.status.ok()) << refresh.status.message();
  EXPECT_EQ(refresh.command.op, Command::Op::kRefresh);
  EXPECT_EQ(refresh.command.token, "h.p.s");
  EXPECT_EQ(EncodeRefreshed("\"r\"", 1800000000),
            R"({"op":"refreshed","id":"r","expires_at":1800000000})");
}

TEST(Presence, EventsAndAnswersKeepTheInfoObjectAndLeaveOutWhatIsNotSet) {
  PresenceEvent e;
  e.topic = "chat.r1";
  e.joins = {{"n.1", "ada", R"({"name":"Ada"})"}, {"n.2", "n.2", ""}};
  e.leaves = {{"n.3", "bob", ""}};
  e.clients = 2;
  e.users = 2;
  EXPECT_EQ(EncodePresence(e),
            R"({"op":"presence","topic":"chat.r1","join":[{"client":"n.1","user":"ada",)"
            R"("info":{"name":"Ada"}},{"client":"n.2","user":"n.2"}],"leave":[{"client":"n.3",)"
            R"("user":"bob"}],"clients":2,"users":2})");
  e.resync = true;
  EXPECT_EQ(EncodePresence(e),
            R"({"op":"presence","topic":"chat.r1","resync":true,"clients":2,"users":2})");
  PresenceSnapshot s{.clients = 3, .users = 1, .members = {{"n.1", "ada", ""}}, .next = "n.1"};
  EXPECT_EQ(EncodeMembers("7", "chat.r1", s),
            R"({"op":"members","id":7,"topic":"chat.r1","clients":3,"users":1,)"
            R"("members":[{"client":"n.1","user":"ada"}],"next":"n.1"})");
  const Decoded sub = DecodeCommand(R"({"op":"sub","topic":"chat.r1","presence":true})");
  ASSERT_TRUE(sub.status.ok());
  EXPECT_TRUE(sub.command.presence);
  const Decoded members =
      DecodeCommand(R"({"op":"members","id":1,"topic":"t","limit":5,"after":"n.9"})");
  ASSERT_TRUE(members.status.ok()) << members.status.message();
  EXPECT_EQ(members.command.op, Command::Op::kMembers);
  EXPECT_EQ((std::pair{*members.command.limit, members.command.after}),
            (std::pair{int64_t{5}, std::string("n.9")}));
}

}  // namespace
}  // namespace herald::json
