"""Prove it: a short soak with faults and a restart, and the security properties, as tests."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx
import pytest
from sandbox_harness import BROKE, RICH, Harness

from bench.soak import run_soak
from ovo_nb.client import SnapRequestBuilder
from ovo_nb.keys import generate_private_key, public_key_pem
from ovo_nb.sandbox import default_sandbox_dir

JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


@pytest.mark.timeout(600)
def test_a_short_soak_keeps_every_invariant(tmp_path: Path) -> None:
    report = run_soak(tmp_path, customers=4, payments=60, workers=3, fault_rate=0.15)
    assert report.ok, (report.invariants, report.problems)
    assert report.restarts == 1 and sum(report.faults.values()) >= 5
    assert report.payments_attempted == 60 and report.payments_paid > 30


def test_a_captured_request_cannot_be_replayed(h: Harness) -> None:
    bound = h.bind(RICH)
    request = h.builder.build("balance_inquiry", {"partnerReferenceNo": "B-1"}, token=bound.access)
    assert h.send(request).json()["responseCode"] == "2001100"
    replay = httpx.Request("POST", request.url, headers=request.headers, content=request.content)
    assert h.send(replay).json()["responseCode"] == "4091100"  # same X-EXTERNAL-ID
    old = h.builder.build("balance_inquiry", {"partnerReferenceNo": "B-2"}, token=bound.access,
                          headers={"X-TIMESTAMP": "2020-01-01T00:00:00.000+07:00"})
    assert h.send(old).json()["responseCode"] == "4011100"  # a timestamp outside the window


def test_another_partners_key_cannot_sign_for_us(h: Harness) -> None:
    intruder_key = generate_private_key()
    h.sandbox.register_partner(public_key_pem(intruder_key, "pkcs1"), client_id="oamerchantintruder")
    forged = SnapRequestBuilder(h.partner.client_id, "guess", intruder_key, channel_id=h.partner.channel_id)
    assert h.call("b2b_token", {"grantType": "client_credentials"}, builder=forged).json()["responseCode"] == "4017300"
    h.call("lookup", query={"phone": RICH})
    answer = h.call("account_binding", {"phoneNo": RICH, "merchantId": h.partner.merchant_id}, builder=forged)
    assert answer.json()["responseCode"] == "4010700"


def test_one_customers_tokens_cannot_act_for_another(h: Harness) -> None:
    rich, broke = h.bind(RICH), h.bind(BROKE)
    assert h.pay(rich, "INV-RICH").json()["responseCode"] == "2005400"
    assert h.status(broke, "INV-RICH").json()["responseCode"] == "4045501"
    first = h.call("debit_payment", h.payment_body("INV-R2"), token=rich.access).json()
    rich_single_use = h.single_use_token(first, rich.access)
    h.call("debit_payment", h.payment_body("INV-B2", "500.00"), token=broke.access)
    stolen = h.call("debit_payment", h.payment_body("INV-B2", "500.00"), token=rich_single_use)
    assert stolen.json()["responseCode"] == "4015402"
    assert h.call("debit_payment", h.payment_body("INV-R2"), token=broke.access).json()["responseCode"] == "4015402"


def test_the_partner_key_files_are_private() -> None:
    from ovo_nb.flows import Ovo

    with Ovo.open() as ovo:
        profile = ovo.profile
    folder = default_sandbox_dir()
    for name in ("partner_private_key.pem", "partner_private_key.passphrase", "credentials.toml"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert profile.private_key_path.read_text().startswith("-----BEGIN ENCRYPTED " + "PRIVATE KEY-----")  # split: no key text in the repo

