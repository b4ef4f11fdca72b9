"""Records of the index: an :class:`Asset` per URL, a :class:`Variant` per coding.

Every header that does not depend on the request is built here, once, when the
file is indexed. A request then only picks a prebuilt list and, for ranges and
CORS allow-lists, appends a few values.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from werkzeug.datastructures import Headers

from ._types import HeaderList
from .config import ONE_YEAR, Config
from .dates import format_http_date
from .errors import ConfigurationError
from .negotiation import IDENTITY

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


@dataclass(frozen=True, slots=True)
class Variant:
    """One coding of an asset (identity, br, zstd or gzip) and its prebuilt headers."""

    coding: str
    file: FileFacts
    etag: str
    #: Full header list of a 200.
    ok_headers: HeaderList
    #: A 206 without Content-Type, Content-Range and Content-Length, which
    #: depend on the ranges asked for.
    partial_headers: HeaderList
    not_modified_headers: HeaderList
    unsatisfiable_headers: HeaderList

    @property
    def size(self) -> int:
        return self.file.size


@dataclass(frozen=True, slots=True)
class Asset:
    """A file served at one URL, with every coding of it found on disk."""

    url: str
    content_type: str
    last_modified: int | None
    immutable: bool
    identity: Variant
    #: Coded variants by coding, in the server's order of preference.
    coded: Mapping[str, Variant]
    #: The keys of ``coded``, as negotiation takes them.
    codings: tuple[str, ...]

    def variant(self, coding: str) -> Variant:
        return self.identity if coding == IDENTITY else self.coded[coding]


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
) -> Asset:
    """Build an asset from the facts of its identity file (``files["identity"]``) and coded siblings."""
    identity_file = files[IDENTITY]
    common = Headers()
    common["Content-Type"] = content_type
    control = cache_control(config, immutable, content_type)
    if control is not None:
        common["Cache-Control"] = control
    if last_modified is not None:
        common["Last-Modified"] = format_http_date(last_modified)
    vary = (["Accept-Encoding"] if len(files) > 1 else []) + (["Origin"] if config.cors_allows else [])
    if vary:
        common["Vary"] = ", ".join(vary)
    if config.cors_any:
        common["Access-Control-Allow-Origin"] = "*"
        common[CORS_EXPOSE[0]] = CORS_EXPOSE[1]
    common["X-Content-Type-Options"] = "nosniff"
    if config.headers is not None:
        before = _managed(common)
        config.headers(common, identity_file.path, url)
        _check_hook_result(common, before, identity_file.path, url)
    base = list(common.items())
    for name, value in base:
        _check_header_value(name, value, identity_file.path)
    variants = {coding: _build_variant(coding, facts, base) for coding, facts in files.items()}
    identity = variants.pop(IDENTITY)
    return Asset(
        url=url,
        content_type=common.get("Content-Type", content_type),
        last_modified=last_modified,
        immutable=immutable,
        identity=identity,
        coded=variants,
        codings=tuple(variants),
    )


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


def _build_variant(coding: str, facts: FileFacts, base: HeaderList) -> Variant:
    # A strong ETag of this variant's own bytes (§8.8.3): each coding gets its
    # own, and unchanged content keeps its tag across deploys and replicas.
    etag = f'"{facts.digest}"'
    encoding = [] if coding == IDENTITY else [("Content-Encoding", coding)]
    validators = [("ETag", etag)]
    not_content_type = [(name, value) for name, value in base if name.lower() != "content-type"]
    ok = [*base, ("Content-Length", str(facts.size)), *encoding, *validators, ("Accept-Ranges", "bytes")]
    partial = [*not_content_type, *encoding, *validators, ("Accept-Ranges", "bytes")]
    not_modified = [
        (name, value)
        for name, value in base
        if name.lower() in _NOT_MODIFIED_FIELDS or name.lower().startswith("access-control-")
    ] + validators
    unsatisfiable = [*not_content_type, *validators, ("Accept-Ranges", "bytes"), ("Content-Length", "0")]
    return Variant(coding, facts, etag, ok, partial, not_modified, unsatisfiable)
