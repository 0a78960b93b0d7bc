// fuzz/peer_fuzz_target.h — the body of the peer-link frame fuzzer.
//
// Input: records of [kind][length: 2 bytes, little-endian][that many bytes].
// Each record is read as a herald.cluster.v1.LinkBatch (one that does not
// parse is skipped) and fed to a real, started Cluster node as one read of
// one accepted peer link, through the same PeerLink code a gRPC stream uses.
// Unless the first batch opens with a Hello, a valid one goes first, so most
// inputs reach the frames that follow a handshake. Once the link is up the
// node itself asks the peer things — publishes forwarded to topics the peer
// owns, history for resumes — and the ids of the fuzzed answers
// (ForwardResult, HistoryResponse) are pointed at those questions (kind odd:
// before this record's batch; even: as is). Peer addresses in fuzzed frames
// that could be dialled are turned into closed loopback ports.
//
// Rules (false when one breaks):
//   - every publish the node made is answered exactly once, including when
//     the link ends with questions open;
//   - a local subscriber only ever receives messages its pattern matches;
//   - once the link is done, none of the peer's interest is left subscribed
//     and the node still publishes locally;
//   - the node never counts more members than ClusterOptions::max_members.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::fuzz {

bool FuzzPeer(const uint8_t* data, size_t size);

}  // namespace herald::fuzz
