// Typed readers for one table of heraldd's TOML config, so that each config
// key is one line naming the key, the field it writes and its range:
//
//   r.Bytes("max_header_bytes", h.max_header_bytes, AtLeast(256));
//   r.Millis("idle_timeout_ms", h.idle_timeout);
//   r.Enum("slow_consumer_policy", w.outbound.policy, kSlowConsumerPolicies);
//
// A key that is absent leaves its field (the default) alone; a bad value
// fails with a message naming the key, what was expected and the range; a
// key no reader took is an error ("unknown key"), so a typo cannot silently
// fall back to a default. Reading stops at the first error.
//
// The same readers print the effective config (heraldd --print-config):
// given an `echo` table, each read writes there the value its field holds
// once read (a secret as "********"). A reader made `effective` takes
// nothing from its document and only echoes (the root and the sections:
// their fields already hold the file's and the flags' values); entries of
// arrays of tables come from the file alone, so their readers read the
// file's entries, and echo those.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/status.h"
#include "server/config.h"

namespace herald::server {

// The values an integer key accepts, both ends included.
struct Range {
  int64_t min = 0;
  int64_t max = std::numeric_limits<int64_t>::max();
};
constexpr Range AtLeast(int64_t min) { return {min, std::numeric_limits<int64_t>::max()}; }
constexpr Range Between(int64_t min, int64_t max) { return {min, max}; }

// The names an enum key accepts, in the order messages list them:
//   constexpr EnumNames<SlowConsumerPolicy> kPolicies[] = {{"drop", ...}, ...};
template <typename E>
using EnumNames = std::pair<std::string_view, E>;

class TomlReader {
 public:
  // `section` names the table in messages and in ConfigKeys() ("http",
  // "history.rule"; "" for the top level); `where` is the same, with the
  // index of an entry of an array of tables ("history.rule[2]").
  // With `log`, every key read is also recorded there with its default.
  // With `echo` (not null), every key read is echoed there; `effective`
  // ignores the document (see above).
  TomlReader(const toml::table& table, std::string section, std::string where,
             std::vector<ConfigKey>* log, toml::table* echo = nullptr, bool effective = false)
      : table_(table),
        section_(std::move(section)),
        where_(std::move(where)),
        log_(log),
        echo_(echo),
        effective_(effective) {}

  void Bool(std::string_view key, bool& out) { Bool(key, out, false, true); }
  // A TOML boolean stored as one of two values (a tri-state's two settable states).
  template <typename T>
  void Bool(std::string_view key, T& out, T if_false, T if_true);
  template <std::integral T>
  void Int(std::string_view key, T& out, Range range = {}) {
    ReadInt(key, out, range, "an integer");
  }
  void Bytes(std::string_view key, size_t& out, Range range = {}) {
    ReadInt(key, out, range, "an integer number of bytes");
  }
  void Millis(std::string_view key, std::chrono::milliseconds& out, Range range = AtLeast(1));
  // A number (integer or float) >= 0: a rate, where 0 means no limit.
  void Rate(std::string_view key, double& out);
  template <typename E, size_t N>
  void Enum(std::string_view key, E& out, const EnumNames<E> (&names)[N]);
  void String(std::string_view key, std::string& out);
  // A string never printed: echoed as "********" when set, and never quoted
  // in an error.
  void Secret(std::string_view key, std::string& out);
  // A URL that may carry credentials (user:password@): echoed with them as
  // "********".
  void Url(std::string_view key, std::string& out);
  void List(std::string_view key, std::vector<std::string>& out);
  // An array of integer milliseconds, each in `range`.
  void MillisList(std::string_view key, std::vector<std::chrono::milliseconds>& out,
                  Range range = AtLeast(0));

  // A sub-table ([http] in the root): null when absent (or not a table,
  // which is an error).
  const toml::table* Table(std::string_view key);
  // An array of tables ([[history.rule]]): `each(reader, index)` reads one
  // entry, which must then hold no unknown key. Returns the first error.
  template <typename F>
  Status Tables(std::string_view key, F&& each);
  // One sub-table read by its own reader ([hooks.connect] in [hooks]):
  // `each(reader)` reads it, which must then hold no unknown key. Absent:
  // `each` is not called (but with `log`, it is, over an empty table, so
  // ConfigKeys() lists its keys).
  template <typename F>
  Status Section(std::string_view key, F&& each);

  // A sub-table's reader for the section `name` of the root (its table:
  // `table`, or an empty one when the file has none), echoing into a table
  // of the same name when this one echoes.
  TomlReader SectionReader(const toml::table* table, std::string_view name);
  // Whether this reader prints (echoes) rather than configures.
  bool printing() const { return echo_ != nullptr; }

  // "'http.max_body_bytes'": a key as messages name it.
  std::string Key(std::string_view key) const;
  void Fail(std::string_view key, std::string_view what);
  Status error() const { return error_; }
  // After all reads: the first error, or any key that no reader took.
  Status Finish();

