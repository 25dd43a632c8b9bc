"""A realistic period of sandbox traffic, for reconciliation drills and demos.

:func:`simulate_period` drives the real flows over several (simulated) days: customers bind,
pay, get partial refunds; some payments fail (insufficient funds, an abandoned PIN page); and,
on request, one deliberate discrepancy of each kind is made, the way they happen in real life:
an answer lost in a timeout, a payment or refund made outside the partner's records, a ledger
row for a call that never left, and a settlement line OVO got wrong (sandbox admin).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from .config import throwaway_sandbox_profile
from .errors import OvoNbError, ValidationError
from .flows import Ovo
from .snap import JAKARTA, ManualClock
from .testbed import SANDBOX_TEST_PIN

__all__ = ["Drill", "drill_session", "planted_vs_found", "sandbox_settlement", "simulate_period"]

PLANTED_CATEGORY = {
    "abandoned PIN page": "status_mismatch",
    "lost answer (status mismatch)": "status_mismatch",
    "missing at partner": "missing_at_partner",
    "missing at OVO": "missing_at_ovo",
    "amount mismatch": "amount_mismatch",
    "refund missing at partner": "refund_mismatch",
    "duplicate row": "duplicate",
}
"""The category reconciliation must put each planted discrepancy in."""


@dataclass
class Drill:
    """What the simulation did, to compare with what reconciliation finds."""

    payments: int = 0
    refunds: int = 0
    failures: int = 0
    discrepancies: dict[str, str] = field(default_factory=dict)
    """Kind of discrepancy -> the reference it was made on."""

    def plant_duplicate(self, partner: pd.DataFrame) -> pd.DataFrame:
        """The partner side with its first payment repeated, as a faulty export would; recorded as planted."""
        first = partner[partner["record_type"] == "PAYMENT"].iloc[[0]]
        self.discrepancies["duplicate row"] = str(first["partner_reference_no"].iloc[0])
        return pd.concat([partner, first], ignore_index=True)


def planted_vs_found(drill: Drill, rows: pd.DataFrame) -> pd.DataFrame:
    """One line per planted discrepancy: where it should land, where reconciliation put it, and ``found``.

    A planted discrepancy is found when a row of its reference carries its category, whatever
    else happened to the same reference (a duplicated payment can also have a wrong amount).
    """
    lines = []
    for kind, reference in drill.discrepancies.items():
        expected = PLANTED_CATEGORY[kind]
        mine = rows[(rows["partner_reference_no"] == reference) | (rows["partner_refund_no"] == reference)]
        categories = sorted(set(mine["category"]))
        lines.append({"planted": kind, "reference": reference, "expected": expected.replace("_", " "),
                      "found": ", ".join(c.replace("_", " ") for c in categories) or "(no row)",
                      "ok": expected in categories})
    return pd.DataFrame(lines, columns=["planted", "reference", "expected", "found", "ok"])


def drill_session(folder: str | Path, *, days: int) -> tuple[Ovo, ManualClock]:
    """A throw-away sandbox session whose test clock starts ``days + 1`` days ago.

    Its sandbox lives in memory and its ledger, vault and call log under ``folder/state``, so
    a drill never mixes with the shared sandbox or the partner's real records.
    """
    clock = ManualClock(datetime.now(JAKARTA) - timedelta(days=days + 1))
    profile = throwaway_sandbox_profile(Path(folder) / "state")
    return Ovo.open(profile, clock=clock, sandbox_state=":memory:", sleep=lambda seconds: None), clock


def sandbox_settlement(ovo: Ovo) -> pd.DataFrame:
    """OVO's side: the in-process sandbox's settlement export as a DataFrame."""
    if ovo.sandbox is None:
        raise ValidationError("The settlement export comes from the in-process sandbox; pass OVO's report file.")
    return pd.read_csv(io.StringIO(ovo.sandbox.settlement_csv()), dtype=str, keep_default_na=False)


def simulate_period(ovo: Ovo, clock: ManualClock, *, days: int = 3, payments_per_day: int = 6,
                    refund_every: int = 3, discrepancies: bool = True) -> Drill:
    """Traffic over ``days`` days through the real flows (the sandbox clock moves with ``clock``)."""
    if ovo.sandbox is None:
        raise ValidationError("Traffic is simulated against the in-process sandbox only.")
    if days < 1 or payments_per_day < 1:
        raise ValidationError("days and payments_per_day must be at least 1.")
    drill = Drill()
    customers = [ovo.sandbox.add_customer(f"0813{n:08d}", name=f"Drill customer {n}", cash="5000000", replace=True)
                 for n in range(1, 4)]  # the drill's own customers, reset each time
    broke = ovo.sandbox.add_customer("081399999999", name="Drill broke", cash="1000", replace=True)
    for phone in [*customers, broke]:
        ovo.bind(phone)
    count = 0
    for day in range(days):
        for n in range(payments_per_day):
            count += 1
            phone = customers[count % len(customers)]
            amount = Decimal(10_000 + 2_500 * (count % 7))
            outcome = ovo.pay(phone, amount)
            drill.payments += 1
            if count % refund_every == 0:
                ovo.refund(outcome.partner_reference_no, amount / 2, reason="partial return")
                drill.refunds += 1
            clock.advance(timedelta(minutes=37 + n))
        try:
            ovo.pay(broke, "25000")
        except OvoNbError:
            drill.failures += 1
        abandoned = ovo.start_payment(customers[0], "12000")  # the customer never types the PIN
        drill.failures += 1
        if day == 0:
            drill.discrepancies["abandoned PIN page"] = abandoned.partner_reference_no
        clock.advance(timedelta(days=1) - timedelta(minutes=37 * payments_per_day))
    if discrepancies:
        _discrepancies(ovo, customers, drill)
    return drill


def _discrepancies(ovo: Ovo, customers: list[str], drill: Drill) -> None:
    sandbox = ovo.sandbox
    assert sandbox is not None, "simulate_period checked it"
    # an answer lost after OVO committed the debit, and status inquiries failing too
    pending = ovo.start_payment(customers[1], "33000")
    callback = ovo.complete_webview(pending.webview_url, SANDBOX_TEST_PIN)  # type: ignore[misc]
    sandbox.add_fault("debit_payment", "timeout_after_commit")
    sandbox.add_fault("debit_status", "drop_before", count=10)
    try:
        ovo.finish_payment(pending, callback)
    except OvoNbError:
        drill.discrepancies["lost answer (status mismatch)"] = pending.partner_reference_no
    sandbox.clear_faults()
    # a payment made outside the partner's records (a second system, a manual test)
    outside = ovo.client.payment_body(ovo.ledger.new_reference("EXT"), "41000", recurring=True)
    ovo.client.debit_payment(ovo.access_token(customers[2]), outside)
    drill.discrepancies["missing at partner"] = outside["partnerReferenceNo"]
    sent = [p for p in ovo.ledger.payments("PAID") if p.partner_reference_no.startswith("INV-")]
    # a ledger row for a call that never left (a crash between the write and the call)
    ghost = ovo.ledger.new_reference("GHOST")
    ovo.ledger.add_payment(ghost, customers[0], Decimal("19000.00"), {})
    ovo.ledger.update_payment(ghost, "PAID", note="recorded, never sent")
    drill.discrepancies["missing at OVO"] = ghost
    # a settlement line OVO got wrong
    paid = sent[0]
    sandbox.tamper_payment(paid.partner_reference_no, amount=str(paid.amount + 1000))
    drill.discrepancies["amount mismatch"] = paid.partner_reference_no
    # a refund made outside the partner's records
    target = sent[-1]
    refund = ovo.client.refund_body(target.partner_reference_no, ovo.ledger.new_reference("EXTRF"), "1000")
    ovo.client.debit_refund(ovo.b2b_token(), refund)
    drill.discrepancies["refund missing at partner"] = refund["partnerRefundNo"]
