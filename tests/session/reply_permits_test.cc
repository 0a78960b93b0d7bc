#include "frontends/session/reply_permits.h"

#include <gtest/gtest.h>

#include <memory>

namespace herald::session {
namespace {

std::shared_ptr<Message> RequestTo(std::string inbox) {
  auto m = std::make_shared<Message>();
  m->topic = "svc";
  m->reply_to = std::move(inbox);
  return m;
}

TEST(ReplyPermits, AllowsOneReplyToAnInboxTheSessionWasSent) {
  ReplyPermits p(8);
  p.Note(*RequestTo("_INBOX.n.abc"));
  EXPECT_TRUE(p.Take("_INBOX.n.abc").ok());
  EXPECT_EQ(p.Take("_INBOX.n.abc").code(), ErrorCode::kPermissionDenied);  // answered
}

TEST(ReplyPermits, RefusesInboxesNeverSentAndNamesWhatIsNotAnInbox) {
  ReplyPermits p(8);
  p.Note(*RequestTo("_INBOX.n.abc"));
  EXPECT_EQ(p.Take("_INBOX.n.1").code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(p.Take("orders.42").code(), ErrorCode::kInvalidArgument);
}

TEST(ReplyPermits, MessagesWithoutReplyToAddNothing) {
  ReplyPermits p(8);
  p.Note(*RequestTo(""));
  EXPECT_EQ(p.size(), 0u);
}

TEST(ReplyPermits, RemembersAtMostItsBoundForgettingTheOldestAndSaysSo) {
  int forgotten = 0;
  ReplyPermits p(3, [&] { ++forgotten; });
  for (int i = 0; i < 10; ++i) p.Note(*RequestTo("_INBOX.n." + std::to_string(i)));
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(forgotten, 7);  // herald_reply_inboxes_forgotten_total
  EXPECT_EQ(p.Take("_INBOX.n.6").code(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(p.Take("_INBOX.n.7").ok());
  EXPECT_TRUE(p.Take("_INBOX.n.9").ok());
}

TEST(ReplyPermits, TakenEntriesDoNotGrowItsMemoryAndAreNotForgotten) {
  int forgotten = 0;
  ReplyPermits p(4, [&] { ++forgotten; });
  for (int i = 0; i < 100000; ++i) {
    const std::string inbox = "_INBOX.n." + std::to_string(i);
    p.Note(*RequestTo(inbox));
    ASSERT_TRUE(p.Take(inbox).ok());
  }
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(forgotten, 0);  // answered, not forgotten
}

TEST(ReplyPermits, ARestoredPermitCanBeUsedAgain) {
  ReplyPermits p(4);
  p.Note(*RequestTo("_INBOX.n.a"));
  ASSERT_TRUE(p.Take("_INBOX.n.a").ok());
  p.Restore("_INBOX.n.a");
  EXPECT_TRUE(p.Take("_INBOX.n.a").ok());
}

}  // namespace
}  // namespace herald::session
