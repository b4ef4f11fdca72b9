"""What is read of the files the walk found: their facts, their hashes, read only if still the file found.

The walk (:mod:`staticwrap.tree`) records each file's facts from directory
descriptors it checked; whatever opens the file later by its path compares
the descriptor with those facts first, so the bytes hashed are the bytes of
the file found. A file that changes faster than it can be hashed costs one
hash, not one per request (:class:`Settling`).
"""

from __future__ import annotations

import io
import os
import threading
import time
from typing import BinaryIO

from . import codings
from .asset import Asset, FileFacts
from .errors import warn
from .manifest import FileRecord
from .tree import Found, is_transient


def unchanged(asset: Asset, found: Found, candidates: dict[str, Found]) -> bool:
    if set(asset.coded) != set(candidates) or not asset.identity.file.matches(found.stat):
        return False
    return all(variant.file.matches(candidates[coding].stat) for coding, variant in asset.coded.items())


def file_facts(found: Found, tag: str, shared: dict[int, int] | None = None) -> FileFacts:
    """The facts of a found file; ``shared`` interns the numbers many files have in common.

    A tree's files share one device, and often an mtime (a build or a
    checkout writes many in the same second): an index holds each once.
    """
    st = found.stat
    mtime, device = st.st_mtime_ns, st.st_dev
    if shared is not None:
        mtime, device = shared.setdefault(mtime, mtime), shared.setdefault(device, device)
    return FileFacts(found.path, st.st_size, mtime, st.st_ino, device, tag)


def same_file(st: os.stat_result, other: os.stat_result) -> bool:
    """Whether two stat results describe one file in one state (device, inode, size, mtime)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
        other.st_dev,
        other.st_ino,
        other.st_size,
        other.st_mtime_ns,
    )


def open_found(found: Found) -> BinaryIO | None:
    """Open a found file by its path, if the descriptor is still the file the walk found.

    The walk's facts come from descriptors of checked directories; the path
    may lead elsewhere by now (a directory on it swapped for a link), so
    what is read is checked with fstat(2) first. ``None`` for a file gone,
    changed or unreadable; a transient failure raises.
    """
    try:
        fd = os.open(found.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if is_transient(error):
            raise
        warn(f"{found.path} cannot be read ({error.strerror}); not served")
        return None
    file = io.FileIO(fd, "rb", closefd=True)
    if not same_file(os.fstat(fd), found.stat):
        file.close()
        return None
    return file


class Settling:
    """Files whose hashing a change overtook: not hashed again until they have been still for a while.

    A file written to faster than it can be hashed (a log being appended)
    would otherwise be hashed again, in full, on every request that finds it
    changed. Once a hash is overtaken, the file is hashed again only when
    lookups have seen it unchanged for at least as long as that hash took;
    until then a lookup costs a stat. So a file that keeps changing costs
    one hash, not one per request, and a file that has stopped changing is
    served again (by a lookup made that long after the last change). At
    most :attr:`LIMIT` files are remembered, the oldest forgotten first:
    forgetting one costs one more hash.
    """

    LIMIT = 256

    def __init__(self) -> None:
        # (device, inode) -> ((size, mtime) seen, since when (monotonic), stillness needed)
        self._seen: dict[tuple[int, int], tuple[tuple[int, int], float, float]] = {}
        self._lock = threading.Lock()

    def changing(self, st: os.stat_result) -> bool:
        """Whether a file overtaken before has not yet been still for long enough to hash it again."""
        key, state = (st.st_dev, st.st_ino), (st.st_size, st.st_mtime_ns)
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                return False
            if seen[0] != state:
                self._seen[key] = (state, now, seen[2])
                return True
            return now - seen[1] < seen[2]

    def overtaken(self, st: os.stat_result, took: float) -> None:
        """Remember a file that changed during a hash that took ``took`` seconds, as it was after."""
        with self._lock:
            if len(self._seen) >= self.LIMIT:
                del self._seen[next(iter(self._seen))]
            self._seen[st.st_dev, st.st_ino] = ((st.st_size, st.st_mtime_ns), time.monotonic(), took)

    def settled(self, st: os.stat_result) -> None:
        """Forget a file hashed whole."""
        with self._lock:
            self._seen.pop((st.st_dev, st.st_ino), None)


def hash_found(found: Found, settling: Settling) -> codings.Digest | None:
    """The digest of a found file's bytes, if they are the bytes of the file found, read whole.

    ``None`` for a file that cannot be read, or that changed since the walk
    or while it was read (see :class:`Settling`). A transient failure raises.
    """
    if settling.changing(found.stat):
        return None
    file = open_found(found)
    if file is None:
        return None
    started = time.monotonic()
    with file:
        try:
            digest = codings.hash_stream(file)
        except OSError as error:
            if is_transient(error):
                raise
            warn(f"{found.path} cannot be read ({error.strerror}); not served")
            return None
        after = os.fstat(file.fileno())
    if not same_file(after, found.stat):
        settling.overtaken(after, time.monotonic() - started)
        return None
    settling.settled(after)
    return digest


def read_head(found: Found) -> bytes:
    """The first bytes of a found file, for media type sniffing; empty if it is not the file found."""
    file = open_found(found)
    if file is None:
        return b""
    with file:
        return file.read(codings.SNIFF_SIZE)


def trusted(record: FileRecord | None, st: os.stat_result, size: int | None = None) -> FileRecord | None:
    """``record`` if the file still has the size and mtime the build gave it."""
    # The build sets whole-second mtimes: a file edited since has a different
    # mtime_ns (an edit landing on an exact second is the rare exception, and
    # needs the same size too).
    if record is None or record.mtime is None or st.st_mtime_ns != record.mtime * 1_000_000_000:
        return None
    return record if st.st_size == (record.size if size is None else size) else None


def last_modified(st: os.stat_result) -> int | None:
    # §8.8.2.1: never later than the Date of the response: clamp a future
    # mtime to now. An mtime of 0 is a placeholder (reproducible builds,
    # some archives), not a date; send no Last-Modified for it.
    mtime = int(st.st_mtime)
    if mtime <= 0:
        return None
    return min(mtime, int(time.time()))
