#include "sse_fuzz_target.h"

#include <cstdio>
#include <string>
#include <vector>

#include "frontends/sse/event_id.h"
#include "frontends/sse/sse_event.h"
#include "frontends/sse/topic_hash.h"

namespace herald::sse::fuzz {
namespace {

bool Fail(const char* what) {
  std::fprintf(stderr, "sse fuzz: %s\n", what);
  return false;
}

const std::vector<std::string> kParams = {"a.b", "c.>", "d", "*.e"};

bool CheckEventId(std::string_view id) {
  Result<ParsedEventId> parsed = ParseEventId(id, kParams, TopicLimits{}, 8);
  if (!parsed.ok()) return !parsed.status().message().empty() || Fail("error without a message");
  const std::vector<ResumePoint>& points = parsed->points;
  if (points.size() + parsed->hashed.size() > 8) return Fail("more entries than the limit");
  std::vector<TopicPosition> positions;
  for (const ResumePoint& p : points) {
    if (!ValidateTopic(p.topic).ok()) return Fail("accepted an invalid topic");
    bool matched = false;
    for (const std::string& q : kParams) matched = matched || PatternMatches(q, p.topic);
    if (!matched) return Fail("accepted a topic outside the stream");
    positions.push_back({p.topic, p.epoch, p.after_offset});
  }
  for (const TopicPosition& h : parsed->hashed) positions.push_back(h);
  const std::string again = FormatEventId(positions, kParams, parsed->forgot);
  if (again.size() > MaxEventIdBytes(8)) return Fail("an id longer than its bound");
  Result<ParsedEventId> reparsed = ParseEventId(again, kParams, TopicLimits{}, 8);
  if (!reparsed.ok() || reparsed->forgot != parsed->forgot) return Fail("formatted id rejected");
  // Names longer than an id carries come back as their hash.
  std::vector<TopicPosition> back;
  size_t named = 0;
  for (const TopicPosition& p : positions) {
    if (p.topic.empty()) {
      back.push_back(p);
    } else if (named < reparsed->points.size() && reparsed->points[named].topic == p.topic) {
      const ResumePoint& r = reparsed->points[named++];
      if (r.epoch != p.epoch || r.after_offset != p.offset) return Fail("id does not round-trip");
    } else {
      back.push_back({std::string(), p.epoch, p.offset, TopicHash(p.topic)});
    }
  }
  if (named != reparsed->points.size() || back.size() != reparsed->hashed.size()) {
    return Fail("id does not round-trip");
  }
  for (size_t i = 0; i < back.size(); ++i) {
    const TopicPosition& a = back[i];
    const TopicPosition& b = reparsed->hashed[i];
    if (a.hash != b.hash || a.epoch != b.epoch || a.offset != b.offset) {
      return Fail("hashed entry does not round-trip");
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
