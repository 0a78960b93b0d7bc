#include "frontends/json/json_writer.h"

#include <charconv>

namespace herald::json {

JsonWriter& JsonWriter::Begin() {
  out_ += '{';
  first_ = true;
  return *this;
}

JsonWriter& JsonWriter::End() {
  out_ += '}';
  first_ = false;
  return *this;
}

void JsonWriter::Key(std::string_view key) {
  if (!first_) out_ += ',';
  first_ = false;
  AppendJsonString(out_, key);
  out_ += ':';
}

JsonWriter& JsonWriter::Field(std::string_view key, std::string_view value) {
  Key(key);
  AppendJsonString(out_, value);
  return *this;
}

// Numbers are written in place: std::to_string would allocate for the
// 16-digit microsecond timestamps every envelope carries.
template <typename Int>
void AppendNumber(std::string& out, Int value) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

JsonWriter& JsonWriter::Field(std::string_view key, uint64_t value) {
  Key(key);
  AppendNumber(out_, value);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, int64_t value) {
  Key(key);
  AppendNumber(out_, value);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, bool value) {
  Key(key);
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::RawField(std::string_view key, std::string_view json) {
  Key(key);
  out_ += json;
  return *this;
}

JsonWriter& JsonWriter::BeginObject(std::string_view key) {
  Key(key);
  out_ += '{';
  first_ = true;
  return *this;
}

}  // namespace herald::json
