// A minimal JSON text builder for the envelopes Herald sends: objects of
// strings, numbers, booleans and pre-encoded JSON values. Strings are escaped
// per RFC 8259 §7 (quote, backslash and control characters); other UTF-8
// passes through, so the input must be valid UTF-8 (callers check payloads).
//
//   JsonWriter w;
//   w.Begin().Field("op", "ack").Field("offset", uint64_t{7}).End();
//   send(w.text());
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "base/json_string.h"

namespace herald::json {

class JsonWriter {
 public:
  JsonWriter() = default;
  // Writes on after `text` (a list being built, say): no copy of either.
  explicit JsonWriter(std::string text) : out_(std::move(text)) {}

  void Reserve(size_t bytes) { out_.reserve(bytes); }
  JsonWriter& Begin();  // '{'
  JsonWriter& End();    // '}'
  JsonWriter& Field(std::string_view key, std::string_view value);
  JsonWriter& Field(std::string_view key, const char* value) {
    return Field(key, std::string_view(value));
  }
  JsonWriter& Field(std::string_view key, uint64_t value);
  JsonWriter& Field(std::string_view key, int64_t value);
  JsonWriter& Field(std::string_view key, bool value);
  // `json` must already be valid JSON text (an object, array, number...).
  JsonWriter& RawField(std::string_view key, std::string_view json);
  // Starts a nested object under `key`; close it with End().
  JsonWriter& BeginObject(std::string_view key);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Key(std::string_view key);
  std::string out_;
  bool first_ = true;
};

using herald::AppendJsonString;

}  // namespace herald::json
