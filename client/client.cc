#include "herald/client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "client/credentials.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald {

class Client::Impl {
 public:
  explicit Impl(ClientOptions o) : options(std::move(o)), tokens(options) {
    Result<std::shared_ptr<grpc::Channel>> made = client::MakeChannel(options);
    if (!made.ok()) {
      setup = made.status();
      return;
    }
    channel = std::move(*made);
    stub = v1::Broker::NewStub(channel);
  }

  // Ready to call: the channel was made and `ctx` carries the token (the
  // token sent is kept in `*sent`, to be dropped if the node refuses it).
  Status Prepare(grpc::ClientContext& ctx, std::string* sent) {
    if (!setup.ok()) return setup;
    Result<std::string> token = tokens.Get();
    if (!token.ok()) {
      return Status(ErrorCode::kUnauthenticated, "no token: " + token.status().message());
    }
    if (!token->empty()) ctx.AddMetadata("authorization", "Bearer " + *token);
    *sent = std::move(*token);
    return Status::Ok();
  }
  // After a call: an UNAUTHENTICATED answer means the token is no good (it
  // expired, or was revoked); the next call asks the provider again.
  void Answered(const grpc::Status& s, const std::string& sent) {
    if (s.error_code() == grpc::UNAUTHENTICATED) tokens.Refused(sent);
  }

  ClientOptions options;
  client::TokenSource tokens;
  Status setup;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Broker::Stub> stub;
};

namespace {

// The code Herald names `name` (ErrorCodeName), if any.
std::optional<ErrorCode> CodeNamed(std::string_view name) {
  for (int c = 1; c <= static_cast<int>(kLastErrorCode); ++c) {
    if (ErrorCodeName(static_cast<ErrorCode>(c)) == name) return static_cast<ErrorCode>(c);
  }
  return std::nullopt;
}

// The node names its own error code in trailing metadata ("herald-error");
// without it (the node unreachable, say) the gRPC code decides.
Status FromGrpc(const grpc::Status& s, const grpc::ClientContext& ctx) {
  if (s.ok()) return Status::Ok();
  const auto& trailers = ctx.GetServerTrailingMetadata();
  if (auto it = trailers.find("herald-error"); it != trailers.end()) {
    const std::string_view name(it->second.data(), it->second.size());
    if (std::optional<ErrorCode> code = CodeNamed(name)) return Status(*code, s.error_message());
  }
  switch (s.error_code()) {
    case grpc::INVALID_ARGUMENT:
      return Status(ErrorCode::kInvalidArgument, s.error_message());
    case grpc::DEADLINE_EXCEEDED:
      return Status(ErrorCode::kTimeout, s.error_message());
    case grpc::NOT_FOUND:
      return Status(ErrorCode::kNotFound, s.error_message());
    case grpc::PERMISSION_DENIED:
      return Status(ErrorCode::kPermissionDenied, s.error_message());
    case grpc::UNAUTHENTICATED:
      return Status(ErrorCode::kUnauthenticated, s.error_message());
    case grpc::UNAVAILABLE:
    case grpc::CANCELLED:
      return Status(ErrorCode::kUnavailable, s.error_message());
    default:
      return Status(ErrorCode::kInternal, s.error_message());
  }
}

void FillPublish(v1::PublishRequest& r, std::string_view topic, std::string payload,
                 const PublishOptions& o) {
  r.set_topic(std::string(topic));
  r.set_payload(std::move(payload));
  r.set_content_type(o.content_type);
  for (const Header& h : o.headers) (*r.mutable_headers())[h.name] = h.value;
  r.set_msg_id(o.msg_id);
}

MessagePtr FromProto(const v1::Message& p) {
  auto m = std::make_shared<Message>();
  m->topic = p.topic();
  m->payload = p.payload();
  m->content_type = p.content_type();
  m->reply_to = p.reply_to();
  m->msg_id = p.msg_id();
  for (const auto& [k, v] : p.headers()) m->headers.push_back({k, v});
  m->epoch = p.epoch();
  m->offset = p.offset();
  m->timestamp_us = p.timestamp_us();
  return m;
}

Gap FromProto(const v1::Gap& p) {
  Gap g;
  g.topic = p.topic();
  g.reason = p.reason() == v1::Gap::EPOCH_CHANGED   ? GapReason::kEpochChanged
             : p.reason() == v1::Gap::SLOW_CONSUMER ? GapReason::kSlowConsumer
                                                    : GapReason::kTrimmed;
  g.epoch = p.epoch();
  g.from_offset = p.from_offset();
  g.to_offset = p.to_offset();
  return g;
}

Job JobFromProto(const v1::Job& p) {
  Job job;
  job.queue = p.queue();
  job.handle = p.handle();
  job.deliveries = p.deliveries();
  job.message = FromProto(p.message());
  return job;
}

// How a stream session ended: whether it got far enough to count as
// connected (which resets the backoff), and the call's status.
struct Ended {
  bool connected = false;
  grpc::Status status;
};

// A thread that keeps one stream open: run `session` until it ends, then
// wait (exponential backoff with full jitter) and run it again, until
// stopped. A connected session ended by its token (UNAUTHENTICATED: it
// expired) starts again at once, with a new token from the provider.
class Reconnector : public Client::Handle {
 public:
  explicit Reconnector(std::shared_ptr<Client::Impl> impl)
      : impl_(std::move(impl)),
        min_(impl_->options.reconnect_min),
        max_(impl_->options.reconnect_max) {}
  ~Reconnector() override { Stop(); }

