"""The index: files found under the roots at startup, keyed by their decoded URL path.

A request path is only ever a key into :attr:`Index.files`; it is never joined
onto a directory. In autorefresh mode (and to re-read a file that changed) a
URL is looked up on disk by matching each path segment against the names a
directory listing returns, through directory descriptors
(:class:`~staticwrap.tree.Walker`), so the same rule holds: only names that
exist, and pass the same policy as the startup scan, can be served, and a
directory swapped for a symlink meanwhile can only make the lookup miss.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import stat
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import NamedTuple, Protocol

from . import codings
from .asset import Asset, FileFacts, Redirect, build_asset
from .body import Unavailable
from .compress import should_compress
from .config import Config
from .dictionaries import DCZ, delta_name, format_use_as_dictionary, match_pattern
from .errors import OPTION, ConfigurationError, python_only, warn
from .facts import (
    Settling,
    file_facts,
    hash_found,
    last_modified,
    read_head,
    same_file,
    trusted,
    unchanged,
)
from .hashcache import HashCache, RootHashes
from .manifest import FileRecord, read_manifest
from .mediatypes import DEFAULT_MEDIA_TYPES, lookup_media_type, sniff_media_type, with_charset
from .negotiation import IDENTITY, SERVER_ORDER
from .resolve import HASH_LENGTH
from .tree import (
    Directory,
    Found,
    Place,
    Refused,
    Root,
    Walker,
    describe_refusals,
    is_regular_file,
    is_transient,
    normalize_prefix,
    original_name,
    walk,
)

Entry = Asset | Redirect
SiblingLookup = Callable[[str], Found | None]


class Vanished(NamedTuple):
    """A URL the index held (or the scan found) whose file was gone or changing when last looked at.

    Kept in the path table, so that a file missing for a moment (replaced by
    unlinking then writing it, or caught mid-write by the scan) is served
    again once it is back: a request for it looks the URL up on disk again
    (:meth:`Index.recover`). Only URLs the index once held are looked up so.
    """

    url: str


class PathTable(Protocol):
    """Entries by ``PATH_INFO`` as a WSGI server sets it: what the middleware looks a request up in.

    Besides entries: a :class:`Vanished` URL to look up again, or
    :class:`~staticwrap.body.Unavailable` when a lookup on disk failed for a
    transient reason (a 503).
    """

    def get(self, path_info: str, /) -> Entry | Vanished | Unavailable | None: ...


def path_info_of(url: str) -> str:
    """The ``PATH_INFO`` of a request for the decoded URL path ``url``.

    PEP 3333 carries the path's bytes as latin-1 text, and the index names
    files by their UTF-8 text: keying a second table by the latin-1 form lets
    a request be looked up with no decoding, and a path that is not UTF-8
    simply matches nothing. So does a path holding a lone surrogate (a str
    an ASGI server or middleware decoded with ``surrogateescape``): it is
    encoded as such (``surrogatepass``), never UTF-8 text, rather than raise.
    """
    return url if url.isascii() else url.encode("utf-8", "surrogatepass").decode("latin-1")


def url_of(path_info: str) -> str | None:
    """The decoded URL path of a request's ``PATH_INFO`` (see :func:`path_info_of`); ``None`` if not UTF-8."""
    try:
        return path_info.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


class _OnDisk:
    """The :class:`PathTable` of autorefresh mode: every lookup is made on disk."""

    def __init__(self, index: Index) -> None:
        self._index = index

    def get(self, path_info: str, /) -> Entry | Unavailable | None:
        url = url_of(path_info)
        if url is None:
            return None
        try:
            return self._index.lookup(url)
        except OSError as error:  # out of descriptors, an I/O error: not "not found" (see tree.is_transient)
            return Unavailable(url, error)


