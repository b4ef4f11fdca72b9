"""Records of the index: an :class:`Asset` per URL, a :class:`Variant` per coding.

Every header that does not depend on the request is built here, once, when the
file is indexed. A request then only picks a prebuilt list and, for ranges and
CORS allow-lists, appends a few values.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from werkzeug.datastructures import Headers

from ._types import HeaderList
from .config import ONE_YEAR, Config, HeadersHook
from .dates import format_http_date
from .dictionaries import DCZ, VARY_FIELD
from .errors import ConfigurationError
from .negotiation import IDENTITY, memo

# Headers staticwrap computes per variant and per request; a headers hook that
# set one of them would contradict the bytes sent, so it is an error.
MANAGED_HEADERS = frozenset(
    {
        "content-length",
        "content-encoding",
        "content-range",
        "etag",
        "last-modified",
        "accept-ranges",
        "transfer-encoding",
        "vary",
    }
)

# RFC 9110 §15.4.5: a 304 carries the fields a 200 would have among
# Content-Location, Date, ETag, Vary, Cache-Control and Expires, and SHOULD NOT
# carry other representation metadata. CORS fields are kept so that a
# revalidated cross-origin response stays readable (whitenoise#711).
_NOT_MODIFIED_FIELDS = frozenset({"cache-control", "content-location", "expires", "vary"})

# Response headers a cross-origin script may read besides the safelisted ones,
# which are needed to use range requests and validators from JavaScript.
CORS_EXPOSE = ("Access-Control-Expose-Headers", "Accept-Ranges, Content-Encoding, Content-Range, ETag")

HTML_TYPES = ("text/html", "application/xhtml+xml")


class FileFacts(NamedTuple):
    """What the scan learned about one file on disk."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    digest: str

    def matches(self, st: os.stat_result) -> bool:
        """Whether a stat result still describes the file that was indexed."""
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) == (self.size, self.mtime_ns, self.inode, self.device)


class Recipe:
    """What the header lists of an asset's variants are made from, and, once made, its shared fields.

    Header lists are made on a variant's first request, not at startup: an
    index of many files holds only their facts, and starts faster. With a
    ``headers=`` hook they are made at once, so that the hook runs, and its
    mistakes show, at startup.
    """

    __slots__ = (
        "base",
        "content_type",
        "control",
        "cors_any",
        "dictionary",
        "last_modified",
        "not_modified",
        "shared",
        "vary",
    )

    def __init__(
        self,
        content_type: str,
        control: str | None,
        last_modified: int | None,
        vary: str | None,
        cors_any: bool,
        shared: dict[tuple[str, str], tuple[str, str]],
        dictionary: str | None = None,
    ) -> None:
        # Interned: a tree has few distinct values of these.
        self.content_type = sys.intern(content_type)
        self.control = None if control is None else sys.intern(control)
        self.last_modified = last_modified
        self.vary = None if vary is None else sys.intern(vary)
        self.cors_any = cors_any
        self.shared = shared
        #: The Use-As-Dictionary value (RFC 9842 §2.1), when the file is offered as a dictionary.
        self.dictionary = dictionary
        self.base: HeaderList | None = None
        self.not_modified: HeaderList | None = None

    def fields(self) -> HeaderList:
        """The fields every variant's 200 starts with, before any hook."""
        base: HeaderList = [("Content-Type", self.content_type)]
        if self.control is not None:
            base.append(("Cache-Control", self.control))
        if self.last_modified is not None:
            base.append(("Last-Modified", format_http_date(self.last_modified)))
        if self.vary is not None:
            base.append(("Vary", self.vary))
        if self.dictionary is not None:
            base.append(("Use-As-Dictionary", self.dictionary))
        if self.cors_any:
            base += [("Access-Control-Allow-Origin", "*"), CORS_EXPOSE]
        base.append(_NOSNIFF)
        return base

    def prepare(self, fields: HeaderList | None = None) -> HeaderList:
        """The fields every variant's 200 starts with (made now if need be, from ``fields`` if given)."""
        if self.base is None:
            shared = self.shared
            base = [shared.setdefault(header, header) for header in (fields if fields is not None else self.fields())]
            # not_modified first: a thread that sees base set reads it next.
            self.not_modified = [header for header in base if _on_304(header[0])]
            self.base = base
        return self.base


_NOSNIFF = ("X-Content-Type-Options", "nosniff")


