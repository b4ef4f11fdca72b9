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
cached body is used, :meth:`Watcher.pending` says whether the kernel has
queued any, and :meth:`Watcher.sync` delivers them first. So the first request
that starts after a change on disk sees it, with no thread to wait for. Events
read from the kernel but not yet delivered are invisible to the kernel's
answer, so :attr:`Watcher.syncing` is set, before the read, until they are
delivered: a request that finds nothing pending but a delivery under way waits
for it.

How :meth:`Watcher.pending` asks, without a system call where it can: each
thread that asks often (:data:`RING_AFTER`) has its own io_uring(7) instance (a "ring", made with
``IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
IORING_SETUP_TASKRUN_FLAG``, Linux 6.1 and later) with a multishot
``IORING_OP_POLL_ADD`` on the inotify descriptor. When inotify queues an
event, it wakes the descriptor's wait queue within the system call that made
the change; the ring's wake-up handler queues its completion as work for the
thread, and the first such work sets ``IORING_SQ_TASKRUN`` in the ring's
``sq_flags``, a word of memory shared with the process. With
``DEFER_TASKRUN`` that work runs, and the flag is cleared, only when the
thread itself calls ``io_uring_enter(2)`` to get completions. So the flag is
set before the changing call returns and stays set until the thread asks:
:meth:`Watcher.pending` is one read of that word. :meth:`Watcher.sync` then
calls ``io_uring_enter`` first (clearing the flag; the wake-ups of events
queued meanwhile become completions, not flags) and reads the inotify
descriptor after, so every event queued before the flag was cleared is read,
and every later one sets the flag again. A ring is one thread's: only the
thread that made it may call ``io_uring_enter`` on it, and nobody else reads
its flag, so the moment inside that call when the flag is clear and the
completion not yet posted is never seen. Where no ring can be made (not
Linux, a kernel before 6.1, ``kernel.io_uring_disabled``, a seccomp filter
such as many container runtimes', :data:`MAX_RINGS` threads already have one,
or out of descriptors), and until it has asked :data:`RING_AFTER` times, a
thread asks with one ``epoll_wait(2)`` with no timeout instead.

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
of its parent's watches or rings: its state is reset at fork.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
import platform
import select
import struct
import threading
import weakref
from collections.abc import Callable
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
#: The most io_uring instances a process holds (one per thread that asks
#: :meth:`Watcher.pending`; each is a descriptor): other threads ask epoll.
MAX_RINGS = 64
#: The check at which a thread makes its ring (:attr:`Watcher.ring_after`).
#: A ring costs about 0.2 ms to make and, at the thread's end, to tear down:
#: as much as some 700 checks through epoll cost more than through a ring. So
#: a thread asks epoll until it has asked this many times, and never makes a
#: ring if it serves a request or two (a server that starts a thread per
#: request), while one that lives on pays at most twice the least it could.
RING_AFTER = 1000

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


# io_uring(7), from include/uapi/linux/io_uring.h. The system call numbers
# are those of the architectures' common table (x86_64, arm64).
_SYS_IO_URING_SETUP = 425
_SYS_IO_URING_ENTER = 426
_RING_MACHINES = frozenset({"x86_64", "aarch64"})
_SETUP_CQSIZE = 1 << 3
_SETUP_TASKRUN_FLAG = 1 << 9
_SETUP_SINGLE_ISSUER = 1 << 12
_SETUP_DEFER_TASKRUN = 1 << 13
_FEAT_SINGLE_MMAP = 1 << 0
_OFF_SQES = 0x10000000
_OP_POLL_ADD = 6
_POLL_ADD_MULTI = 1 << 0
_ENTER_GETEVENTS = 1 << 0
_CQE_F_MORE = 1 << 1
_SQ_CQ_OVERFLOW = 1 << 1
#: Room for the completions of one io_uring_enter: a multishot poll posts
#: one each time it runs and finds the descriptor readable.
_CQ_ENTRIES = 64
#: Refusals that every later ring would meet too: no io_uring in this
#: kernel, or not for this process (kernel.io_uring_disabled, seccomp), or
#: not these flags (a kernel before 6.1).
_REFUSED = frozenset({errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EINVAL, errno.EOPNOTSUPP})
# struct io_uring_params, as 32-bit words: the counts and flags, then
# struct io_sqring_offsets at word 10 and struct io_cqring_offsets at 20.
_PARAMS_WORDS = 30
_SQ_OFF, _CQ_OFF = 10, 20
_Params = ctypes.Array[ctypes.c_uint32]


