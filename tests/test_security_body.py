"""Issue 11: a body sent short must end its connection; error answers must not be stored by caches.

Finding 9, under a real Gunicorn (sync and gthread): a file truncated while Gunicorn sendfile()s
it makes sendfile(2) stop at the new end of file, short of the Content-Length already sent. A
client on a keep-alive connection that pipelines its next request must then see the connection
end (EOF before Content-Length bytes: an incomplete response it can tell apart), never the next
response spliced into the first body as if it were file bytes. Before the fix, gthread sent the
next answer after 65,536 of 67,108,864 bytes (file truncated to zero); the sync worker closes every
connection after its response, so it never desynchronised, and is tested as well. A file that does
not change keeps its connection alive (the check costs no sendfile call: tests/test_sendfile.py
counts them). In-process: the body Gunicorn gets still has the file's descriptor, and its close()
reports a truncation, under Django too (whose HttpResponse.close() swallows errors).

412 and 416: RFC 9111 §3 lets a cache store a response with an explicit freshness lifetime (a
``max-age``, ``public``, ``Expires``) whatever its status code, and §4 does not make the request's
``Range`` part of the cache key; so an error answer that carries the file's Cache-Control (a year,
``immutable``, for a hashed name) could be kept by a shared cache and served in place of the
file. 412 and 416 are not heuristically cacheable (RFC 9110 §15.1), and with ``no-store``
(RFC 9111 §5.2.2.5) no cache may keep them at all.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from wsgiref.util import FileWrapper

import pytest
from gunicorn.http.wsgi import FileWrapper as GunicornFileWrapper
from gunicorn.util import has_fileno
from werkzeug.datastructures import Headers

from staticwrap import StaticWrap
from staticwrap.body import ChangedWhileSentError
from tests.conftest import TEN, Result, call, etag_of, make_environ, write
from tests.test_hardening import (
    Gunicorn,
    gunicorn,
    head_field,
    huge_size,
    read_head,
    request_bytes,
    slow_client,
)

# -- finding 9: a file truncated while Gunicorn sendfile()s it ------------------------------------

#: The probe file, and the answer pipelined behind a body cut short.
SMALL = b"the next response, which must never arrive inside a body\n"
#: What each client asks for: the whole file (sendfile from 0), and a single range (sendfile from an offset).
ASKS: dict[str, list[tuple[str, str]]] = {"whole": [], "range": [("Range", "bytes=1000-")]}


def truncations(size: int) -> dict[str, int]:
    """The file's new length: empty, and 100 bytes short of the end (far past all the server sent so far)."""
    return {"to-zero": 0, "short-by-100": size - 100}


def big_size() -> int:
    """Far larger than all a server can have sent ahead of a client that stopped reading."""
    return max(64 * 1024 * 1024, huge_size())


@dataclass(frozen=True)
class Truncatable:
    worker: str
    root: Path
    size: int
    server: Gunicorn


@pytest.fixture(scope="module", params=["sync", "gthread"])
def truncatable(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Truncatable]:
    base = tmp_path_factory.mktemp(f"truncatable-{request.param}")
    root = base / "root"
    root.mkdir()
    (root / "small.txt").write_bytes(SMALL)
    size = big_size()
    names = [f"{ask}-{cut}.bin" for ask in ASKS for cut in truncations(size)] + ["unchanged.bin"]
    for name in names:
        # Sparse: the bytes are zeros, so no HTTP response can be mistaken for them.
        with (root / name).open("wb") as file:
            file.truncate(size)
    with gunicorn(root, base / "server", worker=request.param) as server:
        yield Truncatable(request.param, root, size, server)


def read_until_end_or_next_response(client: socket.socket, received: bytearray) -> bool:
    """Read until EOF (True) or until the small file's answer arrived on the same connection (False)."""
    with contextlib.suppress(ConnectionResetError):
        while chunk := client.recv(1 << 20):
            received += chunk
            if received.endswith(SMALL):
                return False
    return True


@pytest.mark.server
@pytest.mark.parametrize("cut", ["to-zero", "short-by-100"])
@pytest.mark.parametrize("ask", list(ASKS))
def test_a_file_truncated_during_sendfile_ends_the_connection(truncatable: Truncatable, ask: str, cut: str) -> None:
    path = truncatable.root / f"{ask}-{cut}.bin"
    with slow_client(truncatable.server.port) as client:
        client.sendall(request_bytes(f"/static/{path.name}", ASKS[ask]))  # keep-alive: no Connection: close
        head, body = read_head(client, at_least=1)
        # The server is now inside its sendfile() loop, blocked on the client's full window.
        os.truncate(path, truncations(truncatable.size)[cut])
        with contextlib.suppress(OSError):  # a server that closed the connection may refuse it
            client.sendall(request_bytes("/static/small.txt"))
        ended = read_until_end_or_next_response(client, body)
    content_length = int(head_field(head, "Content-Length"))
    assert head.startswith("HTTP/1.1 206" if ask == "range" else "HTTP/1.1 200"), head
    spliced = body.find(b"HTTP/1.1 ")
    assert ended, (
        f"after {spliced} of {content_length} body bytes the next answer came on the same connection, "
        f"inside the body: {bytes(body[spliced : spliced + 60])!r}..."
    )
    assert spliced < 0, f"a response was spliced into the body after {spliced} bytes"
    assert len(body) < content_length, "a body cut short looks complete"


