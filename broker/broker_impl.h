// Broker::Impl — the state behind the public Broker facade, shared by the
// files that implement it (publish/subscribe, resume, requests, maintenance).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "broker/broker_cluster.h"
#include "broker/client_directory.h"
#include "broker/cluster_view.h"
#include "broker/counters.h"
#include "broker/delivery_inbox.h"
#include "broker/dispatcher.h"
#include "broker/live_limits.h"
#include "broker/presence_table.h"
#include "broker/queue_registry.h"
#include "broker/request_tracker.h"
#include "broker/store_read_budget.h"
#include "broker/subscription_index.h"
#include "broker/subscription_slots.h"
#include "broker/topic_table.h"
#include "herald/broker.h"
#include "herald/history_store.h"
#include "herald/queue_store.h"
#include "herald/revocation_store.h"
#include "herald/shared_history_store.h"

namespace herald {

class Broker::Impl {
 public:
  explicit Impl(BrokerOptions options);
  ~Impl();

  Result<PublishAck> Publish(std::string_view topic, std::string payload, PublishOptions options);
  void PublishAsync(std::string_view topic, std::string payload, PublishOptions options,
                    PublishCallback done);
  std::shared_ptr<DeliveryInbox> CreateInbox(std::function<void()> wake);
  Result<uint64_t> Subscribe(std::string_view pattern, std::shared_ptr<Sink> sink,
                             std::shared_ptr<Inbox> inbox, SubscribeOptions options);
  bool Unsubscribe(uint64_t id);
  Result<PresenceSnapshot> Presence(std::string_view topic, const PresenceQuery& query) const;
  // Peers' presence members come in here (BrokerCluster).
  PresenceTable& presence() { return presence_; }
  // The server API (broker_admin.cc).
  std::string NextClientId();
  ClientDirectory& clients() { return *clients_; }
  BrokerCounters& counters() { return counters_; }
  Revocations& revocations() { return revocations_; }
  void Admin(AdminCall call, std::function<void(Result<AdminResult>)> done);
  // A call's arguments, whoever made it (a client through a front, or a
  // peer): kInvalidArgument / kInvalidTopic naming what is wrong. Fills in
  // the defaults (a user revocation's issued_before, the limit's bounds).
  Status CheckAdmin(AdminCall& call) const;
  // What this node alone answers to a call (a peer's, or this node's part).
  void AdminLocal(const AdminCall& call, AdminCallback done);
  // A revocation on this node: held, kept by the store, and its live
  // connections ended; `r` is the answer so far.
  void Revoke(const Revocation& revocation, AdminResult r, AdminCallback done);
  // At start: the revocations the store kept (those still live).
  void RestoreRevocations();
  uint64_t Request(std::string_view topic, std::string payload, std::chrono::milliseconds timeout,
                   ReplyCallback on_reply, PublishOptions options);
  bool CancelRequest(uint64_t id) { return tracker_.Cancel(id); }
  Status Reply(std::string_view reply_to, std::string payload, PublishOptions options);
  void RecordRefused(bool reply);
  void ResumeAsync(std::string_view topic, uint64_t epoch, uint64_t after_offset, size_t limit,
                   ResumeCallback done);
  void RecordSlowConsumer(uint64_t dropped, bool disconnected);
  BrokerStats Stats() const;
  void RunMaintenance();

  // Cluster (broker_cluster.cc).
  std::vector<LocalInterest> AttachCluster(ClusterHook* hook, std::shared_ptr<Inbox> inbox);
  void DetachCluster();
  Result<uint64_t> SubscribePeer(const std::string& pattern, const std::string& group,
                                 std::shared_ptr<Sink> sink);
  void PublishOwned(std::string topic, std::string payload, PublishOptions options,
                    PublishCallback done);
  void DeliverRemote(MessagePtr m, const std::string& pattern, const std::string& group);
  void CompleteReply(MessagePtr reply);
  void PeerLost(const std::string& node);
  void SuspectOwned(const std::function<bool(std::string_view)>& moved_meanwhile);
  // A peer asks for history of a topic owned here; `done` may run on the
  // store's reader thread.
  void ResumeOwned(const std::string& topic, uint64_t epoch, uint64_t after, size_t limit,
                   ResumeCallback done);

  // History store (broker_store.cc). On the store's thread: `m` was
  // committed, or lost with `status`.
  void CommitStored(TopicState& ts, uint64_t numbering, const MessagePtr& m, const Status& status,
                    PublishCallback& done, JobPlaces& jobs);

