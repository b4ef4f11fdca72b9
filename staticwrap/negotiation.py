"""Accept-Encoding negotiation (RFC 9110 §12.5.3). Pure functions, no I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._syntax import OWS, TOKEN

IDENTITY = "identity"

#: Codings staticwrap serves from precompressed files, in the server's order of
#: preference for ties (§12.5.3 leaves ties to the server): brotli and zstd
#: compress web assets better than gzip.
SERVER_ORDER = ("br", "zstd", "gzip")

# §12.5.3: "x-gzip" is an alias of "gzip" (§8.4.1.3).
_ALIASES = {"x-gzip": "gzip"}

# weight = OWS ";" OWS "q=" qvalue
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")

#: Elements of an Accept-Encoding field that are read (browsers send four or five).
MAX_ELEMENTS = 64

#: Parameters an element may have. §12.5.3 gives a coding one, its weight;
#: a few more are tolerated, but an element with a run of them is dropped
#: unread, so that the work per element stays bounded whatever its length.
MAX_PARAMETERS = 8

# An identity coding that the field neither names nor covers with "*" is still
# acceptable (§12.5.3) but ranks below every coding the client asked for.
_IMPLICIT_IDENTITY = 0.0001


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Map each coding named in an Accept-Encoding field to its qvalue.

    Codings are lower-cased (they are case-insensitive, §8.4.1), ``x-gzip``
    counts as ``gzip``, and a malformed element or qvalue drops that element
    only, as does one with more than :data:`MAX_PARAMETERS` parameters. When a
    coding appears twice the first one counts. Only the first
    :data:`MAX_ELEMENTS` elements are read: the work and memory stay bounded
    whatever the field's length.
    """
    weights: dict[str, float] = {}
    elements = value.split(",", MAX_ELEMENTS)
    for element in elements[:MAX_ELEMENTS]:
        coding, _, params = element.partition(";")
        coding = coding.strip(OWS).lower()
        if not TOKEN.fullmatch(coding):
            continue
        quality = 1.0
        if params:
            parsed = _parse_weight(params)
            if parsed is None:
                continue
            quality = parsed
        weights.setdefault(_ALIASES.get(coding, coding), quality)
    return weights


def _parse_weight(params: str) -> float | None:
    # parameters = *( OWS ";" OWS [ parameter ] ); parameter = name "=" value,
    # with no white space around "=" (§5.6.6). A malformed parameter makes
    # the element malformed: it is dropped, never read as q=1.
    parameters = params.split(";", MAX_PARAMETERS)
    if len(parameters) > MAX_PARAMETERS:
        return None
    quality = 1.0
    for param in parameters:
        param = param.strip(OWS)
        if not param:
            continue
        name, equals, raw = param.partition("=")
        if not equals or not TOKEN.fullmatch(name) or raw.startswith((" ", "\t")):
            return None
        if name.lower() == "q":
            if not _QVALUE.fullmatch(raw):
                return None
            quality = float(raw)
    # Parameters other than q carry no meaning for a content coding.
    return quality


def choose_coding(accept_encoding: str | None, available: Sequence[str]) -> str:
    """Pick the coding to send: one of ``available`` (in :data:`SERVER_ORDER`) or identity.

    The highest qvalue wins; ties go to the order of ``available`` then
    identity. A missing field means identity: a client that sends no
    Accept-Encoding (curl, scripts, old proxies) is not guessed at. An empty
    field means identity only (§12.5.3). When nothing is acceptable, not even
    identity (``identity;q=0`` or ``*;q=0``), identity is sent anyway rather
    than a 406, as §12.5.3 permits.
    """
    if not accept_encoding or not available:
        return IDENTITY
    weights = parse_accept_encoding(accept_encoding)
    wildcard = weights.get("*")
    best, best_quality = IDENTITY, weights.get(IDENTITY, _IMPLICIT_IDENTITY if wildcard is None else wildcard)
    for coding in reversed(available):
        quality = weights.get(coding, wildcard or 0.0)
        # ">=" while walking the server order backwards makes ties go to the
        # earlier (preferred) coding, and any coding beat identity on a tie.
        if quality > 0 and quality >= best_quality:
            best, best_quality = coding, quality
    return best


#: How many Accept-Encoding values :func:`choose_memoized` remembers per set
#: of codings, and the longest value it keeps: browsers send a handful of
#: distinct values, and a hostile client must not grow the table.
MEMO_SIZE = 256
MEMO_VALUE_LENGTH = 256

_MEMOS: dict[tuple[str, ...], dict[str | None, str]] = {}


def memo(available: tuple[str, ...]) -> dict[str | None, str]:
    """The table of past choices for ``available``, shared by every asset with those codings."""
    return _MEMOS.setdefault(available, {})


def choose_memoized(choices: dict[str | None, str], accept_encoding: str | None, available: Sequence[str]) -> str:
    """:func:`choose_coding`, remembered in ``choices`` (from :func:`memo` of ``available``)."""
    coding = choices.get(accept_encoding)
    if coding is None:
        coding = choose_coding(accept_encoding, available)
        if accept_encoding is None or len(accept_encoding) <= MEMO_VALUE_LENGTH:
            if len(choices) >= MEMO_SIZE:
                choices.clear()  # rare: start over rather than keep the first values forever
            choices[accept_encoding] = coding
    return coding
