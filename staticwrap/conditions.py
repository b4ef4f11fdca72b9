"""Entity tags and conditional requests (RFC 9110 §8.8.3, §13). Pure functions, no I/O.

An entity tag is handled as its full quoted text (``"abc"``) plus a weakness
flag, so that comparison is a plain string equality on the opaque-tag.
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

from ._syntax import OWS
from .dates import parse_http_date

# entity-tag = [ weak ] opaque-tag ; weak = %s"W/"
# opaque-tag = DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
# WSGI hands header values over as latin-1 decoded text, so obs-text
# (%x80-FF) is the range \x80-\xff here. etagc excludes DQUOTE, so the
# pattern has one way to match any text: it is linear, even on a failure.
_ENTITY_TAG = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')


class EntityTag(NamedTuple):
    """One entity tag: ``opaque`` keeps its double quotes, ``weak`` is the ``W/`` prefix."""

    opaque: str
    weak: bool


class Outcome(enum.Enum):
    """What the §13.2.2 evaluation decided for a GET or HEAD of an existing file."""

    PROCEED = "proceed"
    NOT_MODIFIED = "304"
    PRECONDITION_FAILED = "412"


#: Stands for ``*`` in an If-Match or If-None-Match field.
ANY = "*"

#: The most list elements an If-Match or If-None-Match field may have. A
#: cache revalidating sends a few tags; a longer list is taken as malformed,
#: so that a megabyte of commas costs a count, not a parse of each element.
MAX_TAGS = 1000


def parse_entity_tag_list(value: str) -> list[EntityTag] | str | None:
    """Parse ``If-Match``/``If-None-Match``: ``"*" / #entity-tag``.

    Returns :data:`ANY` for ``*``, the tags of a valid list, or ``None`` when
    the field is malformed anywhere. A malformed field matches nothing:
    If-Match then fails (the client asked for safety) and If-None-Match passes.
    Empty list elements are skipped (§5.6.1.2). A list of more than
    :data:`MAX_TAGS` elements is taken as malformed. The time taken is linear
    in the length of the field, whatever it holds.
    """
    value = value.strip(OWS)
    if value == ANY:
        return ANY
    elements = _list_elements(value)
    if elements is None:
        return None
    tags = []
    for element in elements:
        element = element.strip(OWS)
        if not element:
            continue
        match = _ENTITY_TAG.fullmatch(element)
        if match is None:
            return None
        tags.append(EntityTag(match.group(2), match.group(1) is not None))
    return tags


def _list_elements(value: str) -> list[str] | None:
    """Split a ``#entity-tag`` field on the commas outside opaque-tags (§5.6.1).

    ``None`` when a quote is left open, when one element holds two quoted
    strings, or when there are more than :data:`MAX_TAGS` elements: each is
    malformed, and each is found by counting and splitting, before any
    element is looked at. (A regular expression for the whole list, with OWS
    on both sides of each comma, let a failing match try every way of sharing
    a run of white space between two commas: exponential time.)
    """
    # etagc includes "," but not DQUOTE, so quotes pair up: pieces[1::2] are
    # the insides of opaque-tags, where a comma is data, and only the commas
    # of pieces[::2] separate elements. An element of a valid list has at
    # most two quotes, so counting them first bounds the split.
    if value.count('"') > 2 * MAX_TAGS:
        return None
    pieces = value.split('"')
    if len(pieces) % 2 == 0:
        return None  # an odd number of quotes: one is never closed
    outside = pieces[::2]
    if sum(piece.count(",") for piece in outside) >= MAX_TAGS:
        return None
    elements = outside[0].split(",")
    quoted = False  # whether elements[-1] holds a quoted string already
    for inside, after in zip(pieces[1::2], outside[1:], strict=True):
        if quoted:
            return None  # two quoted strings in one element: '"a" "b"'
        head, *rest = after.split(",")
        elements[-1] = f'{elements[-1]}"{inside}"{head}'
        elements += rest
        quoted = not rest
    return elements


def parse_entity_tag(value: str) -> EntityTag | None:
    """Parse a single entity tag, as in ``If-Range`` or ``ETag``; ``None`` if malformed."""
    match = _ENTITY_TAG.fullmatch(value.strip(OWS))
    if match is None:
        return None
    return EntityTag(match.group(2), match.group(1) is not None)


def strong_match(tags: list[EntityTag] | str | None, current: str) -> bool:
    """Strong comparison (§8.8.3.2) of a parsed list against the current strong ETag.

    ``*`` matches because the representation exists (§13.1.1). A weak tag never
    matches strongly.
    """
    if tags == ANY:
        return True
    if tags is None or isinstance(tags, str):
        return False
    return any(not tag.weak and tag.opaque == current for tag in tags)


def weak_match(tags: list[EntityTag] | str | None, current: str) -> bool:
    """Weak comparison (§8.8.3.2): opaque-tags equal, ``W/`` ignored; ``*`` matches."""
    if tags == ANY:
        return True
    if tags is None or isinstance(tags, str):
        return False
    return any(tag.opaque == current for tag in tags)


def evaluate_preconditions(
    *,
    etag: str,
    last_modified: int | None,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
) -> Outcome:
    """Evaluate the preconditions of a GET or HEAD in the order of RFC 9110 §13.2.2.

    :param etag: the strong ETag (with quotes) of the representation that would be sent.
    :param last_modified: its Last-Modified as a timestamp, or ``None`` when it has none.

    The caller evaluates only for GET and HEAD on a file that exists, which are
    the requests whose response would otherwise be 2xx (§13.2.1). If-Range is
    not a precondition here; see :func:`if_range_matches`.
    """
    # Step 1: If-Match, strong comparison (§13.1.1).
    if if_match is not None:
        if not strong_match(parse_entity_tag_list(if_match), etag):
            return Outcome.PRECONDITION_FAILED
    # Step 2: If-Unmodified-Since, only without If-Match (§13.1.4). An invalid
    # date, a list, or a resource without a modification date: ignored.
    elif if_unmodified_since is not None and last_modified is not None:
        date = parse_http_date(if_unmodified_since)
        if date is not None and last_modified > date:
            return Outcome.PRECONDITION_FAILED
    # Step 3: If-None-Match, weak comparison (§13.1.2); GET/HEAD → 304.
    if if_none_match is not None:
        # A cache revalidating sends back exactly the ETag it was given: that
        # one-member list matches without being parsed.
        if if_none_match == etag or weak_match(parse_entity_tag_list(if_none_match), etag):
            return Outcome.NOT_MODIFIED
    # Step 4: If-Modified-Since, only without If-None-Match (§13.1.3).
    elif if_modified_since is not None and last_modified is not None:
        date = parse_http_date(if_modified_since)
        if date is not None and last_modified <= date:
            return Outcome.NOT_MODIFIED
    return Outcome.PROCEED


def if_range_matches(if_range: str, *, etag: str, last_modified: int | None) -> bool:
    """Whether an If-Range condition holds, so that the Range may be honoured (§13.1.5).

    An entity tag compares strongly (a weak one never matches); an HTTP-date
    must equal the Last-Modified exactly. Anything else, or a date when the
    file has no Last-Modified, is false: the Range is then ignored and the
    whole representation sent, which is always safe.
    """
    value = if_range.strip(OWS)
    # A DQUOTE in the first three characters can only begin an entity-tag
    # (``"x"`` or ``W/"x"``); an HTTP-date never contains one.
    if '"' in value[:3]:
        tag = parse_entity_tag(value)
        return tag is not None and not tag.weak and tag.opaque == etag
    date = parse_http_date(value)
    return date is not None and date == last_modified
