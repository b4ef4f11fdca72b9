"""File bodies under a server without ``wsgi.file_wrapper``: Granian's WSGI interface, on the wire.

staticwrap reads such bodies itself. Granian runs under
``strace -f -e trace=openat,read,close``; the reads on the served file's
descriptor show how it is read: in large blocks (few system calls), each
bounded (memory), and for a range exactly the range's bytes. The worker's
resident memory while clients stall in the middle of a 20 MiB body shows that
no body is held whole.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import write
from tests.servers import require, require_command, settled, stalled_clients
from tests.test_sendfile import serve_traced
from tests.test_server import TIMEOUT, fetch, free_port

pytestmark = pytest.mark.server

MIB = 1024 * 1024
LARGE = 20 * MIB
#: The least a read of a large body should ask for (the issue's "large reads").
LARGE_READ = 256 * 1024
#: The most one read may ask for: a bound on what one response holds at once.
MOST_READ = MIB
#: openat(AT_FDCWD, "/path", ...) = fd ; read(fd, "..."..., asked) = got ; close(fd) = 0
# strace pads short calls with spaces before the "=", and a call it split in
# two (see _calls) is joined with a space before its closing parenthesis.
_OPEN = re.compile(r'openat\([^,]+, "([^"]+)", [^)]*\)\s*= (\d+)')
_READ = re.compile(r"read\((\d+),.*, (\d+)\)\s*= (\d+)$")
_CLOSE = re.compile(r"close\((\d+)\s*\)\s*= 0")


@dataclass(frozen=True)
class Read:
    asked: int
    got: int


@dataclass(frozen=True)
class Traced:
    port: int
    trace: Path
    tracer: subprocess.Popen[bytes]
    large: Path

    def mark(self) -> int:
        return self.trace.stat().st_size

    def reads_of(self, mark: int, path: Path) -> list[Read]:
        """The reads made on ``path``'s descriptor from its open to its close, logged after byte ``mark``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            lines = self.trace.read_bytes()[mark:].decode(errors="replace").splitlines()
            reads = _reads(lines, str(path))
            if reads is not None or time.monotonic() > deadline:
                assert reads is not None, f"no open and close of {path} in the trace"
                return reads
            time.sleep(0.05)

    def resident_bytes(self) -> int:
        """VmRSS of every process strace started (Granian's main process and its worker)."""
        total = 0
        for pid in _descendants(self.tracer.pid):
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) * 1024  # type: ignore[index]
        return total


def _calls(lines: list[str]) -> Iterator[str]:
    """Each system call of the trace whole: strace splits one that another thread interrupts in two."""
    pending: dict[str, str] = {}
    for line in lines:
        thread, _, call = line.strip().partition(" ")  # each line starts with the thread's id
        call = call.strip()
        if call.endswith("<unfinished ...>"):
            pending[thread] = call.removesuffix("<unfinished ...>")
        elif call.startswith("<... "):
            yield pending.pop(thread, "") + call.partition(" resumed>")[2]
        else:
            yield call


def _reads(lines: list[str], path: str) -> list[Read] | None:
    """The reads on the descriptor ``path`` was opened as, or ``None`` until it is closed."""
    descriptor: str | None = None
    reads: list[Read] = []
    for call in _calls(lines):
        if descriptor is None:
            opened = _OPEN.match(call)
            if opened is not None and opened[1] == path:
                descriptor = opened[2]
            continue
        read = _READ.match(call)
        if read is not None and read[1] == descriptor:
            reads.append(Read(int(read[2]), int(read[3])))
        closed = _CLOSE.match(call)
        if closed is not None and closed[1] == descriptor:
            return reads
    return None


def _descendants(pid: int) -> list[int]:
    children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [*children, *(grandchild for child in children for grandchild in _descendants(child))]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    require("granian")
    strace = require_command("strace")
    root = tmp_path_factory.mktemp("granian-root")
    large = write(root, "large.bin", os.urandom(LARGE))
    write(root, "ten.txt", b"0123456789")
    # Not beside the root: the body cache watches the root's parent, and a
    # trace written there would record its own events without end.
    directory = tmp_path_factory.mktemp("granian-trace")
    trace, log = directory / "trace", directory / "granian.log"
    trace.touch()
    port = free_port()
    command = [
        strace, "-f", "-qq", "-e", "trace=openat,read,close", "-e", "signal=none", "-o", str(trace),
        sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-ws", "--log-level", "warning",
        "gunicorn_app:application",
    ]  # fmt: skip
    with serve_traced(command, root, port, log) as process:
        yield Traced(port, trace, process, large)


def test_large_body_is_read_in_large_bounded_blocks(traced: Traced) -> None:
    expected = hashlib.sha256(traced.large.read_bytes()).hexdigest()
    mark = traced.mark()
    response = fetch(traced.port, "/static/large.bin")

    assert response.status == 200
    assert hashlib.sha256(response.body).hexdigest() == expected
    reads = traced.reads_of(mark, traced.large)
    assert sum(read.got for read in reads) == LARGE
    assert max(read.asked for read in reads) <= MOST_READ
    # Every read but the last fills a large block: few system calls.
    assert all(read.got >= LARGE_READ for read in reads[:-1]), sorted({read.got for read in reads})
    assert len(reads) <= -(-LARGE // LARGE_READ) + 1


@pytest.mark.parametrize(("start", "stop"), [(MIB, 2 * MIB), (5 * MIB + 12_345, 5 * MIB + 12_345 + 700_000)])
def test_range_reads_exactly_its_bytes(traced: Traced, start: int, stop: int) -> None:
    expected = traced.large.read_bytes()[start:stop]
    mark = traced.mark()
    response = fetch(traced.port, "/static/large.bin", [("Range", f"bytes={start}-{stop - 1}")])

    assert response.status == 206
    assert response.body == expected
    reads = traced.reads_of(mark, traced.large)
    # Not a byte past the range is asked for, and in few calls.
    assert sum(read.asked for read in reads) == stop - start
    assert sum(read.got for read in reads) == stop - start
    assert len(reads) <= -(-(stop - start) // LARGE_READ)


def test_stalled_clients_do_not_hold_whole_bodies(traced: Traced) -> None:
    clients = 4
    assert fetch(traced.port, "/static/large.bin").status == 200  # warm: the same path once through
    before = traced.resident_bytes()
    with stalled_clients(traced.port, "/static/large.bin", clients):
        settled(traced.mark)  # the server has read ahead as far as it will: its reads stopped
        grown = traced.resident_bytes() - before
    # Had each response held its body whole, the worker would have grown by
    # clients × LARGE; it holds a few blocks each.
    assert grown < LARGE, f"{grown / MIB:.1f} MiB more resident with {clients} stalled clients"
