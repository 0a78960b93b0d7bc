#include "base/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace herald {
namespace {

std::string NameOf(pthread_t t) {
  char name[32] = {};
  EXPECT_EQ(pthread_getname_np(t, name, sizeof name), 0);
  return name;
}

TEST(ThreadName, NamesTheCallingThreadOnly) {
  const std::string before = NameOf(pthread_self());
  std::string seen;
  std::thread t([&] {
    NameThisThread("herald-test");
    seen = NameOf(pthread_self());
  });
  t.join();
  EXPECT_EQ(seen, "herald-test");
  EXPECT_EQ(NameOf(pthread_self()), before);
}

TEST(ThreadName, CutsANameLongerThanLinuxKeeps) {
  std::string seen;
  std::thread t([&] {
    NameThisThread("herald-a-name-longer-than-fifteen-bytes");
    seen = NameOf(pthread_self());
  });
  t.join();
  EXPECT_EQ(seen, "herald-a-name-l");
}

}  // namespace
}  // namespace herald
