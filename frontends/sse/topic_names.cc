#include "frontends/sse/topic_names.h"

namespace herald::sse {

void TopicNames::Remember(uint64_t hash, std::string_view topic) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  auto [it, inserted] = names_.try_emplace(hash, topic);
  if (!inserted) {
    // The same name again (or, at odds of 2^-64, another one: the newer wins).
    if (it->second != topic) it->second = std::string(topic);
    return;
  }
  order_.push_back(hash);
  if (order_.size() > capacity_) {
    names_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<std::string> TopicNames::Find(uint64_t hash) const {
  std::lock_guard lock(mu_);
  auto it = names_.find(hash);
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

size_t TopicNames::size() const {
  std::lock_guard lock(mu_);
  return names_.size();
}

}  // namespace herald::sse