  uint64_t connects() const override { return connects_.load(); }

 protected:
  void Run(std::function<Ended(grpc::ClientContext&)> session) {
    thread_ = std::thread([this, session = std::move(session)] {
      std::mt19937_64 rng(std::random_device{}());
      auto backoff = min_;
      while (!stopping_.load()) {
        grpc::ClientContext ctx;
        {
          std::lock_guard lock(mu_);
          if (stopping_) break;
          current_ = &ctx;
        }
        std::string token;
        Ended ended;
        if (Status ready = impl_->Prepare(ctx, &token); ready.ok()) ended = session(ctx);
        {
          std::lock_guard lock(mu_);
          current_ = nullptr;
        }
        impl_->Answered(ended.status, token);
        if (ended.connected) backoff = min_;
        if (ended.connected && ended.status.error_code() == grpc::UNAUTHENTICATED) continue;
        std::uniform_int_distribution<int64_t> jitter(0, backoff.count());
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(jitter(rng)),
                     [this] { return stopping_.load(); });
        backoff = std::min(max_, backoff * 2);
      }
    });
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (current_) current_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void CountConnect() { connects_.fetch_add(1); }

  const std::shared_ptr<Client::Impl> impl_;

 private:
  const std::chrono::milliseconds min_, max_;
  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext* current_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> connects_{0};
  std::thread thread_;
};

class SubscriptionHandle final : public Reconnector {
 public:
  SubscriptionHandle(std::shared_ptr<Client::Impl> impl, std::string pattern,
                     DeliveryCallback callback, SubscribeOptions options)
      : Reconnector(std::move(impl)),
        pattern_(std::move(pattern)),
        group_(options.queue_group),
        callback_(std::move(callback)) {
    for (const ResumePoint& p : options.resume) positions_[p.topic] = {p.epoch, p.after_offset};
    Run([this](grpc::ClientContext& ctx) { return Session(ctx); });
  }
  ~SubscriptionHandle() override { Stop(); }

 private:
  Ended Session(grpc::ClientContext& ctx) {
    v1::SubscribeRequest req;
    req.set_pattern(pattern_);
    req.set_queue_group(group_);
    // Resume every topic after the last message delivered: nothing missed,
    // nothing twice (queue-group members do not resume: the group moved on).
    if (group_.empty()) {
      for (const auto& [topic, pos] : positions_) {
        auto* p = req.add_resume();
        p->set_topic(topic);
        p->set_epoch(pos.first);
        p->set_after_offset(pos.second);
      }
    }
    auto reader = impl_->stub->Subscribe(&ctx, req);
    reader->WaitForInitialMetadata();  // the node sends it once subscribed
    bool connected = false;
    v1::SubscribeResponse r;
    while (reader->Read(&r)) {
      if (!connected) {
        connected = true;
        CountConnect();
      }
      Delivery d;
      Gap gap;
      if (r.has_message()) {
        d.message = FromProto(r.message());
        positions_[d.message->topic] = {d.message->epoch, d.message->offset};
      } else if (r.has_gap()) {
        gap = FromProto(r.gap());
        d.kind = Delivery::Kind::kGap;
        d.gap = &gap;
        if (gap.epoch != 0) positions_[gap.topic] = {gap.epoch, gap.to_offset};
      } else {
        continue;
      }
      callback_(d);
    }
    // Subscribed (the node's headers came) though nothing arrived: it was
    // connected, so a token's end reconnects at once and the backoff resets.
    if (!connected && !ctx.GetServerInitialMetadata().empty()) {
      connected = true;
      CountConnect();
    }
    return {connected, reader->Finish()};
  }

