#include "frontends/sse/sse_event.h"

#include <gtest/gtest.h>

#include "base/base64.h"

namespace herald::sse {
namespace {

std::shared_ptr<Message> Make(std::string topic, std::string payload, std::string type = "") {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->content_type = std::move(type);
  m->epoch = 36;
  m->offset = 7;
  return m;
}

std::string Lines(std::string_view text) {
  std::string out;
  AppendDataLines(out, text);
  return out;
}

TEST(SseData, SplitsAtEveryLineBreakKind) {
  EXPECT_EQ(Lines("one"), "data: one\n");
  EXPECT_EQ(Lines("a\nb"), "data: a\ndata: b\n");
  EXPECT_EQ(Lines("a\r\nb"), "data: a\ndata: b\n");
  EXPECT_EQ(Lines("a\rb"), "data: a\ndata: b\n");
  EXPECT_EQ(Lines("a\n\nb"), "data: a\ndata: \ndata: b\n");  // an empty line survives
  EXPECT_EQ(Lines("a\r\r\nb"), "data: a\ndata: \ndata: b\n");
  EXPECT_EQ(Lines("a\n"), "data: a\ndata: \n");  // so does a trailing line break
}

TEST(SseData, EmptyPayloadIsOneEmptyDataLine) { EXPECT_EQ(Lines(""), "data: \n"); }

TEST(SseData, KeepsLeadingSpacesAndColons) {
  // The browser strips exactly one space after "data:", the one we add.
  EXPECT_EQ(Lines(" x: y"), "data:  x: y\n");
}

TEST(SseEvent, BodyIsDataLinesAndABlankLine) {
  auto m = Make("t", "hi\nthere");
  EXPECT_EQ(*EventBody(*m, DataFormat::kRaw), "data: hi\ndata: there\n\n");
}

TEST(SseEvent, BinaryPayloadIsABase64BinaryEvent) {
  auto m = Make("t", std::string("\x00\xFF\n", 3), "application/octet-stream");
  EXPECT_EQ(*EventBody(*m, DataFormat::kRaw),
            "event: binary\ndata: " + Base64Encode(m->payload) + "\n\n");
  auto invalid = Make("t", "\xC3");  // not UTF-8, whatever its label
  EXPECT_EQ(*EventBody(*invalid, DataFormat::kRaw), "event: binary\ndata: ww==\n\n");
}

TEST(SseEvent, JsonFormatIsOneLineEnvelopeKeepingCarriageReturns) {
  auto m = Make("t", "a\r\nb");
  const std::string body = *EventBody(*m, DataFormat::kJson);
  EXPECT_TRUE(body.starts_with("data: {\"op\":\"msg\",\"topic\":\"t\""));
  EXPECT_NE(body.find(R"("payload":"a\r\nb")"), std::string::npos);
  EXPECT_EQ(body.find('\n'), body.size() - 2);  // one data line, then the blank line
}

TEST(SseEvent, SharedFormsAreBuiltOncePerMessage) {
  auto m = Make("t", "x");
  m->PinEncodings();  // as a queued delivery does: encodings are cached only meanwhile
  EXPECT_EQ(EventBody(*m, DataFormat::kRaw).get(), EventBody(*m, DataFormat::kRaw).get());
  EXPECT_EQ(IndexZeroEvent(*m, DataFormat::kRaw).get(), IndexZeroEvent(*m, DataFormat::kRaw).get());
  EXPECT_EQ(*IndexZeroEvent(*m, DataFormat::kRaw), "id: 0:10:7\ndata: x\n\n");
  m->UnpinEncodings();
}

TEST(SseEvent, HeadNamesTheEventWhenAsked) {
  EXPECT_EQ(EventHead("0:1:2", ""), "id: 0:1:2\n");
  EXPECT_EQ(EventHead("0:1:2", "orders.42"), "id: 0:1:2\nevent: orders.42\n");
}

TEST(SseEvent, GapEventCarriesTheJsonGap) {
  const std::string e = GapEvent("0:1:9", Gap{"t", GapReason::kTrimmed, 1, 3, 9});
  EXPECT_TRUE(e.starts_with("id: 0:1:9\nevent: gap\ndata: {\"op\":\"gap\",\"topic\":\"t\""));
  EXPECT_TRUE(e.ends_with("}\n\n"));
}

}  // namespace
}  // namespace herald::sse
