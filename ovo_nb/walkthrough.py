"""What keeps the notebooks narrative: run a step, show what happened, never hide a failure.

A :class:`Walkthrough` wraps an :class:`~ovo_nb.flows.Ovo` session for one notebook run.
Each ``step()`` runs one business call and shows its result as ordinary cell output (so
it lands in the executed notebook under papermill too); an OVO refusal is shown with its
SNAP code, message, hint and call id instead of a traceback, and later steps are skipped
with a note. At the end, ``finish(expect=...)`` fails the run only when the outcome is not
the expected one, so a negative scenario (insufficient funds, wrong PIN...) is a passing run.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._files import RUN_ID_ENV
from .calllog import PHONE_FIELDS, CallLog, as_curl, mask_msisdn, mask_token, redact_url
from .config import load_profile
from .errors import OvoApiError, OvoNbError, ValidationError
from .flows import Ovo
from .snap import JAKARTA
from .tokens import TokenStatus
from .views import Arrow, Card, Diagram, Table, amount_text, arrows_from_calls, readable_table
from .webview import parse_callback

__all__ = ["StepResult", "Walkthrough"]


@dataclass
class StepResult:
    """How one step ended: done, refused by OVO (or by validation), skipped, or waiting for the customer."""

    title: str
    status: str
    value: Any = None
    error: OvoNbError | None = None
    note: str = ""
    """What the card says about a result that is text (never the text itself: a callback URL carries a code)."""

    def card(self) -> Card:
        """The step as a card: state, SNAP code and meaning, what to do, the call id."""
        error = self.error
        if isinstance(error, OvoApiError):
            said = f"OVO said: {error.response_message}"
            detail = f"refused as expected; {said}" if self.status == "done" else said
            return Card(self.title, self.status, detail, error.response_code, error.hint, error.call_id)
        if error is not None:
            where = "refused as expected: " if self.status == "done" else ""
            if isinstance(error, ValidationError):
                where += "checked here, nothing sent: "
            return Card(self.title, self.status, self.note or f"{where}{type(error).__name__}: {error}")
        idle = {"skipped": "an earlier step did not complete", "waiting": "waiting for the customer's webview step"}
        code = getattr(self.value, "response_code", "") or ""
        call_id = getattr(self.value, "call_id", None)
        return Card(self.title, self.status, self.note or idle.get(self.status, ""), code, call_id=call_id)

    def _ipython_display_(self) -> None:
        """Nothing: the step's card was shown when it ran (a cell ending in a step shows no repr)."""

    def __repr__(self) -> str:
        return self.card().text()

    @property
    def code(self) -> str:
        """The SNAP response code of a refusal, the error's type name otherwise, ``""`` when done."""
        if isinstance(self.error, OvoApiError):
            return self.error.response_code
        return type(self.error).__name__ if self.error else ""


def _describe_callback(url: str) -> str:
    callback = parse_callback(url)
    return f"callback received: {callback.display_msg}, authCode {mask_token(callback.auth_code)}"


def _cell(value: Any) -> Any:
    """One value as a table cell people read: IDR with separators, times in Jakarta, lists joined."""
    if isinstance(value, Decimal):
        return amount_text(value)
    if isinstance(value, datetime):
        return value.astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M:%S WIB")
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_cell(v)) for v in value)
    return value


def as_view(value: Any) -> Any:
    """What a step's value looks like in a cell: a table for records and mappings, as-is for views."""
    import pandas as pd

    if hasattr(value, "_repr_html_") and not isinstance(value, (pd.DataFrame, pd.Series)):
        return value
    if isinstance(value, pd.Series):
        value = value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, dict):
        cells = [mask_msisdn(str(v)) if k.lower() in PHONE_FIELDS else _cell(v) for k, v in value.items()]
        return readable_table(pd.DataFrame({"field": list(value), "value": cells}))
    if isinstance(value, pd.DataFrame):
        return readable_table(value.map(_cell))
    return value


def show(*objects: Any) -> None:
    """Display ``objects`` as cell output (HTML where they have it); printed outside IPython."""
    try:
        from IPython.display import display
    except ImportError:  # plain Python: print instead
        for item in objects:
            print(item)
        return
    display(*objects)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _WebviewMark:
    after_call: int
    """The id of the last call before the webview step."""
    title: str
    outcome: str
    ok: bool


