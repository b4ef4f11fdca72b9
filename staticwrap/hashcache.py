"""The ``hash_cache`` option: content hashes kept on disk between starts, keyed by each file's identity.

Indexing a source tree reads every file whole (its ETag is a hash of its
bytes) and decodes every precompressed sibling (it is served only if it
decodes to its original's bytes). A restart, or a worker process started
later, would do all of that again for files that have not changed. With
``hash_cache`` set, the scan first looks each file up here by its identity
and reads only the files it does not find.

The identity is ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``.
The mtime alone is not enough: any program may set it with utime(2)
(``touch -d``, ``rsync -t``, ``tar`` and ``git`` restore old ones), so a file
rewritten with its old size and mtime put back would keep its entry. The
ctime is set by the kernel to the current time on every change of a file's
bytes or metadata (utime(2) included) and no system call sets it to a chosen
value: an inode whose ctime is unchanged has not been changed.

Two limits of timestamps are closed by the scan:

* A timestamp is coarse (a clock tick; a second or two on some file
  systems): a file changed twice within one tick, keeping its size, keeps
  its ctime. So a file is cached only if its ctime is at least
  :data:`RACY_MARGIN_NS` older than the moment its scan began: any later
  change gives it a ctime at least that recent, hence a new identity. (Git
  calls such entries "racily clean" and solves it the same way.) A file
  changed just before a start is hashed again at the next one.
* The entry is recorded under the identity the walk saw; if the file
  changed between the walk and its reading, the bytes hashed belong to a
  newer ctime, and the entry recorded is one no stat can match again.

Both assume a clock that does not step back by more than the margin.

The cache is a hint, never trusted over the file system: a file that is not
in it, or whose identity differs, is read. The cache file itself is used
only if it is a regular file owned by the process's user and writable by no
one else (anyone who could write it could choose the ETags served), and
only if it parses completely as this module writes it; otherwise it is
ignored with a warning, and rewritten. It is written through a temporary
file renamed into place, so processes that start at once (the workers of a
server) each read a whole file, and the last writer's whole file wins. A
read-only location means the cache is read (if present) and not updated.
"""

from __future__ import annotations

import array
import bisect
import os
import stat
import struct
import time
from collections.abc import Mapping

from .atomic import write_atomic
from .errors import warn

#: The format written; a file of another version is ignored (and rewritten).
VERSION = 1
#: A file whose ctime is not at least this much older than the scan's start
#: is not cached (see the module's documentation). Two seconds: the coarsest
#: timestamps in use (FAT's mtime) and any clock tick are finer.
RACY_MARGIN_NS = 2_000_000_000
#: The roots whose hashes the file keeps; the least recently scanned are dropped beyond it.
MAX_ROOTS = 64
#: A cache file larger than this is not read.
MAX_BYTES = 256 * 1024 * 1024


def identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """The key of a file in the cache (see the module's documentation)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class RootHashes:
    """The hashes of one root during its scan: those read from the cache, and those to write back.

    The records read stay as the file holds them, in one ``bytes``, found by
    inode number (two files of a root on two devices may share one: only one
    is kept). So the memory they take is freed whole after the scan, not
    left as small objects scattered among the index's.
    """

    def __init__(self, cache: HashCache, root: str, records: memoryview) -> None:
        self._cache = cache
        self._root = root
        self._records = records
        # The records are sorted by inode (see save): found by bisection. (In a
        # file not sorted so, lookups miss: a file is then read, never misread.)
        self._inodes = array.array("Q", (ino for (ino,) in _INODE.iter_unpack(records)))
        self._used = bytearray(len(self._inodes))  # 1 for each record this scan found
        # Records this scan made, by inode.
        self._new: dict[int, bytes] = {}
        self._started = time.time_ns()

    def _find(self, st: os.stat_result) -> tuple[bytes, str, bytes] | None:
        index = bisect.bisect_left(self._inodes, st.st_ino)
        if index == len(self._inodes) or self._inodes[index] != st.st_ino:
            return None
        dev, ino, size, mtime, ctime, sha256, coding, decodes_to = _RECORD.unpack_from(
            self._records, index * _RECORD.size
        )
        if (dev, ino, size, mtime, ctime) != identity(st):
            return None
        self._used[index] = 1
        return sha256, _CODINGS[coding], decodes_to

    def sha256(self, st: os.stat_result) -> bytes | None:
        """The cached SHA-256 of the file ``st`` describes, if it has not changed since it was cached."""
        found = self._find(st)
        return None if found is None else found[0]

    def decodes_to(self, st: os.stat_result, coding: str, original: bytes) -> bytes | None:
        """The cached SHA-256 of a sibling that was checked to decode (as ``coding``) to ``original``."""
        found = self._find(st)
        return None if found is None or found[1:] != (coding, original) else found[0]

    def remember(self, st: os.stat_result, sha256: bytes, coding: str = "", decodes_to: bytes = bytes(32)) -> None:
        """Cache what was read of a file, if its ctime is old enough (see :data:`RACY_MARGIN_NS`)."""
        if st.st_ctime_ns < self._started - RACY_MARGIN_NS:
            self._new[st.st_ino] = _RECORD.pack(*identity(st), sha256, _CODINGS.index(coding), decodes_to)

    def save(self) -> None:
        """Write the root's records back: those this scan found or made, unless the file holds just those."""
        size = _RECORD.size
        kept = {
            ino: bytes(self._records[index * size : (index + 1) * size])
            for index, ino in enumerate(self._inodes)
            if self._used[index] and ino not in self._new
        }
        if self._new or len(kept) * size != len(self._records):
            records = {**kept, **self._new}
            self._cache.save(self._root, b"".join(records[ino] for ino in sorted(records)))