class Index:
    """The table of served files, and the scan that fills it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        #: Decoded URL path → :class:`Asset` or :class:`Redirect`.
        self.files: dict[str, Entry] = {}
        # The same entries by PATH_INFO (see path_info_of), kept in step with
        # files, and the Vanished URLs; the same object for the life of the index.
        self._by_path_info: dict[str, Entry | Vanished] = {}
        #: What a request's PATH_INFO is looked up in.
        self.paths: PathTable = _OnDisk(self) if config.autorefresh else self._by_path_info
        self.roots: list[Root] = []
        #: The PATH_INFO prefixes of the roots a build wrote (with a manifest):
        #: a hashed-looking name missing there is a file of a build no longer
        #: kept, never a path for the application (see StaticWrap.__call__).
        self.built_prefixes: list[str] = []
        self._media_types = {**DEFAULT_MEDIA_TYPES, **config.mimetypes}
        self._lock = threading.Lock()
        # Autorefresh: the asset last built for each URL, reused while the
        # files behind it keep their size, mtime and inode. Swept of the
        # files that are gone whenever it doubles (see _remember).
        self._built: dict[str, Asset] = {}
        self._sweep_at = _MIN_SWEEP
        self._sweep_lock = threading.Lock()
        # Header fields and file numbers shared by the assets of a scan (see
        # asset.build_asset and facts.file_facts). Only the scan interns: an
        # asset built later, for a file rewritten, would add its new
        # Last-Modified, Content-Length and mtime for good.
        self._shared: dict[tuple[str, str], tuple[str, str]] = {}
        self._numbers: dict[int, int] = {}
        self._settling = Settling()
        # During a scan with the hash_cache option: the cached hashes of the root's files.
        self._hashes: RootHashes | None = None

    # -- building ---------------------------------------------------------

    def add_root(self, directory: str | os.PathLike[str], prefix: str) -> None:
        """Scan ``directory`` (unless autorefresh) and serve it at ``prefix``."""
        path = os.path.abspath(os.fspath(directory))
        if not os.path.isdir(path):
            exists = os.path.lexists(path)
            if exists or not self.config.autorefresh:
                later = "" if exists else python_only(" (with autorefresh=True, a directory created later is accepted)")
                raise ConfigurationError(
                    f"{path} is not a directory (given as {OPTION}, for prefix {prefix!r}): "
                    f"create it, or correct the path{later}",
                    option="root",
                    value=os.fspath(directory),
                )
            # WhiteNoise's autorefresh accepts it too: in development the root
            # is often the output of a build tool (a watcher) started beside the
            # server. Every lookup looks on disk (_lookup_on_disk), so the root
            # is served once it exists.
            warn(
                f"{path} does not exist yet (given as {os.fspath(directory)!r}, for prefix {prefix!r}): "
                "nothing is served there until it is created"
            )
        root = Root(path, os.path.realpath(path), normalize_prefix(prefix), read_manifest(path))
        if root.manifest.hashed_names:
            self.built_prefixes.append(path_info_of(root.prefix))
        if self.config.autorefresh:
            self.roots.append(root)
        else:
            refused: Refused = Counter()
            if self.config.hash_cache is not None:
                self._hashes = HashCache(self.config.hash_cache).for_root(root.real_path)
            try:
                entries = list(self._scan(root, refused))
                if self._hashes is not None:
                    self._hashes.save()
            finally:
                self._hashes = None  # its entries are not needed after the scan
            if not entries:
                why = describe_refusals(refused)
                why = f"every entry was refused: {why}" if why else "it holds no file"
                warn(f"{path} has no file to serve at {root.prefix}: {why}")
            self._numbers = {}  # what it interned stays shared; the table itself is not needed
            # The manifest's file facts were for the scan: keep what serving needs.
            root = root._replace(manifest=root.manifest.for_serving())
            self.roots.append(root)
            # Under the lock: add_files may be called on a running server
            # (Flask blueprints registered late), while refresh() iterates.
            with self._lock:
                for url, entry in entries:
                    # The first root that provides a URL keeps it, as with Django's finders.
                    if isinstance(entry, Vanished):
                        self._by_path_info.setdefault(path_info_of(url), entry)
                    elif url not in self.files:
                        self._set(url, entry)

    def _scan(self, root: Root, refused: Refused) -> Iterator[tuple[str, Entry | Vanished]]:
        # One directory at a time, as the walk lists it: the stat results of
        # a whole tree are never held at once. (Indexing directories on a
        # thread pool was measured slower: the per-file Python work holds
        # the GIL, and most files are too small for hashing to release it.)
        for directory in walk(root, self.config, refused=refused):
            yield from self._scan_directory(root, directory, refused)

    def _scan_directory(self, root: Root, directory: Directory, refused: Refused) -> list[tuple[str, Entry | Vanished]]:
        url_dir = root.prefix + directory.relative
        siblings = directory.siblings_to_skip()
        entries: list[tuple[str, Entry | Vanished]] = []
        for name, found in directory.files.items():
            if name in siblings:
                continue  # a precompressed sibling is served only through its original
            url = url_dir + name
            try:
                asset = self._build(root, url, found, directory.files.get, scanning=True)
            except OSError as error:  # out of descriptors at startup: skipped, as unreadable
                refused["unreadable"] += 1
                warn(f"{found.path} cannot be read ({error.strerror}); not served")
                continue
            if asset is not None:
                entries += self._keys_for(asset, url_dir, name)
            elif _changed_since(found):
                entries.append((url, Vanished(url)))  # caught mid-write: looked up again when asked for
            else:
                refused["unreadable"] += 1  # warned about where it was read (staticwrap.facts)
        return entries

    def _keys_for(self, asset: Asset, url_dir: str, name: str) -> Iterator[tuple[str, Entry]]:
        yield asset.url, asset
        if name == self.config.index_file:
            yield url_dir, asset
            if url_dir != "/":
                yield url_dir[:-1], Redirect(url_dir)

    def _build(
        self, root: Root, url: str, found: Found, sibling: SiblingLookup, *, scanning: bool = False
    ) -> Asset | None:
        name = os.path.basename(found.path)
        candidates: dict[str, Found] = {}
        for coding, suffix in codings.SIBLING_SUFFIXES:
            candidate = sibling(name + suffix)
            if coding in candidates or candidate is None or not stat.S_ISREG(candidate.stat.st_mode):
                continue
            if candidate.stat.st_size < found.stat.st_size:  # else sending it saves nothing
                candidates[coding] = candidate
        cached = self._built.get(url)
        if cached is not None and unchanged(cached, found, candidates) and _deltas_unchanged(cached, sibling):
            return cached
        relative = url[len(root.prefix) :]
        # A file the build described, still with the size and mtime it wrote,
        # is not read again: its hashes come from the manifest.
        record = trusted(root.manifest.outputs.get(relative), found.stat)
        digest: codings.Digest | None = None
        numbers = self._numbers if scanning else None
        hashes = self._hashes if scanning else None
        head: bytes | None = None  # the first bytes, to sniff the media type with
        if record is None or record.etag is None:
            if (digest := self._digest(found, hashes)) is None:
                return None
            tag = digest.tag
            head = digest.head or None  # empty for a cached digest (or an empty file): read if needed
        else:
            tag = record.etag
        files = {IDENTITY: file_facts(found, tag, numbers)}
        for coding in SERVER_ORDER:
            if coding not in candidates:
                continue
            candidate = candidates[coding]
            built = record.variants.get(coding) if record is not None else None
            if built is not None and trusted(record, candidate.stat, built.size) is not None:
                files[coding] = file_facts(candidate, built.etag, numbers)
                continue
            if digest is None and (digest := self._digest(found, hashes)) is None:
                return None
            known = hashes.decodes_to(candidate.stat, coding, digest.sha256) if hashes is not None else None
            if known is not None:  # checked at an earlier start, and unchanged since
                files[coding] = file_facts(candidate, codings.tag_of(known), numbers)
                continue
            check = codings.check_sibling(candidate.path, coding, digest, found.stat.st_size)
            if check.digest is None:
                warn(f"{candidate.path} is not served as the {coding} coding of {found.path}: {check.problem}")
                continue
            if hashes is not None:
                hashes.remember(candidate.stat, check.digest.sha256, coding, digest.sha256)
            files[coding] = file_facts(candidate, check.digest.tag, numbers)
        deltas: dict[bytes, FileFacts] = {}
        dictionary = None
        if self.config.dictionaries and relative in root.manifest.hashed_names and should_compress(name):
            dictionary = _use_as_dictionary(url, tag)
            if record is not None and record.dictionaries:
                deltas = self._deltas(root, name, record, found, sibling, numbers)
        test = self.config.immutable
        asset = build_asset(
            url,
            files,
            content_type=self._content_type(name, found, head),
            last_modified=last_modified(found.stat),
            immutable=test is not None and (relative in root.manifest.hashed_names or test(url, found.path)),
            config=self.config,
            shared=self._shared if scanning else None,
            deltas=deltas,
            dictionary=dictionary,
        )
        if self.config.autorefresh:
            self._remember(url, asset)
        return asset

    def _deltas(
        self,
        root: Root,
        name: str,
        record: FileRecord,
        found: Found,
        sibling: SiblingLookup,
        numbers: dict[int, int] | None,
    ) -> dict[bytes, FileFacts]:
        """The ``dcz`` files of a built output its manifest record lists (see :mod:`staticwrap.deltas`).

        One that still has the size and mtime the build gave it is trusted,
        as the other variants are; any other is decoded with its dictionary
        and compared with the output first.
        """
        deltas: dict[bytes, FileFacts] = {}
        for key, delta in record.dictionaries.items():
            candidate = sibling(delta_name(name, key))
            if candidate is None or not stat.S_ISREG(candidate.stat.st_mode):
                continue
            if trusted(record, candidate.stat, delta.size) is not None:
                deltas[bytes.fromhex(key)] = file_facts(candidate, delta.etag, numbers)
                continue
            problem = "its dictionary cannot be read"
            with contextlib.suppress(OSError):
                with open(os.path.join(root.path, delta.dictionary), "rb") as file:
                    dictionary = file.read()
                digest = hash_found(found, self._settling)
                if digest is None:
                    continue
                check = codings.check_delta(candidate.path, dictionary, digest, found.stat.st_size)
                if check.digest is not None:
                    deltas[bytes.fromhex(key)] = file_facts(candidate, check.digest.tag, numbers)
                    continue
                problem = str(check.problem)
            warn(f"{candidate.path} is not served as the {DCZ} delta of {found.path}: {problem}")
        return deltas

    def _remember(self, url: str, asset: Asset) -> None:
        """Keep the asset built for ``url``; sweep out those of files gone whenever the table doubles.

        Amortised, a stat per asset built: the table holds at most about
        twice as many entries as there are files (plus :data:`_MIN_SWEEP`),
        however many files were created and deleted since.
        """
        built = self._built
        built[url] = asset
        if len(built) <= self._sweep_at or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            for key, old in list(built.items()):
                if not _still_there(old):
                    built.pop(key, None)
            self._sweep_at = max(_MIN_SWEEP, 2 * len(built))
        finally:
            self._sweep_lock.release()

    def _digest(self, found: Found, hashes: RootHashes | None) -> codings.Digest | None:
        """The digest of a found file: from the hash cache (with no head) if it has it, else read."""
        if hashes is not None:
            sha256 = hashes.sha256(found.stat)
            if sha256 is not None:
                return codings.Digest(sha256, b"")
        digest = hash_found(found, self._settling)
        if digest is not None and hashes is not None:
            hashes.remember(found.stat, digest.sha256)
        return digest

    def _content_type(self, name: str, found: Found, head: bytes | None) -> str:
        """The Content-Type of a file: by its name, else sniffed from ``head`` (read now if ``None``)."""
        media_type = lookup_media_type(name, self._media_types)
        if media_type is not None:
            return with_charset(media_type, self.config.charset)
        if head is None:
            head = read_head(found)
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
        """The entry for a decoded URL path, or ``None`` to pass the request on.

        :raises OSError: in autorefresh mode, for a transient failure of the
            file system (out of file descriptors, an I/O error).
        """
        if self.config.autorefresh:
            return self._lookup_on_disk(url)
        return self.files.get(url)

    def refresh(self, asset: Asset) -> Entry | Unavailable | None:
        """Re-read an asset whose file changed on disk since it was indexed.

        Called when a file opened for a response does not match the index. The
        new entry replaces the old under every key; a vanished file's keys
        become :class:`Vanished`. :class:`~staticwrap.body.Unavailable` when
        the disk could not be read for a transient reason: the index is left
        as it is.
        """
        with self._lock:
            current = self.files.get(asset.url)
            if current is not asset:
                return current  # another request refreshed it meanwhile
            # Looked up over all roots in order, the precedence of the scan.
            try:
                entry = self._lookup_on_disk(asset.url)
            except OSError as error:
                return Unavailable(asset.url, error)
            if entry is None and is_regular_file(asset.identity.file.path):
                # A regular file is still there, but could not be read now
                # (permissions, or changing while it was read): a passing
                # failure must not drop it from the index.
                return asset
            for key in [key for key, value in self.files.items() if value is asset]:
                if entry is None:
                    del self.files[key]
                    self._by_path_info[path_info_of(key)] = Vanished(key)
                else:
                    self._set(key, entry)
            return entry

    def recover(self, vanished: Vanished) -> Entry | Unavailable | None:
        """Look a :class:`Vanished` URL up on disk again; put it back in the index if its file is back."""
        url = vanished.url
        with self._lock:
            if self._by_path_info.get(path_info_of(url)) is not vanished:
                return self.files.get(url)  # another request recovered it meanwhile
            try:
                entry = self._lookup_on_disk(url)
            except OSError as error:
                return Unavailable(url, error)
            if entry is not None:
                self._set(url, entry)
            return entry

    def _set(self, url: str, entry: Entry) -> None:
        self.files[url] = entry
        self._by_path_info[path_info_of(url)] = entry

    def _walker(self, root: Root) -> Walker | None:
        """A walker of ``root`` for one lookup; ``None`` while the root itself is gone (a link re-pointed).

        :raises OSError: for a transient failure (see :func:`~staticwrap.tree.is_transient`).
        """
        try:
            return Walker(root, self.config)
        except OSError as error:
            if is_transient(error):
                raise
            return None

    def _lookup_on_disk(self, url: str) -> Entry | None:
        index_file = self.config.index_file
        for root in self.roots:
            bare_prefix = url + "/" == root.prefix and root.prefix != "/"
            if not bare_prefix and not url.startswith(root.prefix):
                continue
            walker = self._walker(root)
            if walker is None:
                continue
            with walker:
                if bare_prefix:
                    if index_file is not None and self._regular(walker, walker.top, index_file):
                        return Redirect(root.prefix)
                    continue
                entry = self._resolve(walker, url[len(root.prefix) :].split("/"), root.prefix)
            if entry is not None:
                return entry
        if self.config.autorefresh:
            self._built.pop(url, None)
        return None

    def _resolve(self, walker: Walker, segments: list[str], url_dir: str) -> Entry | None:
        """Walk ``segments`` down from the root, each one a name found in a listing (see :class:`Walker`)."""
        place = walker.top
        # The directories walked through, as (device, inode): a symlink back
        # to one of them is a loop, which the startup scan skips too.
        top = os.fstat(place.fd)
        walked = {(top.st_dev, top.st_ino)}
        index_file = self.config.index_file
        for position, segment in enumerate(segments):
            last = position == len(segments) - 1
            if last and segment == "":
                # A URL ending in "/": the directory's index file, if any.
                if index_file is None:
                    return None
                segment = index_file
            found = walker.entry(place, segment)
            if found is None:
                return None
            if stat.S_ISDIR(found.stat.st_mode):
                key = (found.stat.st_dev, found.stat.st_ino)
                if key in walked:
                    return None
                walked.add(key)
                inner = walker.enter(found)
                if inner is None:
                    return None
                walker.close(place)
                place = inner
                if last:
                    has_index = index_file is not None and self._regular(walker, place, index_file)
                    return Redirect(url_dir + segment + "/") if has_index else None
                url_dir += segment + "/"
                continue
            if not last:
                return None
            return self._file_on_disk(walker, place, segment, found, url_dir)
        return None

    def _file_on_disk(self, walker: Walker, place: Place, name: str, found: Found, url_dir: str) -> Asset | None:
        """The asset of the entry ``name`` of ``place``, if it is a file the index would serve."""
        if not stat.S_ISREG(found.stat.st_mode):
            return None
        original = original_name(name)
        if original != name and self._regular(walker, place, original):
            return None  # a precompressed sibling is never served on its own URL (as in _scan)
        return self._build(walker.root, url_dir + name, found, functools.partial(walker.entry, place))

    def directory_on_disk(self, url: str) -> list[tuple[str, Asset | None]] | None:
        """Autorefresh: what would be served right under the directory URL ``url`` (ending in ``/``).

        Each file as its asset, and each subdirectory that holds a file that
        would be served as ``None``, in name order; ``None`` when no root has
        such a directory. Found by the policy walk of a lookup: each name is
        one a listing returned, never a path joined.

        :raises OSError: for a transient failure of the file system.
        """
        for root in self.roots:
            if not url.startswith(root.prefix):
                continue
            walker = self._walker(root)
            if walker is None:
                continue
            with walker:
                place: Place | None = walker.top
                for segment in url[len(root.prefix) : -1].split("/") if url != root.prefix else []:
                    found = walker.entry(place, segment) if place is not None else None
                    place = walker.enter(found) if found is not None and stat.S_ISDIR(found.stat.st_mode) else None
                if place is None:
                    continue
                items: list[tuple[str, Asset | None]] = []
                for name in sorted(place.names):
                    found = walker.entry(place, name)
                    if found is None:
                        continue
                    if stat.S_ISDIR(found.stat.st_mode):
                        if self._holds_files(walker, found, set()):
                            items.append((name, None))
                    elif (asset := self._file_on_disk(walker, place, name, found, url)) is not None:
                        items.append((name, asset))
                return items
        return None

    def _holds_files(self, walker: Walker, directory: Found, walked: set[tuple[int, int]]) -> bool:
        """Whether a regular file the policy admits lies under ``directory`` (depth first, each directory once)."""
        key = (directory.stat.st_dev, directory.stat.st_ino)
        if key in walked:
            return False  # a symlink loop
        walked.add(key)
        place = walker.enter(directory)
        if place is None:
            return False
        try:
            below = [found for name in sorted(place.names) if (found := walker.entry(place, name)) is not None]
            if any(stat.S_ISREG(found.stat.st_mode) for found in below):
                return True
            return any(self._holds_files(walker, found, walked) for found in below if stat.S_ISDIR(found.stat.st_mode))
        finally:
            walker.close(place)

    def _regular(self, walker: Walker, place: Place, name: str) -> bool:
        found = walker.entry(place, name)
        return found is not None and stat.S_ISREG(found.stat.st_mode)


#: The fewest assets the autorefresh table holds before it is first swept.
_MIN_SWEEP = 1024


def _use_as_dictionary(url: str, tag: str) -> str | None:
    """The Use-As-Dictionary value of a content-hashed file: every other version of it matches."""
    # The name holds the first hex digits of the SHA-256 that the tag (base64url) holds.
    sha256_start = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4)).hex()
    pattern = match_pattern(url, sha256_start[:HASH_LENGTH])
    return None if pattern is None else format_use_as_dictionary(pattern)


def _deltas_unchanged(asset: Asset, sibling: SiblingLookup) -> bool:
    """Whether every ``dcz`` file of ``asset`` is still on disk as indexed (a stat each).

    Autorefresh reuses an asset only then: one whose delta changed would be
    found stale by every request, and never built again.
    """
    for delta in asset.deltas.values():
        candidate = sibling(os.path.basename(delta.file.path))
        if candidate is None or not delta.file.matches(candidate.stat):
            return False
    return True


def _still_there(asset: Asset) -> bool:
    """Whether the identity file of ``asset`` is still on disk as it was built (a stat)."""
    try:
        return asset.identity.file.matches(os.stat(asset.identity.file.path))
    except OSError:
        return False


def _changed_since(found: Found) -> bool:
    """Whether a found file is no longer as the walk found it (a stat)."""
    try:
        return not same_file(os.stat(found.path), found.stat)
    except OSError:
        return True
