#include "frontends/ws/message_frames.h"

#include "base/encoding_slots.h"
#include "frontends/json/envelope.h"
#include "frontends/ws/deflate.h"
#include "frontends/ws/frame_writer.h"

namespace herald::ws {
namespace {

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

SharedBytes MessageFrame(const Message& m, FrameStyle style, bool compressed) {
  if (style == FrameStyle::kJson) {
    return m.EncodeOnce(compressed ? kWsJsonDeflated : kWsJson,
                        [&] { return Frame(Opcode::kText, json::EncodeMessage(m), compressed); });
  }
  return m.EncodeOnce(compressed ? kWsRawDeflated : kWsRaw, [&] {
    return Frame(json::IsTextPayload(m) ? Opcode::kText : Opcode::kBinary, m.payload, compressed);
  });
}

std::string TextFrame(std::string_view text, bool compressed) {
  return Frame(Opcode::kText, text, compressed);
}

}  // namespace herald::ws
