// The HTTP API for backends that only speak HTTP (docs/PROTOCOL.md):
//
//   POST /publish/<topic>              → 200 {"epoch":E,"offset":O} once sequenced
//   POST /request/<topic>?timeout_ms=  → 200 with the reply's body; 504 on timeout,
//                                        503 when nothing subscribes
//   GET  /history/<topic>?after=&limit=&epoch=
//                                      → 200 {"topic","epoch","last_offset","messages":[msg
//                                        envelopes],"gap","truncated"}
//
// The request's Content-Type travels with the message (and comes back on a
// reply); request headers named `Herald-<Name>` become message header <Name>,
// and a reply's headers come back as `Herald-<Name>`. Topics are
// percent-decoded from the path.
#pragma once

#include "frontends/http/router.h"
#include "herald/broker.h"

namespace herald::rest {

struct RestOptions {
  std::chrono::milliseconds default_request_timeout{5000};
  std::chrono::milliseconds max_request_timeout{60000};
  size_t max_history_limit = 1000;  // messages per GET /history answer
};

class RestApi {
 public:
  RestApi(Broker& broker, RestOptions options = {}) : broker_(broker), options_(options) {}

  // Adds the routes above; the API must outlive the router's use.
  void Register(http::Router& router);

 private:
  void Publish(http::Request& req, http::Response res);
  void Request(http::Request& req, http::Response res);
  void History(http::Request& req, http::Response res);

  Broker& broker_;
  const RestOptions options_;
};

}  // namespace herald::rest
