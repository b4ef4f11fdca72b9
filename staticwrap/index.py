"""The index: files found under the roots at startup, keyed by their decoded URL path.

A request path is only ever a key into :attr:`Index.files`; it is never joined
onto a directory. In autorefresh mode a missing key is looked up on disk by
matching each path segment against the names a directory listing returns,
so the same rule holds: only names that exist, and pass the same policy as
the startup scan, can be served.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from . import codings
from .asset import Asset, Redirect, build_asset
from .config import Config
from .errors import ConfigurationError
from .manifest import read_manifest
from .mediatypes import DEFAULT_MEDIA_TYPES, lookup_media_type, sniff_media_type, with_charset
from .negotiation import IDENTITY, SERVER_ORDER
from .tree import (
    Directory,
    Found,
    Root,
    allowed,
    file_facts,
    hash_found,
    is_regular_file,
    last_modified,
    listing,
    normalize_prefix,
    original_name,
    trusted,
    unchanged,
    walk,
    warn,
)

Entry = Asset | Redirect
SiblingLookup = Callable[[str], Found | None]


class PathTable(Protocol):
    """Entries by ``PATH_INFO`` as a WSGI server sets it: what the middleware looks a request up in."""

    def get(self, path_info: str, /) -> Entry | None: ...


def path_info_of(url: str) -> str:
    """The ``PATH_INFO`` of a request for the decoded URL path ``url``.

    PEP 3333 carries the path's bytes as latin-1 text, and the index names
    files by their UTF-8 text: keying a second table by the latin-1 form lets
    a request be looked up with no decoding, and a path that is not UTF-8
    simply matches nothing.
    """
    return url if url.isascii() else url.encode("utf-8").decode("latin-1")


class _OnDisk:
    """The :class:`PathTable` of autorefresh mode: every lookup is made on disk."""

    def __init__(self, index: Index) -> None:
        self._index = index

    def get(self, path_info: str, /) -> Entry | None:
        try:
            url = path_info.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return None
        return self._index.lookup(url)


class Index:
    """The table of served files, and the scan that fills it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        #: Decoded URL path → :class:`Asset` or :class:`Redirect`.
        self.files: dict[str, Entry] = {}
        # The same entries by PATH_INFO (see path_info_of), kept in step with
        # files; the same object for the life of the index.
        self._by_path_info: dict[str, Entry] = {}
        #: What a request's PATH_INFO is looked up in.
        self.paths: PathTable = _OnDisk(self) if config.autorefresh else self._by_path_info
        self.roots: list[Root] = []
        self._media_types = {**DEFAULT_MEDIA_TYPES, **config.mimetypes}
        self._lock = threading.Lock()
        # Autorefresh: the asset last built for each URL, reused while the
        # files behind it keep their size, mtime and inode.
        self._built: dict[str, Asset] = {}
        # Header fields and file numbers shared by assets (see
        # asset.build_asset and tree.file_facts). Not in autorefresh mode,
        # which builds assets for as long as files change.
        self._shared: dict[tuple[str, str], tuple[str, str]] = {}
        self._numbers: dict[int, int] | None = None if config.autorefresh else {}

    # -- building ---------------------------------------------------------

    def add_root(self, directory: str | os.PathLike[str], prefix: str) -> None:
        """Scan ``directory`` (unless autorefresh) and serve it at ``prefix``."""
        path = os.path.abspath(os.fspath(directory))
        if not os.path.isdir(path):
            raise ConfigurationError(
                f"{path} is not a directory (given as {os.fspath(directory)!r}, for prefix {prefix!r}): "
                "create it, or correct the path passed to StaticWrap/add_files"
            )
        root = Root(path, os.path.realpath(path), normalize_prefix(prefix), read_manifest(path))
        if self.config.autorefresh:
            self.roots.append(root)
        else:
            entries = list(self._scan(root))
            self._numbers = {}  # what it interned stays shared; the table itself is not needed
            # The manifest's file facts were for the scan: keep what serving needs.
            root = root._replace(manifest=root.manifest.for_serving())
            self.roots.append(root)
            # Under the lock: add_files may be called on a running server
            # (Flask blueprints registered late), while refresh() iterates.
            with self._lock:
                for url, entry in entries:
                    # The first root that provides a URL keeps it, as with Django's finders.
                    if url not in self.files:
                        self._set(url, entry)

    def _scan(self, root: Root) -> Iterator[tuple[str, Entry]]:
        # One directory at a time, as the walk lists it: the stat results of
        # a whole tree are never held at once. (Indexing directories on a
        # thread pool was measured slower: the per-file Python work holds
        # the GIL, and most files are too small for hashing to release it.)
        for directory in walk(root, self.config):
            yield from self._scan_directory(root, directory)

    def _scan_directory(self, root: Root, directory: Directory) -> list[tuple[str, Entry]]:
        url_dir = root.prefix + directory.relative
        siblings = directory.siblings_to_skip()
        entries: list[tuple[str, Entry]] = []
        for name, found in directory.files.items():
            if name in siblings:
                continue  # a precompressed sibling is served only through its original
            asset = self._build(root, url_dir + name, found, directory.files.get)
            if asset is not None:
                entries += self._keys_for(asset, url_dir, name)
        return entries

    def _keys_for(self, asset: Asset, url_dir: str, name: str) -> Iterator[tuple[str, Entry]]:
        yield asset.url, asset
        if name == self.config.index_file:
            yield url_dir, asset
            if url_dir != "/":
                yield url_dir[:-1], Redirect(url_dir)

    def _build(self, root: Root, url: str, found: Found, sibling: SiblingLookup) -> Asset | None:
        name = os.path.basename(found.path)
        candidates: dict[str, Found] = {}
        for coding, suffix in codings.SIBLING_SUFFIXES:
            candidate = sibling(name + suffix)
            if coding in candidates or candidate is None or not stat.S_ISREG(candidate.stat.st_mode):
                continue
            if candidate.stat.st_size < found.stat.st_size:  # else sending it saves nothing
                candidates[coding] = candidate
        cached = self._built.get(url)
        if cached is not None and unchanged(cached, found, candidates):
            return cached
        relative = url[len(root.prefix) :]
        # A file the build described, still with the size and mtime it wrote,
        # is not read again: its hashes come from the manifest.
        record = trusted(root.manifest.outputs.get(relative), found.stat)
        digest: codings.Digest | None = None
        if record is None or record.etag is None:
            if (digest := hash_found(found)) is None:
                return None
            tag = digest.tag
        else:
            tag = record.etag
        files = {IDENTITY: file_facts(found, tag, self._numbers)}
        for coding in SERVER_ORDER:
            if coding not in candidates:
                continue
            candidate = candidates[coding]
            built = record.variants.get(coding) if record is not None else None
            if built is not None and trusted(record, candidate.stat, built.size) is not None:
                files[coding] = file_facts(candidate, built.etag, self._numbers)
                continue
            if digest is None and (digest := hash_found(found)) is None:
                return None
            check = codings.check_sibling(candidate.path, coding, digest, found.stat.st_size)
            if check.digest is None:
                warn(f"{candidate.path} is not served as the {coding} coding of {found.path}: {check.problem}")
                continue
            files[coding] = file_facts(candidate, check.digest.tag, self._numbers)
        test = self.config.immutable
        asset = build_asset(
            url,
            files,
            content_type=self._content_type(name, found.path, digest),
            last_modified=last_modified(found.stat),
            immutable=test is not None and (relative in root.manifest.hashed_names or test(url)),
            config=self.config,
            # Autorefresh builds assets for as long as files change: interning
            # across them would keep every old Last-Modified.
            shared=None if self.config.autorefresh else self._shared,
        )
        if self.config.autorefresh:
            self._built[url] = asset
        return asset

    def _content_type(self, name: str, path: str, digest: codings.Digest | None) -> str:
        media_type = lookup_media_type(name, self._media_types)
        if media_type is not None:
            return with_charset(media_type, self.config.charset)
        head = digest.head if digest is not None else codings.read_head(path)
        media_type = sniff_media_type(head, name)
        if media_type.startswith("text/"):
            # libmagic names the type, not the encoding: only claim the
            # configured charset for text that is valid UTF-8 (or ASCII).
            try:
                head.decode("utf-8")
            except UnicodeDecodeError as error:
                if error.start < len(head) - 3:  # not merely a character cut at the end of head
                    return media_type
            return with_charset(media_type, self.config.charset)
        return media_type

    # -- lookups ----------------------------------------------------------

    def lookup(self, url: str) -> Entry | None:
        """The entry for a decoded URL path, or ``None`` to pass the request on."""
        if self.config.autorefresh:
            return self._lookup_on_disk(url)
        return self.files.get(url)

    def refresh(self, asset: Asset) -> Entry | None:
        """Re-read an asset whose file changed on disk since it was indexed.

        Called when a file opened for a response does not match the index. The
        new entry replaces the old under every key; a vanished file is removed.
        """
        with self._lock:
            current = self.files.get(asset.url)
            if current is not asset:
                return current  # another request refreshed it meanwhile
            # Looked up over all roots in order, the precedence of the scan.
            entry = self._lookup_on_disk(asset.url)
            if entry is None and is_regular_file(asset.identity.file.path):
                # A regular file is still there, but could not be read now
                # (out of descriptors, an I/O error): a transient failure
                # must not drop it from the index.
                return asset
            for key in [key for key, value in self.files.items() if value is asset]:
                if entry is None:
                    del self.files[key]
                    del self._by_path_info[path_info_of(key)]
                else:
                    self._set(key, entry)
            return entry

    def _set(self, url: str, entry: Entry) -> None:
        self.files[url] = entry
        self._by_path_info[path_info_of(url)] = entry

    def _lookup_on_disk(self, url: str) -> Entry | None:
        for root in self.roots:
            index_file = self.config.index_file
            bare_prefix = url + "/" == root.prefix and root.prefix != "/"
            if bare_prefix and index_file is not None and self._regular(root, root.path, index_file):
                return Redirect(root.prefix)
            if not url.startswith(root.prefix):
                continue
            entry = self._resolve(root, url[len(root.prefix) :].split("/"), root.prefix)
            if entry is not None:
                return entry
        return None

    def _resolve(self, root: Root, segments: list[str], url_dir: str) -> Entry | None:
        """Walk ``segments`` down from the root, each one a name found in a listing."""
        directory = root.path
        # The directories walked through, as (device, inode): a symlink back
        # to one of them is a loop, which the startup scan skips too.
        try:
            top = os.stat(root.path)
        except OSError:
            return None
        walked = {(top.st_dev, top.st_ino)}
        for position, segment in enumerate(segments):
            last = position == len(segments) - 1
            if last and segment == "":
                # A URL ending in "/": the directory's index file, if any.
                if self.config.index_file is None:
                    return None
                segment = self.config.index_file
            found = self._listed(root, directory, segment)
            if found is None:
                return None
            if stat.S_ISDIR(found.stat.st_mode):
                key = (found.stat.st_dev, found.stat.st_ino)
                if key in walked:
                    return None
                walked.add(key)
                if last:
                    index_file = self.config.index_file
                    has_index = index_file is not None and self._regular(root, found.path, index_file)
                    return Redirect(url_dir + segment + "/") if has_index else None
                directory, url_dir = found.path, url_dir + segment + "/"
                continue
            if not last or not stat.S_ISREG(found.stat.st_mode):
                return None
            original = original_name(segment)
            if original != segment and self._regular(root, directory, original):
                return None  # a precompressed sibling is never served on its own URL (as in _scan)
            return self._build(root, url_dir + segment, found, functools.partial(self._listed, root, directory))
        return None

    def _regular(self, root: Root, directory: str, name: str) -> bool:
        found = self._listed(root, directory, name)
        return found is not None and stat.S_ISREG(found.stat.st_mode)

    def _listed(self, root: Root, directory: str, name: str) -> Found | None:
        # The name must be one the directory really lists: "..", "." or "" never are.
        if not name or name not in listing(directory):
            return None
        return allowed(root, directory, name, self.config)
