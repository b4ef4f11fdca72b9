"""The servers the benchmark starts: each in its own session, stopped as a process group, every wait bounded.

CPU time is read from ``/proc/<pid>/stat`` (utime + stime) of every process
in the server's group (the Gunicorn master and its worker, or the nginx master
and its worker), so the server's CPU per request is the difference before and
after a load run divided by the requests done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A server process started by the benchmark, listening on 127.0.0.1:``port``."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def group_pids(self) -> frozenset[int]:
        """The live processes of the server's process group."""
        return frozenset(pid for pid, _ in _group_stats(self.process.pid))

    def cpu_seconds(self) -> tuple[float, frozenset[int]]:
        """utime + stime of the group's processes, and which processes they were."""
        stats = list(_group_stats(self.process.pid))
        ticks = sum(ticks for _, ticks in stats)
        return ticks / _TICKS_PER_SECOND, frozenset(pid for pid, _ in stats)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL what is left after ``timeout`` seconds."""
        group = self.process.pid
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Workers may outlive a master that exited first: the whole group goes.
        deadline = time.monotonic() + timeout
        while _group_stats(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_stats(group):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)


def start(name: str, command: Sequence[str], port: int, log: Path, *, env: dict[str, str] | None = None) -> Server:
    """Start ``command`` in a new session and wait (bounded) until it accepts connections on ``port``."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    server = Server(name, port, process, log)
    try:
        wait_listening(server, timeout=20.0)
    except BaseException:
        server.stop()
        raise
    return server


def wait_listening(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1.0):
            return
        time.sleep(0.05)
    raise RuntimeError(
        f"{server.name} did not listen on port {server.port} within {timeout:.0f} s:\n{server.log_tail()}"
    )


@contextlib.contextmanager
def stopping(servers: list[Server]) -> Iterator[list[Server]]:
    """Stop every server in ``servers`` (also those appended inside the block) on the way out."""
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def _group_stats(group: int) -> list[tuple[int, int]]:
    """(pid, utime + stime in ticks) of each live process whose process group is ``group``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                text = file.read()
        except OSError:
            continue  # it exited meanwhile
        # The command name may hold spaces and parentheses: the fields start after the last ")".
        fields = text[text.rindex(b")") + 2 :].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == group and fields[0] != b"Z":
            found.append((int(entry), int(fields[11]) + int(fields[12])))
    return found
