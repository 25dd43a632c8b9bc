"""The handler table: each OVO API, by its name in :data:`ovo_nb.snap.ENDPOINTS`, to the function serving it.

A handler gets the state and a :class:`~ovo_nb.sandbox.gateway.Call` that passed the gateway,
checks its token, headers and fields, applies OVO's business rules and returns the answer.
"""

from __future__ import annotations

from collections.abc import Callable

from .._state import State
from ..gateway import Answer, Call
from . import account, balance, debit, tokens

Handler = Callable[[State, Call], Answer]

HANDLERS: dict[str, Handler] = {
    "b2b_token": tokens.b2b_token,
    "b2b2c_token": tokens.b2b2c_token,
    "lookup": account.lookup,
    "account_binding": account.account_binding,
    "account_unbinding": account.account_unbinding,
    "balance_inquiry": balance.balance_inquiry,
    "topup_options": balance.topup_options,
    "debit_payment": debit.debit_payment,
    "generate_token": debit.generate_token,
    "debit_status": debit.debit_status,
    "debit_refund": debit.debit_refund,
}

__all__ = ["HANDLERS", "Handler"]
