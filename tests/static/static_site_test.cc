#include "frontends/static/static_site.h"

#include <gtest/gtest.h>

namespace herald::statics {
namespace {

TEST(SafeRelativePath, MapsPathsBelowTheRoot) {
  EXPECT_EQ(*SafeRelativePath("/"), "");
  EXPECT_EQ(*SafeRelativePath("/index.html"), "index.html");
  EXPECT_EQ(*SafeRelativePath("/js//app.js"), "js/app.js");  // empty segments collapse
  EXPECT_EQ(*SafeRelativePath("/a%20b.txt"), "a b.txt");
  EXPECT_EQ(*SafeRelativePath("/..file"), "..file");  // not a '..' segment
}

TEST(SafeRelativePath, RefusesEveryWayOut) {
  for (const char* bad :
       {"/..", "/../etc/passwd", "/a/../../b", "/%2e%2e/x", "/%2E%2E%2Fx", "/a/.%2e/b", "/./x",
        "/a\\..\\b", "/a%5c..%5cb", "/a%00.html", "/a%0d%0aX: y", "/%zz", "relative", ""}) {
    EXPECT_FALSE(SafeRelativePath(bad).ok()) << bad;
  }
}

TEST(MimeTypeFor, KnowsTheWebTypesAndFallsBackToBytes) {
  EXPECT_EQ(MimeTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("INDEX.HTM"), "text/html; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("app.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("data.json"), "application/json");
  EXPECT_EQ(MimeTypeFor("logo.svg"), "image/svg+xml");
  EXPECT_EQ(MimeTypeFor("logo.png"), "image/png");
  EXPECT_EQ(MimeTypeFor("mod.wasm"), "application/wasm");
  EXPECT_EQ(MimeTypeFor("archive.tar.gz"), "application/octet-stream");
  EXPECT_EQ(MimeTypeFor("Makefile"), "application/octet-stream");
}

}  // namespace
}  // namespace herald::statics
