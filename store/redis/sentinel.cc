#include "store/redis/sentinel.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

namespace herald::redis {

Sentinels::Sentinels(io::Loop& loop, SentinelOptions options, MovedCallback on_moved)
    : loop_(loop), options_(std::move(options)), on_moved_(std::move(on_moved)) {}

Sentinels::~Sentinels() {
  *self_ = nullptr;
  loop_.timers().Cancel(this);
  sentinels_.clear();  // their connections close: questions in flight end unanswered
  std::vector<LocateCallback> waiting;
  waiting.swap(waiting_);
  for (LocateCallback& done : waiting)
    done(Status(ErrorCode::kUnavailable, "the sentinels were closed"));
}

void Sentinels::Start() {
  for (const Endpoint& where : options_.sentinels) {
    ConnectionOptions c;
    c.host = where.host;
    c.port = where.port;
    c.user = options_.user;
    c.password = options_.password;
    c.require_master = false;  // a sentinel is no master; ROLE says "sentinel"
    c.connect_timeout = options_.connect_timeout;
    c.command_timeout = options_.command_timeout;
    c.backoff_max = std::max(options_.poll_interval, c.backoff_min);
    std::weak_ptr<Sentinels*> self = self_;
    auto conn = std::make_unique<Connection>(loop_, std::move(c),
                                             [self](ConnectionState s, const std::string&) {
                                               if (auto p = self.lock(); p && *p)
                                                 (*p)->OnSentinelState(s);
                                             });
    sentinels_.push_back(Sentinel{where, std::move(conn)});
  }
  for (Sentinel& s : sentinels_) s.conn->Start();
  loop_.timers().Schedule(this, static_cast<uint64_t>(options_.poll_interval.count()));
}

Locate Sentinels::Locator() {
  std::weak_ptr<Sentinels*> self = self_;
  return [self](LocateCallback done) {
    if (auto p = self.lock(); p && *p) {
      (*p)->Master(std::move(done));
    } else {
      done(Status(ErrorCode::kUnavailable, "the sentinels were closed"));
    }
  };
}

bool Sentinels::AnyConnecting() const {
  return std::any_of(sentinels_.begin(), sentinels_.end(), [](const Sentinel& s) {
    return s.conn->state() == ConnectionState::kConnecting;
  });
}

void Sentinels::Master(LocateCallback done) { Ask(std::make_shared<Question>(), std::move(done)); }

namespace {

// SENTINEL MASTER's answer (field, value, field, value...): the master's
// address and the configuration epoch it was named in.
struct Named {
  Endpoint master;
  uint64_t config_epoch = 0;
};

std::optional<Named> ParseMaster(const Reply& r) {
  if (r.type != Reply::Type::kArray) return std::nullopt;
  std::string_view ip, port, epoch;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& field = r.elements[i].str;
    const std::string& value = r.elements[i + 1].str;
    if (field == "ip") ip = value;
    if (field == "port") port = value;
    if (field == "config-epoch") epoch = value;
  }
  Named n;
  int p = 0;
  if (ip.empty() || std::from_chars(port.data(), port.data() + port.size(), p).ec != std::errc() ||
      p < 1 || p > 65535)
    return std::nullopt;
  std::from_chars(epoch.data(), epoch.data() + epoch.size(), n.config_epoch);
  n.master = Endpoint{std::string(ip), p};
  return n;
}

}  // namespace

