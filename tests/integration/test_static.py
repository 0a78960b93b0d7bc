"""Static files and the built-in demo chat page, over real HTTP."""
import os
import subprocess
import tempfile
import unittest

from heraldd import HERALDD, Heraldd, http_call


def raw_get(port, target, method="GET"):
    """A request with the target exactly as given (no client-side cleanup)."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


class DemoPage(unittest.TestCase):
    def test_heraldd_serves_the_demo_chat_page_at_the_root_by_default(self):
        with Heraldd() as h:
            status, headers, body = raw_get(h.port, "/")
            self.assertEqual(status, 200)
            self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
            self.assertIn(b"<title>Herald chat</title>", body)
            for path, mime in (("/chat.js", "text/javascript; charset=utf-8"),
                               ("/chat.css", "text/css; charset=utf-8")):
                status, headers, body = raw_get(h.port, path)
                self.assertEqual((status, headers["content-type"]), (200, mime), path)
                self.assertGreater(len(body), 100)
            # The page's client is the one in clients/js, served beside it.
            status, headers, body = raw_get(h.port, "/herald.js")
            self.assertEqual(status, 200)
            self.assertEqual(headers["content-type"], "text/javascript; charset=utf-8")
            with open(os.path.join(os.path.dirname(__file__), "..", "..", "clients", "js",
                                   "herald.js"), "rb") as f:
                self.assertEqual(body, f.read())
            # The other routes still win over the site.
            status, _, body = raw_get(h.port, "/healthz")
            self.assertEqual((status, body), (200, b'{"status":"ok"}\n'))


class Directory(unittest.TestCase):
    FILES = {
        "index.html": b"<!doctype html><title>home</title>",
        "app.js": b"export const x = 1;\n",
        "style.css": b"body{}\n",
        "data.json": b'{"a":1}',
        "logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        "img.png": b"\x89PNG\r\n\x1a\n",
        "blob.bin": bytes(range(256)),
        "docs/index.html": b"<p>docs</p>",
        "name with space.txt": b"spaced",
    }
    MIME = {
        "index.html": "text/html; charset=utf-8",
        "app.js": "text/javascript; charset=utf-8",
        "style.css": "text/css; charset=utf-8",
        "data.json": "application/json",
        "logo.svg": "image/svg+xml",
        "img.png": "image/png",
        "blob.bin": "application/octet-stream",
        "name with space.txt": "text/plain; charset=utf-8",
    }

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.root = os.path.join(self.tmp.name, "site")
        for rel, data in self.FILES.items():
            path = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        # A secret next to the root, and a symlink inside pointing at it.
        with open(os.path.join(self.tmp.name, "secret.txt"), "wb") as f:
            f.write(b"TOP SECRET")
        os.symlink(os.path.join(self.tmp.name, "secret.txt"), os.path.join(self.root, "link.txt"))
        os.symlink(self.tmp.name, os.path.join(self.root, "up"))
        self.h = Heraldd("--static", self.root)
        self.h.__enter__()
        self.addCleanup(self.h.__exit__)

    def test_files_are_served_byte_exact_with_their_mime_type(self):
        for rel, mime in self.MIME.items():
            target = "/" + rel.replace(" ", "%20")
            status, headers, body = raw_get(self.h.port, target)
            self.assertEqual(status, 200, rel)
            self.assertEqual(headers["content-type"], mime, rel)
            self.assertEqual(body, self.FILES[rel], rel)
            self.assertEqual(headers["x-content-type-options"], "nosniff")

    def test_directories_serve_their_index_and_head_has_no_body(self):
        self.assertEqual(raw_get(self.h.port, "/")[2], self.FILES["index.html"])
        self.assertEqual(raw_get(self.h.port, "/docs/")[2], self.FILES["docs/index.html"])
        self.assertEqual(raw_get(self.h.port, "/docs")[2], self.FILES["docs/index.html"])
        status, headers, body = raw_get(self.h.port, "/app.js", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["content-length"], str(len(self.FILES["app.js"])))

    def test_missing_files_are_404_with_a_json_error(self):
        resp, body = http_call(self.h.port, "GET", "/nope.html")
        self.assertEqual(resp.status, 404)
        self.assertIn(b'"error":"not_found"', body)

    def test_no_path_leaves_the_root(self):
        for target in ["/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt",
                       "/%2E%2E%2Fsecret.txt", "/docs/../../secret.txt", "/./../secret.txt",
                       "/..\\secret.txt", "/%5c..%5csecret.txt", "/secret.txt%00.html",
                       "//../secret.txt", "/link.txt", "/up/secret.txt"]:
            status, _, body = raw_get(self.h.port, target)
            self.assertIn(status, (400, 404), target)
            self.assertNotIn(b"TOP SECRET", body, target)
        # The node is fine afterwards.
        self.assertEqual(raw_get(self.h.port, "/app.js")[0], 200)


class BadDirectory(unittest.TestCase):
    def test_a_missing_static_directory_stops_heraldd_with_a_clear_error(self):
        r = subprocess.run([HERALDD, "--listen", "127.0.0.1:0", "--static", "/no/such/dir"],
                           capture_output=True, text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/no/such/dir", r.stderr)


if __name__ == "__main__":
    unittest.main()
