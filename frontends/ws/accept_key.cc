#include "frontends/ws/accept_key.h"

#include <openssl/evp.h>

#include "base/base64.h"

namespace herald::ws {

std::string ComputeAcceptKey(std::string_view key) {
  // RFC 6455 §1.3: the GUID every server appends before hashing.
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input;
  input.reserve(key.size() + kGuid.size());
  input.append(key).append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha1(), nullptr) != 1) {
    return {};  // only on allocation failure inside OpenSSL
  }
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(digest), digest_len));
}

}  // namespace herald::ws