@dataclass(slots=True, eq=False)
class Variant:
    """One coding of an asset (identity, br, zstd or gzip), and its header lists once made.

    Frozen in practice, but for :attr:`body`, which the body cache
    (:mod:`staticwrap.memory`) sets and clears, and the header lists, made on
    first use (see :class:`Recipe`).
    """

    coding: str
    file: FileFacts
    etag: str
    recipe: Recipe = field(repr=False)
    #: The file's bytes, checked against :attr:`etag`, while the body cache holds them.
    body: bytes | None = field(default=None, repr=False)
    #: False once the body cache found it cannot keep this variant (its bytes
    #: do not match its ETag, or its path cannot be watched): not tried again.
    cacheable: bool = field(default=True, repr=False)
    _ok: HeaderList | None = field(default=None, repr=False)
    _not_modified: HeaderList | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return self.file.size

    @property
    def ok_headers(self) -> HeaderList:
        """Full header list of a 200."""
        ok = self._ok
        if ok is None:
            ok = self._make()
        return ok

    @property
    def not_modified_headers(self) -> HeaderList:
        """The header list of a 304 (and, but for its Cache-Control, of a 412)."""
        not_modified = self._not_modified
        if not_modified is None:
            self._make()
            not_modified = self._not_modified
            assert not_modified is not None
        return not_modified

    def _make(self) -> HeaderList:
        recipe = self.recipe
        base = recipe.prepare()
        assert recipe.not_modified is not None
        shared = recipe.shared
        # A strong ETag of this variant's own bytes (§8.8.3): each coding gets
        # its own, and unchanged content keeps its tag across deploys and replicas.
        validator = ("ETag", self.etag)
        length = ("Content-Length", str(self.file.size))
        ok = [*base, shared.setdefault(length, length)]
        if self.coding != IDENTITY:
            encoding = ("Content-Encoding", self.coding)
            ok.append(shared.setdefault(encoding, encoding))
        ok += [validator, _ACCEPT_RANGES]
        # Two threads may both get here: they make equal lists, either one is kept.
        self._not_modified = [*recipe.not_modified, validator]
        self._ok = ok
        return ok

    def partial_headers(self) -> HeaderList:
        """A 206's headers but Content-Type, Content-Range and Content-Length, which depend on the ranges.

        Made per request from :attr:`ok_headers`: ranges are rare enough
        that keeping a list per variant for them costs more than it saves.
        """
        return [header for header in self.ok_headers if header[0].lower() not in _PER_RANGE]

    def precondition_failed_headers(self) -> HeaderList:
        """A 412's headers: a 304's (validator, Vary...), never storable by a cache, and no body."""
        return _uncacheable(self.not_modified_headers)

    def unsatisfiable_headers(self) -> HeaderList:
        """A 416's headers but Content-Range: never storable by a cache; no Content-Type or Content-Encoding."""
        return _uncacheable([header for header in self.ok_headers if header[0].lower() not in _NOT_ON_416])


# Fields of a 200 that a 206 or 416 replaces or leaves out.
_PER_RANGE = frozenset({"content-type", "content-length"})
_NOT_ON_416 = frozenset({"content-type", "content-length", "content-encoding"})

# A 412 or 416 answers one request's conditions or Range, but a cache keys
# what it stores on the URL alone (RFC 9111 §4), and may store any status
# given an explicit lifetime (§3): with the file's own Cache-Control (a year,
# for a hashed name) a shared cache could answer every later request for the
# file with the error. They are not heuristically cacheable (RFC 9110 §15.1),
# so only the fields that grant a lifetime must go: Cache-Control and Expires
# (RFC 9111 §5.2, §5.3), the fields aimed at one kind of cache that it obeys
# in their place (RFC 9213 CDN-Cache-Control and the like; Surrogate-Control),
# and no-store (§5.2.2.5) tells every cache, including those configured to
# keep errors, not to keep them.
_NO_STORE = ("Cache-Control", "no-store")


def _grants_lifetime(name: str) -> bool:
    lower = name.lower()
    return lower in {"cache-control", "expires", "surrogate-control"} or lower.endswith("-cache-control")


def _uncacheable(headers: HeaderList) -> HeaderList:
    kept = [header for header in headers if not _grants_lifetime(header[0])]
    return [*kept, _NO_STORE, ("Content-Length", "0")]


@dataclass(frozen=True, slots=True)
class Asset:
    """A file served at one URL, with every coding of it found on disk."""

    url: str
    content_type: str
    last_modified: int | None
    immutable: bool
    identity: Variant
    #: The codings of the coded variants, in the server's order of preference.
    codings: tuple[str, ...]
    #: Every variant by coding, identity first.
    variants: Mapping[str, Variant]
    #: Accept-Encoding value → the coding it gets, shared by the assets with
    #: the same :attr:`codings` (see :func:`staticwrap.negotiation.memo`).
    choices: dict[str | None, str] = field(compare=False, repr=False)
    #: The ``dcz`` variants (RFC 9842), by the SHA-256 of their dictionary.
    deltas: Mapping[bytes, Variant] = field(default_factory=dict)

    def variant(self, coding: str) -> Variant:
        return self.variants[coding]

    @property
    def coded(self) -> dict[str, Variant]:
        """The coded variants by coding, in the server's order of preference."""
        return {coding: self.variants[coding] for coding in self.codings}


