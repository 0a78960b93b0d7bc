#include "frontends/ws/handshake.h"

#include <gtest/gtest.h>

#include <vector>

#include "frontends/ws/accept_key.h"
#include "base/base64.h"

namespace herald::ws {
namespace {

// RFC 6455 §1.3's sample request.
std::vector<HeaderField> SampleHeaders() {
  return {{"Host", "server.example.com"},   {"Upgrade", "websocket"},
          {"Connection", "Upgrade"},        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
          {"Origin", "http://example.com"}, {"Sec-WebSocket-Version", "13"}};
}

HandshakeResult Negotiate(const std::vector<HeaderField>& headers,
                          const HandshakeOptions& opts = {}, std::string_view method = "GET",
                          int major = 1, int minor = 1) {
  return ValidateHandshake(HandshakeRequest{method, major, minor, headers}, opts);
}

std::vector<HeaderField> With(std::vector<HeaderField> h, std::string_view name,
                              std::string_view value) {
  for (auto& f : h) {
    if (f.name == name) {
      f.value = value;
      return h;
    }
  }
  h.push_back({name, value});
  return h;
}

std::vector<HeaderField> Without(std::vector<HeaderField> h, std::string_view name) {
  std::erase_if(h, [&](const HeaderField& f) { return f.name == name; });
  return h;
}

TEST(AcceptKey, MatchesTheRfcExample) {
  // RFC 6455 §1.3.
  EXPECT_EQ(ComputeAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Base64, RoundTripsAndRejectsNonCanonicalText) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(Base64Decode(Base64Encode(s)), s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");  // RFC 4648 §10
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_FALSE(Base64Decode("Zm8"));    // missing padding
  EXPECT_FALSE(Base64Decode("Zm9="));   // unused bits set
  EXPECT_FALSE(Base64Decode("Zg=a"));   // '=' in the middle
  EXPECT_FALSE(Base64Decode("Zm 8="));  // whitespace
  EXPECT_FALSE(Base64Decode("===="));
}

TEST(Handshake, AcceptsTheRfcSampleWithTheExactResponse) {
  HandshakeResult r = Negotiate(SampleHeaders());
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.response,
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
  EXPECT_TRUE(r.subprotocol.empty());
  EXPECT_FALSE(r.deflate);
}

TEST(Handshake, ConnectionHeaderIsATokenList) {
  EXPECT_TRUE(Negotiate(With(SampleHeaders(), "Connection", "keep-alive, Upgrade")).ok());
  EXPECT_TRUE(Negotiate(With(SampleHeaders(), "Connection", "keep-alive,upgrade ,")).ok());
  EXPECT_FALSE(Negotiate(With(SampleHeaders(), "Connection", "keep-alive")).ok());
  EXPECT_FALSE(Negotiate(With(SampleHeaders(), "Connection", "Upgraded")).ok());
  // Two header lines form one list (RFC 9110 §5.3).
  auto two = With(SampleHeaders(), "Connection", "keep-alive");
  two.push_back({"connection", "UPGRADE"});
  EXPECT_TRUE(Negotiate(two).ok());
}

TEST(Handshake, UpgradeHeaderIsACaseInsensitiveTokenList) {
  EXPECT_TRUE(Negotiate(With(SampleHeaders(), "Upgrade", "WebSocket")).ok());
  EXPECT_TRUE(Negotiate(With(SampleHeaders(), "Upgrade", "h2c, websocket")).ok());
  HandshakeResult r = Negotiate(With(SampleHeaders(), "Upgrade", "h2c"));
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(Negotiate(Without(SampleHeaders(), "Upgrade")).ok());
}

TEST(Handshake, HeaderNamesAreCaseInsensitive) {
  std::vector<HeaderField> h = {{"host", "x"},
                                {"UPGRADE", "websocket"},
                                {"connection", "upgrade"},
                                {"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                {"SEC-WEBSOCKET-VERSION", "13"}};
  EXPECT_TRUE(Negotiate(h).ok());
}

TEST(Handshake, RequiresGetAndHttp11) {
  HandshakeResult post = Negotiate(SampleHeaders(), {}, "POST");
  EXPECT_EQ(post.status, 405);
  ASSERT_EQ(post.error_headers.size(), 1u);
  EXPECT_EQ(post.error_headers[0].first, "Allow");
  EXPECT_EQ(Negotiate(SampleHeaders(), {}, "GET", 1, 0).status, 400);
  EXPECT_TRUE(Negotiate(SampleHeaders(), {}, "GET", 2, 0).ok());
}

TEST(Handshake, RequiresHost) {
  EXPECT_EQ(Negotiate(Without(SampleHeaders(), "Host")).status, 400);
}

TEST(Handshake, WrongVersionGets426WithTheSupportedVersion) {
  for (std::string_view v : {"8", "12", "13, 8", "", "abc"}) {
    HandshakeResult r = Negotiate(With(SampleHeaders(), "Sec-WebSocket-Version", v));
    EXPECT_EQ(r.status, 426) << v;
    ASSERT_EQ(r.error_headers.size(), 1u);
    EXPECT_EQ(r.error_headers[0].first, "Sec-WebSocket-Version");
    EXPECT_EQ(r.error_headers[0].second, "13");
  }
  EXPECT_EQ(Negotiate(Without(SampleHeaders(), "Sec-WebSocket-Version")).status, 426);
}

TEST(Handshake, KeyMustBeBase64OfSixteenBytes) {
  HandshakeResult missing = Negotiate(Without(SampleHeaders(), "Sec-WebSocket-Key"));
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.message, "missing Sec-WebSocket-Key header");
  HandshakeResult bad = Negotiate(With(SampleHeaders(), "Sec-WebSocket-Key", "not base64!"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.message, "Sec-WebSocket-Key is not valid base64");
  // 15 and 17 bytes.
  HandshakeResult shorter =
      Negotiate(With(SampleHeaders(), "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"));
  EXPECT_EQ(shorter.status, 400);
  EXPECT_EQ(shorter.message, "Sec-WebSocket-Key must decode to 16 bytes");
  EXPECT_EQ(
      Negotiate(With(SampleHeaders(), "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA=")).status,
      400);
  auto twice = SampleHeaders();
  twice.push_back({"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="});
  EXPECT_EQ(Negotiate(twice).status, 400);
}

TEST(Handshake, OriginAllowListIsExactAndEmptyAllowsAll) {
  HandshakeOptions opts;
  EXPECT_TRUE(Negotiate(SampleHeaders(), opts).ok());
  opts.allowed_origins = {"https://app.example.com", "http://example.com"};
  EXPECT_TRUE(Negotiate(SampleHeaders(), opts).ok());
  HandshakeResult r = Negotiate(With(SampleHeaders(), "Origin", "http://example.com.evil"), opts);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Negotiate(With(SampleHeaders(), "Origin", "HTTP://EXAMPLE.COM"), opts).status, 403);
  // Non-browser clients send no Origin.
  EXPECT_TRUE(Negotiate(Without(SampleHeaders(), "Origin"), opts).ok());
}

TEST(Handshake, SubprotocolFollowsTheServersPreference) {
  HandshakeOptions opts;
  opts.subprotocols = {"herald.v2", "herald.v1"};
  HandshakeResult r =
      Negotiate(With(SampleHeaders(), "Sec-WebSocket-Protocol", "herald.v1, herald.v2"), opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.subprotocol, "herald.v2");
  EXPECT_NE(r.response.find("\r\nSec-WebSocket-Protocol: herald.v2\r\n"), std::string::npos);
  // No common protocol: accepted without the header (RFC 6455 §4.2.2).
  HandshakeResult none = Negotiate(With(SampleHeaders(), "Sec-WebSocket-Protocol", "mqtt"), opts);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.subprotocol.empty());
  EXPECT_EQ(none.response.find("Sec-WebSocket-Protocol"), std::string::npos);
}

TEST(Handshake, NegotiatesPermessageDeflate) {
  HandshakeOptions opts;
  opts.deflate.enabled = true;
  HandshakeResult r = Negotiate(With(SampleHeaders(), "Sec-WebSocket-Extensions",
                                     "permessage-deflate; client_max_window_bits"),
                                opts);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r.deflate);
  EXPECT_NE(r.response.find("\r\nSec-WebSocket-Extensions: permessage-deflate; "
                            "server_no_context_takeover; client_max_window_bits=15\r\n"),
            std::string::npos)
      << r.response;
}

TEST(Handshake, InvalidDeflateOfferIsDeclinedNotFatal) {
  HandshakeOptions opts;
  opts.deflate.enabled = true;
  HandshakeResult r = Negotiate(
      With(SampleHeaders(), "Sec-WebSocket-Extensions", "permessage-deflate; bogus_param"), opts);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.deflate);
  EXPECT_EQ(r.response.find("Sec-WebSocket-Extensions"), std::string::npos);
}

TEST(Handshake, DeflateOffOffersNothing) {
  HandshakeResult r =
      Negotiate(With(SampleHeaders(), "Sec-WebSocket-Extensions", "permessage-deflate"), {});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.deflate);
}

}  // namespace
}  // namespace herald::ws
