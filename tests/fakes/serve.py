"""Serve a fake forge over real HTTP on 127.0.0.1, for tests that run `shiplane` as separate processes.

The fakes are httpx transports; here each request is handed to the fake one at a time (under a
lock, so its instrumentation and state see requests in arrival order) and its answer written back.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import httpx

from tests.fakes.base import FakeForge

_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


class Served:
    def __init__(self, fake: FakeForge) -> None:
        self.fake = fake
        self.lock = threading.Lock()
        served = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = httpx.Request(
                    self.command, f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}",
                    headers=[(k, v) for k, v in self.headers.items() if k.lower() not in _HOP], content=body,
                )
                with served.lock:
                    response = anyio.run(served.fake.handle_async_request, request)
                    content = anyio.run(response.aread)
                self.send_response(response.status_code)
                for key, value in response.headers.multi_items():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