@pytest.mark.server
def test_an_unchanged_file_keeps_the_connection_alive(truncatable: Truncatable) -> None:
    """The check that ends a short body does not end a whole one: keep-alive works as before."""
    if truncatable.worker == "sync":
        pytest.skip("Gunicorn's sync worker closes every connection after its response")
    with slow_client(truncatable.server.port) as client:
        for _ in range(2):
            client.sendall(request_bytes("/static/unchanged.bin", ASKS["range"]))
            head, body = read_head(client)
            content_length = int(head_field(head, "Content-Length"))
            while len(body) < content_length:
                chunk = client.recv(1 << 20)
                assert chunk, f"the connection ended after {len(body)} of {content_length} bytes"
                body += chunk
            assert head.startswith("HTTP/1.1 206"), head
            assert head_field(head, "Connection").lower() == "keep-alive"
            assert body == bytes(truncatable.size - 1000)
        client.sendall(request_bytes("/static/small.txt", close=True))
        head, body = read_head(client, at_least=len(SMALL))
        assert (head.split()[1], bytes(body)) == ("200", SMALL)


# In-process, the body Gunicorn gets as its sendfile() path sees it: a descriptor it may sendfile()
# (Gunicorn's own test, util.has_fileno), and a close() that reports a file no longer whole.

SENDFILE_SIZE = 300_000  # above memory_max_file: read from disk
SENDFILE_RANGES = {"whole": None, "range": "bytes=1000-"}


def gunicorn_body(tmp_path: Path, range_header: str | None) -> tuple[Path, GunicornFileWrapper]:
    path = write(tmp_path / "root", "file.bin", bytes(SENDFILE_SIZE))
    app = StaticWrap(None, tmp_path / "root")
    headers = {} if range_header is None else {"Range": range_header}
    environ = make_environ("/file.bin", headers, environ={"wsgi.file_wrapper": GunicornFileWrapper})
    body = app(environ, lambda status, headers, exc_info=None: lambda data: None)
    assert isinstance(body, GunicornFileWrapper)
    return path, body


@pytest.mark.parametrize("range_header", list(SENDFILE_RANGES.values()), ids=list(SENDFILE_RANGES))
def test_a_body_sent_by_sendfile_closes_quietly_when_the_file_is_whole(
    tmp_path: Path, range_header: str | None
) -> None:
    path, body = gunicorn_body(tmp_path, range_header)
    assert has_fileno(body.filelike), "Gunicorn would not sendfile() this body"
    assert os.fstat(body.filelike.fileno()).st_ino == path.stat().st_ino
    body.close()
    assert body.filelike.closed


@pytest.mark.parametrize("range_header", list(SENDFILE_RANGES.values()), ids=list(SENDFILE_RANGES))
@pytest.mark.parametrize("new_size", [0, SENDFILE_SIZE - 1], ids=["to-zero", "short-by-1"])
def test_a_body_sent_by_sendfile_reports_a_truncated_file_on_close(
    tmp_path: Path, range_header: str | None, new_size: int
) -> None:
    path, body = gunicorn_body(tmp_path, range_header)
    os.truncate(path, new_size)  # while the server sendfile()s it
    with pytest.raises(ChangedWhileSentError):
        body.close()
    assert body.filelike.closed
    body.close()  # once told, closing again (as a finalizer does) is quiet


@pytest.mark.parametrize("mode", ["wsgi", "middleware"])
def test_django_passes_on_a_truncated_file_reported_on_close(tmp_path: Path, mode: str) -> None:
    """Under Django (its WSGI handler, or its middleware stack), the report reaches the server too."""
    pytest.importorskip("django")
    from django.test import override_settings

    from tests.contrib.test_django import Recorder, application_for, start  # Django is optional

    path = write(tmp_path / "static_root", "file.bin", bytes(SENDFILE_SIZE))
    with contextlib.ExitStack() as stack:

        def overrides(**values: object) -> None:
            stack.enter_context(override_settings(**values))

        overrides(STATIC_ROOT=str(path.parent))
        app = application_for(mode, overrides, memory_budget=0)
        recorder = Recorder("gunicorn.http.wsgi")
        _, body = start(app, "/static/file.bin", {"Range": "bytes=1000-"}, **{"wsgi.file_wrapper": recorder})
        ((filelike, _),) = recorder.received
        assert has_fileno(filelike), "Gunicorn would not sendfile() this body"
        os.truncate(path, 0)  # while the server sendfile()s it
        assert isinstance(body, FileWrapper)  # what the recorder returns
        with pytest.raises(ChangedWhileSentError):
            body.close()
        assert filelike.closed


