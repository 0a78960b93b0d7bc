// herald/client.h — a C++ client of a Herald node's gRPC API (herald.v1).
//
// For backends in C++ that talk to a heraldd (or to a service embedding
// herald::Server with a gRPC port) over the network. The same types as the
// in-process Broker API; each call is one gRPC call:
//
//   herald::Client client({.target = "127.0.0.1:9090"});
//   herald::Result<herald::PublishAck> ack = client.Publish("payments.completed", body);
//   client.PublishAsync("analytics.click", body);   // fire and forget
//   herald::Result<herald::MessagePtr> verdict =
//       client.Request("judge.run", code, std::chrono::seconds(2));
//   auto sub = client.Subscribe("payments.>", [](const herald::Delivery& d) { ... });
//   auto worker = client.Subscribe("jobs.email", send_mail, {.queue_group = "mailers"});
//   auto judge = client.Serve("judge.run", [](const herald::Message& m) {
//     return herald::Result<std::string>(Judge(m.payload));
//   }, "judges");
//   auto mailer = client.Work("mail", [](const herald::Job& j) { return Send(j.message); });
//
// Subscriptions and responders run on a thread of their own and survive the
// node going away: they reconnect with exponential backoff and jitter, and a
// subscription resumes every topic after the last message it delivered (a
// Gap delivery says when history could not cover the outage). Destroying the
// handle stops it; no callback runs after the destructor returns.
//
// On a node with authentication, give `token` or `token_provider`
// (ClientOptions); with TLS, `tls` and the CA file.
//
// Thread rule: a Client may be used from any thread; callbacks of one
// subscription run one at a time, in order.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "herald/broker.h"
#include "herald/status.h"
#include "herald/work_queue.h"

namespace herald {

struct ClientOptions {
  std::string target = "127.0.0.1:9090";                             // HOST:PORT of the gRPC API
  std::chrono::milliseconds call_timeout = std::chrono::seconds(5);  // Publish
  std::chrono::milliseconds reconnect_min = std::chrono::milliseconds(100);
  std::chrono::milliseconds reconnect_max = std::chrono::seconds(5);

  // Credentials for a node with [auth]: sent as `authorization: Bearer` on
  // every call and every stream (re)connect. `token_provider`, when set,
  // wins over `token`: it is asked for a token when none is held, when the
  // one held is within `token_refresh_margin` of its `exp`, and after the
  // node answered UNAUTHENTICATED (an expired or revoked token). A stream
  // ended by its token's expiry reconnects at once with a new one (a
  // subscription resumes after its last message). The provider runs on the
  // calling thread (PublishAsync's included), never under a lock of the
  // client's; an error from it (or an exception) fails the call with
  // kUnauthenticated naming it, and a stream retries with backoff. Streams
  // renew by reconnecting: a Serve or Work handle's unsettled jobs and
  // unanswered requests at that moment are offered again or time out.
  std::string token;
  std::function<Result<std::string>()> token_provider;
  std::chrono::milliseconds token_refresh_margin = std::chrono::seconds(30);

  // TLS to the node (off: plaintext). The CA file (PEM) verifies the node's
  // certificate (empty: the system's roots); a certificate and key (PEM)
  // are the client's own, for a node that asks for one; `tls_server_name`
  // overrides the name checked against the node's certificate (default:
  // the host of `target`). A file that cannot be read fails every call
  // with kInvalidArgument naming it.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Acknowledged publish: where the message landed, or the node's error
  // (kInvalidTopic, kPayloadTooLarge, kUnavailable when unreachable…).
  Result<PublishAck> Publish(std::string_view topic, std::string payload,
                             PublishOptions options = {});
  // Fire-and-forget: returns at once. `done` (optional) runs later on a gRPC
  // thread with where the message landed or why it did not (at once, on
  // this thread, when the call cannot be made: no token, a TLS file
  // unread). The message is still acknowledged by the node; this only does
  // not wait for it.
  void PublishAsync(std::string_view topic, std::string payload, PublishOptions options = {},
                    std::function<void(Result<PublishAck>)> done = {});
  // The first reply, kTimeout after `timeout`, kNoResponders at once when
  // nothing serves `topic`.
  Result<MessagePtr> Request(std::string_view topic, std::string payload,
                             std::chrono::milliseconds timeout, PublishOptions options = {});

  // A running subscription or responder; stops when destroyed.
  class Handle {
   public:
    virtual ~Handle() = default;
    // Times the stream was (re)established; 1 after the first connect.
    virtual uint64_t connects() const = 0;
  };
  // Messages of `pattern` (and gap notices) to `callback`; `options` may set
  // a queue group and initial resume points.
  std::unique_ptr<Handle> Subscribe(std::string pattern, DeliveryCallback callback,
                                    SubscribeOptions options = {});
  // Answers the requests sent to `topic` with `handler`'s result (an error
  // result sends no reply, so the requester times out). Several responders
  // in one `group` share the requests.
  using RequestHandler = std::function<Result<std::string>(const Message&)>;
  std::unique_ptr<Handle> Serve(std::string topic, RequestHandler handler, std::string group = "");

  // Works the jobs of a durable work queue (herald/work_queue.h) on a
  // Connect session, at most `max_in_flight` delivered at once (0: one; the
  // handler runs them one after the other). A refused join is tried again
  // with the reconnect backoff:
  // a job is acknowledged when `handler` returns Ok, nacked (offered again
  // after the queue's backoff) when it returns an error. The handler runs on
  // the worker's own thread, one job at a time. After a reconnect the worker
  // joins again; what the old session held was offered again at once.
  using JobHandler = std::function<Status(const Job&)>;
  std::unique_ptr<Handle> Work(std::string queue, JobHandler handler, uint32_t max_in_flight = 0);
  // Batch workers: up to `max` jobs, at once or the first within `wait`;
  // settle them with SettlePulled (one Status per handle, in order).
  Result<std::vector<Job>> Pull(std::string_view queue, uint32_t max,
                                std::chrono::milliseconds wait);
  Result<std::vector<Status>> SettlePulled(const std::vector<std::string>& handles,
                                           SettleKind kind);

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald
