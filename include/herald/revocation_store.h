// herald/revocation_store.h — where a broker keeps its token revocations
// (herald/clients.h) so that they outlive the process.
//
// A history store that also implements RevocationStore (the disk store
// does) keeps each revocation until the broker deletes it (at its `until`).
// The broker reads them back at start, so a restarted node goes on refusing
// what it refused; a revocation is answered once it is committed here.
//
// Threads: any thread; nothing here waits for I/O.
#pragma once

#include <functional>
#include <vector>

#include "herald/clients.h"
#include "herald/status.h"

namespace herald {

class RevocationStore {
 public:
  virtual ~RevocationStore() = default;
  // What the store held when it was opened (once; later calls: nothing).
  virtual std::vector<Revocation> TakeRevocations() = 0;
  // Keeps `r` (replacing one of the same kind and key). `done` runs once,
  // on the store's thread, when it is committed (or failed).
  virtual void PutRevocation(const Revocation& r, std::function<void(Status)> done) = 0;
  // Forgets one (its `until` passed).
  virtual void DeleteRevocation(const Revocation& r) = 0;
};

}  // namespace herald
