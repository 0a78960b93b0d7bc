// Messages and statuses to and from herald.cluster.v1 frames.
#pragma once

#include <string_view>

#include "herald/cluster/v1/peer.pb.h"
#include "herald/delivery.h"
#include "herald/message.h"
#include "herald/status.h"

namespace herald::cluster {

namespace pb = ::herald::cluster::v1;

void ToDelivery(const Message& m, pb::Delivery* out);
// The frame's strings are moved into the message.
MessagePtr FromDelivery(pb::Delivery& d);
// A forwarded publish as the message the owner will sequence.
void ToForward(const Message& m, pb::Forward* out);

// A reply routed to the node whose inbox it answers.
void ToReply(const Message& m, pb::Reply* out);
MessagePtr FromReply(pb::Reply& r);

// Gap reasons keep their meaning across the link; a reason the receiver
// does not know (or none) reads as kEpochChanged, the safe reading.
pb::Gap::Reason ToWire(GapReason reason);
GapReason FromWire(pb::Gap::Reason reason);
void ToGap(const Gap& gap, pb::Gap* out);
Gap FromGap(std::string_view topic, const pb::Gap& gap);

// The ErrorCode whose ErrorCodeName is `name` (kInternal when none is).
ErrorCode ErrorCodeFromName(std::string_view name);

// Approximate bytes a queued frame holds (for the link's queue bound).
size_t FrameCost(const pb::PeerFrame& frame);

}  // namespace herald::cluster
