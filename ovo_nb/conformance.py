"""Conformance: a run recorded against OVO (stage) replayed call by call against the sandbox.

Every partner's stage run becomes evidence of where the sandbox is wrong. The recorded calls
are resent in order with the same bodies and fresh signatures; the recorded customers are
mapped to fresh sandbox customers, and every value OVO handed out (tokens, referenceNo, the
webview's authCode) is mapped to the one the sandbox hands out, the sandbox playing the customer
at each webview. Each answer is compared with the recorded one: HTTP status, SNAP code and the
set of response fields.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._escape import html_page
from .calllog import PHONE_FIELDS, Call, CallLog
from .config import throwaway_sandbox_profile
from .errors import OvoApiError, OvoConnectionError, OvoNbError, ValidationError
from .flows import Ovo
from .snap import match_endpoint
from .testbed import SANDBOX_TEST_PIN
from .views import code_meaning
from .webview import build_webview_url, parse_callback
from .workbench import render

__all__ = ["CallComparison", "ConformanceReport", "conformance", "fresh_sandbox"]

PARTNER_FIELDS: dict[str, Callable[[Ovo], str]] = {
    "merchantId": lambda ovo: ovo.profile.merchant_id,
    "url": lambda ovo: ovo.destination,
}
"""Body fields that name the recorded partner (its merchant id, its registered callback URLs): the sandbox
partner's values replace them. The client id and channel and device ids travel in headers, made afresh."""
HANDED_OUT = frozenset({"accessToken", "refreshToken", "linkageToken", "singleUseToken", "referenceNo", "refundNo",
                        "approvalCode"})
"""Answer fields whose values OVO makes up and later requests carry back: mapped recorded -> sandbox."""


