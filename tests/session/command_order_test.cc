#include "frontends/session/command_order.h"

#include <gtest/gtest.h>

#include <string>

namespace herald::session {
namespace {

TEST(CommandOrder, WithNothingWaitingAStepRunsAtOnce) {
  CommandOrder order;
  std::string ran;
  order.Run([&] { ran += "a"; });
  EXPECT_EQ(ran, "a");
  EXPECT_EQ(order.waiting(), 0u);
}

TEST(CommandOrder, StepsRunInTheOrderTheirCommandsWereReadWhateverOrderHooksAnswer) {
  CommandOrder order;
  std::string ran;
  const CommandOrder::Ticket first = order.Take();
  const CommandOrder::Ticket second = order.Take();
  order.Run([&] { ran += "3"; });  // read after both: waits
  EXPECT_EQ(order.waiting(), 3u);
  order.Complete(second, [&] { ran += "2"; });
  EXPECT_EQ(ran, "");  // the first still waits
  order.Complete(first, [&] { ran += "1"; });
  EXPECT_EQ(ran, "123");
  EXPECT_EQ(order.waiting(), 0u);
  order.Run([&] { ran += "4"; });
  EXPECT_EQ(ran, "1234");
}

TEST(CommandOrder, AStepThatReadsMoreCommandsQueuesThemBehindTheRest) {
  CommandOrder order;
  std::string ran;
  const CommandOrder::Ticket t = order.Take();
  order.Run([&] { ran += "b"; });
  // Completing the first runs a step that issues another Run while the
  // order drains: it runs after "b", not inside "a".
  order.Complete(t, [&] {
    ran += "a";
    order.Run([&] { ran += "c"; });
  });
  EXPECT_EQ(ran, "abc");
}

}  // namespace
}  // namespace herald::session
