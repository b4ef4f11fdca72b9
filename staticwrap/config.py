"""The options of :class:`~staticwrap.StaticWrap`, checked once into one frozen record."""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers

from ._syntax import TOKEN
from .errors import OPTION, ConfigurationError, python_only

#: ``Cache-Control`` max-age for content-hashed files: one year, the longest
#: value RFC 9111 §5.2.2.1 tells caches to expect (2**31 is the ceiling).
ONE_YEAR = 365 * 24 * 60 * 60

# The default test for a content-hashed name: a hex hash of 8 or more
# characters between two dots in the file name (app.3f2a1b9c.js,
# app.3f2a1b9c0d4e.min.js). It must contain a letter and a digit: a run of
# digits alone is a date or a version (report.20260101.pdf), and caching such
# a file for a year is the one mistake this test must not make. A real hash is
# missed this way with probability (10/16)**8 ≈ 2% at 8 characters, and it
# then gets the short max-age, which is safe.
DEFAULT_IMMUTABLE = re.compile(r"\.(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8,}\.[^/]+$")

#: Opt-in presets for bundlers that put the hash after a dash.
#: Vite (Rollup): ``assets/[name]-[hash].[ext]``, 8 base64url characters.
VITE = re.compile(r"/assets/[^/]+-[A-Za-z0-9_-]{8}\.[A-Za-z0-9]+$")
#: esbuild: ``[name]-[hash]``, 8 characters of upper-case base32.
ESBUILD = re.compile(r"-[A-Z2-7]{8}\.[A-Za-z0-9]+$")

#: Bytes of file bodies a process keeps in memory (see :mod:`staticwrap.memory`).
DEFAULT_MEMORY_BUDGET = 32 * 1024 * 1024
#: The largest file kept in memory; larger ones are sent from disk (sendfile).
DEFAULT_MEMORY_MAX_FILE = 256 * 1024


class ImmutableTest(Protocol):
    """The test a :class:`Config` holds: called with a file's URL path and its path on disk."""

    def __call__(self, url: str, path: str = "", /) -> bool: ...


CorsTest = Callable[[str], bool]
HeadersHook = Callable[[Headers, str, str], None]
ImmutableOption = None | bool | str | re.Pattern[str] | Callable[[str], bool] | Callable[[str, str], bool]
CorsOption = None | str | Collection[str] | CorsTest


#: serialized-origin = scheme "://" host [ ":" port ] (RFC 6454 §6.2). Both the
#: configured origins and a request's Origin must match it (see
#: :func:`is_origin`): anything else is never echoed back into a response header.
ORIGIN = re.compile(
    r"[a-z][a-z0-9+.-]*://"  # scheme
    r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])"  # host: a name or an IP literal
    r"(?::[0-9]{1,5})?",  # port
    re.ASCII,
)

#: The longest origin accepted. A host name has at most 253 characters (RFC 1035
#: §2.3.4) and an IP literal fewer; the margin is for the scheme and the port.
MAX_ORIGIN_LENGTH = 300


