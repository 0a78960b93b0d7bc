// OpenSSL objects owned by unique_ptr, freed by their own free functions.
// Header-only: a module using them links OpenSSL's libcrypto itself.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace herald::openssl {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

// The passphrase callback for keys read at start: none. An encrypted key
// is then refused instead of OpenSSL asking for its passphrase on the
// terminal (which would block heraldd --check-config).
inline int NoPassphrase(char*, int, int, void*) { return -1; }

// A read-only BIO over `pem` (which must outlive it).
inline Bio MemBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace herald::openssl
