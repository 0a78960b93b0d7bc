#!/usr/bin/python3
"""Writes the seed corpora of the two protobuf-fed fuzzers, fuzz/corpus/grpc
and fuzz/corpus/peer, from readable descriptions (so a seed can be reviewed
and changed here rather than as bytes).

    /usr/bin/python3 fuzz/make_proto_seeds.py

Both fuzzers read records of [kind][length: 2 bytes little-endian][message];
see fuzz/grpc_fuzz_target.h and fuzz/peer_fuzz_target.h for what the kinds
mean. Needs protoc and Debian's python3-protobuf.
"""
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_modules():
    out = tempfile.mkdtemp(prefix="herald-seeds-")
    subprocess.run(["protoc", "-I", os.path.join(ROOT, "api"), "--python_out", out,
                    "herald/v1/broker.proto", "herald/cluster/v1/peer.proto"], check=True)
    sys.path.insert(0, out)
    from herald.v1 import broker_pb2
    from herald.cluster.v1 import peer_pb2
    return broker_pb2, peer_pb2


def record(kind, message):
    data = message.SerializeToString()
    return bytes([kind]) + struct.pack("<H", len(data)) + data


def write(corpus, name, records):
    path = os.path.join(ROOT, "fuzz", "corpus", corpus)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(b"".join(records))


def grpc_seeds(pb):
    PUBLISH, REQUEST, SUBSCRIBE, CONNECT, STREAM = range(5)
    pub = lambda topic, payload=b"x", **kw: pb.PublishRequest(topic=topic, payload=payload, **kw)
    cmd = lambda **kw: pb.ClientCommand(**kw)
    write("grpc", "unary_publishes", [
        record(PUBLISH, pub("pub.a", b"hello", content_type="text/plain",
                            headers={"k": "v"})),
        record(PUBLISH, pub("secret.a")),            # outside the grants
        record(PUBLISH, pub("_INBOX.fuzz.1")),       # inboxes take replies only
        record(PUBLISH, pub("pub..a")),              # not a topic
        record(PUBLISH, pub("pub.*")),               # a pattern
        record(PUBLISH, pub("pub.big", b"y" * 5000)),  # over max_payload_bytes
    ])
    write("grpc", "request_and_subscribe", [
        record(REQUEST, pb.RequestRequest(topic="svc.echo", payload=b"?")),
        record(REQUEST, pb.RequestRequest(topic="svc.a.b")),  # outside svc.*
        record(SUBSCRIBE, pb.SubscribeRequest(pattern="pub.>", resume=[
            pb.ResumePoint(topic="pub.a", epoch=1, after_offset=0),
            pb.ResumePoint(topic="pub.zz", epoch=99, after_offset=7)])),
        record(SUBSCRIBE, pb.SubscribeRequest(pattern="secret.>")),
        record(SUBSCRIBE, pb.SubscribeRequest(pattern="pub.>.x")),
        record(SUBSCRIBE, pb.SubscribeRequest(pattern="pub.*", resume=[
            pb.ResumePoint(topic="svc.x")])),  # resume outside the pattern
    ])
    write("grpc", "connect_session", [
        record(CONNECT, cmd(subscribe=pb.SubscribeRequest(pattern="svc.*"))),
        record(CONNECT, cmd(request=pb.RequestRequest(topic="svc.x", payload=b"q"), timeout_ms=5)),
        record(CONNECT, cmd(publish=pub("pub.a"))),
        record(CONNECT, cmd(unsubscribe=pb.Unsubscribe(subscription_id=0))),
        record(CONNECT, cmd(unsubscribe=pb.Unsubscribe(subscription_id=123456))),
        record(CONNECT, cmd(reply=pb.Reply(to="_INBOX.fuzz.1", payload=b"r"))),
        record(CONNECT, cmd(reply=pb.Reply(to="pub.a"))),
        record(CONNECT, cmd()),  # no command at all
        record(CONNECT, cmd(subscribe=pb.SubscribeRequest(pattern="pub.>", queue_group="g"))),
    ])
    write("grpc", "connect_limits", [
        record(CONNECT, cmd(subscribe=pb.SubscribeRequest(pattern=f"pub.{i}"))) for i in range(10)
    ] + [record(PUBLISH, pub("pub.3"))])
    write("grpc", "publish_stream", [
        record(STREAM, pb.PublishStreamRequest(message=pub("pub.s"), sequence=1)),
        record(STREAM, pb.PublishStreamRequest(batch=[pub("pub.s"), pub("bad..t"),
                                                      pub("secret.s")], sequence=2)),
        record(STREAM, pb.PublishStreamRequest(message=pub("pub.s"))),
        record(STREAM, pb.PublishStreamRequest()),
    ])
    write("grpc", "everything_at_once", [
        record(CONNECT, cmd(subscribe=pb.SubscribeRequest(pattern="pub.>"))),
        record(PUBLISH, pub("pub.m")),
        record(STREAM, pb.PublishStreamRequest(message=pub("pub.m"), sequence=1)),
        record(SUBSCRIBE, pb.SubscribeRequest(pattern="pub.m", resume=[
            pb.ResumePoint(topic="pub.m", epoch=0)])),
        record(REQUEST, pb.RequestRequest(topic="svc.none")),
        record(CONNECT, cmd(publish=pub("pub.m", b"z" * 4097))),
    ])


