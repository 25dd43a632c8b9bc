"""The sandbox on loopback: a real HTTP/1.1 server, so a browser or another process can use it.

HTTP/1.1 framing is h11's (the sans-I/O parser httpx already depends on): Content-Length and
chunked bodies, header limits and malformed requests are its job, not hand-written code. The
sockets stay ours, because an injected fault must be able to drop a connection without any
answer, which WSGI and ASGI servers turn into a 500.

Bounded in time and memory: one selector thread holds idle keep-alive connections (they cost
no worker), a fixed pool of workers serves requests, each request must arrive within
``request_timeout``, a body over ``max_body`` is refused before it is read, headers over
``max_header`` are refused, and at the descriptor limit new connections get a 503 instead of a
busy loop. Every refusal is SNAP-shaped JSON whose first three digits are the HTTP status.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import h11

from ._types import MAX_BODY_BYTES, SandboxRequest, SandboxResponse
from .core import REASONS, Sandbox
from .core import refusal as _refusal

__all__ = ["SandboxServer"]

TIMEOUT_HOLD_SECONDS = 10.0
"""How long an injected timeout holds the connection when the fault gives no delay."""
MAX_HEADER_BYTES = 16 * 1024
"""The request line and headers together; more is answered 431."""
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""Methods the sandbox routes; any other (HEAD, OPTIONS, TRACE...) is answered 405."""
class _Refused(Exception):
    def __init__(self, response: SandboxResponse, *, head: bool = False) -> None:
        super().__init__(response.status)
        self.response, self.head = response, head