void Sentinels::Ask(std::shared_ptr<Question> q, LocateCallback done) {
  // Every sentinel that is ready, at once; the answer is the one named in
  // the newest configuration epoch. A sentinel that has not heard of a
  // failover yet (others tell it within a couple of seconds) still names
  // the old master, which may be back and, until the sentinels make it a
  // replica, say it is a master: asking one sentinel could send writes
  // there, to be thrown away when it is converted.
  q->done = std::move(done);
  for (Sentinel& s : sentinels_) {
    if (s.conn->state() != ConnectionState::kReady) {
      q->why += (q->why.empty() ? "" : "; ") + s.where.ToString() + ": " +
                (s.conn->last_error().empty() ? std::string(ConnectionStateName(s.conn->state()))
                                              : s.conn->last_error());
      continue;
    }
    const Endpoint asked = s.where;
    std::weak_ptr<Sentinels*> self = self_;
    auto answer = [self, asked, q](Result<Reply> r) {
      --q->pending;
      auto p = self.lock();
      Sentinels* me = p ? *p : nullptr;
      std::optional<Named> named = r.ok() ? ParseMaster(*r) : std::nullopt;
      if (named) {
        if (!q->best || named->config_epoch > q->best_epoch) {
          q->best = named->master;
          q->best_epoch = named->config_epoch;
          q->best_from = asked;
        }
      } else {
        if (me) ++me->stats_.refused;
        q->why += (q->why.empty() ? "" : "; ") + asked.ToString() + ": " +
                  (!r.ok() ? r.status().message()
                   : r->is_error() && r->str.find("No such master") != std::string::npos
                       ? "knows no master named '" + (me ? me->options_.master_name : "") + "'"
                       : r->Describe());
      }
      if (q->pending == 0 && me) me->Answer(q);
      if (q->pending == 0 && !me)
        q->done(Status(ErrorCode::kUnavailable, "the sentinels were closed"));
    };
    ++q->pending;
    ++stats_.asked;
    const Status sent =
        s.conn->Command({"SENTINEL", "MASTER", options_.master_name}, std::move(answer));
    if (!sent.ok()) {
      --q->pending;
      q->why += (q->why.empty() ? "" : "; ") + s.where.ToString() + ": " + sent.message();
    }
  }
  if (q->pending > 0) return;
  // Nobody could be asked. At start the sentinels are still connecting: the
  // question waits for the first of them rather than failing at once.
  if (AnyConnecting()) {
    waiting_.push_back(std::move(q->done));
    return;
  }
  Answer(q);
}

void Sentinels::Answer(const std::shared_ptr<Question>& q) {
  if (!q->best) {
    q->done(Status(ErrorCode::kUnavailable, "no sentinel named the master '" +
                                                options_.master_name + "' (" +
                                                (q->why.empty() ? "no sentinels" : q->why) + ")"));
    return;
  }
  size_t at = 0;
  while (at < sentinels_.size() && !(sentinels_[at].where == q->best_from)) ++at;
  const Endpoint master = *q->best;
  Found(at, master);
  q->done(master);
}

void Sentinels::Found(size_t i, const Endpoint& master) {
  if (i < sentinels_.size() && i > 0) {
    std::rotate(sentinels_.begin(), sentinels_.begin() + static_cast<ptrdiff_t>(i),
                sentinels_.begin() + static_cast<ptrdiff_t>(i) + 1);
  }
  if (master == master_) return;
  const bool first = master_.host.empty();
  master_ = master;
  if (first) return;
  ++stats_.moves;
  if (on_moved_) on_moved_(master_);
}

void Sentinels::OnSentinelState(ConnectionState s) {
  if (waiting_.empty()) return;
  const bool ready = s == ConnectionState::kReady;
  if (!ready && AnyConnecting()) return;
  // A sentinel came up (ask it), or the last one connecting failed (the
  // questions fail, with each sentinel's reason).
  std::vector<LocateCallback> waiting;
  waiting.swap(waiting_);
  // Not from inside the connection's state callback.
  std::weak_ptr<Sentinels*> self = self_;
  loop_.Defer([self, waiting = std::move(waiting)]() mutable {
    for (LocateCallback& done : waiting) {
      if (auto p = self.lock(); p && *p) {
        (*p)->Master(std::move(done));
      } else {
        done(Status(ErrorCode::kUnavailable, "the sentinels were closed"));
      }
    }
  });
}

void Sentinels::OnTimerExpired() {
  loop_.timers().Schedule(this, static_cast<uint64_t>(options_.poll_interval.count()));
  if (polling_) return;
  polling_ = true;
  std::weak_ptr<Sentinels*> self = self_;
  Master([self](Result<Endpoint>) {
    if (auto p = self.lock(); p && *p) (*p)->polling_ = false;
  });
}

}  // namespace herald::redis
