"""Range requests, from RFC 9110 §14 (HTTP.md rules 13-22).

Unless stated otherwise the representation is the 10-byte ``0123456789`` of HTTP.md.
A :class:`ByteRange` is half-open: ``bytes=0-0`` is ``ByteRange(0, 1)``.
"""

from __future__ import annotations

import pytest

from staticwrap.ranges import (
    UNSATISFIABLE,
    ByteRange,
    RangeSpec,
    Unsatisfiable,
    coalesce,
    format_content_range,
    format_unsatisfied_range,
    parse_range_header,
    resolve_ranges,
)

LENGTH = 10
MAX_RANGES = 16
HUGE = "9" * 5000


def resolve(header: str, length: int = LENGTH, max_ranges: int = MAX_RANGES) -> list[ByteRange] | Unsatisfiable | None:
    """Parse then resolve, as the responder does; ``None`` means: ignore the Range."""
    specs = parse_range_header(header, max_ranges=max_ranges)
    if specs is None:
        return None
    return resolve_ranges(specs, length)


# --- parse_range_header: valid --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-0", [RangeSpec(0, 0)], id="first-byte"),
        pytest.param("bytes=8-100", [RangeSpec(8, 100)], id="last-pos-past-end-kept"),
        pytest.param("bytes=-3", [RangeSpec(None, 3)], id="suffix"),
        pytest.param("bytes=-0", [RangeSpec(None, 0)], id="suffix-zero-is-valid-syntax"),
        pytest.param("bytes=20-", [RangeSpec(20, None)], id="open-ended"),
        pytest.param("bytes=0-1,5-6", [RangeSpec(0, 1), RangeSpec(5, 6)], id="two-specs"),
        pytest.param("bytes=5-6,0-1", [RangeSpec(5, 6), RangeSpec(0, 1)], id="request-order-kept"),
        pytest.param("bytes=3-3", [RangeSpec(3, 3)], id="first-equals-last"),
        pytest.param("bytes=0005-0007", [RangeSpec(5, 7)], id="leading-zeros"),
        pytest.param("bytes=-0003", [RangeSpec(None, 3)], id="suffix-leading-zeros"),
        pytest.param("bytes=" + "0" * 30 + "1-2", [RangeSpec(1, 2)], id="many-leading-zeros"),
        pytest.param("bytes=00-00", [RangeSpec(0, 0)], id="zero-with-leading-zero"),
    ],
)
def test_parse_range_header_valid(header: str, expected: list[RangeSpec]) -> None:
    assert parse_range_header(header, max_ranges=MAX_RANGES) == expected


@pytest.mark.parametrize(
    "header",
    [
        # §14.1: range-unit is case-insensitive.
        pytest.param("BYTES=0-1", id="upper"),
        pytest.param("Bytes=0-1", id="title"),
        pytest.param("bYtEs=0-1", id="mixed"),
    ],
)
def test_parse_range_header_unit_case_insensitive(header: str) -> None:
    assert parse_range_header(header, max_ranges=MAX_RANGES) == [RangeSpec(0, 1)]


