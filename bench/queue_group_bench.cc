// Queue-group dispatch: each message goes to exactly one of 4 or 16 callback
// members (round robin), measured end to end like the fan-out benchmark:
// publish a batch, wait until the members have counted it.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>

#include "bench/bench_support.h"
#include "herald/broker.h"

namespace herald::bench {
namespace {

constexpr char kTopic[] = "jobs.build.run";
constexpr size_t kBatch = 10'000;

void BM_QueueGroup(benchmark::State& state) {
  const auto members = static_cast<size_t>(state.range(0));
  Broker broker;
  DeliveryCounter counter;
  SubscribeOptions options;
  options.queue_group = "workers";
  for (size_t i = 0; i < members; ++i) {
    auto id = broker.Subscribe(
        "jobs.>", [&counter](const Delivery&) { counter.Add(); }, options);
    if (!id.ok()) std::abort();
  }
  counter.Expect(1);
  MustPublish(broker, kTopic);
  counter.Wait();

  for (auto _ : state) {
    counter.Expect(kBatch);
    for (size_t i = 0; i < kBatch; ++i) MustPublish(broker, kTopic);
    counter.Wait();
  }
  state.counters["messages_per_sec"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_QueueGroup)
    ->ArgName("members")
    ->Arg(4)
    ->Arg(16)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace herald::bench

BENCHMARK_MAIN();
