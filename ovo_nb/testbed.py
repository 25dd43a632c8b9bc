"""The sandbox's documented test data, shared by the sandbox that seeds it and the client that uses it.

The default partner, its callback URLs, the test customers with what each one triggers, and
their Security PIN (the OTP is OVO stage's: the last 4 digits of the phone,
:func:`ovo_nb.snap.stage_otp`). One place, so a notebook, a test and the sandbox never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._files import ovo_nb_home

__all__ = ["ADMIN_PATH", "DEFAULT_CALLBACK_URLS", "DEFAULT_CHANNEL_ID", "DEFAULT_CLIENT_ID", "DEFAULT_MERCHANT_ID",
           "DEFAULT_PARTNER_NAME", "IN_PROCESS_URL", "SANDBOX_PORT", "SANDBOX_SERVER_URL", "SANDBOX_TEST_PIN",
           "TEST_CUSTOMERS", "WEBVIEW_COMPLETE", "sandbox_dir"]

ADMIN_PATH = "/_sandbox"
"""Where a sandbox serves its admin API (loopback only), under its base URL."""
WEBVIEW_COMPLETE = "webview/complete"
"""The admin route that plays the customer at a webview (``POST {ADMIN_PATH}/webview/complete``)."""
IN_PROCESS_URL = "http://ovo-sandbox.local"
"""The base URL of the sandbox running in this process (no socket behind it)."""
SANDBOX_PORT = 8765
"""Where ``ovo-nb sandbox`` listens unless told otherwise."""
SANDBOX_SERVER_URL = f"http://127.0.0.1:{SANDBOX_PORT}"
"""The loopback sandbox's base URL by default, for tools outside this process (Postman, ``ovo-nb trigger``)."""
DEFAULT_CLIENT_ID = "oamerchantsandbox"
DEFAULT_MERCHANT_ID = "MSANDBOX01"
DEFAULT_CHANNEL_ID = "95221"
DEFAULT_PARTNER_NAME = "Sandbox Merchant"
DEFAULT_CALLBACK_URLS = ("https://partner.example.com/ovo/callback", "https://partner.example.com/ovo/error")
"""The default partner's registered callback URL and (second) error-redirect URL."""
SANDBOX_TEST_PIN = "123456"
"""The Security PIN of the sandbox's test customers (OVO stage accounts choose their own)."""

TEST_CUSTOMERS: tuple[dict[str, Any], ...] = (
    {"phone": "081234567890", "name": "Rich Rina", "cash": "10000000.00", "points": "50000.00",
     "purpose": "everything succeeds; OTP 7890, PIN 123456"},
    {"phone": "081200000001", "name": "Broke Budi", "cash": "1000.00", "points": "0.00",
     "purpose": "any payment above IDR 1,000 fails with 4035414 Insufficient Funds"},
    {"phone": "081200000002", "name": "Closed Citra", "cash": "500000.00", "status": "CLOSED",
     "purpose": "account CLOSED: lookup says CLOSED, binding fails with 4030718"},
    {"phone": "081200000003", "name": "New Nadia", "registered": False,
     "purpose": "no OVO account: lookup says CAN_REGISTER, binding fails with 4040711"},
    {"phone": "081200000004", "name": "Locked Lukas", "cash": "500000.00", "pin_locked": True,
     "purpose": "PIN permanently blocked: lookup says BLOCKED_MSISDN; the binding webview stops at the PIN"},
    {"phone": "081200000005", "name": "Points Putri", "cash": "0.00", "points": "1000000.00",
     "purpose": "only OVO Points: pay with payOptionDetails payMethod POINTS"},
)
"""The test customers every fresh sandbox has (PIN 123456, OTP = last 4 digits)."""


def sandbox_dir() -> Path:
    """``~/.ovo-nb/sandbox``: the sandbox state and the default partner's key and credentials."""
    return ovo_nb_home() / "sandbox"
