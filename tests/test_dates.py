"""HTTP-date parsing and formatting, from RFC 9110 §5.6.7 (HTTP.md rules 3 and 4).

Expected timestamps are written as calendar dates (converted with :mod:`datetime`,
not with the module under test); the RFC's own example instant is
``Sun, 06 Nov 1994 08:49:37 GMT`` = 784111777.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from staticwrap.dates import format_http_date, parse_http_date


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Seconds since the epoch of a UTC calendar time (independent of staticwrap)."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp())


#: The RFC 9110 §5.6.7 example instant.
RFC_EXAMPLE = 784111777
#: A fixed "now" for two-digit years: Sun, 01 Jun 2025 00:00:00 GMT.
NOW_2025 = utc(2025, 6, 1)


def test_rfc_example_timestamp_is_the_rfc_example_instant() -> None:
    # Guard on the helper itself: §5.6.7's example instant.
    assert utc(1994, 11, 6, 8, 49, 37) == RFC_EXAMPLE


# --- IMF-fixdate -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE, id="rfc-example"),
        pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", 0, id="epoch"),
        pytest.param("Tue, 29 Feb 2000 00:00:00 GMT", utc(2000, 2, 29), id="leap-day-2000"),
        pytest.param("Tue, 19 Jan 2038 03:14:08 GMT", 2**31, id="past-2038"),
        pytest.param("Fri, 31 Dec 9999 23:59:59 GMT", utc(9999, 12, 31, 23, 59, 59), id="year-9999"),
        pytest.param("Mon, 01 Jan 0001 00:00:00 GMT", utc(1, 1, 1), id="year-0001"),
        pytest.param("  Sun, 06 Nov 1994 08:49:37 GMT\t", RFC_EXAMPLE, id="surrounding-ows"),
    ],
)
def test_parse_http_date_imf_fixdate(value: str, expected: int) -> None:
    assert parse_http_date(value) == expected


# --- rfc850-date and the two-digit year rule ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        # §5.6.7: a two-digit year that appears more than 50 years in the future is the
        # most recent past year with the same last two digits.
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", NOW_2025, RFC_EXAMPLE, id="rfc-example-94-is-1994"),
        pytest.param("Wednesday, 01-Jan-25 00:00:00 GMT", NOW_2025, utc(2025, 1, 1), id="current-year"),
        pytest.param("Tuesday, 31-Dec-24 00:00:00 GMT", NOW_2025, utc(2024, 12, 31), id="last-year"),
        pytest.param("Wednesday, 01-Jan-70 00:00:00 GMT", NOW_2025, utc(2070, 1, 1), id="45-years-ahead-is-future"),
        pytest.param("Monday, 31-Dec-45 00:00:00 GMT", RFC_EXAMPLE, utc(1945, 12, 31), id="1994-now-45-is-1945"),
        pytest.param(
            "Wednesday, 31-Dec-75 00:00:00 GMT",
            utc(2025, 1, 1),
            utc(1975, 12, 31),
            id="same-year-plus-50-but-more-than-50-years-ahead",
        ),
        pytest.param(
            "Wednesday, 01-Jan-75 00:00:00 GMT",
            utc(2025, 12, 31),
            utc(2075, 1, 1),
            id="year-plus-50-less-than-50-years-ahead",
        ),
    ],
)
def test_parse_http_date_rfc850_two_digit_year(value: str, now: int, expected: int) -> None:
    assert parse_http_date(value, now=now) == expected


# --- asctime-date -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
        pytest.param("Sun Nov  6 08:49:37 1994", RFC_EXAMPLE, id="rfc-example-single-digit-day"),
        pytest.param("Sun Nov 06 08:49:37 1994", RFC_EXAMPLE, id="two-digit-day"),
        pytest.param("Tue Feb 29 00:00:00 2000", utc(2000, 2, 29), id="leap-day"),
        pytest.param("Thu Jan  1 00:00:00 1970", 0, id="epoch"),
    ],
)
def test_parse_http_date_asctime(value: str, expected: int) -> None:
    assert parse_http_date(value) == expected


# --- leap second ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Sat, 31 Dec 2016 23:59:60 GMT", id="imf-fixdate"),
        pytest.param("Saturday, 31-Dec-16 23:59:60 GMT", id="rfc850"),
        pytest.param("Sat Dec 31 23:59:60 2016", id="asctime"),
    ],
)
def test_parse_http_date_leap_second_60_accepted(value: str) -> None:
    # time-of-day allows second 60 (leap second). POSIX time has no such second, so the
    # result must be the instant just before or just after it, not None.
    result = parse_http_date(value, now=NOW_2025)
    assert result is not None
    assert utc(2016, 12, 31, 23, 59, 59) <= result <= utc(2017, 1, 1)


# --- invalid values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("a, b", id="list-a-b"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", id="list-of-two-dates"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT x", id="trailing-text"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMTx", id="trailing-text-glued"),
        pytest.param("x Sun, 06 Nov 1994 08:49:37 GMT", id="leading-text"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", id="zone-utc"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", id="zone-numeric"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 gmt", id="zone-lowercase"),
        pytest.param("Sun, 06 Nov 1994 08:49:37", id="zone-missing"),
        pytest.param("sun, 06 Nov 1994 08:49:37 GMT", id="day-name-lowercase"),
        pytest.param("SUN, 06 Nov 1994 08:49:37 GMT", id="day-name-uppercase"),
        pytest.param("Sun, 06 nov 1994 08:49:37 GMT", id="month-lowercase"),
        pytest.param("Sun, 06 NOV 1994 08:49:37 GMT", id="month-uppercase"),
        pytest.param("sunday, 06-Nov-94 08:49:37 GMT", id="rfc850-day-name-lowercase"),
        pytest.param("Sunday, 06-nov-94 08:49:37 GMT", id="rfc850-month-lowercase"),
        pytest.param("sun Nov  6 08:49:37 1994", id="asctime-day-name-lowercase"),
        pytest.param("Sun, 06 November 1994 08:49:37 GMT", id="month-full-name"),
        pytest.param("Sunday, 06 Nov 1994 08:49:37 GMT", id="imf-with-long-day-name"),
        pytest.param("Sun, 06-Nov-94 08:49:37 GMT", id="rfc850-with-short-day-name"),
        pytest.param("Thu, 31 Feb 2000 00:00:00 GMT", id="31-feb"),
        pytest.param("Wed, 30 Feb 2000 00:00:00 GMT", id="30-feb"),
        pytest.param("Thu, 29 Feb 1900 00:00:00 GMT", id="29-feb-1900-not-leap"),
        pytest.param("Sun, 31 Apr 1994 00:00:00 GMT", id="31-apr"),
        pytest.param("Sun, 00 Nov 1994 08:49:37 GMT", id="day-00"),
        pytest.param("Sun, 32 Nov 1994 08:49:37 GMT", id="day-32"),
        pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", id="hour-24"),
        pytest.param("Sun, 06 Nov 1994 08:60:00 GMT", id="minute-60"),
        pytest.param("Sun, 06 Nov 1994 08:49:61 GMT", id="second-61"),
        pytest.param("Sat, 00 Jan 0000 00:00:00 GMT", id="year-0000-day-00"),
        pytest.param("Sat, 01 Jan 0000 00:00:00 GMT", id="year-0000"),
        pytest.param("Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", id="arabic-indic-day"),
        pytest.param("Sun, 06 Nov \u0661\u0669\u0669\u0664 08:49:37 GMT", id="arabic-indic-year"),
        pytest.param("Sun, 06 Nov 1994 \u0660\u0668:49:37 GMT", id="arabic-indic-hour"),
        pytest.param("Sun, 06 Nov \uff11\uff19\uff19\uff14 08:49:37 GMT", id="fullwidth-year"),
        pytest.param("Sun, 6 Nov 1994 08:49:37 GMT", id="imf-single-digit-day"),
        pytest.param("Sun, 06 Nov 94 08:49:37 GMT", id="imf-two-digit-year"),
        pytest.param("Sun, 06 Nov 1994 8:49:37 GMT", id="single-digit-hour"),
        pytest.param("Sun,  06 Nov 1994 08:49:37 GMT", id="imf-double-space"),
        pytest.param("Sun 06 Nov 1994 08:49:37 GMT", id="imf-missing-comma"),
        pytest.param("Sun, 06 Nov 1994 08:49 GMT", id="missing-seconds"),
        pytest.param("Sun Nov 6 08:49:37 1994", id="asctime-single-space-single-digit-day"),
        pytest.param("Sun Nov  6 08:49:37 94", id="asctime-two-digit-year"),
        pytest.param("Sun Nov  6 08:49:37 1994 GMT", id="asctime-with-zone"),
        pytest.param("1994-11-06T08:49:37Z", id="iso-8601"),
        pytest.param("784111777", id="epoch-number"),
        pytest.param("x" * 100_000, id="very-long-garbage"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT" * 1000, id="very-long-repeated-date"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT" + " x" * 5000, id="very-long-trailing-text"),
    ],
)
def test_parse_http_date_invalid_is_none(value: str) -> None:
    assert parse_http_date(value, now=NOW_2025) is None


def test_parse_http_date_none_is_none() -> None:
    assert parse_http_date(None) is None


# --- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        pytest.param(784111777, "Sun, 06 Nov 1994 08:49:37 GMT", id="rfc-example"),
        pytest.param(0, "Thu, 01 Jan 1970 00:00:00 GMT", id="epoch"),
        pytest.param(951782400, "Tue, 29 Feb 2000 00:00:00 GMT", id="leap-day"),
        pytest.param(1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT", id="2023"),
        pytest.param(2**31, "Tue, 19 Jan 2038 03:14:08 GMT", id="past-2038"),
        pytest.param(1483228799, "Sat, 31 Dec 2016 23:59:59 GMT", id="end-of-year"),
        pytest.param(253402300799, "Fri, 31 Dec 9999 23:59:59 GMT", id="year-9999"),
    ],
)
def test_format_http_date_imf_fixdate(timestamp: int, expected: str) -> None:
    assert format_http_date(timestamp) == expected


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(0, id="epoch"),
        pytest.param(784111777, id="rfc-example"),
        pytest.param(951782400, id="leap-day"),
        pytest.param(2**31, id="past-2038"),
        pytest.param(253402300799, id="year-9999"),
    ],
)
def test_format_then_parse_round_trip(timestamp: int) -> None:
    assert parse_http_date(format_http_date(timestamp)) == timestamp


@pytest.mark.parametrize(
    "value",
    [
        # §5.6.7: the three example forms denote the same instant, whose IMF-fixdate is the first.
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", id="imf-fixdate"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", id="rfc850"),
        pytest.param("Sun Nov  6 08:49:37 1994", id="asctime"),
    ],
)
def test_parse_then_format_gives_imf_fixdate(value: str) -> None:
    parsed = parse_http_date(value, now=NOW_2025)
    assert parsed is not None
    assert format_http_date(parsed) == "Sun, 06 Nov 1994 08:49:37 GMT"
