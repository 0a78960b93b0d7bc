// Embedding Herald in a C++ program: a broker in-process, a callback
// subscriber, a queue-group worker, request/reply, acknowledged publish,
// resume from history, and the network front started and stopped in-process.
//
//   ./embed_example            # prints what happens and exits 0
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "herald/broker.h"
#include "herald/server.h"

using namespace std::chrono_literals;

int main() {
  herald::Broker broker;

  // Async, fire-and-forget: a notifications subscriber on a wildcard pattern.
  std::atomic<int> notified{0};
  auto sub = broker.Subscribe("payments.*", [&](const herald::Delivery& d) {
    if (d.kind != herald::Delivery::Kind::kMessage) return;
    std::cout << "notify: " << d.message->topic << " #" << d.message->offset << " "
              << d.message->payload << "\n";
    notified++;
  });
  if (!sub.ok()) return 1;

  // A work queue: two workers in one queue group share the jobs.
  std::atomic<int> worker_jobs[2] = {0, 0};
  for (int w = 0; w < 2; ++w) {
    herald::SubscribeOptions group;
    group.queue_group = "mailers";
    if (!broker
             .Subscribe(
                 "jobs.email", [&, w](const herald::Delivery&) { worker_jobs[w]++; }, group)
             .ok()) {
      return 1;
    }
  }

  // Sync, acknowledged publish: the caller learns where the message landed.
  herald::Result<herald::PublishAck> ack = broker.Publish("payments.completed", "order 42");
  if (!ack.ok()) return 1;
  std::cout << "published at epoch " << ack->epoch << ", offset " << ack->offset << "\n";
  for (int i = 0; i < 10; ++i) {
    if (!broker.Publish("jobs.email", "mail " + std::to_string(i)).ok()) return 1;
  }

  // Request/reply: a responder answers on the request's reply topic.
  if (!broker
           .Subscribe("judge.run",
                      [&](const herald::Delivery& d) {
                        (void)broker.Reply(d.message->reply_to, "accepted: " + d.message->payload);
                      })
           .ok()) {
    return 1;
  }
  herald::Result<herald::MessagePtr> verdict = broker.RequestSync("judge.run", "print(1)", 2s);
  std::cout << "reply: " << (verdict.ok() ? (*verdict)->payload : verdict.status().ToString())
            << "\n";
  herald::Result<herald::MessagePtr> nobody = broker.RequestSync("nobody.listens", "?", 2s);
  std::cout << "request to nobody: " << nobody.status().ToString() << "\n";

  // Resume: a client that saw nothing of the topic gets its history.
  herald::Result<herald::ResumeResult> missed = broker.Resume("payments.completed", 0, 0);
  std::cout << "history of payments.completed: " << missed->messages.size() << " message(s)\n";

  // The network front, in this process, on a free port.
  herald::Server server(broker, {.listen = "127.0.0.1:0", .workers = 1});
  if (herald::Status s = server.Start(); !s.ok()) {
    std::cerr << "server: " << s.ToString() << "\n";
    return 1;
  }
  std::cout << "serving /healthz and /metrics on port " << server.port() << "\n";
  server.Stop();

  for (int i = 0; i < 200 && (notified < 1 || worker_jobs[0] + worker_jobs[1] < 10); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  std::cout << "notifications: " << notified << ", jobs per worker: " << worker_jobs[0] << " + "
            << worker_jobs[1] << "\n";
  broker.Unsubscribe(*sub);
  return notified == 1 && worker_jobs[0] == 5 && worker_jobs[1] == 5 && verdict.ok() ? 0 : 1;
}