@pytest.mark.parametrize(
    "header",
    [
        # §5.6.1: OWS around the commas of a list; §5.6.1.2: empty elements are ignored.
        pytest.param("bytes=0-1, 5-6", id="space-after-comma"),
        pytest.param("bytes=0-1 ,5-6", id="space-before-comma"),
        pytest.param("bytes=0-1 \t,\t 5-6", id="tabs-and-spaces"),
        pytest.param("bytes=0-1,,5-6", id="empty-element-between"),
        pytest.param("bytes=,0-1,5-6", id="empty-element-first"),
        pytest.param("bytes=0-1,5-6,", id="empty-element-last"),
        pytest.param("bytes=, ,0-1, ,5-6, ,", id="empty-elements-with-ows"),
        pytest.param(" bytes=0-1,5-6 ", id="surrounding-field-ows"),
    ],
)
def test_parse_range_header_ows_and_empty_elements(header: str) -> None:
    assert parse_range_header(header, max_ranges=MAX_RANGES) == [RangeSpec(0, 1), RangeSpec(5, 6)]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("items=0-1", id="unknown-unit"),
        pytest.param("none=0-1", id="unit-none"),
        pytest.param("byte=0-1", id="unit-byte-singular"),
        pytest.param("bytesx=0-1", id="unit-with-suffix"),
    ],
)
def test_parse_range_header_unknown_unit_is_none(header: str) -> None:
    assert parse_range_header(header, max_ranges=MAX_RANGES) is None


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=5-2", id="last-before-first"),
        pytest.param("abc", id="abc"),
        pytest.param("", id="empty"),
        pytest.param("bytes", id="unit-only"),
        pytest.param("bytes=", id="empty-range-set"),
        pytest.param("bytes=,", id="only-empty-elements"),
        pytest.param("bytes= ", id="range-set-only-ows"),
        pytest.param("bytes=-", id="lone-dash"),
        pytest.param("=0-1", id="missing-unit"),
        pytest.param("bytes=+1-", id="plus-sign"),
        pytest.param("bytes=-+1", id="suffix-plus-sign"),
        pytest.param("bytes=1_0-", id="underscore-in-first"),
        pytest.param("bytes=1-1_23", id="underscore-in-last"),
        pytest.param("bytes=\u0661-\u0662", id="arabic-indic-digits"),
        pytest.param("bytes=\uff11-\uff12", id="fullwidth-digits"),
        pytest.param("bytes=0-\u0662", id="arabic-indic-last"),
        pytest.param("bytes=0-1;x", id="parameter"),
        pytest.param("bytes =0-1", id="space-before-equals"),
        pytest.param("bytes= 0-1", id="space-after-equals"),
        pytest.param("bytes = 0-1", id="spaces-around-equals"),
        pytest.param("bytes=0 -1", id="space-inside-spec"),
        pytest.param("bytes=0- 1", id="space-after-dash"),
        pytest.param("bytes=1-2-3", id="two-dashes"),
        pytest.param("bytes=--1", id="double-dash"),
        pytest.param("bytes=1", id="no-dash"),
        pytest.param("bytes=1.5-2", id="decimal"),
        pytest.param("bytes=0x1-2", id="hex"),
        pytest.param("bytes=-1-2", id="negative-first"),
        pytest.param("bytes=0-1,abc", id="one-bad-spec-in-list"),
        pytest.param("bytes=0-1,5-2", id="one-reversed-spec-in-list"),
        pytest.param("bytes=0-1 5-6", id="missing-comma"),
        pytest.param("bytes=0-1;5-6", id="semicolon-separator"),
        pytest.param("bytes==0-1", id="double-equals"),
        pytest.param("bytes=0-1=", id="trailing-equals"),
    ],
)
def test_parse_range_header_invalid_is_none(header: str) -> None:
    assert parse_range_header(header, max_ranges=MAX_RANGES) is None


# --- parse_range_header: huge numerals and abuse limits -------------------------------------


def test_parse_range_header_huge_first_pos_does_not_raise() -> None:
    # Python's int() refuses numerals over 4300 digits; rule 19: never a 500.
    specs = parse_range_header(f"bytes={HUGE}-", max_ranges=MAX_RANGES)
    assert specs is not None
    assert len(specs) == 1


def test_parse_range_header_huge_last_pos_less_than_first_pos_is_invalid() -> None:
    # §14.1.1: an int-range whose last-pos is less than its first-pos is invalid,
    # however many digits both have (here 2·10^5000 - 1 versus 10^5000).
    header = "bytes=" + "1" + "9" * 5000 + "-" + "1" + "0" * 5000
    assert parse_range_header(header, max_ranges=MAX_RANGES) is None


def test_parse_range_header_twenty_digit_last_pos_less_than_first_pos_is_invalid() -> None:
    # Same rule just past 64 bits: 99999999999999999999 > 99999999999999999998.
    header = "bytes=99999999999999999999-99999999999999999998"
    assert parse_range_header(header, max_ranges=MAX_RANGES) is None


