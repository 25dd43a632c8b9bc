"""Webview URLs exactly as OVO's FAQ builds them, and the callback it returns to."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from ovo_nb.errors import ValidationError, WebviewError
from ovo_nb.webview import build_webview_url, parse_callback

ANSWER = {"responseCode": "2000700", "redirectUrl": "https://webview.byte-stack.net/cellblockui/partner/activation",
          "additionalInfo": {"qParams": {"action": "otpLinkage", "authType": "2FA", "client-id": "oamerchantam",
                                         "phoneNumber": "08129376****", "refId": "56d39eff"}}}


def test_webview_url_is_exactly_the_faq_recipe() -> None:
    url = build_webview_url(ANSWER, "eyJ.linkage", "https://piswebblank.pis", state="payment1234")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == ANSWER["redirectUrl"]
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {"action": "otpLinkage", "authType": "2FA", "client-id": "oamerchantam",
                     "phoneNumber": "08129376****", "refId": "56d39eff", "token": "eyJ.linkage",
                     "destination": "https://piswebblank.pis", "submissionType": "redirect", "state": "payment1234"}
    with pytest.raises(ValidationError, match="not a registered callback URL"):
        build_webview_url(ANSWER, "t", "https://evil.example", registered=["https://piswebblank.pis"])
    with pytest.raises(WebviewError, match="no webview"):
        build_webview_url({"responseCode": "2005400"}, "t", "https://piswebblank.pis")


def test_parse_the_faq_callback_sample() -> None:
    sample = ("https://piswebblank.pis/?response=%7B%22displayMsg%22%3A%22SUCCESS%22%2C%22displayHeader%22%3A%22%22"
              "%2C%22retryAttemptsLeft%22%3A4%2C%22authCode%22%3A%22YOAKdzhRSviBfGyAc15_LQ%22%2C%22errorCode%22%3A%22"
              "%22%2C%22enable_redirection%22%3Afalse%7D")
    result = parse_callback(sample)
    assert (result.auth_code, result.retry_attempts_left, result.display_msg) == ("YOAKdzhRSviBfGyAc15_LQ", 4, "SUCCESS")
    assert "YOAKdzh" not in repr(result)
    failed = "https://x.example/?response=" + quote(json.dumps({"displayMsg": "Wrong PIN", "errorCode": "E12"}))
    with pytest.raises(WebviewError, match=r"Wrong PIN \(errorCode E12\)"):
        parse_callback(failed)
    for bad, message in (("not a url", "whole URL"), ("https://x.example/?response=%7Bcut", "not JSON")):
        with pytest.raises(WebviewError, match=message):
            parse_callback(bad)
