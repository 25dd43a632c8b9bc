"""What keeps the notebooks narrative: run a step, show what happened, never hide a failure.

A :class:`Walkthrough` wraps an :class:`~ovo_nb.flows.Ovo` session for one notebook run.
Each ``step()`` runs one business call and shows its result as ordinary cell output (so
it lands in the executed notebook under papermill too); an OVO refusal is shown with its
SNAP code, message, hint and call id instead of a traceback, and later steps are skipped
with a note. At the end, ``finish(expect=...)`` records the notebook's outcome
(:mod:`ovo_nb.outcome`): passed when it ended as expected, so a negative scenario (insufficient
funds, wrong PIN...) is a passing run; waiting when a customer's webview step is left to do;
skipped when the profile lacks what the notebook needs (a stage customer's phone); failed
otherwise, which fails the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._files import RUN_ID_ENV, write_private_file
from .calllog import PHONE_FIELDS, CallLog, as_curl, mask_msisdn, mask_token, redact_url
from .config import Profile, load_profile
from .errors import OvoApiError, OvoNbError, ValidationError
from .flows import Ovo
from .outcome import finish_notebook
from .snap import JAKARTA, LINKAGE_TOKEN_LIFETIME, WEBVIEW_LIFETIME
from .tokens import TokenStatus
from .views import Arrow, Card, Diagram, Table, amount_text, arrows_from_calls, readable_table
from .webview import parse_callback

__all__ = ["StepResult", "Steps", "Walkthrough"]


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
            said = f"{'checked here, nothing sent' if error.local else 'OVO said'}: {error.response_message}"
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


class Steps:
    """A notebook's steps, each shown as a card; after a refusal the rest are skipped; ``finish`` says
    how the notebook ended. :class:`Walkthrough` adds an OVO session; key setup uses this alone."""

    def __init__(self, *, run_label: str = "") -> None:
        self.run_label = run_label
        self.steps: list[StepResult] = []

    @property
    def blocked(self) -> bool:
        return any(s.status in ("refused", "waiting", "skipped") for s in self.steps)

    def _record(self, result: StepResult, shown: Any = None) -> StepResult:
        self.steps.append(result)
        show(result.card(), *([] if shown is None else [shown]))
        return result

    def _scenario(self, label: str) -> AbstractContextManager[object]:
        """Where a step's calls are labelled (the call log, for a walkthrough)."""
        return contextlib.nullcontext()

    def _profile(self) -> Profile | None:
        """The profile the notebook's calls go to; ``None`` when it calls no server."""
        return None

    def step(self, title: str, action: Callable[[], Any], *, show: Callable[[Any], Any] | None = None,
             expect_refusal: type[OvoNbError] | None = None) -> StepResult:
        """Run ``action`` unless an earlier step stopped; show its card (and its result as a table).

        With ``expect_refusal`` the step demonstrates a refusal: that error is the step done.
        """
        if self.blocked:
            return self._record(StepResult(title, "skipped"))
        label = f"{self.run_label}: {title}" if self.run_label else title
        try:
            with self._scenario(label):
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

    def skip(self, reason: str) -> None:
        """This notebook cannot run as asked (against this profile, without this parameter): say why and
        what to give, and stop here (:class:`~ovo_nb.errors.NotebookSkipped`; ``ovo-nb run`` reports it)."""
        finish_notebook("skipped", reason, profile=self._profile())

    def finish(self, expect: str = "success") -> str:
        """Record the notebook's outcome against ``expect`` (``"success"`` or a SNAP code / error name).

        Ended as expected: passed. Anything else: failed, raising so the run fails at this cell.
        """
        refused = next((s for s in self.steps if s.status == "refused"), None)
        outcome = refused.code if refused else "success"
        here = refused is not None and getattr(refused.error, "local", False)
        detail = f"ended with {outcome}" + (" checked here, before anything reached OVO" if here else "") + \
            f" (expected: {expect})"
        if outcome != expect:
            finish_notebook("failed", detail + (f": {refused.error}" if refused else ""), profile=self._profile())
        finish_notebook("passed", detail, profile=self._profile())
        return outcome