  // Work queues (broker_queues.cc).
  Status CreateQueue(const QueueOptions& options);
  Status DeleteQueue(std::string_view name);
  Result<QueueInfo> GetQueue(std::string_view name) const;
  std::vector<QueueInfo> ListQueues() const;
  // Whether the nodes share this broker's work queues' store.
  bool queues_shared() const { return shared_queues_ != nullptr; }
  Result<uint64_t> JoinQueue(std::string_view name, std::shared_ptr<Sink> sink,
                             std::shared_ptr<Inbox> inbox, uint32_t max_in_flight,
                             std::shared_ptr<JobBudget> budget);
  bool LeaveQueue(uint64_t member);
  Status ReturnUnsent(std::string_view handle);
  Status Settle(uint64_t member, std::string_view handle, SettleKind kind,
                std::chrono::milliseconds delay);
  uint64_t Pull(std::string_view name, size_t max, std::chrono::milliseconds wait,
                std::function<void(Result<std::vector<Job>>)> done);
  void CancelPull(std::string_view name, uint64_t id);

  const BrokerOptions& options() const { return options_; }
  void SetLimits(const BrokerLimits& next);
  BrokerLimits limits() const { return limits_.Get(); }
  Dispatcher& dispatcher() { return *dispatcher_; }

 private:
  int64_t NowUs() const;
  uint64_t NextEpoch();
  HistoryLimits HistoryFor(std::string_view topic) const;
  TopicStatePtr MakeTopic(std::string_view name);
  bool OwnsInbox(const DeliveryInbox* inbox) const;
  Status CheckSubscribe(std::string_view pattern, const SubscribeOptions& options) const;

  // Topic lock held for all of these.
  void AppendHistory(TopicState& ts, const MessagePtr& m);
  // Topic lock held. Drops the topic's oldest history (ids) until it holds
  // `share` of what it did: the maintenance sweep after a lowered bound.
  void KeepShare(TopicState& ts, double share);
  void KeepIdShare(TopicState& ts, double share);
  // Queues `m` for the history store; its publisher's `done` and its fan-out
  // follow the commit (CommitStored). Refused at once when the store is.
  Status AppendStored(const TopicStatePtr& ts, MessagePtr m, PublishCallback& done,
                      JobPlaces& jobs);
  // The topic starts a new epoch: the store's head moves to it.
  void StartEpochStored(TopicState& ts);
  // Asks the store to apply the topic's retention (what memory holds is
  // bounded on its own, by the node's history budget).
  void RetainStored(TopicState& ts, int64_t now_us);
  const MatchResultPtr& MatchFor(TopicState& ts);
  void FanOut(const MessagePtr& m, const MatchResult& match, const MatchResultPtr& keep);
  // What resuming `ts` after (epoch, after) gets from memory, with the gap.
  // Given `read_from`, history older than memory holds comes from the store:
  // *read_from is then the offset to read after, and no message is copied.
  ResumeResult ResumeLocked(TopicState& ts, uint64_t epoch, uint64_t after, size_t limit,
                            Status* error, std::optional<uint64_t>* read_from) const;
  // A resume answered by this node (topic lock not held).
  void ResumeHere(TopicStatePtr ts, std::string_view topic, uint64_t epoch, uint64_t after,
                  size_t limit, ResumeCallback done);
  // Subscribe-with-resume: what a resumed topic replays, decided under its
  // lock before the subscription is indexed (a replay from the store holds
  // the topic's live messages until it is delivered).
  struct PlannedReplay {
    ResumeResult result;
    std::optional<uint64_t> read_from;
  };
  PlannedReplay PlanReplay(TopicState* ts, const ResumePoint& point);
  void Replay(const ResumePoint& point, PlannedReplay plan, const SubscriptionPtr& sub);
  // A replay read from the store, a page at a time.
  struct StoreReplay {
    std::string topic;
    uint64_t epoch = 0;
    uint64_t after = 0;  // delivered up to here
    uint64_t last = 0;   // the topic's last offset when the subscription was made
    std::optional<Gap> gap;
    SubscriptionPtr sub;
    bool started = false;  // a page was read: the next ones go first in the budget's queue
  };
  void ReadReplayPage(const std::shared_ptr<StoreReplay>& replay);
  void ReadReplayPage(const std::shared_ptr<StoreReplay>& replay, StoreReadBudget::Charge charge);
  void DeliverReplayPage(const std::shared_ptr<StoreReplay>& replay, Result<StoreRead> read,
                         StoreReadBudget::Charge charge);

  void Redispatch(const MessagePtr& m, const Subscription& gone, bool from_peer);