  const std::string pattern_;
  const std::string group_;
  DeliveryCallback callback_;
  std::map<std::string, std::pair<uint64_t, uint64_t>> positions_;  // session thread only
};

class ResponderHandle final : public Reconnector {
 public:
  ResponderHandle(std::shared_ptr<Client::Impl> impl, std::string topic,
                  Client::RequestHandler handler, std::string group)
      : Reconnector(std::move(impl)),
        topic_(std::move(topic)),
        group_(std::move(group)),
        handler_(std::move(handler)) {
    Run([this](grpc::ClientContext& ctx) { return Session(ctx); });
  }
  ~ResponderHandle() override { Stop(); }

 private:
  Ended Session(grpc::ClientContext& ctx) {
    auto stream = impl_->stub->Connect(&ctx);
    v1::ClientCommand sub;
    sub.set_id(1);
    sub.mutable_subscribe()->set_pattern(topic_);
    sub.mutable_subscribe()->set_queue_group(group_);
    if (!stream->Write(sub)) return {false, stream->Finish()};
    bool connected = false;
    v1::ServerEvent e;
    while (stream->Read(&e)) {
      if (e.has_subscribed() && !connected) {
        connected = true;
        CountConnect();
      }
      if (!e.has_delivery() || !e.delivery().has_message()) continue;
      const v1::Message& request = e.delivery().message();
      if (request.reply_to().empty()) continue;  // a plain publish, not a request
      MessagePtr m = FromProto(request);
      Result<std::string> answer = handler_(*m);
      if (!answer.ok()) continue;
      v1::ClientCommand reply;
      reply.set_id(2);
      reply.mutable_reply()->set_to(request.reply_to());
      reply.mutable_reply()->set_payload(std::move(*answer));
      if (!stream->Write(reply)) break;
    }
    return {connected, stream->Finish()};
  }

  const std::string topic_;
  const std::string group_;
  Client::RequestHandler handler_;
};

// A work queue's member on a Connect session: join, then jobs one way and
// settlements the other, each job settled before the next is read.
class WorkerHandle final : public Reconnector {
 public:
  WorkerHandle(std::shared_ptr<Client::Impl> impl, std::string queue, Client::JobHandler handler,
               uint32_t max_in_flight)
      : Reconnector(std::move(impl)),
        queue_(std::move(queue)),
        handler_(std::move(handler)),
        max_in_flight_(max_in_flight) {
    Run([this](grpc::ClientContext& ctx) { return Session(ctx); });
  }
  ~WorkerHandle() override { Stop(); }

 private:
  Ended Session(grpc::ClientContext& ctx) {
    auto stream = impl_->stub->Connect(&ctx);
    v1::ClientCommand join;
    join.set_id(1);
    join.mutable_join_queue()->set_queue(queue_);
    // Serial: one job at a time by default, so none waits here past its
    // ack_wait while another runs.
    join.mutable_join_queue()->set_max_in_flight(max_in_flight_ == 0 ? 1 : max_in_flight_);
    if (!stream->Write(join)) return {false, stream->Finish()};
    bool connected = false;
    uint64_t next_id = 2;
    v1::ServerEvent e;
    while (stream->Read(&e)) {
      if (e.has_joined() && !connected) {
        connected = true;
        CountConnect();
      }
      // The join refused (no such queue, no grant): try again after the
      // backoff rather than wait on a session that will get nothing.
      if (e.has_error() && e.id() == 1) break;
      if (!e.has_job()) continue;
      const Job job = JobFromProto(e.job());
      const Status done = handler_(job);
      v1::ClientCommand settle;
      settle.set_id(next_id++);
      settle.mutable_settle()->set_kind(done.ok() ? v1::ACK : v1::NACK);
      settle.mutable_settle()->set_handle(job.handle);
      if (!stream->Write(settle)) break;
    }
    return {connected, stream->Finish()};
  }

  const std::string queue_;
  Client::JobHandler handler_;
  const uint32_t max_in_flight_;
};

}  // namespace

Client::Client(ClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}
Client::~Client() = default;

Result<PublishAck> Client::Publish(std::string_view topic, std::string payload,
                                   PublishOptions options) {
  v1::PublishRequest req;
  FillPublish(req, topic, std::move(payload), options);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + impl_->options.call_timeout);
  v1::PublishAck ack;
  std::string token;
  if (Status ready = impl_->Prepare(ctx, &token); !ready.ok()) return ready;
  grpc::Status s = impl_->stub->Publish(&ctx, req, &ack);
  impl_->Answered(s, token);
  if (!s.ok()) return FromGrpc(s, ctx);
  return PublishAck{ack.epoch(), ack.offset(), ack.duplicate()};
}

