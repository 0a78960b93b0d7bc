// Hooks over gRPC: the backend implements herald.v1.Hooks
// (api/herald/v1/hooks.proto). Calls go through gRPC's callback API on one
// channel; `done` runs on gRPC's completion thread; nothing waits.
#pragma once

#include <memory>
#include <string>

#include "herald/hooks.h"
#include "herald/status.h"

namespace herald::hooks {

class GrpcHooks final : public Hooks {
 public:
  // `target`: "127.0.0.1:9001" (plaintext; the backend is the operator's own).
  static Result<std::shared_ptr<GrpcHooks>> Create(const std::string& target);
  ~GrpcHooks() override;

  void Call(HookRequest request, std::function<void(Result<HookDecision>)> done) override;

  struct Impl;

 private:
  explicit GrpcHooks(std::shared_ptr<Impl> impl);
  // Shared with the calls in flight: the channel outlives them.
  const std::shared_ptr<Impl> impl_;
};

}  // namespace herald::hooks
