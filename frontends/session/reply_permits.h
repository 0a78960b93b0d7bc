// The reply rule: a session may answer only a request it was sent.
//
// Every front that lets a client answer requests (WebSocket JSON `reply`,
// gRPC Connect's reply) notes the reply inbox of each request it delivers to
// that client, and asks here before passing a reply on. A reply to any other
// inbox — guessed, copied from elsewhere, or already answered — is refused
// with permission_denied, so a client with no grants cannot complete other
// users' requests however it learns their inboxes.
//
// Bounded: at most `max_inboxes` are remembered per session (the oldest is
// forgotten first: its request has almost surely timed out), so a flood of
// requests to one responder costs it a fixed amount of memory.
//
//   ReplyPermits permits(broker.limits().max_reply_inboxes_per_session);
//   permits.Note(*delivery.message);             // when delivering
//   if (Status s = permits.Take(to); !s.ok()) refuse(s);
//   else broker.Reply(to, payload);
//
// Thread rule: any thread (gRPC notes on its delivery thread and takes on a
// reactor thread).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "herald/message.h"
#include "herald/status.h"

namespace herald::session {

class ReplyPermits {
 public:
  // `forgot`, if set, hears of each inbox forgotten to stay within
  // max_inboxes (for /metrics), outside the lock.
  explicit ReplyPermits(size_t max_inboxes, std::function<void()> forgot = {})
      : max_(max_inboxes), forgot_(std::move(forgot)) {}

  // Remembers m.reply_to, if it has one (a request).
  void Note(const Message& m);
  // Allows one reply to `to` (and forgets it); invalid_argument when `to` is
  // not a reply inbox at all, permission_denied when this session was not
  // sent it (or already answered it).
  Status Take(std::string_view to);

  // Gives back a permit taken by Take when the reply itself was refused (a
  // bad header, say): the responder may still answer properly.
  void Restore(std::string to);

  size_t size() const;

 private:
  const size_t max_;
  const std::function<void()> forgot_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> allowed_;
  std::deque<std::string> order_;  // oldest first; may hold inboxes already taken
};

}  // namespace herald::session
