"""The integrator's workbench: the call log from a terminal, and scenarios set up in a running sandbox.

``ovo-nb calls`` lists what the toolkit sent and what came back (filter by run, API, failures,
time), ``--follow`` tails it like ``tail -f``, and ``ovo-nb calls show ID`` puts a request and
its answer next to each other: request line, headers and pretty body on the left; status, SNAP
code with its meaning, body and latency on the right. Everything is masked unless asked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from io import StringIO
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._escape import html_page
from .calllog import Call, CallLog, mask_msisdn
from .environments import SandboxAdmin
from .errors import OvoApiError, OvoConnectionError, ValidationError
from .flows import Ovo
from .snap import ENDPOINTS, JAKARTA, match_endpoint, parse_timestamp
from .views import code_meaning

__all__ = ["TRIGGERS", "CallFilter", "Replay", "Trigger", "call_page", "calls_json", "calls_table", "follow",
           "replay", "replay_table", "select_calls", "side_by_side", "trigger"]


@dataclass(frozen=True)
class CallFilter:
    """Which calls to show: one run (default every run), failures only, one API, since a time, how many."""

    run_id: str | None = None
    failed: bool = False
    api: str | None = None
    since: datetime | None = None
    limit: int | None = 50

    def keeps(self, call: Call) -> bool:
        if self.failed and not failed(call):
            return False
        if self.api and api_name(call) != self.api:
            return False
        return not (self.since and parse_timestamp(call.started_at) < self.since)


def failed(call: Call) -> bool:
    """No answer, an HTTP error, or a SNAP code that is not 2xx."""
    return call.status is None or call.status >= 400 or not (call.response_code or "2").startswith("2")


def api_name(call: Call) -> str:
    endpoint = match_endpoint(call.path)
    return endpoint.name if endpoint else "other"


_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def span_seconds(text: str) -> int | None:
    """``15m``, ``2h``, ``1d``, ``40s`` in seconds; ``None`` when ``text`` is not such a span."""
    if text[-1:] in _SPAN_UNITS and text[:-1].isdigit():
        return int(text[:-1]) * _SPAN_UNITS[text[-1]]
    return None


def parse_since(text: str) -> datetime:
    """``--since``: an ISO time (Jakarta when it has no offset) or a span back from now: ``15m``, ``2h``, ``1d``."""
    span = span_seconds(text)
    if span is not None:
        return datetime.fromtimestamp(time.time() - span, JAKARTA)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--since {text!r} is neither a span (15m, 2h, 1d) nor an ISO time "
                              "(2026-11-28T09:00).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=JAKARTA)


def select_calls(log: CallLog, chosen: CallFilter) -> list[Call]:
    """The calls ``chosen`` keeps, oldest first, the newest ``limit`` of them."""
    if chosen.api and chosen.api != "other" and chosen.api not in ENDPOINTS:
        raise ValidationError(f"--api {chosen.api!r} is not an API; one of: {', '.join(sorted(ENDPOINTS))}.")
    if chosen.run_id:
        log.require_run(chosen.run_id)
    calls = log.calls(chosen.run_id, all_runs=chosen.run_id is None)
    kept = [c for c in calls if chosen.keeps(c)]
    return kept[-chosen.limit:] if chosen.limit else kept


def _row(call: Call) -> dict[str, Any]:
    return {"id": call.id, "time": call.started_at[11:23], "run": call.run_id, "scenario": call.scenario,
            "method": call.method, "path": call.path, "status": call.status, "code": call.response_code or "",
            "meaning": code_meaning(call.response_code or "") or (call.error or ""),
            "ms": None if call.latency_ms is None else round(call.latency_ms, 1)}


def calls_json(calls: list[Call]) -> str:
    """One JSON object per line (masked), for scripts and ``jq``."""
    return "".join(json.dumps(_row(call), ensure_ascii=False) + "\n" for call in calls)


def calls_table(calls: list[Call], *, width: int | None = None) -> str:
    """The calls as a terminal table: failures in red, the SNAP code with its meaning."""
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    for name, justify in (("id", "right"), ("time", "left"), ("scenario", "left"), ("method", "left"),
                          ("path", "left"), ("status", "right"), ("code", "left"), ("meaning", "left"),
                          ("ms", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for call in calls:
        row = _row(call)
        style = "red" if failed(call) else None
        table.add_row(*("" if row[k] is None else str(row[k]) for k in (
            "id", "time", "scenario", "method", "path", "status", "code", "meaning", "ms")), style=style)
    return render(table, width) if calls else "(no calls match)\n"


def render(renderable: Any, width: int | None = None) -> str:
    """A rich table (or any renderable) as plain text, ``width`` columns wide (default 160)."""
    from rich.console import Console

    out = StringIO()
    Console(file=out, width=width or 160, force_terminal=False, color_system=None).print(renderable)
    return out.getvalue()


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body


def _sides(call: Call) -> tuple[str, str]:
    request = "\n".join([f"{call.method} {call.path}", *(f"{k}: {v}" for k, v in call.request_headers.items()),
                         "", _pretty(call.request_body)])
    meaning = code_meaning(call.response_code or "")
    status = f"HTTP {call.status}" if call.status is not None else f"no answer ({call.error or 'lost'})"
    head = [status, f"SNAP {call.response_code} {meaning}".rstrip() if call.response_code else "SNAP -",
            f"latency {call.latency_ms:.1f} ms" if call.latency_ms is not None else "latency -"]
    response = "\n".join([*head, *(f"{k}: {v}" for k, v in call.response_headers.items()), "",
                          _pretty(call.response_body)])
    return request, response


def side_by_side(call: Call, *, width: int | None = None) -> str:
    """One call: the request on the left, the answer on the right."""
    from rich.table import Table

    request, response = _sides(call)
    table = Table(title=f"call {call.id} · {call.scenario or 'no scenario'} · {call.started_at}",
                  show_lines=True, expand=True)
    table.add_column("request", overflow="fold", ratio=1)
    table.add_column("response", overflow="fold", ratio=1)
    table.add_row(request, response)
    return render(table, width)


CALL_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ovo-nb call {{ id }}</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f1b2e}.grid{display:grid;
grid-template-columns:1fr 1fr;gap:1rem}pre{background:#f7f6fb;border:1px solid #d8d2e6;border-radius:6px;
padding:10px;white-space:pre-wrap;word-break:break-all;font-size:12px}h2{font-size:15px}
.bad{color:#9b1c1c}.ok{color:#176b2c}</style></head><body>
<h1>Call {{ id }} <small class="{{ 'bad' if bad else 'ok' }}">{{ code }}</small></h1>
<p>{{ scenario or 'no scenario' }} · run {{ run_id }} · {{ started_at }}</p>
<div class="grid"><div><h2>Request</h2><pre>{{ request }}</pre></div>
<div><h2>Response</h2><pre>{{ response }}</pre></div></div></body></html>"""
"""One call side by side: everything the call log holds (headers, bodies, scenario) escaped by the template."""


