"""Fuzz the request header parsers, checking each answer against the RFCs rather than only for crashes.

Targets: ``ranges.parse_range_header``/``resolve_ranges``/``format_content_range`` (Range,
RFC 9110 §14), ``dates.parse_http_date``/``format_http_date`` (§5.6.7),
``conditions.parse_entity_tag_list``/``evaluate_preconditions``/``if_range_matches`` (§8.8.3,
§13) and ``negotiation.parse_accept_encoding``/``choose_coding`` (§12.5.3). None of them
documents an exception, so any exception is a failure, and so is an answer that breaks an
invariant (a range outside the representation, a date that does not survive formatting, a list
of tags that an independent reading of the grammar disagrees with, a coding chosen over a
better one).

With atheris (``pip install -e '.[fuzz]'``) inputs are coverage-guided by libFuzzer; without it,
or with ``--plain``, the same target runs on seeded random inputs, so CI can always run it::

    python fuzz/fuzz_headers.py                 # a short run (10 s)
    python fuzz/fuzz_headers.py --runs 20000    # a fixed number of inputs
    python fuzz/fuzz_headers.py --time 600 -- -max_len=512 CORPUS   # after "--": libFuzzer's

Inputs are bytes read by :class:`Source` as a little program: which parser to exercise, and a
header value assembled from grammar pieces (``bytes=``, ``W/"``, day names, numerals near the
representation's length, ...) and single characters. A crash is saved under ``--artifacts``;
replay it with ``python fuzz/fuzz_headers.py FILE``.
"""

from __future__ import annotations

import argparse
import calendar
import email.utils
import importlib
import os
import random
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")


def load_atheris() -> ModuleType | None:
    """atheris when it is installed and wanted (``--plain`` says not), else ``None``."""
    if "--plain" in sys.argv:
        return None
    try:
        return importlib.import_module("atheris")
    except ImportError:
        return None


ATHERIS = load_atheris()
if ATHERIS is not None:
    # The str hook gives libFuzzer the strings the parsers compare against (startswith and
    # the like); instrumentation gives it the branches staticwrap takes. (The RegEx hook is
    # left off: it cannot model several of the package's patterns and says so on every run.)
    ATHERIS.enabled_hooks.add("str")
    with ATHERIS.instrument_imports(include=["staticwrap"]):
        from staticwrap import conditions, dates, negotiation, ranges
else:
    from staticwrap import conditions, dates, negotiation, ranges


# -- Reading an input --------------------------------------------------------------------------


