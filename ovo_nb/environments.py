"""Where calls go: the sandbox in this process, the sandbox on loopback, OVO stage, OVO production.

One module decides it, from the profile. Each environment supplies the httpx transport (the
seam between the client and whatever answers), a webview completer (the sandbox only: it types
the OTP and PIN for headless runs) and a :class:`SandboxAdmin` (``None`` against OVO) for the
operator's controls: customers, the clock, faults, webview completion, settlement. This is the
only module of the client side that imports the sandbox, and the only one that knows its
``/_sandbox/`` URLs.

    env = open_environment("sandbox")          # in process unless $OVO_NB_SANDBOX_URL is set
    env.admin.add_customer("081311112222", cash="250000")
    env.close()
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from .config import Profile, load_profile
from .errors import OvoNbError, ValidationError, WebviewError
from .snap import Clock
from .testbed import ADMIN_PATH, DEFAULT_CALLBACK_URLS, IN_PROCESS_URL, SANDBOX_TEST_PIN, WEBVIEW_COMPLETE
from .webview import WebviewCompleter

__all__ = ["ADMIN_PATH", "ENVIRONMENTS", "MANUAL_WEBVIEW_ENV", "WEBVIEW_COMPLETE", "Environment", "SandboxAdmin",
           "open_environment", "sandbox_admin"]

MANUAL_WEBVIEW_ENV = "OVO_NB_MANUAL_WEBVIEW"
"""Set it to make even the sandbox wait for a person at the webview (browser demos and tests)."""


class SandboxAdmin(Protocol):
    """The sandbox operator's controls; one implementation in process, one over the admin API.

    Every method does what the admin route of the same name does (README, "Admin API").
    """

    def add_customer(self, phone: str, *, name: str = "", cash: str = "0", points: str = "0",
                     pin: str = SANDBOX_TEST_PIN, status: str = "ACTIVE", registered: bool = True,
                     pin_locked: bool = False, replace: bool = False) -> str:
        """Create an OVO account; returns its normalised phone. An existing one is refused unless ``replace``
        (then each balance change is an adjustment entry in her ledger)."""
        ...

    def customer(self, phone: str) -> dict[str, Any]:
        """A customer's balances, status and blocks."""
        ...

    def new_customer(self, *, name: str = "Test customer", cash: str = "1000000", points: str = "0") -> str:
        """A fresh OVO account under a random phone no one has used: a script can run again and again."""
        ...

    def customer_ledger(self, phone: str) -> list[dict[str, Any]]:
        """Every movement of the customer's balances at OVO (debits, refunds, adjustments), oldest first."""
        ...

    def update_customer(self, phone: str, **changes: Any) -> dict[str, Any]:
        """Set ``cash``, ``points``, ``status``, ``pin_locked`` or ``new_phone`` (which breaks every token)."""
        ...

    def unlink_in_app(self, phone: str, client_id: str | None = None) -> list[str]:
        """The customer unlinks a partner (or all) in the OVO app."""
        ...

    def set_partner(self, client_id: str, **settings: Any) -> dict[str, Any]:
        """Change a partner's ``daily_refund_limit``, ``refund_window_days``, ``recurring_allowed``, ``lenient``."""
        ...

    def advance_clock(self, seconds: float) -> datetime:
        """Move OVO's business time forward: tokens expire, windows close, blocks lift."""
        ...

    def add_fault(self, api: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0) -> None:
        """Make the next ``count`` calls to ``api`` (or ``"*"``) misbehave as ``kind``."""
        ...

    def clear_faults(self) -> None:
        """Disarm every fault."""
        ...

    def complete_webview(self, url: str, *codes: str) -> str:
        """Type ``codes`` in the webview at ``url`` (a binding: OTP, then PIN); the callback URL, or WebviewError."""
        ...

    def tamper_payment(self, partner_reference_no: str, *, amount: str | None = None,
                       status: str | None = None) -> None:
        """A deliberate discrepancy in OVO's record of a payment, for reconciliation drills."""
        ...

    def settlement_csv(self) -> str:
        """OVO's side for reconciliation: every payment and refund."""
        ...

    def close(self) -> None:
        """Release what the admin client holds (the in-process sandbox's store, an HTTP client)."""
        ...


def _fresh_customer(admin: SandboxAdmin, name: str, cash: str, points: str) -> str:
    """A random ``0812...`` number the sandbox does not know yet, made an account."""
    for _ in range(20):
        number = f"0812{secrets.randbelow(10**8):08d}"
        try:
            admin.customer(number)
        except ValidationError:  # unknown: free to take
            return admin.add_customer(number, name=name, cash=cash, points=points)
    raise OvoNbError("The sandbox found no free phone number in 20 tries: it holds too many customers.")


