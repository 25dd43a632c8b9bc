"""The sandbox refuses what OVO refuses: one test per rule the first round left lenient, and the
edges no other test reaches (the end of a block, a token's own expiry, Jakarta midnight)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
import pytest
from sandbox_harness import CALLBACK, LOCKED, PIN, RICH, Bound, Harness

from ovo_nb import signing
from ovo_nb.errors import ValidationError
from ovo_nb.sandbox import WebviewRefusal
from ovo_nb.snap import JAKARTA


def code(response: httpx.Response) -> str:
    return str(response.json()["responseCode"])


def cash(h: Harness, phone: str = RICH) -> Decimal:
    return Decimal(h.sandbox.customer_view(phone)["cash"])


def without(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if k != name}
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


# ----------------------------------------------------------------------------- tokens and the gateway


@pytest.mark.rule("TOK-STATUS-CUSTOMER", "TOK-KIND")
def test_status_refuses_the_b2b_token(h: Harness) -> None:
    bound = h.bind()
    assert code(h.pay(bound, "INV-1")) == "2005400"
    body = {"originalPartnerReferenceNo": "INV-1", "serviceCode": "54", "merchantId": h.partner.merchant_id}
    refused = h.call("debit_status", body, token=h.b2b())
    assert (refused.status_code, code(refused)) == (401, "4015502")
    assert code(h.call("debit_status", body, token=bound.access)) == "2005500"


@pytest.mark.rule("GW-BEARER")
def test_authorization_needs_the_bearer_scheme(h: Harness) -> None:
    bound = h.bind()
    request = h.builder.build("balance_inquiry", {"partnerReferenceNo": "BAL-1"}, token=bound.access)
    request.headers["Authorization"] = bound.access  # signed over the bare token, sent without "Bearer "
    refused = h.send(request)
    assert code(refused) == "4011102" and "Bearer <token>" in refused.json()["_sandbox"]["hint"]


@pytest.mark.rule("GW-PATHS")
def test_the_b2b_token_lives_under_v1_only(h: Harness) -> None:
    request = h.builder.build("b2b_token", {"grantType": "client_credentials"})
    v2 = str(request.url).replace("/v1.0/", "/v2.0/")
    refused = h.send(httpx.Request("POST", v2, headers=request.headers, content=request.content))
    assert (refused.status_code, code(refused)) == (404, "4040002")
    assert code(h.send(request)) == "2007300"


@pytest.mark.rule("TOK-SINGLE-USE", "TOK-LIFETIMES")
def test_a_single_use_token_expires_on_its_own(h: Harness) -> None:
    bound = h.bind()
    body = h.payment_body("INV-1")
    first = h.call("debit_payment", body, token=bound.access).json()
    token = h.single_use_token(first, bound.access)  # the webview is opened and the token made at once
    h.sandbox.advance_clock(15 * 60 + 1)
    refused = h.call("debit_payment", body, token=token)
    assert code(refused) == "4015402" and refused.json()["_sandbox"]["hint"] == "token expired"
    assert cash(h) == Decimal("10000000.00")


@pytest.mark.rule("EXT-DAY")
def test_external_ids_are_free_again_after_jakarta_midnight(h: Harness) -> None:
    bound = h.bind()
    now = h.sandbox.clock.now()
    midnight = datetime(now.year, now.month, now.day, tzinfo=JAKARTA) + timedelta(days=1)
    h.sandbox.advance_clock((midnight - now).total_seconds() - 2)  # 23:59:58 WIB
    first = h.builder.build("balance_inquiry", {"partnerReferenceNo": "B1"}, token=bound.access,
                            headers={"X-EXTERNAL-ID": "424242"})
    assert code(h.send(first)) == "2001100"
    again = h.builder.build("balance_inquiry", {"partnerReferenceNo": "B2"}, token=bound.access,
                            headers={"X-EXTERNAL-ID": "424242"})
    assert code(h.send(again)) == "4091100"  # same day
    h.sandbox.advance_clock(4)  # 00:00:02 WIB: a new day
    next_day = h.builder.build("balance_inquiry", {"partnerReferenceNo": "B3"}, token=bound.access,
                               headers={"X-EXTERNAL-ID": "424242"})
    assert code(h.send(next_day)) == "2001100"


# ----------------------------------------------------------------------------- linkage


@pytest.mark.rule("LINK-UNBIND-REVOKES")
def test_a_payment_pending_at_unbinding_cannot_complete(h: Harness) -> None:
    bound = h.bind()
    body = h.payment_body("INV-1")
    first = h.call("debit_payment", body, token=bound.access).json()
    second = h.call("debit_payment", h.payment_body("INV-2"), token=bound.access).json()
    early = h.sandbox.webview_submit(h.webview_url(second, bound.access), PIN)  # PIN entered before unbinding
    assert early.ok and early.response
    assert code(h.unbind(bound)) == "2000900"
    with pytest.raises(WebviewRefusal, match="revoked"):
        h.sandbox.webview_submit(h.webview_url(first, bound.access), PIN)
    late = h.call("generate_token", query={"grantType": "authorization_code", "code": early.response["authCode"]})
    assert code(late) == "4010000"
    assert code(h.call("debit_payment", body, token=bound.access)) == "4015402"
    assert cash(h) == Decimal("10000000.00")  # nothing was deducted
    status = h.sandbox.settlement_csv()
    assert "INV-1" in status and "CANCELED" in status


@pytest.mark.rule("LINK-UNBIND-REVOKES")
def test_a_single_use_token_made_before_unbinding_dies_with_it(h: Harness) -> None:
    bound = h.bind()
    body = h.payment_body("INV-1")
    first = h.call("debit_payment", body, token=bound.access).json()
    token = h.single_use_token(first, bound.access)
    assert code(h.unbind(bound)) == "2000900"
    assert code(h.call("debit_payment", body, token=token)) == "4015402"
    assert cash(h) == Decimal("10000000.00")


@pytest.mark.rule("LINK-ONE")
def test_parallel_bindings_of_one_phone_leave_one_active(h: Harness) -> None:
    started = [h.start_binding() for _ in range(5)]
    results: list[dict[str, str]] = []
    lock = threading.Lock()

    def finish(answer: dict[str, object]) -> None:
        linkage = str(answer["linkageToken"])
        outcome = h.sandbox.webview_submit(h.webview_url(answer, linkage), RICH[-4:], PIN)  # type: ignore[arg-type]
        assert outcome.response
        tokens = h.call("b2b2c_token", {"grantType": "AUTHORIZATION_CODE", "authCode": outcome.response["authCode"]},
                        token=linkage).json()
        with lock:
            results.append(tokens)

    threads = [threading.Thread(target=finish, args=(answer,)) for answer in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 5 and all(r["responseCode"] == "2007400" for r in results)
    active = h.sandbox.store.all("SELECT id FROM bindings WHERE phone = ? AND status = 'ACTIVE'", RICH)
    assert len(active) == 1
    working = [r for r in results if code(h.call("balance_inquiry", {}, token=r["accessToken"])) == "2001100"]
    assert len(working) == 1  # the superseded bindings' tokens are revoked
    h.sandbox.advance_clock(31 * 60)  # five binding OTPs were the limit; the unbinding sends another
    assert code(h.unbind(Bound(RICH, working[0]["accessToken"], working[0]["refreshToken"]))) == "2000900"
    for tokens in results:
        refreshed = h.call("b2b2c_token", {"grantType": "REFRESH_TOKEN", "refreshToken": tokens["refreshToken"]})
        assert code(refreshed) == "4017402"
    assert h.call("lookup", query={"phone": RICH}).json()["accountStatus"] == "ACTIVE"


@pytest.mark.rule("LINK-APP-UNLINK")
def test_unlinking_in_the_ovo_app_breaks_the_partners_tokens(h: Harness) -> None:
    bound = h.bind()
    assert h.sandbox.unlink_in_app(RICH) == [h.partner.client_id]
    assert code(h.call("balance_inquiry", {}, token=bound.access)) == "4011102"
    assert code(h.call("b2b2c_token", {"grantType": "REFRESH_TOKEN", "refreshToken": bound.refresh})) == "4017402"
    with pytest.raises(ValidationError, match="no active binding"):
        h.sandbox.unlink_in_app(RICH)


@pytest.mark.rule("PIN-BINDING-2FA", "PIN-BLOCKS")
def test_binding_asks_the_security_pin_and_a_blocked_customer_cannot_bind(h: Harness) -> None:
    answer = h.start_binding()
    url = h.webview_url(answer, answer["linkageToken"])
    otp = h.sandbox.webview_submit(url, RICH[-4:])
    assert not otp.ok and otp.next_step == "PIN" and otp.response is None  # no authCode on the OTP alone
    assert h.sandbox.webview_submit(url, "000000").attempts_left == 2  # wrong PINs count as at payment
    assert h.sandbox.webview_submit(url, PIN).ok
    locked = h.start_binding(LOCKED)
    refused = h.sandbox.webview_submit(h.webview_url(locked, locked["linkageToken"]), LOCKED[-4:], PIN)
    assert not refused.ok and "permanently" in refused.message and refused.response is None


@pytest.mark.rule("OTP-GENERATIONS")
def test_unbinding_otps_count_towards_the_limit(h: Harness) -> None:
    bound = h.bind()  # 1st OTP
    for n in range(4):  # 2nd to 5th: the unbinding webview sends one each time
        first = h.call("account_unbinding", {"partnerReferenceNo": f"UB-{n}", "authCode": None}, token=bound.access)
        assert code(first) == "2000900"
    sixth = h.call("account_unbinding", {"partnerReferenceNo": "UB-5", "authCode": None}, token=bound.access)
    assert code(sixth) == "4030911"


@pytest.mark.rule("OTP-FAILURES")
def test_the_otp_block_ends_after_thirty_minutes_not_before(h: Harness) -> None:
    answer = h.start_binding()
    url = h.webview_url(answer, answer["linkageToken"])
    for _ in range(5):
        outcome = h.sandbox.webview_submit(url, "0000")
    assert "Too many wrong OTPs" in outcome.message
    h.sandbox.advance_clock(29 * 60 + 59)
    assert code(h.call("account_binding", {"phoneNo": RICH, "merchantId": h.partner.merchant_id})) == "4030711"
    h.sandbox.advance_clock(2)  # 30:01
    h.call("lookup", query={"phone": RICH})
    assert code(h.call("account_binding", {"phoneNo": RICH, "merchantId": h.partner.merchant_id})) == "2000700"


# ----------------------------------------------------------------------------- the webview


@pytest.mark.rule("WV-PARAMS")
@pytest.mark.parametrize("name", ["submissionType", "action", "authType", "phoneNumber", "destination", "token"])
def test_a_webview_url_without_a_faq_parameter_is_refused_by_name(h: Harness, name: str) -> None:
    answer = h.start_binding()
    url = without(h.webview_url(answer, answer["linkageToken"]), name)
    page = h.http.get(url)
    assert page.status_code == 400 and name in page.text
    with pytest.raises(WebviewRefusal, match=name):
        h.sandbox.webview_submit(url, RICH[-4:], PIN)


@pytest.mark.rule("WV-PARAMS")
def test_a_webview_url_must_match_its_step(h: Harness) -> None:
    answer = h.start_binding()
    url = h.webview_url(answer, answer["linkageToken"]).replace("action=otpLinkage", "action=pinPayment")
    with pytest.raises(WebviewRefusal, match="action"):
        h.sandbox.webview_submit(url, RICH[-4:], PIN)


@pytest.mark.rule("WV-TOKEN", "TOK-LIFETIMES")
def test_an_expired_linkage_token_cannot_open_the_webview(h: Harness) -> None:
    answer = h.start_binding()
    url = h.webview_url(answer, answer["linkageToken"])
    h.sandbox.advance_clock(5 * 60 + 1)
    page = h.http.get(url)  # the partner registered an error URL: OVO sends the failure there
    assert page.status_code == 303 and "token expired" in unquote(page.headers["Location"])
    with pytest.raises(WebviewRefusal, match="token expired"):
        h.sandbox.webview_submit(url, RICH[-4:], PIN)
    bound = h.bind()
    first = h.call("account_unbinding", {"partnerReferenceNo": "UB-1", "authCode": None}, token=bound.access).json()
    h.sandbox.advance_clock(5 * 60 + 1)
    with pytest.raises(WebviewRefusal, match="token expired"):
        h.sandbox.webview_submit(h.webview_url(first, first["linkageToken"]), RICH[-4:])


@pytest.mark.rule("WV-TIMEOUT", "DD-TIMEOUT")
def test_the_debit_window_runs_from_opening_the_webview(h: Harness) -> None:
    bound = h.bind()
    body = h.payment_body("INV-1")
    first = h.call("debit_payment", body, token=bound.access).json()
    h.sandbox.advance_clock(10 * 60)
    assert h.http.get(h.webview_url(first, bound.access)).status_code == 200  # opened 10 minutes in
    h.sandbox.advance_clock(10 * 60)  # 20 minutes after the 1st call, 10 after opening
    token = h.single_use_token(first, bound.access)
    assert code(h.call("debit_payment", body, token=token)) == "2005400"
    unopened = h.call("debit_payment", h.payment_body("INV-2"), token=bound.access).json()
    h.sandbox.advance_clock(15 * 60 + 1)  # a link nobody opened lives 15 minutes too
    with pytest.raises(WebviewRefusal, match="expired"):
        h.sandbox.webview_submit(h.webview_url(unopened, bound.access), PIN)


@pytest.mark.rule("WV-ERROR-REDIRECT", "WV-WRONG-STAYS")
def test_failures_go_to_the_registered_error_url(h: Harness) -> None:
    bound = h.bind()
    first = h.call("debit_payment", h.payment_body("INV-1"), token=bound.access).json()
    url = h.webview_url(first, bound.access, state="order-7")
    wrong = h.http.post(url, data={"code": "000000"})
    assert wrong.status_code == 200 and "Location" not in wrong.headers  # a mistake stays on the page
    canceled = h.http.post(url, data={"cancel": "1"})
    location = canceled.headers["Location"]
    assert canceled.status_code == 303 and location.startswith("https://partner.example.com/ovo/error")
    response = json.loads(parse_qs(urlsplit(location).query)["response"][0])
    assert response["errorCode"] == "USER_CANCELED" and parse_qs(urlsplit(location).query)["state"] == ["order-7"]
    later = h.call("debit_payment", h.payment_body("INV-2"), token=bound.access).json()
    h.sandbox.advance_clock(16 * 60)
    expired = h.http.get(h.webview_url(later, bound.access))
    assert expired.status_code == 303 and "EXPIRED" in parse_qs(urlsplit(expired.headers["Location"]).query)[
        "response"][0]
    assert not expired.headers["Location"].startswith(CALLBACK)


# ----------------------------------------------------------------------------- onboarding and tolerance


@pytest.mark.rule("ONB-PRODUCTION")
def test_production_onboarding_needs_an_ip_whitelist(h: Harness) -> None:
    from ovo_nb.keys import public_key_pem

    pem = public_key_pem(h.partner.private_key, "pkcs1")
    with pytest.raises(ValidationError, match="IP whitelist"):
        h.sandbox.register_partner(pem, client_id="oamerchantprod", production=True)
    with pytest.raises(ValidationError, match="not an IP address"):
        h.sandbox.register_partner(pem, client_id="oamerchantprod", production=True, ip_whitelist=["nope"])
    client_id, _ = h.sandbox.register_partner(pem, client_id="oamerchantprod", production=True,
                                               ip_whitelist=["203.0.113.10"])
    assert h.sandbox.partner_view(client_id)["ip_whitelist"] == ["203.0.113.10"]  # type: ignore[index]


@pytest.mark.rule("ONB-CALLBACKS")
@pytest.mark.parametrize(("field", "url", "why"), [
    ("callback_urls", "http://shop.example/ovo/cb", "must use https"),
    ("callback_urls", "https://shop.example/ovo/cb?order=1", "query or fragment"),
    ("error_urls", "https://shop.example/ovo/{order}", "templated"),
])
def test_onboarding_registers_only_static_https_callback_urls(h: Harness, field: str, url: str, why: str) -> None:
    from ovo_nb.keys import public_key_pem

    pem = public_key_pem(h.partner.private_key, "pkcs1")
    with pytest.raises(ValidationError, match=why):
        h.sandbox.register_partner(pem, client_id="oamerchantcb", **{field: [url]})
    assert h.sandbox.partner_view("oamerchantcb") is None  # nothing registered
    client_id, _ = h.sandbox.register_partner(pem, client_id="oamerchantcb", callback_urls=["https://shop.example/cb"])
    assert h.sandbox.partner_view(client_id)["callback_urls"] == ["https://shop.example/cb"]  # type: ignore[index]


@pytest.mark.rule("LENIENT", "GW-TIMESTAMP-FORMAT")
def test_a_utc_timestamp_is_a_tolerance(h: Harness) -> None:
    bound = h.bind()
    moment = datetime.now(UTC)
    utc = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"  # JavaScript's toISOString()

    def balance(reference: str) -> httpx.Response:
        template = h.builder.build("balance_inquiry", {"partnerReferenceNo": reference}, token=bound.access)
        text = signing.compose_string_to_sign(signing.SignatureKind.SYMMETRIC, method="POST",
                                              path=template.url.raw_path.decode(), token=bound.access,
                                              digest=signing.body_hash(template.content), timestamp=utc)
        headers = {**template.headers, "x-timestamp": utc,
                   "x-signature": signing.sign_hmac_sha512(h.partner.client_secret, text)}
        return h.send(httpx.Request("POST", template.url, headers=headers, content=template.content))

    strict = balance("B1")
    assert code(strict) == "4001101" and "+07:00" in strict.json()["_sandbox"]["hint"]
    h.set_partner(lenient=1)
    lenient = balance("B2")
    assert code(lenient) == "2001100"
    assert "not in Jakarta time" in lenient.json()["_sandbox"]["warnings"][0]


@pytest.mark.rule("LENIENT", "SIG-BINDING")
def test_grant_type_case_and_the_faq_typo_are_tolerances(h: Harness) -> None:
    assert code(h.call("b2b_token", {"grantType": "CLIENT_CREDENTIALS"})) == "4007301"
    h.set_partner(lenient=1)
    answer = h.call("b2b_token", {"grantType": "CLIENT_CREDENTIALS"}).json()
    assert answer["responseCode"] == "2007300" and "grantType" in answer["_sandbox"]["warnings"][0]
    h.call("lookup", query={"phone": RICH})
    template = h.builder.build("account_binding", {"phoneNo": RICH, "merchantId": h.partner.merchant_id})
    path, ts = template.url.raw_path.decode(), template.headers["X-TIMESTAMP"]
    typo = signing.faq_typo_string_to_sign("POST", path, signing.body_hash(template.content), ts)
    headers = {**template.headers, "x-signature": signing.sign_rsa_sha256(h.partner.private_key, typo)}
    accepted = h.send(httpx.Request("POST", template.url, headers=headers, content=template.content))
    assert code(accepted) == "2000700"
    assert accepted.headers["X-Sandbox-Body-Hash-Form"] == "faq-typo"


# ----------------------------------------------------------------------------- hostile input, in process


@pytest.mark.rule("HOSTILE-BODY")
def test_oversized_and_deeply_nested_bodies_are_refused_cleanly(h: Harness) -> None:
    bound = h.bind()
    template = h.builder.build("balance_inquiry", {"partnerReferenceNo": "B1"}, token=bound.access)
    huge = h.send(httpx.Request("POST", template.url, headers=template.headers, content=b" " * (2 * 1024 * 1024)))
    assert (huge.status_code, code(huge)) == (413, "4130000")
    deep = b'{"a":' * 1000 + b"1" + b"}" * 1000
    nested = h.send(httpx.Request("POST", template.url, headers=template.headers, content=deep))
    assert (nested.status_code, code(nested)) == (400, "4001100")
    arrays = h.send(httpx.Request("POST", template.url, headers=template.headers, content=b"[" * 100_000))
    assert code(arrays) == "4001100"
    assert code(h.call("balance_inquiry", {}, token=bound.access)) == "2001100"


@pytest.mark.rule("DD-MONEY")
@pytest.mark.parametrize("value", ["１００００.００", "١٠٠٠٠.٠٠", "1e4", "10000.00 ", "+10000.00"])
def test_amounts_are_ascii_digits_only(h: Harness, value: str) -> None:
    bound = h.bind()
    body = {**h.payment_body("INV-1"), "amount": {"value": value, "currency": "IDR"}}
    assert code(h.call("debit_payment", body, token=bound.access)) == "4005401"


@pytest.mark.rule("HOSTILE-ADMIN")
def test_admin_fields_are_typed_and_bounded(h: Harness) -> None:
    admin = "http://ovo-sandbox.local/_sandbox"
    cases = [
        ("POST", "clock/advance", {"seconds": 3e11}, "between"),
        ("POST", "clock/advance", {"seconds": "60"}, "a number"),
        ("POST", "clock/advance", {}, "required"),
        ("POST", "customers", {"phone": "081311112222", "registered": "false"}, "true or false"),
        ("POST", "partners", {"publicKey": "x", "callbackUrls": "https://a.example"}, "a list of strings"),
        ("POST", "faults", {"api": "lookup", "kind": "slow", "delaySeconds": 1e308}, "between"),
        ("POST", "faults", {"api": "lookup", "kind": "slow", "count": True}, "a whole number"),
        ("POST", "customers", {"phone": "081311112222", "surprise": 1}, "Unknown field"),
        ("PATCH", "customers/081234567890", {"cash": "１０"}, "plain number"),
    ]
    for method, path, body, message in cases:
        answer = h.http.request(method, f"{admin}/{path}", json=body)
        assert answer.status_code == 400 and message in answer.json()["error"], (path, body, answer.text)
    infinite = h.http.post(f"{admin}/clock/advance", content=b'{"seconds": 1e400}')
    assert infinite.status_code == 400
    assert h.http.post(f"{admin}/clock/advance", json={"seconds": 60}).status_code == 200
    bound = h.bind()
    assert code(h.call("balance_inquiry", {}, token=bound.access)) == "2001100"  # later answers still work
