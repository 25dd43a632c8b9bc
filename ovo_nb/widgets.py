"""ipywidgets skins for the flows, for analysts in JupyterLab.

Every button calls the same :class:`~ovo_nb.flows.Ovo` method a notebook cell calls, so a
papermill run (where nothing is clicked) and an interactive session do the same work. The
panel never waits for a click: headless, :func:`flow_panel` only says it was skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as w

from ._files import RUN_DIR_ENV
from .calllog import redact_url
from .errors import OvoNbError
from .flows import PendingBinding, PendingPayment
from .snap import stage_otp
from .testbed import SANDBOX_TEST_PIN
from .walkthrough import Walkthrough

__all__ = ["FlowPanel", "flow_panel"]

SANDBOX_CUSTOMERS = [
    ("081234567890 Rich Rina (succeeds)", "081234567890"),
    ("081200000001 Broke Budi (insufficient funds)", "081200000001"),
    ("081200000002 Closed Citra (account closed)", "081200000002"),
    ("081200000003 New Nadia (no OVO account)", "081200000003"),
    ("081200000004 Locked Lukas (PIN blocked)", "081200000004"),
]


class FlowPanel:
    """Customer picker, amount, step buttons, webview link, callback field, token status, progress."""

    def __init__(self, walkthrough: Walkthrough) -> None:
        self.wt = walkthrough
        self.ovo = walkthrough.ovo
        self.pending: PendingBinding | PendingPayment | None = None
        self.messages: list[str] = []
        """Every action's outcome, newest last (the output area shows the latest)."""
        self.last_reference = ""
        self.customer = w.Combobox(options=[phone for _, phone in SANDBOX_CUSTOMERS], value="081234567890",
                                   description="Customer", placeholder="08xxxxxxxxxx", ensure_option=False)
        self.amount = w.Text(value="15000.00", description="Amount IDR")
        self.callback = w.Text(description="Callback URL", placeholder="paste the URL the webview landed on",
                               layout=w.Layout(width="100%"))
        self.link = w.HTML()
        self.tokens = w.HTML()
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Progress")
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
        return str(self.customer.value).split(" ")[0]

    def _button(self, label: str, action: Callable[[], Any]) -> w.Button:
        button = w.Button(description=label, layout=w.Layout(width="auto"))
        button.on_click(lambda _: self.run(label, action))
        return button

    def run(self, label: str, action: Callable[[], Any]) -> None:
        """Run one action, showing its result or refusal in the output area (and in ``messages``)."""
        self.progress.value, self.progress.bar_style = 0, ""
        try:
            result = action()
        except OvoNbError as exc:
            self.progress.bar_style = "danger"
            message = f"{label}: {type(exc).__name__}: {exc}"
        else:
            self.progress.value, self.progress.bar_style = 1, "success"
            message = f"{label}: done" + ("" if result is None else f"\n{result}")
        self.messages.append(message)
        with self.output:
            self.output.clear_output()
            print(message)
        self.refresh_tokens()

    def _show_link(self, url: str) -> None:
        self.link.value = (f'<a href="{escape(url)}" target="_blank">Open the OVO webview</a> '
                           f"<code>{escape(redact_url(url))}</code>")

    def _start_binding(self) -> str:
        self.pending = self.ovo.start_binding(self.phone)
        self._show_link(self.pending.webview_url)
        return self._autocomplete(self.pending.webview_url, stage_otp(self.phone), SANDBOX_TEST_PIN)

    def _start_payment(self) -> str:
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
        pending, self.pending = self.pending, None
        if isinstance(pending, PendingBinding):
            return self.ovo.finish_binding(pending, self.callback.value)
        return self.ovo.finish_payment(pending, self.callback.value)

    def refresh_tokens(self) -> None:
        """Which tokens the vault holds for the customer, and how long they last (never their values)."""
        rows = "".join(
            f"<tr><td>{t.kind}</td><td>{'usable' if t.usable else escape(t.revoked or 'expired')}</td>"
            f"<td>{_time_left(t)}</td></tr>"
            for t in self.ovo.vault.status(self.phone) if self.phone.isdigit())
        self.tokens.value = ("<b>Tokens</b><table><tr><th>kind</th><th>state</th><th>time left</th></tr>"
                             f"{rows or '<tr><td colspan=3>none yet</td></tr>'}</table>")


def _time_left(token: Any) -> str:
    if not token.usable:
        return "-"
    return "no expiry" if token.seconds_left is None else f"{token.seconds_left / 60:,.0f} min"


def flow_panel(walkthrough: Walkthrough) -> FlowPanel | None:
    """Display the panel in JupyterLab; in a headless run, say so and return ``None``."""
    if os.environ.get(RUN_DIR_ENV) or os.environ.get("PAPERMILL_EXECUTION"):
        print("Interactive panel skipped: this run is headless and used the notebook's parameters.")
        return None
    from IPython.display import display

    panel = FlowPanel(walkthrough)
    display(panel.box)  # type: ignore[no-untyped-call]
    return panel
