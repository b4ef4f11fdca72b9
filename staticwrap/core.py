"""The part of staticwrap both front ends share: the index, the options, and the answer to a request.

:class:`StaticCore` holds one :class:`~staticwrap.index.Index`, one
:class:`~staticwrap.config.Config` and one body cache, and turns a request
path and a :class:`~staticwrap.responder.Request` into an
:class:`~staticwrap.answer.Answer`, or ``None`` when the request is not a
static file's and goes to the application. The WSGI
:class:`~staticwrap.StaticWrap` and the ASGI
:class:`~staticwrap.asgi.StaticWrapASGI` are thin translations of it.

The only I/O here is what a file answer needs: opening the file and checking
it on its descriptor, stat(2) for a response without a body, reading a small
file into the body cache, and indexing a changed file again. An event loop
must not wait on those: :meth:`StaticCore.answer` called with
``may_block=False`` returns :data:`NEEDS_DISK` instead of doing any of them,
and the caller asks again from a thread.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from . import answer as answers
from ._syntax import SAFE_IN_PATH
from .answer import Answer
from .asset import Asset, FileFacts, Redirect
from .body import Unavailable, Unusable, check_fresh, memory_body, open_checked
from .config import Config
from .errors import ConfigurationError
from .index import Entry, Index, Vanished
from .manifest import FileRecord
from .memory import memory_cache
from .responder import Request, respond
from .tree import Root, normalize_prefix, package_directory


class Disk(enum.Enum):
    """What :meth:`StaticCore.answer` returns when the answer needs disk I/O it was told not to do."""

    NEEDS_DISK = "needs disk"


#: The answer needs disk I/O: ask again where blocking is allowed (a thread).
NEEDS_DISK = Disk.NEEDS_DISK


class StaticCore:
    """One index, one set of options, one body cache, and the answers made from them.

    :param application: what a front end wraps (checked to be callable), or ``None``.
    :param kind: ``"WSGI"`` or ``"ASGI"``, for the message of a bad first argument.
    """

    def __init__(self, application: object, kind: str, options: Mapping[str, Any]) -> None:
        if application is not None and not callable(application):
            name = type(self).__name__
            raise ConfigurationError(
                f"{name}'s first argument is the {kind} application to wrap, not {application!r}: write "
                f"{name}(application, {application!r}, prefix=...), or {name}(None, {application!r}) "
                "to serve the files alone"
            )
        self.use_config(Config.from_keywords(options))

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
        percent-encoded and has no ``SCRIPT_NAME`` (ASGI ``root_path``):
        prepend the application's mount point if it has one. With the
        ``base_url`` option (the files published to a CDN), the full URL on
        the CDN: ``base_url`` followed by that path without its leading ``/``.

        :param prefix: look only in the roots served at this URL prefix.
        :raises LookupError: when no root has such a file; the message names it.
        """
        root, served, _ = self._locate(name, prefix)
        path = quote(served, safe=SAFE_IN_PATH)
        base_url = self.config.base_url
        # The CDN serves the site's paths: its URL stands for the site's "/".
        return root.prefix + path if base_url is None else base_url + root.prefix[1:] + path

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

    def missing(self, path: str, method: str | None) -> Answer | None:
        """The answer for a request path the index does not hold: ``None`` (the application's), or a 404.

        The 404 is for a hashed-looking name under a built root: a file of a
        build no longer kept (:func:`~staticwrap.answer.is_missing_build_file`).
        A front end calls this only when a root has a manifest
        (``_built_prefixes``), so that every other request pays one dict lookup.
        """
        if answers.is_missing_build_file(path, method, self._built_prefixes):
            return answers.gone(method)
        return None

    def answer(
        self, entry: Entry | Vanished | Unavailable, request: Request, query: bytes, *, may_block: bool = True
    ) -> Answer | Disk | None:
        """The answer to ``request`` for an index entry; ``None`` to pass the request to the application.

        :param query: the request's query string, kept in a redirect's Location.
        :param may_block: ``False`` to get :data:`NEEDS_DISK` instead of
            waiting on the disk (an event loop asks again from a thread).
        """
        if isinstance(entry, Vanished):
            if not may_block:
                return NEEDS_DISK
            # A URL whose file was gone when last asked for: looked up again.
            recovered = self.index.recover(entry)
            if recovered is None:
                return None
            entry = recovered
        if isinstance(entry, Unavailable):  # a lookup on disk failed for a transient reason
            return answers.unavailable(entry)
        if isinstance(entry, Redirect):
            return answers.redirect(entry, request.method, query, self.config)
        return self._serve(entry, request, may_block)

    def _serve(self, asset: Asset, request: Request, may_block: bool) -> Answer | Disk | None:
        # Two tries: a file found changed is re-indexed, and the request is
        # answered again from the new entry (rule 35).
        for _attempt in range(2):
            plan = respond(asset, request, self.config)
            variant = plan.variant
            if variant is None:
                return Answer(plan.status, plan.headers)
            # A coded variant was checked against the identity file's bytes:
            # it is served only while that file is still the one indexed.
            original = None if variant is asset.identity else asset.identity.file
            # A body in memory was checked against the ETag and is dropped
            # when its file or its original changes (staticwrap.memory): it is fresh.
            body = self._memory.fresh(variant) if self._memory is not None else None
            if body is None and not may_block:
                return NEEDS_DISK
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
                    return Answer(plan.status, plan.headers)
            elif stale is None:
                if body is not None:
                    return Answer(plan.status, plan.headers, memory_body(body, plan.segments))
                if original is not None:
                    stale = check_fresh(original)
                if stale is None:
                    opened = open_checked(variant.file)
                    if not isinstance(opened, Unusable):
                        # An immutable name (the content hash in it, see the
                        # ``immutable`` option) is never given other bytes by a deploy.
                        return Answer(
                            plan.status,
                            plan.headers,
                            (),
                            opened,
                            plan.segments,
                            variant.file,
                            path_is_stable=asset.immutable,
                        )
                    stale = opened
            if isinstance(stale, Unavailable):
                return answers.unavailable(stale)
            refreshed = self.index.refresh(asset)
            if isinstance(refreshed, Unavailable):
                return answers.unavailable(refreshed)
            if not isinstance(refreshed, Asset):
                break
            asset = refreshed
        # Vanished, or changing faster than it can be read: not a file to serve now.
        return None


def _check_files(facts: FileFacts, original: FileFacts | None) -> Unusable | None:
    """For a response without a body: ``None`` if the file, and the original of a coded one, are still as indexed."""
    stale = check_fresh(original) if original is not None else None
    return stale if stale is not None else check_fresh(facts)
