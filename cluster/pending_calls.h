// cluster/pending_calls.h — calls to a topic's owner that wait for its
// answer: forwarded publishes (Forward → ForwardResult) and history fetches
// (HistoryRequest → HistoryResponse, page by page).
//
// Each call waits at most forward_timeout for each answer. A call ends
// exactly once: answered, expired (the cluster's tick calls Expire), failed
// because its link went (FailPeer), or withdrawn because it could not be
// sent. Expiry and link loss take the same path (FailWhere): a forward the
// owner may have received is reported as an unknown outcome (kTimeout), so
// the publisher does not retry into a duplicate without knowing it might.
//
// Thread-safe: one mutex guards the table; callbacks run outside it, on
// whichever thread ended the call (gRPC's, for answers; the cluster's, for
// expiry; the caller's, when a call cannot be sent).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "broker/cluster_hook.h"
#include "cluster/peer_link.h"
#include "herald/cluster_options.h"

namespace herald::cluster {

class PendingCalls {
 public:
  using Clock = std::chrono::steady_clock;

  explicit PendingCalls(const ClusterOptions& options) : options_(options) {}

  // Sends `message` to `owner` over `link` (null: the owner is unreachable)
  // and calls `done` with the owner's ack or the failure.
  void Forward(const std::shared_ptr<PeerLink>& link, const std::string& owner,
               const MessagePtr& message, PublishCallback done);
  // Asks `owner` over `link` (null: unreachable) for `topic`'s history in
  // `epoch` after `after_offset`, collecting every page before `done`.
  void FetchHistory(const std::shared_ptr<PeerLink>& link, const std::string& owner,
                    const std::string& topic, uint64_t epoch, uint64_t after_offset,
                    HistoryCallback done);

  // Answers, from the link's reader. Only the node asked may answer, and
  // only in kind; anything else is ignored.
  void OnForwardResult(const PeerLink& from, const pb::ForwardResult& result);
  void OnHistory(PeerLink& from, pb::HistoryResponse& response);

  // Fails every call whose deadline is `now` or earlier.
  void Expire(Clock::time_point now);
  // Fails every call to `peer` (every call at all, when `peer` is empty).
  void FailPeer(const std::string& peer, const Status& why);

  uint64_t forwards() const { return forwards_.load(std::memory_order_relaxed); }
  uint64_t forward_failures() const { return forward_failures_.load(std::memory_order_relaxed); }
  uint64_t history_fetches() const { return history_fetches_.load(std::memory_order_relaxed); }
  uint64_t history_failures() const { return history_failures_.load(std::memory_order_relaxed); }

 private:
  struct Call {
    std::string peer;
    Clock::time_point deadline;
    PublishCallback on_ack;      // a forward
    HistoryCallback on_history;  // a history fetch
    std::string topic;           // a history fetch's: messages of another are dropped
  };

  uint64_t Add(Call call);
  std::optional<Call> Take(uint64_t id);
  // The question `id` answered by `from`: nothing when `from` was not
  // asked or the kinds differ.
  std::optional<Call> TakeAnswered(uint64_t id, const PeerLink& from, bool history);
  // Asks for a page of history after `after_offset`; the call fails at
  // once if the link is closing.
  void AskHistory(PeerLink& link, Call call, uint64_t epoch, uint64_t after_offset);
  // The one way a call fails: counted, and its callback told. A forward
  // that was `sent` may have been sequenced: its outcome is unknown.
  void Fail(Call& call, const Status& why, bool sent);
  // Takes every call `select` picks and fails it with `why(call)`.
  void FailWhere(const std::function<bool(const Call&)>& select,
                 const std::function<Status(const Call&)>& why);

  const ClusterOptions& options_;
  std::mutex mu_;
  uint64_t next_id_ = 0;
  std::map<uint64_t, Call> calls_;

  std::atomic<uint64_t> forwards_{0}, forward_failures_{0};
  std::atomic<uint64_t> history_fetches_{0}, history_failures_{0};
};

}  // namespace herald::cluster