def peer_seeds(pb):
    AS_IS, ANSWER = 0, 1  # ANSWER: fuzzed answers are pointed at the node's questions
    batch = lambda *frames: pb.LinkBatch(frames=list(frames))
    hello = lambda **kw: pb.PeerFrame(hello=pb.Hello(**{
        "protocol_version": 2, "cluster_name": "fuzz", "node_id": "fuzz-peer",
        "address": "127.0.0.1:1", "nonce": b"n" * 32, **kw}))
    # In an ANSWER record the harness makes the proof right (the node's
    # challenge is fresh each run); AS_IS it stays wrong.
    proof = lambda mac=b"": pb.PeerFrame(proof=pb.Proof(mac=mac))
    interest = lambda **kw: pb.PeerFrame(interest=pb.InterestUpdate(**kw))
    I = pb.Interest
    delivery = lambda topic, offset=1, **kw: pb.PeerFrame(delivery=pb.Delivery(
        topic=topic, payload=b"d", epoch=7, offset=offset, **kw))
    write("peer", "interest_and_deliveries", [
        record(AS_IS, batch(interest(reset=True, add=[I(pattern="local.>"), I(pattern="t.*"),
                                                      I(pattern="t.*", queue_group="g")]))),
        record(AS_IS, batch(delivery("t.0", 1), delivery("t.0", 2), delivery("t.1", 1),
                            delivery("t.3", 1, pattern="t.*", queue_group="g"))),
        record(AS_IS, batch(interest(remove=[I(pattern="t.*")], add=[I(pattern="bad..p")]))),
        record(AS_IS, batch(pb.PeerFrame(heartbeat=pb.Heartbeat(sent_us=1)))),
    ])
    write("peer", "forwards", [
        record(AS_IS, batch(pb.PeerFrame(forward=pb.Forward(id=1, topic="t.9", payload=b"f")),
                            pb.PeerFrame(forward=pb.Forward(id=0, topic="t.9")),
                            pb.PeerFrame(forward=pb.Forward(id=2, topic="t..9")),
                            pb.PeerFrame(forward=pb.Forward(id=3, topic="_INBOX.x.1",
                                                            reply_to="_INBOX.fuzz-peer.1")))),
    ])
    write("peer", "answers", [
        record(ANSWER, batch(pb.PeerFrame(forward_result=pb.ForwardResult(id=0, epoch=3, offset=1)),
                             pb.PeerFrame(forward_result=pb.ForwardResult(
                                 id=1, error_code="no_responders", error_message="none")),
                             pb.PeerFrame(forward_result=pb.ForwardResult(id=2, error_code="ok")))),
        record(ANSWER, batch(pb.PeerFrame(history=pb.HistoryResponse(
            id=3, epoch=7, last_offset=2, truncated=True,
            messages=[pb.Delivery(topic="t.0", epoch=7, offset=1)])))),
    ])
    write("peer", "history_faults", [
        record(ANSWER, batch(pb.PeerFrame(history=pb.HistoryResponse(id=0, truncated=True)))),
        record(ANSWER, batch(pb.PeerFrame(history=pb.HistoryResponse(
            id=1, epoch=7, truncated=True,
            messages=[pb.Delivery(topic="other.topic", epoch=7, offset=5)])))),
        record(ANSWER, batch(pb.PeerFrame(history=pb.HistoryResponse(
            id=2, epoch=7, gap=pb.Gap(reason=pb.Gap.TRIMMED, epoch=7, from_offset=1, to_offset=3))))),
        record(ANSWER, batch(pb.PeerFrame(history=pb.HistoryResponse(
            id=2, epoch=7, gap=pb.Gap(reason=pb.Gap.SLOW_CONSUMER, epoch=7, from_offset=4,
                                      to_offset=5))))),
        record(ANSWER, batch(pb.PeerFrame(history=pb.HistoryResponse(
            id=2, epoch=7, gap=pb.Gap(reason=99, epoch=7))))),  # a reason from a newer node
        record(ANSWER, batch(pb.PeerFrame(history=pb.HistoryResponse(id=3, error_code="timeout")))),
    ])
    write("peer", "gossip", [
        record(AS_IS, batch(pb.PeerFrame(members=pb.Members(members=[
            pb.Member(node_id=f"m{i}", address=f"10.0.0.{i}:7400") for i in range(20)])))),
        record(AS_IS, batch(pb.PeerFrame(members=pb.Members(members=[
            pb.Member(node_id="a.b", address="10.0.0.1:1"),
            pb.Member(node_id="u", address="unix:/tmp/sock"),
            pb.Member(node_id="z", address="h:0"),
            pb.Member(node_id="zz-node", address="127.0.0.1:9")])))),
    ])
    write("peer", "bad_hellos", [
        record(AS_IS, batch(hello())),
        record(AS_IS, batch(proof(b"w" * 32))),  # a wrong proof: refused (secret)
    ])
    write("peer", "old_version_hello", [record(AS_IS, batch(hello(protocol_version=1)))])
    write("peer", "short_nonce", [record(AS_IS, batch(hello(nonce=b"short")))])
    write("peer", "proof_before_challenge", [record(AS_IS, batch(hello(), proof(b"x")))])
    write("peer", "many_guesses", [  # one stream, one guess: the rest is dropped
        record(AS_IS, batch(hello())),
        record(AS_IS, batch(*[proof(bytes([i]) * 32) for i in range(8)])),
    ])
    write("peer", "own_handshake", [
        record(AS_IS, batch(hello(node_id="fuzz-own"))),
        record(ANSWER, batch(proof())),
        record(AS_IS, batch(interest(reset=True, add=[I(pattern="t.>")]))),
    ])
    write("peer", "bad_hello_fields", [
        record(AS_IS, batch(hello(address="unix:/tmp/x"))),
    ])
    write("peer", "dial_back", [record(AS_IS, batch(hello(node_id="zzz-later"))),
                                record(ANSWER, batch(proof()))])
    write("peer", "handshake_frames_late", [
        record(AS_IS, batch(pb.PeerFrame(reply=pb.Reply(topic="_INBOX.zz-node.1", payload=b"r")))),
        record(AS_IS, batch(pb.PeerFrame(welcome=pb.Welcome(node_id="x")))),
        record(AS_IS, batch(pb.PeerFrame(challenge=pb.Challenge(node_id="x", nonce=b"c" * 32)))),
        record(AS_IS, batch(proof(b"p" * 32))),
    ])
    write("peer", "delivery_not_a_topic", [
        record(AS_IS, batch(delivery("t.*"), delivery("t.0", 3))),
    ])


def main():
    broker_pb2, peer_pb2 = load_modules()
    grpc_seeds(broker_pb2)
    peer_seeds(peer_pb2)


if __name__ == "__main__":
    main()