class _InProcessAdmin:
    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox

    def new_customer(self, *, name: str = "Test customer", cash: str = "1000000", points: str = "0") -> str:
        return _fresh_customer(self, name, cash, points)

    def add_customer(self, phone: str, *, name: str = "", cash: str = "0", points: str = "0",
                     pin: str = SANDBOX_TEST_PIN, status: str = "ACTIVE", registered: bool = True,
                     pin_locked: bool = False, replace: bool = False) -> str:
        number: str = self._sandbox.add_customer(phone, name=name, cash=cash, points=points, pin=pin, status=status,
                                                 registered=registered, pin_locked=pin_locked, replace=replace)
        return number

    def customer(self, phone: str) -> dict[str, Any]:
        view: dict[str, Any] = self._sandbox.customer_view(phone)
        return view

    def customer_ledger(self, phone: str) -> list[dict[str, Any]]:
        return list(self._sandbox.customer_ledger(phone))

    def update_customer(self, phone: str, **changes: Any) -> dict[str, Any]:
        view: dict[str, Any] = self._sandbox.update_customer(phone, **changes)
        return view

    def unlink_in_app(self, phone: str, client_id: str | None = None) -> list[str]:
        return list(self._sandbox.unlink_in_app(phone, client_id))

    def set_partner(self, client_id: str, **settings: Any) -> dict[str, Any]:
        view: dict[str, Any] = self._sandbox.set_partner(client_id, **settings)
        return view

    def advance_clock(self, seconds: float) -> datetime:
        moment: datetime = self._sandbox.advance_clock(seconds)
        return moment

    def add_fault(self, api: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0) -> None:
        self._sandbox.add_fault(api, kind, count=count, delay_seconds=delay_seconds)

    def clear_faults(self) -> None:
        self._sandbox.clear_faults()

    def complete_webview(self, url: str, *codes: str) -> str:
        from .sandbox import WebviewRefusal

        try:
            outcome = self._sandbox.webview_submit(url, *codes)
        except WebviewRefusal as refusal:
            raise WebviewError(f"The sandbox webview refused the link: {refusal}") from None
        if not outcome.ok:
            raise WebviewError(f"The sandbox webview refused the code: {outcome.message}")
        return str(outcome.callback_url)

    def tamper_payment(self, partner_reference_no: str, *, amount: str | None = None,
                       status: str | None = None) -> None:
        self._sandbox.tamper_payment(partner_reference_no, amount=amount, status=status)

    def settlement_csv(self) -> str:
        return str(self._sandbox.settlement_csv())

    def close(self) -> None:
        self._sandbox.store.close()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _HttpAdmin:
    """The admin API of a sandbox served by ``ovo-nb sandbox`` (loopback only)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self._base = f"{base_url.rstrip('/')}{ADMIN_PATH}"
        self._http = httpx.Client(timeout=timeout)

    def new_customer(self, *, name: str = "Test customer", cash: str = "1000000", points: str = "0") -> str:
        return _fresh_customer(self, name, cash, points)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, *, ok: tuple[int, ...] = ()) -> Any:
        try:
            answer = self._http.request(method, f"{self._base}/{path}", json=body)
        except httpx.HTTPError as exc:
            raise OvoNbError(f"No sandbox answers at {self._base} ({exc}): start it with `ovo-nb sandbox`, or name "
                             "the one running (--url, or $OVO_NB_SANDBOX_URL).") from None
        if answer.status_code >= 400 and answer.status_code not in ok:
            try:
                reason = answer.json().get("error") or answer.text
            except ValueError:
                reason = answer.text
            raise ValidationError(f"The sandbox refused {method} {ADMIN_PATH}/{path}: {reason}")
        return answer.json() if "json" in answer.headers.get("content-type", "") else answer.text

    def add_customer(self, phone: str, *, name: str = "", cash: str = "0", points: str = "0",
                     pin: str = SANDBOX_TEST_PIN, status: str = "ACTIVE", registered: bool = True,
                     pin_locked: bool = False, replace: bool = False) -> str:
        view = self._call("POST", "customers", {"phone": phone, "name": name, "cash": cash, "points": points,
                                                "pin": pin, "status": status, "registered": registered,
                                                "pinLocked": pin_locked, "replace": replace})
        return str(view["phone"])

    def customer(self, phone: str) -> dict[str, Any]:
        view: dict[str, Any] = self._call("GET", f"customers/{phone}")
        return view

    def customer_ledger(self, phone: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"customers/{phone}/ledger")["movements"])

    def update_customer(self, phone: str, **changes: Any) -> dict[str, Any]:
        body = {_camel(k): v for k, v in changes.items() if v is not None}
        view: dict[str, Any] = self._call("PATCH", f"customers/{phone}", body)
        return view

    def unlink_in_app(self, phone: str, client_id: str | None = None) -> list[str]:
        answer = self._call("POST", f"customers/{phone}/unlink", {"clientId": client_id} if client_id else {})
        return list(answer["unlinked"])

    def set_partner(self, client_id: str, **settings: Any) -> dict[str, Any]:
        view: dict[str, Any] = self._call("PATCH", f"partners/{client_id}", {_camel(k): v for k, v in settings.items()})
        return view

    def advance_clock(self, seconds: float) -> datetime:
        return datetime.fromisoformat(self._call("POST", "clock/advance", {"seconds": seconds})["now"])

    def add_fault(self, api: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0) -> None:
        self._call("POST", "faults", {"api": api, "kind": kind, "count": count, "delaySeconds": delay_seconds})

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def complete_webview(self, url: str, *codes: str) -> str:
        answer = self._call("POST", WEBVIEW_COMPLETE, {"url": url, "codes": list(codes)}, ok=(400, 422))
        if not answer.get("ok"):
            raise WebviewError(f"The sandbox webview refused the code: {answer.get('message') or answer.get('error')}")
        return str(answer["callbackUrl"])

    def tamper_payment(self, partner_reference_no: str, *, amount: str | None = None,
                       status: str | None = None) -> None:
        body = {k: v for k, v in (("amount", amount), ("status", status)) if v is not None}
        self._call("PATCH", f"payments/{partner_reference_no}", body)

    def settlement_csv(self) -> str:
        return str(self._call("GET", "settlement.csv")).lstrip("\ufeff")

    def close(self) -> None:
        self._http.close()


def sandbox_admin(url: str) -> SandboxAdmin:
    """The admin controls of a sandbox served at ``url`` (``ovo-nb sandbox``); loopback only."""
    return _HttpAdmin(url)


@dataclass
class Environment:
    """What ``profile`` talks to: a transport, and for the sandbox its admin and webview completer."""

    name: str
    profile: Profile
    transport: httpx.BaseTransport | None = None
    """``None``: httpx's own network transport (OVO stage or production, the loopback sandbox)."""
    admin: SandboxAdmin | None = None
    completer: WebviewCompleter | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _serve: Callable[[], str] | None = field(default=None, repr=False)

    def openable(self, url: str) -> str:
        """``url`` as a browser on this machine can open it.

        The in-process sandbox has no socket, so its webview is served on a loopback port (started
        on first use, stopped on close), and the placeholder partner callback lands on that
        server's callback page; anywhere else the URL is returned as it is.
        """
        if self._serve is None or not url.startswith(IN_PROCESS_URL):
            return url
        return self._serve() + url[len(IN_PROCESS_URL):]

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


