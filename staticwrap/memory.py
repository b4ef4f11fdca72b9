"""Small files kept in memory, so that a hit costs no open, read or close.

A variant's bytes are read on its first request (not at startup: only what is
asked for is kept, and starting up stays fast), checked against the SHA-256
its ETag was made from, and stored on the :class:`~staticwrap.asset.Variant`
itself, where the middleware's fast path finds them. Nothing but the checked
bytes is ever cached, so a cached body can never disagree with its ETag or
Content-Length (rule 35), whatever happens on disk while it is read.

A file that changes on disk afterwards must not go on being served from
memory: the directories on the file's path (see :func:`path_keys`) are
watched (:mod:`staticwrap.watch`), and an event naming any entry on the way
drops the body. Events are delivered before a cached body is used (one
``epoll_wait``, :meth:`BodyCache.fresh` and the middleware's fast path), so
the first request after the change reads the disk again, finds the file
changed and re-indexes it. A variant is registered
for its events *before* it is read, so a change that lands while it is being
read keeps it out of the cache. Where files cannot be watched, nothing is
cached.

The cache holds at most ``budget`` bytes of bodies, each at most
``max_file`` bytes, per process; it is filled first come, first served.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence

from .asset import Variant
from .body import Stale, open_checked
from .codings import digest_bytes
from .config import Config
from .tree import Root
from .watch import WATCHER, Watcher

Key = tuple[str, str]


def path_keys(path: str, roots: Sequence[Root] = ()) -> set[Key]:
    """The (directory, name) pairs whose change could change what ``path`` opens.

    Each component of the path, and of its real path when symlinks lie on
    the way: replacing, moving or re-pointing any of them makes the path lead
    elsewhere. A chain stops at the served root's own entry in its parent
    (a root swapped for another is seen) unless symlinks lead to the root,
    in which case it goes up to ``/``: the directories above a plain root are
    left alone, as their churn (``/tmp``) would only cost polls.
    """
    keys: set[Key] = set()
    real = os.path.realpath(path)
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


class BodyCache:
    """The bodies of one :class:`~staticwrap.StaticWrap`, within a byte budget."""

    def __init__(self, budget: int, max_file: int, watcher: Watcher = WATCHER, roots: Sequence[Root] = ()) -> None:
        self.budget = budget
        #: The roots served (see :func:`path_keys`); the index's own list, which grows with add_files.
        self.roots = roots
        self.max_file = max_file
        self._watcher = watcher
        self._lock = threading.Lock()
        self.used = 0
        # Each registered variant by id, with the keys it depends on; each
        # key with the ids of the variants that depend on it.
        self._registered: dict[int, tuple[Variant, set[Key]]] = {}
        self._dependents: dict[Key, set[int]] = {}
        _CACHES.add(self)

    def load(self, variant: Variant) -> bytes | Stale | None:
        """The body of ``variant``, read from disk and kept when the budget allows.

        ``None`` when the file is not to be kept (too large, budget spent, not
        watchable, being loaded by another thread, or not matching its hash):
        the caller serves it from disk as usual. A :class:`~staticwrap.body.Stale` when the file is
        not the one indexed (or cannot be opened now). The bytes returned are
        always the indexed ones, checked against the hash.
        """
        facts = variant.file
        size = facts.size
        if size > self.max_file or self.used + size > self.budget or not variant.cacheable:
            return None
        keys = path_keys(facts.path, self.roots)
        # Deliver the news already queued first: it is older than this read,
        # and would only make the registration below look overtaken.
        self._watcher.sync()
        if not self._watch(keys):
            variant.cacheable = False  # out of watches: every later request would fail the same way
            return None
        if not self._register(variant, keys):
            return None
        opened = open_checked(facts)
        if isinstance(opened, Stale):
            self._unregister(id(variant))
            return opened
        with opened:
            data = opened.read()
        if len(data) != size or digest_bytes(data).tag != facts.digest:
            # Not the bytes the ETag was made from: a manifest whose etag is
            # not the documented hash, or a file rewritten in place with its
            # size and mtime kept. Such a body is never cached (nor read
            # again to try): it is served from disk as if there were no cache.
            self._unregister(id(variant))
            variant.cacheable = False
            return None
        self._watcher.sync()  # deliver the events of changes made while it was read
        with self._lock:
            # Still registered: no event touched its path since before it was read.
            if id(variant) in self._registered and self.used + size <= self.budget:
                variant.body = data
                self.used += size
                return data
        self._unregister(id(variant))
        return data

    def fresh(self, variant: Variant) -> bytes | None:
        """The cached body of ``variant``, after delivering any pending change on disk."""
        if variant.body is not None and self._watcher.pending(0):
            self._watcher.sync()
        return variant.body

    def _watch(self, keys: set[Key]) -> bool:
        return all(self._watcher.watch(directory, self) for directory in {directory for directory, _ in keys})

    def _register(self, variant: Variant, keys: set[Key]) -> bool:
        with self._lock:
            if id(variant) in self._registered or variant.body is not None:
                return False
            self._registered[id(variant)] = (variant, keys)
            for key in keys:
                self._dependents.setdefault(key, set()).add(id(variant))
        return True

    def _unregister(self, variant_id: int) -> None:
        with self._lock:
            self._drop(variant_id)

    def _drop(self, variant_id: int) -> None:
        # Under the lock.
        registered = self._registered.pop(variant_id, None)
        if registered is None:
            return
        variant, keys = registered
        for key in keys:
            dependents = self._dependents.get(key)
            if dependents is not None:
                dependents.discard(variant_id)
                if not dependents:
                    del self._dependents[key]
        if variant.body is not None:
            self.used -= len(variant.body)
            variant.body = None

    def changed(self, directory: str | None, name: str | None) -> None:
        """Drop the bodies that depend on ``name`` in ``directory`` (called by the watcher)."""
        with self._lock:
            if directory is None:
                doomed = list(self._registered)
            elif name is None:
                doomed = [vid for (d, _), ids in self._dependents.items() if d == directory for vid in ids]
            else:
                doomed = list(self._dependents.get((directory, name), ()))
            for variant_id in doomed:
                self._drop(variant_id)

    def clear(self) -> None:
        """Drop every body (in a child process after ``fork()``, whose watches are gone)."""
        self._lock = threading.Lock()
        for variant, _ in self._registered.values():
            variant.body = None
        self._registered.clear()
        self._dependents.clear()
        self.used = 0


_CACHES: weakref.WeakSet[BodyCache] = weakref.WeakSet()


def _after_fork() -> None:
    for cache in list(_CACHES):
        cache.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork)