@dataclass(frozen=True, slots=True)
class Redirect:
    """A directory URL without its trailing slash: answered with a redirect to ``url + "/"``."""

    url: str


def cache_control(config: Config, immutable: bool, media_type: str) -> str | None:
    """The Cache-Control value for a file (RFC 9111 §5.2.2, RFC 8246)."""
    if immutable:
        return f"public, max-age={ONE_YEAR}, immutable"
    if media_type.startswith(HTML_TYPES):
        # An HTML page names the hashed assets of the current deploy, so a
        # cache revalidates it every time (cheap with the ETag: a 304).
        return "no-cache"
    if config.max_age is None:
        return None
    return f"public, max-age={config.max_age}"


def build_asset(
    url: str,
    files: Mapping[str, FileFacts],
    *,
    content_type: str,
    last_modified: int | None,
    immutable: bool,
    config: Config,
    shared: dict[tuple[str, str], tuple[str, str]] | None = None,
    deltas: Mapping[bytes, FileFacts] | None = None,
    dictionary: str | None = None,
) -> Asset:
    """Build an asset from the facts of its identity file (``files["identity"]``) and coded siblings.

    ``shared`` interns header fields across the assets of an index: most
    (Content-Type, Cache-Control, nosniff, even Last-Modified in a deploy)
    are the same for many files, and are then held once. ``deltas``: its
    ``dcz`` files by the SHA-256 of their dictionary; ``dictionary``: the
    Use-As-Dictionary value its responses carry.
    """
    identity_file = files[IDENTITY]
    vary = ["Accept-Encoding"] if len(files) > 1 or deltas else []
    if deltas:
        # RFC 9842 §6.2: every response of a URL that has a delta varies on
        # Available-Dictionary, the plain ones too: a cache that stored the
        # plain answer must not give it for a request the delta would answer,
        # nor the delta to a client without the dictionary.
        vary.append(VARY_FIELD)
    if config.cors_allows:
        vary.append("Origin")
    recipe = Recipe(
        content_type,
        cache_control(config, immutable, content_type),
        last_modified,
        ", ".join(vary) if vary else None,
        config.cors_any,
        shared if shared is not None else {},
        dictionary,
    )
    if config.headers is not None:
        fields = _apply_hook(config.headers, recipe.fields(), identity_file.path, url)
        recipe.prepare(fields)
        # The hook may have changed the media type.
        content_type = next((value for name, value in fields if name.lower() == "content-type"), content_type)
    else:
        # Only the media type can come from outside (mimetypes=, libmagic).
        _check_header_value("Content-Type", content_type, identity_file.path)
    variants = {coding: Variant(coding, facts, f'"{facts.digest}"', recipe) for coding, facts in files.items()}
    codings = tuple(coding for coding in variants if coding != IDENTITY)
    return Asset(
        url=url,
        content_type=content_type,
        last_modified=last_modified,
        immutable=immutable,
        identity=variants[IDENTITY],
        codings=codings,
        variants=variants,
        choices=memo(codings),
        deltas={key: Variant(DCZ, facts, f'"{facts.digest}"', recipe) for key, facts in (deltas or {}).items()},
    )


def _apply_hook(hook: HeadersHook, base: HeaderList, path: str, url: str) -> HeaderList:
    common = Headers(base)
    before = _managed(common)
    hook(common, path, url)
    _check_hook_result(common, before, path, url)
    edited = list(common.items())
    for name, value in edited:
        _check_header_value(name, value, path)
    return edited


# field-value = *field-content (§5.5): visible characters, SP and HTAB, and
# obs-text; WSGI carries it as latin-1 text (PEP 3333).
_BAD_FIELD_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


def _check_header_value(name: str, value: str, path: str) -> None:
    if _BAD_FIELD_CHARACTER.search(value):
        raise ConfigurationError(
            f"the {name} header of {path} would be {value!r}, which has a control character or one outside "
            "latin-1 (RFC 9110 §5.5): fix the mimetypes= or headers= option that set it"
        )


def _managed(headers: Headers) -> list[tuple[str, str]]:
    return sorted((name.lower(), value) for name, value in headers.items() if name.lower() in MANAGED_HEADERS)


def _check_hook_result(headers: Headers, before: list[tuple[str, str]], path: str, url: str) -> None:
    after = _managed(headers)
    if after != before:
        # Compared as multisets: adding a second, identical Vary is a change too.
        changed = (Counter(after) - Counter(before)) + (Counter(before) - Counter(after))
        name = min(changed)[0]
        raise ConfigurationError(
            f"the headers= hook set {name!r} for {path} (URL {url}); staticwrap computes "
            f"{', '.join(sorted(MANAGED_HEADERS))} itself from the file, so the hook must leave them alone"
        )


def _on_304(name: str) -> bool:
    lower = name.lower()
    return lower in _NOT_MODIFIED_FIELDS or lower.startswith("access-control-")


_ACCEPT_RANGES = ("Accept-Ranges", "bytes")
