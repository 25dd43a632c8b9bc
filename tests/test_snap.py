from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ovo_nb.errors import ValidationError
from ovo_nb.snap import (
    ENDPOINTS,
    JAKARTA,
    RESPONSE_CASES,
    ExternalIdGenerator,
    ManualClock,
    PathStyle,
    endpoint,
    format_amount,
    format_timestamp,
    match_endpoint,
    money,
    parse_amount,
    parse_money,
    parse_response_code,
    parse_timestamp,
    response_code,
    response_message,
)


def test_timestamp_is_jakarta_with_millis_and_colon_offset() -> None:
    moment = datetime(2022, 10, 24, 6, 42, 13, 92_500, tzinfo=UTC)
    assert format_timestamp(moment) == "2022-10-24T13:42:13.092+07:00"


def test_timestamp_round_trips_and_accepts_no_millis() -> None:
    text = "2022-10-24T13:42:13.092+07:00"
    assert format_timestamp(parse_timestamp(text)) == text
    assert parse_timestamp("2022-10-24T13:42:13+07:00") == datetime(2022, 10, 24, 13, 42, 13, tzinfo=JAKARTA)


@pytest.mark.parametrize(
    "bad",
    ["2022-10-24 13:42:13+07:00", "2022-10-24T13:42:13", "2022-10-24T13:42:13+0700", "20221024T13:42:13+07:00",
     "2022-13-24T13:42:13+07:00", "", "yesterday"],
)
def test_bad_timestamps_are_refused_with_the_expected_shape(bad: str) -> None:
    with pytest.raises(ValidationError, match="yyyy-MM-dd|real date"):
        parse_timestamp(bad)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        format_timestamp(datetime(2022, 1, 1))


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=JAKARTA))
    assert clock.advance(timedelta(minutes=15)) == datetime(2026, 1, 1, 0, 15, tzinfo=JAKARTA)
    assert clock.advance(60).minute == 16
    with pytest.raises(ValidationError):
        clock.advance(-1)


def test_external_ids_are_numeric_unique_and_short_even_in_the_same_millisecond() -> None:
    generate = ExternalIdGenerator(ManualClock(datetime(2026, 1, 1, tzinfo=JAKARTA)))
    ids = [generate() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(i.isdigit() and len(i) <= 36 for i in ids)
    assert ids == sorted(ids, key=int)


@pytest.mark.parametrize(
    ("given", "wire"),
    [(10000, "10000.00"), ("10000", "10000.00"), ("10000.5", "10000.50"), (Decimal("1.23"), "1.23"),
     (10000.5, "10000.50"), ("1_000_000", "1000000.00"), ("12.300", "12.30")],
)
def test_amounts_render_with_two_decimals(given: object, wire: str) -> None:
    assert format_amount(given) == wire  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "message"),
    [(-1, "negative"), ("NaN", "plain number"), ("Infinity", "plain number"), (float("inf"), "plain number"),
     ("1e400", "plain number"), ("１００００.００", "digits 0-9"), ("١٠٠٠", "digits 0-9"), ("1.005", "two decimals"),
     ("10.000,00", "comma"), ("abc", "not a plain number"), (True, "boolean"), ([1], "type"),
     ("1" * 17, "16 integer digits"), (0, "zero")],
)
def test_bad_amounts_are_refused_with_a_reason(given: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_amount(given)  # type: ignore[arg-type]


def test_money_is_idr_only() -> None:
    assert money("15000") == {"value": "15000.00", "currency": "IDR"}
    with pytest.raises(ValidationError, match="IDR only"):
        money(1, "USD")


def test_parse_money_is_strict_about_the_wire_format() -> None:
    assert parse_money({"value": "10000.00", "currency": "IDR"}) == Decimal("10000.00")
    for bad in ({"value": "10000", "currency": "IDR"}, {"value": 10000.0, "currency": "IDR"},
                {"value": "10000.00", "currency": "USD"}, "10000.00", {"value": "-1.00", "currency": "IDR"}):
        with pytest.raises(ValidationError, match="refundAmount"):
            parse_money(bad, "refundAmount")


def test_endpoint_paths_follow_each_path_style() -> None:
    assert endpoint("b2b_token").path() == "/OVOSNAP/v1.0/access-token/b2b"
    assert endpoint("debit_payment").path() == "/OVOSNAP/v2.0/debit/payment-host-to-host"
    assert endpoint("debit_payment").path(PathStyle.FAQ) == "/OVOSNAP/v1.0/debit/payment-host-to-host"
    assert endpoint("account_binding").path("aspi") == "/api/v1.0/registration-account-binding"
    assert endpoint("lookup").path("aspi") == "/user/v2/account/lookup"
    with pytest.raises(ValidationError, match="known"):
        endpoint("pay")


def test_every_path_of_every_style_routes_back_to_its_endpoint() -> None:
    for api in ENDPOINTS.values():
        for style in PathStyle:
            assert match_endpoint(api.path(style) + "?x=1") is api
    assert match_endpoint("/OVOSNAP/v3.0/balance-inquiry") is None


def test_response_codes_compose_and_parse() -> None:
    assert response_code(401, "07", "00") == "4010700"
    parsed = parse_response_code("2025400")
    assert (parsed.http_status, parsed.service_code, parsed.case_code) == (202, "54", "00")
    assert parsed.is_success and parsed.service == "Direct Debit Payment"
    assert not parse_response_code("4035414").is_success
    for bad in ("20054000", "40107", "abcdefg"):
        with pytest.raises(ValidationError):
            parse_response_code(bad)
    with pytest.raises(ValidationError):
        response_code(418, "54", "00")


def test_response_messages_fill_placeholders() -> None:
    assert response_message("4010700", reason="Signature Failed") == "Unauthorized. Signature Failed"
    assert response_message("4010700") == "Unauthorized."
    assert response_message("4005402", field="amount") == "Invalid Mandatory Field amount"
    assert response_message("4035414") == "Insufficient Funds"
    assert len(RESPONSE_CASES) >= 60
