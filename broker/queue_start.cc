// The text form of a work queue's start (herald/work_queue.h): one parser
// for the config, the JSON APIs and gRPC.
#include <chrono>
#include <cstdio>

#include "herald/work_queue.h"

namespace herald {
namespace {

using std::chrono::system_clock;

// `n` decimal digits at `at` (moved past them), or -1.
int Digits(std::string_view s, size_t& at, size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[at + i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  at += n;
  return v;
}

bool Expect(std::string_view s, size_t& at, char c) {
  if (at >= s.size() || s[at] != c) return false;
  ++at;
  return true;
}

// RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm).
bool ParseTime(std::string_view s, system_clock::time_point& out) {
  size_t at = 0;
  const int year = Digits(s, at, 4);
  // What the system clock holds (nanoseconds of int64 from 1970): a later
  // year would wrap around to an earlier time.
  if (year < 1970 || year > 2261 || !Expect(s, at, '-')) return false;
  const int month = Digits(s, at, 2);
  if (month < 1 || !Expect(s, at, '-')) return false;
  const int day = Digits(s, at, 2);
  if (day < 1 || at >= s.size() || (s[at] != 'T' && s[at] != 't')) return false;
  ++at;
  const int hour = Digits(s, at, 2);
  if (hour < 0 || hour > 23 || !Expect(s, at, ':')) return false;
  const int minute = Digits(s, at, 2);
  if (minute < 0 || minute > 59 || !Expect(s, at, ':')) return false;
  const int second = Digits(s, at, 2);
  if (second < 0 || second > 60) return false;  // 60: a leap second, read as :59 + 1
  int64_t micros = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    int places = 0;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
      if (places < 6) micros = micros * 10 + (s[at] - '0');
      ++places;
      ++at;
    }
    if (places == 0) return false;
    for (; places < 6; ++places) micros *= 10;
  }
  int offset_minutes = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    const int sign = s[at] == '-' ? -1 : 1;
    ++at;
    const int oh = Digits(s, at, 2);
    if (oh < 0 || oh > 23 || !Expect(s, at, ':')) return false;
    const int om = Digits(s, at, 2);
    if (om < 0 || om > 59) return false;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return false;
  }
  if (at != s.size()) return false;
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return false;
  const std::chrono::sys_time<std::chrono::microseconds> t =
      std::chrono::sys_days(date) + std::chrono::hours(hour) +
      std::chrono::minutes(minute - offset_minutes) + std::chrono::seconds(second) +
      std::chrono::microseconds(micros);
  if (t.time_since_epoch().count() < 0) return false;  // 1970-01-01 with an offset east
  out = std::chrono::time_point_cast<system_clock::duration>(t);
  return true;
}

}  // namespace

Status ParseQueueStart(std::string_view text, QueueOptions& options) {
  if (text == "new") {
    options.start = QueueOptions::Start::kNew;
    options.start_time = {};
    return Status::Ok();
  }
  if (text == "first") {
    options.start = QueueOptions::Start::kFirst;
    options.start_time = {};
    return Status::Ok();
  }
  system_clock::time_point t;
  if (!ParseTime(text, t)) {
    return Status(ErrorCode::kInvalidArgument,
                  "start '" + std::string(text) +
                      "' is not \"new\", \"first\" or an RFC 3339 time from 1970 to 2261 "
                      "such as \"2026-12-05T10:00:00Z\"");
  }
  options.start = QueueOptions::Start::kTime;
  options.start_time = t;
  return Status::Ok();
}

std::string QueueStartText(const QueueOptions& options) {
  switch (options.start) {
    case QueueOptions::Start::kNew:
      return "new";
    case QueueOptions::Start::kFirst:
      return "first";
    case QueueOptions::Start::kTime:
      break;
  }
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(options.start_time.time_since_epoch())
          .count();
  const auto days = std::chrono::floor<std::chrono::days>(options.start_time);
  const std::chrono::year_month_day date{days};
  const int64_t in_day =
      us - std::chrono::duration_cast<std::chrono::microseconds>(days.time_since_epoch()).count();
  const int64_t secs = in_day / 1'000'000;
  const int64_t frac = in_day % 1'000'000;
  char buf[48];
  if (frac == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lldZ",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<long long>(secs / 3600),
                  static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<long long>(secs / 3600),
                  static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                  static_cast<long long>(frac));
  }
  return buf;
}

bool SameQueueDefinition(const QueueOptions& a, const QueueOptions& b) {
  QueueOptions x = a;
  x.start = b.start;
  x.start_time = b.start_time;
  return x == b;
}

}  // namespace herald
