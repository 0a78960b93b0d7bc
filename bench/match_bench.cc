// SubscriptionIndex::Match: ns per match with 10k and 100k subscriptions.
//
// The subscription mix is what a multi-tenant chat node sees: mostly literal
// per-room patterns (`tenant{i%100}.room{i}.msgs`), one `tenant{k}.*.msgs`
// and one `tenant{k}.>` per tenant, and a handful of `*.*.alerts`. Each
// matched topic therefore collects 3 subscribers (room, tenant-wide `*`,
// tenant-wide `>`), or the `>` and `*.*.alerts` ones for alert topics.
//
// Targets (single thread): cached match <= 50 ns; uncached match with 100k
// subscriptions <= 1 us.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/counters.h"
#include "broker/delivery_inbox.h"
#include "broker/subscription_index.h"

namespace herald {
namespace {

constexpr int kTenants = 100;
constexpr int kAlertPatterns = 8;
constexpr int kInboxes = 4;            // one per event-loop worker, say
constexpr size_t kHotTopics = 64;      // the cached case cycles over these
constexpr size_t kColdTopics = 65536;  // larger than the default cache (16384)

// One index per subscription count, built once and shared by every benchmark
// of that size (building 100k subscriptions takes a while).
struct Fixture {
  BrokerCounters counters;
  std::vector<std::shared_ptr<DeliveryInbox>> inboxes;
  std::unique_ptr<SubscriptionIndex> index;
  std::vector<std::string> hot;   // kHotTopics topics that all have subscribers
  std::vector<std::string> cold;  // kColdTopics distinct topics, a few alerts among them
  int subscriptions = 0;
};

std::string RoomTopic(int room, const char* kind) {
  return "tenant" + std::to_string(room % kTenants) + ".room" + std::to_string(room) + "." + kind;
}

Fixture& GetFixture(int subscriptions) {
  static std::map<int, std::unique_ptr<Fixture>> fixtures;
  auto& f = fixtures[subscriptions];
  if (f) return *f;
  f = std::make_unique<Fixture>();
  f->subscriptions = subscriptions;
  for (int i = 0; i < kInboxes; ++i) {
    f->inboxes.push_back(std::make_shared<DeliveryInbox>(
        [] {}, 1 << 20, &f->counters, [](const MessagePtr&, const Subscription&, bool) {}));
  }
  f->index = std::make_unique<SubscriptionIndex>();
  uint64_t id = 0;
  auto add = [&](std::string pattern) {
    auto sub = std::make_shared<Subscription>();
    sub->id = ++id;
    sub->pattern = std::move(pattern);
    sub->inbox = f->inboxes[id % kInboxes].get();
    f->index->Add(sub);
  };
  for (int k = 0; k < kTenants; ++k) {
    add("tenant" + std::to_string(k) + ".*.msgs");
    add("tenant" + std::to_string(k) + ".>");
  }
  for (int a = 0; a < kAlertPatterns; ++a) add("*.*.alerts");
  const int rooms = subscriptions - 2 * kTenants - kAlertPatterns;
  for (int i = 0; i < rooms; ++i) add(RoomTopic(i, "msgs"));

  for (size_t i = 0; i < kHotTopics; ++i) {
    f->hot.push_back(RoomTopic(static_cast<int>(i * 37 % rooms), "msgs"));
  }
  // Rooms beyond `rooms` exist only through the tenant wildcards; every 16th
  // topic is an alert so the `*.*.alerts` branch is walked too.
  for (size_t i = 0; i < kColdTopics; ++i) {
    f->cold.push_back(
        RoomTopic(static_cast<int>(i * 7919 % (2 * rooms)), i % 16 ? "msgs" : "alerts"));
  }
  return *f;
}

void SetCommon(benchmark::State& state, const Fixture& f) {
  state.counters["subscriptions"] = f.subscriptions;
  state.SetItemsProcessed(state.iterations());
}

// The same hot topics over and over: every Match is a cache hit.
void BM_MatchCached(benchmark::State& state) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)));
  f.index->set_cache_enabled(true);
  for (const std::string& t : f.hot) f.index->Match(t);  // warm the cache
  size_t i = 0;
  for (auto _ : state) {
    MatchResultPtr r = f.index->Match(f.hot[i++ % kHotTopics]);
    benchmark::DoNotOptimize(r.get());
  }
  SetCommon(state, f);
}
BENCHMARK(BM_MatchCached)->Arg(10'000)->Arg(100'000);

// The trie walk alone, without touching the cache.
void BM_MatchUncached(benchmark::State& state) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    MatchResultPtr r = f.index->MatchUncached(f.cold[i++ % kColdTopics]);
    benchmark::DoNotOptimize(r.get());
  }
  SetCommon(state, f);
}
BENCHMARK(BM_MatchUncached)->Arg(10'000)->Arg(100'000);

// Match with the cache switched off: the walk plus Match's cache-lock check.
void BM_MatchCacheDisabled(benchmark::State& state) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)));
  f.index->set_cache_enabled(false);
  size_t i = 0;
  for (auto _ : state) {
    MatchResultPtr r = f.index->Match(f.cold[i++ % kColdTopics]);
    benchmark::DoNotOptimize(r.get());
  }
  f.index->set_cache_enabled(true);
  SetCommon(state, f);
}
BENCHMARK(BM_MatchCacheDisabled)->Arg(10'000)->Arg(100'000);

// A rotating working set four times the cache capacity: every Match misses,
// walks the trie and inserts (and the cache is cleared whenever it fills).
void BM_MatchCacheThrash(benchmark::State& state) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)));
  f.index->set_cache_enabled(true);  // also empties it
  size_t i = 0;
  for (auto _ : state) {
    MatchResultPtr r = f.index->Match(f.cold[i++ % kColdTopics]);
    benchmark::DoNotOptimize(r.get());
  }
  state.counters["cache_size_end"] = static_cast<double>(f.index->cache_size());
  SetCommon(state, f);
}
BENCHMARK(BM_MatchCacheThrash)->Arg(10'000)->Arg(100'000);

// Subscribe/unsubscribe pairs against a warm, full cache (16k entries, the
// default capacity): what one client pays the index per change, under its
// exclusive lock. Arg 0: a literal pattern; 1: a wildcard under one tenant;
// 2: a pattern starting with a wildcard.
void BM_SubscribeUnsubscribeWarmCache(benchmark::State& state) {
  Fixture& f = GetFixture(10'000);
  f.index->set_cache_enabled(true);
  for (size_t i = 0; i < 16'000; ++i) f.index->Match(f.cold[i]);
  const char* patterns[] = {"tenant7.room999999.msgs", "tenant7.*.typing", "*.*.typing"};
  auto sub = std::make_shared<Subscription>();
  sub->id = 1'000'000'000;
  sub->pattern = patterns[state.range(0)];
  sub->inbox = f.inboxes[0].get();
  for (auto _ : state) {
    f.index->Add(sub);
    f.index->Remove(sub);
  }
  state.counters["cache_size"] = static_cast<double>(f.index->cache_size());
  SetCommon(state, f);
}
BENCHMARK(BM_SubscribeUnsubscribeWarmCache)->Arg(0)->Arg(1)->Arg(2);

}  // namespace
}  // namespace herald

BENCHMARK_MAIN();
