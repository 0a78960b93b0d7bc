// herald/shared_history_store.h — a history store that several nodes of a
// cluster write to (the Redis store).
//
// On a shared store the store, not a node, keeps each topic's numbering. A
// node that comes to own a topic loads the topic's head from the store
// before it numbers anything, and continues the same epoch: the topic's
// history and numbering outlive the node that wrote them. The store refuses
// an append whose position does not follow what it holds, so two nodes that
// disagree about who owns a topic can never give one (epoch, offset) to two
// messages; the node refused loads the head again.
#pragma once

#include <functional>
#include <string_view>

#include "herald/history_store.h"

namespace herald {

class SharedHistoryStore : public HistoryStore {
 public:
  using LoadCallback = std::function<void(Result<StoredTopic>)>;

  // Any thread; never waits for I/O. Reads `topic` as the store holds it
  // once every append this node made before the call has completed: its
  // head (epoch 0 when the store has never held it), its newest messages
  // (a bounded tail) and its message ids. From then on this node's appends
  // to `topic` are checked against that head: the node writes the topic.
  // Refused at once with kUnavailable when the store is down (leaving
  // `done` as it was); otherwise `done` runs exactly once, on a thread of
  // the store, with the topic or the error that stopped the read.
  virtual Status Load(std::string_view topic, LoadCallback&& done) = 0;

  // Any thread; never waits for I/O. Reads `topic`'s head only (its
  // epoch, last_offset, first_offset and epoch_unproven; no messages, no
  // ids) without making this node its writer: what any node needs to
  // resume a client from the store, whoever owns the topic. The head covers
  // every append any node had completed before the call; with
  // durability = "replicated", it is answered only once the replicas hold
  // what it read (a resume never shows a message a failover could take
  // back). Refused at once like a read (HistoryStore::Read: kUnavailable,
  // kResourceExhausted), and with kUnavailable while the store cannot yet
  // tell an unproven epoch (its write connection is not ready), leaving
  // `done` as it was; otherwise `done` runs exactly once, on a thread of
  // the store.
  virtual Status Head(std::string_view topic, LoadCallback&& done) = 0;
};

}  // namespace herald
