"""A process-wide watcher of files and directory entries, on Linux's inotify(7).

The body cache (:mod:`staticwrap.memory`) serves small files from memory
without opening them, so it learns of changes on disk from the kernel instead:
each directory on the path to a cached file is watched, and an event naming an
entry of it (the file itself, or a directory or symlink on its path being
created, replaced, moved, deleted, written or touched) reaches the listeners.
The cached file itself is watched too: a directory's watch sees only what is
done through its own names, and a write through a hard link in another
directory, or a link(2) made to the file, is reported on the file's inode
alone (``IN_MODIFY``/``IN_ATTRIB``; tests/test_security_cache.py checks it).

Events are delivered synchronously, by the request that needs them: before a
cached body is used, :attr:`Watcher.pending` (one ``epoll_wait(2)`` with no
timeout, which threads may make at once) says whether the kernel has queued
any, and :meth:`Watcher.sync` delivers them first. So the first request that starts after a change on disk
sees it, with no thread to wait for, at the price of one system call. Events
read from the kernel but not yet delivered are invisible to ``epoll``, so
:attr:`Watcher.syncing` is set, before the read, until they are delivered: a
request that finds nothing pending but a delivery under way waits for it.

Watches are held by count (:meth:`Watcher.watch`, :meth:`Watcher.release`)
and removed (``inotify_rm_watch(2)``) when nothing needs them any more. Their
number is bounded (:attr:`Watcher.limit`): the kernel's limit
(``fs.inotify.max_user_watches``) is per user, shared with every other
process, and each watch pins an inode in the kernel's memory.

One inotify instance serves every cache of the process: the kernel allows a
user few instances (``fs.inotify.max_user_instances``, 128 by default) but
many watches. Where inotify is missing (not Linux) or refused (no instance or
watch left), :meth:`Watcher.watch` says so and the caller keeps reading from
disk. A forked child (a Gunicorn worker of a ``--preload`` master) gets none
of its parent's watches: its state is reset at fork.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import threading
import weakref
from typing import Protocol

# inotify(7) event bits.
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000

#: Everything that can change what a name in the directory refers to, or the
#: bytes or metadata (size, mtime, link count) of the file it names. Reads
#: (IN_ACCESS, IN_OPEN, IN_CLOSE_NOWRITE) are left out: serving a file must
#: not wake the watcher.
DIRECTORY_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
#: On a file: its bytes or metadata changed (IN_ATTRIB covers a link made or
#: removed: the link count), through whichever name; or it was moved or freed.
FILE_MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF

#: The most watches a process holds, whatever the kernel allows.
MAX_WATCHES = 4096

_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name
_READ_SIZE = 64 * 1024


class Listener(Protocol):
    """What the watcher calls, under its lock, when something changes.

    Every listener hears of every watched path (a process has one or two):
    each picks out the paths it depends on.
    """

    def changed(self, directory: str | None, name: str | None) -> None:
        """``name`` in ``directory`` changed; ``name=None``: anything in ``directory``, or the watched
        file ``directory`` itself, may have; ``directory=None``: events were lost, anything anywhere may have."""


class _Inotify:
    """The three system calls, through libc; ``None`` from :func:`_load` where there are none."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._init1 = libc.inotify_init1
        self._add_watch = libc.inotify_add_watch
        self._rm_watch = libc.inotify_rm_watch
        self._add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]

    def init(self) -> int:
        return int(self._init1(IN_CLOEXEC | IN_NONBLOCK))

    def add_watch(self, fd: int, path: str, mask: int) -> int:
        return int(self._add_watch(fd, os.fsencode(path), mask))

    def rm_watch(self, fd: int, wd: int) -> None:
        self._rm_watch(fd, wd)


