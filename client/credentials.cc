#include "client/credentials.h"

#include <charconv>
#include <exception>
#include <fstream>
#include <sstream>

#include "base/base64.h"

namespace herald::client {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> ReadPem(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || text.str().empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "cannot read " + std::string(what) + " '" + path + "'");
  }
  return text.str();
}

}  // namespace

int64_t TokenExpiry(std::string_view token) {
  const size_t a = token.find('.');
  const size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (b == std::string_view::npos) return 0;
  std::string part(token.substr(a + 1, b - a - 1));
  for (char& c : part) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (part.size() % 4 != 0) part.push_back('=');
  std::optional<std::string> json = Base64Decode(part);
  if (!json) return 0;
  // Only to know when to renew: the node verifies the token itself.
  const size_t key = json->find("\"exp\"");
  if (key == std::string::npos) return 0;
  size_t i = json->find(':', key);
  if (i == std::string::npos) return 0;
  ++i;
  while (i < json->size() && (*json)[i] == ' ') ++i;
  int64_t exp = 0;
  auto [end, ec] = std::from_chars(json->data() + i, json->data() + json->size(), exp);
  (void)end;
  return ec == std::errc() && exp > 0 ? exp : 0;
}

Result<std::string> TokenSource::Get() {
  if (!provider_) return fixed_;
  {
    std::lock_guard lock(mu_);
    if (!held_.empty() && (renew_at_ms_ == 0 || NowMs() < renew_at_ms_)) return held_;
  }
  // Asked outside the lock: a slow provider holds up only the calls that
  // need a new token, and a provider may use this client itself.
  Result<std::string> fresh = Status(ErrorCode::kInternal, "");
  try {
    fresh = provider_();
  } catch (const std::exception& e) {
    fresh = Status(ErrorCode::kInternal, std::string("the token provider threw: ") + e.what());
  } catch (...) {
    fresh = Status(ErrorCode::kInternal, "the token provider threw");
  }
  if (!fresh.ok()) return fresh.status();
  const int64_t exp = TokenExpiry(*fresh);
  // Renewed `margin` before its end, or half-way through a shorter life.
  const int64_t now = NowMs();
  const int64_t left = exp * 1000 - now;
  std::lock_guard lock(mu_);
  held_ = *fresh;
  renew_at_ms_ =
      exp == 0 ? 0
               : now + std::max<int64_t>(0, left - std::min<int64_t>(margin_.count(), left / 2));
  return held_;
}

void TokenSource::Refused(const std::string& token) {
  std::lock_guard lock(mu_);
  if (token == held_) held_.clear();
}

Result<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& o) {
  if (!o.tls) return grpc::CreateChannel(o.target, grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions ssl;
  if (!o.tls_ca_file.empty()) {
    Result<std::string> ca = ReadPem(o.tls_ca_file, "tls_ca_file");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = std::move(*ca);
  }
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    Result<std::string> cert = ReadPem(o.tls_cert_file, "tls_cert_file");
    if (!cert.ok()) return cert.status();
    Result<std::string> key = ReadPem(o.tls_key_file, "tls_key_file");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = std::move(*cert);
    ssl.pem_private_key = std::move(*key);
  }
  grpc::ChannelArguments args;
  if (!o.tls_server_name.empty()) args.SetSslTargetNameOverride(o.tls_server_name);
  return grpc::CreateCustomChannel(o.target, grpc::SslCredentials(ssl), args);
}

}  // namespace herald::client