# -- 412 and 416 are not stored by caches ----------------------------------------------------------

#: RFC 9110 §15.1: the status codes a cache may store without explicit freshness.
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
#: Files whose 200s carry each kind of freshness staticwrap gives: max_age, a year for a hashed
#: name (immutable), no-cache for HTML, and a headers= hook's Expires and RFC 9213 CDN-Cache-Control.
ERROR_FILES = {
    "/ten.txt": "public, max-age=60",
    "/app.0123456789ab.js": "public, max-age=31536000, immutable",
    "/page.html": "no-cache",
    "/hooked/ten.txt": "public, max-age=604800",
}
ERRORS = {"412": ({"If-Match": '"other"'}, 412), "416": ({"Range": "bytes=20-"}, 416)}


def hook(headers: Headers, path: str, url: str) -> None:
    if url.startswith("/hooked/"):
        headers["Cache-Control"] = "public, max-age=604800"
        headers["Expires"] = "Thu, 01 Dec 2039 16:00:00 GMT"
        headers["CDN-Cache-Control"] = "max-age=31536000"
        headers["Surrogate-Control"] = "max-age=31536000"


def directives(value: str | None) -> dict[str, str | None]:
    """The directives of a Cache-Control value (RFC 9111 §5.2): lower-case names, unquoted arguments."""
    parsed: dict[str, str | None] = {}
    for item in filter(None, (part.strip() for part in (value or "").split(","))):
        name, equals, argument = item.partition("=")
        parsed[name.strip().lower()] = argument.strip().strip('"') if equals else None
    return parsed


def shared_cache_may_store(result: Result, *, targeted: str | None = None) -> bool:
    """RFC 9111 §3 for a shared cache answering a GET; ``targeted``: the RFC 9213 field it obeys first."""
    field = (targeted and result.header(targeted)) or result.header("Cache-Control")
    given = directives(field)
    if "no-store" in given or "private" in given:  # §5.2.2.5, §5.2.2.7
        return False
    explicit = {"public", "max-age", "s-maxage"} & set(given) or result.header("Expires") is not None
    return bool(explicit) or result.code in HEURISTICALLY_CACHEABLE


@pytest.fixture(scope="module")
def error_app(tmp_path_factory: pytest.TempPathFactory) -> StaticWrap:
    root = tmp_path_factory.mktemp("errors")
    for url in ERROR_FILES:
        write(root, url[1:], TEN)
    return StaticWrap(None, root, headers=hook)


@pytest.mark.parametrize("url", list(ERROR_FILES))
def test_the_files_own_answer_is_storable(error_app: StaticWrap, url: str) -> None:
    """The control: the 200 carries the freshness the file was given, and a cache may keep it."""
    ok = call(error_app, url)
    assert (ok.code, ok.header("Cache-Control")) == (200, ERROR_FILES[url])
    assert shared_cache_may_store(ok)


@pytest.mark.parametrize("error", list(ERRORS))
@pytest.mark.parametrize("url", list(ERROR_FILES))
def test_no_cache_may_store_a_412_or_416(error_app: StaticWrap, url: str, error: str) -> None:
    """RFC 9111 §3: an explicit lifetime would let a shared cache keep the error under the file's URL.

    §4 does not key a stored response on Range or If-Match, so a 416 kept for a year (a hashed
    name's lifetime) would answer every later request for the file. The error keeps what
    describes it: its validator (§8.8.3), Content-Range (§15.5.17), nosniff.
    """
    request_headers, status = ERRORS[error]
    answer = call(error_app, url, request_headers)
    assert answer.code == status
    for targeted in (None, "CDN-Cache-Control", "Surrogate-Control"):
        assert not shared_cache_may_store(answer, targeted=targeted), answer.headers
    assert "no-store" in directives(answer.header("Cache-Control"))  # any cache, private ones too
    assert {"expires", "cdn-cache-control", "surrogate-control"}.isdisjoint(answer.names())
    assert answer.header("ETag") == etag_of(TEN)
    assert answer.body == b""
    if status == 416:
        assert answer.header("Content-Range") == "bytes */10"
        assert answer.header("X-Content-Type-Options") == "nosniff"
