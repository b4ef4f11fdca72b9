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
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import write
from tests.servers import require
from tests.test_server import APPS, STATICWRAP_HOME, TIMEOUT, fetch, free_port, stop, wait_until_serving

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
    python_path = os.pathsep.join(filter(None, [str(APPS), str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "STATICWRAP_TEST_ROOT": str(root), "PYTHONPATH": python_path}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=APPS, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_serving(process, port, log)
            yield Waitress(port, process.pid, large, root)
        finally:
            stop(process)


def test_stalled_clients_do_not_make_waitress_copy_bodies(waitress: Waitress) -> None:
    clients = 4
    response = fetch(waitress.port, "/static/large.bin")
    assert hashlib.sha256(response.body).digest() == hashlib.sha256(waitress.large.read_bytes()).digest()
    before = waitress.written()
    sockets = []
    try:
        for _ in range(clients):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # takes little, then stalls
            client.settimeout(TIMEOUT)
            client.connect(("127.0.0.1", waitress.port))
            client.sendall(b"GET /static/large.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert client.recv(64).startswith(b"HTTP/1.1 200")
            sockets.append(client)
        # Until the server stops writing: it has done all it will for stalled clients.
        written = waitress.written()
        for _ in range(int(TIMEOUT / 0.2)):
            time.sleep(0.2)
            if waitress.written() == written:
                break
            written = waitress.written()
        grown = written - before
    finally:
        for client in sockets:
            client.close()
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
