"""Shared fixtures: real files on disk, and the middleware under WebTest."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from wsgiref.util import FileWrapper

import pytest
from webtest import TestApp

import staticwrap
from staticwrap import StaticWrap
from staticwrap.asset import Asset
from staticwrap.index import path_info_of
from staticwrap.watch import RING_AFTER, WATCHER

if os.environ.get("STATICWRAP_EXPECT_INSTALLED") and "site-packages" not in (staticwrap.__file__ or ""):
    raise RuntimeError(f"tox must test the installed package, but staticwrap was imported from {staticwrap.__file__}")

#: The 10-byte file of HTTP.md's examples.
TEN = b"0123456789"
#: A fixed, past modification time for files whose Last-Modified tests compare.
MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT


def content_tag(data: bytes) -> str:
    """The opaque part of staticwrap's strong ETag (HTTP.md rule 2): 128 bits of the SHA-256, base64url."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()[:16]).rstrip(b"=").decode()


def etag_of(data: bytes) -> str:
    """staticwrap's strong ETag for ``data``, quotes included."""
    return f'"{content_tag(data)}"'


def write(root: Path, relative: str, content: bytes | str, mtime: int | None = MTIME) -> Path:
    """Write a file under ``root`` (creating directories) and set its mtime."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def downstream(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The wrapped application: says it was reached, and echoes the path."""
    body = f"app:{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class Mode(NamedTuple):
    """How a test's requests are served: the environ a server adds, and the options given."""

    environ: dict[str, Any]
    options: dict[str, Any]
    #: Whether every variant is requested once before the test, so that its
    #: requests take the middleware's in-memory fast path.
    warm: bool


#: Small files from memory (warmed up); files from disk through a server's
#: ``wsgi.file_wrapper``; files from disk read by the middleware's iterator.
MODES = {
    "memory": Mode({"wsgi.file_wrapper": FileWrapper}, {}, warm=True),
    "file_wrapper": Mode({"wsgi.file_wrapper": FileWrapper}, {"memory_budget": 0}, warm=False),
    "no_file_wrapper": Mode({}, {"memory_budget": 0}, warm=False),
}


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> Mode:
    """Run a test in each way files are served (see :data:`MODES`)."""
    return MODES[request.param]


@pytest.fixture
def environ_mode(mode: Mode) -> dict[str, Any]:
    """The environ keys the server of the current :func:`mode` adds."""
    return mode.environ


def warm(app: StaticWrap) -> StaticWrap:
    """Request every variant of every indexed file once, so that the body cache holds them."""
    for url, entry in list(app.files.items()):
        if isinstance(entry, Asset):
            for coding in entry.variants:
                headers = {} if coding == "identity" else {"Accept-Encoding": coding}
                body = app(make_environ(path_info_of(url), headers), lambda *args: lambda data: None)
                b"".join(body)
                close = getattr(body, "close", None)
                if close is not None:
                    close()
    return app


@pytest.fixture
def make_app(mode: Mode) -> Callable[..., StaticWrap]:
    """Build ``StaticWrap(application, root, **options)`` for the current :func:`mode`."""

    def factory(application: Any, root: Path, prefix: str = "/", **options: Any) -> StaticWrap:
        app = StaticWrap(application, root, prefix=prefix, **{**mode.options, **options})
        return warm(app) if mode.warm else app

    return factory


@pytest.fixture
def make_client(make_app: Callable[..., StaticWrap], environ_mode: dict[str, Any]) -> Callable[..., TestApp]:
    """Build a WebTest client for ``StaticWrap(downstream, root, **options)`` in the current :func:`mode`."""

    def factory(root: Path, prefix: str = "/", **options: Any) -> TestApp:
        return TestApp(make_app(downstream, root, prefix, **options), extra_environ=dict(environ_mode))

    return factory


def now() -> int:
    return int(time.time())


class Result:
    """A response from calling a WSGI application directly (no client-side decoding)."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.code = int(status.split(" ", 1)[0])
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        """The value of a header that must appear at most once."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def names(self) -> set[str]:
        return {key.lower() for key, _ in self.headers}


def make_environ(
    path: str,
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
    environ: dict[str, Any] | None = None,
    server_name: str = "127.0.0.1",
) -> dict[str, Any]:
    """A complete PEP 3333 environ for a request, as a server builds it."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": server_name,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    env.update(environ or {})
    return env


def call(
    app: Callable[..., Iterable[bytes]],
    path: str,
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
    environ: dict[str, Any] | None = None,
) -> Result:
    """Call a WSGI application the way a server does, through WebTest's WSGI lint checks.

    ``path`` goes into PATH_INFO as given: pass it already percent-decoded, as
    servers do, or raw to test servers that do not decode.
    """
    from webtest.lint import middleware as lint

    env = make_environ(path, headers, method=method, environ=environ)
    captured: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, list(response_headers)]
        return lambda data: None

    iterable = lint(app)(env, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return Result(captured[0], captured[1], body)


@pytest.fixture(scope="session", autouse=True)
def main_thread_ring() -> None:
    """The main thread makes its io_uring ring now, not at its 1,000th check (staticwrap.watch.RING_AFTER).

    Tests that count the process's descriptors around a few requests would
    otherwise see it appear in whichever one that check falls.
    """
    WATCHER.use_rings(True)


@pytest.fixture(params=["io_uring", "epoll"])
def change_check(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with each way the process's watcher asks the kernel for news of changes (staticwrap.watch).

    ``io_uring``: a read of the calling thread's ring's flags, which every
    thread makes on its first check (skipped where the kernel refuses
    rings); ``epoll``: one ``epoll_wait``.
    """
    WATCHER.ring_after = 1  # every thread's first check makes its ring
    rings = WATCHER.use_rings(request.param == "io_uring")
    try:
        if request.param == "io_uring" and not rings:
            pytest.skip("io_uring refused here: the watcher asks epoll")
        yield request.param
    finally:
        WATCHER.ring_after = RING_AFTER
        WATCHER.use_rings(True)


def in_forked_child(check: Callable[[], list[bool]]) -> list[bool]:
    """What ``check`` finds in a forked child (as in a Gunicorn worker of a ``--preload`` master).

    A child that raises reports nothing: the list is then empty.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        try:
            os.write(write_end, bytes(check()))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        report = reader.read()
    os.waitpid(pid, 0)
    return [bool(found) for found in report]
