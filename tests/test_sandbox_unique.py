"""A key twice in one JSON body is refused by name; an existing customer is replaced only on purpose, in her ledger."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sandbox_harness import RICH, Harness
from test_sandbox_negative import resign_symmetric

from ovo_nb.errors import ValidationError
from ovo_nb.sandbox import SandboxServer, SandboxTransport
from ovo_nb.signing import serialize_body


def signed_raw(h: Harness, api: str, body: dict[str, object], raw: bytes, token: str) -> httpx.Request:
    """The request ``api`` would send for ``body``, carrying ``raw`` instead, correctly signed over ``raw``."""
    request = h.builder.build(api, body, token=token)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return resign_symmetric(h, httpx.Request(request.method, request.url, headers=headers, content=raw), token)


@pytest.mark.rule("GW-BODY-UNIQUE-KEYS")
@pytest.mark.parametrize("twice", ["amount", "value"])
def test_a_signed_debit_with_a_key_twice_is_refused_naming_it(h: Harness, twice: str) -> None:
    bound = h.bind(RICH)
    before = h.sandbox.customer_view(RICH)["cash"]
    body = h.payment_body("INV-TWICE", "1.00")
    compact = serialize_body(body)
    if twice == "amount":  # 1.00, then 5,000,000.00: a last-wins parser would charge the second
        raw = compact.replace(b'"amount":{"value":"1.00","currency":"IDR"}',
                              b'"amount":{"value":"1.00","currency":"IDR"},"amount":{"value":"5000000.00","currency":"IDR"}')
    else:
        raw = compact.replace(b'"value":"1.00"', b'"value":"1.00","value":"5000000.00"')
    assert raw != compact
    answer = h.send(signed_raw(h, "debit_payment", body, raw, bound.access))
    assert answer.status_code == 400, answer.text
    assert answer.json()["responseCode"] == "4005400"
    assert answer.json()["responseMessage"] == f"Bad Request. Duplicate JSON key: {twice}"
    assert h.sandbox.customer_view(RICH)["cash"] == before
    assert h.status(bound, "INV-TWICE").json()["responseCode"] == "4045501"  # OVO never saw a payment
    honest = h.send(signed_raw(h, "debit_payment", body, compact, bound.access))
    assert honest.json()["responseCode"] == "2025400"  # the same bytes without the repeat are fine


@pytest.mark.rule("GW-BODY-UNIQUE-KEYS", "HOSTILE-ADMIN")
def test_an_admin_body_with_a_key_twice_is_refused_naming_it(h: Harness) -> None:
    admin = httpx.Client(transport=SandboxTransport(h.sandbox))
    answer = admin.post("http://ovo-sandbox.local/_sandbox/customers",
                        content=b'{"phone": "081311110000", "cash": "1.00", "cash": "999999999.00"}')
    assert answer.status_code == 400 and "'cash' appears twice" in answer.json()["error"]
    assert admin.get("http://ovo-sandbox.local/_sandbox/customers/081311110000").status_code == 400  # not made


def _ledger_matches(view: dict[str, str], movements: list[dict[str, str]]) -> bool:
    return not movements or movements[-1]["balanceAfter"] == view["cash"]


@pytest.mark.rule("ADMIN-REPLACE")
def test_posting_an_existing_customer_is_a_conflict_unless_replaced_and_a_replace_is_in_her_ledger(
        h: Harness) -> None:
    admin = httpx.Client(transport=SandboxTransport(h.sandbox))
    url = "http://ovo-sandbox.local/_sandbox/customers"
    bound = h.bind(RICH)
    assert h.pay(bound, "INV-R1", "1500.00").json()["responseCode"] == "2005400"
    before = h.sandbox.customer_view(RICH)
    refused = admin.post(url, json={"phone": RICH, "cash": "50.00"})
    assert refused.status_code == 409 and '"replace": true' in refused.json()["error"]
    assert h.sandbox.customer_view(RICH) == before  # untouched
    moves = len(h.sandbox.customer_ledger(RICH))
    replaced = admin.post(url, json={"phone": RICH, "cash": "50.00", "points": before["points"], "replace": True})
    assert replaced.status_code == 200 and replaced.json()["cash"] == "50.00"
    ledger = h.sandbox.customer_ledger(RICH)
    assert len(ledger) == moves + 1  # cash moved; points did not
    adjustment = ledger[-1]
    assert adjustment["entry"] == "ADJUST" and adjustment["balanceType"] == "CASH"
    assert Decimal(adjustment["amount"]) == Decimal(before["cash"]) - Decimal("50.00")
    assert _ledger_matches(h.sandbox.customer_view(RICH), ledger)
    assert h.status(bound, "INV-R1").json()["latestTransactionStatus"] == "00"  # her history stays
    same = admin.post(url, json={"phone": RICH, "cash": "50.00", "points": before["points"], "replace": True})
    assert same.status_code == 200 and len(h.sandbox.customer_ledger(RICH)) == moves + 1  # no change, no entry
    created = admin.post(url, json={"phone": "081311110001", "cash": "10.00", "replace": True})
    assert created.status_code == 201  # replace of nobody creates her


@pytest.mark.rule("ADMIN-REPLACE")
def test_the_admin_clients_refuse_and_replace_the_same_way(h: Harness) -> None:
    from ovo_nb.environments import sandbox_admin

    with SandboxServer(h.sandbox) as server:
        admin = sandbox_admin(server.url)
        try:
            phone = admin.add_customer("081311110002", cash="100.00")
            with pytest.raises(ValidationError, match="already a sandbox customer"):
                admin.add_customer(phone, cash="1.00")
            assert admin.add_customer(phone, cash="1.00", replace=True) == phone
            assert admin.customer(phone)["cash"] == "1.00"
            assert admin.customer_ledger(phone)[-1]["entry"] == "ADJUST"
        finally:
            admin.close()
