"""The embedded OVO sandbox: a faithful local OVO for every flow, offline.

One core (:class:`Sandbox`), two ways in: :class:`SandboxTransport` for ``httpx`` in the
same process, and :class:`SandboxServer` on loopback for browsers and other processes.
It shares only :mod:`ovo_nb.snap` and :mod:`ovo_nb.signing` with the client.
"""

from ._types import FAULT_KINDS, SandboxClock, SandboxRequest, SandboxResponse
from .core import WEBVIEW_PATH, Sandbox, WebviewOutcome
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
    "apply_config",
    "default_sandbox_dir",
    "demo_links",
    "ensure_default_partner",
    "open_sandbox",
]
