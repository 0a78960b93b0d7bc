"""A hook backend for the tests (docs/PROTOCOL.md, "Hooks"): HTTP JSON on a
ThreadingHTTPServer, or gRPC herald.v1.Hooks on grpcio, on 127.0.0.1 port 0.
Each event's answer comes from `decide[event](request) -> dict` (an absent
event allows); every request is recorded. A decision may hold "_sleep"
(seconds before answering) and "_status" (an HTTP status other than 200)."""
import base64
import json
import os
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STUBS = os.environ.get("HERALD_PYTHON_STUBS",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                    "python"))
sys.path.insert(0, os.path.abspath(STUBS))


def b64(data):
    return base64.b64encode(data).decode()


class Recorder:
    def __init__(self):
        self.decide = {}
        self.calls = []  # (event, request dict)
        self.lock = threading.Lock()

    def answer(self, event, request):
        with self.lock:
            self.calls.append((event, request))
            decide = self.decide.get(event)
        d = dict(decide(request)) if decide else {"allow": True}
        if d.get("_sleep"):
            time.sleep(d["_sleep"])
        return d

    def of(self, event):
        with self.lock:
            return [r for e, r in self.calls if e == event]


class HttpHookBackend(Recorder):
    def __init__(self):
        super().__init__()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The head and the body are two writes: without this, Nagle holds
            # the body until the node's delayed ACK (40 ms per call).
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event = self.path.rsplit("/", 1)[-1]
                d = backend.answer(event, json.loads(body))
                status = d.pop("_status", 200)
                d.pop("_sleep", None)
                raw = d.pop("_raw", None)
                out = raw if raw is not None else json.dumps(d).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the node gave up waiting (a timeout test)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the node opens up to [hooks] connections at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class GrpcHookBackend(Recorder):
    def __init__(self):
        super().__init__()
        import grpc
        from herald.v1 import hooks_pb2 as hpb
        from herald.v1 import hooks_pb2_grpc as hpb_grpc
        backend = self

        def handle(event):
            def method(request, context):
                as_dict = {"client": request.client, "user": request.user,
                           "anonymous": request.anonymous, "transport": request.transport,
                           "token": request.token, "topic": request.topic,
                           "data": b64(request.data)}
                d = backend.answer(event, as_dict)
                out = hpb.HookDecision(allow=d.get("allow", False), code=d.get("code", ""),
                                       message=d.get("message", ""),
                                       expires_at=d.get("expires_at", 0))
                if "user" in d:
                    out.user = d["user"]
                if "info" in d:
                    out.info = json.dumps(d["info"])
                if "grants" in d:
                    for k, v in d["grants"].items():
                        getattr(out.grants, k).extend(v)
                if "data" in d:
                    out.data = base64.b64decode(d["data"])
                return out
            return method

        class Servicer(hpb_grpc.HooksServicer):
            Connect = staticmethod(handle("connect"))
            Subscribe = staticmethod(handle("subscribe"))
            Publish = staticmethod(handle("publish"))
            Refresh = staticmethod(handle("refresh"))

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        hpb_grpc.add_HooksServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{self.port}"
        self.server.start()

    def close(self):
        self.server.stop(0)
