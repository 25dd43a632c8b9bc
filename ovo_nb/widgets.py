"""ipywidgets skins for the flows, for analysts in JupyterLab.

Every button calls the same :class:`~ovo_nb.flows.Ovo` method a notebook cell calls, so a
papermill run (where nothing is clicked) and an interactive session do the same work. The
panel never waits for a click: headless, :func:`flow_panel` only says it was skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ._escape import html_page
from ._files import RUN_DIR_ENV
from .calllog import mask_msisdn, redact_url
from .errors import OvoNbError
from .flows import PendingBinding, PendingPayment
from .snap import stage_otp
from .testbed import SANDBOX_TEST_PIN, TEST_CUSTOMERS
from .views import duration
from .walkthrough import StepResult, Walkthrough, as_view, show
from .webview import parse_callback

__all__ = ["FlowPanel", "flow_panel"]


class FlowPanel:
    """Customer picker, amount, step buttons, webview link, callback field, token status, progress."""

    def __init__(self, walkthrough: Walkthrough, phone: str = "") -> None:
        self.wt = walkthrough
        self.ovo = walkthrough.ovo
        self.pending: PendingBinding | PendingPayment | None = None
        self.messages: list[str] = []
        """Every action's outcome, newest last (the output area shows the latest)."""
        self.last_reference = ""
        choices = [f"{c['phone']} {c['name']}: {c['purpose'].split(';')[0]}" for c in TEST_CUSTOMERS]
        self._hidden: dict[str, str] = {}
        """Masked label -> full phone: the notebook's customer is never shown (nor saved) in full."""
        if phone and not any(choice.startswith(phone) for choice in choices):
            label = f"{mask_msisdn(phone)} this notebook's customer"
            self._hidden[label.split(" ")[0]] = phone
            choices.insert(0, label)
        self.customer = w.Combobox(options=choices, value=next((c for c in choices if c.startswith(phone)), choices[0]),
                                   description="Customer", placeholder="08xxxxxxxxxx", ensure_option=False,
                                   layout=w.Layout(width="34em"))
        self.amount = w.Text(value="15000.00", description="Amount IDR")
        self.callback = w.Text(description="Callback URL", placeholder="paste the URL the webview landed on",
                               layout=w.Layout(width="100%"))
        self.link = w.HTML()
        self.tokens = w.HTML()
        self.progress = w.IntProgress(value=0, min=0, max=1, description="idle")
        self.state = "idle"
        """idle, working, done or refused: what the progress bar and the card show."""
        self.output = w.Output(layout=w.Layout(border="1px solid #d8d2e6", padding="4px"))
        actions: list[tuple[str, Callable[[], Any]]] = [
            ("Lookup", lambda: self.ovo.lookup(self.phone)),
            ("Bind", self._start_binding),
            ("Balance", lambda: self.ovo.balance(self.phone).accounts),
            ("Pay", self._start_payment),
            ("Finish webview step", self._finish),
            ("Status", lambda: self.ovo.status(self.last_reference)),
            ("Refund all", lambda: self.ovo.refund(self.last_reference, self.amount.value)),
            ("Unbind", lambda: self.ovo.unbind(self.phone) if self.ovo.complete_webview else self.ovo.start_unbinding(
                self.phone)),
        ]
        self.buttons = {label: self._button(label, action) for label, action in actions}
        self.box = w.VBox([
            w.HBox([self.customer, self.amount]),
            w.HBox(list(self.buttons.values())[:4]),
            w.HBox(list(self.buttons.values())[4:]),
            self.link, self.callback, self.progress, self.tokens, self.output,
        ])
        self.refresh_tokens()

    @property
    def phone(self) -> str:
        typed = str(self.customer.value).split(" ")[0]
        return self._hidden.get(typed, typed)

    def _button(self, label: str, action: Callable[[], Any]) -> w.Button:
        button = w.Button(description=label, layout=w.Layout(width="auto"))
        button.on_click(lambda _: self.run(label, action))
        return button

    def _set_state(self, state: str) -> None:
        """idle, working (buttons disabled, a moving bar), done (green) or refused (red)."""
        self.state = state
        self.progress.description = state
        self.progress.value = 0 if state == "idle" else 1  # working: a full blue bar until the answer
        self.progress.bar_style = {"working": "info", "done": "success", "refused": "danger"}.get(state, "")
        for button in self.buttons.values():
            button.disabled = state == "working"

    def run(self, label: str, action: Callable[[], Any]) -> None:
        """Run one action with the buttons disabled; show its card and its result as a table."""
        self._set_state("working")
        shown: Any = None
        try:
            result = action()
        except OvoNbError as exc:
            step = StepResult(label, "refused", error=exc)
            message = f"{label}: {type(exc).__name__}: {exc}"
        else:
            note = result if isinstance(result, str) else ""
            step = StepResult(label, "done", value=result, note=note)
            shown = None if result is None or isinstance(result, str) else as_view(result)
            message = f"{label}: done" + ("" if result is None else f"\n{shown if shown is not None else result}")
        self._set_state(step.status)
        self.messages.append(message)
        with self.output:
            self.output.clear_output()
            show(step.card(), *([] if shown is None else [shown]))
        self.refresh_tokens()

    def _show_link(self, url: str) -> None:
        environment = self.ovo.environment
        url = environment.openable(url) if environment else url  # the in-process sandbox: a loopback port
        self.link.value = html_page(LINK, url=url, shown=redact_url(url))

    def _start_binding(self) -> str:
        self.callback.value = ""
        self.pending = self.ovo.start_binding(self.phone)
        self._show_link(self.pending.webview_url)
        return self._autocomplete(self.pending.webview_url, stage_otp(self.phone), SANDBOX_TEST_PIN)

    def _start_payment(self) -> str:
        self.callback.value = ""
        pending = self.ovo.start_payment(self.phone, self.amount.value)
        self.pending, self.last_reference = pending, pending.partner_reference_no
        self._show_link(pending.webview_url)
        return self._autocomplete(pending.webview_url, SANDBOX_TEST_PIN)

    def _autocomplete(self, url: str, *codes: str) -> str:
        if self.ovo.complete_webview is None:
            return "Open the webview, then paste the callback URL and press 'Finish webview step'."
        self.callback.value = self.ovo.complete_webview(url, *codes)
        return "Sandbox: the webview step was completed headlessly; press 'Finish webview step'."

    def _finish(self) -> Any:
        if self.pending is None:
            raise OvoNbError("Nothing is waiting for a webview step: press Bind or Pay first.")
        try:
            parse_callback(self.callback.value)
        except OvoNbError as exc:  # the pending flow stays: paste the right URL and press again
            raise OvoNbError(f"{exc} The {'binding' if isinstance(self.pending, PendingBinding) else 'payment'} "
                             "is still waiting: paste the URL the browser landed on and press again.") from None
        pending, self.pending, url, self.callback.value = self.pending, None, self.callback.value, ""
        if isinstance(pending, PendingBinding):
            return self.ovo.finish_binding(pending, url)
        return self.ovo.finish_payment(pending, url)

    def refresh_tokens(self) -> None:
        """Which tokens the vault holds for the customer, and how long they last (never their values)."""
        rows = [(t.kind, "usable" if t.usable else t.revoked or "expired", _time_left(t))
                for t in self.ovo.vault.status(self.phone) if self.phone.isdigit()]
        self.tokens.value = html_page(TOKENS, rows=rows)


