"""The sandbox in-process: an httpx transport that hands requests straight to the core."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from ._types import SandboxRequest
from .core import Sandbox

__all__ = ["SandboxTransport"]


class SandboxTransport(httpx.BaseTransport):
    """Serve ``httpx`` requests from a :class:`Sandbox` without a socket.

    Injected faults behave as the network would: a timeout raises ``httpx.ReadTimeout``,
    a dropped connection ``httpx.RemoteProtocolError``, a slow answer sleeps first.
    ``client_ip`` is the address the sandbox sees (for IP whitelist checks).
    """

    def __init__(self, sandbox: Sandbox, *, client_ip: str = "127.0.0.1",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.sandbox = sandbox
        self.client_ip = client_ip
        self._sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw_path = request.url.raw_path.decode("ascii")
        path, _, query = raw_path.partition("?")
        answer = self.sandbox.handle(SandboxRequest(
            method=request.method, path=path, query=query, headers=dict(request.headers.items()),
            body=request.read(), client_ip=self.client_ip,
            base_url=f"{request.url.scheme}://{request.url.netloc.decode('ascii')}",
        ))
        if answer.fault:
            self._sleep(answer.fault_delay)
            if answer.fault.startswith("timeout"):
                raise httpx.ReadTimeout("The sandbox did not answer (injected timeout).", request=request)
            if answer.fault.startswith("drop"):
                raise httpx.RemoteProtocolError("Server disconnected without sending a response (injected).",
                                                request=request)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)
