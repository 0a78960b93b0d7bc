#include "auth/jwt_verifier.h"

#include <jwt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <cstdlib>

#include "base/base64.h"

namespace herald::auth {
namespace {

Status Invalid(std::string why) {
  return Status(ErrorCode::kInvalidArgument, "invalid token: " + std::move(why));
}

std::optional<std::string> Base64UrlDecode(std::string_view s) {
  if (s.size() % 4 == 1) return std::nullopt;
  std::string std64(s);
  for (char& c : std64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (std64.size() % 4 != 0) std64 += '=';
  return Base64Decode(std64);
}

// A claim that is an array of strings, or (with `one_ok`) a single string,
// as `aud` may be. Grants must be arrays: a grant is a list of patterns.
bool StringList(simdjson::ondemand::value v, std::vector<std::string>& out, size_t max_items,
                bool one_ok) {
  if (one_ok && v.type() == simdjson::ondemand::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    out.emplace_back(s);
    return true;
  }
  simdjson::ondemand::array a;
  if (v.get_array().get(a)) return false;
  for (auto item : a) {
    std::string_view s;
    if (item.get_string().get(s) || out.size() >= max_items) return false;
    out.emplace_back(s);
  }
  return true;
}

Status CheckPublicKey(const JwtKey& k) {
  BIO* bio = BIO_new_mem_buf(k.public_pem.data(), static_cast<int>(k.public_pem.size()));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!pkey) return Status(ErrorCode::kInvalidArgument, "auth key: not a PEM public key");
  const int id = EVP_PKEY_get_base_id(pkey);
  const int bits = EVP_PKEY_get_bits(pkey);
  EVP_PKEY_free(pkey);
  if (k.alg == "RS256" && (id != EVP_PKEY_RSA || bits < 2048)) {
    return Status(ErrorCode::kInvalidArgument,
                  "auth key: RS256 needs an RSA key of 2048 bits or more");
  }
  if (k.alg == "ES256" && (id != EVP_PKEY_EC || bits != 256)) {
    return Status(ErrorCode::kInvalidArgument, "auth key: ES256 needs a P-256 EC key");
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const JwtVerifier::State>> JwtVerifier::MakeState(
    const AuthOptions& options) {
  for (const JwtKey& k : options.keys) {
    if (k.alg == "HS256") {
      if (k.secret.size() < 32) {
        return Status(ErrorCode::kInvalidArgument,
                      "auth key: an HS256 secret needs 32 bytes or more");
      }
    } else if (k.alg == "RS256" || k.alg == "ES256") {
      if (Status s = CheckPublicKey(k); !s.ok()) return s;
    } else {
      return Status(ErrorCode::kInvalidArgument,
                    "auth key: alg must be HS256, RS256 or ES256, not '" + k.alg + "'");
    }
  }
  auto state = std::make_shared<State>();
  state->options = options;
  state->anonymous_allowed =
      options.anonymous == AuthOptions::Anonymous::kAllow ||
      (options.anonymous == AuthOptions::Anonymous::kDefault && options.keys.empty());
  return std::shared_ptr<const State>(std::move(state));
}

Result<std::shared_ptr<const JwtVerifier>> JwtVerifier::Create(const AuthOptions& options) {
  Result<std::shared_ptr<const State>> state = MakeState(options);
  if (!state.ok()) return state.status();
  return std::shared_ptr<const JwtVerifier>(new JwtVerifier(std::move(*state)));
}

Status JwtVerifier::Reload(const AuthOptions& options) const {
  Result<std::shared_ptr<const State>> state = MakeState(options);
  if (!state.ok()) return state.status();
  per_user_.set_max(options.max_connections_per_user);
  state_.Set(std::move(*state));
  return Status::Ok();
}

std::shared_ptr<void> JwtVerifier::TakeConnectionSlot(const Identity& id) const {
  static const std::shared_ptr<void> kUnlimited = std::make_shared<int>(0);
  if (id.anonymous) return kUnlimited;
  // Counted without a cap too: a reload may set one, and the connections
  // open then must count against it.
  return per_user_.Take(id.subject);
}

void JwtVerifier::AddRuleGrants(const State& s, Identity& id) {
  for (const AuthRule& r : s.options.rules) {
    const bool applies =
        id.anonymous ? r.subject == "anonymous" : (r.subject == "*" || r.subject == id.subject);
    if (!applies) continue;
    id.grants.publish.insert(id.grants.publish.end(), r.publish.begin(), r.publish.end());
    id.grants.subscribe.insert(id.grants.subscribe.end(), r.subscribe.begin(), r.subscribe.end());
    id.grants.queues.insert(id.grants.queues.end(), r.queues.begin(), r.queues.end());
    id.grants.admin.insert(id.grants.admin.end(), r.admin.begin(), r.admin.end());
  }
}

Result<Identity> JwtVerifier::Anonymous() const {
  const std::shared_ptr<const State> s = state();
  if (!s->anonymous_allowed) {
    return Status(ErrorCode::kPermissionDenied, "a token is required");
  }
  Identity id;
  id.subject = "anonymous";
  id.anonymous = true;
  // No key and no rule: the node is open (a single trusted host).
  id.grants.all = s->options.keys.empty() && s->options.rules.empty();
  AddRuleGrants(*s, id);
  return id;
}

Result<Identity> JwtVerifier::Verify(std::string_view token, int64_t now_s) const {
  // One snapshot for the whole check: a reload meanwhile does not mix keys
  // and rules of two configurations.
  const std::shared_ptr<const State> s = state();
  const AuthOptions& options = s->options;
  if (options.keys.empty()) return Invalid("no key is configured to verify tokens");
  // 1. Bounded and shaped before libjwt sees it (it alloca()s segments).
  if (token.size() > options.max_token_bytes) return Invalid("longer than max_token_bytes");
  size_t dots = 0;
  for (unsigned char c : token) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return Invalid("a character outside base64url");
    dots += c == '.';
  }
  const size_t d1 = token.find('.');
  const size_t d2 = token.find('.', d1 + 1);
  if (dots != 2 || d1 == 0 || d2 == d1 + 1 || d2 + 1 == token.size()) {
    return Invalid("not three non-empty segments");
  }
  // 2. The header, read here: alg must be exactly the pinned one.
  std::optional<std::string> header = Base64UrlDecode(token.substr(0, d1));
  if (!header) return Invalid("header is not base64url");
  simdjson::ondemand::parser parser;
  simdjson::padded_string header_json(*header);
  simdjson::ondemand::document hdoc;
  simdjson::ondemand::object hobj;
  if (parser.iterate(header_json).get(hdoc) || hdoc.get_object().get(hobj)) {
    return Invalid("header is not a JSON object");
  }
  std::string alg, kid;
  int alg_count = 0;
  for (auto field : hobj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return Invalid("header is not valid JSON");
    std::string_view value;
    if (key == "alg") {
      if (field.value().get_string().get(value)) return Invalid("alg is not a string");
      alg = value;
      ++alg_count;
    } else if (key == "kid") {
      if (field.value().get_string().get(value)) return Invalid("kid is not a string");
      kid = value;
    } else if (key == "crit" || key == "zip" || key == "jku" || key == "jwk" || key == "x5u") {
      return Invalid("header parameter '" + std::string(key) + "' is not supported");
    }
  }
  if (alg_count != 1) return Invalid("header must carry exactly one alg");
  const JwtKey* key = nullptr;
  for (const JwtKey& k : options.keys) {
    if (k.alg != alg) continue;
    if (!kid.empty() && k.kid != kid) continue;
    key = &k;
    break;
  }
  if (!key)
    return Invalid("no key for alg '" + alg + "'" + (kid.empty() ? "" : " kid '" + kid + "'"));
  // 3. The signature, by libjwt, with that key (never an empty one).
  const std::string& material = key->alg == "HS256" ? key->secret : key->public_pem;
  if (material.empty()) return Invalid("key has no material");
  const std::string token_z(token);
  jwt_t* jwt = nullptr;
  const int decoded =
      jwt_decode(&jwt, token_z.c_str(), reinterpret_cast<const unsigned char*>(material.data()),
                 static_cast<int>(material.size()));
  // libjwt leaves a failed check's OpenSSL errors on this (loop) thread's
  // queue; nothing else here should find them.
  ERR_clear_error();
  if (decoded != 0 || !jwt) {
    jwt_free(jwt);
    return Invalid("bad signature or malformed token");
  }
  const bool alg_ok = jwt_get_alg(jwt) == jwt_str_alg(key->alg.c_str());
  char* claims_c = jwt_get_grants_json(jwt, nullptr);
  std::string claims = claims_c ? claims_c : "";
  std::free(claims_c);
  jwt_free(jwt);
  if (!alg_ok) return Invalid("alg mismatch after verification");
  // 4. The claims, from libjwt's verified (and re-serialised) JSON.
  simdjson::padded_string claims_json(claims);
  simdjson::ondemand::document cdoc;
  simdjson::ondemand::object cobj;
  if (claims.empty() || parser.iterate(claims_json).get(cdoc) || cdoc.get_object().get(cobj)) {
    return Invalid("claims are not a JSON object");
  }
  Identity id;
  bool have_exp = false;
  int64_t nbf = 0;
  bool have_nbf = false;
  std::string iss;
  std::vector<std::string> aud;
  for (auto field : cobj) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return Invalid("claims are not valid JSON");
    simdjson::ondemand::value v;
    if (field.value().get(v)) return Invalid("claims are not valid JSON");
    if (name == "exp" || name == "nbf") {
      int64_t t;
      if (v.get_int64().get(t)) return Invalid(std::string(name) + " is not an integer");
      if (name == "exp") {
        id.expires_at_s = t;
        have_exp = true;
      } else {
        nbf = t;
        have_nbf = true;
      }
    } else if (name == "sub") {
      std::string_view s;
      if (v.get_string().get(s)) return Invalid("sub is not a string");
      id.subject = s;
    } else if (name == "jti") {
      std::string_view s;
      if (v.get_string().get(s)) return Invalid("jti is not a string");
      if (s.size() > 256) return Invalid("jti is over 256 bytes");
      id.token_id = s;
    } else if (name == "iat") {
      // A NumericDate may have a fraction (RFC 7519 §2): whole seconds are kept.
      double t = 0;
      if (v.get_double().get(t) || !(t >= 0 && t < 1e13)) return Invalid("iat is not a time");
      id.issued_at_s = static_cast<int64_t>(t);
    } else if (name == "iss") {
      std::string_view s;
      if (v.get_string().get(s)) return Invalid("iss is not a string");
      iss = s;
    } else if (name == "aud") {
      if (!StringList(v, aud, 64, true)) return Invalid("aud is not a string or a list of strings");
    } else if (name == "herald") {
      simdjson::ondemand::object g;
      if (v.get_object().get(g)) return Invalid("the herald claim is not an object");
      for (auto gf : g) {
        std::string_view gname;
        simdjson::ondemand::value gv;
        if (gf.unescaped_key().get(gname) || gf.value().get(gv)) return Invalid("bad herald claim");
        if (gname == "info") {
          // Who the client is to others (presence): an object, kept as text.
          simdjson::ondemand::object info;
          std::string_view text;
          if (gv.get_object().get(info) || info.raw_json().get(text)) {
            return Invalid("herald.info is not an object");
          }
          id.info = text;
          continue;
        }
        std::vector<std::string>* into = gname == "publish"     ? &id.grants.publish
                                         : gname == "subscribe" ? &id.grants.subscribe
                                         : gname == "queues"    ? &id.grants.queues
                                         : gname == "admin"     ? &id.grants.admin
                                                                : nullptr;
        if (!into) continue;
        if (!StringList(gv, *into, 256, false)) {
          return Invalid("herald." + std::string(gname) + " is not a list of patterns");
        }
      }
    }
  }
  const int64_t leeway = std::chrono::duration_cast<std::chrono::seconds>(options.leeway).count();
  if (!have_exp) return Invalid("no exp claim");
  if (now_s > id.expires_at_s + leeway) return Invalid("expired");
  if (have_nbf && now_s + leeway < nbf) return Invalid("not valid yet (nbf)");
  if (!options.issuer.empty() && iss != options.issuer) return Invalid("wrong issuer");
  if (!options.audience.empty() &&
      std::find(aud.begin(), aud.end(), options.audience) == aud.end()) {
    return Invalid("wrong audience");
  }
  if (id.subject.empty()) id.subject = "?";
  AddRuleGrants(*s, id);
  return id;
}

Result<std::string> ClientInfo(std::string_view json, size_t max_bytes) {
  if (json.size() > max_bytes) {
    return Status(ErrorCode::kInvalidArgument,
                  "info is over " + std::to_string(max_bytes) + " bytes");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Status(ErrorCode::kInvalidArgument, "info must be a JSON object");
  }
  // Minified, it may grow (1e9 is written 1000000000.0): the bound is on
  // what is kept.
  std::string text = simdjson::minify(root);
  if (text.size() > max_bytes) {
    return Status(ErrorCode::kInvalidArgument,
                  "info is over " + std::to_string(max_bytes) + " bytes");
  }
  return text;
}

}  // namespace herald::auth
