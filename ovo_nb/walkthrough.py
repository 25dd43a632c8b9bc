"""What keeps the notebooks narrative: run a step, show what happened, never hide a failure.

A :class:`Walkthrough` wraps an :class:`~ovo_nb.flows.Ovo` session for one notebook run.
Each ``step()`` runs one business call and shows its result as ordinary cell output (so
it lands in the executed notebook under papermill too); an OVO refusal is shown with its
SNAP code, message, hint and call id instead of a traceback, and later steps are skipped
with a note. At the end, ``finish(expect=...)`` fails the run only when the outcome is not
the expected one, so a negative scenario (insufficient funds, wrong PIN...) is a passing run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._files import RUN_ID_ENV
from .calllog import CallLog, as_curl, mask_token, redact_url
from .config import load_profile
from .errors import OvoApiError, OvoNbError
from .flows import Ovo
from .webview import parse_callback

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StepResult", "Walkthrough"]



@dataclass
class StepResult:
    """How one step ended: done, refused by OVO (or by validation), skipped, or waiting for the customer."""

    title: str
    status: str
    value: Any = None
    error: OvoNbError | None = None

    def __repr__(self) -> str:
        return f"StepResult({self.status}: {self.title})"

    @property
    def code(self) -> str:
        """The SNAP response code of a refusal, the error's type name otherwise, ``""`` when done."""
        if isinstance(self.error, OvoApiError):
            return self.error.response_code
        return type(self.error).__name__ if self.error else ""


def _describe_callback(url: str) -> str:
    callback = parse_callback(url)
    return f"callback received: {callback.display_msg}, authCode {mask_token(callback.auth_code)}"


def _show(*objects: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # plain Python: print instead
        for item in objects:
            print(item)
        return
    display(*objects)  # type: ignore[no-untyped-call]


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

    def __repr__(self) -> str:
        return f"Walkthrough(profile={self.ovo.profile.name!r}, run_id={self.log.run_id!r})"

    @property
    def blocked(self) -> bool:
        return any(s.status in ("refused", "waiting", "skipped") for s in self.steps)

    def step(self, title: str, action: Callable[[], Any], *, show: Callable[[Any], Any] | None = None,
             expect_refusal: type[OvoNbError] | None = None) -> StepResult:
        """Run ``action`` unless an earlier step stopped; show its result, or the refusal, as cell output.

        With ``expect_refusal`` the step demonstrates a refusal: that error is the step done.
        """
        if self.blocked:
            result = StepResult(title, "skipped")
            print(f"[skipped] {title}: an earlier step did not complete.")
        else:
            label = f"{self.run_label}: {title}" if self.run_label else title
            try:
                with self.log.scenario(label):
                    value = action()
            except OvoNbError as exc:
                if expect_refusal is not None and isinstance(exc, expect_refusal):
                    result = StepResult(title, "done", error=exc)
                    print(f"[done] {title}: refused as expected\n  {type(exc).__name__}: {exc}")
                else:
                    result = StepResult(title, "refused", error=exc)
                    print(f"[refused] {title}\n  {type(exc).__name__}: {exc}")
            else:
                if expect_refusal is not None:
                    result = StepResult(title, "refused", error=OvoNbError(f"expected {expect_refusal.__name__}"))
                    print(f"[refused] {title}: expected {expect_refusal.__name__}, but it went through")
                else:
                    result = StepResult(title, "done", value=value)
                    print(f"[done] {title}")
                    if value is not None:
                        _show(show(value) if show else value)
        self.steps.append(result)
        return result

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
        print(f"Webview for the customer ({title}), token masked:\n  {redact_url(url)}")
        if callback_url:
            return self.step(title, lambda: callback_url)
        if self.ovo.complete_webview is None:
            result = StepResult(title, "waiting")
            self.steps.append(result)
            print("[waiting] The URL carries the customer's token, so it is shown only on request: run "
                  "print(wt.webview_url) in JupyterLab and open it on the customer's phone. Then re-run this "
                  "notebook with the papermill parameter callback_url set to the URL the browser landed on.")
            return result
        completer = self.ovo.complete_webview
        codes = (code,) if isinstance(code, str) else tuple(code)
        return self.step(f"{title} (sandbox, headless)", lambda: completer(url, *codes), show=_describe_callback)

    def new_sandbox_customer(self, *, cash: str = "1000000", points: str = "0") -> str:
        """A fresh sandbox customer (random phone), so a notebook can be re-run without clashes."""
        if self.ovo.sandbox is None:
            raise OvoNbError("Fresh test customers exist only in the sandbox; pass the phone of an OVO account.")
        number = f"0812{secrets.randbelow(10**8):08d}"
        return self.ovo.sandbox.add_customer(number, name="Notebook customer", cash=cash, points=points)

    def calls(self) -> pd.DataFrame:
        """This run's calls: what to scan at the end of every notebook."""
        frame = self.log.to_frame()
        frame = frame[frame.index >= self._first_call]
        return frame[["scenario", "method", "path", "status", "response_code", "response_message", "latency_ms"]]

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
        print(f"Outcome: {outcome} (expected: {expect})")
        if outcome not in (expect, "waiting"):
            detail = f": {refused.error}" if refused else ""
            raise AssertionError(f"Expected {expect!r} but the walkthrough ended with {outcome!r}{detail}")
        return outcome