@dataclass(frozen=True)
class _Options:
    sandbox_state: str | Path | None
    clock: Clock | None
    manual_webview: bool


def _in_process(profile: Profile, options: _Options) -> Environment:
    from .sandbox import SandboxServer, SandboxTransport, open_sandbox

    sandbox, partner = open_sandbox(options.sandbox_state, folder=profile.private_key_path.parent,
                                    clock=options.clock)
    profile = dataclasses.replace(profile, client_id=partner.client_id, client_secret=partner.client_secret,
                                  merchant_id=partner.merchant_id, channel_id=partner.channel_id)
    admin = _InProcessAdmin(sandbox)
    env = Environment("in-process sandbox", profile, SandboxTransport(sandbox), admin,
                      None if options.manual_webview else admin.complete_webview)
    env._closers.append(admin.close)
    served: list[SandboxServer] = []

    def serve() -> str:
        if not served:
            landing = frozenset(urlsplit(url).hostname or "" for url in DEFAULT_CALLBACK_URLS)
            served.append(SandboxServer(sandbox, "127.0.0.1", 0, workers=4, landing_hosts=landing).start())
            env._closers.append(served[0].stop)
        return served[0].url

    env._serve = serve
    return env


def _loopback(profile: Profile, options: _Options) -> Environment:
    if not profile.client_secret:
        raise ValidationError(f"No sandbox credentials in {profile.private_key_path.parent}: start the sandbox first "
                              "(`ovo-nb sandbox`), which writes them there.")
    admin = _HttpAdmin(profile.base_url)
    env = Environment("loopback sandbox", profile, None, admin,
                      None if options.manual_webview else admin.complete_webview)
    env._closers.append(admin.close)
    return env


def _ovo(profile: Profile, options: _Options) -> Environment:
    return Environment(f"OVO {profile.name}", profile)


ENVIRONMENTS: dict[str, Callable[[Profile, _Options], Environment]] = {
    "in-process": _in_process,
    "loopback": _loopback,
    "stage": _ovo,
    "production": _ovo,
}
"""Each kind of environment and how it is opened."""


def _kind(profile: Profile) -> str:
    if profile.is_sandbox:
        return "in-process" if profile.in_process else "loopback"
    return profile.name


def open_environment(profile: str | Profile | None = None, *, sandbox_state: str | Path | None = None,
                     clock: Clock | None = None, transport: httpx.BaseTransport | None = None) -> Environment:
    """The environment of ``profile`` (default ``$OVO_NB_PROFILE`` or ``sandbox``), opened.

    The in-process sandbox keeps its state in ``sandbox_state`` (default
    ``~/.ovo-nb/sandbox/state.sqlite``; ``":memory:"`` for a throw-away one) and its business
    clock follows ``clock``. ``transport`` replaces whatever would answer (tests). Setting
    ``$OVO_NB_MANUAL_WEBVIEW`` leaves the webview to a person even in the sandbox.
    """
    resolved = profile if isinstance(profile, Profile) else load_profile(profile)
    manual = bool(os.environ.get(MANUAL_WEBVIEW_ENV))
    if transport is not None:
        return Environment("given transport", resolved, transport)
    return ENVIRONMENTS[_kind(resolved)](resolved, _Options(sandbox_state, clock, manual))
