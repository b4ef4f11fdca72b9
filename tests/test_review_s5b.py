"""Review of session 5 (b): the io_uring change check (staticwrap.watch) where it is least exercised.

A multishot poll the kernel ends, a process past :data:`MAX_RINGS` rings
whose threads then end, an event queued before a thread's ring is made, and
a fork from a parent whose other threads hold rings.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from staticwrap.watch import MAX_RINGS, RING_AFTER, WATCHER, Watcher, _load, _load_uring
from tests.conftest import in_forked_child
from tests.test_watch import Recorder, ring_descriptors

pytestmark = pytest.mark.skipif(not WATCHER.available, reason="the watcher needs inotify (Linux)")

_OP_POLL_REMOVE = 7


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[tuple[Watcher, Recorder]]:
    """A watcher of ``tmp_path`` whose threads make their ring at their first check."""
    made = Watcher(_load(), uring=_load_uring())
    made.ring_after = 1
    recorder = Recorder()
    try:
        if not made.use_rings(True):
            pytest.skip("io_uring refused here")
        assert made.watch(str(tmp_path), recorder)
        made.sync()
        yield made, recorder
    finally:
        made.release(str(tmp_path))
        made.reset()


def test_a_poll_the_kernel_ends_is_armed_again_and_later_changes_are_pending(
    tmp_path: Path, watcher: tuple[Watcher, Recorder]
) -> None:
    # A multishot poll ends with a completion without IORING_CQE_F_MORE (the
    # kernel cancels it, or it could not post a completion): the next sync
    # must arm it again, or the thread's flag would never be set again.
    made, recorder = watcher
    ring = made._threads.ring
    assert ring is not None
    words, tail = ring._words, ring._words[ring._sq_tail]
    index = tail & ring._sq_mask
    # IORING_OP_POLL_REMOVE of the poll (user_data 0, which _arm gives it).
    removal = struct.pack("=BBHiQQIIQ24x", _OP_POLL_REMOVE, 0, 0, -1, 0, 0, 0, 0, 1)
    ring._sqes[16 * index : 16 * index + 16] = memoryview(removal).cast("I")
    words[ring._sq_array + index] = index
    words[ring._sq_tail] = (tail + 1) & 0xFFFFFFFF
    assert ring._uring.enter(ring.fd, 1, 0) == 1
    made.sync()
    assert made._threads.ring is ring  # not given up for epoll
    for number in range(3):
        (tmp_path / f"n{number}").write_bytes(b"x")
        assert made.pending()
        made.sync()
        assert not made.pending()
        assert (str(tmp_path), f"n{number}") in recorder.heard


def test_an_event_queued_before_a_threads_ring_is_made_is_pending_at_its_first_ring_check(
    tmp_path: Path, watcher: tuple[Watcher, Recorder]
) -> None:
    # The poll is edge-triggered: armed on a descriptor already readable, it
    # must still set the flag, or the event would wait for the next one.
    made, _ = watcher
    (tmp_path / "before").write_bytes(b"x")
    seen: list[bool] = []

    def first_check() -> None:
        seen.append(bool(made.pending()))
        seen.append(made._threads.ring is not None)

    thread = threading.Thread(target=first_check)
    thread.start()
    thread.join(60)
    assert seen == [True, True]


def test_past_max_rings_threads_ask_epoll_and_the_rings_of_threads_that_ended_are_freed(
    tmp_path: Path, watcher: tuple[Watcher, Recorder]
) -> None:
    made, _ = watcher
    before = ring_descriptors()
    release = threading.Event()
    asked = threading.Barrier(MAX_RINGS + 3)
    rings: list[bool] = []
    pending: list[bool] = []

    def hold() -> None:
        made.pending()
        rings.append(made._threads.ring is not None)
        asked.wait(60)
        release.wait(60)
        pending.append(bool(made.pending()))  # the change below, through a ring or epoll

    threads = [threading.Thread(target=hold) for _ in range(MAX_RINGS + 2)]
    for thread in threads:
        thread.start()
    asked.wait(60)
    # The main thread holds one ring (use_rings): MAX_RINGS - 1 threads more have one.
    assert sorted(rings) == [False] * 3 + [True] * (MAX_RINGS - 1)
    (tmp_path / "new").write_bytes(b"x")
    release.set()
    for thread in threads:
        thread.join(60)
    assert pending == [True] * len(threads)
    assert ring_descriptors() == before
    made.sync()

    def later() -> None:
        made.pending()
        rings.append(made._threads.ring is not None)

    thread = threading.Thread(target=later)
    thread.start()
    thread.join(60)
    assert rings[-1]


def test_a_fork_from_a_threaded_parent_closes_every_threads_ring_and_the_child_sees_changes(tmp_path: Path) -> None:
    recorder = Recorder()
    WATCHER.ring_after = 1
    release = threading.Event()
    asked = threading.Barrier(4)

    def hold() -> None:
        WATCHER.pending()
        asked.wait(60)
        release.wait(60)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    try:
        if not WATCHER.use_rings(True):
            pytest.skip("io_uring refused here")
        for thread in threads:
            thread.start()
        asked.wait(60)
        assert ring_descriptors() >= 4

        def in_child() -> list[bool]:
            seen = [ring_descriptors() == 0]
            child = Recorder()
            seen.append(WATCHER.watch(str(tmp_path), child))
            WATCHER.sync()
            seen.append(not WATCHER.pending())  # the first check makes the child's ring
            seen.append(ring_descriptors() == 1)
            (tmp_path / "in-child").write_bytes(b"x")
            seen.append(bool(WATCHER.pending()))
            WATCHER.sync()
            seen.append((str(tmp_path), "in-child") in child.heard)
            return seen

        assert in_forked_child(in_child) == [True] * 6
        assert WATCHER.watch(str(tmp_path), recorder)
        try:
            WATCHER.sync()
            (tmp_path / "in-parent").write_bytes(b"x")
            assert WATCHER.pending()  # the parent's ring survived the child's closing its copy
            WATCHER.sync()
            assert (str(tmp_path), "in-parent") in recorder.heard
        finally:
            WATCHER.release(str(tmp_path))
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
        WATCHER.ring_after = RING_AFTER
        WATCHER.use_rings(True)
