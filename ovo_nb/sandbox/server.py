"""The sandbox on loopback: a real HTTP/1.1 server, so a browser or another process can use it.

HTTP/1.1 framing is h11's (the sans-I/O parser httpx already depends on): Content-Length and
chunked bodies, header limits and malformed requests are its job, not hand-written code. The
sockets stay ours, because an injected fault must be able to drop a connection without any
answer, which WSGI and ASGI servers turn into a 500.

Slow or hostile clients cost a descriptor and a few bytes, never a worker. One selector thread
owns every socket: it accepts, reads each request whole (head and body, within
``request_timeout`` of its first byte), writes every answer and holds what an injected fault
delays; the pool of workers only computes answers to complete requests. So a thousand trickling
connections do not delay a normal request. A body over ``max_body`` is refused before it is
read, bodies held at once are capped by ``max_buffered``, headers over ``max_header`` are
refused, a request with both Content-Length and Transfer-Encoding is refused and its connection
closed (RFC 9112 6.1: the bytes after it cannot be trusted), and at the descriptor limit each
new connection is answered 503 at once. Every refusal is SNAP-shaped JSON whose first three
digits are the HTTP status. The URLs the sandbox hands out (webview links, redirects) come from
``base_url``, never from the client's ``Host`` header.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import h11

from ..snap import JAKARTA
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
LINGER_SECONDS = 1.0
"""After an early refusal, how long what the client still sends is read and dropped, so it sees the answer."""
SWEEP_SECONDS = 0.05
"""How often the selector looks for deadlines: requests too slow, idle connections, faults due."""
_READING, _BUSY, _HOLDING, _WRITING, _LINGERING = "reading", "busy", "holding", "writing", "lingering"


class _Refused(Exception):
    def __init__(self, response: SandboxResponse, *, head: bool = False) -> None:
        super().__init__(response.status)
        self.response, self.head = response, head


@dataclass
class _Answer:
    """What a worker hands back: the bytes to send (``None``: close unanswered), after ``hold`` seconds."""

    data: bytes | None
    keep: bool
    hold: float = 0.0


class _Connection:
    """One client socket, its HTTP/1.1 state and the request being read; touched by one thread at a time."""

    def __init__(self, sock: socket.socket, address: Any, max_header: int) -> None:
        self.sock = sock
        self.client_ip = _client_ip(address)
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=max_header)
        self.state = _READING
        self.request: h11.Request | None
        self.chunks: list[bytes]
        self.size: int
        self.deadline: float  # the current request's, once its first byte arrived; or the hold/write/linger's
        self.idle_since: float
        self.reset()
        self.outbox = memoryview(b"")
        self.keep = False
        self.after: _Answer | None = None

    def reset(self) -> None:
        self.request, self.chunks, self.size, self.deadline = None, [], 0, 0.0
        self.idle_since = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _client_ip(address: Any) -> str:
    """The client's address as the sandbox sees it: an IPv4 client of a dual-stack socket (``::ffff:127.0.0.1``)
    is that IPv4 address, for the admin API's loopback check and the IP whitelist alike."""
    text = str(address[0]) if isinstance(address, tuple) else str(address)
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return str(mapped or ip)


