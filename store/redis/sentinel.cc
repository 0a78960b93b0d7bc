#include "store/redis/sentinel.h"

#include <algorithm>
#include <charconv>
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

void Sentinels::Ask(std::shared_ptr<Question> q, LocateCallback done) {
  std::string* why = &q->why;
  // From the front each time: an answer to another question may have
  // reordered the list meanwhile. Each sentinel is asked once.
  for (size_t i = 0; i < sentinels_.size(); ++i) {
    Sentinel& s = sentinels_[i];
    if (std::find(q->asked.begin(), q->asked.end(), s.where) != q->asked.end()) continue;
    q->asked.push_back(s.where);
    if (s.conn->state() != ConnectionState::kReady) {
      *why += (why->empty() ? "" : "; ") + s.where.ToString() + ": " +
              (s.conn->last_error().empty() ? std::string(ConnectionStateName(s.conn->state()))
                                            : s.conn->last_error());
      continue;
    }
    ++stats_.asked;
    const Endpoint asked = s.where;
    std::weak_ptr<Sentinels*> self = self_;
    auto answer = [self, asked, q, done](Result<Reply> r) mutable {
      auto p = self.lock();
      if (!p || !*p) {
        done(Status(ErrorCode::kUnavailable, "the sentinels were closed"));
        return;
      }
      Sentinels* me = *p;
      // The sentinel's place may have changed while it was asked.
      size_t at = 0;
      while (at < me->sentinels_.size() && !(me->sentinels_[at].where == asked)) ++at;
      std::string* why = &q->why;
      int port = 0;
      const bool named =
          r.ok() && r->type == Reply::Type::kArray && r->elements.size() == 2 &&
          r->elements[0].type == Reply::Type::kString &&
          r->elements[1].type == Reply::Type::kString &&
          std::from_chars(r->elements[1].str.data(),
                          r->elements[1].str.data() + r->elements[1].str.size(), port)
                  .ec == std::errc() &&
          port > 0 && port < 65536;
      if (named) {
        const Endpoint master{r->elements[0].str, port};
        me->Found(at, master);
        done(master);
        return;
      }
      ++me->stats_.refused;
      *why += (why->empty() ? "" : "; ") + asked.ToString() + ": " +
              (!r.ok() ? r.status().message()
               : r->type == Reply::Type::kNil
                   ? "knows no master named '" + me->options_.master_name + "'"
                   : r->Describe());
      me->Ask(q, std::move(done));
    };
    const Status sent = s.conn->Command(
        {"SENTINEL", "get-master-addr-by-name", options_.master_name}, std::move(answer));
    if (sent.ok()) return;
    *why += (why->empty() ? "" : "; ") + s.where.ToString() + ": " + sent.message();
  }
  // Nobody answered. At start the sentinels are still connecting: the
  // question waits for the first of them rather than failing at once.
  if (AnyConnecting()) {
    waiting_.push_back(std::move(done));  // asked anew, from the first
    return;
  }
  done(Status(ErrorCode::kUnavailable, "no sentinel named the master '" + options_.master_name +
                                           "' (" + (why->empty() ? "no sentinels" : *why) + ")"));
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
