"""``StaticWrapStorage``: collectstatic with the staticwrap build pipeline.

``collectstatic`` copies every file the finders find into ``STATIC_ROOT``
through this storage; :meth:`StaticWrapStorage.post_process` then runs
:func:`staticwrap.build.build` over them. The build reads the files from a
staging directory filled from the finders' sources, not from ``STATIC_ROOT``,
whose copies a previous build rewrote: every run starts from the sources,
and ``STATIC_ROOT`` is its destination (hashed copies, rewritten references,
``staticwrap.json`` with SRI values, precompressed variants).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles.storage import StaticFilesStorage
from django.core.files.storage import Storage

from staticwrap.atomic import naming
from staticwrap.build import BuildError, build
from staticwrap.codings import SIBLING_SUFFIXES
from staticwrap.errors import StaticwrapError
from staticwrap.manifest import STATICWRAP_MANIFEST, Manifest, read_manifest
from staticwrap.transaction import Transaction

from .conf import get_config
from .management import reported_as_command_error

PostProcessed = tuple[str, str, bool] | tuple[str, None, Exception]

# A name's query or fragment ("font.woff2?v=3", "icons.svg#logo") is kept as
# it is and not part of the file name looked up.
_SUFFIX = re.compile(r"[?#]")


class MissingManifestEntryError(StaticwrapError, ValueError):
    """A name asked of :meth:`StaticWrapStorage.url` is not in ``staticwrap.json``.

    A ``ValueError``, as Django's ``ManifestStaticFilesStorage`` raises.
    """


class StaticWrapStorage(StaticFilesStorage):
    """Storage for ``STORAGES["staticfiles"]`` whose post-processing is the staticwrap build.

    ``url(name)`` gives the content-hashed URL from ``staticwrap.json``, so
    ``{% static %}`` links to files that can be cached for a year; with
    ``DEBUG`` it gives the plain URL, as the finders serve the sources.
    """

    def __init__(self, location: str | None = None, base_url: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(location, base_url, *args, **kwargs)
        self._manifest: Manifest | None = None
        #: Set by staticwrap's ``collectstatic`` while it runs: every file this
        #: storage changes in ``STATIC_ROOT`` is recorded there first, so that
        #: a failed run can put it back.
        self.transaction: Transaction | None = None

    def _save(self, name: str, content: Any) -> str:
        path = self.path(name)
        if self.transaction is not None:
            self.transaction.makedirs(os.path.dirname(path))
            self.transaction.preserve(path)
        try:
            # FileSystemStorage._save is missing from django-stubs.
            return str(super()._save(name, content))  # type: ignore[misc]
        except OSError as error:
            if error.filename is None:
                raise naming(error, path) from error
            raise

    def delete(self, name: str) -> None:
        """Delete ``name`` from ``STATIC_ROOT`` (restored if the collectstatic run fails)."""
        if self.transaction is not None:
            self.transaction.preserve(self.path(name))
        super().delete(name)

    @property
    def manifest(self) -> Manifest:
        """The ``staticwrap.json`` of ``STATIC_ROOT``, read on first use (empty when there is none)."""
        if self._manifest is None:
            location = self.location
            self._manifest = read_manifest(os.fspath(location)) if location else Manifest()
        return self._manifest

    def stored_name(self, name: str) -> str:
        """The content-hashed name of ``name`` (relative to ``STATIC_ROOT``).

        :raises MissingManifestEntryError: when the manifest does not list it,
            unless ``STATICWRAP["manifest_strict"]`` is False (then ``name`` itself).
        """
        record = self.manifest.files.get(name)
        if record is not None:
            return record.hashed
        if not get_config().manifest_strict:
            return name
        location = os.path.join(os.fspath(self.location or "STATIC_ROOT"), STATICWRAP_MANIFEST)
        if not self.manifest.files:
            problem = f"there is no {location}: run manage.py collectstatic"
        else:
            problem = f"{location} does not list it: check the name, or run manage.py collectstatic again"
        raise MissingManifestEntryError(f"static file {name!r}: {problem}")

    def url(self, name: str | None, force: bool = False) -> str:
        """The URL of ``name``: content-hashed, or plain when ``DEBUG`` (unless ``force``).

        With ``STATICWRAP["base_url"]`` (the files published to a CDN), the
        content-hashed URL is on the CDN: ``base_url`` and ``STATIC_URL``'s path.
        """
        if name is None:
            return super().url(name)
        match = _SUFFIX.search(name)
        path, suffix = (name[: match.start()], name[match.start() :]) if match else (name, "")
        if path.endswith("/") or (settings.DEBUG and not force):
            return super().url(path) + suffix
        url = super().url(self.stored_name(path))
        base_url = get_config().config.base_url
        if base_url is not None:
            # STATICWRAP["base_url"]: a CDN serving the paths of STATIC_URL.
            url = base_url + urlsplit(url).path.lstrip("/")
        return url + suffix

    def integrity(self, name: str) -> str | None:
        """The Subresource Integrity value of ``name``'s hashed file (``sha384-...``).

        ``None`` when ``DEBUG``: :meth:`url` then links the source, whose
        bytes are not the built file's (its references are not rewritten).
        """
        if settings.DEBUG:
            return None
        record = self.manifest.files.get(name)
        return record.integrity if record is not None else None

    def post_process(
        self, paths: Mapping[str, tuple[Storage, str]], dry_run: bool = False, **options: Any
    ) -> Iterator[PostProcessed]:
        """Build the collected files into ``STATIC_ROOT`` (called by collectstatic).

        Yields ``(name, hashed name, True)`` for each file built, or one
        ``(name, None, error)`` when the build fails (collectstatic reports
        and raises it).
        """
        if dry_run:
            return
        # staticfiles' collectstatic (when it runs instead of staticwrap's)
        # prints any other exception with its traceback.
        with reported_as_command_error():
            config = get_config()
        destination = os.fspath(self.location)
        failure: BuildError | None = None
        # Nothing is yielded inside the with: collectstatic stops iterating at
        # an error, and the staging directory must be gone by then.
        with tempfile.TemporaryDirectory(prefix="staticwrap-collected-") as staging:
            origins = _stage(paths, staging)
            _unlink_links(destination, paths, self.transaction)
            try:
                result = build(staging, destination, prefix=urlsplit(self.base_url).path, **config.build)
            except BuildError as error:
                failure = BuildError(_with_origins(str(error), staging, origins))
        if failure is not None:
            yield "staticwrap build", None, failure
            return
        if config.build.get("hashed_only"):
            _remove_unhashed(destination, result.manifest, self.transaction)
        self._manifest = result.manifest
        for name, record in sorted(result.manifest.files.items()):
            yield name, record.hashed, True


def _stage(paths: Mapping[str, tuple[Storage, str]], staging: str) -> dict[str, str]:
    """Copy each found file from its source storage to ``staging``; returns staged path → source."""
    origins: dict[str, str] = {}
    for name, (storage, path) in paths.items():
        target = os.path.normpath(os.path.join(staging, name))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        source = _local_path(storage, path)
        if source is not None:
            # The build only reads the staged files: a hard link is enough,
            # and costs no copy. Across file systems, copy2 keeps the
            # source's metadata as the link does; the build then gives each
            # output whose bytes change its own, newer mtime.
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
            origins[target] = source
            continue
        with storage.open(path) as stream, open(target, "wb") as out:
            shutil.copyfileobj(stream, out)
        with contextlib.suppress(NotImplementedError):
            modified = storage.get_modified_time(path).timestamp()
            os.utime(target, (modified, modified))
        origins[target] = name
    return origins


def _local_path(storage: Storage, path: str) -> str | None:
    # Storages without local files raise NotImplementedError, or (in-memory
    # storages) give a path where no file is.
    try:
        source = storage.path(path)
    except NotImplementedError:
        return None
    return source if os.path.isfile(source) else None


def _unlink_links(destination: str, paths: Mapping[str, object], transaction: Transaction | None) -> None:
    # collectstatic --link put symbolic links to the sources in STATIC_ROOT:
    # the build replaces them with files, and must not write (or set the
    # modification time) through them into the sources.
    for name in paths:
        path = os.path.join(destination, name)
        if os.path.islink(path):
            if transaction is not None:
                transaction.preserve(path)
            os.remove(path)


def _with_origins(message: str, staging: str, origins: Mapping[str, str]) -> str:
    # The build names the staged copies, which are gone by now: name the
    # sources. Its hint names the command line's option: give the setting.
    for staged in sorted(origins, key=len, reverse=True):
        message = message.replace(staged, origins[staged])
    message = message.replace("build with --no-strict", "set STATICWRAP = {'build': {'strict': False}}")
    return message.replace(staging, "<collected files>")


def _remove_unhashed(destination: str, manifest: Manifest, transaction: Transaction | None) -> None:
    # hashed_only: collectstatic copied each file under its own name before the
    # build ran; only the hashed copies are to be left.
    for name in manifest.files:  # a hashed name always differs from its logical one
        path = os.path.join(destination, *name.split("/"))
        for suffix in ("", *(suffix for _, suffix in SIBLING_SUFFIXES)):
            if os.path.isfile(path + suffix):
                if transaction is not None:
                    transaction.preserve(path + suffix)
                os.remove(path + suffix)
