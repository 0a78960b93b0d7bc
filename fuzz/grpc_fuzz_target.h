// fuzz/grpc_fuzz_target.h — the body of the gRPC request handler fuzzer.
//
// Input: records of [kind][length: 2 bytes, little-endian][that many bytes].
// Each record is read as its kind's request message (a record that does not
// parse is skipped: parsing is protobuf's code, the handlers are ours) and
// sent to a real herald.v1.Broker service over gRPC's in-process transport:
//   kind % 5 == 0  unary Publish
//              1  unary Request (20 ms deadline)
//              2  Subscribe, read for 5 ms
//              3  a command on the input's one Connect session
//              4  a request on the input's one PublishStream session
// The service runs with small limits and anonymous grants on "pub.>" and
// "svc.*" only, so refusals are reached as often as successes.
//
// Rules (false when one breaks):
//   - every call ends with a status the API documents: never UNKNOWN,
//     INTERNAL, UNIMPLEMENTED or DATA_LOSS; an accepted publish has an offset;
//   - on Connect, every subscribe, unsubscribe and publish command gets
//     exactly one answer carrying its id, and no answer names an id never sent;
//   - Connect and PublishStream sessions end OK once the client half-closes;
//   - afterwards the broker holds no subscription (nothing leaked).
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::fuzz {

bool FuzzGrpc(const uint8_t* data, size_t size);

}  // namespace herald::fuzz
