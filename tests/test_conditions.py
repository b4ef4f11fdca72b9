"""Entity tags and conditional requests, from RFC 9110 §8.8.3 and §13 (HTTP.md rules 5-9).

The representation in these tests has the strong ETag ``"E"`` and the Last-Modified
``Sun, 06 Nov 1994 08:49:37 GMT`` (784111777, the RFC's example date).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from staticwrap.conditions import (
    ANY,
    EntityTag,
    Outcome,
    evaluate_preconditions,
    if_range_matches,
    parse_entity_tag,
    parse_entity_tag_list,
    strong_match,
    weak_match,
)

ETAG = '"E"'
LM = 784111777
LM_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
LM_DATE_RFC850 = "Sunday, 06-Nov-94 08:49:37 GMT"
LM_DATE_ASCTIME = "Sun Nov  6 08:49:37 1994"
ONE_SECOND_BEFORE = "Sun, 06 Nov 1994 08:49:36 GMT"
ONE_SECOND_AFTER = "Sun, 06 Nov 1994 08:49:38 GMT"
DAY_BEFORE = "Sat, 05 Nov 1994 08:49:37 GMT"
DAY_AFTER = "Mon, 07 Nov 1994 08:49:37 GMT"


# --- parse_entity_tag_list ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"a"', [EntityTag('"a"', False)], id="one-strong"),
        pytest.param('W/"a"', [EntityTag('"a"', True)], id="one-weak"),
        pytest.param('""', [EntityTag('""', False)], id="empty-opaque-tag"),
        pytest.param('"a","b"', [EntityTag('"a"', False), EntityTag('"b"', False)], id="two-no-space"),
        pytest.param('"a", "b"', [EntityTag('"a"', False), EntityTag('"b"', False)], id="two-with-space"),
        pytest.param('"a" ,\tW/"b"', [EntityTag('"a"', False), EntityTag('"b"', True)], id="ows-tab-and-weak"),
        pytest.param('  "a"  ', [EntityTag('"a"', False)], id="surrounding-ows"),
        pytest.param(',"a",,"b",', [EntityTag('"a"', False), EntityTag('"b"', False)], id="empty-elements"),
        pytest.param(', , "a" , ,', [EntityTag('"a"', False)], id="empty-elements-with-ows"),
        pytest.param('"a,b"', [EntityTag('"a,b"', False)], id="comma-inside-quoted-tag"),
        pytest.param('"a,b", "c"', [EntityTag('"a,b"', False), EntityTag('"c"', False)], id="comma-inside-then-list"),
        pytest.param('"\x80\xff"', [EntityTag('"\x80\xff"', False)], id="obs-text-80-ff"),
        pytest.param('W/"caf\xe9"', [EntityTag('"caf\xe9"', True)], id="obs-text-latin1-weak"),
        pytest.param('"!#~\\"', [EntityTag('"!#~\\"', False)], id="etagc-edges-21-23-7e-5c"),
        pytest.param("", [], id="empty-field-is-empty-list"),
    ],
)
def test_parse_entity_tag_list_valid(value: str, expected: list[EntityTag] | None) -> None:
    assert parse_entity_tag_list(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("*", id="star"),
        pytest.param(" * ", id="star-with-ows"),
    ],
)
def test_parse_entity_tag_list_star_is_any(value: str) -> None:
    assert parse_entity_tag_list(value) == ANY


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a", id="unquoted"),
        pytest.param('"a', id="unterminated"),
        pytest.param('a"', id="no-opening-quote"),
        pytest.param('"a" "b"', id="missing-comma"),
        pytest.param('"a"b', id="text-after-tag"),
        pytest.param('w/"a"', id="lowercase-weak-prefix"),
        pytest.param('W/ "a"', id="space-after-weak-prefix"),
        pytest.param('W"a"', id="weak-prefix-without-slash"),
        pytest.param('"a b"', id="space-inside"),
        pytest.param('W/"a, b"', id="comma-and-space-inside"),
        pytest.param('"a\x7f"', id="del-inside"),
        pytest.param('"a\x00"', id="nul-inside"),
        pytest.param('"a"""', id="extra-quotes"),
        pytest.param('"a", *', id="star-in-list"),
        pytest.param('*, "a"', id="star-first-in-list"),
        pytest.param("**", id="double-star"),
        pytest.param('"a", b', id="one-good-one-bad"),
        pytest.param("'a'", id="single-quotes"),
        pytest.param('"\u0100"', id="non-latin1-character"),
    ],
)
def test_parse_entity_tag_list_malformed_is_none(value: str) -> None:
    assert parse_entity_tag_list(value) is None


