"""Range requests (RFC 9110 §14). Pure functions, no I/O.

Naming follows the RFC at the edges and Python inside: ``first``/``last`` are
the inclusive positions of the header (``first-pos``, ``last-pos``) and appear
only while parsing and formatting; a :class:`ByteRange` is half-open
(``start``/``stop``, as a slice).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ._syntax import OWS

# range-spec = int-range / suffix-range
# int-range = first-pos "-" [ last-pos ] ; suffix-range = "-" suffix-length
# first-pos = last-pos = suffix-length = 1*DIGIT (ASCII only: no "+", "_" or
# other scripts' digits, all of which int() would accept).
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")

# Numbers with more digits than this are larger than any file; they are kept
# as this bound instead of converted, because int() of a huge numeral is slow
# and, since Python 3.11, raises past 4300 digits.
_MAX_DIGITS = 19
_HUGE = 10**_MAX_DIGITS


class ByteRange(NamedTuple):
    """A half-open byte range ``[start, stop)`` of a representation."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


class RangeSpec(NamedTuple):
    """One parsed range-spec: ``first`` is ``None`` for a suffix-range."""

    first: int | None
    last: int | None


class Unsatisfiable:
    """The Range was valid but no part of it overlaps the representation: a 416."""

    __slots__ = ()


UNSATISFIABLE = Unsatisfiable()


def _number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > _MAX_DIGITS else int(digits)


def _less(left: str, right: str) -> bool:
    """Compare two numerals of any length without converting them."""
    left, right = left.lstrip("0"), right.lstrip("0")
    return (len(left), left) < (len(right), right)


def parse_range_header(value: str, *, max_ranges: int) -> list[RangeSpec] | None:
    """Parse a ``Range`` field into its byte range-specs (§14.1.1, §14.2).

    Returns ``None`` when the field must be ignored: a unit other than
    ``bytes`` (case-insensitive, §14.1), a syntax error anywhere, or more than
    ``max_ranges`` range-specs. The work done is bounded by ``max_ranges``
    whatever the length of the field.
    """
    # ranges-specifier = range-unit "=" range-set: no white space around "="
    # (the list rule of §5.6.1 allows OWS only next to commas).
    unit, equals, range_set = value.strip(OWS).partition("=")
    if not equals or unit.lower() != "bytes" or range_set.startswith((" ", "\t")):
        return None
    # Split off at most what can be accepted (allowing for some empty list
    # elements, §5.6.1.2); whatever remains unsplit means too many ranges.
    limit = 2 * max_ranges
    elements = range_set.split(",", limit)
    if len(elements) > limit and "," in elements[-1]:
        return None
    specs: list[RangeSpec] = []
    for element in elements:
        element = element.strip(OWS)
        if not element:
            continue
        match = _RANGE_SPEC.fullmatch(element)
        if match is None:
            return None
        first_digits, last_digits = match.groups()
        if not first_digits:
            if not last_digits:
                return None
            specs.append(RangeSpec(None, _number(last_digits)))
            continue
        # §14.1.1: an int-range whose last-pos is less than its first-pos is invalid.
        if last_digits and _less(last_digits, first_digits):
            return None
        specs.append(RangeSpec(_number(first_digits), _number(last_digits) if last_digits else None))
    if not specs or len(specs) > max_ranges:
        return None
    return specs


def resolve_ranges(specs: list[RangeSpec], length: int) -> list[ByteRange] | Unsatisfiable | None:
    """Turn range-specs into the byte ranges to send from a ``length``-byte representation.

    Returns the ranges in request order, with overlapping and adjacent ones
    merged; :data:`UNSATISFIABLE` when none overlaps the representation
    (§14.1.1: a 416); ``None`` when the Range should be ignored and the whole
    representation sent: an empty representation, or specs whose lengths add
    up to more than the representation (overlapping ranges used to amplify a
    response, §14.2 lets a server ignore them).
    """
    if length == 0:
        return None
    ranges: list[ByteRange] = []
    total = 0
    for first, last in specs:
        if first is None:
            # suffix-range: satisfiable when suffix-length > 0; a suffix longer
            # than the representation selects all of it.
            assert last is not None
            if last == 0:
                continue
            byte_range = ByteRange(max(length - last, 0), length)
        else:
            # int-range: satisfiable when first-pos < length; last-pos is clamped.
            if first >= length:
                continue
            stop = length if last is None else min(last + 1, length)
            byte_range = ByteRange(first, stop)
        total += byte_range.length
        if total > length:
            return None
        ranges.append(byte_range)
    if not ranges:
        return UNSATISFIABLE
    return coalesce(ranges)


def coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    """Merge overlapping and adjacent ranges, keeping the order of first appearance.

    A merged range takes the place of the earliest range it absorbed, so the
    parts of a multipart response come in the order the client asked (§14.6
    allows coalescing; §15.3.7.2 says parts should be in request order).
    """
    merged: list[ByteRange] = []
    for byte_range in ranges:
        start, stop = byte_range
        position = None
        kept: list[ByteRange] = []
        # ``merged`` holds pairwise disjoint, non-adjacent ranges, so a range
        # touches their union only where it touches one of them.
        for other in merged:
            if other.start <= stop and start <= other.stop:
                start, stop = min(start, other.start), max(stop, other.stop)
                if position is None:
                    position = len(kept)
            else:
                kept.append(other)
        if position is None:
            kept.append(ByteRange(start, stop))
        else:
            kept.insert(position, ByteRange(start, stop))
        merged = kept
    return merged


def format_content_range(byte_range: ByteRange, length: int) -> str:
    """``Content-Range`` of a 206 part: ``bytes first-last/complete-length`` (§14.4)."""
    return f"bytes {byte_range.start}-{byte_range.stop - 1}/{length}"


def format_unsatisfied_range(length: int) -> str:
    """``Content-Range`` of a 416: ``bytes */complete-length`` (§14.4, §15.5.17)."""
    return f"bytes */{length}"
