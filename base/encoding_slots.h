// base/encoding_slots.h — who uses which Message::EncodeOnce slot.
//
// A message caches each wire form it is sent in (see herald/message.h), one
// slot per form, so a thousand subscribers of one encoding cost one encode.
// The slots are a process-wide namespace: every front takes its own here.
#pragma once

namespace herald {

enum EncodingSlot : int {
  // WebSocket (frontends/ws/message_frames.cc): whole frames.
  kWsRaw = 0,
  kWsJson = 1,
  kWsRawDeflated = 2,
  kWsJsonDeflated = 3,
  // Server-Sent Events (frontends/sse/sse_event.cc).
  kSseRawBody = 4,       // an event's fields after its id, data as sent
  kSseJsonBody = 5,      // … data as the JSON envelope
  kSseRawIndexZero = 6,  // the whole event with id "0:<epoch>:<offset>"
  kSseJsonIndexZero = 7,
};

}  // namespace herald