@dataclass(frozen=True)
class CallComparison:
    """One recorded call and the sandbox's answer to its replay."""

    recorded: Call
    replayed: Call | None
    differences: tuple[str, ...]
    incomparable: str = ""
    """Why the answers cannot be compared (nothing was recorded, or the replay's fresh signature, timestamp or
    X-EXTERNAL-ID mends what the recorded request got wrong): such a call is no difference."""

    @property
    def api(self) -> str:
        endpoint = match_endpoint(self.recorded.path)
        return endpoint.name if endpoint else self.recorded.path

    @property
    def differs(self) -> bool:
        return bool(self.differences) and not self.incomparable

    @property
    def verdict(self) -> str:
        if self.incomparable:
            return f"not comparable: {self.incomparable}"
        return "; ".join(self.differences) or "same"


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Conformance {{ run_id }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f1b2e}table{border-collapse:collapse}
td,th{border:1px solid #d8d2e6;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f2f0f7}
.diff td{background:#fdecec}</style></head><body><h1>Sandbox conformance of run {{ run_id }}</h1>
<p>{{ differing }} of {{ compared }} comparable calls answered differently in the sandbox
({{ incomparable }} not comparable).</p>
<table><tr><th>call</th><th>API</th><th>recorded</th><th>sandbox</th><th>differences</th></tr>
{%- for r in rows %}<tr class="{{ 'diff' if r.differs else 'same' }}"><td>{{ r.id }}</td><td>{{ r.api }}</td>
<td>{{ r.recorded }}</td><td>{{ r.replayed }}</td><td>{{ r.verdict }}</td></tr>{% endfor %}</table>
</body></html>"""
"""The conformance page: the run id (given on the command line) and every answer escaped by the template."""


@dataclass
class ConformanceReport:
    """Call by call: where the sandbox answered what the recorded environment answered, and where not."""

    run_id: str
    calls: list[CallComparison] = field(default_factory=list)
    runs: tuple[str, ...] = ()
    """Every run replayed, oldest first: the one asked for and the runs its flows began in."""

    @property
    def differences(self) -> list[CallComparison]:
        return [c for c in self.calls if c.differs]

    @property
    def compared(self) -> list[CallComparison]:
        return [c for c in self.calls if not c.incomparable]

    def table(self, *, width: int | None = None) -> str:
        """The comparison as a terminal table, differing calls in red."""
        from rich.table import Table

        title = (f"run {self.run_id}: {len(self.compared) - len(self.differences)} of {len(self.compared)} calls "
                 "answered alike")
        if len(self.runs) > 1:
            title += f" (with the runs its flows began in: {', '.join(r for r in self.runs if r != self.run_id)})"
        if len(self.compared) < len(self.calls):
            title += f"; {len(self.calls) - len(self.compared)} not comparable"
        table = Table(title=title, header_style="bold")
        for name in ("call", "API", "recorded", "sandbox", "differences"):
            table.add_column(name, overflow="fold")
        for row in self.calls:
            table.add_row(str(row.recorded.id), row.api, _answer(row.recorded), _answer(row.replayed), row.verdict,
                          style="red" if row.differs else ("dim" if row.incomparable else None))
        return render(table, width)

    def html(self) -> str:
        """The comparison as a self-contained page."""
        return html_page(PAGE, run_id=self.run_id, differing=len(self.differences), compared=len(self.compared),
                         incomparable=len(self.calls) - len(self.compared),
                         rows=[{"id": c.recorded.id, "api": c.api, "recorded": _answer(c.recorded),
                                "replayed": _answer(c.replayed), "differs": c.differs, "verdict": c.verdict}
                               for c in self.calls])


def _answer(call: Call | None) -> str:
    if call is None:
        return "not sent"
    status = "no answer" if call.status is None else f"HTTP {call.status}"
    code = call.response_code or ""
    return f"{status} {code} {code_meaning(code)}".strip()


def _fields(body: str) -> set[str]:
    try:
        parsed = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        return set()
    return set(_paths(parsed, ""))


def _paths(value: Any, prefix: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _paths(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from _paths(item, f"{prefix}[]")


def _incomparable(recorded: Call) -> str:
    """Why a recorded call's answer says nothing about the sandbox: no answer, or a refusal of what the replay
    makes afresh (the signature, the timestamp, the X-EXTERNAL-ID)."""
    if recorded.status is None:
        return "no answer was recorded"
    code, message = recorded.response_code or "", (recorded.response_message or "").lower()
    if code[:3] == "401" and code[5:] == "00" and ("signature" in message or "timestamp" in message):
        return "the recorded request's signature or timestamp was refused; the replay makes both afresh"
    if code[:3] == "409" and code[5:] == "00":
        return "the recorded X-EXTERNAL-ID was a repeat; the replay sends a fresh one"
    return ""


def _compare(recorded: Call, replayed: Call | None) -> tuple[str, ...]:
    if replayed is None:
        return ("not replayed",)
    found = []
    if recorded.status != replayed.status:
        found.append(f"HTTP {recorded.status} vs {replayed.status}")
    if (recorded.response_code or "") != (replayed.response_code or ""):
        found.append(f"SNAP {recorded.response_code or '-'} vs {replayed.response_code or '-'}")
    mine, theirs = _fields(recorded.response_body), _fields(replayed.response_body)
    if theirs - mine:
        found.append("only in the sandbox: " + ", ".join(sorted(theirs - mine)))
    if mine - theirs:
        found.append("missing in the sandbox: " + ", ".join(sorted(mine - theirs)))
    return tuple(found)


class _Replayer:
    """Resends recorded calls to the sandbox, mapping customers and every value handed out."""

    def __init__(self, ovo: Ovo) -> None:
        if ovo.sandbox is None:
            raise ValidationError("Conformance replays against the sandbox: open it with the sandbox profile.")
        self.ovo = ovo
        self.sandbox = ovo.sandbox
        self.values: dict[str, str] = {}
        self.owner: dict[str, str] = {}
        """Sandbox token -> the sandbox customer it belongs to."""
        self.codes: deque[tuple[str, str]] = deque()
        """authCodes from webviews the sandbox's customers completed, not yet carried by a request."""
        self.issued: dict[str, str] = {}
        """Every such authCode -> the customer who completed the webview."""

    def customer(self, phone: str) -> str:
        if phone not in self.values:
            self.values[phone] = self.sandbox.new_customer(name="Conformance", cash="100000000")
        return self.values[phone]

    def partner(self, recorded: Call) -> None:
        """The recorded partner's client id (from its headers) stands for the sandbox partner's."""
        for name, value in recorded.request_headers.items():
            if name.lower() in ("x-partner-id", "x-client-key") and value not in self.values:
                self.values[value] = self.ovo.profile.client_id

    def swap(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.swap(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.swap(v, key) for v in value]
        if isinstance(value, str):
            if key in PARTNER_FIELDS:
                return PARTNER_FIELDS[key](self.ovo)
            if key.lower() in PHONE_FIELDS:
                return self.customer(value)
            if key in ("authCode", "code") and value not in self.values and self.codes:
                self.values[value] = self.codes.popleft()[0]
            return self.values.get(value, value)
        return value

    def send(self, recorded: Call, scenario: str) -> Call | None:
        endpoint = match_endpoint(recorded.path)
        if endpoint is None:
            return None
        self.partner(recorded)
        body = json.loads(recorded.request_body) if recorded.request_body.strip() else None
        query = {k: self.swap(v, k) for k, v in parse_qsl(urlsplit(recorded.url).query)}
        body = self.swap(body)
        sent = next((v for k, v in recorded.request_headers.items() if k.lower() == "authorization"), "")
        token = self.values.get(sent.removeprefix("Bearer ").strip()) if sent else None
        if sent and token is None and endpoint.bearer[:1] == ("B2B token",):
            token = self.ovo.tokens.b2b_token()
        try:
            call_id = self.ovo.client.call(endpoint.name, body, token=token, query=query or None,
                                           scenario=scenario)[1]
        except (OvoApiError, OvoConnectionError) as exc:
            call_id = exc.call_id
        if call_id is None:
            return None
        replayed = self.ovo.client.call_log.get(call_id, reveal=True)
        self.learn(recorded, replayed, endpoint.name, body, token)
        return replayed

    def learn(self, recorded: Call, replayed: Call, api: str, body: Any, token: str | None) -> None:
        """Map what the sandbox handed out to what the recorded side did; play the customer at a webview."""
        try:
            mine, theirs = json.loads(recorded.response_body or "{}"), json.loads(replayed.response_body or "{}")
        except ValueError:
            return
        self._pair(mine, theirs)
        owner = (body or {}).get("phoneNo") if isinstance(body, dict) else None
        owner = owner or self.owner.get(token or "", "")
        if api == "b2b2c_token" and isinstance(body, dict) and body.get("authCode") in self.issued:
            owner = self.issued[body["authCode"]]
        for key in ("accessToken", "refreshToken", "linkageToken"):
            if isinstance(theirs, dict) and isinstance(theirs.get(key), str) and owner:
                self.owner[theirs[key]] = owner
        if not (isinstance(theirs, dict) and theirs.get("redirectUrl") and owner):
            return
        link = theirs.get("linkageToken") or token or ""
        url = build_webview_url(theirs, link, self.ovo.session.destination, state="conformance",
                                registered=self.ovo.session.registered())
        codes = {"account_binding": (owner[-4:], SANDBOX_TEST_PIN), "account_unbinding": (owner[-4:],)}
        try:
            callback = parse_callback(self.sandbox.complete_webview(url, *codes.get(api, (SANDBOX_TEST_PIN,))))
        except OvoNbError:
            return  # the webview refused: later calls show it as differences
        self.codes.append((callback.auth_code, owner))
        self.issued[callback.auth_code] = owner

    def _pair(self, mine: Any, theirs: Any) -> None:
        if isinstance(mine, dict) and isinstance(theirs, dict):
            for key, value in mine.items():
                if key in HANDED_OUT and isinstance(value, str) and isinstance(theirs.get(key), str):
                    self.values[value] = theirs[key]
                elif key in theirs:
                    self._pair(value, theirs[key])


def conformance(log: CallLog, run_id: str, ovo: Ovo) -> ConformanceReport:
    """Replay run ``run_id`` of ``log`` against the sandbox behind ``ovo``, and compare call by call.

    A run that resumed a flow begun in an earlier run (against stage a webview step ends one run and the
    callback starts the next) is replayed after the runs it continues, found in the log by the tokens and
    references its requests carry back."""
    log.require_run(run_id)
    runs = _runs_needed(log, run_id)
    replayer = _Replayer(ovo)
    report = ConformanceReport(run_id, runs=tuple(runs))
    for run, calls in runs.items():
        for recorded in calls:
            replayed = replayer.send(recorded, f"conformance of {run}: call {recorded.id}")
            report.calls.append(CallComparison(log.get(recorded.id), replayed and ovo.client.call_log.get(replayed.id),
                                               _compare(recorded, replayed), _incomparable(recorded)))
    return report


_CARRIED = ("partnerReferenceNo", "originalPartnerReferenceNo", "originalReferenceNo", "referenceNo")
"""Request body fields naming a transaction: a later run that names one continues the run it began in."""


def _handed_out(call: Call) -> set[str]:
    """The values ``call``'s answer handed out (tokens, references) that later requests carry back."""
    try:
        answer = json.loads(call.response_body or "{}")
    except ValueError:
        return set()
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in HANDED_OUT and isinstance(item, str) and item:
                    found.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(answer)
    return found


def _carried_back(call: Call) -> set[str]:
    """What ``call``'s request carries that ties it to a flow: its customer's tokens and the transactions it names.

    A B2B token is the partner's, shared by every flow for 15 minutes, and a replay fetches its own: it ties no
    run to another (following it would pull in every run of the last quarter hour, a chain without end)."""
    endpoint = match_endpoint(call.path)
    partners = endpoint is not None and endpoint.bearer[:1] == ("B2B token",)
    found = {value.removeprefix("Bearer ").strip() for name, value in call.request_headers.items()
             if name.lower() == "authorization-customer" or (name.lower() == "authorization" and not partners)}
    try:
        body = json.loads(call.request_body) if call.request_body.strip() else {}
    except ValueError:
        body = {}
    if isinstance(body, dict):
        found |= {str(body[key]) for key in _CARRIED if body.get(key)}
    return {value for value in found if value}


def _runs_needed(log: CallLog, run_id: str) -> dict[str, list[Call]]:
    """``run_id`` and, before it, every earlier run its flows began in (one that handed out a token its calls carry,
    or named the same transaction), oldest first, each with its calls: the log is read and each call parsed once."""
    by_run: dict[str, list[Call]] = {}
    for call in log.calls(all_runs=True, reveal=True):
        by_run.setdefault(call.run_id, []).append(call)
    own = by_run.get(run_id, [])
    earlier = [c for calls in by_run.values() for c in calls if own and c.id < own[0].id]
    ties = {c.id: (_handed_out(c), _carried_back(c)) for c in [*own, *earlier]}
    wanted = [run_id]
    while True:
        chosen = [c for run in wanted for c in by_run.get(run, [])]
        missing = set().union(*(ties[c.id][1] for c in chosen)) - set().union(*(ties[c.id][0] for c in chosen))
        more = {c.run_id for c in earlier if c.run_id not in wanted and (ties[c.id][0] | ties[c.id][1]) & missing}
        if not more:
            ordered = sorted(wanted, key=lambda run: by_run[run][0].id if by_run.get(run) else 0)
            return {run: by_run.get(run, []) for run in ordered}
        wanted += sorted(more)


@contextlib.contextmanager
def fresh_sandbox(sandbox_state: str | Path = ":memory:") -> Iterator[Ovo]:
    """A sandbox in this process to replay against, its client state (call log, vault, ledger) in a
    throw-away folder, and nothing taken from ``OVO_NB_*`` variables: they describe the recorded profile."""
    with (tempfile.TemporaryDirectory(prefix="ovo-nb-conformance-") as state,
          Ovo.open(throwaway_sandbox_profile(Path(state)), sandbox_state=sandbox_state) as ovo):
        yield ovo