  // The shared publish path (Publish, PublishAsync, Reply, PublishOwned).
  struct HereOptions {
    // A peer forwarded the publish to this node as the topic's owner: it is
    // sequenced here even when this node's view of the membership still
    // names another owner (the topic is then taken, in a fresh epoch).
    bool forwarded_by_peer = false;
    // Where the outcome goes when it comes later: a message sequenced here
    // for a history store is acknowledged once the store commits it. Taken
    // (and HereResult::deferred set) only then.
    PublishCallback* done = nullptr;
  };
  struct HereResult {
    Result<PublishAck> ack = PublishAck{};  // the error, or where the message landed
    bool deferred = false;                  // the outcome goes to HereOptions::done
    // Set when another node owns the topic (and the publish was not
    // forwarded by a peer): nothing was sequenced, and the caller hands
    // `forward` to `owner` through the cluster.
    std::string owner;
    MessagePtr forward;
  };
  HereResult PublishHere(std::string_view topic, std::string payload, PublishOptions options,
                         HereOptions here);
  // Topic lock held, topic numbered here: a duplicate's answer, or `m`
  // sequenced (for the store when it keeps the topic's history, `*done`
  // then taken).
  HereResult SequenceHere(const TopicStatePtr& ts, std::shared_ptr<Message> m,
                          PublishCallback* done);
  // Topic lock held. With a cluster, settles the topic's owner under the
  // current membership (restarting its numbering when ownership moved);
  // returns true when this node owns it.
  bool OwnedHere(TopicState& ts);
  // Topic lock held. Drops the topic's history and restarts its numbering:
  // in a new epoch of this node's when `here`, else at the owner's (epoch 0
  // until its first message arrives).
  void RestartNumbering(TopicState& ts, bool here);
  // Topic lock held. Announces an epoch change to local plain subscribers.
  void NoteEpoch(TopicState& ts, const MatchResult& match, uint64_t epoch);
  // A subscription's replay of a topic `owner` numbers ("": this node, on a
  // shared store, once loaded): read from a shared store when it keeps the
  // topic's history and this node receives the topic (ReplayFromStore),
  // else asked of the owner (AskReplay). Subscribe decides the same way
  // before its subscription is indexed.
  void FetchReplay(const std::string& owner, const ResumePoint& point, const SubscriptionPtr& sub,
                   int attempt = 0);
  void AskReplay(const std::string& owner, const ResumePoint& point, const SubscriptionPtr& sub,
                 int attempt);
  // A shared store in a cluster keeps `topic`'s history: any node can read
  // it from the store (broker_store_resume.cc).
  bool ResumesFromStore(std::string_view topic) const;
  // Topic lock held, topic owned elsewhere. Whether this node already
  // receives the topic from its owner, so a replay read from the store
  // meets the live messages with nothing between them (see
  // broker_store_resume.cc): a message of it arrived once this node had
  // announced new interest `interest_seq` times.
  bool ReceivesShared(TopicState& ts, uint64_t interest_seq);
  void ReplayFromStore(const std::string& owner, const ResumePoint& point,
                       const SubscriptionPtr& sub, int attempt);
  // A history read (ResumeAsync) of a topic `owner` numbers.
  void ResumeFromStore(const std::string& owner, std::string topic, uint64_t epoch, uint64_t after,
                       size_t limit, ResumeCallback done);
  // Replays whose owner could not be asked (a dead node the view still
  // names), asked again of the owner at the next maintenance sweep.
  struct ReplayRetry {
    ResumePoint point;
    SubscriptionPtr sub;
    int attempt = 0;
  };
  std::mutex replay_retries_mu_;
  std::vector<ReplayRetry> replay_retries_;
  void RetryReplays();