def is_origin(value: str) -> bool:
    """Whether ``value`` is a serialized origin of at most :data:`MAX_ORIGIN_LENGTH` characters.

    The length is checked first: a long value that fails :data:`ORIGIN` late
    (a bad character after a long host) makes the pattern retreat through
    every character of the host before it gives up, which is linear but
    costly, and a request's Origin may be as long as the server admits.
    """
    return len(value) <= MAX_ORIGIN_LENGTH and ORIGIN.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Config:
    """Validated options. Build it with :meth:`from_options`."""

    max_age: int | None
    #: ``None`` when ``immutable=False``: no file, not even one in a manifest, is immutable.
    immutable: ImmutableTest | None
    index_file: str | None
    charset: str | None
    mimetypes: Mapping[str, str]
    cors_any: bool
    cors_allows: CorsTest | None
    headers: HeadersHook | None
    allow_hidden: bool
    follow_symlinks: bool
    autorefresh: bool
    max_ranges: int
    memory_budget: int
    memory_max_file: int
    listing: bool = False
    not_found: str | None = None
    dictionaries: bool = False
    base_url: str | None = None
    hash_cache: str | None = None

    @classmethod
    def from_options(
        cls,
        *,
        max_age: int | None = 60,
        immutable: ImmutableOption = None,
        index_file: str | bool | None = "index.html",
        charset: str | None = "utf-8",
        mimetypes: Mapping[str, str] | None = None,
        cors: CorsOption = None,
        headers: HeadersHook | None = None,
        allow_hidden: bool = False,
        follow_symlinks: bool = False,
        autorefresh: bool = False,
        max_ranges: int = 16,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        memory_max_file: int = DEFAULT_MEMORY_MAX_FILE,
        listing: bool = False,
        not_found: str | None = None,
        dictionaries: bool = False,
        base_url: str | None = None,
        hash_cache: str | os.PathLike[str] | None = None,
    ) -> Config:
        """Check every option and raise :class:`ConfigurationError` naming the first bad one.

        These are the keyword options of :class:`~staticwrap.StaticWrap`
        (and of the Flask and Django integrations); :doc:`/options` says
        more of each.

        :param max_age: ``Cache-Control: public, max-age=N`` for files that are
            neither immutable nor HTML; ``None`` sends no Cache-Control for them.
        :param immutable: which files are content-hashed and cached for a year
            with ``immutable``: ``None``/``True`` for the built-in test, a
            regular expression (text or compiled, searched in the URL), a
            function ``f(url) -> bool`` or WhiteNoise's ``f(path, url) ->
            bool``, the :data:`VITE` or :data:`ESBUILD`
            preset, or ``False`` for none. Names in a manifest always are.
        :param index_file: the file served for a URL ending in ``/`` (and the
            redirect of the URL without it); ``None`` or ``False`` for none.
        :param charset: the ``charset`` parameter of text media types; ``None``
            for none.
        :param mimetypes: extra media types by extension (``".ext"``) or whole
            file name, taking precedence over the built-in table.
        :param cors: ``"*"``, an origin, a list of origins, or a function
            ``f(origin) -> bool``: the CORS policy of every file.
        :param headers: a function ``f(headers, path, url)`` that edits a file's
            headers at startup (not the ones staticwrap computes).
        :param allow_hidden: serve dotfiles too.
        :param follow_symlinks: serve symlinks that lead out of the root.
        :param autorefresh: look files up on disk at each request
            (development); nothing is indexed at startup or kept in memory.
        :param max_ranges: the most ranges one ``Range`` field may ask for.
        :param memory_budget: bytes of small files each process keeps in
            memory (``0``: none).
        :param memory_max_file: the largest file kept in memory, in bytes.
        :param listing: answer a directory URL that has no index file with a
            listing of what the index serves under it.
        :param not_found: a file (relative to a root, such as ``"404.html"``)
            sent with status 404 for a path no file answers; only without an
            application.
        :param dictionaries: compression dictionaries (RFC 9842): send
            content-hashed files with ``Use-As-Dictionary``, and the ``dcz``
            deltas that ``staticwrap build --dictionaries`` wrote to browsers
            that hold an earlier version (:doc:`/dictionaries`).
        :param base_url: the URL of a CDN that serves the same paths as the
            roots' prefixes (in front of the bucket ``staticwrap publish``
            uploads each root to), such as ``"https://cdn.example.com/"``:
            :meth:`~staticwrap.StaticWrap.url` and the template helpers give
            full URLs on it, ``https://cdn.example.com/static/app.<hash>.js``
            for a root at ``/static/``.
        :param hash_cache: a file in which to keep the content hashes of the
            files scanned, so that the next start (a restart, a worker
            process) reads only the files changed since; ``None`` for none.
            See :mod:`staticwrap.hashcache`.
        """
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0):
            raise ConfigurationError.bad_value(
                "max_age", max_age, "give a whole number of seconds >= 0" + python_only(", or None")
            )
        if isinstance(max_ranges, bool) or not isinstance(max_ranges, int) or max_ranges < 1:
            raise ConfigurationError.bad_value("max_ranges", max_ranges, "give a whole number >= 1 (the default is 16)")
        if charset is not None and not (isinstance(charset, str) and TOKEN.fullmatch(charset)):
            raise ConfigurationError.bad_value(
                "charset", charset, "give a charset name such as 'utf-8'" + python_only(", or None")
            )
        if headers is not None and not callable(headers):
            raise ConfigurationError.bad_value(
                "headers", headers, "give a function f(headers, path, url) that edits the headers in place"
            )
        for name, value in (
            ("allow_hidden", allow_hidden),
            ("follow_symlinks", follow_symlinks),
            ("listing", listing),
            ("dictionaries", dictionaries),
        ):
            if not isinstance(value, bool):
                raise ConfigurationError.bad_value(name, value, "give True or False")
        if not isinstance(autorefresh, bool):
            raise ConfigurationError.bad_value("autorefresh", autorefresh, "give True or False")
        for name, size in (("memory_budget", memory_budget), ("memory_max_file", memory_max_file)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ConfigurationError.bad_value(
                    name, size, "give a number of bytes >= 0 (0 keeps no file in memory)"
                )
        cors_any, cors_allows = _cors_policy(cors)
        return cls(
            max_age=max_age,
            immutable=_immutable_test(immutable),
            index_file=_index_file(index_file),
            charset=charset,
            mimetypes=_media_type_overrides(mimetypes),
            cors_any=cors_any,
            cors_allows=cors_allows,
            headers=headers,
            allow_hidden=allow_hidden,
            follow_symlinks=follow_symlinks,
            autorefresh=autorefresh,
            max_ranges=max_ranges,
            memory_budget=memory_budget,
            memory_max_file=memory_max_file,
            listing=listing,
            not_found=_not_found(not_found),
            dictionaries=dictionaries,
            base_url=_base_url(base_url),
            hash_cache=_hash_cache(hash_cache),
        )

    @classmethod
    def from_keywords(cls, options: Mapping[str, Any]) -> Config:
        """Like :meth:`from_options`, but a misspelt option is a :class:`ConfigurationError` too."""
        unknown = sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise ConfigurationError(f"unknown option {unknown[0]!r}; {suggest(unknown[0], OPTION_NAMES, 'options')}")
        return cls.from_options(**options)

    @property
    def cors(self) -> bool:
        """Whether any CORS policy is configured."""
        return self.cors_any or self.cors_allows is not None


OPTION_NAMES = frozenset(inspect.signature(Config.from_options).parameters)


def suggest(name: object, known: Collection[str], what: str) -> str:
    """The end of an error about an unknown name: the closest known one, or the list of them."""
    close = difflib.get_close_matches(str(name), known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"the {what} are {', '.join(sorted(known))}"


def _immutable_test(immutable: ImmutableOption) -> ImmutableTest | None:
    if immutable is None or immutable is True:
        return _looks_hashed
    if immutable is False:
        return None
    if isinstance(immutable, str):
        try:
            immutable = re.compile(immutable)
        except re.error as error:
            raise ConfigurationError(
                f"{OPTION} is not a valid regular expression: {error}", option="immutable", value=immutable
            ) from None
    if isinstance(immutable, re.Pattern):
        pattern = immutable
        return lambda url, path="": pattern.search(url) is not None
    if callable(immutable):
        return _immutable_function(immutable)
    raise ConfigurationError.bad_value(
        "immutable",
        immutable,
        "give a regular expression searched in the URL, a function f(url) -> bool, or False to mark no file immutable",
    )


def _immutable_function(function: Callable[..., bool]) -> ImmutableTest:
    """``function`` as an :data:`ImmutableTest`, whether it is ``f(url)`` or WhiteNoise's ``f(path, url)``.

    Told apart once, here, by the positional parameters it requires: two is
    WhiteNoise's ``immutable_file_test(path, url)``; one, or a signature that
    takes a single argument, is staticwrap's own ``f(url)``.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: called as f(url), as before
        return lambda url, path="": bool(function(url))
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind in positional and parameter.default is inspect.Parameter.empty
    ]
    if len(required) == 2:
        return lambda url, path="": bool(function(path, url))
    try:
        signature.bind("/url")
    except TypeError:
        raise ConfigurationError(
            f"immutable={function!r} takes {len(required)} required arguments: give a function f(url) -> bool, "
            "or WhiteNoise's f(path, url) -> bool"
        ) from None
    return lambda url, path="": bool(function(url))


def _looks_hashed(url: str, path: str = "", /) -> bool:
    return DEFAULT_IMMUTABLE.search(url) is not None


def _index_file(index_file: str | bool | None) -> str | None:
    if index_file is None or index_file is False:
        return None
    if index_file is True:
        return "index.html"
    if not isinstance(index_file, str) or not index_file or "/" in index_file or index_file in {".", ".."}:
        raise ConfigurationError.bad_value(
            "index_file", index_file, "give a file name such as 'index.html'" + python_only(", or None")
        )
    return index_file


def _not_found(not_found: str | None) -> str | None:
    """The not-found page's path relative to a root, without a leading slash."""
    if not_found is None:
        return None
    relative = not_found.lstrip("/") if isinstance(not_found, str) else ""
    if not relative or "\\" in relative or any(part in {"", ".", ".."} for part in relative.split("/")):
        raise ConfigurationError.bad_value(
            "not_found",
            not_found,
            "give the path of a file relative to a root, such as '404.html'" + python_only(", or None"),
        )
    return relative


def _base_url(base_url: str | None) -> str | None:
    """``base_url`` checked, ending in ``/``: an http(s) URL with a host, and no query or fragment."""
    if base_url is None:
        return None
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if (
        parts is None
        or parts.scheme not in {"http", "https"}
        or not parts.netloc
        or parts.query
        or parts.fragment
        or not base_url.isascii()
        or not base_url.isprintable()
        or " " in base_url
    ):
        raise ConfigurationError.bad_value(
            "base_url",
            base_url,
            "give the URL of the CDN that serves the static paths, such as 'https://cdn.example.com/'"
            + python_only(", or None"),
        )
    return base_url if base_url.endswith("/") else base_url + "/"


def _hash_cache(hash_cache: str | os.PathLike[str] | None) -> str | None:
    if hash_cache is None:
        return None
    path = os.fspath(hash_cache) if isinstance(hash_cache, (str, os.PathLike)) else None
    if not isinstance(path, str) or not path or "\x00" in path or os.path.isdir(path):
        raise ConfigurationError.bad_value(
            "hash_cache",
            hash_cache,
            "give the path of a file to keep the hashes in, such as '/var/cache/mysite/staticwrap-hashes.json'"
            + python_only(", or None"),
        )
    return os.path.abspath(path)


def _media_type_overrides(mimetypes: Mapping[str, str] | None) -> Mapping[str, str]:
    if mimetypes is None:
        return {}
    if not isinstance(mimetypes, Mapping):
        raise ConfigurationError.bad_value(
            "mimetypes", mimetypes, "give a dict such as {'.avifs': 'image/avif-sequence'}"
        )
    checked: dict[str, str] = {}
    for key, value in mimetypes.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise ConfigurationError(f"mimetypes key {key!r}: give an extension ('.ext') or a whole file name")
        kind, slash, subtype = value.partition("/") if isinstance(value, str) else ("", "", "")
        printable = isinstance(value, str) and value.isascii() and value.isprintable()
        if not (printable and slash and TOKEN.fullmatch(kind) and TOKEN.fullmatch(subtype.partition(";")[0].strip())):
            raise ConfigurationError(f"mimetypes[{key!r}]={value!r}: give a media type such as 'text/plain'")
        checked[key.lower()] = value
    return checked


def _cors_policy(cors: CorsOption) -> tuple[bool, CorsTest | None]:
    if cors is None:
        return False, None
    if cors == "*":
        return True, None
    if isinstance(cors, str):
        cors = [cors]
    if callable(cors):
        return False, cors
    if not isinstance(cors, Collection):
        raise ConfigurationError.bad_value(
            "cors", cors, "give '*', a list of origins such as ['https://example.com'], or a function f(origin) -> bool"
        )
    origins = frozenset(cors)
    for origin in origins:
        if not isinstance(origin, str) or not is_origin(origin):
            raise ConfigurationError(
                f"{OPTION} is not an origin: give origins as scheme://host[:port] with no path, "
                "such as 'https://example.com', or '*' for any origin",
                option="cors",
                value=origin,
            )
    return False, origins.__contains__