class Walkthrough:
    """One notebook's session: the Ovo flows, this run's call log, and the steps taken."""

    def __init__(self, profile: str = "sandbox", *, run_label: str = "") -> None:
        resolved = load_profile(profile)
        run_id = os.environ.get(RUN_ID_ENV) or None
        self.log = CallLog.open(resolved.state_dir / "calls.sqlite", run_id=run_id)
        self.ovo = Ovo.open(resolved, call_log=self.log)
        self.run_label = run_label
        self.steps: list[StepResult] = []
        self.webview_url = ""
        """The last webview URL in full: it carries a token, so it is never printed unasked."""
        first = self.log.calls()
        self._first_call = (first[-1].id + 1) if first else 0
        self._since = self.ovo.ledger.now()
        self._webviews: list[_WebviewMark] = []

    def _where(self) -> str:
        profile = self.ovo.profile
        if profile.in_process:
            return "the sandbox inside this process"
        return f"{'the sandbox' if profile.is_sandbox else 'OVO ' + profile.name} at {profile.base_url}"

    def __repr__(self) -> str:
        return f"Walkthrough on {self._where()}, profile {self.ovo.profile.name}, run {self.log.run_id}"

    def _repr_html_(self) -> str:
        return Card(f"profile {self.ovo.profile.name}", "ready",
                    f"calls go to {self._where()}; call log run {self.log.run_id}").html()

    @property
    def blocked(self) -> bool:
        return any(s.status in ("refused", "waiting", "skipped") for s in self.steps)

    def _record(self, result: StepResult, shown: Any = None) -> StepResult:
        self.steps.append(result)
        show(result.card(), *([] if shown is None else [shown]))
        return result

    def step(self, title: str, action: Callable[[], Any], *, show: Callable[[Any], Any] | None = None,
             expect_refusal: type[OvoNbError] | None = None) -> StepResult:
        """Run ``action`` unless an earlier step stopped; show its card (and its result as a table).

        With ``expect_refusal`` the step demonstrates a refusal: that error is the step done.
        """
        if self.blocked:
            return self._record(StepResult(title, "skipped"))
        label = f"{self.run_label}: {title}" if self.run_label else title
        try:
            with self.log.scenario(label):
                value = action()
        except OvoNbError as exc:
            expected = expect_refusal is not None and isinstance(exc, expect_refusal)
            return self._record(StepResult(title, "done" if expected else "refused", error=exc))
        if expect_refusal is not None:
            error = OvoNbError(f"expected {expect_refusal.__name__}, but it went through")
            return self._record(StepResult(title, "refused", error=error, note=str(error)))
        if isinstance(value, str):
            return self._record(StepResult(title, "done", value=value, note=show(value) if show else value))
        shown = None if value is None else as_view(show(value) if show else value)
        return self._record(StepResult(title, "done", value=value), shown)

    def webview(self, title: str, url: str, *, code: str | Sequence[str], callback_url: str = "") -> StepResult:
        """The customer's webview step: a given callback URL, the sandbox's headless path, or a pause.

        ``code`` is what the customer types: one OTP or PIN, or several in turn (a binding takes
        the OTP, then the Security PIN).

        Against stage or production with no ``callback_url`` the walkthrough stops here and
        says how to resume: open the URL, then re-run with the ``callback_url`` parameter.
        """
        if self.blocked:
            return self.step(title, lambda: None)
        self.webview_url = url
        last = self.log.calls()
        after = last[-1].id if last else -1
        if callback_url:
            result = self.step(title, lambda: _describe_callback(callback_url))
        elif self.ovo.complete_webview is None:
            result = self._record(StepResult(title, "waiting", note=(
                f"Open the webview on the customer's phone (print(wt.webview_url) shows it; it carries the "
                f"customer's token: {redact_url(url)}), then re-run with the parameter callback_url set to the "
                "URL the browser landed on.")))
        else:
            completer = self.ovo.complete_webview
            codes = (code,) if isinstance(code, str) else tuple(code)
            result = self.step(f"{title} (sandbox, headless)", lambda: completer(url, *codes),
                               show=_describe_callback)
        outcome = {"done": result.note.replace("callback received: ", "callback: "),
                   "waiting": "waiting for the customer"}.get(result.status, result.status)
        self._webviews.append(_WebviewMark(after, title, outcome, result.status in ("done", "waiting")))
        return result

    def new_sandbox_customer(self, *, cash: str = "1000000", points: str = "0") -> str:
        """A fresh sandbox customer (random phone), so a notebook can be re-run without clashes."""
        if self.ovo.sandbox is None:
            raise OvoNbError("Fresh test customers exist only in the sandbox; pass the phone of an OVO account.")
        number = f"0812{secrets.randbelow(10**8):08d}"
        return self.ovo.sandbox.add_customer(number, name="Notebook customer", cash=cash, points=points)

    def calls(self) -> Table:
        """This run's calls, full paths and latencies in ms: what to scan at the end of every notebook."""
        frame = self.log.to_frame()
        frame = frame[frame.index >= self._first_call].reset_index()
        frame["latency_ms"] = frame["latency_ms"].map(lambda ms: "" if ms != ms or ms is None else f"{ms:,.1f}")
        return readable_table(frame[["id", "scenario", "method", "path", "status", "response_code",
                                     "response_message", "latency_ms"]].fillna(""))

    def tokens(self, phone: str) -> Table:
        """The vault's tokens for ``phone``: kind, state, expiry in Jakarta time and time left in words."""
        import pandas as pd

        rows = [{"kind": t.kind, "state": _token_state(t), "time left": t.seconds_left if t.usable else 0,
                 "expires": _cell(t.expires_at) if t.expires_at else "no expiry"} for t in self.ovo.vault.status(phone)]
        return readable_table(pd.DataFrame(rows, columns=["kind", "state", "time left", "expires"]),
                              durations=["time left"])

    def ledger(self, table: str = "payments") -> Table:
        """The partner ledger's ``payments``, ``refunds`` or ``history`` rows this run wrote."""
        frame = self.ovo.ledger.to_frame(table, since=self._since)
        amounts = [c for c in ("amount",) if c in frame.columns]
        return readable_table(frame, amounts=amounts)

    def sequence(self) -> Diagram:
        """This run's calls as a sequence diagram: partner, OVO and the customer's webview as lanes."""
        calls = [c for c in self.log.calls() if c.id >= self._first_call]
        arrows: list[Arrow] = []
        marks = list(self._webviews)
        answered = arrows_from_calls(calls)  # two arrows per call: the request and its answer
        for i, call in enumerate(calls):
            while marks and marks[0].after_call < call.id:
                arrows.extend(_webview_arrows(marks.pop(0)))
            arrows.extend(answered[2 * i:2 * i + 2])
        for mark in marks:
            arrows.extend(_webview_arrows(mark))
        title = f"{self.run_label or 'this run'}: {len(calls)} calls"
        return Diagram(tuple(arrows), title)

    def curl(self, index: int = -1) -> str:
        """One call of this run as cURL (tokens masked)."""
        calls = [c for c in self.log.calls() if c.id >= self._first_call]
        if not calls:
            return "(no calls in this run)"
        index = max(-len(calls), min(index, len(calls) - 1))  # out of range: the nearest end
        return as_curl(calls[index])

    def finish(self, expect: str = "success") -> str:
        """The run's outcome; raises when it is not ``expect`` (``"success"`` or a SNAP code / error name)."""
        refused = next((s for s in self.steps if s.status == "refused"), None)
        waiting = any(s.status == "waiting" for s in self.steps)
        outcome = "waiting" if waiting else (refused.code if refused else "success")
        met = outcome in (expect, "waiting")
        show(Card("Outcome", "waiting" if waiting else ("done" if met else "refused"),
                   f"{outcome} (expected: {expect})"))
        if not met:
            detail = f": {refused.error}" if refused else ""
            raise AssertionError(f"Expected {expect!r} but the walkthrough ended with {outcome!r}{detail}")
        return outcome


def _token_state(token: TokenStatus) -> str:
    return "usable" if token.usable else (f"revoked: {token.revoked}" if token.revoked else "expired")


def _webview_arrows(mark: _WebviewMark) -> list[Arrow]:
    return [Arrow("Partner", "Customer / webview", f"open webview: {mark.title}"),
            Arrow("Customer / webview", "Partner", mark.outcome[:60], mark.ok)]
