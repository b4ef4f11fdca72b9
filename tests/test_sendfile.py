"""Zero-copy on the wire: under Gunicorn, file bodies leave through sendfile(2).

Gunicorn runs under ``strace -e trace=sendfile``; each request's body must be
one sendfile call with the file offset and byte count of the response: the
whole file for a 200, exactly the range for a single-range 206. That is the
proof that staticwrap handed Gunicorn's ``wsgi.file_wrapper`` the real file,
seeked to the range start (HTTP.md rule 23).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import write
from tests.test_server import fetch, free_port, kill_group, start_app, stop, wait_until_serving

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup installs it)"),
]

LARGE = 300_000
# sendfile(out_fd, in_fd, [offset] => [new offset], count) = sent
_SENDFILE = re.compile(r"sendfile\(\d+, \d+, \[(\d+)\] => \[(\d+)\], (\d+)\) = (\d+)")


class Traced:
    def __init__(self, port: int, trace: Path) -> None:
        self.port = port
        self.trace = trace

    def calls_since(self, mark: int) -> list[tuple[int, int, int]]:
        """(offset, count, sent) of the sendfile calls logged after byte ``mark`` of the trace."""
        # strace writes as the calls return; give the worker a moment to flush.
        deadline = time.monotonic() + 5
        while True:
            text = self.trace.read_text(errors="replace")[mark:]
            calls = [(int(m[1]), int(m[3]), int(m[4])) for m in _SENDFILE.finditer(text)]
            if calls or time.monotonic() > deadline:
                return calls
            time.sleep(0.05)

    def mark(self) -> int:
        return len(self.trace.read_text(errors="replace"))


def gunicorn_master(tracer: subprocess.Popen[bytes]) -> int:
    """The PID of the Gunicorn master that strace started (its only child)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    pytest.fail("strace did not start gunicorn")


def stop_master(master: int, tracer: subprocess.Popen[bytes]) -> None:
    """Stop exactly what we started: Gunicorn gracefully, else its whole process group (strace included)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(master, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        tracer.wait(timeout=10)
    kill_group(tracer)


@pytest.fixture(scope="module", params=["sync", "gthread"])
def traced(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    root = tmp_path_factory.mktemp("sendfile-root")
    write(root, "large.bin", bytes(range(256)) * (LARGE // 256) + bytes(LARGE % 256))
    write(root, "ten.txt", b"0123456789")
    directory = tmp_path_factory.mktemp(f"sendfile-{request.param}")
    trace, log = directory / "trace", directory / "gunicorn.log"
    port = free_port()
    command = [
        "strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(trace),
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", request.param, "--threads", "2",
        "--graceful-timeout", "3",
        "gunicorn_app:application",
    ]  # fmt: skip
    with serve_traced(command, root, port, log):
        yield Traced(port, trace)


@contextlib.contextmanager
def serve_traced(command: list[str], root: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command``, strace starting a server over ``root`` on ``port``, until it serves; stop it after."""
    with log.open("wb") as output:
        process = start_app(command, root, output)
        try:
            master = gunicorn_master(process)
        except BaseException:
            stop(process)
            raise
        try:
            wait_until_serving(process, port, log)
            yield process
        finally:
            # strace passes no signal on: stop the server itself, and strace
            # ends when the processes it traces do.
            stop_master(master, process)


def test_whole_file_goes_out_by_sendfile(traced: Traced) -> None:
    mark = traced.mark()
    response = fetch(traced.port, "/static/large.bin")
    assert (response.status, len(response.body)) == (200, LARGE)
    assert traced.calls_since(mark) == [(0, LARGE, LARGE)]


def test_small_file_is_sent_from_memory_not_by_sendfile(traced: Traced) -> None:
    # ten.txt is within memory_max_file: after its first request (the
    # readiness probe's) it comes from memory. The large file fetched after
    # it marks the end of the trace to look at.
    mark = traced.mark()
    assert fetch(traced.port, "/static/ten.txt").body == b"0123456789"
    assert fetch(traced.port, "/static/large.bin").status == 200
    assert traced.calls_since(mark) == [(0, LARGE, LARGE)]


@pytest.mark.parametrize(
    ("spec", "start", "stop"), [("bytes=1000-1999", 1000, 2000), ("bytes=-500", LARGE - 500, LARGE)]
)
def test_single_range_goes_out_by_sendfile_with_offset_and_count(
    traced: Traced, spec: str, start: int, stop: int
) -> None:
    mark = traced.mark()
    response = fetch(traced.port, "/static/large.bin", [("Range", spec)])
    assert (response.status, response.header("Content-Range")) == (206, f"bytes {start}-{stop - 1}/{LARGE}")
    assert response.body == (bytes(range(256)) * (LARGE // 256) + bytes(LARGE % 256))[start:stop]
    assert traced.calls_since(mark) == [(start, stop - start, stop - start)]