  // A shared store in a cluster (broker_shared.cc): the store keeps each
  // topic's numbering; nodes load it when they come to own a topic.
  bool SharedNumbering(const TopicState& ts) const {
    return shared_ && ts.history.enabled() && cluster_.attached();
  }
  // Topic lock held. What this node numbered no longer counts (a move, or an
  // append the store refused): memory's history goes, and the next publish
  // here loads the head again. What local subscribers saw stays where it was.
  void HandOverShared(TopicState& ts);
  // Topic lock held, topic owned here. Ok when this node may number the
  // topic now; otherwise starts loading it (if not already) and says why the
  // publish cannot be numbered yet.
  Status ReadyShared(const TopicStatePtr& ts);
  // Topic lock held. Starts loading the head (LoadedShared takes it).
  Status LoadShared(const TopicStatePtr& ts);
  // What a load was sent under: the numbering it belongs to, and what this
  // node had seen of the topic then (the store's answer, read after that,
  // must hold at least as much; what arrives while the load is in flight
  // may be newer than the read).
  struct LoadSent {
    uint64_t numbering = 0;
    uint64_t seen_epoch = 0;
    uint64_t seen_offset = 0;
  };
  void LoadedShared(const TopicStatePtr& ts, const LoadSent& sent, Result<StoredTopic> loaded);
  // Topic lock held, topic owned elsewhere: a message its owner sent.
  // Delivered once, in order: one already delivered is dropped, and a hole
  // before it is filled from the store first.
  void MirrorShared(const TopicStatePtr& ts, MessagePtr m);
  void CatchUpShared(const TopicStatePtr& ts);
  // Maintenance: reads again the holes whose read the store refused, of
  // the topics the sweep found.
  void RetryStalledCatchUps(const std::vector<std::string>& stalled);
  // Topic lock held. Whether a subscription of this node (not a peer's
  // interest) matches the topic.
  bool HasLocalSubscribers(TopicState& ts);
  void CaughtUpShared(const TopicStatePtr& ts, Result<StoreRead> read);
  // The held messages go out; a hole before them, if not `filled`, is told
  // to local subscribers as a gap.
  void EndCatchUpShared(const TopicStatePtr& ts, bool filled);
  // Topic lock held. Hands a message of another node's numbering to local
  // plain subscribers (never to peers: one hop).
  void DeliverMirrored(TopicState& ts, const MessagePtr& m);
  void MaintenanceLoop();
  // Work queues (broker_queues.cc). Topic lock held: a place in every
  // queue matching the topic for a job of `bytes`, or the refusal (none
  // held then).
  Status ReserveJobs(TopicState& ts, size_t bytes, JobPlaces& places);
  const std::vector<WorkQueuePtr>& QueuesFor(TopicState& ts);
  // With a queue store, for a message whose topic keeps no history: its
  // jobs written, `committed` (may be null) run once they are on disk.
  // Refused like an append: the places are then released.
  Status PutJobs(const MessagePtr& m, JobPlaces& places, QueueStore::CommitCallback* committed);
  static std::vector<JobRef> JobRefs(const JobPlaces& places, std::string_view topic);
  // The message is shown: its places become jobs.
  void FillJobs(const MessagePtr& m, JobPlaces& places);
  // The message was lost: the places go back.
  void ReleaseJobs(const MessagePtr& m, JobPlaces& places);
  // At start: the queues the store kept.
  void RestoreQueues();
  // Carries out what a queue decided, no queue lock held: jobs to members'
  // inboxes, pulls answered, dead letters published.
  // `poll`: the maintenance thread's turn (a shared queue whose last claim
  // found nothing claims again).
  void RunQueueEffects(const WorkQueuePtr& q, WorkQueue::Effects& fx, bool poll = false);
  // A shared queue claims what its members can take, unless a claim is on
  // its way (WorkQueue::StartClaim).
  void MaybeClaim(const WorkQueuePtr& q, bool poll);
  // A new queue reading history (broker_backfill.cc). Topic lock held:
  // the message at `offset` of `epoch` is a live job of these places'
  // queues (QueueBackfill::Cut).
  static void NoteCuts(const JobPlaces& places, std::string_view topic, uint64_t epoch,
                       uint64_t offset);
  // Maintenance thread: the queue's next step of reading history (list the
  // topics, read a page, add jobs while it has room); when to step again
  // (INT64_MAX: when a read completes, or never).
  int64_t StepBackfill(const WorkQueuePtr& q, int64_t now_us);
  void ListBackfill(const WorkQueuePtr& q, QueueBackfill& bf);
  // Where the reading stands, kept with the queue's definition (if a
  // store keeps queues).
  void SaveBackfill(const WorkQueuePtr& q, QueueBackfill& bf);
  // Adds the jobs read while the queue has room; false when it is full.
  bool AddBackfilled(const WorkQueuePtr& q, QueueBackfill& bf);
  void BackfillPage(const WorkQueuePtr& q, const QueueBackfill::Read& read,
                    Result<ResumeResult> page);
  // Settles what is due in every queue; the earliest next deadline.
  RequestTracker::Clock::time_point ExpireQueues(RequestTracker::Clock::time_point now);
  // Sends the presence events due; when the next one is.
  RequestTracker::Clock::time_point FlushPresence(RequestTracker::Clock::time_point now);
  // A queue's earliest deadline is `due`: the maintenance thread is woken
  // if it would sleep past it.
  void NoteQueueDeadline(int64_t due);
  // Maintenance thread: publishes the dead letters queues decided on.
  void PublishDeadLetters();
  // At a stop: publishes the dead letters made before it and waits, at most
  // `window`, for their answers (the jobs they settle are then gone from
  // the store), rather than dropping them.
  void FlushDeadLetters(std::chrono::milliseconds window);
  // At the end: every queue closes (waiting pulls answered).
  void CloseQueues();
  static int64_t SteadyUs(RequestTracker::Clock::time_point t);
  // At start: every topic the store holds, with its numbering and history.
  void LoadStored(bool complete, std::vector<StoredTopic> topics);
  // Fan-out of a message now in history (topic lock held).
  // `jobs`: the places its work queues reserved for it (null: reserved now,
  // unbounded: a path that could not refuse the publish).
  void Deliver(TopicState& ts, const MessagePtr& m, JobPlaces* jobs = nullptr);
  // Topic lock held. Remembers a message's msg_id (if any) for dedup_window.
  void RememberId(TopicState& ts, StoredId id, bool pending);
  // Topic lock held. The message remembered as pending was kept (or lost:
  // its id is forgotten); the retries that waited for it, to answer.
  std::vector<PublishCallback> SettleId(TopicState& ts, const Message& m, bool kept);
  // Topic lock held. Remembers the ids a store read back that are still
  // inside dedup_window and not known yet (moved from).
  void RememberStoredIds(TopicState& ts, std::vector<StoredId>& ids);
  // Topic lock held. Memory's history of the topic goes (its budget with it).
  void DropHistory(TopicState& ts);

