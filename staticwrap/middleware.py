"""The WSGI middleware: look the path up in the index, answer from it, or pass the request on."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from ._syntax import SAFE_IN_PATH, SAFE_METHODS
from .asset import Asset, FileFacts, Redirect
from .body import Unavailable, Unusable, check_fresh, file_body, memory_body, open_checked
from .config import Config
from .errors import ConfigurationError
from .fallback import Fallback
from .index import Entry, Index, Vanished
from .manifest import FileRecord
from .memory import memory_cache
from .negotiation import choose_memoized
from .resolve import looks_hashed
from .responder import Plan, Request, method_not_allowed, respond
from .tree import Root, normalize_prefix, package_directory
from .watch import WATCHER

if TYPE_CHECKING:
    from ._types import StartResponse, WSGIApplication, WSGIEnvironment

# Characters left as they are in a Location or query: RFC 3986 unreserved,
# sub-delims, ":" "@" "/" "?" and "%" (already escaped octets stay escaped).
_SAFE_IN_URL = "/?:@!$&'()*+,;=%-._~"


class StaticWrap:
    """Serve static files in front of a WSGI application.

    Requests whose decoded path is in the index are answered from it; every
    other request reaches ``application`` untouched::

        application = StaticWrap(application, "static/", prefix="/static/")
        application.add_files("public/", prefix="/")

    :param application: the WSGI application to wrap, or ``None`` to answer
        every other path with a plain 404 (a static-only server).
    :param root: a directory to serve at once, as with :meth:`add_files`.
    :param prefix: the URL prefix of ``root``.
    :param options: the keyword-only options of
        :meth:`staticwrap.config.Config.from_options`, checked at once.
    :raises ConfigurationError: for a bad option or a root that is not a directory.
    """

    def __init__(
        self,
        application: WSGIApplication | None,
        root: str | os.PathLike[str] | None = None,
        prefix: str = "/",
        **options: Any,
    ) -> None:
        if application is not None and not callable(application):
            raise ConfigurationError(
                f"StaticWrap's first argument is the WSGI application to wrap, not {application!r}: write "
                f"StaticWrap(application, {application!r}, prefix=...), or StaticWrap(None, {application!r}) "
                "to serve the files alone"
            )
        self.application = application if application is not None else not_found
        self.use_config(Config.from_keywords(options))
        if root is not None:
            self.add_files(root, prefix)
        # A Flask app: its static folders and its blueprints' (staticwrap.flask).
        # Flask is imported already if `application` is a Flask app, so other
        # applications pay nothing for the check.
        flask = sys.modules.get("flask")
        if flask is not None and isinstance(application, flask.Flask):
            from .flask import configure

            configure(self, application)
        # A Django project (staticwrap.django): the roots and options its
        # settings name; the keywords given here take precedence. Django is
        # loaded already if `application` is its WSGIHandler.
        handlers = sys.modules.get("django.core.handlers.wsgi")
        if handlers is not None and isinstance(application, handlers.WSGIHandler):
            from .django.wsgi import configure as configure_django

            configure_django(self, **options)
        if self.config.listing or self.config.not_found is not None:
            # Listings and the not-found page answer (some of) the paths the index does not hold.
            fallback = Fallback(self, self.application, static_only=application is None)
            fallback.check()
            self.application = fallback

    def use_config(self, config: Config) -> None:
        """Start over with ``config``: an empty index (add roots again) and an empty body cache."""
        self.config = config
        self.index = Index(config)
        self._paths = self.index.paths
        self._built_prefixes = self.index.built_prefixes
        # CORS with an allow-list varies the answer by Origin: then a request
        # with an Origin takes the full path.
        self._origin_ignored = config.cors_allows is None
        self._memory = memory_cache(config, self.index.roots)

    def add_files(self, root: str | os.PathLike[str], prefix: str = "/") -> None:
        """Serve the files under ``root`` at the URL ``prefix``.

        The directory is scanned now (unless ``autorefresh``); files added to
        it later are not seen. When two roots provide the same URL, the one
        added first is served.
        """
        self.index.add_root(root, prefix)

    def add_package(self, package: str, folder: str = "static", prefix: str = "/") -> None:
        """Serve the directory ``folder`` inside the installed package ``package`` at ``prefix``.

        ``package`` is a dotted import name (``"mypkg"``, ``"mypkg.web"``); it
        is imported, and its directory found through
        :mod:`importlib.resources`. The directory is then added as with
        :meth:`add_files`::

            application.add_package("mypkg", "static", prefix="/static/")

        :raises ConfigurationError: when the package cannot be imported, is
            inside a zip file (its files are not on disk), or has no such
            folder; the message names the package, the folder and the fix.
        """
        self.add_files(package_directory(package, folder), prefix)

    def url(self, name: str, *, prefix: str | None = None) -> str:
        """The URL path to put in a page for the asset ``name`` (relative to its root).

        The content-hashed name when a root's ``staticwrap.json`` or Django
        ``staticfiles.json`` lists it, so the page gets the long-cached URL;
        otherwise the plain name of a file the index holds. Roots are searched
        in the order they were added, as requests are. The path is
        percent-encoded and has no ``SCRIPT_NAME``: prepend the application's
        mount point if it has one.

        :param prefix: look only in the roots served at this URL prefix.
        :raises LookupError: when no root has such a file; the message names it.
        """
        root, served, _ = self._locate(name, prefix)
        return root.prefix + quote(served, safe=SAFE_IN_PATH)

    def integrity(self, name: str, *, prefix: str | None = None) -> str | None:
        """The Subresource Integrity value (``sha384-...``) of ``name`` from the manifest.

        ``None`` for a file no ``staticwrap.json`` describes. Use it with
        ``crossorigin`` on ``<script>`` and ``<link>``.

        :param prefix: look only in the roots served at this URL prefix.
        :raises LookupError: when no root has such a file.
        """
        _, _, record = self._locate(name, prefix)
        return record.integrity if record is not None else None

    def _locate(self, name: str, prefix: str | None) -> tuple[Root, str, FileRecord | None]:
        """The root that serves ``name``, the name it is served under, and its manifest record."""
        name = name.lstrip("/")
        wanted = None if prefix is None else normalize_prefix(prefix)
        for root in self.index.roots:
            if wanted is not None and root.prefix != wanted:
                continue
            record = root.manifest.files.get(name)
            if record is not None:
                return root, record.hashed, record
            django = root.manifest.django_names.get(name)
            if django is not None:
                return root, django, None
            if name and self.index.lookup(root.prefix + name) is not None:
                return root, name, None
        roots = ", ".join(f"{root.path} at {root.prefix}" for root in self.index.roots) or "no roots"
        raise LookupError(f"no static file {name!r} in any manifest or root ({roots}); check the name and the build")

    @property
    def files(self) -> Mapping[str, Entry]:
        """The index: decoded URL path → :class:`~staticwrap.asset.Asset` or redirect."""
        return self.index.files

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # One dict lookup of PATH_INFO as the server gives it (see
        # index.path_info_of): every request that is not for a static file
        # pays only this, and, when a root has a manifest, a prefix and
        # name check of the path (_missing_build_file).
        path = environ.get("PATH_INFO", "")
        entry = self._paths.get(path)
        if entry is None:
            if self._built_prefixes and _missing_build_file(path, environ, self._built_prefixes):
                return _gone(environ, start_response)
            return self.application(environ, start_response)
        # The fast path: a plain GET, or a revalidation by the exact ETag, of
        # a body held in memory. No request header that could change the
        # answer is present, so the prebuilt headers are the answer (every
        # other request is decided by responder.respond).
        get = environ.get
        if (
            type(entry) is Asset
            and get("REQUEST_METHOD") == "GET"
            and get("HTTP_RANGE") is None
            and get("HTTP_IF_MATCH") is None
            and get("HTTP_IF_UNMODIFIED_SINCE") is None
            and (self._origin_ignored or get("HTTP_ORIGIN") is None)
            # A client that holds a dictionary of a file with deltas may get one (RFC 9842).
            and (not entry.deltas or get("HTTP_AVAILABLE_DICTIONARY") is None)
        ):
            accept = get("HTTP_ACCEPT_ENCODING")
            variant = entry.variants[entry.choices.get(accept) or choose_memoized(entry.choices, accept, entry.codings)]
            # A cached body is used only once the kernel's news of changes on
            # disk is delivered (staticwrap.memory): none is queued (one
            # epoll_wait(2)), and none is being delivered by another thread
            # that has read it already. Only then is the body read: read
            # before, it could be one that the news drops.
            if variant.body is not None and not WATCHER.pending(0, 1) and not WATCHER.syncing:
                body = variant.body  # None if dropped meanwhile: the full path reads the disk
                if body is not None:
                    tag = get("HTTP_IF_NONE_MATCH")
                    if tag is None:
                        if get("HTTP_IF_MODIFIED_SINCE") is None:
                            # A copy: a server or middleware may add to the list it is given.
                            start_response("200 OK", variant.ok_headers[:])
                            return [body]
                    elif tag == variant.etag:
                        # §13.1.2: If-Modified-Since is ignored when If-None-Match is present.
                        start_response("304 Not Modified", variant.not_modified_headers[:])
                        return []
        if isinstance(entry, Vanished):
            # A URL whose file was gone when last asked for: looked up again.
            entry = self.index.recover(entry)
            if entry is None:
                return self.application(environ, start_response)
        if isinstance(entry, Unavailable):  # a lookup on disk failed for a transient reason
            return _unavailable(entry, environ, start_response)
        if isinstance(entry, Redirect):
            return self._redirect(entry, environ, start_response)
        return self._serve(entry, environ, start_response)

    def _serve(self, asset: Asset, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = _request(environ)
        # Two tries: a file found changed is re-indexed, and the request is
        # answered again from the new entry (rule 35).
        for _attempt in range(2):
            plan = respond(asset, request, self.config)
            variant = plan.variant
            if variant is None:
                start_response(plan.status, plan.headers)
                return []
            # A coded variant was checked against the identity file's bytes:
            # it is served only while that file is still the one indexed.
            original = None if variant is asset.identity else asset.identity.file
            # A body in memory was checked against the ETag and is dropped
            # when its file or its original changes (staticwrap.memory): it is fresh.
            body = self._memory.fresh(variant) if self._memory is not None else None
            stale: Unusable | None = None
            if body is None and self._memory is not None:
                # Also for a response without a body: a body dropped by a
                # change the stat below cannot see (bytes rewritten in place
                # with size and mtime kept) is found changed by its hash here.
                loaded = self._memory.load(variant, original)
                if isinstance(loaded, Unusable):
                    stale = loaded
                else:
                    body = loaded
            if stale is None and (not plan.segments or request.method == "HEAD"):
                # No body to read, but the answer (a 304 above all) must not
                # come from an index entry whose file has changed.
                if body is not None or (stale := _check_files(variant.file, original)) is None:
                    start_response(plan.status, plan.headers)
                    return []
            elif stale is None:
                if body is not None:
                    start_response(plan.status, plan.headers)
                    return memory_body(body, plan.segments)
                if original is not None:
                    stale = check_fresh(original)
                if stale is None:
                    opened = open_checked(variant.file)
                    if not isinstance(opened, Unusable):
                        return _send(opened, plan, environ, start_response)
                    stale = opened
            if isinstance(stale, Unavailable):
                return _unavailable(stale, environ, start_response)
            refreshed = self.index.refresh(asset)
            if isinstance(refreshed, Unavailable):
                return _unavailable(refreshed, environ, start_response)
            if not isinstance(refreshed, Asset):
                break
            asset = refreshed
        # Vanished, or changing faster than it can be read: not a file to serve now.
        return self.application(environ, start_response)

    def _redirect(self, entry: Redirect, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in SAFE_METHODS:
            plan = method_not_allowed()
            start_response(plan.status, plan.headers)
            return []
        # A relative reference (§10.2.2): "dir/" resolves against the request
        # URL wherever the application is mounted or proxied. The name is
        # percent-encoded as path data, and "./" keeps a name with a colon
        # from reading as a scheme (RFC 3986 §4.2).
        segment = entry.url.rstrip("/").rpartition("/")[2]
        location = quote(segment, safe=SAFE_IN_PATH) + "/"
        if ":" in location:
            location = "./" + location
        query = environ.get("QUERY_STRING", "")
        if query:
            # A query that is not a PEP 3333 string (no server sends one) is
            # dropped: no query is better than a 500.
            with contextlib.suppress(UnicodeEncodeError):
                location += "?" + quote(query.encode("latin-1"), safe=_SAFE_IN_URL)
        headers = [("Location", location), ("Content-Length", "0")]
        if self.config.max_age is not None:
            headers.append(("Cache-Control", f"public, max-age={self.config.max_age}"))
        start_response("302 Found", headers)
        return []


def _send(file: BinaryIO, plan: Plan, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    try:
        start_response(plan.status, plan.headers)
        assert plan.variant is not None
        return file_body(file, plan.segments, environ.get("wsgi.file_wrapper"), plan.variant.file)
    except BaseException:
        file.close()  # the server never got an iterable to close
        raise


def _check_files(facts: FileFacts, original: FileFacts | None) -> Unusable | None:
    """For a response without a body: ``None`` if the file, and the original of a coded one, are still as indexed."""
    stale = check_fresh(original) if original is not None else None
    return stale if stale is not None else check_fresh(facts)


def _unavailable(unavailable: Unavailable, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    # A transient failure to open a file that exists (permissions, out of
    # descriptors, an I/O error): the index stays as it is, and the client may
    # retry (§15.6.4). The operator is told in the server's error log:
    # wsgi.errors is where PEP 3333 says an application writes errors, and
    # Gunicorn, uWSGI and mod_wsgi send it to their error log with no logging
    # set up. One line per request answered so.
    errors = environ.get("wsgi.errors")
    if errors is not None:
        reason = unavailable.error.strerror or str(unavailable.error)
        # The path as a Python literal: a name (or, with autorefresh, a
        # requested URL) holding a line break cannot add a line to the log.
        errors.write(f"staticwrap: {unavailable.path!r} cannot be read now ({reason}); answered 503\n")
        errors.flush()  # PEP 3333: a line written to wsgi.errors may be buffered until flushed
    start_response("503 Service Unavailable", [("Retry-After", "1"), ("Content-Length", "0")])
    return []


def _request(environ: WSGIEnvironment) -> Request:
    get = environ.get
    return Request(
        method=get("REQUEST_METHOD", "GET"),
        accept_encoding=get("HTTP_ACCEPT_ENCODING"),
        if_match=get("HTTP_IF_MATCH"),
        if_none_match=get("HTTP_IF_NONE_MATCH"),
        if_modified_since=get("HTTP_IF_MODIFIED_SINCE"),
        if_unmodified_since=get("HTTP_IF_UNMODIFIED_SINCE"),
        range=get("HTTP_RANGE"),
        if_range=get("HTTP_IF_RANGE"),
        origin=get("HTTP_ORIGIN"),
        preflight_method=get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"),
        available_dictionary=get("HTTP_AVAILABLE_DICTIONARY"),
    )


def _missing_build_file(path: str, environ: WSGIEnvironment, built_prefixes: list[str]) -> bool:
    """Whether a GET or HEAD not in the index asks for a hashed-looking name under a built root.

    Such a name is a file of a build no longer kept (or never made): the
    application must not answer it, as a single-page app's catch-all route
    would send its HTML for a script, and the browser would report a MIME
    type or syntax error instead of a missing file.
    """
    return (
        environ.get("REQUEST_METHOD") in SAFE_METHODS
        and looks_hashed(path)
        and any(path.startswith(prefix) for prefix in built_prefixes)
    )


def _gone(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = b"Not Found: no kept build has this file\n"
    start_response(
        "404 Not Found",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            # A 404 is cacheable by default (RFC 9111 §4.2.2): a CDN must not
            # keep answering it once a replica with the newer build serves the file.
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The application of a static-only StaticWrap: 404 for every path not in the index."""
    body = b"Not Found\n"
    start_response(
        "404 Not Found",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
