#include "jwt_fuzz_target.h"

#include <string_view>

#include "auth/jwt_verifier.h"

namespace herald::fuzz {
namespace {

// Fixed public keys (their private halves are nowhere): the fuzzer may
// build HS256 tokens signed with these PEM texts (the classic confusion).
constexpr const char* kRsaPem = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqMuC1B5Pk+OvQfA/Ed63
BqUF15ZiuQpCji/DMh6UipzxfcGHShTphznO5ATfGxq6KIjq2tDbU3VLBmI6MSQp
+Bf9VD5CPdEwudl1xwq3Ubw1/j6WR8hbtbhYPohX+xzQMIQlLDK/gxt7n7zNWILi
YsnlaFKS2oIrpKdLOdFAw9iRM96v+D7s8ROz9y2YAXXunVoxyzhwdUD6nrp50MCl
JihWIQn14QOeQDjezt/r5f7wgeJ3zdeDzcxcFicjvFqrc8ntDJlxF8S7+39ifC1A
Z6H2MSJ1GzNl1kFRAd9ZUtgLCqmulnOjcVEO0/NFU+jAskIO5/42tcvYKuuadNj8
LwIDAQAB
-----END PUBLIC KEY-----
)";
constexpr const char* kEcPem = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmXo0+hWsnFxUo/UtmVux3/Swhodj
COCuF8Vl9zw/PobAgWTVZ/d4W3LKsJ9AWPpAVrl22BMo+30Efp8Q27RU+w==
-----END PUBLIC KEY-----
)";

const auth::JwtVerifier& Verifier() {
  static const std::shared_ptr<const auth::JwtVerifier> v = [] {
    AuthOptions o;
    o.keys.push_back({"HS256", "hs", "fuzz-secret-0123456789abcdef-0123456789", ""});
    o.keys.push_back({"RS256", "rs", "", kRsaPem});
    o.keys.push_back({"ES256", "es", "", kEcPem});
    auto r = auth::JwtVerifier::Create(o);
    return r.ok() ? *r : nullptr;
  }();
  return *v;
}

}  // namespace

bool FuzzJwt(const uint8_t* data, size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  return !Verifier().Verify(token, 1'800'000'000).ok();
}

}  // namespace herald::fuzz