def test_parse_range_header_ten_thousand_ranges_is_none() -> None:
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(10_000))
    assert parse_range_header(header, max_ranges=MAX_RANGES) is None


def test_parse_range_header_ten_thousand_empty_elements_does_not_raise() -> None:
    header = "bytes=0-0" + "," * 10_000
    result = parse_range_header(header, max_ranges=MAX_RANGES)
    assert result in (None, [RangeSpec(0, 0)])


@pytest.mark.parametrize(
    ("max_ranges", "count", "accepted"),
    [
        pytest.param(16, 16, True, id="default-exactly-16"),
        pytest.param(16, 17, False, id="default-17"),
        pytest.param(3, 3, True, id="exactly-3"),
        pytest.param(3, 4, False, id="4-of-3"),
        pytest.param(1, 1, True, id="exactly-1"),
        pytest.param(1, 2, False, id="2-of-1"),
    ],
)
def test_parse_range_header_max_ranges(max_ranges: int, count: int, accepted: bool) -> None:
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(count))
    expected = [RangeSpec(i, i) for i in range(count)] if accepted else None
    assert parse_range_header(header, max_ranges=max_ranges) == expected


def test_parse_range_header_max_ranges_empty_elements_do_not_count() -> None:
    # §5.6.1.2: empty list elements do not contribute to the count of elements.
    header = "bytes=" + ",,".join(f"{i}-{i}" for i in range(MAX_RANGES))
    assert parse_range_header(header, max_ranges=MAX_RANGES) == [RangeSpec(i, i) for i in range(MAX_RANGES)]


# --- resolve_ranges (via the header, on the 10-byte representation) -------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Rule 15 / §14.1.1
        pytest.param("bytes=0-0", [ByteRange(0, 1)], id="first-byte"),
        pytest.param("bytes=9-9", [ByteRange(9, 10)], id="last-byte"),
        pytest.param("bytes=8-100", [ByteRange(8, 10)], id="last-pos-clamped"),
        pytest.param("bytes=0-9", [ByteRange(0, 10)], id="whole-explicit"),
        pytest.param("bytes=0-", [ByteRange(0, 10)], id="whole-open-ended"),
        pytest.param("bytes=9-", [ByteRange(9, 10)], id="open-ended-last-byte"),
        pytest.param("bytes=0005-0007", [ByteRange(5, 8)], id="leading-zeros"),
        # Rule 16
        pytest.param("bytes=-3", [ByteRange(7, 10)], id="suffix-3"),
        pytest.param("bytes=-10", [ByteRange(0, 10)], id="suffix-exact-length"),
        pytest.param("bytes=-100", [ByteRange(0, 10)], id="suffix-longer-than-length"),
        # Rule 17: satisfiable when at least one spec is.
        pytest.param("bytes=0-1,20-30", [ByteRange(0, 2)], id="one-of-two-satisfiable"),
        pytest.param("bytes=20-30,0-1", [ByteRange(0, 2)], id="second-of-two-satisfiable"),
        pytest.param("bytes=-0,0-1", [ByteRange(0, 2)], id="suffix-zero-and-satisfiable"),
        # Rule 14
        pytest.param("BYTES=0-0", [ByteRange(0, 1)], id="unit-upper"),
        # Huge numerals (rule 19)
        pytest.param(f"bytes=0-{HUGE}", [ByteRange(0, 10)], id="huge-last-pos-clamped"),
        pytest.param(f"bytes=-{HUGE}", [ByteRange(0, 10)], id="huge-suffix-whole"),
        pytest.param(f"bytes=3-{HUGE}", [ByteRange(3, 10)], id="huge-last-pos-from-3"),
    ],
)
def test_resolve_ranges_satisfiable(header: str, expected: list[ByteRange]) -> None:
    assert resolve(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        # Rule 16: a suffix-length of 0 selects nothing.
        pytest.param("bytes=-0", id="suffix-zero"),
        # Rule 18: first-pos at or past the end.
        pytest.param("bytes=20-", id="first-pos-past-end"),
        pytest.param("bytes=10-", id="first-pos-equals-length"),
        pytest.param("bytes=10-20", id="int-range-starting-at-length"),
        pytest.param("bytes=20-30,40-50", id="all-past-end"),
        pytest.param("bytes=-0,20-", id="suffix-zero-and-past-end"),
        pytest.param(f"bytes={HUGE}-", id="huge-first-pos"),
        pytest.param(f"bytes={HUGE}-{HUGE}", id="huge-first-and-last-pos"),
        pytest.param("bytes=99999999999999999999-", id="twenty-digit-first-pos"),
    ],
)
def test_resolve_ranges_unsatisfiable(header: str) -> None:
    assert resolve(header) is UNSATISFIABLE