void Client::PublishAsync(std::string_view topic, std::string payload, PublishOptions options,
                          std::function<void(Result<PublishAck>)> done) {
  // The call's state lives until its callback; it keeps the channel alive.
  struct Call {
    std::shared_ptr<Impl> impl;
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    v1::PublishAck ack;
    std::function<void(Result<PublishAck>)> done;
    std::string token;
  };
  std::unique_ptr<Call> call(new Call{impl_, {}, {}, {}, std::move(done), {}});
  FillPublish(call->req, topic, std::move(payload), options);
  call->ctx.set_deadline(std::chrono::system_clock::now() + impl_->options.call_timeout);
  if (Status ready = impl_->Prepare(call->ctx, &call->token); !ready.ok()) {
    if (call->done) call->done(ready);
    return;
  }
  Call* raw = call.release();  // freed by the completion
  impl_->stub->async()->Publish(&raw->ctx, &raw->req, &raw->ack, [call = raw](grpc::Status s) {
    call->impl->Answered(s, call->token);
    if (call->done) {
      if (s.ok()) {
        call->done(PublishAck{call->ack.epoch(), call->ack.offset(), call->ack.duplicate()});
      } else {
        call->done(FromGrpc(s, call->ctx));
      }
    }
    delete call;
  });
}

Result<MessagePtr> Client::Request(std::string_view topic, std::string payload,
                                   std::chrono::milliseconds timeout, PublishOptions options) {
  v1::RequestRequest req;
  req.set_topic(std::string(topic));
  req.set_payload(std::move(payload));
  req.set_content_type(options.content_type);
  for (const Header& h : options.headers) (*req.mutable_headers())[h.name] = h.value;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::Message reply;
  std::string token;
  if (Status ready = impl_->Prepare(ctx, &token); !ready.ok()) return ready;
  grpc::Status s = impl_->stub->Request(&ctx, req, &reply);
  impl_->Answered(s, token);
  if (!s.ok()) return FromGrpc(s, ctx);
  return FromProto(reply);
}

std::unique_ptr<Client::Handle> Client::Subscribe(std::string pattern, DeliveryCallback callback,
                                                  SubscribeOptions options) {
  return std::make_unique<SubscriptionHandle>(impl_, std::move(pattern), std::move(callback),
                                              std::move(options));
}

std::unique_ptr<Client::Handle> Client::Serve(std::string topic, RequestHandler handler,
                                              std::string group) {
  return std::make_unique<ResponderHandle>(impl_, std::move(topic), std::move(handler),
                                           std::move(group));
}

std::unique_ptr<Client::Handle> Client::Work(std::string queue, JobHandler handler,
                                             uint32_t max_in_flight) {
  return std::make_unique<WorkerHandle>(impl_, std::move(queue), std::move(handler), max_in_flight);
}

Result<std::vector<Job>> Client::Pull(std::string_view queue, uint32_t max,
                                      std::chrono::milliseconds wait) {
  v1::PullRequest req;
  req.set_queue(std::string(queue));
  req.set_max(max);
  req.set_wait_ms(static_cast<uint32_t>(std::clamp<int64_t>(wait.count(), 0, UINT32_MAX)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + wait + impl_->options.call_timeout);
  v1::PullResponse res;
  std::string token;
  if (Status ready = impl_->Prepare(ctx, &token); !ready.ok()) return ready;
  grpc::Status s = impl_->stub->Pull(&ctx, req, &res);
  impl_->Answered(s, token);
  if (!s.ok()) return FromGrpc(s, ctx);
  std::vector<Job> jobs;
  for (const v1::Job& j : res.jobs()) jobs.push_back(JobFromProto(j));
  return jobs;
}

Result<std::vector<Status>> Client::SettlePulled(const std::vector<std::string>& handles,
                                                 SettleKind kind) {
  v1::SettlePulledRequest req;
  switch (kind) {
    case SettleKind::kAck:
      req.set_kind(v1::ACK);
      break;
    case SettleKind::kNack:
      req.set_kind(v1::NACK);
      break;
    case SettleKind::kProgress:
      req.set_kind(v1::PROGRESS);
      break;
    case SettleKind::kTerm:
      req.set_kind(v1::TERM);
      break;
  }
  for (const std::string& h : handles) req.add_handles(h);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + impl_->options.call_timeout);
  v1::SettlePulledResponse res;
  std::string token;
  if (Status ready = impl_->Prepare(ctx, &token); !ready.ok()) return ready;
  grpc::Status s = impl_->stub->SettlePulled(&ctx, req, &res);
  impl_->Answered(s, token);
  if (!s.ok()) return FromGrpc(s, ctx);
  std::vector<Status> out;
  for (const v1::SettleResult& r : res.results()) {
    if (r.ok()) {
      out.push_back(Status::Ok());
      continue;
    }
    out.emplace_back(CodeNamed(r.reason()).value_or(ErrorCode::kInternal), r.message());
  }
  return out;
}

}  // namespace herald
