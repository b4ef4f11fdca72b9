"""Small files kept in memory, so that a hit costs no open, read or close.

A variant's bytes are read on its first request (not at startup: only what is
asked for is kept, and starting up stays fast), checked against the SHA-256
its ETag was made from, and stored on the :class:`~staticwrap.asset.Variant`
itself, where the middleware's fast path finds them. Nothing but the checked
bytes is ever cached, so a cached body can never disagree with its ETag or
Content-Length (rule 35), whatever happens on disk while it is read.

A file that changes on disk afterwards must not go on being served from
memory: the directories on the file's path (see :func:`path_keys`) and the
file itself are watched (:mod:`staticwrap.watch`), and an event naming any
entry on the way, or the file's own inode, drops the body. A coded variant
(``app.js.br``) depends on its original (``app.js``) as well: it was checked
against that file's bytes, and is not served once the original is replaced,
edited or gone. Events are delivered before a cached body is used (one
``epoll_wait``, :meth:`BodyCache.fresh` and the middleware's fast path), so
the first request after the change reads the disk again, finds the file
changed and re-indexes it. A variant is registered for its events *before*
it is read (and its original checked), so a change that lands while it is
being read keeps it out of the cache. Where files cannot be watched, nothing
is cached.

The cache holds at most ``budget`` bytes per process, counting with each body
an estimate of its bookkeeping (:data:`ENTRY_COST`, :data:`KEY_COST`), so
that many tiny files cannot make it grow past the budget; each body is at
most ``max_file`` bytes. It is filled first come, first served, and stops
taking new bodies while the watcher holds its limit of watches. Watches no
cached body needs any more are given back.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import NamedTuple

from .asset import FileFacts, Variant
from .body import Stale, Unusable, check_fresh, open_checked
from .codings import digest_bytes
from .config import Config
from .tree import Root
from .watch import WATCHER, Watcher

Key = tuple[str, str]
#: The name in a key ``(path, FILE)`` that stands for the watched file ``path`` itself.
FILE = ""

#: Bytes charged to the budget for each cached body besides its length, and
#: for each key it depends on besides the lengths of the key's two names: an
#: upper bound of what the bookkeeping takes (its records, the sets and dicts
#: that index them, and the watcher's share), measured with tracemalloc on
#: CPython 3.11 (test_the_cache_bookkeeping_is_counted_in_the_budget).
ENTRY_COST = 512
KEY_COST = 768


def path_keys(path: str, roots: Sequence[Root] = ()) -> set[Key] | None:
    """The (directory, name) pairs whose change could change what ``path`` opens.

    Each component of the path, and of its real path when symlinks lie on
    the way: replacing, moving or re-pointing any of them makes the path lead
    elsewhere. A chain stops at the served root's own entry in its parent
    (a root swapped for another is seen) unless symlinks lead to the root,
    in which case it goes up to ``/``: the directories above a plain root are
    left alone, as their churn (``/tmp``) would only cost polls.

    ``None`` when the path cannot be resolved now: a link on the way changed
    while it was read (``realpath`` found a link, then no link to read). The
    caller does not cache the file this time.
    """
    try:
        real = os.path.realpath(path)
    except OSError:
        return None
    keys: set[Key] = set()
    root = next((root for root in roots if path.startswith(os.path.join(root.path, ""))), None)
    stops: list[str | None] = [None, None]
    if root is not None and root.path == root.real_path:
        stops = [os.path.dirname(root.path), os.path.dirname(root.path)]
    if real != path and not (root is not None and real.startswith(os.path.join(root.real_path, ""))):
        stops[1] = None  # a symlink out of the root: its target's whole chain
    for candidate, stop in ((path, stops[0]), (real, stops[1])):
        directory, name = os.path.split(candidate)
        while name:
            keys.add((directory, name))
            if directory == stop:
                break
            directory, name = os.path.split(directory)
    return keys


def memory_cache(config: Config, roots: Sequence[Root] = (), watcher: Watcher = WATCHER) -> BodyCache | None:
    """The body cache the options ask for; ``None`` when every body is to be read from disk.

    Autorefresh (development) reads the disk on every request anyway, and
    without inotify a cached body could outlive its file.
    """
    if config.memory_budget == 0 or config.memory_max_file == 0 or config.autorefresh or not watcher.available:
        return None
    return BodyCache(config.memory_budget, config.memory_max_file, watcher, roots)


class _Entry(NamedTuple):
    """A variant registered for events: what it depends on, and what it is charged once its body is kept."""

    variant: Variant
    keys: tuple[Key, ...]
    cost: int


class BodyCache:
    """The bodies of one :class:`~staticwrap.StaticWrap`, within a byte budget."""

    def __init__(self, budget: int, max_file: int, watcher: Watcher = WATCHER, roots: Sequence[Root] = ()) -> None:
        self.budget = budget
        #: The roots served (see :func:`path_keys`); the index's own list, which grows with add_files.
        self.roots = roots
        self.max_file = max_file
        self._watcher = watcher
        #: Bytes charged for the bodies kept: their lengths and their bookkeeping.
        self.used = 0
        # Each registered variant by id; each watched path (a directory, or a
        # file under the name FILE) with, by name, the ids of the variants
        # that depend on it. A path is in _dependents exactly while this cache
        # holds a watch on it. Both are guarded by the watcher's lock, which
        # event deliveries hold when they call changed().
        self._entries: dict[int, _Entry] = {}
        self._dependents: dict[str, dict[str, set[int]]] = {}
        # A cache dropped with its StaticWrap gives its watches back.
        weakref.finalize(self, _release_all, watcher, self._dependents)
        _CACHES.add(self)

    def load(self, variant: Variant, original: FileFacts | None = None) -> bytes | Unusable | None:
        """The body of ``variant``, read from disk and kept when the budget allows.

        ``original`` is the identity file a coded variant was checked
        against: the variant is served only while that file is still the one
        indexed. ``None`` when the file is not to be kept (too large, budget
        or watches spent, not watchable, or being loaded by another thread):
        the caller serves it from disk as usual. A :class:`~staticwrap.body.Stale` when the file, or its
        original, is not the one indexed (its bytes not those hashed
        included), :class:`~staticwrap.body.Unavailable` when it cannot
        be opened now. The bytes returned are
        always the indexed ones, checked against the hash.
        """
        facts = variant.file
        size = facts.size
        # The least it could be charged (its file's two keys) first: no
        # system call for a file that cannot fit.
        least = size + ENTRY_COST + 2 * (KEY_COST + len(facts.path))
        if size > self.max_file or self.used + least > self.budget or not variant.cacheable or self._watcher.full:
            return None
        keys = _keys(facts, original, self.roots)
        if keys is None:
            return None  # a link on the path changed meanwhile: from disk this time
        cost = size + ENTRY_COST + sum(KEY_COST + len(path) + len(name) for path, name in keys)
        if self.used + cost > self.budget:
            return None
        # Deliver the news already queued first: it is older than this read,
        # and would only make the registration below look overtaken.
        self._watcher.sync()
        registered = self._register(variant, keys, cost)
        if registered is None:
            if not self._watcher.full:
                variant.cacheable = False  # refused by the kernel: every later request would fail the same way
            return None
        if registered is False:
            # Another thread is loading this body. Its bytes are read and
            # checked here too, not kept: the body may have been dropped by
            # an edit in place that kept the size and mtime, which only the
            # watch told and a stat would not see.
            return _read_checked(facts, original)
        # Checked once its events are heard: a change before this is seen here, one after by the watch.
        data = _read_checked(facts, original)
        if isinstance(data, Unusable):
            self._unregister(id(variant))
            if data is Stale.CHANGED:
                variant.cacheable = False
            return data
        self._watcher.sync()  # deliver the events of changes made while it was read
        with self._watcher.lock:
            # Still registered: no event touched its path since before it was
            # read. And, with every event so far delivered, the file is still
            # the one indexed (one stat per body kept): under threads, a
            # replacement's events can be delivered to another registration
            # of this variant, or before this one was made; from here on, a
            # change is heard by the watches this entry holds.
            entry = self._entries.get(id(variant))
            if entry is not None and self.used + entry.cost <= self.budget and check_fresh(facts) is None:
                variant.body = data
                self.used += entry.cost
                return data
        self._unregister(id(variant))
        return data

    def fresh(self, variant: Variant) -> bytes | None:
        """The cached body of ``variant``, after delivering any change on disk that is pending or being delivered."""
        if variant.body is not None:
            watcher = self._watcher
            # syncing: another thread has read events that it has not yet
            # delivered; sync() waits for it (the watcher's lock).
            if watcher.pending() or watcher.syncing:
                watcher.sync()
        return variant.body

    def _register(self, variant: Variant, keys: tuple[Key, ...], cost: int) -> bool | None:
        """Register ``variant`` for the events of ``keys``: ``False`` if it is already, ``None`` if a watch failed."""
        variant_id = id(variant)
        with self._watcher.lock:
            if variant_id in self._entries or variant.body is not None:
                return False
            self._entries[variant_id] = _Entry(variant, keys, cost)
            for key in keys:
                if not self._depend(key, variant_id):
                    self._drop(variant_id)
                    return None
        return True

    def _depend(self, key: Key, variant_id: int) -> bool:
        # Under the lock.
        path, name = key
        names = self._dependents.get(path)
        if names is None:
            if not self._watcher.watch(path, self, file=name == FILE):
                return False
            names = self._dependents[path] = {}
        names.setdefault(name, set()).add(variant_id)
        return True

    def _unregister(self, variant_id: int) -> None:
        with self._watcher.lock:
            self._drop(variant_id)

    def _drop(self, variant_id: int) -> None:
        # Under the lock.
        entry = self._entries.pop(variant_id, None)
        if entry is None:
            return
        for path, name in entry.keys:
            names = self._dependents.get(path)
            if names is None:
                continue
            dependents = names.get(name)
            if dependents is not None:
                dependents.discard(variant_id)
                if not dependents:
                    del names[name]
            if not names:
                del self._dependents[path]
                self._watcher.release(path)
        if entry.variant.body is not None:
            self.used -= entry.cost
            entry.variant.body = None

    def changed(self, directory: str | None, name: str | None) -> None:
        """Drop the bodies that depend on ``name`` in ``directory`` (called by the watcher)."""
        with self._watcher.lock:
            if directory is None:
                doomed = list(self._entries)
            else:
                names = self._dependents.get(directory)
                if names is None:
                    return  # a path of another cache
                if name is None:
                    doomed = [variant_id for ids in names.values() for variant_id in ids]
                else:
                    doomed = list(names.get(name, ()))
            for variant_id in doomed:
                self._drop(variant_id)

    def clear(self) -> None:
        """Drop every body (in a child process after ``fork()``, whose watches are gone)."""
        for entry in self._entries.values():
            entry.variant.body = None
        self._entries.clear()
        self._dependents.clear()
        self.used = 0


def _read_checked(facts: FileFacts, original: FileFacts | None) -> bytes | Unusable:
    """The file's bytes, if it and its original are still the ones indexed and the bytes are those hashed."""
    stale = check_fresh(original) if original is not None else None
    opened = open_checked(facts) if stale is None else stale
    if isinstance(opened, Unusable):
        return opened
    with opened:
        data = opened.read()
    if len(data) != facts.size or digest_bytes(data).tag != facts.digest:
        # Not the bytes the ETag was made from: a file rewritten in place
        # with its size, inode and mtime kept (a stat cannot tell; its watch
        # told), or a manifest whose etag is not the documented hash. Never
        # cached: the file is re-indexed (Stale), which hashes it anew
        # (index.refresh), so the bytes get the ETag that is theirs.
        return Stale.CHANGED
    return data


def _keys(facts: FileFacts, original: FileFacts | None, roots: Sequence[Root]) -> tuple[Key, ...] | None:
    """What a variant depends on: the names on the paths of its file and original, and both files themselves."""
    keys: set[Key] = set()
    for path in (facts.path,) if original is None else (facts.path, original.path):
        found = path_keys(path, roots)
        if found is None:
            return None
        keys |= found
        keys.add((path, FILE))
    return tuple(keys)


def _release_all(watcher: Watcher, dependents: dict[str, dict[str, set[int]]]) -> None:
    with watcher.lock:
        for path in list(dependents):
            watcher.release(path)
        dependents.clear()


_CACHES: weakref.WeakSet[BodyCache] = weakref.WeakSet()


def _after_fork() -> None:
    for cache in list(_CACHES):
        cache.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork)
