#include "http_fuzz_target.h"

#include <string>
#include <string_view>
#include <vector>

#include "frontends/http/http_parser.h"

namespace herald::fuzz {
namespace {

using http::HttpParser;

class Transcript final : public HttpParser::Events {
 public:
  std::string log;
  void OnMessageBegin() override { log += "B;"; }
  void OnHead(http::RequestHead h) override {
    log += "H " + h.method + " " + h.target + " " + std::to_string(h.version_minor) +
           std::to_string(h.keep_alive) + std::to_string(h.upgrade) + "[";
    for (const http::Header& x : h.headers) log += x.name + "=" + x.value + ",";
    log += "];";
  }
  void OnBody(std::string_view chunk) override { body_ += chunk; }
  bool OnMessageComplete() override {
    log += "C " + std::to_string(body_.size()) + ":" + body_ + ";";
    body_.clear();
    return true;
  }

 private:
  std::string body_;
};

std::string Parse(const std::vector<std::string_view>& pieces) {
  Transcript t;
  HttpParser parser({.max_header_bytes = 512, .max_body_bytes = 256}, &t);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const HttpParser::FeedResult r = parser.Feed(pieces[i]);
    if (r.outcome == HttpParser::Outcome::kNeedMore) continue;
    if (r.outcome == HttpParser::Outcome::kUpgrade) {
      std::string rest(pieces[i].substr(r.consumed));
      for (size_t j = i + 1; j < pieces.size(); ++j) rest += pieces[j];
      return t.log + "U " + rest;
    }
    // Which 4xx a request with several faults gets may depend on where a
    // span ended (head bytes are counted as llhttp reports them); that it
    // is refused, after the same events, may not.
    return t.log + "E";
  }
  return t.log;
}

}  // namespace

bool FuzzHttp(const uint8_t* data, size_t size) {
  if (size == 0) return true;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t cut = data[0] % (bytes.size() + 1);
  const std::string whole = Parse({bytes});
  if (Parse({bytes.substr(0, cut), bytes.substr(cut)}) != whole) return false;
  std::vector<std::string_view> one_by_one;
  for (size_t i = 0; i < bytes.size(); ++i) one_by_one.push_back(bytes.substr(i, 1));
  return Parse(one_by_one) == whole;
}

}  // namespace herald::fuzz
