// [hooks]'s transport, made from what ApplyToml read.
#include "hooks/grpc_hooks.h"
#include "hooks/http_hooks.h"
#include "server/config.h"

namespace herald::server {

Status BuildHooks(Config& c) {
  if (!c.hooks_url.empty()) {
    Result<std::shared_ptr<hooks::HttpHooks>> h =
        hooks::HttpHooks::Create({c.hooks_url, c.hooks_connections});
    if (!h.ok()) return h.status();
    c.server.hooks.hooks = std::move(*h);
  } else if (!c.hooks_grpc_target.empty()) {
    Result<std::shared_ptr<hooks::GrpcHooks>> h = hooks::GrpcHooks::Create(c.hooks_grpc_target);
    if (!h.ok()) return h.status();
    c.server.hooks.hooks = std::move(*h);
  }
  return Status::Ok();
}

}  // namespace herald::server
