"""The sandbox on loopback: a real HTTP/1.1 server, so a browser can open the webview.

Built on the standard library's threading HTTP server rather than an ASGI stack because
the injected faults need the socket itself: a dropped connection must close without
any answer, which ASGI servers turn into a 500.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._types import SandboxRequest
from .core import Sandbox

__all__ = ["SandboxServer"]

TIMEOUT_HOLD_SECONDS = 10.0
"""How long an injected timeout holds the connection when the fault gives no delay."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ovo-nb-sandbox"
    disable_nagle_algorithm = True  # answers leave in several writes; do not wait for ACKs between them
    sandbox: Sandbox

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the client keeps the call log
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        host = self.headers.get("Host") or "127.0.0.1"
        answer = self.sandbox.handle(SandboxRequest(
            method=self.command, path=path, query=query, headers=dict(self.headers.items()), body=body,
            client_ip=self.client_address[0], base_url=f"http://{host}",
        ))
        if answer.fault:
            hold = answer.fault_delay or (TIMEOUT_HOLD_SECONDS if answer.fault.startswith("timeout") else 0.0)
            time.sleep(hold)
            if answer.fault.startswith(("timeout", "drop")):
                self.close_connection = True
                return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve


class SandboxServer:
    """Serve a :class:`Sandbox` on ``host:port`` (port 0 picks a free one) in a background thread."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("SandboxHandler", (_Handler,), {"sandbox": sandbox})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="ovo-nb-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