def call_page(call: Call) -> str:
    """The same side by side as a self-contained HTML page (no scripts, no network)."""
    request, response = _sides(call)
    return html_page(CALL_PAGE, id=call.id, bad=failed(call), code=call.response_code or str(call.status),
                     scenario=call.scenario, run_id=call.run_id, started_at=call.started_at, request=request,
                     response=response)


def answered(call: Call) -> bool:
    """Whether the call log holds the call's outcome: an answer, or the error that took its place."""
    return call.status is not None or call.error is not None


def follow(log: CallLog, chosen: CallFilter, *, interval: float = 0.5, stop: Callable[[], bool] = lambda: False,
           stale_after: float = 120.0) -> Iterator[Call]:
    """New calls as they are answered, like ``tail -f``: first the last ``limit``, then each new one.

    A call is logged before it is sent; it is shown once its answer (or its error) is logged too, so
    every row carries its status and SNAP code. One still unanswered after ``stale_after`` seconds
    (the process that made it died) is shown as it stands, never held back for good.
    """
    pending: dict[int, float] = {}
    seen = 0

    def ready(call: Call) -> bool:
        if answered(call) or time.monotonic() - pending.setdefault(call.id, time.monotonic()) > stale_after:
            pending.pop(call.id, None)
            return True
        return False

    for call in select_calls(log, chosen):
        seen = call.id
        if ready(call):
            yield call
    newer = CallFilter(chosen.run_id, chosen.failed, chosen.api, chosen.since, None)
    while not stop():
        waiting = [log.get(call_id) for call_id in sorted(pending)]
        fresh = log.calls(chosen.run_id, all_runs=chosen.run_id is None, after=seen)
        seen = fresh[-1].id if fresh else seen
        shown = 0
        for call in (*waiting, *fresh):
            if ready(call) and newer.keeps(call):
                shown += 1
                yield call
        if not shown:
            time.sleep(interval)


