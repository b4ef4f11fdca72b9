"""From an indexed asset and a request to a response plan: status, headers, body parts.

No WSGI and no I/O here: :class:`Request` holds the header values the
middleware read from the environ, and :class:`Plan` says what to send. The
body is described as segments (byte ranges of one variant's file, and literal
bytes for multipart framing) that :mod:`staticwrap.body` turns into an
iterable.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from ._syntax import SAFE_METHODS
from ._types import HeaderList
from .asset import CORS_EXPOSE, Asset, Variant
from .conditions import Outcome, evaluate_preconditions, if_range_matches
from .config import Config, is_origin
from .dictionaries import accepts_dcz, parse_available_dictionary
from .negotiation import choose_coding, parse_accept_encoding
from .ranges import (
    UNSATISFIABLE,
    ByteRange,
    RangeSpec,
    format_content_range,
    format_unsatisfied_range,
    parse_range_header,
    resolve_ranges,
)

ALLOWED_METHODS = "GET, HEAD"

# Request headers a cross-origin script may send to a static file (CORS preflight).
_PREFLIGHT_HEADERS = "Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range"

Segment = ByteRange | bytes


class Request(NamedTuple):
    """The parts of a request that decide a static response; ``None`` for an absent header."""

    method: str
    accept_encoding: str | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None
    range: str | None = None
    if_range: str | None = None
    origin: str | None = None
    preflight_method: str | None = None
    available_dictionary: str | None = None


class Plan(NamedTuple):
    """What to send.

    ``variant`` is the file the answer was made from (``None`` for a 405 or a
    preflight, which consult no file); ``segments`` is empty when there is no
    body (304, 412, 416).
    """

    status: str
    headers: HeaderList
    variant: Variant | None = None
    segments: tuple[Segment, ...] = ()


def respond(asset: Asset, request: Request, config: Config) -> Plan:
    """Decide the response to a request for ``asset`` (RFC 9110 §9.3.1, §9.3.2, §13, §14)."""
    method = request.method
    if method not in SAFE_METHODS:
        if method == "OPTIONS" and request.preflight_method is not None and config.cors:
            return _preflight(request, config)
        # Preconditions are not evaluated for a request whose response would
        # not be 2xx (§13.2.1).
        return method_not_allowed()
    specs = None
    if method == "GET" and request.range is not None:  # §14.2: Range is defined for GET only
        specs = parse_range_header(request.range, max_ranges=config.max_ranges)
    # Several ranges come from the identity bytes: a Content-Encoding on a
    # multipart/byteranges body would claim the whole multipart text is coded.
    if specs is not None and len(specs) > 1:
        variant = asset.identity
    else:
        variant = _delta(asset, request) or asset.variant(choose_coding(request.accept_encoding, asset.codings))
    cors = cors_headers(config, request.origin)
    outcome = evaluate_preconditions(
        etag=variant.etag,
        last_modified=asset.last_modified,
        if_match=request.if_match,
        if_none_match=request.if_none_match,
        if_modified_since=request.if_modified_since,
        if_unmodified_since=request.if_unmodified_since,
    )
    if outcome is Outcome.NOT_MODIFIED:
        return Plan("304 Not Modified", variant.not_modified_headers + cors, variant)
    if outcome is Outcome.PRECONDITION_FAILED:
        return Plan("412 Precondition Failed", [*variant.precondition_failed_headers(), *cors], variant)
    # If-Range is evaluated only with a Range (§13.1.5).
    if specs is not None and (
        request.if_range is None
        # Last-Modified is the identity file's: a sibling rebuilt since
        # would match a date, so a coded variant resumes only by ETag.
        or if_range_matches(
            request.if_range,
            etag=variant.etag,
            last_modified=asset.last_modified if variant is asset.identity else None,
        )
    ):
        plan = _ranged(asset, variant, specs, cors)
        if plan is not None:
            return plan
    return Plan("200 OK", variant.ok_headers + cors, variant, (ByteRange(0, variant.size),))


def _delta(asset: Asset, request: Request) -> Variant | None:
    """The ``dcz`` variant for a client that holds its dictionary and accepts ``dcz`` (RFC 9842 §6.1), if any.

    Preferred to every other coding the client accepts: it is the smallest
    by far (the build keeps only deltas that are). An unknown or malformed
    Available-Dictionary gets the ordinary answer.
    """
    if not asset.deltas or request.available_dictionary is None or request.accept_encoding is None:
        return None
    sha256 = parse_available_dictionary(request.available_dictionary)
    delta = asset.deltas.get(sha256) if sha256 is not None else None
    if delta is None or not accepts_dcz(parse_accept_encoding(request.accept_encoding)):
        return None
    return delta


def method_not_allowed() -> Plan:
    """The 405 for a method other than GET and HEAD on a served URL; it MUST carry Allow (§15.5.6).

    Every plan gets new header lists: a server may add to the list it is given.
    """
    return Plan("405 Method Not Allowed", [("Allow", ALLOWED_METHODS), ("Content-Length", "0")])


def _ranged(asset: Asset, variant: Variant, specs: list[RangeSpec], cors: HeaderList) -> Plan | None:
    resolved = resolve_ranges(specs, variant.size)
    if resolved is None:
        return None
    if resolved is UNSATISFIABLE:
        content_range = ("Content-Range", format_unsatisfied_range(variant.size))
        return Plan("416 Range Not Satisfiable", [*variant.unsatisfiable_headers(), content_range, *cors], variant)
    assert isinstance(resolved, list)
    if len(resolved) == 1:
        (byte_range,) = resolved
        headers = [
            ("Content-Type", asset.content_type),
            *variant.partial_headers(),
            ("Content-Range", format_content_range(byte_range, variant.size)),
            ("Content-Length", str(byte_range.length)),
            *cors,
        ]
        return Plan("206 Partial Content", headers, variant, (byte_range,))
    boundary = secrets.token_hex(16)
    segments = multipart_segments(resolved, asset.content_type, variant.size, boundary)
    length = sum(len(s) if isinstance(s, bytes) else s.length for s in segments)
    headers = [
        ("Content-Type", f"multipart/byteranges; boundary={boundary}"),
        *variant.partial_headers(),
        ("Content-Length", str(length)),
        *cors,
    ]
    return Plan("206 Partial Content", headers, variant, tuple(segments))


def multipart_segments(ranges: list[ByteRange], content_type: str, length: int, boundary: str) -> list[Segment]:
    """The body of a ``multipart/byteranges`` response (§14.6, RFC 2046 §5.1.1).

    Each part has its own Content-Type and Content-Range; delimiters are
    CRLF-separated and the close-delimiter ends the body.
    """
    segments: list[Segment] = []
    for index, byte_range in enumerate(ranges):
        delimiter = "--" if index == 0 else "\r\n--"
        part_headers = (
            f"{delimiter}{boundary}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Range: {format_content_range(byte_range, length)}\r\n\r\n"
        )
        segments += [part_headers.encode("latin-1"), byte_range]
    segments.append(f"\r\n--{boundary}--\r\n".encode("latin-1"))
    return segments


def cors_headers(config: Config, origin: str | None) -> HeaderList:
    """The per-request CORS headers of an allow-list policy (``"*"`` is prebuilt in the asset)."""
    allows = config.cors_allows
    if allows is None or origin is None or not is_origin(origin) or not allows(origin):
        return []
    return [("Access-Control-Allow-Origin", origin), CORS_EXPOSE]


def _preflight(request: Request, config: Config) -> Plan:
    # Fetch standard, CORS-preflight: answer with what a static file accepts.
    if config.cors_any:
        allow_origin: HeaderList = [("Access-Control-Allow-Origin", "*")]
    else:
        allow_origin = [*cors_headers(config, request.origin)[:1], ("Vary", "Origin")]
    headers = [
        *allow_origin,
        ("Access-Control-Allow-Methods", ALLOWED_METHODS),
        ("Access-Control-Allow-Headers", _PREFLIGHT_HEADERS),
        ("Access-Control-Max-Age", "86400"),
        ("Content-Length", "0"),
    ]
    return Plan("204 No Content", headers)
