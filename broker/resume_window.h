// broker/resume_window.h — what a resume after (epoch, offset) is owed by a
// topic whose history holds [first, last] of its current epoch: where the
// replay starts and the gap told before it. One rule for every place a
// resume is answered (a topic's owner from memory and its store, any node
// from a shared store's head), so a client is told the same thing wherever
// it resumes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "herald/delivery.h"
#include "herald/status.h"

namespace herald {

// A store read of a resume: what a replay or a /history page holds at a time.
constexpr size_t kStorePageMessages = 1024;
constexpr size_t kStorePageBytes = 1u << 20;

struct ResumeWindow {
  std::optional<Gap> gap;
  uint64_t start = 0;  // the last offset not wanted: the replay is (start, last]
  // The client's offset is past `last` in the topic's epoch: it cannot come
  // from this epoch's history (AheadError says so).
  bool ahead = false;
};

// The topic `topic` is at `epoch`, its offsets up to `last`, of which it
// holds `first` on (last + 1: none); the client saw (`seen_epoch`,
// `after`) (epoch 0: nothing).
inline ResumeWindow DecideResume(std::string_view topic, uint64_t epoch, uint64_t first,
                                 uint64_t last, uint64_t seen_epoch, uint64_t after) {
  ResumeWindow w;
  if (seen_epoch == 0) {
    after = 0;  // a subscriber that has seen nothing asks for whatever is retained
  } else if (seen_epoch != epoch) {
    // The numbering restarted: what the client saw belongs to a lost epoch.
    w.gap = Gap{std::string(topic), GapReason::kEpochChanged, epoch,
                first > 1 ? uint64_t{1} : uint64_t{0}, first - 1};
    after = 0;
  } else if (after > last) {
    w.ahead = true;
    return w;
  } else if (after + 1 < first) {
    w.gap = Gap{std::string(topic), GapReason::kTrimmed, epoch, after + 1, first - 1};
  }
  w.start = std::max(after, first - 1);
  return w;
}

inline Status AheadError(std::string_view topic, uint64_t after, uint64_t last) {
  return Status(ErrorCode::kInvalidArgument, "offset " + std::to_string(after) +
                                                 " is ahead of topic '" + std::string(topic) +
                                                 "' (last offset " + std::to_string(last) + ")");
}

// `gap` also covers [from, to] of `epoch`: trimmed, unless it already says more.
inline void CoverGap(std::optional<Gap>& gap, std::string_view topic, uint64_t epoch, uint64_t from,
                     uint64_t to) {
  if (from > to) return;
  if (!gap) {
    gap = Gap{std::string(topic), GapReason::kTrimmed, epoch, from, to};
    return;
  }
  if (gap->from_offset == 0) gap->from_offset = from;
  gap->to_offset = std::max(gap->to_offset, to);
}

}  // namespace herald
