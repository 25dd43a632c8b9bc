"""Balance inquiry (11) and the non-SNAP top-up instructions."""

from __future__ import annotations

from ...snap import money
from .._state import State
from .._types import SnapError
from ..gateway import Answer, Call, customer_token, device_headers, text_field

BALANCE_TYPES = ("CASH", "POINTS")
"""OVO Cash and OVO Points, the balances a customer pays from."""


def balance_inquiry(st: State, call: Call) -> Answer:
    info = customer_token(st, call, ("access",))
    device_headers(call, transactional=True)
    text_field(call.body, "partnerReferenceNo", required=False)
    wanted = call.body.get("balanceTypes")
    if wanted is not None and (not isinstance(wanted, list) or any(w not in BALANCE_TYPES for w in wanted)):
        raise SnapError(400, "01", field="balanceTypes",
                        extra={"_sandbox": {"hint": "balanceTypes is a list of CASH and/or POINTS."}})
    customer = st.customer(info.phone)
    if customer["status"] != "ACTIVE":
        raise SnapError(403, "18")
    accounts = [
        {"balanceType": kind, "amount": money(customer[kind.lower()]),
         "availableBalance": money(customer[kind.lower()]), "status": "0001"}
        for kind in BALANCE_TYPES if not wanted or kind in wanted
    ]
    return 200, {"responseCode": "2001100", "responseMessage": "Successful",
                 "partnerReferenceNo": call.body.get("partnerReferenceNo") or "", "accountInfos": accounts}


def topup_options(st: State, call: Call) -> Answer:
    options = [{"channel": c, "instruction": f"Top up OVO Cash through {c} with your OVO phone number."}
               for c in ("ATM", "Mobile Banking", "Internet Banking", "Minimarket")]
    return 200, {"responseCode": "2000000", "responseMessage": "Successful", "options": options}
