// The node's connected clients (herald/clients.h), by id and by user, and
// the tokens revoked before their `exp`.
//
// Registration is per connection (a mutex and two hash-map updates);
// lookups serve the server API, which is rare, so one mutex is enough. A
// ClientControl is never called with the mutex held: the calls are
// collected, then made.
//
// Thread rule: any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/relaxed.h"
#include "herald/clients.h"

namespace herald {

class ClientDirectory : public std::enable_shared_from_this<ClientDirectory> {
 public:
  struct Found {
    ClientRecord record;
    std::shared_ptr<ClientControl> control;  // null: the connection is ending
  };

  // The entry goes when the returned handle's last copy does (a handle may
  // outlive the directory: held by std::shared_ptr).
  std::shared_ptr<void> Register(ClientRecord record, std::weak_ptr<ClientControl> control);
  // A live connection's token was renewed (a refresh).
  void Renewed(std::string_view client, std::string token_id, int64_t issued_at_s,
               int64_t expires_at_s);

  // The connections a call names: one by id, or every one of a user.
  std::vector<Found> Select(std::string_view client, std::string_view user) const;
  // The connections a revocation names.
  std::vector<Found> Revoked(const Revocation& r) const;
  size_t size() const;

 private:
  struct Entry {
    ClientRecord record;
    std::weak_ptr<ClientControl> control;
  };
  void Unregister(const std::string& client);
  static Found Take(const Entry& e) { return {e.record, e.control.lock()}; }

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> by_id_;
  std::unordered_map<std::string, std::set<std::string>> by_user_;
};

// Revoked tokens, until each record's `until`. Checking a token costs one
// relaxed load while none is revoked.
//
// Thread rule: any thread.
class Revocations {
 public:
  explicit Revocations(size_t max) : max_(max) {}
  // A reload: records held stay (a lower bound refuses new ones until
  // enough are forgotten).
  void set_max(size_t max) { max_.store(max); }
  // kResourceExhausted past `max` live records; a record already held keeps
  // the later `until` and `issued_before`. Returns the record as held;
  // `changed` (optional): whether it is new or was extended, and then
  // `kept` (optional) is called with it under the lock (a store write,
  // queued in the order records change).
  Result<Revocation> Add(const Revocation& r, bool* changed,
                         const std::function<void(const Revocation&)>& kept = {});
  bool Refuses(std::string_view user, std::string_view token_id, int64_t issued_at_s,
               int64_t now_s) const;
  // Forgets the records past their `until`, calling `gone` for each under
  // the lock (so a store forgets it before a new one of the key is added).
  void Expire(int64_t now_s, const std::function<void(const Revocation&)>& gone);
  std::vector<Revocation> All() const;
  size_t size() const;

 private:
  Relaxed<size_t> max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Revocation> tokens_, users_;
  std::atomic<size_t> count_{0};
};

}  // namespace herald