class _Uring:
    """The io_uring system calls and mmap(2), through libc; ``None`` from :func:`_load_uring` where there are none."""

    def __init__(self, libc: ctypes.CDLL, setup: int = _SYS_IO_URING_SETUP, enter: int = _SYS_IO_URING_ENTER) -> None:
        self._setup_number = setup
        self._enter_number = enter
        self._syscall = libc.syscall
        self._syscall.restype = ctypes.c_long
        self._mmap = libc.mmap
        self._mmap.restype = ctypes.c_void_p
        # void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
        int_ = ctypes.c_int
        self._mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, int_, int_, int_, ctypes.c_long)
        self.munmap = libc.munmap
        self.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

    def setup(self, params: _Params) -> int:
        """``io_uring_setup(2)`` with one submission entry: the descriptor, or ``-errno``."""
        fd = int(self._syscall(self._setup_number, 1, params))
        return fd if fd >= 0 else -ctypes.get_errno()

    def enter(self, fd: int, to_submit: int, flags: int) -> int:
        """``io_uring_enter(2)`` without waiting: the entries submitted, or ``-errno``."""
        done = int(self._syscall(self._enter_number, fd, to_submit, 0, flags, None, 0))
        return done if done >= 0 else -ctypes.get_errno()

    def map(self, fd: int, size: int, offset: int) -> memoryview | None:
        """The ring's memory at ``offset``, shared with the kernel, as 32-bit words.

        The view (and any slice of it) holds the ctypes array over the
        memory, which holds an :class:`_Unmap`: the memory stays mapped while
        any view of it exists, and is unmapped when the last one goes.
        """
        protection = mmap.PROT_READ | mmap.PROT_WRITE
        address = self._mmap(None, size, protection, mmap.MAP_SHARED | mmap.MAP_POPULATE, fd, offset)
        if address is None or address == ctypes.c_void_p(-1).value:
            return None
        words = (ctypes.c_uint32 * (size // 4)).from_address(address)
        words.unmap = _Unmap(self.munmap, address, size)  # type: ignore[attr-defined]
        return memoryview(words).cast("B").cast("I")


class _Unmap:
    """Unmaps a ring's memory when the last view of it is gone (see :meth:`_Uring.map`)."""

    def __init__(self, munmap: Callable[[int, int], int], address: int, size: int) -> None:
        self._munmap = munmap
        self._address = address
        self._size = size

    def __del__(self) -> None:
        self._munmap(self._address, self._size)


class _Ring:
    """One thread's io_uring instance, polling the inotify descriptor; see the module's documentation.

    Only the thread that made it may call :meth:`refresh` (the kernel refuses
    others: ``IORING_SETUP_SINGLE_ISSUER``).
    """

    def __init__(
        self, uring: _Uring, fd: int, target: int, params: _Params, words: memoryview, sqes: memoryview
    ) -> None:
        self._uring = uring
        self.fd = fd
        self._target = target
        sq, cq = _SQ_OFF, _CQ_OFF
        flags = params[sq + 4] // 4
        #: The ring's ``sq_flags``: non-zero when completions wait to be
        #: run (``IORING_SQ_TASKRUN``) or did not fit (``IORING_SQ_CQ_OVERFLOW``).
        self.flags = words[flags : flags + 1]
        self._words = words
        self._sqes = sqes
        self._sq_tail = params[sq + 1] // 4
        self._sq_mask = words[params[sq + 2] // 4]
        self._sq_array = params[sq + 6] // 4
        self._cq_head = params[cq] // 4
        self._cq_tail = params[cq + 1] // 4
        self._cq_mask = words[params[cq + 2] // 4]
        self._cqes = params[cq + 5] // 4

    @classmethod
    def open(cls, uring: _Uring, target: int) -> _Ring | int:
        """A ring polling descriptor ``target``, or the error number that refused it."""
        params = (ctypes.c_uint32 * _PARAMS_WORDS)()
        params[1] = _CQ_ENTRIES
        params[2] = _SETUP_SINGLE_ISSUER | _SETUP_DEFER_TASKRUN | _SETUP_TASKRUN_FLAG | _SETUP_CQSIZE
        fd = uring.setup(params)
        if fd < 0:
            return -fd
        sq_entries, cq_entries, features = params[0], params[1], params[5]
        size = max(params[_SQ_OFF + 6] + 4 * sq_entries, params[_CQ_OFF + 5] + 16 * cq_entries)
        words = uring.map(fd, size, 0) if features & _FEAT_SINGLE_MMAP else None
        sqes = uring.map(fd, 64 * sq_entries, _OFF_SQES) if words is not None else None
        if words is None or sqes is None:
            os.close(fd)
            return errno.ENOMEM
        ring = cls(uring, fd, target, params, words, sqes)
        armed = ring._arm()
        if armed != 1:
            ring.close()
            return -armed if armed < 0 else errno.EAGAIN
        return ring

    def _arm(self) -> int:
        # One struct io_uring_sqe (16 words): a poll for input on the target,
        # multishot: it stays armed across events.
        words = self._words
        tail = words[self._sq_tail]
        index = tail & self._sq_mask
        sqe = 16 * index
        self._sqes[sqe : sqe + 16] = memoryview(
            struct.pack("=BBHiQQIIQ24x", _OP_POLL_ADD, 0, 0, self._target, 0, 0, _POLL_ADD_MULTI, select.POLLIN, 0)
        ).cast("I")
        words[self._sq_array + index] = index
        words[self._sq_tail] = (tail + 1) & 0xFFFFFFFF
        return self._uring.enter(self.fd, 1, 0)  # 1: submitted

    def refresh(self) -> bool:
        """Run the completions queued for this thread, which clears :attr:`flags`; ``False`` if the ring failed.

        Called before the inotify descriptor is read, never after: an event
        queued while this runs may leave no flag, but is read then.
        """
        words = self._words
        for _ in range(4):
            if self._uring.enter(self.fd, 0, _ENTER_GETEVENTS) < 0:
                return False
            head, tail = words[self._cq_head], words[self._cq_tail]
            ended = False
            while head != tail:
                # The poll stays armed while its completions say IORING_CQE_F_MORE.
                ended |= not words[self._cqes + 4 * (head & self._cq_mask) + 3] & _CQE_F_MORE
                head = (head + 1) & 0xFFFFFFFF
            words[self._cq_head] = head
            if ended and self._arm() != 1:
                return False
            if not self.flags[0] & _SQ_CQ_OVERFLOW:
                return True  # every completion seen, and none left over
        return False

    def close(self) -> None:
        """Close the descriptor (the memory is unmapped once no view refers to it); idempotent."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()


def _load_uring() -> _Uring | None:
    if platform.system() != "Linux" or platform.machine() not in _RING_MACHINES:
        return None
    try:
        return _Uring(ctypes.CDLL(None, use_errno=True))
    except (OSError, AttributeError):  # pragma: no cover - a libc without syscall or mmap
        return None


class _Flags(Protocol):
    def __getitem__(self, index: int, /) -> int: ...


class _EpollFlags:
    """For a thread without a ring: ``[0]`` is one ``epoll_wait(2)`` with no timeout."""

    def __init__(self, epoll: select.epoll) -> None:
        #: One epoll_wait(2) with no timeout: a list of at most one event.
        #: maxevents=1: one is all it takes to know, and CPython allocates
        #: room for maxevents events on every call (1,023 when not given).
        self.poll = functools.partial(epoll.poll, 0, 1)

    def __getitem__(self, index: int, /) -> int:
        return len(self.poll())


class _ThreadCheck(threading.local):
    """What :meth:`Watcher.pending` reads in each thread: its ring's flags, or epoll's answer."""

    def __init__(self, first: _FirstCheck) -> None:
        #: This thread's ring, ``None`` where it has none (yet).
        self.ring: _Ring | None = None
        #: The checks this thread made before it made its ring.
        self.asked = 0
        #: Read ``[0]``: non-zero when events may be pending. Until the
        #: thread first asks, the object that makes its ring then.
        self.flags: _Flags = first


class _FirstCheck:
    """A thread's checks until it has a ring: epoll's, until the :attr:`Watcher.ring_after`-th makes the ring.

    It refers to the watcher only, not to the :class:`_ThreadCheck`: a
    generation of them that the watcher drops is freed at once, and with it
    the rings of its threads.
    """

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def __getitem__(self, index: int, /) -> int:
        watcher = self._watcher
        check = watcher._threads
        check.asked += 1
        if check.asked < watcher.ring_after:
            return watcher._epoll_flags[index]
        watcher._settle(check)
        return check.flags[index]


class Watcher:
    """Watches files and directories for a set of listeners; see the module's documentation."""

    def __init__(self, inotify: _Inotify | None, limit: int | None = None, uring: _Uring | None = None) -> None:
        self._inotify = inotify
        self._uring = uring
        # Whether threads ask through a ring where they can (see use_rings),
        # and the rings made, to bound and (after fork) close them.
        self._rings_wanted = inotify is not None and uring is not None
        self._rings: weakref.WeakSet[_Ring] = weakref.WeakSet()
        self._rings_lock = threading.Lock()
        #: A thread makes its ring at this check (see :data:`RING_AFTER`).
        self.ring_after = RING_AFTER
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
        self._new_checks()

    def _new_checks(self) -> None:
        # epoll, not poll: a select.poll object refuses two threads polling
        # it at once, and a threaded server's requests do.
        self._epoll = select.epoll()
        self._epoll_flags = _EpollFlags(self._epoll)
        self._new_generation()

    def _new_generation(self) -> None:
        # Each thread makes its ring anew when it first asks.
        self._threads = _ThreadCheck(_FirstCheck(self))
        #: ``pending()`` is true (non-zero, or a non-empty list) when events
        #: may wait to be read by :meth:`sync`, which the calling thread must
        #: then call. One read of the calling thread's ring's flags, or one
        #: ``epoll_wait(2)`` (see the module's documentation).
        self.pending: Callable[[], object] = self._ring_pending if self._rings_wanted else self._epoll_flags.poll

    def _ring_pending(self) -> int:
        return self._threads.flags[0]

    def use_rings(self, wanted: bool) -> bool:
        """Choose how :meth:`pending` asks: through io_uring where it can (the default), or with ``epoll_wait``.

        Returns whether the calling thread now asks through a ring: it makes
        one at once, whatever :attr:`ring_after` says.
        """
        self._rings_wanted = wanted and self._inotify is not None and self._uring is not None
        self._new_generation()
        if not self._rings_wanted:
            return False
        check = self._threads
        self._settle(check)
        return check.ring is not None

    def _settle(self, check: _ThreadCheck) -> None:
        # The calling thread's check from now on: its ring's flags, or epoll's.
        ring = self._open_ring()
        check.ring = ring
        check.flags = self._epoll_flags if ring is None else ring.flags

    def _open_ring(self) -> _Ring | None:
        """A ring for the calling thread, polling the inotify descriptor, or ``None`` where it cannot have one."""
        uring, inotify = self._uring, self._inotify
        if uring is None or inotify is None or not self._rings_wanted:
            return None
        if self._fd < 0:
            with self.lock:
                if not self._open(inotify):
                    return None
        with self._rings_lock:
            if len(self._rings) >= MAX_RINGS:
                return None
            ring = _Ring.open(uring, self._fd)
            if isinstance(ring, int):
                if ring in _REFUSED:
                    # Every later ring would be refused too: ask epoll from now on.
                    self._rings_wanted = False
                    self.pending = self._epoll_flags.poll
                return None
            self._rings.add(ring)
            return ring

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

    def _open(self, inotify: _Inotify) -> bool:
        # Under the lock: the inotify instance, made when first needed.
        if self._fd < 0:
            fd = inotify.init()
            if fd < 0:
                return False  # out of inotify instances: EMFILE
            self._epoll.register(fd, select.EPOLLIN)
            self._fd = fd
        return True

    def _add(self, inotify: _Inotify, path: str, mask: int) -> int:
        # Under the lock.
        if not self._open(inotify):
            return -1
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
        check = self._threads
        ring = check.ring
        # The ring first, the descriptor after: see the module's documentation.
        if ring is not None and not ring.refresh():
            check.ring = None
            check.flags = self._epoll_flags  # this thread asks epoll from now on
            ring.close()
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
        self._rings_lock = threading.Lock()
        self.syncing = False
        # The inotify and epoll instances and the rings are shared with the
        # parent, whose events they carry (and the kernel refuses a ring to
        # any task but its maker's): the child closes its copies (without
        # changing the parent's interest list) and makes its own when needed.
        for ring in list(self._rings):
            ring.close()
        self._rings = weakref.WeakSet()
        self._epoll.close()
        self._new_checks()
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
WATCHER = Watcher(_load(), uring=_load_uring())

if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=WATCHER.reset)
