// frontends/sse/event_id.h — an SSE stream's position in each of its topics,
// and the compact event id that carries it to the browser and back.
//
// An SSE client reconnecting sends the id of the last event it saw
// (Last-Event-ID). Because one stream can carry many topics, each with its
// own epoch and offsets, the id names a position per topic:
//
//   id    = entry *( "," entry )
//   entry = ref ":" epoch ":" offset     ; epoch and offset in base 36
//         / "!"                          ; topics were left out (see below)
//   ref   = index                        ; the stream's index-th `topic` parameter
//         / "@" encoded-topic            ; a topic a wildcard parameter matched
//         / "#" hash                     ; the same, by its TopicHash in base 36
//
//   ?topic=chat.room1                 → id: 0:lz2k3x1a:5
//   ?topic=prices.>                   → id: @prices.btc:lz2k3x1a:9,@prices.eth:lz2k3x1b:2
//
// An index is only valid against the same list of `topic` parameters, which
// the browser repeats on every reconnect. Topic names are percent-encoded
// except for letters, digits, '.', '_' and '-', so the separators never
// appear inside them and the id stays ASCII (as header values must).
//
// Compact by design: a name whose encoding is longer than
// kMaxInlineTopicChars goes by its hash, and an id carries at most
// `max_topics` entries, so no id is longer than MaxEventIdBytes — the
// browser must be able to send it back within the server's header limit.
// A stream that delivered more topics than its id carries says so with "!":
// on resume the topics left out continue live, and the stream announces it.
//
// Pure: no I/O, no broker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "herald/broker.h"
#include "herald/topic.h"

namespace herald::sse {

struct TopicPosition {
  std::string topic;  // empty: known by `hash` only, until the topic shows up
  uint64_t epoch = 0;
  uint64_t offset = 0;
  uint64_t hash = 0;  // TopicHash(topic) when the id names it so, else 0
};

// Longest encoded topic name an id carries as it is; longer ones go by hash.
inline constexpr size_t kMaxInlineTopicChars = 32;
// The longest id FormatEventId writes for a stream remembering `max_topics`
// positions: an entry is at most '@' + 32 + 2 × (':' + 13 base-36 digits).
constexpr size_t MaxEventIdBytes(size_t max_topics) {
  return max_topics * (1 + kMaxInlineTopicChars + 2 * 14 + 1) + 2;
}

// Where a stream is in each topic it delivered, at most `max_topics` of
// them (the least recently advanced is forgotten beyond that). Also the
// stream's duplicate filter: overlapping patterns and replays deliver some
// messages twice, and only the first copy advances the position.
class StreamPositions {
 public:
  explicit StreamPositions(size_t max_topics) : max_topics_(max_topics == 0 ? 1 : max_topics) {}

  // Starts from a resume point (so replayed copies already seen are skipped).
  // Epoch 0 is a position too: "seen nothing of it" — the topic did not
  // exist yet, so on resume all of its history is new to the client.
  void Seed(const ResumePoint& p);
  // A position whose topic is known by hash only (`p.topic` empty).
  void SeedHashed(const TopicPosition& p);
  // If a position is known by `topic`'s hash only, it is named now and
  // returned (where the client was in it); otherwise nullopt.
  std::optional<TopicPosition> Resolve(std::string_view topic);
  size_t unresolved() const { return unresolved_; }
  // Whether `topic` has a position (by name).
  bool Knows(std::string_view topic) const { return Find(topic) != nullptr; }
  // Topics were left out of the id (forgotten beyond max_topics here or in
  // a stream this one resumes): ids say so with "!". Never cleared.
  bool forgot() const { return forgot_; }
  void MarkForgot() { forgot_ = true; }
  // Whether a message at (epoch, offset) of `topic` is after the position.
  bool IsNew(std::string_view topic, uint64_t epoch, uint64_t offset) const;
  // A message at (epoch, offset) of `topic`: true if it is new to the stream
  // (and the position moves to it), false for a copy already delivered.
  bool Advance(std::string_view topic, uint64_t epoch, uint64_t offset);
  // A gap notice: the position moves past the missing range.
  void Skip(const Gap& gap);

  size_t size() const { return entries_.size(); }
  // Most recently advanced last.
  const std::vector<TopicPosition>& entries() const { return entries_; }

 private:
  TopicPosition& Touch(std::string_view topic);
  const TopicPosition* Find(std::string_view topic) const;

  size_t max_topics_;
  std::vector<TopicPosition> entries_;
  size_t unresolved_ = 0;  // entries known by hash only
  bool forgot_ = false;
};

// The id text for `positions`. `params` are the stream's `topic` parameters;
// `forgot`: end with "!" (StreamPositions::forgot).
std::string FormatEventId(std::span<const TopicPosition> positions,
                          std::span<const std::string> params, bool forgot = false);
// One entry, appended to `out` (the common single-topic id, built once per
// message and shared). `hash`: the topic's TopicHash if known, else 0.
void AppendIdEntry(std::string& out, std::string_view topic, uint64_t epoch, uint64_t offset,
                   std::span<const std::string> params, uint64_t hash = 0);

// What an id sent back by a client says.
struct ParsedEventId {
  std::vector<ResumePoint> points;    // topics named (by index or name)
  std::vector<TopicPosition> hashed;  // topics known by hash only (`topic` empty)
  bool forgot = false;                // "!": the stream had more topics than these
};

// Parses an id sent back by a client. Every named topic must be valid and
// matched by one of `params`, a hash needs a wildcard parameter; at most
// `max_entries` entries. Errors are kInvalidArgument with a message naming
// what is wrong.
Result<ParsedEventId> ParseEventId(std::string_view id, std::span<const std::string> params,
                                   const TopicLimits& limits, size_t max_entries);

}  // namespace herald::sse
