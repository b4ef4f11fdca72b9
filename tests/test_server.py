"""The middleware behind real servers on 127.0.0.1: what reaches the wire.

Each server of tests/servers.py (Gunicorn's sync and gthread workers,
uvicorn, Hypercorn, Granian, ...) runs as a subprocess serving
tests/apps/gunicorn_app.py or its ASGI twin; wsgiref's simple server runs in a thread. Raw
sockets are used wherever the exact bytes matter: a body longer than its
Content-Length, or a body on a HEAD or a 304, would only show there.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import IO
from wsgiref.simple_server import WSGIRequestHandler, make_server

import brotli
import pytest

import staticwrap
from staticwrap import StaticWrap
from tests.conftest import MTIME, TEN, downstream, write
from tests.servers import SERVERS, require

pytestmark = pytest.mark.server

APPS = Path(__file__).resolve().parent / "apps"
#: Where this process imported staticwrap from (the checkout, or site-packages
#: under tox): the servers started here must import the same one.
STATICWRAP_HOME = Path(staticwrap.__file__ or "").resolve().parents[1]
#: Every blocking socket operation and every wait on a process is bounded by this.
TIMEOUT = 10.0
STARTUP_TIMEOUT = 15.0

#: The content of files placed next to the served root: never to be sent.
SECRET = b"secret: outside the served root\n"
LARGE_SIZE = 3 * 1024 * 1024 + 12_345
CSS = b"".join(
    f".c{i} {{ color: #{i * 2654435761 % 0xFFFFFF:06x}; margin: {i % 7}px; }}\n".encode() for i in range(2000)
)
INDEX_HTML = b"<!doctype html><title>sub</title>\n"
#: Downstream answer of tests/apps/gunicorn_app.py.
APP_BODY = b"app"
# ETag = [ W/ ] DQUOTE *etagc DQUOTE (RFC 9110 §8.8.3); a strong one has no W/.
STRONG_ETAG = re.compile(rb'"[\x21\x23-\x7e\x80-\xff]*"')


@dataclass(frozen=True)
class Site:
    base: Path
    root: Path
    large: bytes


@dataclass(frozen=True)
class Server:
    port: int
    name: str


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class RawClient:
    """One TCP connection speaking HTTP/1.1 by hand."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = bytearray()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def send(self, method: str, target: str, headers: Sequence[tuple[str, str]] = (), close: bool = False) -> None:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers]
        if close:
            lines.append("Connection: close")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _fill(self) -> bool:
        chunk = self.sock.recv(256 * 1024)
        self.buffer += chunk
        return bool(chunk)

    def read_response(self, method: str = "GET") -> RawResponse:
        """Read one response: its head, then exactly Content-Length bytes of body."""
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed inside a response head: {bytes(self.buffer)!r}"
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        status_line, *field_lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        assert version in {"HTTP/1.0", "HTTP/1.1"}, status_line
        headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in field_lines)]
        response = RawResponse(int(status), headers, b"")
        self.buffer = bytearray(rest)
        if method == "HEAD" or response.status in {204, 304}:
            return response
        content_length = response.header("Content-Length")
        assert content_length is not None, f"no Content-Length: {headers}"
        length = int(content_length)
        while len(self.buffer) < length:
            assert self._fill(), f"connection closed after {len(self.buffer)} of {length} body bytes"
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return RawResponse(response.status, headers, body)

    def read_rest(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        while self._fill():
            pass
        rest = bytes(self.buffer)
        self.buffer.clear()
        return rest


def exchange(
    port: int, target: str, headers: Sequence[tuple[str, str]] = (), method: str = "GET"
) -> tuple[RawResponse, bytes]:
    """Send one request with ``Connection: close``; the response, and any bytes after its body."""
    with RawClient(port) as client:
        client.send(method, target, headers, close=True)
        response = client.read_response(method)
        return response, client.read_rest()


def fetch(port: int, target: str, headers: Sequence[tuple[str, str]] = (), method: str = "GET") -> RawResponse:
    """:func:`exchange`, checking that nothing follows the body's Content-Length bytes."""
    response, extra = exchange(port, target, headers, method)
    assert extra == b"", f"{len(extra)} bytes past the end of the response: {extra[:80]!r}"
    return response


# -- the servers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    base = tmp_path_factory.mktemp("site")
    root = base / "root"
    write(root, "ten.txt", TEN)
    large = os.urandom(LARGE_SIZE)
    write(root, "large.bin", large)
    write(root, "app.css", CSS)
    write(root, "app.css.gz", gzip.compress(CSS, 9, mtime=0))
    write(root, "app.css.br", brotli.compress(CSS))
    write(root, "sub/index.html", INDEX_HTML)
    # Targets of the traversal attempts: beside the root, not in it.
    write(base, "conftest.py", SECRET)
    write(base, "x", SECRET)
    return Site(base, root, large)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Stop exactly what this process started: SIGTERM, then SIGKILL to its whole process group.

    Servers are started with ``start_new_session=True``, so the group holds
    the server and its workers and nothing else: a Gunicorn master killed
    alone would leave its workers running.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            kill_group(process)
    kill_group(process)  # workers that outlived their master, if any


def kill_group(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGKILL the process group ``process`` leads (one started with ``start_new_session=True``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=TIMEOUT)


def wait_until_serving(process: subprocess.Popen[bytes], port: int, log: Path, path: str = "/static/ten.txt") -> None:
    """Wait (bounded) until the server answers 200 to a GET of ``path``."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    pytest.fail(f"the server did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Each server of tests/servers.py serving tests/apps/gunicorn_app.py (or asgi_app.py) over ``site.root``."""
    name: str = request.param
    launcher = SERVERS[name]
    require(launcher.requires)
    port = free_port()
    log_path = tmp_path_factory.mktemp(name) / "server.log"
    with serving(launcher.argv(port), site.root, port, log_path):
        yield Server(port, name)


def start_app(command: list[str], root: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start ``command`` in tests/apps, in a session of its own, serving tests/apps/gunicorn_app.py over ``root``."""
    python_path = os.pathsep.join(filter(None, [str(APPS), str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "STATICWRAP_TEST_ROOT": str(root), "PYTHONPATH": python_path}
    return subprocess.Popen(command, cwd=APPS, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.contextmanager
def serving(command: list[str], root: Path, port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`start_app`, until it answers on ``port``; stopped (its whole group) on the way out."""
    with open(log_path, "wb") as log:
        process = start_app(command, root, log)
        try:
            wait_until_serving(process, port, log_path)
            yield process
        finally:
            stop(process)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def wsgiref_server(site: Site) -> Iterator[Server]:
    app = StaticWrap(downstream, site.root, prefix="/static/")
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(server.server_port, "wsgiref")
    finally:
        server.shutdown()
        thread.join(timeout=TIMEOUT)
        server.server_close()
    assert not thread.is_alive()


def http_get(
    server: Server, target: str, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


# -- full responses --------------------------------------------------------------


def test_get_small_file_sends_body_and_headers(server: Server) -> None:
    response, body = http_get(server, "/static/ten.txt")

    assert response.status == 200
    assert body == TEN
    assert response.getheader("Content-Length") == "10"
    assert response.getheader("Accept-Ranges") == "bytes"
    assert STRONG_ETAG.fullmatch(response.getheader("ETag", "").encode("latin-1"))
    assert response.getheader("Last-Modified") == formatdate(MTIME, usegmt=True)
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"


def test_get_large_file_sends_exactly_its_bytes(server: Server, site: Site) -> None:
    response = fetch(server.port, "/static/large.bin")

    assert response.status == 200
    assert response.header("Content-Length") == str(LARGE_SIZE)
    assert response.body == site.large
    assert response.header("Accept-Ranges") == "bytes"


def test_head_has_get_headers_and_no_body(server: Server) -> None:
    get = fetch(server.port, "/static/ten.txt")
    head = fetch(server.port, "/static/ten.txt", method="HEAD")

    assert head.status == 200
    assert head.body == b""
    assert sorted(h for h in head.headers if h[0].lower() != "date") == sorted(
        h for h in get.headers if h[0].lower() != "date"
    )


# -- ranges ---------------------------------------------------------------------

RANGES = [
    pytest.param("bytes=0-65535", 0, 65_536, id="start"),
    pytest.param("bytes=1000000-1999999", 1_000_000, 2_000_000, id="middle"),
    pytest.param("bytes=-70000", LARGE_SIZE - 70_000, LARGE_SIZE, id="suffix"),
]


@pytest.mark.parametrize(("spec", "start", "stop"), RANGES)
def test_range_large_file_sends_exactly_the_range(server: Server, site: Site, spec: str, start: int, stop: int) -> None:
    response = fetch(server.port, "/static/large.bin", [("Range", spec)])

    assert response.status == 206
    assert response.header("Content-Range") == f"bytes {start}-{stop - 1}/{LARGE_SIZE}"
    assert response.header("Content-Length") == str(stop - start)
    assert response.header("Accept-Ranges") == "bytes"
    assert response.body == site.large[start:stop]


def parse_byteranges(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart body (RFC 2046 §5.1.1) into (part headers, part data)."""
    delimiter = b"\r\n--" + boundary.encode("ascii")
    # The first delimiter may start the body, without the CRLF before it.
    preamble, *parts, epilogue = (b"\r\n" + body).split(delimiter)
    assert preamble == b""
    assert epilogue == b"--\r\n"
    parsed = []
    for part in parts:
        assert part.startswith(b"\r\n")
        head, separator, data = part[2:].partition(b"\r\n\r\n")
        assert separator
        fields = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n"))
        parsed.append(({name.lower(): value for name, value in fields.items()}, data))
    return parsed


def test_range_several_sends_byteranges_in_request_order(server: Server, site: Site) -> None:
    content_type = fetch(server.port, "/static/large.bin", method="HEAD").header("Content-Type")
    spec = "bytes=2000000-2000099,0-9,-20"

    response = fetch(server.port, "/static/large.bin", [("Range", spec)])

    assert response.status == 206
    media_type = response.header("Content-Type") or ""
    match = re.fullmatch(r"multipart/byteranges; ?boundary=(\S+)", media_type)
    assert match, media_type
    assert response.header("Content-Range") is None
    assert response.header("Content-Length") == str(len(response.body))
    expected = [(2_000_000, 2_000_100), (0, 10), (LARGE_SIZE - 20, LARGE_SIZE)]
    parts = parse_byteranges(response.body, match.group(1).strip('"'))
    assert [headers["content-range"] for headers, _ in parts] == [
        f"bytes {start}-{stop - 1}/{LARGE_SIZE}" for start, stop in expected
    ]
    assert [data for _, data in parts] == [site.large[start:stop] for start, stop in expected]
    assert all(headers["content-type"] == content_type for headers, _ in parts)


def test_range_unsatisfiable_returns_416_with_complete_length(server: Server) -> None:
    response = fetch(server.port, "/static/ten.txt", [("Range", "bytes=20-")])

    assert response.status == 416
    assert response.header("Content-Range") == "bytes */10"
    assert response.header("ETag") is not None


def test_keepalive_second_request_after_range_is_correct(server: Server, site: Site) -> None:
    if not SERVERS[server.name].keepalive:
        pytest.skip(f"{server.name} closes the connection after every response")
    with RawClient(server.port) as client:
        client.send("GET", "/static/large.bin", [("Range", "bytes=1000-1999")])
        first = client.read_response()
        client.send("GET", "/static/ten.txt", [("Range", "bytes=2-4")])
        second = client.read_response()
        client.send("GET", "/static/ten.txt", close=True)
        third = client.read_response()
        rest = client.read_rest()

    assert (first.status, first.body) == (206, site.large[1000:2000])
    assert (second.status, second.body) == (206, b"234")
    assert (third.status, third.body) == (200, TEN)
    assert rest == b""


# -- preconditions, codings, methods ---------------------------------------------


def test_if_none_match_etag_returns_304_without_body(server: Server) -> None:
    etag = fetch(server.port, "/static/ten.txt").header("ETag")
    assert etag is not None

    response = fetch(server.port, "/static/ten.txt", [("If-None-Match", etag)])

    assert response.status == 304
    assert response.body == b""
    assert response.header("ETag") == etag
    assert response.header("Content-Type") is None


@pytest.mark.parametrize(
    ("coding", "decode"),
    [pytest.param("gzip", gzip.decompress, id="gzip"), pytest.param("br", brotli.decompress, id="br")],
)
def test_accept_encoding_sends_coded_variant(server: Server, coding: str, decode: Callable[[bytes], bytes]) -> None:
    identity = fetch(server.port, "/static/app.css")

    response = fetch(server.port, "/static/app.css", [("Accept-Encoding", coding)])

    assert response.status == 200
    assert response.header("Content-Encoding") == coding
    assert "accept-encoding" in (response.header("Vary") or "").lower()
    assert response.header("Content-Length") == str(len(response.body))
    assert len(response.body) < len(CSS)
    assert decode(response.body) == CSS
    assert response.header("ETag") != identity.header("ETag")


def test_accept_encoding_absent_sends_identity_with_vary(server: Server) -> None:
    response = fetch(server.port, "/static/app.css")

    assert response.status == 200
    assert response.header("Content-Encoding") is None
    assert "accept-encoding" in (response.header("Vary") or "").lower()
    assert response.body == CSS


def test_post_returns_405_with_allow(server: Server) -> None:
    response, _ = http_get(server, "/static/ten.txt", method="POST", body=b"x")

    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD"


def test_directory_without_slash_redirects_to_slash(server: Server) -> None:
    response, _ = http_get(server, "/static/sub")

    assert response.status == 302
    assert response.getheader("Location") == "sub/"


def test_directory_with_slash_sends_index_file(server: Server) -> None:
    response, body = http_get(server, "/static/sub/")

    assert response.status == 200
    assert body == INDEX_HTML


@pytest.mark.parametrize("target", ["/elsewhere", "/static/missing.txt", "/static/app.css.gz"])
def test_unindexed_path_reaches_downstream_app(server: Server, target: str) -> None:
    response, body = http_get(server, target)

    assert response.status == 200
    assert body == APP_BODY


TRAVERSALS = [
    "/static/../conftest.py",
    "/static/%2e%2e/conftest.py",
    "/static/%2e%2e/x",
    "/static/..%2fx",
    "/static/..%2f..%2fx",
    "/static/%5c..%5cx",
    "/static/%252e%252e/x",
    "/static//ten.txt",
    "/static/ten.txt%00",
    "/static/ten.txt%00.css",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_never_leaves_the_root(server: Server, target: str) -> None:
    response = fetch(server.port, target)

    assert response.status < 500
    assert SECRET not in response.body
    # Anything but an error is the downstream app or a file inside the root.
    assert response.status >= 400 or response.body in {APP_BODY, TEN}


# -- wsgiref: a file_wrapper that reads to EOF ---------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("bytes=2-4", TEN[2:5], id="middle"),
        pytest.param("bytes=0-0", TEN[:1], id="first-byte"),
        pytest.param("bytes=-3", TEN[7:], id="suffix"),
        pytest.param("bytes=7-", TEN[7:], id="open-ended"),
    ],
)
def test_wsgiref_single_range_is_bounded(wsgiref_server: Server, spec: str, expected: bytes) -> None:
    response = fetch(wsgiref_server.port, "/static/ten.txt", [("Range", spec)])

    assert response.status == 206
    assert response.header("Content-Length") == str(len(expected))
    assert response.body == expected


def test_wsgiref_large_middle_range_is_bounded(wsgiref_server: Server, site: Site) -> None:
    response = fetch(wsgiref_server.port, "/static/large.bin", [("Range", "bytes=100000-299999")])

    assert response.status == 206
    assert response.header("Content-Range") == f"bytes 100000-299999/{LARGE_SIZE}"
    assert response.body == site.large[100_000:300_000]
