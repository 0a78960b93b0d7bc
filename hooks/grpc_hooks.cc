#include "hooks/grpc_hooks.h"

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "herald/v1/hooks.grpc.pb.h"

namespace herald::hooks {
namespace {

void ToProto(const HookRequest& r, v1::HookRequest& p) {
  p.set_client(r.client);
  p.set_user(r.user);
  p.set_anonymous(r.anonymous);
  p.set_transport(r.transport);
  p.set_info(r.info);
  p.set_token(r.token);
  p.set_topic(r.topic);
  p.set_data(r.data);
  p.set_content_type(r.content_type);
}

std::vector<std::string> List(const google::protobuf::RepeatedPtrField<std::string>& in) {
  return {in.begin(), in.end()};
}

HookDecision FromProto(const v1::HookDecision& p) {
  HookDecision d;
  d.allow = p.allow();
  d.code = p.code();
  d.message = p.message();
  if (p.has_user()) d.user = p.user();
  if (p.has_info()) d.info = p.info();
  if (p.has_grants()) {
    d.grants = HookGrants{List(p.grants().publish()), List(p.grants().subscribe()),
                          List(p.grants().queues()), List(p.grants().admin())};
  }
  d.expires_at = p.expires_at();
  if (p.has_data()) d.data = p.data();
  return d;
}

// The hooks whose call's callback this thread is running: their destructor,
// if it runs there (the last reference dropped in a `done`), cannot wait
// for that call.
thread_local const void* t_in_callback = nullptr;

// One call's state, alive until its callback.
struct Call {
  grpc::ClientContext context;
  v1::HookRequest request;
  v1::HookDecision answer;
  std::function<void(Result<HookDecision>)> done;
};

}  // namespace

struct GrpcHooks::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Hooks::Stub> stub;
  // Calls in flight, cancelled and waited for when the hooks go away (their
  // callbacks may reach the broker, which must still be there).
  std::mutex mu;
  std::condition_variable idle;
  std::set<grpc::ClientContext*> calls;
};

Result<std::shared_ptr<GrpcHooks>> GrpcHooks::Create(const std::string& target) {
  if (target.empty()) return Status(ErrorCode::kInvalidArgument, "hooks grpc_target is empty");
  auto impl = std::make_shared<Impl>();
  impl->channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  impl->stub = v1::Hooks::NewStub(impl->channel);
  return std::shared_ptr<GrpcHooks>(new GrpcHooks(std::move(impl)));
}

GrpcHooks::GrpcHooks(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcHooks::~GrpcHooks() {
  std::unique_lock lock(impl_->mu);
  for (grpc::ClientContext* c : impl_->calls) c->TryCancel();
  if (t_in_callback == impl_.get()) return;  // the others end by themselves
  impl_->idle.wait(lock, [&] { return impl_->calls.empty(); });
}

void GrpcHooks::Call(HookRequest request, std::function<void(Result<HookDecision>)> done) {
  auto* call = new hooks::Call;
  call->context.set_deadline(std::chrono::system_clock::now() + request.timeout);
  ToProto(request, call->request);
  call->done = std::move(done);
  {
    std::lock_guard lock(impl_->mu);
    impl_->calls.insert(&call->context);
  }
  auto finished = [call, impl = impl_](grpc::Status status) {
    // Left last, after the call (and what its `done` holds) is gone: the
    // destructor may be waiting, and returns once the set is empty.
    struct Leave {
      Impl* impl;
      grpc::ClientContext* context;
      const void* outer;
      ~Leave() {
        t_in_callback = outer;
        std::lock_guard lock(impl->mu);
        impl->calls.erase(context);
        if (impl->calls.empty()) impl->idle.notify_all();
      }
    } leave{impl.get(), &call->context, t_in_callback};
    t_in_callback = impl.get();
    std::unique_ptr<hooks::Call> owned(call);
    if (status.ok()) return call->done(FromProto(call->answer));
    const std::string why = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                                ? "no answer in time"
                                : status.error_message();
    call->done(Status(ErrorCode::kUnavailable, "hook backend: " + why));
  };
  auto* async = impl_->stub->async();
  switch (request.event) {
    case HookEvent::kConnect:
      return async->Connect(&call->context, &call->request, &call->answer, std::move(finished));
    case HookEvent::kSubscribe:
      return async->Subscribe(&call->context, &call->request, &call->answer, std::move(finished));
    case HookEvent::kPublish:
      return async->Publish(&call->context, &call->request, &call->answer, std::move(finished));
    case HookEvent::kRefresh:
      return async->Refresh(&call->context, &call->request, &call->answer, std::move(finished));
  }
}

}  // namespace herald::hooks
