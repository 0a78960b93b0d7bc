#include "sse_fuzz_target.h"

#include <cstdio>
#include <string>
#include <vector>

#include "frontends/sse/event_id.h"
#include "frontends/sse/sse_event.h"

namespace herald::sse::fuzz {
namespace {

bool Fail(const char* what) {
  std::fprintf(stderr, "sse fuzz: %s\n", what);
  return false;
}

const std::vector<std::string> kParams = {"a.b", "c.>", "d", "*.e"};

bool CheckEventId(std::string_view id) {
  Result<std::vector<ResumePoint>> points = ParseEventId(id, kParams, TopicLimits{}, 8);
  if (!points.ok()) return !points.status().message().empty() || Fail("error without a message");
  std::vector<TopicPosition> positions;
  for (const ResumePoint& p : *points) {
    if (!ValidateTopic(p.topic).ok()) return Fail("accepted an invalid topic");
    bool matched = false;
    for (const std::string& q : kParams) matched = matched || PatternMatches(q, p.topic);
    if (!matched) return Fail("accepted a topic outside the stream");
    positions.push_back({p.topic, p.epoch, p.after_offset});
  }
  const std::string again = FormatEventId(positions, kParams);
  Result<std::vector<ResumePoint>> reparsed = ParseEventId(again, kParams, TopicLimits{}, 8);
  if (!reparsed.ok() || reparsed->size() != points->size()) return Fail("formatted id rejected");
  for (size_t i = 0; i < points->size(); ++i) {
    const ResumePoint& a = (*points)[i];
    const ResumePoint& b = (*reparsed)[i];
    if (a.topic != b.topic || a.epoch != b.epoch || a.after_offset != b.after_offset) {
      return Fail("id does not round-trip");
    }
  }
  return true;
}

// The browser's side: data lines joined with LF (only "data: " lines here).
bool CheckDataLines(std::string_view payload) {
  std::string lines;
  AppendDataLines(lines, payload);
  std::string data;
  size_t pos = 0;
  while (pos < lines.size()) {
    const size_t eol = lines.find_first_of("\r\n", pos);
    if (eol == std::string::npos) return Fail("unterminated line");
    if (lines[eol] != '\n') return Fail("a CR inside the stream");
    std::string_view line(lines.data() + pos, eol - pos);
    if (!line.starts_with("data: ")) return Fail("not a data line");
    data.append(line.substr(6));
    data.push_back('\n');
    pos = eol + 1;
  }
  data.pop_back();
  std::string expected;
  for (size_t i = 0; i < payload.size(); ++i) {
    if (payload[i] == '\r') {
      expected.push_back('\n');
      if (i + 1 < payload.size() && payload[i + 1] == '\n') ++i;
    } else {
      expected.push_back(payload[i]);
    }
  }
  return data == expected || Fail("data lines do not give the payload back");
}

}  // namespace

bool FuzzSse(const uint8_t* data, size_t size) {
  if (size == 0) return true;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  return (data[0] & 1) == 0 ? CheckEventId(bytes) : CheckDataLines(bytes);
}

}  // namespace herald::sse::fuzz