@pytest.mark.parametrize(
    "header",
    [
        # Rule 21 / §14.2: parts whose lengths add up to more than the representation.
        pytest.param("bytes=0-9,0-9", id="whole-twice"),
        pytest.param("bytes=0-5,3-9", id="overlapping-total-13"),
        pytest.param("bytes=-6,0-5", id="suffix-and-int-total-12"),
        pytest.param("bytes=0-,0-0", id="whole-plus-one"),
        pytest.param("bytes=-100,0-0", id="suffix-whole-plus-one"),
        pytest.param(",".join(["bytes=0-0"] + ["0-0"] * 10), id="same-byte-eleven-times"),
        # Rule 21: more than max_ranges parts.
        pytest.param("bytes=" + ",".join(["0-0"] * 17), id="seventeen-specs"),
        pytest.param("bytes=" + ",".join(f"{i}-{i}" for i in range(10_000)), id="ten-thousand-specs"),
        # Rule 14: unknown unit.
        pytest.param("items=0-1", id="unknown-unit"),
        # Rule 19: syntax errors.
        pytest.param("bytes=5-2", id="reversed"),
        pytest.param("bytes=", id="empty-set"),
    ],
)
def test_resolve_ranges_ignored_is_none(header: str) -> None:
    assert resolve(header) is None


def test_resolve_ranges_total_exactly_length_accepted() -> None:
    # 5 + 5 bytes do not exceed the 10-byte representation; adjacent, they coalesce.
    assert resolve("bytes=0-4,5-9") == [ByteRange(0, 10)]


@pytest.mark.parametrize(
    "specs",
    [
        # Rule 22: an empty representation has nothing to select; the Range is ignored.
        pytest.param([RangeSpec(0, 0)], id="first-byte"),
        pytest.param([RangeSpec(0, None)], id="open-ended"),
        pytest.param([RangeSpec(None, 1)], id="suffix"),
        pytest.param([RangeSpec(None, 0)], id="suffix-zero"),
        pytest.param([RangeSpec(5, 9)], id="past-end"),
    ],
)
def test_resolve_ranges_empty_representation_is_none(specs: list[RangeSpec]) -> None:
    assert resolve_ranges(specs, 0) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Rule 21: coalesce overlapping and adjacent ranges, parts in request order.
        pytest.param("bytes=5-6,0-1,1-2", [ByteRange(5, 7), ByteRange(0, 3)], id="overlap-keeps-request-order"),
        pytest.param("bytes=0-1,2-3", [ByteRange(0, 4)], id="adjacent"),
        pytest.param("bytes=2-3,0-1", [ByteRange(0, 4)], id="adjacent-reversed"),
        pytest.param("bytes=0-1,3-4", [ByteRange(0, 2), ByteRange(3, 5)], id="one-byte-gap-kept-apart"),
        pytest.param("bytes=7-8,0-1", [ByteRange(7, 9), ByteRange(0, 2)], id="disjoint-request-order"),
        pytest.param("bytes=0-1,4-5,2-3", [ByteRange(0, 6)], id="third-merges-first-two"),
        pytest.param(
            "bytes=8-8,0-1,4-5,1-3",
            [ByteRange(8, 9), ByteRange(0, 6)],
            id="merge-of-two-takes-earlier-place",
        ),
        pytest.param("bytes=-2,0-1", [ByteRange(8, 10), ByteRange(0, 2)], id="suffix-first"),
        pytest.param("bytes=-2,7-7", [ByteRange(7, 10)], id="suffix-adjacent-to-int-range"),
        pytest.param("bytes=0-0,20-,1-1", [ByteRange(0, 2)], id="unsatisfiable-spec-skipped-before-merge"),
    ],
)
def test_resolve_ranges_coalesces(header: str, expected: list[ByteRange]) -> None:
    assert resolve(header) == expected


