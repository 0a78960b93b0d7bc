#include "frontends/ws/deflate_params.h"

#include <gtest/gtest.h>

#include "frontends/ws/extension_parser.h"

namespace herald::ws {
namespace {

DeflateOptions On() {
  DeflateOptions o;
  o.enabled = true;
  return o;
}

std::string Response(std::string_view offer, DeflateOptions opts = On()) {
  auto p = NegotiateDeflate(offer, opts);
  return p ? p->ResponseValue() : "<declined>";
}

TEST(ExtensionParser, ReadsTokensQuotedValuesAndSeveralOffers) {
  auto offers = ParseExtensionList(
      "permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\", "
      "x-webkit-deflate-frame ,, permessage-deflate");
  ASSERT_TRUE(offers);
  ASSERT_EQ(offers->size(), 3u);
  EXPECT_EQ((*offers)[0].name, "permessage-deflate");
  ASSERT_EQ((*offers)[0].params.size(), 2u);
  EXPECT_FALSE((*offers)[0].params[0].value);
  EXPECT_EQ((*offers)[0].params[1].value, "10");
  EXPECT_EQ((*offers)[1].name, "x-webkit-deflate-frame");
}

TEST(ExtensionParser, RejectsBrokenSyntax) {
  EXPECT_FALSE(ParseExtensionList("permessage-deflate; =1"));
  EXPECT_FALSE(ParseExtensionList("permessage-deflate; a=\"unterminated"));
  EXPECT_FALSE(ParseExtensionList("permessage-deflate; a=\"not a token\""));
  EXPECT_FALSE(ParseExtensionList("permessage-deflate x"));
  EXPECT_FALSE(ParseExtensionList("; a"));
}

TEST(Deflate, ServerAlwaysDeclaresNoContextTakeover) {
  EXPECT_EQ(Response("permessage-deflate"), "permessage-deflate; server_no_context_takeover");
  EXPECT_EQ(Response("permessage-deflate; server_no_context_takeover"),
            "permessage-deflate; server_no_context_takeover");
}

TEST(Deflate, EchoesClientNoContextTakeover) {
  EXPECT_EQ(Response("permessage-deflate; client_no_context_takeover"),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  DeflateOptions ask = On();
  ask.request_client_no_context_takeover = true;
  auto p = NegotiateDeflate("permessage-deflate", ask);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->client_no_context_takeover);
}

TEST(Deflate, WindowBitsWithAndWithoutValue) {
  EXPECT_EQ(Response("permessage-deflate; client_max_window_bits"),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=15");
  EXPECT_EQ(Response("permessage-deflate; client_max_window_bits=10"),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  EXPECT_EQ(Response("permessage-deflate; server_max_window_bits=12"),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12");
  DeflateOptions small = On();
  small.server_max_window_bits = 11;
  small.client_max_window_bits = 9;
  auto p = NegotiateDeflate("permessage-deflate; client_max_window_bits=12", small);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->server_max_window_bits, 11);
  EXPECT_EQ(p->client_max_window_bits, 9);
  EXPECT_EQ(p->ResponseValue(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11; "
            "client_max_window_bits=9");
  // Without the client's client_max_window_bits we may not send ours (§7.1.2.2).
  auto q = NegotiateDeflate("permessage-deflate", small);
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->declare_client_max_window_bits);
  EXPECT_EQ(q->client_max_window_bits, 15);
}

TEST(Deflate, InvalidOffersAreDeclined) {
  for (std::string_view offer : {
           "permessage-deflate; unknown",
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
           "permessage-deflate; server_no_context_takeover=1",
           "permessage-deflate; client_no_context_takeover=yes",
           "permessage-deflate; server_max_window_bits",
           "permessage-deflate; server_max_window_bits=16",
           "permessage-deflate; server_max_window_bits=7",
           "permessage-deflate; server_max_window_bits=010",
           "permessage-deflate; client_max_window_bits=abc",
           "permessage-deflate; client_max_window_bits=\"\"",
       }) {
    EXPECT_EQ(Response(offer), "<declined>") << offer;
  }
}

TEST(Deflate, EightBitServerWindowIsDeclinedBecauseZlibCannotHonourIt) {
  EXPECT_EQ(Response("permessage-deflate; server_max_window_bits=8"), "<declined>");
  EXPECT_EQ(Response("permessage-deflate; client_max_window_bits=8"),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=8");
}

TEST(Deflate, ChoosesTheFirstAcceptableOffer) {
  EXPECT_EQ(Response("permessage-deflate; server_max_window_bits=8, "
                     "permessage-deflate; bogus, "
                     "permessage-deflate; server_max_window_bits=10, permessage-deflate"),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10");
  EXPECT_EQ(Response("x-other; a=1, permessage-deflate; server_max_window_bits=\"9\""),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9");
}

TEST(Deflate, DisabledOrBrokenHeaderDeclines) {
  EXPECT_EQ(Response("permessage-deflate", DeflateOptions{}), "<declined>");
  EXPECT_EQ(Response("permessage-deflate; ;"), "<declined>");
  EXPECT_EQ(Response("x-webkit-deflate-frame"), "<declined>");
  EXPECT_EQ(Response(""), "<declined>");
}

}  // namespace
}  // namespace herald::ws
