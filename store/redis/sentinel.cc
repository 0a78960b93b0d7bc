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

void Sentinels::Master(LocateCallback done) {
  auto q = std::make_shared<Question>();
  q->name = options_.master_name;
  Ask(std::move(q), std::move(done));
}

namespace {

// A sentinel's view: the master's address (get-master-addr-by-name, which
// names the promoted replica as soon as a failover reconfigures replicas)
// and, from SENTINEL MASTER, the configuration epoch and flags.
struct Named {
  std::optional<Endpoint> master;
  uint64_t config_epoch = 0;
  bool failing_over = false;  // flags hold failover_in_progress
  std::string refused;        // why this sentinel named none
};

std::optional<Endpoint> ParseAddress(const Reply& r) {
  int port = 0;
  if (r.type != Reply::Type::kArray || r.elements.size() != 2 ||
      r.elements[0].type != Reply::Type::kString || r.elements[1].type != Reply::Type::kString)
    return std::nullopt;
  const std::string& p = r.elements[1].str;
  if (std::from_chars(p.data(), p.data() + p.size(), port).ec != std::errc() || port < 1 ||
      port > 65535)
    return std::nullopt;
  return Endpoint{r.elements[0].str, port};
}

void ParseMaster(const Reply& r, Named& n) {
  if (r.type != Reply::Type::kArray) return;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& field = r.elements[i].str;
    const std::string& value = r.elements[i + 1].str;
    if (field == "config-epoch")
      std::from_chars(value.data(), value.data() + value.size(), n.config_epoch);
    if (field == "flags") n.failing_over = value.find("failover_in_progress") != std::string::npos;
  }
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
    auto named = std::make_shared<Named>();
    // Two commands back to back on one connection: the address, then its
    // epoch. The second one's answer concludes this sentinel's.
    auto address = [named, q](Result<Reply> r) {
      if (r.ok()) named->master = ParseAddress(*r);
      if (!named->master) {
        named->refused =
            !r.ok() ? r.status().message()
            : r->type == Reply::Type::kNil ||
                    (r->is_error() && r->str.find("No such master") != std::string::npos)
                ? "knows no master named '" + q->name + "'"
                : r->Describe();
      }
    };
    auto epoch = [self, asked, q, named](Result<Reply> r) {
      --q->pending;
      auto p = self.lock();
      Sentinels* me = p ? *p : nullptr;
      if (r.ok()) ParseMaster(*r, *named);
      if (named->master) {
        // Newest epoch first; at a tie, a sentinel not in the middle of a
        // failover.
        const bool better =
            !q->best || named->config_epoch > q->best_epoch ||
            (named->config_epoch == q->best_epoch && q->best_failing_over && !named->failing_over);
        if (better) {
          q->best = named->master;
          q->best_epoch = named->config_epoch;
          q->best_failing_over = named->failing_over;
          q->best_from = asked;
        }
      } else {
        if (me) ++me->stats_.refused;
        q->why += (q->why.empty() ? "" : "; ") + asked.ToString() + ": " + named->refused;
      }
      if (q->pending > 0) return;
      if (me) {
        me->Answer(q);
      } else {
        q->done(Status(ErrorCode::kUnavailable, "the sentinels were closed"));
      }
    };
    ++stats_.asked;
    const Status sent = s.conn->Command(
        {"SENTINEL", "get-master-addr-by-name", options_.master_name}, std::move(address));
    const Status sent2 =
        sent.ok() ? s.conn->Command({"SENTINEL", "MASTER", options_.master_name}, std::move(epoch))
                  : sent;
    if (sent2.ok()) {
      ++q->pending;
    } else {
      q->why += (q->why.empty() ? "" : "; ") + s.where.ToString() + ": " + sent2.message();
    }
  }
  if (q->pending > 0) return;
  Answer(q);
}

void Sentinels::Answer(const std::shared_ptr<Question>& q) {
  // Nobody named the master, and some sentinels are still connecting (at
  // start): the question waits for the next one to be ready.
  if (!q->best && AnyConnecting()) {
    waiting_.push_back(std::move(q->done));
    return;
  }
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