class _Connection:
    """One client socket and its HTTP/1.1 state."""

    def __init__(self, sock: socket.socket, address: Any, max_header: int) -> None:
        self.sock = sock
        self.address = address
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=max_header)
        self.idle_since = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class SandboxServer:
    """Serve a :class:`Sandbox` on ``host:port`` (port 0 picks a free one) in background threads.

    ``log`` receives one line per answered request (time, method, path, SNAP code, latency,
    client id); ``None`` keeps it quiet. A webview redirect to a host in ``landing_hosts`` (a
    placeholder partner domain that does not exist) lands on this server's ``/_sandbox/callback``
    page instead, with the same query, so a browser shows the result and the URL to paste back.
    """

    def __init__(
        self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, workers: int = 16, backlog: int = 1024,
        max_body: int = MAX_BODY_BYTES, max_header: int = MAX_HEADER_BYTES, request_timeout: float = 10.0,
        idle_timeout: float = 120.0, log: Callable[[str], None] | None = None,
        landing_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.sandbox = sandbox
        self.landing_hosts = landing_hosts
        self.max_body, self.max_header = max_body, max_header
        self.request_timeout, self.idle_timeout = request_timeout, idle_timeout
        self.log = log
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, port))
            self._listener.listen(backlog)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ovo-nb-sandbox")
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._returned: list[_Connection] = []
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()
        self._running = False
        self._thread: threading.Thread | None = None
        self._reserve: int | None = self._open_reserve()

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> SandboxServer:
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="ovo-nb-sandbox-accept", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or Ctrl-C."""
        self._running = True
        self._loop()

    def stop(self) -> None:
        self._running = False
        self._wake()
        if self._thread:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for connection in list(self._open):
                connection.close()
            self._open.clear()
        for sock in (self._listener, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None
        self._selector.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- the selector thread

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _loop(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        paused_until = 0.0
        try:
            while self._running:
                if paused_until and time.monotonic() >= paused_until:
                    self._selector.register(self._listener, selectors.EVENT_READ, "listen")
                    paused_until = 0.0
                for key, _ in self._selector.select(timeout=0.5):
                    if key.data == "listen":
                        if not self._accept():
                            self._selector.unregister(self._listener)  # out of descriptors: breathe
                            paused_until = time.monotonic() + 0.1
                    elif key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._selector.unregister(key.fileobj)
                        try:
                            self._pool.submit(self._serve, key.data)
                        except RuntimeError:  # the pool is shut down: the server is stopping
                            self._forget(key.data)
                            return
                self._take_back()
                self._sweep_idle()
        finally:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(self._listener)

    def _accept(self) -> bool:
        """Accept what is waiting; False when the process is out of file descriptors."""
        while True:
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._shed_one()
                    return False
                return True
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(sock, address, self.max_header)
            with self._lock:
                self._open.add(connection)
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _open_reserve(self) -> int | None:
        try:
            return os.open(os.devnull, os.O_RDONLY)
        except OSError:
            return None

    def _shed_one(self) -> None:
        """At the descriptor limit: free the reserve, answer one waiting client 503, take it back."""
        if self._reserve is None:
            return
        os.close(self._reserve)
        self._reserve = None
        try:
            sock, _ = self._listener.accept()
        except OSError:
            sock = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(0.5)
                sock.sendall(_raw_response(_refusal(503, "The sandbox is out of file descriptors; retry shortly.")))
            sock.close()
        self._reserve = self._open_reserve()

    def _take_back(self) -> None:
        with self._lock:
            returned, self._returned = self._returned, []
        for connection in returned:
            try:
                self._selector.register(connection.sock, selectors.EVENT_READ, connection)
            except (ValueError, OSError):
                self._forget(connection)

    def _sweep_idle(self) -> None:
        limit = time.monotonic() - self.idle_timeout
        for key in list(self._selector.get_map().values()):
            connection = key.data
            if isinstance(connection, _Connection) and connection.idle_since < limit:
                self._selector.unregister(connection.sock)
                self._forget(connection)

    def _forget(self, connection: _Connection) -> None:
        connection.close()
        with self._lock:
            self._open.discard(connection)

    # ----------------------------------------------------------------- a worker

    def _serve(self, connection: _Connection) -> None:
        """Serve requests on one connection while they are already waiting, then hand it back."""
        try:
            while self._running:
                keep = self._one(connection)
                if not keep:
                    self._forget(connection)
                    return
                if not connection.h11.trailing_data[0]:
                    break  # nothing pipelined: back to the selector until the client speaks again
            connection.idle_since = time.monotonic()
            with self._lock:
                self._returned.append(connection)
            self._wake()
        except Exception:  # a broken socket must never take a worker with it
            self._forget(connection)

    def _one(self, connection: _Connection) -> bool:
        """Read one request, answer it; True when the connection can carry another."""
        started = time.monotonic()
        deadline = started + self.request_timeout
        conn = connection.h11
        try:
            request, body = self._read(connection, deadline)
        except _Refused as refused:
            with contextlib.suppress(OSError, h11.LocalProtocolError):
                self._send(connection, refused.response, head_only=refused.head)
                self._linger(connection)
            return False
        except (TimeoutError, OSError, h11.LocalProtocolError):
            return False
        if request is None:
            return False  # the client closed an idle connection
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers}
        host = headers.get("host") or self.url.split("//", 1)[1]
        answer = self.sandbox.handle(SandboxRequest(
            method=request.method.decode("ascii", "replace"), path=path, query=query, headers=headers, body=body,
            client_ip=str(connection.address[0]), base_url=f"http://{host}",
        ))
        location = urlsplit(answer.headers.get("Location", ""))
        if answer.status == 303 and location.hostname in self.landing_hosts:
            answer = SandboxResponse(303, b"", {**answer.headers,
                                                "Location": f"http://{host}/_sandbox/callback?{location.query}"})
        if answer.fault:
            hold = answer.fault_delay or (TIMEOUT_HOLD_SECONDS if answer.fault.startswith("timeout") else 0.0)
            time.sleep(hold)
            if answer.fault.startswith(("timeout", "drop")):
                return False  # close without a byte of answer, as a lost response looks
        self._send(connection, answer)
        self._log(request.method, target, answer, started, headers)
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            return True
        return False

    def _read(self, connection: _Connection, deadline: float) -> tuple[h11.Request | None, bytes]:
        """The next request and its whole body, within the deadline and the limits."""
        conn = connection.h11
        request: h11.Request | None = None
        chunks: list[bytes] = []
        size = received = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if exc.error_status_hint in REASONS else 400
                hint = ("The request line and headers are too large." if status == 431
                        else f"Malformed HTTP/1.1 request: {exc}.")
                raise _Refused(_refusal(status, hint)) from None
            if event is h11.NEED_DATA:
                remaining = deadline - time.monotonic()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    connection.sock.settimeout(remaining)
                    data = connection.sock.recv(65536)
                except TimeoutError:
                    if received:
                        raise _Refused(_refusal(408, "The request did not arrive in time.")) from None
                    raise
                received += len(data)
                conn.receive_data(data)
                if not data and request is None and conn.their_state is h11.IDLE:
                    return None, b""
                continue
            if isinstance(event, h11.Request):
                request = event
                self._check_head(conn, event)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_body:
                    raise _Refused(_refusal(413, f"The body is over {self.max_body} bytes."))
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return request, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                return None, b""

    def _check_head(self, conn: h11.Connection, request: h11.Request) -> None:
        """Refuse before reading a body: unknown methods, a missing length, a length over the cap."""
        method = request.method.decode("ascii", "replace")
        if len(request.target) + sum(len(name) + len(value) + 4 for name, value in request.headers) > self.max_header:
            raise _Refused(_refusal(431, "The request line and headers are too large."), head=method == "HEAD")
        if method not in METHODS:
            raise _Refused(_refusal(405, f"The sandbox answers {', '.join(METHODS)}; not {method}."),
                           head=method == "HEAD")
        headers = {name.lower(): value for name, value in request.headers}
        length = headers.get(b"content-length")
        if length is not None and int(length) > self.max_body:
            raise _Refused(_refusal(413, f"The body is {int(length)} bytes; the limit is {self.max_body}."))
        if method in ("POST", "PUT", "PATCH") and length is None and b"transfer-encoding" not in headers:
            raise _Refused(_refusal(411, "Send Content-Length (or a chunked body) with a request body."))
        if conn.they_are_waiting_for_100_continue:
            conn.send(h11.InformationalResponse(status_code=100, headers=[]))

    def _send(self, connection: _Connection, answer: SandboxResponse, *, head_only: bool = False) -> None:
        conn = connection.h11
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):  # IDLE: h11 lets us answer a malformed request
            return
        headers = [(name, value) for name, value in answer.headers.items() if name.lower() != "content-length"]
        headers.append(("Content-Length", str(len(answer.body))))
        if conn.their_state is not h11.DONE:
            headers.append(("Connection", "close"))
        data = conn.send(h11.Response(status_code=answer.status, headers=headers, reason=b"")) or b""
        if answer.body and not head_only:
            data += conn.send(h11.Data(data=answer.body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        connection.sock.settimeout(self.request_timeout)
        connection.sock.sendall(data)

    @staticmethod
    def _linger(connection: _Connection, seconds: float = 1.0) -> None:
        """After an early refusal: stop writing and discard what the client still sends, briefly, so it
        reads the answer instead of a reset. Nothing is kept, so a huge body costs no memory."""
        connection.sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            connection.sock.settimeout(remaining)
            try:
                if not connection.sock.recv(65536):
                    return
            except OSError:
                return

    def _log(self, method: bytes, target: str, answer: SandboxResponse, started: float,
             headers: dict[str, str]) -> None:
        if self.log is None:
            return
        try:
            code = json.loads(answer.body).get("responseCode", "") if answer.body[:1] == b"{" else ""
        except ValueError:
            code = ""
        client = headers.get("x-partner-id") or headers.get("x-client-key") or "-"
        path = target.split("?", 1)[0]
        self.log(f"{time.strftime('%H:%M:%S')} {method.decode('ascii', 'replace'):6} {path} "
                 f"{answer.status} {code or '-'} {(time.monotonic() - started) * 1000:.0f}ms {client}")


def _raw_response(answer: SandboxResponse) -> bytes:
    """A whole HTTP/1.1 response, for the rare answer sent outside a connection's h11 state."""
    head = [f"HTTP/1.1 {answer.status} {REASONS.get(answer.status, '')}",
            *(f"{name}: {value}" for name, value in answer.headers.items()),
            f"Content-Length: {len(answer.body)}", "Connection: close", "", ""]
    return "\r\n".join(head).encode("latin-1") + answer.body
