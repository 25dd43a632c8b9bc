"""Wire-level helpers for driving the sandbox in tests: sign, send, walk a flow step by step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from ovo_nb.client import SnapRequestBuilder
from ovo_nb.sandbox import DEFAULT_CALLBACK_URLS, Sandbox, SandboxPartner, SandboxTransport, Store
from ovo_nb.sandbox.seed import ensure_default_partner

CALLBACK = DEFAULT_CALLBACK_URLS[0]
RICH = "081234567890"
BROKE = "081200000001"
CLOSED = "081200000002"
UNREGISTERED = "081200000003"
LOCKED = "081200000004"
POINTS = "081200000005"
PIN = "123456"


@dataclass
class Bound:
    phone: str
    access: str
    refresh: str


class Harness:
    """One sandbox, its default partner, and a signed httpx client talking to it in-process."""

    def __init__(self, folder: Path, store: Store | None = None, **builder: Any) -> None:
        self.sandbox = Sandbox(store or Store())
        self.partner: SandboxPartner = ensure_default_partner(self.sandbox, folder)
        self.builder = self.make_builder(**builder)
        self.transport = SandboxTransport(self.sandbox, sleep=lambda seconds: None)
        self.http = httpx.Client(transport=self.transport)

    def make_builder(self, **overrides: Any) -> SnapRequestBuilder:
        options: dict[str, Any] = {"channel_id": self.partner.channel_id, **overrides}
        return SnapRequestBuilder(self.partner.client_id, self.partner.client_secret, self.partner.private_key,
                                  **options)

    def set_partner(self, **columns: Any) -> None:
        """Change the default partner's settings in the sandbox's store (lenient, production...)."""
        with self.sandbox.store.transaction():
            for column, value in columns.items():
                self.sandbox.store.run(f"UPDATE partners SET {column} = ? WHERE client_id = ?", value,
                                       self.partner.client_id)

    def call(self, api: str, body: Any = None, *, builder: SnapRequestBuilder | None = None,
             **options: Any) -> httpx.Response:
        return self.http.send((builder or self.builder).build(api, body, **options))

    def send(self, request: httpx.Request) -> httpx.Response:
        return self.http.send(request)

    # ----------------------------------------------------------------- flows, step by step

    def webview_url(self, answer: dict[str, Any], token: str, destination: str = CALLBACK,
                    state: str | None = None) -> str:
        params = {**answer["additionalInfo"]["qParams"], "token": token, "destination": destination,
                  "submissionType": "redirect"}
        if state:
            params["state"] = state
        return f"{answer['redirectUrl']}?{urlencode(params)}"

    def start_binding(self, phone: str = RICH) -> dict[str, Any]:
        assert self.call("lookup", query={"phone": phone}).status_code == 200
        response = self.call("account_binding", {"partnerReferenceNo": f"BIND-{phone}", "phoneNo": phone,
                                                 "merchantId": self.partner.merchant_id})
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def bind(self, phone: str = RICH) -> Bound:
        answer = self.start_binding(phone)
        outcome = self.sandbox.webview_submit(self.webview_url(answer, answer["linkageToken"]), phone[-4:], PIN)
        assert outcome.ok and outcome.response, outcome
        response = self.call("b2b2c_token", {"grantType": "AUTHORIZATION_CODE",
                                             "authCode": outcome.response["authCode"]}, token=answer["linkageToken"])
        assert response.status_code == 200, response.text
        tokens = response.json()
        return Bound(phone, tokens["accessToken"], tokens["refreshToken"])

    def payment_body(self, reference: str, amount: str = "15000.00", **extra: Any) -> dict[str, Any]:
        return {"partnerReferenceNo": reference, "merchantId": self.partner.merchant_id,
                "amount": {"value": amount, "currency": "IDR"},
                "urlParam": [{"url": CALLBACK, "type": "PAY_RETURN", "isDeeplink": "N"}], **extra}

    def single_use_token(self, first: dict[str, Any], access: str, pin: str = "123456") -> str:
        outcome = self.sandbox.webview_submit(self.webview_url(first, access), pin)
        assert outcome.ok and outcome.response, outcome
        response = self.call("generate_token", query={"grantType": "authorization_code",
                                                      "code": outcome.response["authCode"]})
        assert response.status_code == 200, response.text
        token: str = response.json()["singleUseToken"]
        return token

    def pay(self, bound: Bound, reference: str, amount: str = "15000.00", **extra: Any) -> httpx.Response:
        body = self.payment_body(reference, amount, **extra)
        first = self.call("debit_payment", body, token=bound.access)
        assert first.status_code == 202, first.text
        return self.call("debit_payment", body, token=self.single_use_token(first.json(), bound.access))

    def b2b(self) -> str:
        response = self.call("b2b_token", {"grantType": "client_credentials"})
        assert response.status_code == 200, response.text
        token: str = response.json()["accessToken"]
        return token

    def refund(self, reference: str, refund_no: str, amount: str, b2b: str | None = None) -> httpx.Response:
        return self.call("debit_refund", {"originalPartnerReferenceNo": reference, "partnerRefundNo": refund_no,
                                          "refundAmount": {"value": amount, "currency": "IDR"}, "reason": "test",
                                          "merchantId": self.partner.merchant_id}, token=b2b or self.b2b())

    def status(self, bound: Bound, reference: str) -> httpx.Response:
        return self.call("debit_status", {"originalPartnerReferenceNo": reference, "serviceCode": "54",
                                          "merchantId": self.partner.merchant_id}, token=bound.access)

    def unbind(self, bound: Bound) -> httpx.Response:
        first = self.call("account_unbinding", {"partnerReferenceNo": "UNBIND-1", "authCode": None},
                          token=bound.access)
        assert first.status_code == 200, first.text
        answer = first.json()
        outcome = self.sandbox.webview_submit(self.webview_url(answer, answer["linkageToken"]), bound.phone[-4:])
        assert outcome.ok and outcome.response
        return self.call("account_unbinding", {"partnerReferenceNo": "UNBIND-1",
                                               "authCode": outcome.response["authCode"]}, token=answer["linkageToken"])
