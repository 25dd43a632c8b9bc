"""The embedded OVO sandbox: a faithful local OVO for every flow, offline.

One core (:class:`Sandbox`), two ways in: :class:`SandboxTransport` for ``httpx`` in the
same process, and :class:`SandboxServer` on loopback for browsers and other processes.

    core        Sandbox: routes a request to the admin API, the webview or an OVO API
    gateway     the checks every API request passes, in SNAP_SPEC's order
    signatures  X-SIGNATURE verification and the explainer of failures
    handlers/   one module per API family, and HANDLERS: API name -> handler
    webview     the OTP/PIN pages (pages: their HTML)
    admin, ops  the operator's controls, over HTTP and in Python
    _state      store + clock + the operations handlers share (tokens, customers, money)
    seed        the default partner and test customers; transport, server: the ways in

It shares only the wire vocabulary (:mod:`ovo_nb.snap`, :mod:`ovo_nb.signing`,
:mod:`ovo_nb.errors`) and key handling (:mod:`ovo_nb.keys`) with the client, never its code.
"""

from ._types import FAULT_KINDS, SandboxClock, SandboxRequest, SandboxResponse, WebviewOutcome, WebviewRefusal
from .core import WEBVIEW_PATH, Sandbox
from .seed import (
    DEFAULT_CALLBACK_URLS,
    DEFAULT_CLIENT_ID,
    TEST_CUSTOMERS,
    SandboxPartner,
    apply_config,
    default_sandbox_dir,
    demo_links,
    ensure_default_partner,
    open_sandbox,
)
from .server import SandboxServer
from .store import Store
from .transport import SandboxTransport

__all__ = [
    "DEFAULT_CALLBACK_URLS",
    "DEFAULT_CLIENT_ID",
    "FAULT_KINDS",
    "TEST_CUSTOMERS",
    "WEBVIEW_PATH",
    "Sandbox",
    "SandboxClock",
    "SandboxPartner",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SandboxTransport",
    "Store",
    "WebviewOutcome",
    "WebviewRefusal",
    "apply_config",
    "default_sandbox_dir",
    "demo_links",
    "ensure_default_partner",
    "open_sandbox",
]