# --- parse_entity_tag -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"xyzzy"', EntityTag('"xyzzy"', False), id="strong"),
        pytest.param('W/"xyzzy"', EntityTag('"xyzzy"', True), id="weak"),
        pytest.param('""', EntityTag('""', False), id="empty-opaque"),
        pytest.param(' "xyzzy"\t', EntityTag('"xyzzy"', False), id="surrounding-ows"),
        pytest.param('"\x80\xff"', EntityTag('"\x80\xff"', False), id="obs-text"),
        pytest.param('"a,b"', EntityTag('"a,b"', False), id="comma-inside"),
        pytest.param("xyzzy", None, id="unquoted"),
        pytest.param('"a", "b"', None, id="list"),
        pytest.param("*", None, id="star"),
        pytest.param('w/"xyzzy"', None, id="lowercase-weak-prefix"),
        pytest.param('"xy zzy"', None, id="space-inside"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_entity_tag(value: str, expected: EntityTag | None) -> None:
    assert parse_entity_tag(value) == expected


# --- strong_match / weak_match: §8.8.3.2 Table 3 --------------------------------------------
#
# Table 3:  ETag 1   ETag 2   Strong      Weak
#           W/"1"    W/"1"    no match    match
#           W/"1"    W/"2"    no match    no match
#           W/"1"    "1"      no match    match
#           "1"      "1"      match       match
# The current ETag of a staticwrap representation is always strong (rule 1), so ETag 2 is
# the strong current tag and ETag 1 comes from the request; the W/-vs-W/ rows are
# represented by the request tag being weak against the same opaque-tag.


@pytest.mark.parametrize(
    ("request_tags", "current", "expected"),
    [
        pytest.param('W/"1"', '"1"', False, id="weak-1-vs-strong-1"),
        pytest.param('W/"1"', '"2"', False, id="weak-1-vs-strong-2"),
        pytest.param('"1"', '"1"', True, id="strong-1-vs-strong-1"),
        pytest.param('"1"', '"2"', False, id="strong-1-vs-strong-2"),
        pytest.param('"2", "1"', '"1"', True, id="list-second-matches"),
        pytest.param('W/"1", "1"', '"1"', True, id="list-weak-and-strong-same-tag"),
        pytest.param('W/"1", W/"2"', '"1"', False, id="list-of-weak"),
        pytest.param("*", '"1"', True, id="star"),
        pytest.param('"a,b"', '"a,b"', True, id="comma-inside-tag"),
        pytest.param('"a,b"', '"a"', False, id="comma-inside-tag-is-not-a-list"),
        pytest.param('"\x80\xff"', '"\x80\xff"', True, id="obs-text"),
        pytest.param("1", '"1"', False, id="malformed-matches-nothing"),
        pytest.param("", '"1"', False, id="empty-list"),
        pytest.param('"1"', '"1 "', False, id="different-opaque"),
    ],
)
def test_strong_match(request_tags: str, current: str, expected: bool) -> None:
    assert strong_match(parse_entity_tag_list(request_tags), current) is expected


@pytest.mark.parametrize(
    ("request_tags", "current", "expected"),
    [
        pytest.param('W/"1"', '"1"', True, id="weak-1-vs-strong-1"),
        pytest.param('W/"1"', '"2"', False, id="weak-1-vs-strong-2"),
        pytest.param('"1"', '"1"', True, id="strong-1-vs-strong-1"),
        pytest.param('"1"', '"2"', False, id="strong-1-vs-strong-2"),
        pytest.param('"2", W/"1"', '"1"', True, id="list-second-weak-matches"),
        pytest.param("*", '"1"', True, id="star"),
        pytest.param('W/"a,b"', '"a,b"', True, id="comma-inside-weak-tag"),
        pytest.param('"\x80"', '"\x81"', False, id="obs-text-differs"),
        pytest.param('"1" "1"', '"1"', False, id="malformed-matches-nothing"),
        pytest.param("", '"1"', False, id="empty-list"),
    ],
)
def test_weak_match(request_tags: str, current: str, expected: bool) -> None:
    assert weak_match(parse_entity_tag_list(request_tags), current) is expected


@pytest.mark.parametrize(
    "function",
    [pytest.param(strong_match, id="strong"), pytest.param(weak_match, id="weak")],
)
def test_match_of_malformed_none_is_false(function: Callable[[list[EntityTag] | str | None, str], bool]) -> None:
    assert function(None, ETAG) is False


# --- evaluate_preconditions: §13.2.2 --------------------------------------------------------


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "if_modified_since", "if_unmodified_since", "expected"),
    [
        pytest.param(None, None, None, None, Outcome.PROCEED, id="no-conditions"),
        # Step 1: If-Match, strong comparison.
        pytest.param(ETAG, None, None, None, Outcome.PROCEED, id="if-match-equal"),
        pytest.param('"X"', None, None, None, Outcome.PRECONDITION_FAILED, id="if-match-different"),
        pytest.param('W/"E"', None, None, None, Outcome.PRECONDITION_FAILED, id="if-match-weak-tag-never-matches"),
        pytest.param("*", None, None, None, Outcome.PROCEED, id="if-match-star"),
        pytest.param('"X", "E"', None, None, None, Outcome.PROCEED, id="if-match-list-contains"),
        pytest.param('"X", W/"E"', None, None, None, Outcome.PRECONDITION_FAILED, id="if-match-list-weak-only"),
        pytest.param("E", None, None, None, Outcome.PRECONDITION_FAILED, id="if-match-malformed"),
        pytest.param(",", None, None, None, Outcome.PRECONDITION_FAILED, id="if-match-only-empty-elements"),
        # Step 2: If-Unmodified-Since, only without If-Match.
        pytest.param(ETAG, None, None, DAY_BEFORE, Outcome.PROCEED, id="if-match-true-skips-ius"),
        pytest.param(None, None, None, DAY_BEFORE, Outcome.PRECONDITION_FAILED, id="ius-earlier-than-lm"),
        pytest.param(None, None, None, ONE_SECOND_BEFORE, Outcome.PRECONDITION_FAILED, id="ius-one-second-early"),
        pytest.param(None, None, None, LM_DATE, Outcome.PROCEED, id="ius-equal-lm"),
        pytest.param(None, None, None, DAY_AFTER, Outcome.PROCEED, id="ius-later-than-lm"),
        pytest.param(None, None, None, "yesterday", Outcome.PROCEED, id="ius-invalid-ignored"),
        pytest.param(None, None, None, f"{DAY_BEFORE}, {DAY_BEFORE}", Outcome.PROCEED, id="ius-list-ignored"),
        pytest.param(
            None, None, None, "Saturday, 05-Nov-94 08:49:37 GMT", Outcome.PRECONDITION_FAILED, id="ius-rfc850-earlier"
        ),
        pytest.param(
            None, None, None, "Sat Nov  5 08:49:37 1994", Outcome.PRECONDITION_FAILED, id="ius-asctime-earlier"
        ),
        # Step 3: If-None-Match, weak comparison -> 304 for GET/HEAD.
        pytest.param(None, ETAG, None, None, Outcome.NOT_MODIFIED, id="inm-strong-match"),
        pytest.param(None, 'W/"E"', None, None, Outcome.NOT_MODIFIED, id="inm-weak-match"),
        pytest.param(None, "*", None, None, Outcome.NOT_MODIFIED, id="inm-star"),
        pytest.param(None, '"X", W/"E"', None, None, Outcome.NOT_MODIFIED, id="inm-list-contains"),
        pytest.param(None, '"X"', None, None, Outcome.PROCEED, id="inm-different"),
        pytest.param(None, "E", None, None, Outcome.PROCEED, id="inm-malformed-matches-nothing"),
        # Step 4: If-Modified-Since, only without If-None-Match.
        pytest.param(None, '"X"', DAY_AFTER, None, Outcome.PROCEED, id="inm-present-ims-ignored"),
        pytest.param(None, "E", DAY_AFTER, None, Outcome.PROCEED, id="inm-malformed-still-present-ims-ignored"),
        pytest.param(None, None, LM_DATE, None, Outcome.NOT_MODIFIED, id="ims-equal-lm"),
        pytest.param(None, None, DAY_AFTER, None, Outcome.NOT_MODIFIED, id="ims-later-than-lm"),
        pytest.param(None, None, ONE_SECOND_BEFORE, None, Outcome.PROCEED, id="ims-one-second-early"),
        pytest.param(None, None, DAY_BEFORE, None, Outcome.PROCEED, id="ims-earlier-than-lm"),
        pytest.param(None, None, "not a date", None, Outcome.PROCEED, id="ims-invalid-ignored"),
        pytest.param(None, None, f"{DAY_AFTER}, {DAY_AFTER}", None, Outcome.PROCEED, id="ims-list-ignored"),
        pytest.param(None, None, LM_DATE_RFC850, None, Outcome.NOT_MODIFIED, id="ims-rfc850-equal"),
        pytest.param(None, None, LM_DATE_ASCTIME, None, Outcome.NOT_MODIFIED, id="ims-asctime-equal"),
        # Order of the steps.
        pytest.param(ETAG, ETAG, None, None, Outcome.NOT_MODIFIED, id="if-match-true-then-inm-match"),
        pytest.param('"X"', ETAG, None, None, Outcome.PRECONDITION_FAILED, id="if-match-false-before-inm"),
        pytest.param(None, ETAG, None, DAY_BEFORE, Outcome.PRECONDITION_FAILED, id="ius-false-before-inm"),
        pytest.param(None, ETAG, None, DAY_AFTER, Outcome.NOT_MODIFIED, id="ius-true-then-inm-match"),
        pytest.param('"X"', None, DAY_AFTER, None, Outcome.PRECONDITION_FAILED, id="if-match-false-before-ims"),
        pytest.param(None, None, DAY_AFTER, DAY_BEFORE, Outcome.PRECONDITION_FAILED, id="ius-false-before-ims"),
    ],
)
def test_evaluate_preconditions(
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    expected: Outcome,
) -> None:
    outcome = evaluate_preconditions(
        etag=ETAG,
        last_modified=LM,
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
    )
    assert outcome is expected


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "if_modified_since", "if_unmodified_since", "expected"),
    [
        # §13.1.4: If-Unmodified-Since is ignored when the resource has no modification date.
        pytest.param(None, None, None, DAY_BEFORE, Outcome.PROCEED, id="ius-ignored"),
        # §13.1.3: likewise If-Modified-Since.
        pytest.param(None, None, DAY_AFTER, None, Outcome.PROCEED, id="ims-ignored"),
        # Entity-tag conditions do not depend on a date.
        pytest.param(None, ETAG, None, None, Outcome.NOT_MODIFIED, id="inm-still-applies"),
        pytest.param('"X"', None, None, None, Outcome.PRECONDITION_FAILED, id="if-match-still-applies"),
    ],
)
def test_evaluate_preconditions_without_last_modified(
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    expected: Outcome,
) -> None:
    outcome = evaluate_preconditions(
        etag=ETAG,
        last_modified=None,
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
    )
    assert outcome is expected


