#include "tests/io/test_pki.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>

namespace herald::io::testing {
namespace {

EVP_PKEY* NewKey() { return EVP_EC_gen("P-256"); }

void WritePem(const std::string& path, EVP_PKEY* key, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  if (key) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  if (cert) PEM_write_X509(f, cert);
  std::fclose(f);
}

X509* Make(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, int from_days,
           int to_days, bool ca) {
  static long serial = 1;
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), static_cast<long>(from_days) * 86400);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(to_days) * 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  const char* ext = ca ? "critical,CA:TRUE" : "CA:FALSE";
  if (X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, ext)) {
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  if (!ca) {
    if (X509_EXTENSION* e =
            X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1")) {
      X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    }
  }
  X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
  return x;
}

}  // namespace

TestPki::TestPki() {
  char tmpl[] = "/tmp/herald-pki-XXXXXX";
  dir_ = mkdtemp(tmpl);
  EVP_PKEY* key = NewKey();
  X509* ca = Make(key, "herald test ca", nullptr, nullptr, -1, 30, true);
  WritePem(path("ca.key"), key, nullptr);
  WritePem(path("ca.pem"), nullptr, ca);
  X509_free(ca);
  EVP_PKEY_free(key);
}

TestPki::~TestPki() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void TestPki::Issue(const std::string& name, int from_days, int to_days) {
  FILE* f = std::fopen(path("ca.key").c_str(), "r");
  EVP_PKEY* ca_key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  f = std::fopen(path("ca.pem").c_str(), "r");
  X509* ca = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  EVP_PKEY* key = NewKey();
  X509* cert = Make(key, name.c_str(), ca, ca_key, from_days, to_days, false);
  WritePem(path(name + ".key"), key, nullptr);
  WritePem(path(name + ".pem"), nullptr, cert);
  X509_free(cert);
  EVP_PKEY_free(key);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
}

}  // namespace herald::io::testing
