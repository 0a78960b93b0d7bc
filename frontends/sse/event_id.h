// frontends/sse/event_id.h — an SSE stream's position in each of its topics,
// and the compact event id that carries it to the browser and back.
//
// An SSE client reconnecting sends the id of the last event it saw
// (Last-Event-ID). Because one stream can carry many topics, each with its
// own epoch and offsets, the id names a position per topic:
//
//   id    = entry *( "," entry )
//   entry = ref ":" epoch ":" offset     ; epoch and offset in base 36
//   ref   = index                        ; the stream's index-th `topic` parameter
//         / "@" encoded-topic            ; a topic a wildcard parameter matched
//
//   ?topic=chat.room1                 → id: 0:lz2k3x1a:5
//   ?topic=prices.>                   → id: @prices.btc:lz2k3x1a:9,@prices.eth:lz2k3x1b:2
//
// An index is only valid against the same list of `topic` parameters, which
// the browser repeats on every reconnect. Topic names are percent-encoded
// except for letters, digits, '.', '_' and '-', so the separators never
// appear inside them and the id stays ASCII (as header values must).
//
// Pure: no I/O, no broker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "herald/broker.h"
#include "herald/topic.h"

namespace herald::sse {

struct TopicPosition {
  std::string topic;
  uint64_t epoch = 0;
  uint64_t offset = 0;
};

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
};

// The id text for `positions`. `params` are the stream's `topic` parameters.
std::string FormatEventId(std::span<const TopicPosition> positions,
                          std::span<const std::string> params);
// One entry, appended to `out` (the common single-topic id, built once per
// message and shared).
void AppendIdEntry(std::string& out, std::string_view topic, uint64_t epoch, uint64_t offset,
                   std::span<const std::string> params);

// Parses an id sent back by a client into resume points. Every topic must
// be valid and matched by one of `params`; at most `max_entries` entries.
// Errors are kInvalidArgument with a message naming what is wrong.
Result<std::vector<ResumePoint>> ParseEventId(std::string_view id,
                                              std::span<const std::string> params,
                                              const TopicLimits& limits, size_t max_entries);

}  // namespace herald::sse
