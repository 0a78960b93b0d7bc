// Rendezvous (highest-random-weight) hashing: every node scores every topic
// and the highest score owns it. When a member leaves, only the topics it
// owned move; when one joins, only the topics it now wins move to it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::cluster {

// The owner of `topic` among `members` (node ids); "" when there are none.
std::string RendezvousOwner(std::string_view topic, const std::vector<std::string>& members);

uint64_t RendezvousScore(std::string_view topic, std::string_view node);

}  // namespace herald::cluster
