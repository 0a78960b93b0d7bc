// The WebSocket frames a published message becomes, built once per message
// and encoding, then shared by every connection that needs that encoding
// (Message::EncodeOnce). Server frames are unmasked, so the same bytes are
// valid on every socket; compressed frames too, because the server always
// declares server_no_context_takeover (RFC 7692 §7.1.1.1) and compresses each
// message from an empty context.
//
// Raw mode sends the payload itself, as a text frame when the payload is text
// (not application/octet-stream, and valid UTF-8, as RFC 6455 §5.6 requires
// of text frames) and as a binary frame otherwise. The JSON protocol sends the
// envelope of frontends/json/envelope.h as a text frame.
#pragma once

#include "herald/delivery.h"
#include "herald/message.h"

namespace herald::ws {

enum class FrameStyle { kRaw, kJson };

// Any thread.
SharedBytes MessageFrame(const Message& m, FrameStyle style, bool compressed);
// A per-connection JSON text frame (acks, errors, replies).
std::string TextFrame(std::string_view text, bool compressed);

}  // namespace herald::ws
