#include "json_fuzz_target.h"

#include <simdjson.h>

#include <cstdio>
#include <string>

#include "base/base64.h"
#include "frontends/json/command.h"
#include "frontends/json/envelope.h"

namespace herald::json::fuzz {
namespace {

bool Fail(const char* what) {
  std::fprintf(stderr, "json fuzz: %s\n", what);
  return false;
}

std::string Minify(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  simdjson::padded_string padded(json);
  if (parser.parse(padded).get(e) != simdjson::SUCCESS) return {};
  return simdjson::minify(e);
}

bool CheckCommand(std::string_view text) {
  Decoded d = DecodeCommand(text);
  if (!d.status.ok()) {
    if (d.status.message().empty()) return Fail("error without a message");
    return true;
  }
  const Command& c = d.command;
  if (c.content_type == kJsonContentType && Minify(c.payload).empty()) {
    return Fail("decoded JSON payload is not valid JSON");
  }
  if (c.op == Command::Op::kReq && c.id.empty()) return Fail("req without an id");
  return true;
}

bool CheckEnvelope(uint8_t mode, std::string_view payload) {
  static const char* kTypes[] = {"application/json", "text/plain; charset=utf-8",
                                 "application/octet-stream", ""};
  Message m;
  m.topic = "fuzz.topic";
  m.payload = std::string(payload);
  m.content_type = kTypes[(mode >> 1) & 3];
  m.epoch = 1;
  m.offset = 2;
  const std::string envelope = EncodeMessage(m);
  simdjson::dom::parser parser;
  simdjson::padded_string padded(envelope);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return Fail("envelope is not JSON");
  std::string_view text;
  if (root["payload_b64"].get(text) == simdjson::SUCCESS) {
    auto bytes = Base64Decode(text);
    if (!bytes || *bytes != payload) return Fail("payload_b64 does not round-trip");
    return true;
  }
  simdjson::dom::element p;
  if (root["payload"].get(p) != simdjson::SUCCESS) return Fail("envelope has no payload");
  // A string: text, or a payload labelled JSON that is not (sent as text).
  const bool really_json = m.content_type == "application/json" && !Minify(payload).empty();
  if (p.get(text) == simdjson::SUCCESS && !really_json) {
    if (text != payload) return Fail("text payload does not round-trip");
    return true;
  }
  if (simdjson::minify(p) != Minify(payload)) return Fail("JSON payload does not round-trip");
  return true;
}

}  // namespace

bool FuzzJson(const uint8_t* data, size_t size) {
  if (size == 0) return true;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  return (data[0] & 1) ? CheckEnvelope(data[0], rest) : CheckCommand(rest);
}

}  // namespace herald::json::fuzz
