#include "tests/support/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace herald::test {
namespace {

std::string& LastError() {
  static std::string e;
  return e;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

std::string Text(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return "ERR:" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::string s;
      for (size_t i = 0; i < r->elements; ++i) s += (i ? "\n" : "") + Text(r->element[i]);
      return s;
    }
    default:
      return "(nil)";
  }
}

}  // namespace

const std::string& RedisServer::last_error() { return LastError(); }

std::unique_ptr<RedisServer> RedisServer::WithDirectory(const std::string& program) {
  std::unique_ptr<RedisServer> s(new RedisServer);
  std::string tmpl = "/tmp/herald-" + program + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) {
    LastError() = "cannot make a directory for " + program;
    return nullptr;
  }
  s->dir_ = tmpl;
  return s;
}

bool RedisServer::LaunchOnAFreePort() {
  // A port found free may be taken before redis binds it: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreeLoopbackPort();
    if (Launch()) return true;
  }
  return false;
}

std::unique_ptr<RedisServer> RedisServer::Start(std::vector<std::string> extra_args) {
  std::unique_ptr<RedisServer> s = WithDirectory("redis-server");
  if (!s) return nullptr;
  s->extra_args_ = std::move(extra_args);
  return s->LaunchOnAFreePort() ? std::move(s) : nullptr;
}

std::unique_ptr<RedisServer> RedisServer::StartSentinel(std::vector<std::string> config_lines) {
  std::unique_ptr<RedisServer> s = WithDirectory("redis-sentinel");
  if (!s) return nullptr;
  s->sentinel_ = true;
  std::string conf;
  for (const std::string& line : config_lines) conf += line + "\n";
  // A sentinel rewrites its file (what it learns): it must be writable.
  FILE* f = fopen((s->dir_ + "/sentinel.conf").c_str(), "w");
  if (!f || fwrite(conf.data(), 1, conf.size(), f) != conf.size()) {
    if (f) fclose(f);
    LastError() = "cannot write " + s->dir_ + "/sentinel.conf";
    return nullptr;
  }
  fclose(f);
  return s->LaunchOnAFreePort() ? std::move(s) : nullptr;
}

bool RedisServer::Launch() {
  if (sentinel_) {
    // The config file first: sentinel mode refuses to start without one.
    extra_args_ = {dir_ + "/sentinel.conf", "--sentinel"};
  }
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--save",
                                   "",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   dir_ + "/redis.log",
                                   "--enable-debug-command",
                                   "yes"};
  if (sentinel_) {
    args.erase(args.begin() + 7, args.end());  // no --save or DEBUG for a sentinel
    args.insert(args.begin() + 1, extra_args_.begin(), extra_args_.end());
    args.insert(args.end(), {"--logfile", dir_ + "/redis.log"});
  } else {
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Not posix_spawn: the child must die with the test (a test that crashes
  // or is stopped by a sanitizer leaves no server behind), and must not
  // hold the test's stdout (a pipe a harness waits on).
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the test is already gone
    const int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    execvp("redis-server", argv.data());
    _exit(127);
  }
  if (pid_ < 0) {
    pid_ = -1;
    LastError() = "cannot fork for redis-server";
    return false;
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      LastError() = WIFEXITED(status) && WEXITSTATUS(status) == 127
                        ? "cannot run redis-server (is Debian's redis-server installed? "
                          "scripts/install-deps.sh)"
                        : "redis-server exited at start (see " + dir_ + "/redis.log)";
      return false;
    }
    redisContext* c = redisConnect("127.0.0.1", port_);
    if (c && !c->err) {
      // LOADING or NOAUTH both mean it is up and listening.
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      const bool up =
          r && (r->type == REDIS_REPLY_STATUS ||
                (r->type == REDIS_REPLY_ERROR && std::string(r->str).rfind("NOAUTH", 0) == 0));
      if (r) freeReplyObject(r);
      redisFree(c);
      if (up) return true;
    } else if (c) {
      redisFree(c);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  LastError() = "redis-server did not answer PING within 10 s";
  Kill();
  return false;
}

RedisServer::~RedisServer() {
  Resume();
  Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::Call(const std::vector<std::string>& args,
                              const std::string& password) const {
  timeval tv{5, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return "";
  }
  redisSetTimeout(c, tv);
  if (!password.empty()) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password.c_str()));
    if (r) freeReplyObject(r);
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::string out = r ? Text(r) : "";
  if (r) freeReplyObject(r);
  redisFree(c);
  return out;
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool RedisServer::Restart() {
  Kill();
  return Launch();
}

void RedisServer::Pause() {
  if (pid_ <= 0) return;
  kill(pid_, SIGSTOP);
  // kill() returns before the stop is whole (one thread is woken to begin
  // it); waitpid reports the child once every thread has stopped.
  int status = 0;
  waitpid(pid_, &status, WUNTRACED);
}

void RedisServer::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

}  // namespace herald::test
