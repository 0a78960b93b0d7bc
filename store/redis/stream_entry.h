// store/redis/stream_entry.h — a message as the fields of a stream entry.
//
// An entry of P:{T}:s has the id <epoch>-<offset> and the fields
//   t   the stamp (µs since 1970), written by the append script
//   d   the payload
//   c   content type, r reply-to, i msg id: only when set
//   h:<name>  one per header, in order
// so that `XRANGE` in redis-cli shows a topic's history as it is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "herald/message.h"
#include "herald/status.h"
#include "store/redis/reply.h"

namespace herald::redis {

// Appends the message's field count and its field/value pairs (d first)
// to `args`, as the append script takes them.
void AppendFields(const Message& m, std::vector<std::string>& args);

// A message of `topic` from one entry of an XRANGE reply ([id, [f, v, …]]).
// Names what is wrong when the entry is not one of ours.
Result<MessagePtr> MessageFromEntry(std::string_view topic, const Reply& entry);

}  // namespace herald::redis