def watch_limit(path: str = "/proc/sys/fs/inotify/max_user_watches") -> int:
    """The watches one process may hold: a sixteenth of the per-user limit, at most :data:`MAX_WATCHES`.

    A sixteenth, so that the workers of a server (each its own process) and
    the user's other programs keep most of a limit that is shared by them all
    (8,192 on kernels before 5.11, which gives 512 here).
    """
    try:
        with open(path, "rb") as file:
            user_limit = int(file.read())
    except (OSError, ValueError):
        return MAX_WATCHES
    return max(0, min(MAX_WATCHES, user_limit // 16))


def _load() -> _Inotify | None:
    try:
        return _Inotify(ctypes.CDLL(None, use_errno=True))
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None


class Watcher:
    """Watches files and directories for a set of listeners; see the module's documentation."""

    def __init__(self, inotify: _Inotify | None, limit: int | None = None) -> None:
        self._inotify = inotify
        #: The most watches held at once (see :func:`watch_limit`).
        self.limit = watch_limit() if limit is None else limit
        #: Held while watches change and while events are read and delivered.
        #: Re-entrant: listeners release watches from within a delivery, and
        #: their own bookkeeping may share it (staticwrap.memory).
        self.lock = threading.RLock()
        #: True from before events are read from the kernel until they are delivered.
        self.syncing = False
        self._fd = -1
        # Watched path -> its watch descriptor; descriptor -> the paths it was
        # asked for (a path through a symlink and the real path are one inode,
        # and the kernel gives them one descriptor), and how many holds it has.
        self._wds: dict[str, int] = {}
        self._paths: dict[int, list[str]] = {}
        self._holds: dict[int, int] = {}
        self._listeners: weakref.WeakSet[Listener] = weakref.WeakSet()
        self._new_epoll()

    def _new_epoll(self) -> None:
        # epoll, not poll: a select.poll object refuses two threads polling
        # it at once, and a threaded server's requests do.
        self._epoll = select.epoll()
        #: ``pending(0, 1)`` is true when events wait to be read by :meth:`sync`.
        #: Call it with ``maxevents=1``: one is all it takes to know, and
        #: CPython allocates room for ``maxevents`` events on every call
        #: (1,023 of them, 12 KiB, when it is not given).
        self.pending = self._epoll.poll

    @property
    def available(self) -> bool:
        """Whether this platform has inotify at all."""
        return self._inotify is not None

    @property
    def full(self) -> bool:
        """Whether :attr:`limit` watches are held: no new path can be watched now."""
        return len(self._holds) >= self.limit

    def watch(self, path: str, listener: Listener, *, file: bool = False) -> bool:
        """Hold a watch on ``path`` (a directory, or a ``file``) for ``listener``.

        ``False`` if that cannot be done: no inotify, the limit reached, or
        the kernel refused (gone, not a directory, out of watches). Each
        ``True`` must be matched by one :meth:`release` of the path.
        """
        inotify = self._inotify
        if inotify is None:
            return False
        with self.lock:
            wd = self._wds.get(path)
            if wd is None:
                wd = self._add(inotify, path, FILE_MASK if file else DIRECTORY_MASK)
                if wd < 0:
                    return False
            self._holds[wd] += 1
            self._listeners.add(listener)
            return True

    def _add(self, inotify: _Inotify, path: str, mask: int) -> int:
        # Under the lock.
        if self._fd < 0:
            self._fd = inotify.init()
            if self._fd < 0:
                return -1  # out of inotify instances: EMFILE
            self._epoll.register(self._fd, select.EPOLLIN)
        if self.full:
            return -1
        wd = inotify.add_watch(self._fd, path, mask)
        if wd < 0:
            return -1  # gone, not a directory, or out of watches (ENOSPC)
        self._wds[path] = wd
        self._paths.setdefault(wd, []).append(path)
        self._holds.setdefault(wd, 0)
        return wd

    def release(self, path: str) -> None:
        """Give back one hold of ``path``; the last one removes the watch."""
        with self.lock:
            wd = self._wds.get(path)
            if wd is None:
                return  # the kernel dropped it already (the directory is gone)
            self._holds[wd] -= 1
            if self._holds[wd] <= 0:
                self._forget(wd)

    def sync(self) -> None:
        """Deliver every event the kernel has queued to the listeners."""
        with self.lock:
            self.syncing = True
            try:
                while self._fd >= 0:
                    try:
                        data = os.read(self._fd, _READ_SIZE)
                    except BlockingIOError:
                        return
                    self.dispatch(data)
            finally:
                self.syncing = False

    def dispatch(self, data: bytes) -> None:
        """Deliver a buffer of ``struct inotify_event`` records read from the descriptor."""
        with self.lock:
            listeners = list(self._listeners)
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw_name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    _notify(listeners, None, None)
                    continue
                paths = self._paths.get(wd)
                if paths is None:
                    continue  # a watch released since the event was queued
                if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                    # The directory or file itself went away or moved:
                    # everything under it may now be something else, and
                    # its watch is spent.
                    self._forget(wd)
                    name = None
                else:
                    name = os.fsdecode(raw_name) if raw_name else None
                for path in list(paths):
                    _notify(listeners, path, name)

    def _forget(self, wd: int) -> None:
        # Under the lock.
        for path in self._paths.pop(wd, ()):
            if self._wds.get(path) == wd:
                del self._wds[path]
        self._holds.pop(wd, None)
        if self._inotify is not None:
            self._inotify.rm_watch(self._fd, wd)  # EINVAL if the kernel dropped it already: harmless

    def reset(self) -> None:
        """Drop every watch: used in a child process after ``fork()``."""
        self.lock = threading.RLock()
        self.syncing = False
        # The inotify and epoll instances are shared with the parent, whose
        # events they carry: the child closes its copies (without changing
        # the parent's interest list) and makes its own when needed.
        self._epoll.close()
        self._new_epoll()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._wds.clear()
        self._paths.clear()
        self._holds.clear()
        self._listeners = weakref.WeakSet()


def _notify(listeners: list[Listener], path: str | None, name: str | None) -> None:
    for listener in listeners:
        listener.changed(path, name)


#: The watcher of this process.
WATCHER = Watcher(_load())

if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=WATCHER.reset)