# --- if_range_matches: §13.1.5 --------------------------------------------------------------


@pytest.mark.parametrize(
    ("if_range", "expected"),
    [
        pytest.param(ETAG, True, id="strong-etag-equal"),
        pytest.param(f" {ETAG}\t", True, id="strong-etag-equal-with-ows"),
        pytest.param('W/"E"', False, id="weak-etag-never-matches"),
        pytest.param('"X"', False, id="different-etag"),
        pytest.param('"E", "X"', False, id="list-of-etags-is-not-a-validator"),
        pytest.param("*", False, id="star-is-not-a-validator"),
        pytest.param('"E', False, id="unterminated-etag"),
        pytest.param(LM_DATE, True, id="date-exactly-equal"),
        pytest.param(ONE_SECOND_AFTER, False, id="date-one-second-later"),
        pytest.param(DAY_AFTER, False, id="date-later"),
        pytest.param(ONE_SECOND_BEFORE, False, id="date-one-second-earlier"),
        pytest.param(DAY_BEFORE, False, id="date-earlier"),
        pytest.param("garbage", False, id="garbage"),
        pytest.param("", False, id="empty"),
        pytest.param(f"{LM_DATE}, {LM_DATE}", False, id="list-of-dates"),
    ],
)
def test_if_range_matches(if_range: str, expected: bool) -> None:
    assert if_range_matches(if_range, etag=ETAG, last_modified=LM) is expected


@pytest.mark.parametrize(
    ("if_range", "expected"),
    [
        pytest.param(LM_DATE, False, id="date-when-no-last-modified"),
        pytest.param(ETAG, True, id="strong-etag-still-matches"),
    ],
)
def test_if_range_matches_without_last_modified(if_range: str, expected: bool) -> None:
    assert if_range_matches(if_range, etag=ETAG, last_modified=None) is expected


def test_a_list_of_a_thousand_elements_is_malformed() -> None:
    # MAX_TAGS bounds the work on a hostile field; a real list is far shorter.
    assert parse_entity_tag_list(", ".join(['"a"'] * 1000)) == [EntityTag('"a"', False)] * 1000
    assert parse_entity_tag_list(", ".join(['"a"'] * 1001)) is None
    assert parse_entity_tag_list("," * 999 + '"b"') == [EntityTag('"b"', False)]
    assert parse_entity_tag_list("," * 1000 + '"b"') is None