# --- coalesce ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([ByteRange(0, 2)], [ByteRange(0, 2)], id="single"),
        pytest.param(
            [ByteRange(5, 7), ByteRange(0, 2), ByteRange(1, 3)],
            [ByteRange(5, 7), ByteRange(0, 3)],
            id="overlap-keeps-request-order",
        ),
        pytest.param([ByteRange(0, 2), ByteRange(2, 4)], [ByteRange(0, 4)], id="adjacent"),
        pytest.param([ByteRange(2, 4), ByteRange(0, 2)], [ByteRange(0, 4)], id="adjacent-reversed"),
        pytest.param([ByteRange(0, 10), ByteRange(2, 3)], [ByteRange(0, 10)], id="contained"),
        pytest.param([ByteRange(2, 3), ByteRange(0, 10)], [ByteRange(0, 10)], id="containing"),
        pytest.param([ByteRange(0, 2), ByteRange(0, 2)], [ByteRange(0, 2)], id="duplicate"),
        pytest.param([ByteRange(0, 2), ByteRange(3, 5)], [ByteRange(0, 2), ByteRange(3, 5)], id="gap-kept"),
        pytest.param(
            [ByteRange(0, 2), ByteRange(4, 6), ByteRange(2, 4)],
            [ByteRange(0, 6)],
            id="third-merges-first-two",
        ),
        pytest.param(
            [ByteRange(8, 9), ByteRange(0, 2), ByteRange(4, 6), ByteRange(1, 5)],
            [ByteRange(8, 9), ByteRange(0, 6)],
            id="merge-of-two-takes-earlier-place",
        ),
        pytest.param(
            [ByteRange(0, 1), ByteRange(5, 6), ByteRange(9, 10), ByteRange(6, 7)],
            [ByteRange(0, 1), ByteRange(5, 7), ByteRange(9, 10)],
            id="merge-into-middle-keeps-its-place",
        ),
        pytest.param(
            [ByteRange(0, 1), ByteRange(2, 3), ByteRange(4, 5), ByteRange(0, 5)],
            [ByteRange(0, 5)],
            id="last-merges-all",
        ),
    ],
)
def test_coalesce(ranges: list[ByteRange], expected: list[ByteRange]) -> None:
    assert coalesce(ranges) == expected


# --- Content-Range (§14.4) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("byte_range", "length", "expected"),
    [
        pytest.param(ByteRange(0, 1), 10, "bytes 0-0/10", id="first-byte"),
        pytest.param(ByteRange(8, 10), 10, "bytes 8-9/10", id="clamped"),
        pytest.param(ByteRange(7, 10), 10, "bytes 7-9/10", id="suffix-3"),
        pytest.param(ByteRange(0, 10), 10, "bytes 0-9/10", id="whole"),
        # §14.4 examples: "bytes 42-1233/1234", "bytes 21010-47021/47022".
        pytest.param(ByteRange(42, 1234), 1234, "bytes 42-1233/1234", id="rfc-example-1"),
        pytest.param(ByteRange(21010, 47022), 47022, "bytes 21010-47021/47022", id="rfc-example-2"),
    ],
)
def test_format_content_range(byte_range: ByteRange, length: int, expected: str) -> None:
    assert format_content_range(byte_range, length) == expected


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        pytest.param(10, "bytes */10", id="ten"),
        # §14.4 example: "bytes */1234".
        pytest.param(1234, "bytes */1234", id="rfc-example"),
        pytest.param(0, "bytes */0", id="empty"),
    ],
)
def test_format_unsatisfied_range(length: int, expected: str) -> None:
    assert format_unsatisfied_range(length) == expected