class Walkthrough(Steps):
    """One notebook's session: the Ovo flows, this run's call log, and the steps taken."""

    def __init__(self, profile: str = "", *, run_label: str = "") -> None:
        super().__init__(run_label=run_label)
        resolved = load_profile(profile or None)
        run_id = os.environ.get(RUN_ID_ENV) or None
        self.log = CallLog.open(resolved.state_location("calls"), run_id=run_id)
        self.ovo = Ovo.open(resolved, call_log=self.log)
        self.webview_url = ""
        """The last webview URL in full: it carries a token, so it is never printed unasked."""
        first = self.log.calls()
        self._first_call = (first[-1].id + 1) if first else 0
        self._since = self.ovo.ledger.now()
        self._webviews: list[_WebviewMark] = []
        self._waiting: tuple[str, str] = ("", "")
        """The 0600 file holding the webview URL the customer must open, and how long it stays open."""

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

    def _scenario(self, label: str) -> AbstractContextManager[object]:
        return self.log.scenario(label)

    def _profile(self) -> Profile:
        return self.ovo.profile

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
            file = self._keep_webview_url(url, title)
            result = self._record(StepResult(title, "waiting", note=(
                f"Open the webview on the customer's phone: its URL carries the customer's token, so it is kept "
                f"in {file} (readable by you only; `ovo-nb run` prints it, print(wt.webview_url) shows it here): "
                f"{redact_url(url)}. Then run again with the parameter callback_url set to the URL the browser "
                "landed on.")))
        else:
            completer = self.ovo.complete_webview
            codes = (code,) if isinstance(code, str) else tuple(code)
            result = self.step(f"{title} (sandbox, headless)", lambda: completer(url, *codes),
                               show=_describe_callback)
        outcome = {"done": result.note.replace("callback received: ", "callback: "),
                   "waiting": "waiting for the customer"}.get(result.status, result.status)
        self._webviews.append(_WebviewMark(after, title, outcome, result.status in ("done", "waiting")))
        return result

    def _keep_webview_url(self, url: str, title: str) -> str:
        """The full webview URL into a 0600 file in the profile's state folder, never into outputs."""
        label = "".join(c if c.isalnum() else "-" for c in f"{self.run_label or 'run'}-{title}").strip("-")
        path = self.ovo.profile.state_dir / "webviews" / f"{self.log.run_id}-{label}.url"
        write_private_file(path, url.encode() + b"\n", overwrite=True)
        lasts = WEBVIEW_LIFETIME if "action=pinPayment" in url else LINKAGE_TOKEN_LIFETIME
        self._waiting = (str(path), f"{int(lasts.total_seconds() // 60)} minutes")
        return str(path)

    def customer(self, phone: str = "", *, bound: bool = False, cash: str = "1000000") -> str:
        """The customer to work with: ``phone`` if given, else a fresh sandbox customer (bound first when
        ``bound``); against OVO a phone is needed, and without one the notebook is skipped, saying so."""
        if self.ovo.sandbox is not None:
            number = phone or self.new_sandbox_customer(cash=cash)
            if bound and not self.ovo.is_bound(number):
                self.step("bind the sandbox customer first", lambda: self.ovo.bind(number))
            return number
        if not phone:
            self.skip(f"Against {self.ovo.profile.name} a real OVO account is needed: give -p phone <the phone of "
                      f"your OVO {self.ovo.profile.name} account>.")
        elif bound and not self.ovo.is_bound(phone):
            self.skip(f"{mask_msisdn(phone)} is not bound in this vault ({self.ovo.profile.name}): run the binding "
                      "notebook for it first.")
        return phone

    def paid_payment(self, reference: str = "", amount: str = "20000.00") -> str:
        """The payment to work on: ``reference`` if given, else (sandbox) a fresh customer's new payment of
        ``amount``; against OVO one is needed, and without it the notebook is skipped, saying so."""
        if reference:
            return reference
        if self.ovo.sandbox is None:
            self.skip(f"Against {self.ovo.profile.name} a paid payment is needed: give -p reference <its "
                      "partnerReferenceNo>.")
        phone = self.customer(bound=True)
        payment = self.step("pay", lambda: self.ovo.pay(phone, amount))
        return payment.value.partner_reference_no if payment.value else ""

    def new_sandbox_customer(self, *, cash: str = "1000000", points: str = "0") -> str:
        """A fresh sandbox customer (random phone), so a notebook can be re-run without clashes."""
        if self.ovo.sandbox is None:
            raise OvoNbError("Fresh test customers exist only in the sandbox; pass the phone of an OVO account.")
        return self.ovo.sandbox.new_customer(name="Notebook customer", cash=cash, points=points)

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
        """As :meth:`Steps.finish`, and waiting when a customer's webview step is left to do (with the file
        holding its URL, how long it stays open, and ``callback_url`` to resume)."""
        if any(s.status == "waiting" for s in self.steps):
            file, lasts = self._waiting
            finish_notebook("waiting", f"the customer's webview step is left to do (expected: {expect})",
                            profile=self.ovo.profile, resume="callback_url", resume_within=lasts, webview_file=file)
            return "waiting"
        return super().finish(expect)


def _token_state(token: TokenStatus) -> str:
    return "usable" if token.usable else (f"revoked: {token.revoked}" if token.revoked else "expired")


def _webview_arrows(mark: _WebviewMark) -> list[Arrow]:
    return [Arrow("Partner", "Customer / webview", f"open webview: {mark.title}"),
            Arrow("Customer / webview", "Partner", mark.outcome[:60], mark.ok)]
