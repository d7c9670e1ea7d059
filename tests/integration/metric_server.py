"""A real local HTTP server for the metric sources' tests and benchmark: it keeps what it is asked
and answers through a function the test gives (optionally after a delay, for the latency benchmark)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    raw_path: str  # as sent, still URL-encoded
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


Answer = tuple[int, object]  # (status, a JSON-able body, or bytes sent as they are)


class MetricServer:
    def __init__(self, answer: Callable[[Seen], Answer], *, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, self.path, dict(parse_qsl(parts.query)),
                            {k.lower(): v for k, v in self.headers.items()}, body)
                server.seen.append(seen)
                if server.delay:
                    time.sleep(server.delay)
                status, payload = server.answer(seen)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args) -> None:  # quiet
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the benchmark opens dozens of connections at once; 5 would reset some

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MetricServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
