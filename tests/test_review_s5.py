"""Review of session 5: the ASGI page-cache reads and the build's ``unkept`` record."""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import tracemalloc
from pathlib import Path

import pytest

from staticwrap.asgi import READ_SIZE, Message, StaticWrapASGI
from tests.test_asgi import make_scope, page_cache_readable
from tests.test_build import make_tree, run


def test_responses_waiting_on_slow_clients_hold_one_block_each(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(4 * READ_SIZE))
    if not page_cache_readable(path):
        pytest.skip("this file system cannot say what the page cache holds: every block is read in threads")
    app = StaticWrapASGI(None, tmp_path)
    count = 20

    async def stall_all() -> int:
        """``count`` responses each stuck in a send (clients that do not read); the bytes held meanwhile."""
        forever = asyncio.Event()
        stalled = asyncio.Semaphore(0)

        async def receive() -> Message:
            await forever.wait()
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body":
                stalled.release()
                await forever.wait()

        scope = make_scope("GET", "/big.bin", [], None)
        tasks = [asyncio.ensure_future(app(dict(scope), receive, send)) for _ in range(count)]
        for _ in range(count):
            await stalled.acquire()
        held = tracemalloc.get_traced_memory()[0]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return held

    tracemalloc.start()
    try:
        held = asyncio.run(stall_all())
    finally:
        tracemalloc.stop()

    # Each holds the block it is sending, as with reads in threads; not a
    # second buffer of its own for the whole response.
    assert held < count * READ_SIZE * 1.5


def processes_started(action: object) -> int:
    """How many compression processes ``action`` (a build) started, seen by the profiler."""
    profiler = cProfile.Profile()
    profiler.runcall(action)  # type: ignore[arg-type]
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return sum(
        calls
        for (filename, _, name), (calls, *_) in stats.items()
        if name == "_spawn_process" and filename.endswith(os.path.join("concurrent", "futures", "process.py"))
    )


def test_an_unchanged_rebuild_with_an_empty_file_starts_no_compression_process(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"empty.js": b"", "noise.js": os.urandom(5000), "app.css": "a{color:red}\n" * 99})
    dest = tmp_path / "dest"
    assert processes_started(lambda: run(src, dest, jobs=2)) > 0

    assert processes_started(lambda: run(src, dest, jobs=2)) == 0
