"""A process-wide watcher of directory entries, on Linux's inotify(7).

The body cache (:mod:`staticwrap.memory`) serves small files from memory
without opening them, so it learns of changes on disk from the kernel instead:
each directory on the path to a cached file is watched, and an event naming an
entry of it (the file itself, or a directory or symlink on its path being
created, replaced, moved, deleted, written or touched) reaches the listeners
registered for that directory.

Events are delivered synchronously, by the request that needs them: before a
cached body is used, :attr:`Watcher.pending` (one ``epoll_wait(2)`` with no
timeout, which threads may make at once) says whether the kernel has queued
any, and :meth:`Watcher.sync` delivers them first. So the first request that starts after a change on disk
sees it, with no thread to wait for, at the price of one system call.

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
MASK = (
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

_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name
_READ_SIZE = 64 * 1024


class Listener(Protocol):
    """What the watcher calls, under its lock, when something changes."""

    def changed(self, directory: str | None, name: str | None) -> None:
        """``name`` in ``directory`` changed; ``name=None``: anything in ``directory`` may have;
        ``directory=None``: events were lost, anything anywhere may have."""


class _Inotify:
    """The three system calls, through libc; ``None`` from :func:`_load` where there are none."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._init1 = libc.inotify_init1
        self._add_watch = libc.inotify_add_watch
        self._rm_watch = libc.inotify_rm_watch
        self._add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]

    def init(self) -> int:
        return int(self._init1(IN_CLOEXEC | IN_NONBLOCK))

    def add_watch(self, fd: int, path: str) -> int:
        return int(self._add_watch(fd, os.fsencode(path), MASK))

    def rm_watch(self, fd: int, wd: int) -> None:
        self._rm_watch(fd, wd)


def _load() -> _Inotify | None:
    try:
        return _Inotify(ctypes.CDLL(None, use_errno=True))
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None


class Watcher:
    """Watches directories for a set of listeners; see the module's documentation."""

    def __init__(self, inotify: _Inotify | None) -> None:
        self._inotify = inotify
        self._lock = threading.Lock()
        self._fd = -1
        self._wds: dict[str, int] = {}
        self._directories: dict[int, str] = {}
        self._listeners: dict[str, weakref.WeakSet[Listener]] = {}
        self._new_epoll()

    def _new_epoll(self) -> None:
        # epoll, not poll: a select.poll object refuses two threads polling
        # it at once, and a threaded server's requests do.
        self._epoll = select.epoll()
        #: ``pending(0)`` is true when events wait to be delivered by :meth:`sync`.
        self.pending = self._epoll.poll

    @property
    def available(self) -> bool:
        """Whether this platform has inotify at all."""
        return self._inotify is not None

    def watch(self, directory: str, listener: Listener) -> bool:
        """Tell ``listener`` of changes to the entries of ``directory``; ``False`` if that cannot be done."""
        inotify = self._inotify
        if inotify is None:
            return False
        with self._lock:
            wd = self._wds.get(directory)
            if wd is None:
                if self._fd < 0:
                    self._fd = inotify.init()
                    if self._fd < 0:
                        return False  # out of inotify instances: EMFILE
                    self._epoll.register(self._fd, select.EPOLLIN)
                wd = inotify.add_watch(self._fd, directory)
                if wd < 0:
                    return False  # gone, not a directory, or out of watches (ENOSPC)
                self._wds[directory] = wd
                self._directories[wd] = directory
                self._listeners.setdefault(directory, weakref.WeakSet())
            self._listeners[directory].add(listener)
            return True

    def sync(self) -> None:
        """Deliver every event the kernel has queued to the listeners."""
        with self._lock:
            while self._fd >= 0:
                try:
                    data = os.read(self._fd, _READ_SIZE)
                except BlockingIOError:
                    return
                self.dispatch(data)

    def dispatch(self, data: bytes) -> None:
        """Deliver a buffer of ``struct inotify_event`` records read from the descriptor (under the lock)."""
        """Deliver a buffer of ``struct inotify_event`` records read from the descriptor."""
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw_name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                self._notify(None, None)
                continue
            directory = self._directories.get(wd)
            if directory is None:
                continue
            if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                # The directory itself went away or moved: everything under
                # it may now be something else, and its watch is spent.
                self._forget(wd, directory)
                self._notify(directory, None)
                continue
            self._notify(directory, os.fsdecode(raw_name) if raw_name else None)

    def _forget(self, wd: int, directory: str) -> None:
        self._directories.pop(wd, None)
        if self._wds.get(directory) == wd:
            del self._wds[directory]
        if self._inotify is not None:
            self._inotify.rm_watch(self._fd, wd)  # EINVAL if the kernel dropped it already: harmless

    def _notify(self, directory: str | None, name: str | None) -> None:
        if directory is None:
            listeners = {listener for group in self._listeners.values() for listener in group}
        else:
            listeners = set(self._listeners.get(directory, ()))
            if name is None:
                self._listeners.pop(directory, None)
        for listener in listeners:
            listener.changed(directory, name)

    def reset(self) -> None:
        """Drop every watch: used in a child process after ``fork()``."""
        self._lock = threading.Lock()
        # The inotify and epoll instances are shared with the parent, whose
        # events they carry: the child closes its copies (without changing
        # the parent's interest list) and makes its own when needed.
        self._epoll.close()
        self._new_epoll()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._wds.clear()
        self._directories.clear()
        self._listeners.clear()


#: The watcher of this process.
WATCHER = Watcher(_load())

if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=WATCHER.reset)
