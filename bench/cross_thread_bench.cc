// Cross-thread delivery: one publisher thread, one Sink on an Inbox owned by
// another thread (as a network front's event-loop worker owns its
// connections). The owner sleeps on a condition variable (arg 0) or spins on
// a flag with yield (arg 1) and calls Drain() when the inbox wakes it.
//
// Target: >= 5 million messages/s.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "bench/bench_support.h"
#include "broker/delivery_inbox.h"
#include "herald/broker.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace herald::bench {
namespace {

constexpr char kTopic[] = "tenant1.room1.msgs";
constexpr size_t kBatch = 10'000;

void BM_CrossThread(benchmark::State& state) {
  const bool spin = state.range(0) != 0;
  Broker broker;
  DeliveryCounter counter;
  InboxThread owner(broker, spin);
  auto id = broker.Subscribe("tenant1.>", std::make_shared<CountingSink>(&counter), owner.inbox());
  if (!id.ok()) std::abort();
  counter.Expect(1);
  MustPublish(broker, kTopic);
  counter.Wait();

  const uint64_t wakeups_before = owner.wakeups();
  for (auto _ : state) {
    counter.Expect(kBatch);
    for (size_t i = 0; i < kBatch; ++i) MustPublish(broker, kTopic);
    counter.Wait();
  }
  const double messages = static_cast<double>(state.iterations() * kBatch);
  state.counters["messages_per_sec"] = benchmark::Counter(messages, benchmark::Counter::kIsRate);
  state.counters["msgs_per_wakeup"] =
      messages / static_cast<double>(owner.wakeups() - wakeups_before);
}
BENCHMARK(BM_CrossThread)
    ->ArgName("spin")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The hand-off alone: items pushed straight into a DeliveryInbox (no
// validation, sequencing or history), drained by a thread parked on a
// condition variable. This is the cost of crossing threads, which
// BM_CrossThread adds to the cost of Publish.
void BM_InboxHandOff(benchmark::State& state) {
  BrokerCounters counters;
  DeliveryCounter counter;
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false, stop = false;
  auto inbox = std::make_shared<DeliveryInbox>(
      [&] {
        {
          std::lock_guard lock(mu);
          woken = true;
        }
        cv.notify_one();
      },
      size_t{1} << 24, &counters, [](const MessagePtr&, const Subscription&, bool) {});
  std::thread owner([&] {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return woken || stop; });
      if (!woken && stop) return;
      woken = false;
      lock.unlock();
      inbox->Drain();
      lock.lock();
    }
  });
  auto sub = std::make_shared<Subscription>();
  sub->id = 1;
  sub->pattern = kTopic;
  sub->sink = std::make_shared<CountingSink>(&counter);
  sub->inbox = inbox.get();
  auto match = std::make_shared<MatchResult>();
  match->plain.push_back({inbox.get(), {sub.get()}});
  match->owners.push_back(sub);
  MatchResultPtr keep = match;
  std::vector<MessagePtr> messages;
  for (size_t i = 0; i < kBatch; ++i) {
    auto m = std::make_shared<Message>();
    m->topic = kTopic;
    m->payload = kPayload;
    m->offset = i + 1;
    messages.push_back(std::move(m));
  }
  for (auto _ : state) {
    counter.Expect(kBatch);
    for (size_t i = 0; i < kBatch; ++i) {
      DeliveryInbox::Item item;
      item.message = messages[i];
      item.match = match.get();
      inbox->Push(std::move(item), keep);
    }
    counter.Wait();
  }
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_one();
  owner.join();
  state.counters["messages_per_sec"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_InboxHandOff)->UseRealTime()->Unit(benchmark::kMillisecond);

// The publisher's share alone: Publish to a topic nobody subscribes to
// (validate, sequence, history, match), the floor under the figures above.
void BM_PublishNoSubscriber(benchmark::State& state) {
  Broker broker;
  for (auto _ : state) MustPublish(broker, kTopic);
  state.counters["messages_per_sec"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PublishNoSubscriber);

}  // namespace
}  // namespace herald::bench

BENCHMARK_MAIN();
