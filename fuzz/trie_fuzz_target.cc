#include "trie_fuzz_target.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/delivery_inbox.h"
#include "broker/subscription_index.h"
#include "herald/topic.h"

namespace herald::fuzz {
namespace {

std::vector<uint64_t> Ids(const MatchResult& m) {
  std::vector<uint64_t> ids;
  for (const auto& slice : m.plain) {
    for (const Subscription* s : slice.subscriptions) ids.push_back(s->id);
  }
  for (const auto& g : m.groups) {
    for (const SubscriptionPtr& s : g.members) ids.push_back(s->id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

bool FuzzTrie(const uint8_t* data, size_t size) {
  static BrokerCounters counters;
  // Two inboxes, so matches group plain subscribers by inbox as in the broker.
  static DeliveryInbox inbox_a([] {}, 16, &counters, {});
  static DeliveryInbox inbox_b([] {}, 16, &counters, {});
  SubscriptionIndex index(64);
  std::deque<SubscriptionPtr> live;
  uint64_t next_id = 1;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty()) continue;
    if (line[0] == '+' || line[0] == '-') {
      const std::string pattern(line.data() + 1, line.size() - 1);
      if (!ValidatePattern(pattern).ok()) continue;
      if (line[0] == '+') {
        auto sub = std::make_shared<Subscription>();
        sub->id = next_id++;
        sub->pattern = pattern;
        sub->inbox = sub->id % 2 ? &inbox_a : &inbox_b;
        if (sub->id % 5 == 0)
          sub->queue_group.push_back('g');  // (GCC 12 -Wrestrict false alarm on = "g")
        index.Add(sub);
        live.push_back(std::move(sub));
      } else {
        auto it = std::find_if(live.begin(), live.end(),
                               [&](const SubscriptionPtr& s) { return s->pattern == pattern; });
        if (it == live.end()) continue;
        if (!index.Remove(*it)) return false;
        live.erase(it);
      }
      continue;
    }
    const std::string topic(line);
    if (!ValidateTopic(topic).ok()) continue;
    std::vector<uint64_t> want;
    for (const SubscriptionPtr& s : live) {
      if (PatternMatches(s->pattern, topic)) want.push_back(s->id);
    }
    std::sort(want.begin(), want.end());
    // Twice through the cache (a miss, then a hit) and once around it.
    if (Ids(*index.Match(topic)) != want) return false;
    if (Ids(*index.Match(topic)) != want) return false;
    if (Ids(*index.MatchUncached(topic)) != want) return false;
  }
  return true;
}

}  // namespace herald::fuzz
