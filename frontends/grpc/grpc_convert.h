// frontends/grpc/grpc_convert.h — between the broker's types and herald.v1.
//
// Status codes follow gRPC conventions (api/herald/v1/broker.proto): a bad
// topic is INVALID_ARGUMENT, an over-size payload or an exhausted limit
// RESOURCE_EXHAUSTED, a request timeout DEADLINE_EXCEEDED, no responders
// UNAVAILABLE. Any thread.
#pragma once

#include <grpcpp/support/status.h>

#include "herald/broker.h"
#include "herald/v1/broker.pb.h"

namespace herald::grpcfront {

// Trailing metadata of a failed unary call: the Herald error code name
// ("no_responders", "invalid_topic"…), finer than the gRPC status.
inline constexpr std::string_view kErrorMetadata = "herald-error";

grpc::Status ToGrpc(const Status& s);
// The gRPC status code as a google.rpc.Code number (for stream errors).
int32_t ToGrpcCode(const Status& s);

void ToProto(const Message& m, v1::Message* out);
void ToProto(const Gap& g, v1::Gap* out);
void ToProto(const PresenceMember& m, v1::PresenceMember* out);
void ToProto(const PresenceEvent& e, v1::PresenceEvent* out);
void ToProto(const PresenceSnapshot& s, v1::PresenceResponse* out);
// A publish's options: content type, headers and msg_id.
PublishOptions OptionsOf(const v1::PublishRequest& r);
void ToProto(const PublishAck& ack, v1::PublishAck* out);
PublishOptions OptionsFrom(const std::string& content_type,
                           const google::protobuf::Map<std::string, std::string>& headers);

// Work queues.
void ToProto(const Job& job, v1::Job* out);
void ToProto(const QueueInfo& q, v1::QueueState* out);
Result<QueueOptions> FromProto(const v1::QueueDefinition& d);
// The settlement kind; invalid_argument for SETTLE_KIND_UNSPECIFIED.
Result<SettleKind> FromProto(v1::SettleKind kind);

}  // namespace herald::grpcfront
