"""The watcher's check for news from the kernel (staticwrap.watch), each way it asks.

The changes are made by another process, as a deploy does: a request that
starts once the process says its change is done must see it, many times in a
row, on the thread that changed nothing and on threads that already hold
their own ring. Then what happens where io_uring is refused, at fork, when a
thread ends, and when the kernel's queue of events overflows.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import mmap
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from staticwrap import StaticWrap
from staticwrap.asset import Asset
from staticwrap.watch import RING_AFTER, WATCHER, Watcher, _load, _load_uring, _Uring
from tests.conftest import call, downstream, etag_of, in_forked_child, write

pytestmark = pytest.mark.skipif(not WATCHER.available, reason="the watcher needs inotify (Linux)")

#: A process that makes the change numbered by each line it reads, then says "done".
WRITER = r"""
import os, sys
path = sys.argv[1]
for line in sys.stdin:
    number = int(line)
    data = b"%08d" % number  # always the same size
    if number % 3 == 0:  # in place, with the old mtime put back: only inotify can tell
        before = os.stat(path)
        with open(path, "r+b") as file:
            file.write(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif number % 3 == 1:  # a new file renamed over it
        with open(path + ".new", "wb") as file:
            file.write(data)
        os.replace(path + ".new", path)
    else:  # in place
        with open(path, "r+b") as file:
            file.write(data)
    sys.stdout.write("done\n")
    sys.stdout.flush()
"""


def version(number: int) -> bytes:
    return b"%08d" % number


class Writer:
    """The other process: :meth:`change` returns once its change is complete."""

    def __init__(self, path: Path) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._commands, self._answers = self._process.stdin, self._process.stdout

    def change(self, number: int) -> None:
        self._commands.write(b"%d\n" % number)
        self._commands.flush()
        assert self._answers.readline() == b"done\n"

    def close(self) -> None:
        self._commands.close()
        self._process.wait(timeout=60)
        self._answers.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[StaticWrap, Writer]]:
    path = write(tmp_path, "v.txt", version(0))
    app = StaticWrap(downstream, tmp_path)
    assert call(app, "/v.txt").body == version(0)
    writer = Writer(path)
    try:
        yield app, writer
    finally:
        writer.close()


def in_memory(app: StaticWrap) -> bool:
    entry = app.files["/v.txt"]
    assert isinstance(entry, Asset)
    return entry.identity.body is not None


def assert_sees(app: StaticWrap, before: int, number: int) -> None:
    # Asked with the ETag of the version before: a 304 would be the old file's answer.
    response = call(app, "/v.txt", {"If-None-Match": etag_of(version(before))})
    assert (response.code, response.body) == (200, version(number)), f"change {number} not seen"


@pytest.mark.usefixtures("change_check")
def test_a_change_by_another_process_is_seen_by_the_next_request_every_time(
    site: tuple[StaticWrap, Writer],
) -> None:
    app, writer = site
    for number in range(1, 1501):
        assert in_memory(app), "the request must be one that would answer from memory"
        writer.change(number)
        assert_sees(app, number - 1, number)
        call(app, "/v.txt")  # in memory again, if the request above did not keep it


@pytest.mark.usefixtures("change_check")
def test_threads_that_hold_a_ring_each_see_a_change_by_another_process(site: tuple[StaticWrap, Writer]) -> None:
    # A threaded server's workers: each has asked before (and so holds its
    # ring) when the change is made; the first to ask again delivers the
    # events, the others must still see the change. Only changes a stat can
    # see too: of a change in place with the mtime put back, the threads
    # after the first can get the old answer while the first re-reads the
    # file (BodyCache.load gives up on a body another thread is loading, and
    # the stat that follows sees nothing), whichever way the kernel is asked.
    app, writer = site
    numbers = [number for number in range(1, 226) if number % 3]
    workers = 4
    start, finish = threading.Barrier(workers + 1), threading.Barrier(workers + 1)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            call(app, "/v.txt")
            for before, number in itertools.pairwise([0, *numbers]):
                start.wait(60)
                try:
                    assert_sees(app, before, number)
                finally:
                    finish.wait(60)
        except BaseException as error:  # reported on the main thread
            failures.append(error)
            start.abort()
            finish.abort()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:
        for number in numbers:
            call(app, "/v.txt")  # in memory again for this round
            assert in_memory(app)
            writer.change(number)
            start.wait(60)
            finish.wait(60)
    except threading.BrokenBarrierError:
        pass
    for thread in threads:
        thread.join(60)
    assert not failures, failures[0]


def ring_descriptors() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the descriptor listdir read the directory through
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[io_uring]"
    return count


@pytest.fixture
def ring_at(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process's watcher with threads making their ring at check ``param`` (default 1)."""
    WATCHER.ring_after = getattr(request, "param", 1)
    try:
        if not WATCHER.use_rings(True):
            pytest.skip("io_uring refused here")
        yield WATCHER.ring_after
    finally:
        WATCHER.ring_after = RING_AFTER
        WATCHER.use_rings(True)


@pytest.mark.parametrize("ring_at", [5], indirect=True)
def test_a_thread_asks_epoll_until_its_ring_after_th_check(ring_at: int) -> None:
    # A server that starts a thread per request never pays for a ring.
    before = ring_descriptors()
    counts: list[int] = []

    def ask() -> None:
        for _ in range(ring_at):
            WATCHER.pending()
            counts.append(ring_descriptors())

    thread = threading.Thread(target=ask)
    thread.start()
    thread.join(60)
    assert counts == [before] * (ring_at - 1) + [before + 1]


@pytest.mark.usefixtures("ring_at")
def test_a_thread_that_ends_closes_its_ring() -> None:
    before = ring_descriptors()
    opened: list[int] = []

    def ask() -> None:
        WATCHER.pending()  # the thread's first check makes its ring
        opened.append(ring_descriptors())

    thread = threading.Thread(target=ask)
    thread.start()
    thread.join(60)
    assert opened == [before + 1]
    assert ring_descriptors() == before


@pytest.mark.usefixtures("ring_at")
def test_a_forked_child_closes_its_parents_rings_and_makes_its_own(tmp_path: Path) -> None:
    # A Gunicorn worker of a --preload master whose thread had asked: the
    # kernel refuses the parent's ring to the child, which must not read its flags.
    path = write(tmp_path, "v.txt", version(0))
    app = StaticWrap(downstream, tmp_path)
    call(app, "/v.txt")
    assert ring_descriptors() >= 1

    def in_child() -> list[bool]:
        seen = [ring_descriptors() == 0]
        call(app, "/v.txt")  # cached anew, with this process's watches
        call(app, "/v.txt")  # from memory: the thread's first check makes its ring
        seen.append(ring_descriptors() == 1)
        path.write_bytes(version(1))
        seen.append(call(app, "/v.txt").body == version(1))
        return seen

    assert in_forked_child(in_child) == [True, True, True]


def test_where_the_kernel_refuses_rings_the_watcher_asks_epoll(tmp_path: Path) -> None:
    # ENOSYS, as from a kernel without io_uring (or EPERM, as from
    # kernel.io_uring_disabled or a container's seccomp filter): a system
    # call number no kernel assigns is refused for real.
    libc = ctypes.CDLL(None, use_errno=True)
    watcher = Watcher(_load(), uring=_Uring(libc, setup=100_000))
    try:
        assert not watcher.use_rings(True)
        assert not watcher.pending()
        assert watcher.watch(str(tmp_path), Recorder())
        (tmp_path / "new").write_bytes(b"x")
        assert watcher.pending()
        watcher.sync()
        assert not watcher.pending()
    finally:
        watcher.release(str(tmp_path))
        watcher.reset()


class Recorder:
    """A listener that keeps what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str | None, str | None]] = []

    def changed(self, directory: str | None, name: str | None) -> None:
        self.heard.append((directory, name))


@pytest.mark.parametrize("rings", [True, False], ids=["io_uring", "epoll"])
def test_an_overflow_of_the_kernels_queue_is_pending_and_delivered(tmp_path: Path, rings: bool) -> None:
    # Past fs.inotify.max_queued_events, the kernel drops events and queues
    # IN_Q_OVERFLOW: the check must say so, and the listeners hear "anything".
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 100_000:
        pytest.skip(f"max_queued_events is {limit}: too many events to make")
    watcher = Watcher(_load(), uring=_load_uring())
    recorder = Recorder()
    try:
        if watcher.use_rings(rings) != rings:
            pytest.skip("io_uring refused here")
        assert watcher.watch(str(tmp_path), recorder)
        names = [write(tmp_path, "a", b""), write(tmp_path, "b", b"")]
        watcher.sync()  # their creation
        assert not watcher.pending()
        for number in range(limit + 10):  # alternated: the kernel merges a repeat of the last event
            os.utime(names[number % 2])
        assert watcher.pending()
        watcher.sync()
        assert (None, None) in recorder.heard
        assert not watcher.pending()
    finally:
        watcher.release(str(tmp_path))
        watcher.reset()


#: Creates n0, n1, ... (removing old ones) and publishes, once each creat(2) has returned, its number.
CREATOR = r"""
import mmap, os, sys
directory, count = sys.argv[1], int(sys.argv[2])
with open(os.path.join(directory, "counter"), "r+b") as file:
    counter = memoryview(mmap.mmap(file.fileno(), 8)).cast("q")
for number in range(count):
    open(os.path.join(directory, "watched", "n%d" % number), "wb").close()
    if number >= 20:
        os.unlink(os.path.join(directory, "watched", "n%d" % (number - 20)))
    counter[0] = number
"""


@pytest.mark.parametrize("rings", [True, False], ids=["io_uring", "epoll"])
def test_while_another_process_keeps_changing_a_clear_check_means_every_completed_change_was_delivered(
    tmp_path: Path, rings: bool
) -> None:
    # The order in sync (the ring, then the descriptor) and the ring's
    # re-arming under a stream of events: whenever the check says nothing is
    # pending, every creation the other process had completed before the
    # check began has reached the listener.
    watched = tmp_path / "watched"
    watched.mkdir()
    (tmp_path / "counter").write_bytes(bytes(8))
    watcher = Watcher(_load(), uring=_load_uring())
    recorder = Recorder()
    try:
        if watcher.use_rings(rings) != rings:
            pytest.skip("io_uring refused here")
        assert watcher.watch(str(watched), recorder)
        with open(tmp_path / "counter", "r+b") as file, mmap.mmap(file.fileno(), 8) as shared:
            counter = memoryview(shared).cast("q")
            counter[0] = -1
            creator = subprocess.Popen([sys.executable, "-c", CREATOR, str(tmp_path), "2000"])
            delivered, clear, late = -1, 0, []
            while True:
                completed = counter[0]
                done = completed == 1999
                if watcher.pending():
                    watcher.sync()
                    for _directory, name in recorder.heard:
                        if name is not None and name.startswith("n"):
                            delivered = max(delivered, int(name[1:]))
                    recorder.heard.clear()
                else:
                    clear += 1
                    if delivered < completed:
                        late.append((completed, delivered))
                if done:
                    break
            counter.release()
        assert creator.wait(60) == 0
        assert clear > 0
        assert not late, f"{len(late)} clear checks with a completed creation undelivered, first {late[0]}"
    finally:
        watcher.release(str(watched))
        watcher.reset()