LINK = """<a href="{{ url }}" target="_blank">Open the OVO webview</a> <code>{{ shown }}</code>"""
"""The webview link (an http(s) URL: build_webview_url refuses any other) and its redacted text."""
TOKENS = """<b>Tokens</b><table><tr><th>kind</th><th>state</th><th>time left</th></tr>
{%- for kind, state, left in rows %}<tr><td>{{ kind }}</td><td>{{ state }}</td><td>{{ left }}</td></tr>
{%- else %}<tr><td colspan=3>none yet</td></tr>{% endfor %}</table>"""
"""Which tokens the vault holds for the customer: kinds, states and time left, never their values."""


def _time_left(token: Any) -> str:
    return duration(token.seconds_left) if token.usable else "-"



def flow_panel(walkthrough: Walkthrough, phone: str = "") -> FlowPanel | None:
    """Display the panel in JupyterLab, the notebook's customer (``phone``) picked; in a headless
    run, say so and return ``None``."""
    if os.environ.get(RUN_DIR_ENV) or os.environ.get("PAPERMILL_EXECUTION"):
        print("Interactive panel skipped: this run is headless and used the notebook's parameters.")
        return None
    from IPython.display import display

    panel = FlowPanel(walkthrough, phone)
    display(panel.box)  # type: ignore[no-untyped-call]
    return panel