class Source:
    """Values read from the fuzzer's bytes, in order; past the end every byte reads as 0.

    Reading is deterministic, so libFuzzer's mutations of the bytes are mutations of the
    values, and a saved crash replays exactly.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def byte(self) -> int:
        if self._at >= len(self._data):
            return 0
        value = self._data[self._at]
        self._at += 1
        return value

    def below(self, bound: int) -> int:
        """A whole number in ``[0, bound)``, from as many bytes as ``bound`` needs."""
        value = 0
        for _ in range(max(1, (bound.bit_length() + 7) // 8)):
            value = value << 8 | self.byte()
        return value % bound

    def flag(self) -> bool:
        return self.byte() & 1 == 1

    def pick(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def join(self, parts: Sequence[Sequence[str]], pieces: Sequence[str]) -> str:
        """One choice from each of ``parts`` in order, now and then a free token instead.

        The shape of a grammar with an occasional wrong part: most inputs are then near-valid
        values, where parsers have their edge cases, rather than noise they reject at once.
        """
        out = []
        for choices in parts:
            out.append(self.pick(choices) if self.byte() < 248 else self.text(pieces, limit=2))
        return "".join(out)

    def text(self, pieces: Sequence[str], limit: int = 40) -> str:
        """A header value of up to ``limit`` tokens: grammar pieces, numerals, characters.

        Characters are latin-1 (0-255): a WSGI server hands header bytes over as latin-1 text
        (PEP 3333), so nothing outside that range ever reaches a parser.
        """
        out = []
        for _ in range(self.below(limit + 1)):
            kind = self.byte()
            if kind < 96:
                out.append(self.pick(pieces))
            elif kind < 112:
                # A numeral, sometimes with zeros in front and sometimes far past any file size.
                digits = self.below(30) + 1
                out.append("0" * self.below(3) + str(self.below(10**digits)))
            elif kind < 240:
                out.append(chr(32 + self.below(95)))  # printable ASCII
            else:
                out.append(chr(self.byte()))  # controls, DEL and obs-text
        return "".join(out)


OWS = " \t"
NOW = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT: rfc850 years are read relative to it
FIRST_SECOND, LAST_SECOND = -62135596800, 253402300799  # 0001-01-01 and 9999-12-31 (UTC)


# -- Range (§14) -------------------------------------------------------------------------------

RANGE_PIECES = ["bytes", "BYTES", "Bytes", "bytes=", "=", "-", ",", ", ", " ", "\t", "0", "1", "9", "00", "items"]
# range-spec = int-range / suffix-range (§14.1.1); ASCII digits only.
SPEC_TEXT = r"(?:[0-9]+-[0-9]*|-[0-9]+)"
# ranges-specifier = range-unit "=" range-set, range-set = 1#range-spec, with the recipient's
# list rule of §5.6.1.2 (empty elements allowed): *( "," OWS ) element *( OWS "," [ OWS element ] ).
# The unit is case-insensitive (§14.1), spelt out so that no Unicode case folding creeps in.
RANGES_SPECIFIER = re.compile(
    rf"[ \t]*[Bb][Yy][Tt][Ee][Ss]=(?:,[ \t]*)*{SPEC_TEXT}(?:[ \t]*,(?:[ \t]*{SPEC_TEXT})?)*[ \t]*"
)
SPEC = re.compile(r"([0-9]*)-([0-9]*)")
# Numerals this long exceed any length a file can have; the parser may keep them inexactly.
EXACT_DIGITS = 18


def numeral_matches(kept: int | None, digits: str) -> bool:
    """Whether the parser kept a numeral right: exactly, or as a number past every file size."""
    significant = digits.lstrip("0") or "0"
    if len(significant) <= EXACT_DIGITS:
        return kept == int(significant)
    return kept is not None and kept >= 10**EXACT_DIGITS


def numeral_less(left: str, right: str) -> bool:
    """``int(left) < int(right)`` for numerals of any length (int() refuses more than 4300 digits)."""
    left, right = left.lstrip("0"), right.lstrip("0")
    return (len(left), left) < (len(right), right)


def check_range_header(value: str, max_ranges: int, specs: list[ranges.RangeSpec] | None) -> None:
    """The parser accepts exactly the §14.1.1 grammar, within its documented limits."""
    grammatical = RANGES_SPECIFIER.fullmatch(value) is not None
    range_set = value.strip(OWS).partition("=")[2]
    elements = range_set.split(",")
    written = [SPEC.fullmatch(element.strip(OWS)) for element in elements if element.strip(OWS)]
    if specs is None:
        # Ignoring a Range is right only for bad syntax (an int-range ending before it starts,
        # §14.1.1, is bad syntax too) or past the limits: more specs than max_ranges, or more
        # list elements than twice that (empty ones count: they cost work too).
        backwards = any(
            match is not None and match[1] and match[2] and numeral_less(match[2], match[1]) for match in written
        )
        limits = len(written) > max_ranges or len(elements) > 2 * max_ranges
        assert not grammatical or backwards or limits, (value, max_ranges)
        return
    assert grammatical, value
    assert 1 <= len(specs) <= max_ranges, (value, specs)
    assert len(specs) == len(written), (value, specs)
    for spec, match in zip(specs, written, strict=True):
        assert match is not None
        first, last = match.groups()
        if first:
            assert numeral_matches(spec.first, first), (value, spec)
            assert numeral_matches(spec.last, last) if last else spec.last is None, (value, spec)
        else:
            assert spec.first is None, (value, spec)
            assert numeral_matches(spec.last, last), (value, spec)


def selected_bytes(specs: Sequence[ranges.RangeSpec], length: int) -> list[tuple[int, int]]:
    """What each spec selects of ``length`` bytes, as ``[start, stop)`` (§14.1.1); unsatisfiable ones dropped."""
    selected = []
    for first, last in specs:
        if first is None:
            assert last is not None
            if last > 0:
                selected.append((max(length - last, 0), length))
        elif first < length:
            selected.append((first, length if last is None else min(last + 1, length)))
    return selected


def coalesced(selected: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping and adjacent ranges merged, each merged range where its earliest part was asked for."""
    merged: list[list[int]] = []
    for index, (start, stop) in sorted(enumerate(selected), key=lambda item: item[1]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
            merged[-1][2] = min(merged[-1][2], index)
        else:
            merged.append([start, stop, index])
    return [(start, stop) for start, stop, _ in sorted(merged, key=lambda part: part[2])]


def fuzz_ranges(source: Source) -> None:
    max_ranges = 1 + source.below(20)
    length = source.pick([0, 1, 2, 10, 4096, source.below(1 << 16), source.below(1 << 64)])
    near = [str(length), str(max(length - 1, 0)), str(length + 1), "0", "1", "2", "00", "9" * 25]
    pieces = [*RANGE_PIECES, *near]
    if source.flag():
        value = source.text(pieces)
    else:
        specs_text = [
            source.join([near, ["-"], ["", *near]], pieces) if source.flag() else "-" + source.pick(near)
            # Mostly within max_ranges; now and then past it, or past twice it.
            for _ in range(source.below(max_ranges + 1) if source.byte() < 224 else source.below(2 * max_ranges + 3))
        ]
        separators = [",", ", ", " ,", ",,", ",\t", ", ,"]
        value = source.join([["bytes", "BYTES", "Bytes", "items", ""], ["="]], pieces)
        value += "".join(spec + source.pick(separators) for spec in specs_text)
        if source.flag():
            value = value.rstrip(", \t")
    specs = ranges.parse_range_header(value, max_ranges=max_ranges)
    check_range_header(value, max_ranges, specs)
    if specs is None:
        return
    resolved = ranges.resolve_ranges(specs, length)
    selected = selected_bytes(specs, length)
    # §14.1.1 and the contract's abuse limit (rule 21): an empty representation, or ranges
    # asking for more bytes than it has, are ignored; nothing satisfiable is a 416.
    if length == 0 or sum(stop - start for start, stop in selected) > length:
        assert resolved is None, (value, length, resolved)
        return
    if not selected:
        assert resolved is ranges.UNSATISFIABLE, (value, length, resolved)
        return
    assert isinstance(resolved, list), (value, length, resolved)
    assert [(part.start, part.stop) for part in resolved] == coalesced(selected), (value, length, resolved)
    for part in resolved:
        assert 0 <= part.start < part.stop <= length, (value, length, part)
        content_range = ranges.format_content_range(part, length)
        assert content_range == f"bytes {part.start}-{part.stop - 1}/{length}", content_range


# -- HTTP-date (§5.6.7) ------------------------------------------------------------------------

DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
LONG_DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DATE_PIECES = [
    *DAY_NAMES,
    *LONG_DAY_NAMES,
    *MONTH_NAMES,
    ", ",
    " ",
    "  ",
    "-",
    ":",
    " GMT",
    "GMT",
    "gmt",
    "UTC",
    "00",
    "06",
    "29",
    "31",
    "59",
    "60",
    "1994",
    "2000",
    "0001",
    "9999",
    "94",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    # NOW + 50 years, and a second later: the edge of §5.6.7's two-digit-year rule.
    "Tuesday, 14-Nov-73 22:13:20 GMT",
    "Tuesday, 14-Nov-73 22:13:21 GMT",
]
# The three forms, as C-locale strptime formats: an independent reading of the same text.
STRPTIME_FORMS = [
    ("imf", "%a, %d %b %Y %H:%M:%S GMT"),
    ("rfc850", "%A, %d-%b-%y %H:%M:%S GMT"),
    ("asctime", "%a %b %d %H:%M:%S %Y"),
]


def rfc850_year(two_digits: int, moment: tuple[int, ...], now: float) -> int:
    """§5.6.7: the year with these last two digits, unless that is more than 50 years ahead of ``now``."""
    current = time.gmtime(now)
    year = current.tm_year - current.tm_year % 100 + two_digits
    if (year, *moment) > (current.tm_year + 50, *current[1:6]):
        year -= 100
    return year


def read_date_independently(text: str, now: float) -> int | None:
    """The instant ``text`` names, read by strptime and the RFC's two-digit-year rule."""
    for form, pattern in STRPTIME_FORMS:
        try:
            fields = time.strptime(text, pattern)
        except ValueError:
            continue
        moment = (fields.tm_mon, fields.tm_mday, fields.tm_hour, fields.tm_min, fields.tm_sec)
        year = rfc850_year(fields.tm_year % 100, moment, now) if form == "rfc850" else fields.tm_year
        return calendar.timegm((year, *moment, 0, 0, 0))
    return None


def fuzz_date_text(source: Source) -> None:
    now = source.pick([NOW, 0, 4_000_000_000, source.below(1 << 33)])
    if source.flag():
        value = source.text(DATE_PIECES, limit=12)
    else:
        two = [f"{number:02d}" for number in range(62)]
        day = [*two[:32], " 6", "6", "1", "99"]
        year = ["0000", "0001", "1969", "1970", "1994", "2000", "2023", "2038", "2100", "9999", "99999"]
        clock = [two[:25], [":"], two, [":"], two]
        layout = source.pick(["imf", "rfc850", "asctime"])
        if layout == "imf":  # Sun, 06 Nov 1994 08:49:37 GMT
            parts = [DAY_NAMES, [", "], day, [" "], MONTH_NAMES, [" "], year, [" "], *clock, [" GMT"]]
        elif layout == "rfc850":  # Sunday, 06-Nov-94 08:49:37 GMT
            parts = [LONG_DAY_NAMES, [", "], day, ["-"], MONTH_NAMES, ["-"], two[:100], [" "], *clock, [" GMT"]]
        else:  # Sun Nov  6 08:49:37 1994
            parts = [DAY_NAMES, [" "], MONTH_NAMES, [" "], day, [" "], *clock, [" "], year]
        value = source.pick(["", " ", "\t"]) + source.join(parts, DATE_PIECES) + source.pick(["", " ", "\t"])
    parsed = dates.parse_http_date(value, now=now)
    if parsed is None:
        return
    # What the parser accepted, strptime reads as the same instant (strptime is laxer: it is
    # only asked about text the parser accepted).
    assert parsed == read_date_independently(value.strip(OWS), now), (value, parsed)
    # The sender's form of that instant (§5.6.7 IMF-fixdate) reads back the same.
    formatted = dates.format_http_date(parsed)
    assert formatted == email.utils.formatdate(parsed, usegmt=True), (parsed, formatted)
    assert dates.parse_http_date(formatted) == parsed, (value, formatted)


def fuzz_date_instant(source: Source) -> None:
    instant = FIRST_SECOND + source.below(LAST_SECOND - FIRST_SECOND + 1)
    formatted = dates.format_http_date(instant)
    assert formatted == email.utils.formatdate(instant, usegmt=True), (instant, formatted)
    assert dates.parse_http_date(formatted) == instant, formatted
    t = time.gmtime(instant)
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    asctime = f"{DAY_NAMES[t.tm_wday]} {MONTH_NAMES[t.tm_mon - 1]} {t.tm_mday:2d} {clock} {t.tm_year:04d}"
    assert dates.parse_http_date(asctime) == instant, asctime
    date2 = f"{t.tm_mday:02d}-{MONTH_NAMES[t.tm_mon - 1]}-{t.tm_year % 100:02d}"
    rfc850 = f"{LONG_DAY_NAMES[t.tm_wday]}, {date2} {clock} GMT"
    # Read at the moment it names, a two-digit year means that moment's own century.
    assert dates.parse_http_date(rfc850, now=instant) == instant, rfc850


# -- Entity tags and preconditions (§8.8.3, §13) -----------------------------------------------

ETAG = '"loB6MiXzk2eAxr4IbnkXhw"'
TAG_PIECES = [ETAG, "W/" + ETAG, '"x"', '""', "W/", "w/", '"', "*", ",", ", ", " ", "\t", "\x7f", "\xff", "a", '","']


def etagc(character: str) -> bool:
    """etagc = %x21 / %x23-7E / obs-text (%x80-FF, as latin-1 text in WSGI)."""
    code = ord(character)
    return code == 0x21 or 0x23 <= code <= 0x7E or 0x80 <= code <= 0xFF


def read_tags_independently(value: str) -> list[tuple[str, bool]] | str | None:
    """``"*" / #entity-tag`` scanned by hand, with §5.6.1.2's empty list elements; ``None`` if malformed."""
    text = value.strip(OWS)
    if text == "*":
        return "*"
    tags: list[tuple[str, bool]] = []
    at = 0
    while True:
        while at < len(text) and text[at] in OWS:
            at += 1
        if at == len(text):
            return tags
        if text[at] == ",":
            at += 1
            continue
        weak = text.startswith("W/", at)
        if weak:
            at += 2
        if at == len(text) or text[at] != '"':
            return None
        end = text.find('"', at + 1)
        if end < 0 or not all(etagc(character) for character in text[at + 1 : end]):
            return None
        tags.append((text[at : end + 1], weak))
        at = end + 1
        while at < len(text) and text[at] in OWS:
            at += 1
        if at < len(text) and text[at] != ",":
            return None


def fuzz_conditions(source: Source) -> None:
    last_modified = source.pick([None, 0, NOW, source.below(1 << 34)])
    pieces = [*TAG_PIECES, *DATE_PIECES[-3:]]
    if last_modified is not None:
        pieces.append(dates.format_http_date(last_modified))

    def field() -> str | None:
        if source.flag():
            return None
        if source.flag():
            return source.text(pieces, limit=8)
        elements = ['"x"', '""', ETAG, "W/" + ETAG, '"' + ETAG + '"', "*", '"a b"', '"\xff"', '"a,b"', '","']
        elements.append(pieces[-1])
        # Runs of empty elements with white space around each comma: the shape that made a
        # whole-list regular expression backtrack exponentially (issue 11).
        separators = [",", ", ", " ,", ",,", " ", "", " , , ", ",\t,\t", ", " * 30 + ",", " ," * 30 + " "]
        return "".join(source.join([elements, separators], pieces) for _ in range(source.below(4) + 1))

    fields = [field() for _ in range(5)]
    if_match, if_none_match, if_modified_since, if_unmodified_since, if_range = fields

    for value in (if_match, if_none_match):
        if value is None:
            continue
        parsed = conditions.parse_entity_tag_list(value)
        expected = read_tags_independently(value)
        if isinstance(parsed, list):
            assert [(tag.opaque, tag.weak) for tag in parsed] == expected, (value, parsed, expected)
        else:
            assert parsed == expected, (value, parsed, expected)

    outcome = conditions.evaluate_preconditions(
        etag=ETAG,
        last_modified=last_modified,
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
    )
    failed, not_modified = conditions.Outcome.PRECONDITION_FAILED, conditions.Outcome.NOT_MODIFIED
    # §13.2.2: only If-Match or If-Unmodified-Since can fail a GET; only If-None-Match or
    # If-Modified-Since can make it a 304; and a field naming the current tag cannot fail.
    if if_match is None and (if_unmodified_since is None or last_modified is None):
        assert outcome is not failed, fields
    if if_none_match is None and (if_modified_since is None or last_modified is None):
        assert outcome is not not_modified, fields
    if if_match is not None and if_match.strip(OWS) in {"*", ETAG}:
        assert outcome is not failed, fields
    if if_match is not None and if_match.strip(OWS) == "W/" + ETAG:
        assert outcome is failed, fields  # a weak tag never matches strongly (§8.8.3.2)
    if outcome is not failed and if_none_match is not None and if_none_match.strip(OWS) in {"*", ETAG, "W/" + ETAG}:
        assert outcome is not_modified, fields

    # The date steps (§13.1.3, §13.1.4), each evaluated only when the tag step before it is absent.
    unmodified = None if if_unmodified_since is None else dates.parse_http_date(if_unmodified_since)
    modified = None if if_modified_since is None else dates.parse_http_date(if_modified_since)
    if if_match is None and last_modified is not None and unmodified is not None:
        assert (outcome is failed) == (last_modified > unmodified), fields
        if outcome is not failed and if_none_match is None and modified is not None:
            assert (outcome is not_modified) == (last_modified <= modified), fields

    if if_range is not None:
        matches = conditions.if_range_matches(if_range, etag=ETAG, last_modified=last_modified)
        stripped = if_range.strip(OWS)
        # §13.1.5: the strong current tag or the exact Last-Modified date; nothing else.
        date = dates.parse_http_date(stripped)
        assert matches == (stripped == ETAG or (last_modified is not None and date == last_modified)), if_range


# -- Accept-Encoding (§12.5.3) -----------------------------------------------------------------

CODING_PIECES = [
    "gzip",
    "GZIP",
    "x-gzip",
    "br",
    "zstd",
    "identity",
    "*",
    "deflate",
    ";q=",
    ";Q=",
    ";q=0",
    ";q=1",
    ";q=0.5",
    ";q=1.000",
    ";q=0.001",
    ";level=1",
    "0.",
    ",",
    ", ",
    " ",
    ";",
    "=",
]
TOKEN_TEXT = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # token = 1*tchar (§5.6.2)
TOKEN = re.compile(TOKEN_TEXT)
# A plain element: OWS coding [ OWS ";" OWS "q=" qvalue ] OWS (§12.5.3, §12.4.2), where
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
QVALUE_TEXT = r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?"
STRICT_ELEMENT = re.compile(rf"[ \t]*({TOKEN_TEXT})[ \t]*(?:;[ \t]*[qQ]=({QVALUE_TEXT}))?[ \t]*")


def fuzz_negotiation(source: Source) -> None:
    if source.flag():
        value = source.text(CODING_PIECES, limit=16)
    else:
        codings = ["gzip", "GZIP", "x-gzip", "br", "BR", "zstd", "identity", "*", "deflate", ""]
        weights_text = ["", ";q=0", ";q=0.5", ";q=1", ";q=1.000", ";q=0.001", ";Q=0.7", ";q=1.5", ";level=1;q=0.2"]
        spaces = ["", " ", "\t"]
        parts = [spaces, codings, spaces, weights_text, spaces, [",", ", "]]
        value = "".join(source.join(parts, CODING_PIECES) for _ in range(source.below(6)))
    available = tuple(coding for coding in negotiation.SERVER_ORDER if source.flag())
    weights = negotiation.parse_accept_encoding(value)
    for coding, weight in weights.items():
        assert TOKEN.fullmatch(coding), (value, weights)
        assert coding == coding.lower(), (value, weights)  # codings are case-insensitive (§8.4.1)
        assert coding != "x-gzip", (value, weights)  # an alias of gzip (§8.4.1.3)
        assert 0 <= weight <= 1, (value, weights)
    # A coding named once, in a well-formed element, has exactly that element's weight.
    elements = value.split(",")
    names = [element.partition(";")[0].strip(OWS).lower() for element in elements]
    names = ["gzip" if name == "x-gzip" else name for name in names]
    for element in elements:
        strict = STRICT_ELEMENT.fullmatch(element)
        if strict is None:
            continue
        name = strict[1].lower()
        name = "gzip" if name == "x-gzip" else name
        if names.count(name) == 1:
            assert weights.get(name) == float(strict[2] or 1), (value, name, weights)

    chosen = negotiation.choose_coding(value, available)
    assert chosen in (*available, "identity"), (value, available, chosen)
    if not value:
        assert chosen == "identity"
        return
    wildcard = weights.get("*")

    def quality(coding: str) -> float:
        return weights.get(coding, wildcard or 0.0)

    identity = weights.get("identity", wildcard)  # None: acceptable, below anything named
    if chosen != "identity":
        best = quality(chosen)
        assert best > 0, (value, available, chosen)  # q=0 means "not acceptable"
        for other in available:
            assert quality(other) <= best, (value, available, chosen)
            if quality(other) == best:  # ties go to the server's order
                assert available.index(chosen) <= available.index(other), (value, available, chosen)
        assert identity is None or identity <= best, (value, available, chosen)
    else:
        for coding in available:
            assert quality(coding) == 0 or (identity is not None and quality(coding) < identity), (
                value,
                available,
                chosen,
            )


# -- The target and the runners ----------------------------------------------------------------

TARGETS: list[Callable[[Source], None]] = [
    fuzz_ranges,
    fuzz_date_text,
    fuzz_date_instant,
    fuzz_conditions,
    fuzz_negotiation,
]


def test_one_input(data: bytes) -> None:
    """One fuzz input: its first byte picks the parser, the rest is read by that target."""
    source = Source(data)
    source.pick(TARGETS)(source)


def run_plain(runs: int | None, seconds: float | None, seed: int, artifacts: Path) -> int:
    """The same target on seeded random inputs, for machines where atheris does not install."""
    generator = random.Random(seed)
    started = time.monotonic()
    executions = 0
    # A count of runs, or a time budget: this bounds the loop, it asserts nothing.
    while (runs is None or executions < runs) and (seconds is None or time.monotonic() - started < seconds):
        data = generator.randbytes(generator.randrange(0, 256))
        executions += 1
        try:
            test_one_input(data)
        except Exception:
            artifacts.mkdir(parents=True, exist_ok=True)
            crash = artifacts / f"crash-plain-{seed}-{executions}"
            crash.write_bytes(data)
            traceback.print_exc()
            print(f"fuzz: CRASH on input {data!r}, saved to {crash}", file=sys.stderr)
            print(f"fuzz: {executions} executions, 1 crash (plain random loop, seed {seed})")
            return 1
    elapsed = time.monotonic() - started
    print(f"fuzz: {executions} executions in {elapsed:.1f} s, 0 crashes (plain random loop, seed {seed})")
    return 0


def replay(paths: Sequence[str]) -> int:
    for path in paths:
        test_one_input(Path(path).read_bytes())
        print(f"fuzz: {path} passes")
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--runs", type=int, help="stop after this many inputs")
    budget.add_argument("--time", type=float, help="stop after this many seconds (default 10 when no --runs)")
    parser.add_argument("--plain", action="store_true", help="a seeded random loop, without atheris")
    parser.add_argument(
        "--seed",
        type=int,
        help="seed of the inputs, for a run that repeats exactly (default: 0 for the plain loop, "
        "a new one each run for libFuzzer)",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path(tempfile.gettempdir()) / "staticwrap-fuzz",
        help="where crashing inputs are saved (default: %(default)s)",
    )
    parser.add_argument("replay", nargs="*", help="inputs to run once each (saved crashes), instead of fuzzing")
    # Everything after "--" is libFuzzer's: -flags, and corpus directories to read and grow.
    split = list(argv).index("--") if "--" in argv else len(argv)
    options = parser.parse_args(argv[:split])
    libfuzzer = list(argv[split + 1 :])
    if options.replay:
        return replay(options.replay)
    seconds = options.time if options.time is not None or options.runs is not None else 10.0
    if ATHERIS is None:
        if not options.plain:
            print("fuzz: atheris is not installed; running the plain random loop", file=sys.stderr)
        return run_plain(options.runs, seconds, options.seed or 0, options.artifacts)
    options.artifacts.mkdir(parents=True, exist_ok=True)
    budget_flag = f"-runs={options.runs}" if options.runs is not None else f"-max_total_time={int(seconds)}"
    arguments = [sys.argv[0], budget_flag, f"-artifact_prefix={options.artifacts}{os.sep}", "-print_final_stats=1"]
    if options.seed is not None:
        arguments.append(f"-seed={options.seed}")
    arguments += libfuzzer
    ATHERIS.Setup(arguments, test_one_input)
    ATHERIS.Fuzz()  # exits the process itself; libFuzzer prints "Done N runs" and its stats
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