# ----------------------------------------------------------------------------- triggers


@dataclass(frozen=True)
class Trigger:
    """One scenario set up in a running sandbox with one command, like ``stripe trigger``."""

    name: str
    usage: str
    what: str
    apply: Callable[[SandboxAdmin, list[str]], tuple[str, str]]
    """Sets the scenario up; returns what it did and how to undo it."""


def _phone(args: list[str], usage: str) -> str:
    if not args or not args[0].isdigit():
        raise ValidationError(f"usage: ovo-nb trigger {usage}")
    return args[0]


def _set_customer(field: str, value: Any, view_key: str, usage: str) -> Callable[[SandboxAdmin, list[str]],
                                                                                 tuple[str, str]]:
    """A trigger that sets one customer field; its undo sets the value it found back."""
    def apply(admin: SandboxAdmin, args: list[str]) -> tuple[str, str]:
        phone = _phone(args, usage)
        before = admin.customer(phone)[view_key]
        admin.update_customer(phone, **{field: value})
        old = str(before).lower() if isinstance(before, bool) else before
        return (f"{mask_msisdn(phone)}: {field} {before} -> {value}",
                f"ovo-nb trigger set-customer {phone} {field}={old}")
    return apply


def _set_any(admin: SandboxAdmin, args: list[str]) -> tuple[str, str]:
    phone = _phone(args, "set-customer PHONE field=value ...")
    changes: dict[str, Any] = {}
    for pair in args[1:]:
        field, _, value = pair.partition("=")
        if field not in ("cash", "points", "status", "pin_locked") or not value:
            raise ValidationError(f"set-customer takes cash=, points=, status= or pin_locked=; not {pair!r}.")
        changes[field] = value.lower() == "true" if field == "pin_locked" else value
    if not changes:
        raise ValidationError("usage: ovo-nb trigger set-customer PHONE field=value ...")
    admin.update_customer(phone, **changes)
    return f"{mask_msisdn(phone)}: " + ", ".join(f"{k}={v}" for k, v in changes.items()), "(set it back the same way)"


def _fault(kind: str, default_api: str) -> Callable[[SandboxAdmin, list[str]], tuple[str, str]]:
    def apply(admin: SandboxAdmin, args: list[str]) -> tuple[str, str]:
        api = args[0] if args else default_api
        if api != "*" and api not in ENDPOINTS:
            raise ValidationError(f"{api!r} is not an API; one of: *, {', '.join(sorted(ENDPOINTS))}.")
        admin.add_fault(api, kind)
        return f"the next {api} call: {kind.replace('_', ' ')}", "ovo-nb trigger clear-faults"
    return apply


