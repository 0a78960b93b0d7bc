// store/redis/scripts.h — the Lua scripts the Redis store runs (EVALSHA,
// loaded by every connection's handshake), and the keys they work on.
//
// Keys of one topic T under a prefix P share the hash tag {T}:
//   P:{T}:m   hash    e epoch, o last offset, f first offset held, b payload
//                     bytes held, ft the first held message's stamp (µs),
//                     g the value of P:lost when its epoch began
//   P:{T}:s   stream  entry id <epoch>-<offset>; fields t (µs), d (payload),
//                     then c content type, r reply-to, i msg id and h:<name>
//                     headers, each only when set
//   P:{T}:i   hash    msg id -> "<epoch>:<offset>:<µs>" (the dedup window)
//   P:topics  set     every topic with history (no keyspace SCAN at start)
//   P:ids     zset    "<topic>\0<msg id>" by µs, so ids expire oldest first
//   P:writer  hash    the master that acknowledges appends, recorded by each
//                     write connection: run (run_id), id (master_replid),
//                     addr (where the connection went), sync (its
//                     appendfsync, "off" without appendonly) and
//                     r ("1": appends acknowledged only once a replica had
//                     them); with replicas, confirms (bumped before a WAIT
//                     that confirms a load's or a head's reads)
//   P:lost    string  how many times a master came that cannot show it holds
//                     every append acknowledged before (kContinuityScript):
//                     a topic whose g is lower may have lost its newest
//                     messages, so its epoch takes no more
//
// Every script checks first and writes last (a Lua error does not roll back
// writes before it), and answers with data, not errors, so that one refusal
// does not turn a pipeline into errors. Numbers: epochs are µs since 1970
// and offsets count messages; both stay below 2^53 (the year 2255, and 10^14
// messages per epoch), the range Lua's doubles hold exactly.
#pragma once

#include <string>
#include <string_view>

namespace herald::redis {

struct TopicKeys {
  std::string meta, stream, ids;
};
TopicKeys KeysOf(std::string_view prefix, std::string_view topic);
std::string TopicsKey(std::string_view prefix);
std::string IdsKey(std::string_view prefix);
// P:shards  string  the shard names this server belongs to (ShardMap)
std::string ShardsKey(std::string_view prefix);
std::string WriterKey(std::string_view prefix);
std::string LostKey(std::string_view prefix);

// Appends a run of one topic's messages at (epoch, first offset), with
// their work-queue jobs (store/redis/queue_records.h), on:
//   KEYS: meta, stream, ids, topics, id index, lost, then per queue of the
//         run its job hash (and, shared, its ready set right after it)
//   ARGV: topic, epoch, first offset, count, base epoch, "1" if the queues
//         are shared (queue_records.h: each job also goes into the ready
//         set, stamped with Redis's clock) else "0", then per message:
//         µs, msg id ("" for none), field count n, then n field/value pairs
//         (the first is d, the payload), then its job count k and, when
//         k > 0, the job (EncodeJob) and k pairs (index in KEYS, field)
// Returns "OK", "UNPROVEN <epoch> <last offset>" when the head's epoch began
// before a master that cannot show it kept what was acknowledged (P:lost
// grew since: only a newer epoch is taken), or "MISMATCH <epoch> <last
// offset>" (the store's head) when
// the run does not follow: the next offset of the head's epoch, or offset 1
// of a newer epoch (whose start drops the older epoch's messages). A newer
// epoch starts only over the head the writer knew (its base epoch, 0 for
// none): a writer that has not seen another's epoch cannot end it.
extern const char* const kAppendScript;

// Drops the oldest messages of the topic's epoch: every one before
// first_kept, then while more than max_messages, more than max_bytes of
// payload, or stamped before min_µs; at most `limit` per call.
//   KEYS: meta, stream, topics, lost
//   ARGV: topic, epoch, first_kept, max_messages, max_bytes, min_µs, limit
// A newer epoch than the head's (a trim that starts it) replaces the head:
// the older epoch's messages go, nothing of the new one is held yet.
// Returns {first offset held, last offset, payload bytes dropped, the first
// held message's stamp, messages dropped} (first = last + 1: none held;
// stamp 0: not known), or {} when the epoch is not the head's (an older one
// has nothing left; a newer one is started by a trim, never by retention).
extern const char* const kDropScript;

// Reads a topic's messages after a position, stopping at a count or at a
// payload budget (what a page holds: never more than asked for crosses the
// wire, however large the messages).
//   KEYS: stream
//   ARGV: start id, exclusive ("(<epoch>-<after>"), end id (<epoch>),
//         max messages, max payload bytes past the first message
// Returns {1 if more may follow else 0, {entry, ...}} with entries as XRANGE
// gives them.
extern const char* const kReadScript;

// Forgets message ids stamped before a time, at most `limit` per call.
//   KEYS: id index
//   ARGV: prefix, before µs, limit
// Returns how many went (== limit: call again).
extern const char* const kExpireIdsScript;

// Run by each write connection before its first command: does this master
// hold every append acknowledged before it? Yes when it is the same process
// as the master recorded in P:writer, never promoted since; when it is a
// replica that took over from it and every append of that run waited for
// every replica; when it is the recorded master (the same address)
// restarted, and it fsyncs every append before answering, then and now.
// Otherwise (a restart without fsync, a replica that may have missed the
// newest appends, a takeover it cannot trace, another server, topics and no
// record) it counts one more in P:lost: every epoch begun before takes no
// more. Then it records this master, keeping the weakest promise of this
// run's writers.
//   KEYS: writer, lost, topics
//   ARGV: run_id, master_replid, master_replid2, sync, "1" if this writer
//         waits for every replica the master has (else "0"), address
// Returns {why it cannot show it ("" when it can), P:lost, 1 if this writer
// lowered the run's promise (it does not wait for every replica, where
// every writer before did: the record must reach the replicas before its
// first append)}.
extern const char* const kContinuityScript;

// Forgets a topic: its keys and its place in the topic set.
//   KEYS: meta, stream, ids, topics
//   ARGV: topic
extern const char* const kForgetScript;

}  // namespace herald::redis