  const BrokerOptions options_;
  // options_'s BrokerLimits as they apply now (SetLimits): read from here,
  // never from options_.
  LiveLimits limits_{BrokerLimits::Of(options_)};
  std::mutex set_limits_mu_;
  HistoryStore* const store_;  // options_.store, or null: history in memory only
  // store_ when it is a shared store (several nodes write it), else null.
  SharedHistoryStore* const shared_;
  // store_ when it also keeps work queues (the disk store), else null.
  QueueStore* const queue_store_;
  // store_ when it also keeps token revocations (the disk store), else null.
  RevocationStore* const revocation_store_;
  // store_ when brokers share its work queues (the Redis store on one
  // server), else null; and this node's name there ("<node id>.<run>").
  SharedQueueStore* const shared_queues_;
  const std::string queue_holder_;
  BrokerCounters counters_;
  SubscriptionIndex index_;
  TopicTable topics_;
  RequestTracker tracker_;
  QueueRegistry queues_;
  // Who is in each presence topic, and their events (pushed to watchers'
  // inboxes; later ones flushed by the maintenance thread).
  PresenceTable presence_;
  std::atomic<uint64_t> last_epoch_{0};
  // How many times this node announced new interest to its peers: a local
  // subscription's first of a (pattern, queue group), or a link that came
  // up (it is told all of it). Counted under subs_mu_ or at a link's start.
  std::atomic<uint64_t> interest_seq_{0};
  // Replay pages read from the store and not yet delivered
  // (max_store_read_bytes); pages that wait are started by the maintenance
  // thread as room is freed.
  StoreReadBudget read_budget_;

  // Every inbox this broker created; they live as long as the broker, so
  // subscriptions and match results can point at them without owning them.
  mutable std::mutex inboxes_mu_;
  std::vector<std::shared_ptr<DeliveryInbox>> inboxes_;

  mutable std::mutex subs_mu_;
  SubscriptionSlots subscriptions_;
  // Local subscriptions (peers' excluded) by pattern, for the server API's
  // topic list. Under subs_mu_.
  std::map<std::string, uint64_t, std::less<>> local_patterns_;
  // Connected clients, and the revoked tokens.
  const std::shared_ptr<ClientDirectory> clients_ = std::make_shared<ClientDirectory>();
  Revocations revocations_{options_.max_revocations};

  std::unique_ptr<Dispatcher> dispatcher_;

  ClusterView cluster_;  // all the core knows of a cluster (none attached: a single node)

  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool stopping_ = false;
  bool deadline_changed_ = false;
  bool reads_ready_ = false;  // read_budget_ freed bytes while reads wait
  bool dead_ready_ = false;   // dead_letters_ has some
  // The earliest work-queue deadline the maintenance thread will wake for
  // (written under maintenance_mu_, read without it).
  std::atomic<int64_t> queue_wake_us_{INT64_MAX};
  struct DeadLetter {
    std::weak_ptr<WorkQueue> queue;
    WorkQueue::Effects::Dead dead;
  };
  std::mutex dead_mu_;
  std::condition_variable dead_cv_;  // a dead letter's publish answered
  std::vector<DeadLetter> dead_letters_;
  size_t dead_publishing_ = 0;  // published, not yet answered (dead_mu_)
  std::thread maintenance_;
};

}  // namespace herald
