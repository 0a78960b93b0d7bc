#include "tests/support/test_tokens.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>

#include "base/base64.h"

namespace herald::testing {

std::string B64Url(std::string_view bytes) {
  std::string s = Base64Encode(bytes);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string HsToken(std::string_view header, std::string_view payload, std::string_view key) {
  const std::string signing = B64Url(header) + "." + B64Url(payload);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return signing + "." + B64Url(std::string_view(reinterpret_cast<char*>(mac), len));
}

std::string Hs256Token(std::string_view secret, std::string_view claims_json) {
  return HsToken(R"({"alg":"HS256","typ":"JWT"})", claims_json, secret);
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace herald::testing
