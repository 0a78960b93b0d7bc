// frontends/sse/sse_event.h — messages as Server-Sent Events (WHATWG HTML
// §9.2, "text/event-stream").
//
// An event is `id:`, an optional `event:` and one `data:` line per line of
// the data, then a blank line. The id differs per stream (see event_id.h) and
// the rest does not, so the rest is built once per message and shared by
// every stream; the whole event, id included, is shared too in the common
// case of a stream over one exact topic (its id is always "0:<epoch>:<offset>").
//
// Data in the raw format is the payload itself, split at every CR LF, CR or
// LF into data lines; the browser joins them with LF, so line breaks arrive
// as LF (the format cannot carry a CR). A payload that is not text arrives
// base64-encoded in an event named "binary". The JSON format sends the
// envelope of frontends/json/envelope.h, which is exact for any payload.
//
// Any thread (the shared parts are built by whichever worker needs them first).
#pragma once

#include <string>
#include <string_view>

#include "herald/delivery.h"
#include "herald/message.h"

namespace herald::sse {

enum class DataFormat { kRaw, kJson };

// Appends one "data: <line>\n" per line of `text`.
void AppendDataLines(std::string& out, std::string_view text);

// The event's fields after its id line, through the blank line that ends it.
SharedBytes EventBody(const Message& m, DataFormat format);
// The whole event for a stream whose id is this message's entry at index 0.
SharedBytes IndexZeroEvent(const Message& m, DataFormat format);
// "id: <id>\n", plus "event: <name>\n" when `event` is not empty.
std::string EventHead(std::string_view id, std::string_view event);
// A gap notice: event "gap", data the JSON gap envelope.
std::string GapEvent(std::string_view id, const Gap& gap);
// The notice that a resumed stream's id left topics of `pattern` out: event
// "gap", reason "positions_not_kept", no epoch or range (unknown).
std::string PositionsNotKeptEvent(std::string_view id, std::string_view pattern);

}  // namespace herald::sse
