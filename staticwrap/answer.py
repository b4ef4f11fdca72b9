"""What a front end sends: the answers that are decided without a file, and how a request is read.

Both front ends (the WSGI :class:`~staticwrap.StaticWrap` and the ASGI
:class:`~staticwrap.asgi.StaticWrapASGI`) get an :class:`Answer` from
:mod:`staticwrap.core` and only translate it: into ``start_response`` and an
iterable, or into ``http.response.*`` events. No HTTP rule is written in a
front end. Nothing here does I/O.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import quote

from ._syntax import SAFE_IN_PATH, SAFE_METHODS
from ._types import HeaderList
from .asset import FileFacts, Redirect
from .body import Unavailable
from .config import Config
from .resolve import looks_hashed
from .responder import Request, Segment, method_not_allowed

# Characters left as they are in a Location or query: RFC 3986 unreserved,
# sub-delims, ":" "@" "/" "?" and "%" (already escaped octets stay escaped).
_SAFE_IN_URL = "/?:@!$&'()*+,;=%-._~"


class Answer(NamedTuple):
    """A response decided by staticwrap: a status, headers, and a body to send.

    The body is ``parts`` (bytes held in memory, sent in order), or, when
    ``file`` is set, ``segments`` of that open file (checked on its
    descriptor to be the one ``facts`` describes) and the literal bytes
    between them. ``complaint`` is a line for the server's error log.
    """

    status: str
    headers: HeaderList
    parts: Sequence[bytes] = ()
    file: BinaryIO | None = None
    segments: tuple[Segment, ...] = ()
    facts: FileFacts | None = None
    complaint: str | None = None
    #: Whether the file's path always leads to these bytes (a content-hashed, immutable
    #: name): only then may a server open the path itself (ASGI ``pathsend``).
    path_is_stable: bool = False


class HeaderKeys(NamedTuple):
    """The keys a front end's header lookup takes for the request fields that decide a static response."""

    accept_encoding: str
    if_match: str
    if_none_match: str
    if_modified_since: str
    if_unmodified_since: str
    range: str
    if_range: str
    origin: str
    preflight_method: str
    available_dictionary: str


#: The keys of a WSGI environ (PEP 3333: ``HTTP_`` and the name in upper case, "-" as "_").
WSGI_KEYS = HeaderKeys(
    "HTTP_ACCEPT_ENCODING",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_RANGE",
    "HTTP_IF_RANGE",
    "HTTP_ORIGIN",
    "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
    "HTTP_AVAILABLE_DICTIONARY",
)

#: The keys of the lower-cased field names an ASGI front end reads from the scope's headers.
ASGI_KEYS = HeaderKeys(*(key[5:].lower().replace("_", "-") for key in WSGI_KEYS))


def read_request(method: str, get: Callable[[str], Any], keys: HeaderKeys) -> Request:
    """The :class:`~staticwrap.responder.Request` of ``method`` and the fields ``get(key)`` finds (``None``: absent)."""
    return Request(
        method=method,
        accept_encoding=get(keys.accept_encoding),
        if_match=get(keys.if_match),
        if_none_match=get(keys.if_none_match),
        if_modified_since=get(keys.if_modified_since),
        if_unmodified_since=get(keys.if_unmodified_since),
        range=get(keys.range),
        if_range=get(keys.if_range),
        origin=get(keys.origin),
        preflight_method=get(keys.preflight_method),
        available_dictionary=get(keys.available_dictionary),
    )


def redirect(entry: Redirect, method: str, query: bytes, config: Config) -> Answer:
    """The answer for a directory URL without its slash: a 302 to the URL with it, or a 405."""
    if method not in SAFE_METHODS:
        plan = method_not_allowed()
        return Answer(plan.status, plan.headers)
    # A relative reference (RFC 9110 §10.2.2): "dir/" resolves against the
    # request URL wherever the application is mounted or proxied. The name is
    # percent-encoded as path data, and "./" keeps a name with a colon from
    # reading as a scheme (RFC 3986 §4.2).
    segment = entry.url.rstrip("/").rpartition("/")[2]
    location = quote(segment, safe=SAFE_IN_PATH) + "/"
    if ":" in location:
        location = "./" + location
    if query:
        location += "?" + quote(query, safe=_SAFE_IN_URL)
    headers = [("Location", location), ("Content-Length", "0")]
    if config.max_age is not None:
        headers.append(("Cache-Control", f"public, max-age={config.max_age}"))
    return Answer("302 Found", headers)


def wsgi_query(query: str) -> bytes:
    """The bytes of a PEP 3333 ``QUERY_STRING``; empty for one that is not latin-1 text (no server sends one).

    No query in a redirect is better than a 500.
    """
    with contextlib.suppress(UnicodeEncodeError):
        return query.encode("latin-1")
    return b""


def unavailable(entry: Unavailable) -> Answer:
    """The 503 for a file that exists but cannot be read now (RFC 9110 §15.6.4); the client may retry.

    The index stays as it is. The operator is told in the server's error
    log, one line per request answered so; the path is written as a Python
    literal, so that a name (or, with autorefresh, a requested URL) holding
    a line break cannot add a line to the log.
    """
    reason = entry.error.strerror or str(entry.error)
    complaint = f"staticwrap: {entry.path!r} cannot be read now ({reason}); answered 503\n"
    return Answer("503 Service Unavailable", [("Retry-After", "1"), ("Content-Length", "0")], complaint=complaint)


def is_missing_build_file(path: str, method: str | None, built_prefixes: Sequence[str]) -> bool:
    """Whether a GET or HEAD not in the index asks for a hashed-looking name under a built root.

    Such a name is a file of a build no longer kept (or never made): the
    application must not answer it, as a single-page app's catch-all route
    would send its HTML for a script, and the browser would report a MIME
    type or syntax error instead of a missing file.
    """
    return method in SAFE_METHODS and looks_hashed(path) and any(path.startswith(prefix) for prefix in built_prefixes)


_GONE_BODY = b"Not Found: no kept build has this file\n"


def gone(method: str | None) -> Answer:
    """The 404 for a file of a build no longer kept (see :func:`is_missing_build_file`)."""
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(_GONE_BODY))),
        # A 404 is cacheable by default (RFC 9111 §4.2.2): a CDN must not
        # keep answering it once a replica with the newer build serves the file.
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Answer("404 Not Found", headers, () if method == "HEAD" else (_GONE_BODY,))


_NOT_FOUND_BODY = b"Not Found\n"


def not_found() -> Answer:
    """The plain 404 of a static-only server, for every path not in the index."""
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(_NOT_FOUND_BODY)))]
    return Answer("404 Not Found", headers, (_NOT_FOUND_BODY,))
