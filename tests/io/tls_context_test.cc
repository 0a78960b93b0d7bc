#include "io/tls_context.h"

#include <gtest/gtest.h>

#include <ctime>
#include <fstream>

#include "tests/io/test_pki.h"

namespace herald::io {
namespace {

using testing::TestPki;

class TlsContextTest : public ::testing::Test {
 protected:
  TlsOptions Options(const std::string& name) {
    TlsOptions o;
    o.cert_file = pki_.path(name + ".pem");
    o.key_file = pki_.path(name + ".key");
    return o;
  }
  std::string Error(const TlsOptions& o) {
    Result<std::shared_ptr<const TlsContext>> c = TlsContext::Create(o);
    return c.ok() ? std::string("ok") : c.status().message();
  }
  TestPki pki_;
};

TEST_F(TlsContextTest, AValidCertificateMakesAContextAndReportsItsExpiry) {
  pki_.Issue("server", -1, 2);
  Result<std::shared_ptr<const TlsContext>> c = TlsContext::Create(Options("server"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_NE((*c)->raw(), nullptr);
  EXPECT_NEAR(static_cast<double>((*c)->not_after_s()), std::time(nullptr) + 2 * 86400.0, 120);
  EXPECT_NE((*c)->cert_pem().find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST_F(TlsContextTest, EachBadFileIsNamedByItsKey) {
  pki_.Issue("server");
  pki_.Issue("other");
  pki_.Issue("old", -10, -1);
  TlsOptions o = Options("server");
  o.cert_file = pki_.path("missing.pem");
  EXPECT_EQ(Error(o), "tls.cert_file: cannot read '" + pki_.path("missing.pem") + "'");
  o = Options("server");
  o.cert_file = o.key_file;
  EXPECT_EQ(Error(o), "tls.cert_file: not a PEM certificate");
  o = Options("server");
  o.key_file = o.cert_file;
  EXPECT_EQ(Error(o), "tls.key_file: not a PEM private key (or it is encrypted)");
  o = Options("server");
  o.key_file = pki_.path("other.key");
  EXPECT_EQ(Error(o), "tls.key_file: the key does not match the certificate in tls.cert_file");
  EXPECT_EQ(Error(Options("old")).rfind("tls.cert_file: expired on ", 0), 0u);
  o = Options("server");
  o.min_version = "1.1";
  EXPECT_EQ(Error(o), "tls.min_version: \"1.1\" is not \"1.2\" or \"1.3\"");
  o = Options("server");
  o.client_ca_file = pki_.path("server.key");
  EXPECT_EQ(Error(o), "tls.client_ca_file: no PEM certificate in it");
  o = Options("server");
  o.key_file.clear();
  EXPECT_EQ(Error(o), "tls: a TLS listener needs tls.cert_file and tls.key_file");
  { std::ofstream(pki_.path("empty.pem")).flush(); }
  o = Options("server");
  o.cert_file = pki_.path("empty.pem");
  EXPECT_EQ(Error(o), "tls.cert_file: '" + pki_.path("empty.pem") + "' is empty");
}

TEST_F(TlsContextTest, ReplaceGivesNewConnectionsTheNewContextAndKeepsTheOld) {
  pki_.Issue("first");
  pki_.Issue("second");
  auto first = TlsContext::Create(Options("first"));
  auto second = TlsContext::Create(Options("second"));
  ASSERT_TRUE(first.ok() && second.ok());
  TlsServer server(*first, std::chrono::seconds(1));
  std::shared_ptr<const TlsContext> held = server.Current();  // as a connection holds it
  server.Replace(*second);
  EXPECT_EQ(server.Current(), *second);
  EXPECT_EQ(held, *first);  // still alive for whoever began with it
}

}  // namespace
}  // namespace herald::io
