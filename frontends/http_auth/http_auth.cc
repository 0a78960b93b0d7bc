#include "frontends/http_auth/http_auth.h"

#include "base/unix_time.h"

namespace herald::httpauth {

session::Credential CredentialOf(const http::Request& req) {
  if (std::optional<std::string_view> h = req.header("Authorization")) {
    constexpr std::string_view kBearer = "Bearer ";
    if (h->size() > kBearer.size()) {
      bool bearer = true;
      for (size_t i = 0; i < kBearer.size(); ++i) {
        const char c = (*h)[i];
        bearer &= (c | 0x20) == (kBearer[i] | 0x20);  // the scheme is case-insensitive
      }
      if (bearer) return session::Credential::Bearer(h->substr(kBearer.size()));
    }
    // A header that is not a bearer token: invalid, not absent.
    return session::Credential::Malformed(
        "invalid token: the Authorization header must be 'Bearer <token>'");
  }
  if (std::optional<std::string_view> token = req.query.Get("token")) {
    return session::Credential::Bearer(*token);
  }
  return session::Credential::None();
}

void SendRefused(http::Response& res, const Status& why) {
  switch (why.code()) {
    case ErrorCode::kUnauthenticated: {
      http::HeaderList h;
      h.Add("WWW-Authenticate", "Bearer");
      res.SendError(401, "unauthenticated", why.message(), std::move(h));
      return;
    }
    case ErrorCode::kResourceExhausted:
      // At admission this is the user's connection slots: a per-client limit.
      res.SendError(429, ErrorCodeName(why.code()), why.message());
      return;
    default:
      res.SendError(why);
  }
}

}  // namespace herald::httpauth
