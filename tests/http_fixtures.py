"""A loopback HTTP server for download tests (no network): it serves fixture files and speaks HTTP Range
(206 + Content-Range, 416 past the end), and misbehaves on request: it cuts a transfer short after
announcing the full length, ignores Range, answers with a web page or 404.

Use the `http_server` fixture (tests/conftest.py): `base, served = http_server`, then put bytes in
`served.files["/path"]` and fetch `base + "/path"`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_once: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before the connection drops
    ignore_range: bool = False
    html: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    bytes_sent: int = 0


class RangeHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        served = self.server.served  # type: ignore[attr-defined]
        served.requests.append((self.path, self.headers.get("Range")))
        if self.path in served.html:
            self._send(200, b"<html>virus scan warning</html>", {"Content-Type": "text/html; charset=utf-8"})
            return
        body = served.files.get(self.path)
        if body is None:
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not served.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self._send(416, b"", {"Content-Range": f"bytes */{len(body)}"})
                return
            self._send(206, body[start:], {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})
            return
        cut = served.cut_once.pop(self.path, None)
        self._send(200, body, {}, cut)

    def _send(self, status: int, body: bytes, headers: dict[str, str], cut: int | None = None) -> None:
        self.send_response(status)
        headers.setdefault("Content-Type", "application/octet-stream")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))  # the full length, even when cutting short
        self.end_headers()
        sent = body if cut is None else body[:cut]
        self.wfile.write(sent)
        self.server.served.bytes_sent += len(sent)  # type: ignore[attr-defined]


@contextmanager
def serve_loopback() -> Iterator[tuple[str, Served]]:
    """(base address, what it serves) while the block runs."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.served = Served()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.served  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


FIRST_REQUEST = """if True:
    import json, sys, urllib.request
    from dragd.daemon import cli
    seen = []
    real_urlopen = urllib.request.urlopen
    def urlopen(*args, **kwargs):
        seen.append("torch" in sys.modules)
        return real_urlopen(*args, **kwargs)
    urllib.request.urlopen = urlopen
    exec(sys.argv[1])
    status = cli.main(json.loads(sys.argv[2]))
    print(json.dumps({"status": status, "torch_at_first_request": seen[:1]}))
"""


def torch_at_first_request(setup: str, argv: list[str], env: dict[str, str]) -> tuple[dict[str, object], str]:
    """Runs `dragd ARGV` in a fresh interpreter after the Python statements `setup` (e.g. pointing a download at
    an address where nothing listens): ({"status": exit status, "torch_at_first_request": [whether torch was
    imported when the command first opened a URL]}, stderr)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FIRST_REQUEST, setup, json.dumps(argv)], capture_output=True,
                          text=True, timeout=120, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr
