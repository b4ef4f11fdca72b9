"""File bodies under Waitress, on the wire: a slow client does not make Waitress copy the body.

Waitress sends a ``wsgi.file_wrapper`` body that it can seek from its I/O
thread, reading the file as the socket drains; any other body is iterated by
its worker thread into an output buffer that spills to temporary files. The
bytes the server process writes (``wchar`` of ``/proc/<pid>/io``: sockets and
files alike) while clients stall show which one it did.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import write
from tests.servers import require, settled, stalled_clients
from tests.test_server import TIMEOUT, fetch, free_port, serving

pytestmark = pytest.mark.server

MIB = 1024 * 1024
LARGE = 20 * MIB


@dataclass(frozen=True)
class Waitress:
    port: int
    pid: int
    large: Path
    root: Path

    def written(self) -> int:
        """Bytes the server has written so far, to sockets and files."""
        fields = dict(line.split(": ") for line in Path(f"/proc/{self.pid}/io").read_text().splitlines())
        return int(fields["wchar"])


@pytest.fixture(scope="module")
def waitress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Waitress]:
    require("waitress")
    root = tmp_path_factory.mktemp("waitress-root")
    large = write(root, "large.bin", os.urandom(LARGE))
    write(root, "truncate-me.bin", os.urandom(LARGE))
    write(root, "ten.txt", b"0123456789")
    log = tmp_path_factory.mktemp("waitress-log") / "waitress.log"
    port = free_port()
    command = [sys.executable, "-m", "waitress", "--listen", f"127.0.0.1:{port}", "gunicorn_app:application"]
    with serving(command, root, port, log) as process:
        yield Waitress(port, process.pid, large, root)


def test_stalled_clients_do_not_make_waitress_copy_bodies(waitress: Waitress) -> None:
    clients = 4
    response = fetch(waitress.port, "/static/large.bin")
    assert hashlib.sha256(response.body).digest() == hashlib.sha256(waitress.large.read_bytes()).digest()
    before = waitress.written()
    with stalled_clients(waitress.port, "/static/large.bin", clients):
        # The server has done all it will for stalled clients once it stops writing.
        grown = settled(waitress.written) - before
    # Copying each body into an output buffer writes clients × LARGE bytes;
    # sending from the file writes only what the stalled sockets took.
    assert grown < LARGE, f"{grown / MIB:.1f} MiB written with {clients} stalled clients"


def test_a_file_truncated_mid_body_ends_the_connection_early(waitress: Waitress) -> None:
    path = waitress.root / "truncate-me.bin"
    with socket.create_connection(("127.0.0.1", waitress.port), timeout=TIMEOUT) as client:
        client.sendall(b"GET /static/truncate-me.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = client.recv(64 * 1024)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"Content-Length: %d" % LARGE in head
        # The server is inside the file now: far more than the socket buffers hold is left.
        os.truncate(path, LARGE // 2)
        # A request behind it must not be read as the rest of this body.
        client.sendall(b"GET /static/ten.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):
            while len(body) < LARGE and (chunk := client.recv(1 << 20)):
                body += chunk
    assert len(body) < LARGE, "a truncated file was sent as a complete-looking body"
