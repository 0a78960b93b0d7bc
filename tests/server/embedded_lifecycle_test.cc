// An embedded broker and server started and stopped over and over in one
// process: nothing may be left behind — no thread, no file descriptor, no
// bound port — and each round must work (a publish answered over HTTP).
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "herald/broker.h"
#include "herald/server.h"

namespace herald {
namespace {

size_t CountEntries(const char* dir) {
  size_t n = 0;
  if (DIR* d = opendir(dir)) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// One HTTP/1.1 request on a fresh connection; the status line.
std::string StatusLine(uint16_t port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buf[256];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) out.assign(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out.substr(0, out.find("\r\n"));
}

TEST(EmbeddedLifecycle, StartStopAHundredTimesLeavesNoThreadFdOrPortBehind) {
  // A first round warms up what lives for the process (gRPC, allocators).
  uint16_t port = 0;
  {
    Broker broker;
    Server server(broker, {.listen = "127.0.0.1:0", .workers = 2});
    ASSERT_TRUE(server.Start().ok());
    port = server.port();
  }
  const size_t threads_before = CountEntries("/proc/self/task");
  const size_t fds_before = CountEntries("/proc/self/fd");
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  for (int round = 0; round < 100; ++round) {
    Broker broker;
    Server server(broker, {.listen = listen, .workers = 2});
    // The same port every round: Stop() released it.
    Status s = server.Start();
    ASSERT_TRUE(s.ok()) << "round " << round << ": " << s.ToString();
    ASSERT_EQ(StatusLine(port,
                         "POST /publish/life.cycle HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 1\r\nConnection: close\r\n\r\nx"),
              "HTTP/1.1 200 OK")
        << "round " << round;
    if (round % 2 == 0) {
      server.Stop();  // explicit, and then again by the destructor
    } else if (round % 4 == 1) {
      server.Drain(std::chrono::milliseconds(50));
    }
  }
  EXPECT_EQ(CountEntries("/proc/self/task"), threads_before);
  EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before);
}

}  // namespace
}  // namespace herald
