"""Access tokens: the partner's B2B token (73) and the customer's B2B2C token (74)."""

from __future__ import annotations

from datetime import datetime

from ...snap import ACCESS_TOKEN_LIFETIME, B2B_TOKEN_LIFETIME
from .._state import State, now_text
from .._types import SnapError
from ..gateway import Answer, Call, bearer, text_field
from .account import activate_binding


def grant_type(call: Call, *choices: str) -> str:
    """``grantType`` as SNAP spells it; another letter case is a tolerance (lenient partners only)."""
    grant = str(text_field(call.body, "grantType"))
    for choice in choices:
        if grant == choice:
            return choice
        if grant.lower() == choice.lower():
            call.tolerate(f"grantType {grant!r} is spelt {choice!r} in SNAP.",
                          SnapError(400, "01", field="grantType", extra={"_sandbox": {"hint": f"Send {choice!r}."}}))
            return choice
    raise SnapError(400, "01", field="grantType", extra={"_sandbox": {"hint": f"One of {', '.join(choices)}."}})


def b2b_token(st: State, call: Call) -> Answer:
    grant_type(call, "client_credentials")
    token, _ = st.issue_token("b2b", call.client_id, B2B_TOKEN_LIFETIME)
    return 200, {"responseCode": "2007300", "responseMessage": "Successful", "accessToken": token,
                 "tokenType": "Bearer", "expiresIn": str(int(B2B_TOKEN_LIFETIME.total_seconds())),
                 "additionalInfo": {}}


def b2b2c_token(st: State, call: Call) -> Answer:
    """AUTHORIZATION_CODE (the binding webview's authCode, with the linkageToken) or REFRESH_TOKEN."""
    client_id = call.client_id
    grant = grant_type(call, "AUTHORIZATION_CODE", "REFRESH_TOKEN")
    now = st.now()
    if grant == "AUTHORIZATION_CODE":
        linkage = st.check_token(bearer(call, "Authorization", b2b=False), client_id, ("linkage",), b2b=False)
        code = text_field(call.body, "authCode", max_len=256)
        row = st.store.one("SELECT * FROM auth_codes WHERE code = ? AND kind = 'binding'", code)
        if (row is None or row["binding_id"] != linkage.binding_id or row["used_at"]
                or now >= datetime.fromisoformat(row["expires_at"])):
            raise SnapError(401, "00", reason="Invalid Auth Code",
                            extra={"_sandbox": {"hint": "Use the authCode the binding webview returned, once."}})
        st.store.run("UPDATE auth_codes SET used_at = ? WHERE code = ?", now_text(now), code)
        st.revoke("token = ?", (linkage.token,), "exchanged for an access token")
        binding_id, phone = linkage.binding_id, linkage.phone
        assert phone is not None
        refresh = activate_binding(st, client_id, binding_id, phone)
    else:
        refresh = str(text_field(call.body, "refreshToken", max_len=512))
        info = st.check_token(refresh, client_id, ("refresh",), b2b=False)
        binding_id, phone = info.binding_id, info.phone
    access, expires = st.issue_token("access", client_id, ACCESS_TOKEN_LIFETIME, phone=phone, binding_id=binding_id)
    customer = st.store.one("SELECT ilp FROM customers WHERE phone = ?", phone)
    assert expires is not None
    return 200, {
        "responseCode": "2007400", "responseMessage": "Successful", "tokenType": "Bearer",
        "accessToken": access, "accessTokenExpiryTime": expires.isoformat(timespec="seconds"),
        "refreshToken": refresh, "refreshTokenExpiryTime": "",
        "additionalInfo": {"ilp": customer["ilp"] if customer else ""},
    }