def _clock(admin: SandboxAdmin, args: list[str]) -> tuple[str, str]:
    text = args[0] if args else ""
    span = span_seconds(text[1:]) if text[:1] == "+" else None
    if span is None:
        raise ValidationError(f"usage: ovo-nb trigger clock +16m (s, m, h or d); got {text!r}.")
    now = admin.advance_clock(span)
    return (f"OVO's business time moved {text} to {now.isoformat(timespec='seconds')}",
            "business time never goes back: `ovo-nb sandbox reset` (the sandbox stopped first) begins again")


def _phone_changed(admin: SandboxAdmin, args: list[str]) -> tuple[str, str]:
    phone = _phone(args, "phone-changed PHONE NEW_PHONE")
    if len(args) < 2 or not args[1].isdigit():
        raise ValidationError("usage: ovo-nb trigger phone-changed PHONE NEW_PHONE")
    admin.update_customer(phone, new_phone=args[1])
    return (f"{mask_msisdn(phone)} is now {mask_msisdn(args[1])}: every token issued for the old number fails",
            f"bind {mask_msisdn(args[1])} again")


def _unlink(admin: SandboxAdmin, args: list[str]) -> tuple[str, str]:
    phone = _phone(args, "unlink-in-app PHONE [CLIENT_ID]")
    unlinked = admin.unlink_in_app(phone, args[1] if len(args) > 1 else None)
    return (f"{mask_msisdn(phone)} unlinked {', '.join(unlinked) or 'no partner'} in the OVO app: those tokens fail",
            f"bind {mask_msisdn(phone)} again")


def _clear(admin: SandboxAdmin, args: list[str]) -> tuple[str, str]:
    admin.clear_faults()
    return "every fault disarmed", "-"


TRIGGERS: dict[str, Trigger] = {t.name: t for t in (
    Trigger("insufficient-funds", "insufficient-funds PHONE",
            "cash 0: the balance check before a debit refuses it, and a debit sent anyway answers 4035414",
            _set_customer("cash", "0.00", "cash", "insufficient-funds PHONE")),
    Trigger("pin-blocked", "pin-blocked PHONE", "the Security PIN blocked: webviews stop at the PIN",
            _set_customer("pin_locked", True, "pinLocked", "pin-blocked PHONE")),
    Trigger("customer-closed", "customer-closed PHONE", "the OVO account CLOSED: binding and debits refused",
            _set_customer("status", "CLOSED", "status", "customer-closed PHONE")),
    Trigger("phone-changed", "phone-changed PHONE NEW_PHONE", "the customer changed number: old tokens fail",
            _phone_changed),
    Trigger("unlink-in-app", "unlink-in-app PHONE [CLIENT_ID]",
            "the customer unlinks a partner (default: every one) in the OVO app: its tokens fail, binding is free",
            _unlink),
    Trigger("timeout-after-commit", "timeout-after-commit [API]",
            "the next call (default debit_payment) is done at OVO but its answer never comes",
            _fault("timeout_after_commit", "debit_payment")),
    Trigger("server-error", "server-error [API]", "the next call (default any API) answers HTTP 500",
            _fault("error_500", "*")),
    Trigger("clock", "clock +16m", "move OVO's business time: tokens expire, windows close", _clock),
    Trigger("clear-faults", "clear-faults", "disarm every fault", _clear),
    Trigger("set-customer", "set-customer PHONE cash=… status=… pin_locked=…", "set a customer's fields",
            _set_any),
)}


def trigger(admin: SandboxAdmin, name: str, args: list[str]) -> tuple[str, str]:
    """Run one trigger; what it set up, and how to undo it."""
    chosen = TRIGGERS.get(name)
    if chosen is None:
        raise ValidationError(f"No trigger {name!r}; `ovo-nb trigger --list` shows them: {', '.join(TRIGGERS)}.")
    return chosen.apply(admin, args)


# ----------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Replay:
    """A logged call and its resend: both answers, for a side by side."""

    original: Call
    again: Call


