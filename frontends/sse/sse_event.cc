#include "frontends/sse/sse_event.h"

#include "base/base64.h"
#include "base/encoding_slots.h"
#include "frontends/json/envelope.h"
#include "frontends/json/json_writer.h"
#include "frontends/sse/event_id.h"

namespace herald::sse {
namespace {

static_assert(kSseJsonIndexZero < Message::kMaxEncodings);

std::string Body(const Message& m, DataFormat format) {
  std::string out;
  if (format == DataFormat::kJson) {
    out.reserve(m.payload.size() + m.topic.size() + 96);
    AppendDataLines(out, json::EncodeMessage(m));  // one line: JSON escapes CR and LF
  } else if (json::IsTextPayload(m)) {
    out.reserve(m.payload.size() + 8);
    AppendDataLines(out, m.payload);
  } else {
    out += "event: binary\n";
    AppendDataLines(out, Base64Encode(m.payload));
  }
  out.push_back('\n');
  return out;
}

}  // namespace

void AppendDataLines(std::string& out, std::string_view text) {
  size_t start = 0;
  for (;;) {
    const size_t eol = text.find_first_of("\r\n", start);
    out += "data: ";
    out.append(text.substr(start, eol == std::string_view::npos ? eol : eol - start));
    out.push_back('\n');
    if (eol == std::string_view::npos) return;
    start = eol + 1;
    if (text[eol] == '\r' && start < text.size() && text[start] == '\n') ++start;
  }
}

SharedBytes EventBody(const Message& m, DataFormat format) {
  return m.EncodeOnce(format == DataFormat::kJson ? kSseJsonBody : kSseRawBody,
                      [&] { return Body(m, format); });
}

SharedBytes IndexZeroEvent(const Message& m, DataFormat format) {
  return m.EncodeOnce(format == DataFormat::kJson ? kSseJsonIndexZero : kSseRawIndexZero, [&] {
    std::string id;
    const std::string topic = m.topic;
    AppendIdEntry(id, m.topic, m.epoch, m.offset, std::span<const std::string>(&topic, 1));
    std::string out = EventHead(id, {});
    out += *EventBody(m, format);
    return out;
  });
}

std::string EventHead(std::string_view id, std::string_view event) {
  std::string out;
  out.reserve(id.size() + event.size() + 12);
  out += "id: ";
  out += id;
  out.push_back('\n');
  if (!event.empty()) {
    out += "event: ";
    out += event;
    out.push_back('\n');
  }
  return out;
}

std::string PositionsNotKeptEvent(std::string_view id, std::string_view pattern) {
  json::JsonWriter w;
  w.Begin()
      .Field("op", "gap")
      .Field("topic", pattern)
      .Field("reason", "positions_not_kept")
      .Field("epoch", uint64_t{0})
      .Field("from", uint64_t{0})
      .Field("to", uint64_t{0})
      .End();
  std::string out = EventHead(id, "gap");
  AppendDataLines(out, w.Take());
  out.push_back('\n');
  return out;
}

std::string GapEvent(std::string_view id, const Gap& gap) {
  std::string out = EventHead(id, "gap");
  AppendDataLines(out, json::EncodeGap(gap));
  out.push_back('\n');
  return out;
}

}  // namespace herald::sse
