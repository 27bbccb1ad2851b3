"""A loopback HTTP receiver for notification tests: records every request, answers as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Requests received (`calls`) and the answer to give (status, headers, body); `url` is its base URL."""

    url: str
    port: int
    calls: list[Request] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0

    @property
    def called(self) -> bool:
        return bool(self.calls)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (a timeout test) is not the receiver's error


class _IPv6Server(_Server):
    import socket as _socket

    address_family = _socket.AF_INET6


@contextmanager
def receiver_running(host: str = "127.0.0.1") -> Iterator[Receiver]:
    """Serve a Receiver on `host` (127.0.0.1 or ::1), port chosen by the OS, until the block ends."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            receiver = state["receiver"]
            time.sleep(receiver.delay_s)
            receiver.calls.append(
                Request(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
            )
            self.send_response(receiver.status)
            for name, value in receiver.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(receiver.body)))
            self.end_headers()
            self.wfile.write(receiver.body)

        do_GET = do_POST = do_PUT = _record

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server_class = _IPv6Server if ":" in host else _Server
    server = server_class((host, 0), Handler)
    port = server.server_address[1]
    netloc = f"[{host}]" if ":" in host else host
    state["receiver"] = Receiver(url=f"http://{netloc}:{port}", port=port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()