class SandboxServer:
    """Serve a :class:`Sandbox` on ``host:port`` (port 0 picks a free one) in background threads.

    ``log`` receives one line per answered request (time, method, path, SNAP code, latency,
    client id); ``None`` keeps it quiet. ``base_url`` is where clients reach this server, used for
    every URL the sandbox hands out (default: ``http://host:port``, loopback when listening on every
    address). A webview redirect to a host in ``landing_hosts`` (a placeholder partner domain that
    does not exist) lands on this server's ``/_sandbox/callback`` page instead, with the same query,
    so a browser shows the result and the URL to paste back.
    """

    def __init__(
        self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, workers: int = 16, backlog: int = 1024,
        max_body: int = MAX_BODY_BYTES, max_header: int = MAX_HEADER_BYTES, request_timeout: float = 10.0,
        idle_timeout: float = 120.0, max_buffered: int = 64 * MAX_BODY_BYTES, base_url: str | None = None,
        log: Callable[[str], None] | None = None, landing_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.sandbox = sandbox
        self.landing_hosts = landing_hosts
        self.max_body, self.max_header, self.max_buffered = max_body, max_header, max_buffered
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
        self.base_url = (base_url or self._default_base_url()).rstrip("/")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ovo-nb-sandbox")
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._finished: list[tuple[_Connection, _Answer]] = []
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()
        self._buffered = 0
        self._running = False
        self._thread: threading.Thread | None = None
        self._reserve: int | None = self._open_reserve()

    @property
    def url(self) -> str:
        """The address the server listens on."""
        host, port = self._listener.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def _default_base_url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        if host in ("0.0.0.0", "::"):  # every address: hand out the loopback one, which surely reaches us
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> SandboxServer:
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="ovo-nb-sandbox-selector", daemon=True)
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
        next_sweep = time.monotonic() + SWEEP_SECONDS
        try:
            while self._running:
                now = time.monotonic()
                if paused_until and now >= paused_until:
                    self._selector.register(self._listener, selectors.EVENT_READ, "listen")
                    paused_until = 0.0
                for key, mask in self._selector.select(timeout=max(0.0, next_sweep - now)):
                    if key.data == "listen":
                        if not self._accept():
                            self._selector.unregister(self._listener)  # out of descriptors, nothing to shed with
                            paused_until = time.monotonic() + 0.1
                    elif key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif mask & selectors.EVENT_WRITE:
                        self._flush(key.data)
                    else:
                        self._readable(key.data)
                self._take_back()
                if time.monotonic() >= next_sweep:
                    self._sweep()
                    next_sweep = time.monotonic() + SWEEP_SECONDS
        finally:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(self._listener)

    def _accept(self) -> bool:
        """Accept what is waiting; False when out of descriptors with no reserve to answer 503 with."""
        while True:
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    return self._shed()
                return True
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(sock, address, self.max_header)
            with self._lock:
                self._open.add(connection)
            self._watch(connection, selectors.EVENT_READ)

    def _open_reserve(self) -> int | None:
        try:
            return os.open(os.devnull, os.O_RDONLY)
        except OSError:
            return None

    def _shed(self) -> bool:
        """At the descriptor limit: answer every client waiting to be accepted 503 and close it, one at a time
        through a reserved descriptor. False when the reserve is gone (another thread took the descriptor)."""
        if self._reserve is None:
            self._reserve = self._open_reserve()
            if self._reserve is None:
                return False
        refusal = _raw_response(_refusal(503, "The sandbox is out of file descriptors; retry shortly."))
        while True:
            os.close(self._reserve)
            self._reserve = None
            try:
                sock, _ = self._listener.accept()
            except OSError:
                sock = None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setblocking(False)
                    sock.send(refusal)  # a few hundred bytes: the socket buffer takes them at once
                sock.close()
            self._reserve = self._open_reserve()
            if sock is None or self._reserve is None:
                return self._reserve is not None

    def _watch(self, connection: _Connection, events: int) -> None:
        try:
            self._selector.modify(connection.sock, events, connection)
        except KeyError:
            self._selector.register(connection.sock, events, connection)

    def _unwatch(self, connection: _Connection) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(connection.sock)

    def _forget(self, connection: _Connection) -> None:
        self._unwatch(connection)
        self._release(connection)
        connection.close()
        with self._lock:
            self._open.discard(connection)

    def _release(self, connection: _Connection) -> None:
        with self._lock:
            self._buffered -= connection.size
        connection.size = 0

    def _readable(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._forget(connection)
            return
        if connection.state == _LINGERING:
            if not data:
                self._forget(connection)
            return  # what follows a refused request is dropped unread
        if data and not connection.deadline:
            connection.deadline = time.monotonic() + self.request_timeout
        connection.h11.receive_data(data)
        self._advance(connection)

    def _advance(self, connection: _Connection) -> None:
        """Take what h11 has parsed: check the head, keep the body, hand a whole request to a worker."""
        conn = connection.h11
        try:
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    status = exc.error_status_hint if exc.error_status_hint in REASONS else 400
                    hint = ("The request line and headers are too large." if status == 431
                            else f"Malformed HTTP/1.1 request: {exc}.")
                    raise _Refused(_refusal(status, hint)) from None
                if event is h11.NEED_DATA:
                    if conn.their_state is h11.IDLE and not conn.trailing_data[0]:
                        connection.deadline = 0.0  # between requests: idle, not slow
                    elif not connection.deadline:  # part of a pipelined request: its clock runs
                        connection.deadline = time.monotonic() + self.request_timeout
                    return
                if isinstance(event, h11.Request):
                    connection.request = event
                    if not connection.deadline:
                        connection.deadline = time.monotonic() + self.request_timeout
                    self._check_head(connection, event)
                elif isinstance(event, h11.Data):
                    self._keep_body(connection, bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    assert connection.request is not None
                    connection.state = _BUSY
                    self._unwatch(connection)
                    body = b"".join(connection.chunks)
                    try:
                        self._pool.submit(self._handle, connection, connection.request, body)
                    except RuntimeError:  # the pool is shut down: the server is stopping
                        self._forget(connection)
                    return
                else:  # ConnectionClosed, or PAUSED after a refusal
                    self._forget(connection)
                    return
        except _Refused as refused:
            self._refuse(connection, refused)

    def _keep_body(self, connection: _Connection, data: bytes) -> None:
        if connection.size + len(data) > self.max_body:
            raise _Refused(_refusal(413, f"The body is over {self.max_body} bytes."))
        with self._lock:
            if self._buffered + len(data) > self.max_buffered:
                raise _Refused(_refusal(503, "The sandbox holds too many request bodies at once; retry shortly."))
            self._buffered += len(data)
        connection.size += len(data)
        connection.chunks.append(data)

    def _check_head(self, connection: _Connection, request: h11.Request) -> None:
        """Refuse before reading a body: unknown methods, a missing or doubled length, a length over the cap."""
        method = request.method.decode("ascii", "replace")
        if len(request.target) + sum(len(name) + len(value) + 4 for name, value in request.headers) > self.max_header:
            raise _Refused(_refusal(431, "The request line and headers are too large."), head=method == "HEAD")
        if method not in METHODS:
            raise _Refused(_refusal(405, f"The sandbox answers {', '.join(METHODS)}; not {method}."),
                           head=method == "HEAD")
        headers = dict(request.headers)  # h11 gives the names lowercased
        if b"content-length" in headers and b"transfer-encoding" in headers:
            raise _Refused(_refusal(400, "Content-Length and Transfer-Encoding together: the body's end is "
                                         "ambiguous (RFC 9112 6.1); send one of them. The connection is closed."))
        length = headers.get(b"content-length")
        if length is not None and int(length) > self.max_body:
            raise _Refused(_refusal(413, f"The body is {int(length)} bytes; the limit is {self.max_body}."))
        if method in ("POST", "PUT", "PATCH") and length is None and b"transfer-encoding" not in headers:
            raise _Refused(_refusal(411, "Send Content-Length (or a chunked body) with a request body."))
        if connection.h11.they_are_waiting_for_100_continue:
            with contextlib.suppress(OSError):
                connection.sock.send(connection.h11.send(h11.InformationalResponse(status_code=100, headers=[]))
                                     or b"")

    def _refuse(self, connection: _Connection, refused: _Refused) -> None:
        """Answer an early refusal, then close: h11 cannot read past a broken or refused request."""
        self._release(connection)
        try:
            data = _response_bytes(connection.h11, refused.response, head_only=refused.head)
        except h11.LocalProtocolError:
            data = None
        self._write(connection, _Answer(data, keep=False), linger=True)

    # ----------------------------------------------------------------- answers

    def _handle(self, connection: _Connection, request: h11.Request, body: bytes) -> None:
        """A worker: compute the answer to one whole request, send it, and hand the connection back to the selector."""
        try:
            answer = self._answer(connection, request, body)
            if answer.data and not answer.hold:  # send what the socket takes now; the selector sends the rest
                with contextlib.suppress(BlockingIOError):
                    answer.data = answer.data[connection.sock.send(answer.data):]
        except Exception:  # a broken request or socket must never take a worker with it
            answer = _Answer(None, keep=False)
        with self._lock:
            self._finished.append((connection, answer))
        self._wake()

    def _answer(self, connection: _Connection, request: h11.Request, body: bytes) -> _Answer:
        started = connection.deadline - self.request_timeout
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers}
        answer = self.sandbox.handle(SandboxRequest(
            method=request.method.decode("ascii", "replace"), path=path, query=query, headers=headers, body=body,
            client_ip=connection.client_ip, base_url=self.base_url,
        ))
        location = urlsplit(answer.headers.get("Location", ""))
        if answer.status == 303 and location.hostname in self.landing_hosts:
            answer = SandboxResponse(303, b"", {**answer.headers,
                                                "Location": f"{self.base_url}/_sandbox/callback?{location.query}"})
        hold = 0.0
        if answer.fault:
            hold = answer.fault_delay or (TIMEOUT_HOLD_SECONDS if answer.fault.startswith("timeout") else 0.0)
            if answer.fault.startswith(("timeout", "drop")):
                return _Answer(None, keep=False, hold=hold)  # close without a byte of answer, as a lost response
        data = _response_bytes(connection.h11, answer)
        self._log(request.method, target, answer, started, headers)
        conn = connection.h11
        return _Answer(data, keep=conn.our_state is h11.DONE and conn.their_state is h11.DONE, hold=hold)

    def _take_back(self) -> None:
        with self._lock:
            finished, self._finished = self._finished, []
        for connection, answer in finished:
            self._release(connection)
            if answer.hold > 0:
                connection.state, connection.after = _HOLDING, answer
                connection.deadline = time.monotonic() + answer.hold
            else:
                self._write(connection, answer)

    def _write(self, connection: _Connection, answer: _Answer, *, linger: bool = False) -> None:
        if answer.data is None:
            self._forget(connection)
            return
        connection.state, connection.outbox, connection.keep = _WRITING, memoryview(answer.data), answer.keep
        connection.after = _Answer(None, keep=False, hold=LINGER_SECONDS) if linger else None
        connection.deadline = time.monotonic() + self.request_timeout
        self._flush(connection)

    def _flush(self, connection: _Connection) -> None:
        """Send what the socket takes now; the rest when it is writable again."""
        try:
            sent = connection.sock.send(connection.outbox)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._forget(connection)
            return
        connection.outbox = connection.outbox[sent:]
        if connection.outbox:
            self._watch(connection, selectors.EVENT_WRITE)
            return
        if connection.after is not None:  # an early refusal: read and drop what still comes, briefly
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_WR)
            connection.state, connection.deadline = _LINGERING, time.monotonic() + connection.after.hold
            self._watch(connection, selectors.EVENT_READ)
        elif connection.keep:
            connection.h11.start_next_cycle()
            connection.state = _READING
            connection.reset()
            self._watch(connection, selectors.EVENT_READ)
            self._advance(connection)  # a pipelined request may be waiting in h11 already
        else:
            self._forget(connection)

    def _sweep(self) -> None:
        """Deadlines: a request too slow (408), an idle connection, a held fault due, a reader that stalled."""
        now = time.monotonic()
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            if connection.state == _READING:
                if connection.deadline and now > connection.deadline:
                    self._refuse(connection, _Refused(_refusal(408, "The request did not arrive in time.")))
                elif not connection.deadline and now - connection.idle_since > self.idle_timeout:
                    self._forget(connection)
            elif connection.state == _HOLDING and now >= connection.deadline:
                assert connection.after is not None
                self._write(connection, _Answer(connection.after.data, connection.after.keep))
            elif connection.state in (_WRITING, _LINGERING) and now >= connection.deadline:
                self._forget(connection)

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
        self.log(f"{datetime.now(JAKARTA):%H:%M:%S} {method.decode('ascii', 'replace'):6} {path} "
                 f"{answer.status} {code or '-'} {(time.monotonic() - started) * 1000:.0f}ms {client}")


def _response_bytes(conn: h11.Connection, answer: SandboxResponse, *, head_only: bool = False) -> bytes:
    """The answer framed by h11; ``Connection: close`` when the request was not read to its end."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):  # IDLE: h11 lets us answer a malformed request
        raise h11.LocalProtocolError("no response can be sent in this state")
    headers = [(name, value) for name, value in answer.headers.items() if name.lower() != "content-length"]
    headers.append(("Content-Length", str(len(answer.body))))
    if conn.their_state is not h11.DONE:
        headers.append(("Connection", "close"))
    data = conn.send(h11.Response(status_code=answer.status, headers=headers, reason=b"")) or b""
    if answer.body and not head_only:
        data += conn.send(h11.Data(data=answer.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    return data


def _raw_response(answer: SandboxResponse) -> bytes:
    """A whole HTTP/1.1 response, for the rare answer sent outside a connection's h11 state."""
    head = [f"HTTP/1.1 {answer.status} {REASONS.get(answer.status, '')}",
            *(f"{name}: {value}" for name, value in answer.headers.items()),
            f"Content-Length: {len(answer.body)}", "Connection: close", "", ""]
    return "\r\n".join(head).encode("latin-1") + answer.body
