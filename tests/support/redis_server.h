// tests/support/redis_server.h — a Debian redis-server a test starts and
// stops itself, on a free loopback port, in a directory of its own.
//
//   auto redis = RedisServer::Start({"--requirepass", "pw"});
//   ASSERT_TRUE(redis) << RedisServer::last_error();
//   redis->Call({"SET", "k", "v"});     // a blocking client: tests only
//   redis->Kill(); redis->Restart();    // same port, same directory
//
// The process is stopped (SIGKILL) and its directory removed when the
// object goes. Extra arguments are redis-server's own (`--appendonly yes`).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace herald::test {

class RedisServer {
 public:
  // Null (and last_error() says why) when redis-server is missing or does
  // not answer PING within 10 s.
  static std::unique_ptr<RedisServer> Start(std::vector<std::string> extra_args = {});
  // A Redis Sentinel (redis-server --sentinel) whose config file holds
  // `config_lines` ("sentinel monitor m 127.0.0.1 6379 1", ...).
  static std::unique_ptr<RedisServer> StartSentinel(std::vector<std::string> config_lines);
  static const std::string& last_error();
  ~RedisServer();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

  // Runs one command on a fresh blocking connection (AUTH first when
  // `password` is set) and returns the reply as text: a string or status as
  // is, an integer in decimal, nil as "(nil)", an error as "ERR:…", an array
  // as its elements joined by '\n'. "" with an error message on failure.
  std::string Call(const std::vector<std::string>& args, const std::string& password = {}) const;

  void Kill();     // SIGKILL, reaped
  bool Restart();  // starts it again on the same port and directory
  void Pause();    // SIGSTOP: connections are accepted by the kernel, nothing answers
  void Resume();   // SIGCONT

 private:
  RedisServer() = default;
  // A server not started yet, with a directory of its own (null, and
  // last_error() says why, if none could be made).
  static std::unique_ptr<RedisServer> WithDirectory(const std::string& program);
  bool LaunchOnAFreePort();
  bool Launch();

  int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
  std::vector<std::string> extra_args_;
  bool sentinel_ = false;  // dir_/sentinel.conf holds its configuration
};

}  // namespace herald::test
