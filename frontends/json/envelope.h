// The JSON envelopes Herald sends to clients (WebSocket `/ws`, and the HTTP
// API's JSON answers). Each is built once and may be shared by every
// connection that needs it: nothing in an envelope is per connection.
// docs/PROTOCOL.md defines them. `id` arguments are JSON text (a quoted
// string or an integer, as the client sent it; see json::Command::id).
//
// Payload rendering (same everywhere): a payload published as JSON
// (content type application/json) appears as that JSON value in "payload";
// text that is valid UTF-8 appears as a JSON string in "payload"; anything
// else appears base64-encoded in "payload_b64".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "herald/broker.h"
#include "herald/delivery.h"
#include "herald/message.h"
#include "herald/status.h"
#include "herald/work_queue.h"

namespace herald::json {

// Whether `m`'s payload is text: not labelled application/octet-stream, and
// valid UTF-8. Text goes out as text (a JSON string, a WebSocket text frame,
// SSE data lines); anything else needs a binary form (base64, binary frame).
bool IsTextPayload(const Message& m);

// {"op":"msg","topic":..,"epoch":..,"offset":..,"ts":..,"payload":..[,"reply_to":..][,"headers":{..}]}
std::string EncodeMessage(const Message& m);
// {"op":"gap","topic":..,"reason":..,"epoch":..,"from":..,"to":..}
std::string EncodeGap(const Gap& gap);
// {"op":"error"[,"id":..],"code":"invalid_topic","message":".."}
std::string EncodeError(std::string_view id, std::string_view code, std::string_view message);
std::string EncodeError(std::string_view id, const Status& status);
// {"op":"ack","id":..,"epoch":..,"offset":..} (+ "duplicate":true for a
// msg_id seen before: the first publish's position)
std::string EncodeAck(std::string_view id, const PublishAck& ack);
// {"op":"reply","id":..,"payload":..}
std::string EncodeReply(std::string_view id, const Message& reply);
// {"op":"subscribed"|"unsubscribed","id":..,"topic":..}
std::string EncodeSubscribed(std::string_view op, std::string_view id, std::string_view topic,
                             std::string_view client = {});

// A work queue's job: {"op":"job","queue":..,"handle":..,"deliveries":..,
// "topic":..,"epoch":..,"offset":..,"ts":..,"payload":..[,"content_type"]
// [,"msg_id"][,"headers":{..}]}
std::string EncodeJob(const Job& job);
// Jobs gathered into one JSON array, each element exactly the `job` frame
// EncodeJob makes: an HTTP pull's answer, and the WebSocket's `jobs` frame
// for a member that joined with `batch`.
class JobList {
 public:
  void Add(const Job& job);
  size_t size() const { return size_; }
  size_t bytes() const { return list_.size(); }
  bool empty() const { return size_ == 0; }
  // "[<job>,...]" ("[]" when empty); the list is empty again after.
  std::string TakeArray();
  // {"op":"jobs","queue":..,"jobs":[<job>,...]}; the list is empty again after.
  std::string TakeFrame(std::string_view queue);

 private:
  std::string list_;
  size_t size_ = 0;
};
// {"op":"joined"|"left"|"settled","id":..,"queue":..}
std::string EncodeQueueAnswer(std::string_view op, std::string_view id, std::string_view queue);
// A queue's settings and counts: {"name":..,"pattern":..,...,"pending":..}
std::string EncodeQueueInfo(const QueueInfo& q);
// {"queues":[<EncodeQueueInfo>,...]}
std::string EncodeQueueList(const std::vector<QueueInfo>& queues);

// {"op":"pong"[,"id":..]}
std::string EncodePong(std::string_view id);
// {"op":"refreshed"[,"id":..],"expires_at":S}: the connection's token now
// expires at S (Unix seconds; 0: never).
std::string EncodeRefreshed(std::string_view id, int64_t expires_at_s);

// Appends the "payload" or "payload_b64" field per the rule above.
class JsonWriter;
void WritePayload(JsonWriter& w, std::string_view payload, std::string_view content_type);

}  // namespace herald::json