class HashCache:
    """The cache file named by the ``hash_cache`` option (its format: :func:`_serialize`)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def for_root(self, root: str) -> RootHashes:
        """The cached hashes of the files under ``root`` (its real path), to use and update during its scan."""
        return RootHashes(self, root, self._load().get(root, memoryview(b"")))

    def save(self, root: str, records: bytes | memoryview) -> None:
        """Replace the records of ``root`` in the file, keeping those of the other roots."""
        roots: dict[str, bytes | memoryview] = {**self._load(quiet=True)}
        roots.pop(root, None)
        roots[root] = records  # last: the most recently scanned root
        while len(roots) > MAX_ROOTS:
            del roots[next(iter(roots))]
        try:
            os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
            write_atomic(self.path, _serialize(roots), mode=0o600)
        except OSError as error:
            warn(
                f"the hash cache {self.path} cannot be written ({error.strerror}); the next start hashes every "
                "file again: make its directory writable by this user, or set hash_cache=None"
            )

    def _load(self, *, quiet: bool = False) -> dict[str, memoryview]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError):
            return {}  # none yet (save() says if it cannot make one)
        except OSError as error:
            return self._ignored(f"it cannot be read ({error.strerror})", quiet)
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return self._ignored("it is not a regular file", quiet)
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                # Whoever can write it chooses the ETags (and the siblings) served.
                return self._ignored(
                    "it is owned by another user or writable by others (chmod go-w, or remove it)", quiet
                )
            if st.st_size > MAX_BYTES:
                return self._ignored("it is too large", quiet)
            data = file.read(MAX_BYTES + 1)
        try:
            return _parse(data)
        except (ValueError, struct.error, UnicodeError):
            return self._ignored("it is not a hash cache this version of staticwrap wrote", quiet)

    def _ignored(self, why: str, quiet: bool) -> dict[str, memoryview]:
        if not quiet:
            warn(f"the hash cache {self.path} is ignored: {why}; every file is hashed, and the cache rewritten")
        return {}


# The file: MAGIC, then for each root its path's length and UTF-8 bytes
# (_COUNT) and its number of records (_COUNT), then the records. A record
# (_RECORD) is a file's identity, the SHA-256 of its bytes, the coding it was
# checked to decode as (an index into _CODINGS; 0 for none) and the SHA-256
# of what it decodes to (zeros for none). Records are kept as read, and
# unpacked one at a time when a file is looked up.
MAGIC = b"staticwrap-hash-cache\x00" + bytes([VERSION])
_COUNT = struct.Struct("<I")
_RECORD = struct.Struct("<QQqqq32sB32s")
_INODE = struct.Struct("<8xQ" + f"{_RECORD.size - 16}x")
_CODINGS = ("", "br", "zstd", "gzip")


def _serialize(roots: Mapping[str, bytes | memoryview]) -> bytes:
    parts = [MAGIC]
    for root, records in roots.items():
        name = root.encode("utf-8", "surrogateescape")
        parts += [_COUNT.pack(len(name)), name, _COUNT.pack(len(records) // _RECORD.size), bytes(records)]
    return b"".join(parts)


def _parse(data: bytes) -> dict[str, memoryview]:
    """The records of each root in a cache file; raises ValueError or struct.error for anything
    :func:`_serialize` did not write."""
    if not data.startswith(MAGIC):
        raise ValueError("not a hash cache of this version")
    roots: dict[str, memoryview] = {}
    view = memoryview(data)
    offset = len(MAGIC)
    while offset < len(data):
        (length,) = _COUNT.unpack_from(data, offset)
        offset += _COUNT.size
        root = data[offset : offset + length].decode("utf-8", "surrogateescape")
        offset += length
        (count,) = _COUNT.unpack_from(data, offset)
        offset += _COUNT.size
        end = offset + count * _RECORD.size
        if end > len(data):
            raise ValueError("cut short")
        records = view[offset:end]  # not a copy: the file's bytes are one block, freed whole
        # Every coding index must name a coding: checked here, once, so a lookup cannot fail.
        if any(coding >= len(_CODINGS) for (coding,) in _CODING.iter_unpack(records)):
            raise ValueError("an unknown coding")
        roots[root] = records
        offset = end
    return roots


_CODING = struct.Struct(f"<{_RECORD.size - 33}xB32x")
