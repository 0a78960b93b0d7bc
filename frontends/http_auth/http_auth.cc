#include "frontends/http_auth/http_auth.h"

#include <chrono>

namespace herald::httpauth {

std::optional<std::string_view> PresentedToken(const http::Request& req) {
  if (std::optional<std::string_view> h = req.header("Authorization")) {
    constexpr std::string_view kBearer = "Bearer ";
    if (h->size() > kBearer.size()) {
      bool bearer = true;
      for (size_t i = 0; i < kBearer.size(); ++i) {
        const char c = (*h)[i];
        bearer &= (c | 0x20) == (kBearer[i] | 0x20);  // the scheme is case-insensitive
      }
      if (bearer) return h->substr(kBearer.size());
    }
    return std::string_view();  // a header that is not a bearer token: invalid, not absent
  }
  return req.query.Get("token");
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<IdentityPtr> Authenticate(const auth::JwtVerifier* verifier, const http::Request& req) {
  if (!verifier) {
    static const IdentityPtr kOpen = [] {
      auto id = std::make_shared<auth::Identity>();
      id->subject = "anonymous";
      id->anonymous = true;
      id->grants.all = true;
      return id;
    }();
    return kOpen;
  }
  std::optional<std::string_view> token = PresentedToken(req);
  Result<auth::Identity> id =
      token ? verifier->Verify(*token, NowSeconds()) : verifier->Anonymous();
  if (!id.ok()) return id.status();
  return std::make_shared<const auth::Identity>(std::move(*id));
}

void SendUnauthenticated(http::Response& res, const Status& why) {
  http::HeaderList h;
  h.Add("WWW-Authenticate", "Bearer");
  res.SendError(401, "unauthenticated", why.message(), std::move(h));
}

void SendDenied(http::Response& res, std::string_view what) {
  res.SendError(403, "permission_denied", std::string("permission denied: ") + std::string(what));
}

}  // namespace herald::httpauth