 private:
  template <typename T>
  void ReadInt(std::string_view key, T& out, Range range, std::string_view what);
  // The key's node if present and nothing failed yet; logs the key with
  // `default_value` (how the field reads before this key applies).
  const toml::node* Take(std::string_view key, std::string default_value);
  static std::string RangeText(Range range, std::string_view what);
  // ", not <value>": what the file said, shortened.
  static std::string Given(const toml::node& node);
  // Writes `value` (a toml++ value, array or table) at `key` of the echo
  // table, when there is one.
  template <typename V>
  void Echo(std::string_view key, V&& value) {
    if (echo_) echo_->insert_or_assign(key, std::forward<V>(value));
  }
  // An integer as TOML holds it (int64; a larger one as the largest).
  template <std::integral T>
  static int64_t AsTomlInt(T v) {
    if constexpr (std::is_unsigned_v<T>) {
      if (uint64_t{v} > uint64_t{std::numeric_limits<int64_t>::max()})
        return std::numeric_limits<int64_t>::max();
    }
    return static_cast<int64_t>(v);
  }
  void ReadString(std::string_view key, std::string& out, std::string default_value,
                  bool secret = false);

  const toml::table& table_;
  std::string section_;
  std::string where_;
  std::vector<ConfigKey>* log_;
  toml::table* echo_;
  bool effective_;
  std::set<std::string, std::less<>> seen_;
  Status error_;
};

template <typename T>
void TomlReader::Bool(std::string_view key, T& out, T if_false, T if_true) {
  const toml::node* node = Take(key, out == if_true    ? "true"
                                     : out == if_false ? "false"
                                                       : std::string());
  if (node) {
    std::optional<bool> v = node->value_exact<bool>();
    if (!v) return Fail(key, "must be true or false" + Given(*node));
    out = *v ? if_true : if_false;
  }
  if (out == if_true || out == if_false) Echo(key, out == if_true);  // a third state: unset
}

template <typename T>
void TomlReader::ReadInt(std::string_view key, T& out, Range range, std::string_view what) {
  // Never more than the field holds.
  if (static_cast<uint64_t>(range.max) > uint64_t{std::numeric_limits<T>::max()}) {
    range.max = static_cast<int64_t>(std::numeric_limits<T>::max());
  }
  const toml::node* node = Take(key, std::to_string(out));
  if (node) {
    std::optional<int64_t> v = node->value_exact<int64_t>();
    if (!v || *v < range.min || *v > range.max) {
      return Fail(key, "must be " + RangeText(range, what) + Given(*node));
    }
    out = static_cast<T>(*v);
  }
  Echo(key, AsTomlInt(out));
}

template <typename E, size_t N>
void TomlReader::Enum(std::string_view key, E& out, const EnumNames<E> (&names)[N]) {
  std::string default_value;
  std::string expected;
  size_t i = 0;
  for (const auto& [name, value] : names) {
    if (value == out) default_value = "\"" + std::string(name) + "\"";
    if (i > 0) expected += i + 1 == N ? " or " : ", ";
    expected += "\"" + std::string(name) + "\"";
    ++i;
  }
  const toml::node* node = Take(key, default_value);
  if (node) {
    std::optional<std::string> v = node->value_exact<std::string>();
    bool known = false;
    for (const auto& [name, value] : names) {
      if (v && *v == name) {
        out = value;
        known = true;
      }
    }
    if (!known) return Fail(key, "must be " + expected + Given(*node));
  }
  for (const auto& [name, value] : names) {
    if (value == out) return Echo(key, std::string(name));
  }
}

template <typename F>
Status TomlReader::Tables(std::string_view key, F&& each) {
  seen_.emplace(key);
  const std::string what = section_.empty() ? std::string(key) : section_ + "." + std::string(key);
  const toml::node* node = table_.get(key);
  if (!error_.ok() || !node) return error_;
  const toml::array* arr = node->as_array();
  if (!arr) {
    return error_ = Status(ErrorCode::kInvalidArgument, "'" + what + "' must be [[" + what + "]]");
  }
  toml::array* echoed = nullptr;
  if (echo_) echoed = echo_->insert_or_assign(key, toml::array{}).first->second.as_array();
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string where = what + "[" + std::to_string(i) + "]";
    const toml::table* table = arr->get(i)->as_table();
    if (!table) {
      return error_ = Status(ErrorCode::kInvalidArgument, "'" + where + ".' must be a table");
    }
    toml::table* entry_echo = nullptr;
    if (echoed) entry_echo = echoed->emplace_back(toml::table{}).as_table();
    // An entry comes from the file alone: it reads the file's, also when
    // printing.
    TomlReader entry(*table, what, where, log_, entry_echo, false);
    if (Status s = each(entry, i); !s.ok()) return error_ = s;
    if (Status s = entry.Finish(); !s.ok()) return error_ = s;
  }
  return error_;
}

template <typename F>
Status TomlReader::Section(std::string_view key, F&& each) {
  const std::string what = section_.empty() ? std::string(key) : section_ + "." + std::string(key);
  const toml::table* table = Table(key);
  if (!error_.ok()) return error_;
  static const toml::table kEmpty;
  if (!table && !log_ && !echo_) return error_;
  toml::table* echo = nullptr;
  if (echo_) echo = echo_->insert_or_assign(key, toml::table{}).first->second.as_table();
  TomlReader entry(table ? *table : kEmpty, what, what, log_, echo, effective_);
  if (Status s = each(entry); !s.ok()) return error_ = s;
  if (Status s = entry.Finish(); !s.ok()) return error_ = s;
  return error_;
}

}  // namespace herald::server
