// In-process fan-out: one publisher, N callback subscribers (Broker::Subscribe
// with a callback), measured end to end. Callbacks run on the broker's
// dispatcher thread, so each iteration publishes a batch and then waits until
// the callbacks have counted every delivery of it.
//
// Target: >= 20 million deliveries/s for 1 -> 10k.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "bench/bench_support.h"
#include "herald/broker.h"

namespace herald::bench {
namespace {

constexpr char kTopic[] = "fanout.room1.msgs";

// Args: {subscribers, messages per batch}; batches hold ~1M deliveries at most.
void BM_FanOut(benchmark::State& state) {
  const auto subscribers = static_cast<size_t>(state.range(0));
  const auto batch = static_cast<size_t>(state.range(1));
  BrokerOptions options;
  options.max_subscriptions_per_sink = subscribers;  // each callback has its own sink anyway
  Broker broker(std::move(options));
  DeliveryCounter counter;
  for (size_t i = 0; i < subscribers; ++i) {
    auto id = broker.Subscribe(kTopic, [&counter](const Delivery&) { counter.Add(); });
    if (!id.ok()) std::abort();
  }
  // Warm up: creates the topic and caches its match result.
  counter.Expect(subscribers);
  MustPublish(broker, kTopic);
  counter.Wait();

  for (auto _ : state) {
    counter.Expect(batch * subscribers);
    for (size_t i = 0; i < batch; ++i) MustPublish(broker, kTopic);
    counter.Wait();
  }
  const double deliveries = static_cast<double>(state.iterations() * batch * subscribers);
  state.counters["deliveries_per_sec"] =
      benchmark::Counter(deliveries, benchmark::Counter::kIsRate);
  state.counters["messages_per_sec"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FanOut)
    ->ArgNames({"subs", "batch"})
    ->Args({1, 10'000})
    ->Args({100, 1'000})
    ->Args({10'000, 100})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace herald::bench

BENCHMARK_MAIN();
