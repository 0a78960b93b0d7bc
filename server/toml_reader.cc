#include "server/toml_reader.h"

#include <cmath>
#include <sstream>

namespace herald::server {

void TomlReader::Millis(std::string_view key, std::chrono::milliseconds& out, Range range) {
  int64_t ms = out.count();
  ReadInt(key, ms, range, "an integer number of milliseconds");
  out = std::chrono::milliseconds(ms);
}

void TomlReader::Rate(std::string_view key, double& out) {
  std::ostringstream default_value;
  default_value << out;
  const toml::node* node = Take(key, default_value.str());
  if (node) {
    std::optional<double> v = node->value<double>();  // an integer is a number too
    if (!v || !std::isfinite(*v) || *v < 0) {
      return Fail(key, "must be a number >= 0" + Given(*node));
    }
    out = *v;
  }
  Echo(key, out);
}

void TomlReader::ReadString(std::string_view key, std::string& out, std::string default_value,
                            bool secret) {
  const toml::node* node = Take(key, std::move(default_value));
  if (!node) return;
  std::optional<std::string> v = node->value_exact<std::string>();
  if (!v) return Fail(key, "must be a string" + (secret ? std::string() : Given(*node)));
  out = *v;
}

void TomlReader::String(std::string_view key, std::string& out) {
  ReadString(key, out, "\"" + out + "\"");
  Echo(key, out);
}

void TomlReader::Secret(std::string_view key, std::string& out) {
  ReadString(key, out, out.empty() ? "\"\"" : std::string(), /*secret=*/true);
  Echo(key, std::string(out.empty() ? "" : "********"));
}

void TomlReader::Url(std::string_view key, std::string& out) {
  ReadString(key, out, "\"" + out + "\"");
  std::string shown = out;
  // scheme://user:password@host/...: the part before '@' goes.
  if (const size_t scheme = shown.find("://"); scheme != std::string::npos) {
    const size_t host = scheme + 3;
    const size_t at = shown.find('@', host);
    if (at != std::string::npos && at < shown.find('/', host))
      shown.replace(host, at - host, "********");
  }
  Echo(key, std::move(shown));
}

void TomlReader::List(std::string_view key, std::vector<std::string>& out) {
  const toml::node* node = Take(key, out.empty() ? "[]" : std::string());
  if (node) {
    const toml::array* arr = node->as_array();
    if (!arr) return Fail(key, "must be an array of strings" + Given(*node));
    std::vector<std::string> values;
    for (const toml::node& item : *arr) {
      std::optional<std::string> v = item.value_exact<std::string>();
      if (!v) return Fail(key, "must be an array of strings" + Given(item));
      values.push_back(*v);
    }
    out = std::move(values);
  }
  if (echo_) {
    toml::array echoed;
    for (const std::string& v : out) echoed.push_back(v);
    Echo(key, std::move(echoed));
  }
}

void TomlReader::MillisList(std::string_view key, std::vector<std::chrono::milliseconds>& out,
                            Range range) {
  const toml::node* node = Take(key, out.empty() ? "[]" : std::string());
  if (node) {
    const toml::array* arr = node->as_array();
    const std::string what = "an array of " + RangeText(range, "integer milliseconds");
    if (!arr) return Fail(key, "must be " + what + Given(*node));
    std::vector<std::chrono::milliseconds> values;
    for (const toml::node& item : *arr) {
      std::optional<int64_t> v = item.value_exact<int64_t>();
      if (!v || *v < range.min || *v > range.max) return Fail(key, "must be " + what + Given(item));
      values.emplace_back(*v);
    }
    out = std::move(values);
  }
  if (echo_) {
    toml::array echoed;
    for (std::chrono::milliseconds v : out) echoed.push_back(int64_t{v.count()});
    Echo(key, std::move(echoed));
  }
}

const toml::table* TomlReader::Table(std::string_view key) {
  seen_.emplace(key);
  const toml::node* node = table_.get(key);
  if (!error_.ok() || !node) return nullptr;
  if (!node->is_table()) {
    Fail(key, "must be a table");
    return nullptr;
  }
  return node->as_table();
}

TomlReader TomlReader::SectionReader(const toml::table* table, std::string_view name) {
  static const toml::table kEmpty;
  toml::table* echo = nullptr;
  if (echo_) echo = echo_->insert_or_assign(name, toml::table{}).first->second.as_table();
  return TomlReader(table ? *table : kEmpty, std::string(name), std::string(name), log_, echo,
                    effective_);
}

std::string TomlReader::Key(std::string_view key) const {
  return "'" + where_ + (where_.empty() ? "" : ".") + std::string(key) + "'";
}

void TomlReader::Fail(std::string_view key, std::string_view what) {
  if (error_.ok()) error_ = Status(ErrorCode::kInvalidArgument, Key(key) + " " + std::string(what));
}

Status TomlReader::Finish() {
  if (!error_.ok()) return error_;
  for (const auto& [k, v] : table_) {
    if (!seen_.count(k.str())) {
      return Status(ErrorCode::kInvalidArgument, "unknown key " + Key(k.str()));
    }
  }
  return Status::Ok();
}

const toml::node* TomlReader::Take(std::string_view key, std::string default_value) {
  seen_.emplace(key);
  if (log_) log_->push_back({section_, std::string(key), std::move(default_value)});
  if (!error_.ok() || effective_) return nullptr;
  return table_.get(key);
}

std::string TomlReader::RangeText(Range range, std::string_view what) {
  std::string text(what);
  if (range.max == std::numeric_limits<int64_t>::max()) {
    return text + " >= " + std::to_string(range.min);
  }
  return text + " from " + std::to_string(range.min) + " to " + std::to_string(range.max);
}

std::string TomlReader::Given(const toml::node& node) {
  if (node.is_table()) return ", not a table";
  if (node.is_array()) return ", not an array";
  std::ostringstream text;
  node.visit([&](const auto& value) { text << value; });
  std::string given = text.str();
  if (given.size() > 40) given = given.substr(0, 37) + "...";
  return ", not " + given;
}

}  // namespace herald::server
