#include "frontends/ws/message_frames.h"

#include "frontends/json/envelope.h"
#include "frontends/ws/deflate.h"
#include "frontends/ws/frame_writer.h"
#include "frontends/ws/utf8.h"

namespace herald::ws {
namespace {

// Message::EncodeOnce slots used by this front.
enum Slot : int { kRawSlot = 0, kJsonSlot = 1, kRawDeflatedSlot = 2, kJsonDeflatedSlot = 3 };

std::string Frame(Opcode opcode, std::string_view payload, bool compressed) {
  if (!compressed) return BuildFrame(opcode, payload);
  // One compressor per thread: frames are encoded on whichever worker first
  // needs them, and a Deflater is single-threaded.
  thread_local Deflater deflater;
  std::string deflated;
  if (!deflater.Compress(payload, &deflated)) return BuildFrame(opcode, payload);
  return BuildFrame(opcode, deflated, {.rsv1 = true});
}

}  // namespace

bool IsTextPayload(const Message& m) {
  if (m.content_type.starts_with("application/octet-stream")) return false;
  return IsValidUtf8(m.payload);
}

SharedBytes MessageFrame(const Message& m, FrameStyle style, bool compressed) {
  if (style == FrameStyle::kJson) {
    return m.EncodeOnce(compressed ? kJsonDeflatedSlot : kJsonSlot,
                        [&] { return Frame(Opcode::kText, json::EncodeMessage(m), compressed); });
  }
  return m.EncodeOnce(compressed ? kRawDeflatedSlot : kRawSlot, [&] {
    return Frame(IsTextPayload(m) ? Opcode::kText : Opcode::kBinary, m.payload, compressed);
  });
}

std::string TextFrame(std::string_view text, bool compressed) {
  return Frame(Opcode::kText, text, compressed);
}

}  // namespace herald::ws
