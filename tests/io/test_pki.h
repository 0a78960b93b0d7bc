// tests/io/test_pki.h — certificates made in-process for TLS tests (EC
// P-256, OpenSSL's API), written as PEM files into a scratch directory.
#pragma once

#include <string>

namespace herald::io::testing {

class TestPki {
 public:
  TestPki();   // a fresh directory, and a CA "ca" in it
  ~TestPki();  // removes the directory
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // `name`.pem and `name`.key: a certificate for 127.0.0.1 signed by the
  // CA, valid from `from_days` to `to_days` around now (negative: past).
  void Issue(const std::string& name, int from_days = -1, int to_days = 2);
  std::string path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  std::string dir_;
};

}  // namespace herald::io::testing