_SINGLE_STEP = {"generate_token": "an auth code", "b2b2c_token": "an auth code or refresh token"}
"""APIs whose request carries a one-time value: a resend can only be refused."""


def replay(log: CallLog, call_id: int, ovo: Ovo, *, customer: str = "", move_money: bool = False) -> Replay:
    """Resend call ``call_id`` through ``ovo``: the same body and query, re-signed with a fresh timestamp
    and X-EXTERNAL-ID, carrying the vault's current token of the kind the original carried."""
    original = log.get(call_id, reveal=True)
    api = match_endpoint(original.path)
    if api is None:
        raise ValidationError(f"Call {call_id} ({original.method} {original.path}) is not an OVO API.")
    if api.name in _SINGLE_STEP:
        raise ValidationError(f"Call {call_id} ({api.name}) carries {_SINGLE_STEP[api.name]} OVO accepts once: "
                              "run the flow again instead of replaying it.")
    if api.moves_money and ovo.profile.name == "production" and not move_money:
        raise ValidationError(f"Call {call_id} ({api.name}) moves money; replaying it against production takes "
                              "--yes-move-money.")
    query = dict(parse_qsl(urlsplit(original.url).query))
    body = json.loads(original.request_body) if original.request_body.strip() else None

    def send(token: str | None) -> int | None:
        return ovo.client.call(api.name, body, token=token, query=query or None,
                               scenario=f"replay of call {call_id}")[1]

    carried = any(k.lower() == "authorization" for k in original.request_headers)
    try:
        if carried and api.bearer[:1] == ("B2B token",):
            new_id = ovo.tokens.with_b2b(send)  # one OVO no longer knows (its clock moved on) is renewed once
        else:
            new_id = send(_current_token(log, original, api.name, api.bearer, ovo, customer))
    except (OvoApiError, OvoConnectionError) as exc:
        new_id = exc.call_id
    if new_id is None:
        raise ValidationError(f"The replay of call {call_id} was not logged; nothing to compare.")
    return Replay(log.get(call_id), ovo.client.call_log.get(new_id))


def _current_token(log: CallLog, original: Call, api: str, bearer: tuple[str, ...], ovo: Ovo,
                   customer: str) -> str | None:
    sent = next((v for k, v in original.request_headers.items() if k.lower() == "authorization"), "")
    if not sent:
        return None
    same_api = [c for c in log.calls(original.run_id) if c.id < original.id and match_endpoint(c.path) is
                match_endpoint(original.path)]
    second = bool(same_api) and (same_api[-1].response_code or "").startswith("202")  # after an "in progress"
    if second and len(bearer) > 1:
        raise ValidationError(f"Call {original.id} is the 2nd call of {api} and carried a {bearer[1]} from the "
                              "customer's webview step, valid once: replay its 1st call, or run the flow again.")
    phone = customer or _owner(ovo, sent.removeprefix("Bearer ").strip())
    if not phone:
        raise ValidationError(f"Call {original.id} carried a customer token the vault no longer holds: give the "
                              "customer with --customer PHONE.")
    return ovo.tokens.access_token(phone)


def _owner(ovo: Ovo, token: str) -> str:
    """The customer whose access or refresh token this was, when the vault still holds it."""
    for status in ovo.vault.status():
        if ovo.vault.get(status.customer, status.kind) == token:
            return status.customer
    return ""


def replay_table(result: Replay, *, width: int | None = None) -> str:
    """The original answer and the replay's next to each other."""
    from rich.table import Table

    table = Table(title=f"call {result.original.id} replayed as call {result.again.id}", show_lines=True,
                  expand=True)
    for call, label in ((result.original, "original"), (result.again, "replay")):
        table.add_column(f"{label}: call {call.id} · {call.started_at}", overflow="fold", ratio=1)
    table.add_row(*(_sides(call)[1] for call in (result.original, result.again)))
    return render(table, width)
