// Each topic's owner among the live members: rendezvous hashing
// (base/rendezvous.h) over node ids. When a member leaves, only the topics
// it owned move; when one joins, only the topics it now wins move to it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/rendezvous.h"

namespace herald::cluster {

// The owner of `topic` among `members` (node ids); "" when there are none.
inline std::string RendezvousOwner(std::string_view topic,
                                   const std::vector<std::string>& members) {
  const size_t i = RendezvousPick(topic, members);
  return i < members.size() ? members[i] : std::string();
}

using herald::RendezvousScore;

}  // namespace herald::cluster
