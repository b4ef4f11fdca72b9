"""staticwrap.asgi in process: the ASGI app answers exactly as the WSGI middleware, and sends bodies safely.

Each request of a table goes to a :class:`~staticwrap.StaticWrap` (called as
PEP 3333 says) and to a :class:`~staticwrap.asgi.StaticWrapASGI` (driven with
real receive and send coroutines) over the same directory: status, headers
and body must be the same. The rest covers what only ASGI has: scopes that
pass through, the three ways a file body leaves (chunks read in a thread,
``zerocopysend``, ``pathsend``), and a client that goes away mid-body. The
wire suite (tests/test_server.py) runs the same app under uvicorn, Hypercorn
and Granian; the disconnect is checked there too, on uvicorn.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, unquote_to_bytes

import brotli
import pytest

from staticwrap import ConfigurationError, StaticWrap
from staticwrap.asgi import (
    READ_SIZE,
    RWF_NOWAIT,
    Message,
    Receive,
    Scope,
    Send,
    StaticWrapASGI,
    _PageCacheReader,
    static_only,
    template_globals,
)
from staticwrap.build import build
from tests.conftest import TEN, call, downstream, write
from tests.servers import ASGI_SERVERS, require
from tests.test_newcomer import unreadable_later
from tests.test_server import APPS, STATICWRAP_HOME, RawClient, fetch, free_port, stop, wait_until_serving

SECRET = b"secret: outside the served root\n"
CSS = b"".join(f".k{i} {{ padding: {i % 9}px; }}\n".encode() for i in range(3000))
LARGE = os.urandom(3 * READ_SIZE + 12_345)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    #: The body events as sent (their "type" and, for file events, offset and count).
    events: list[Message] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name.lower()), None)


async def downstream_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The wrapped ASGI application: the answer of tests.conftest.downstream (says it was reached, echoes the path)."""
    if scope["type"] != "http":
        await static_only(scope, receive, send)
        return
    path_info = unquote_to_bytes(scope["raw_path"]).decode("latin-1")
    body = f"app:{scope['method']} {path_info}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def make_scope(method: str, target: str, headers: list[tuple[str, str]], extensions: dict[str, Any] | None) -> Scope:
    """The scope a server such as uvicorn makes: ``path`` percent-decoded as UTF-8, ``raw_path`` as sent."""
    raw_path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path, errors="replace"),
        "raw_path": raw_path.encode("latin-1"),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": extensions or {},
    }


async def drive(
    app: StaticWrapASGI,
    scope: Scope,
    *,
    serve_file: Callable[[Message], bytes] | None = None,
    send_hook: Callable[[Message], None] | None = None,
    receive: Receive | None = None,
) -> Response:
    """Run one request through ``app``: a receive that gives the (empty) request body, a send that collects."""
    started: list[Message] = []
    events: list[Message] = []
    body = bytearray()

    async def request_body() -> Message:
        if not started:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no more: the client waits for the response
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.append(message)
        else:
            events.append({key: value for key, value in message.items() if key not in {"body", "file"}})
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            else:
                assert serve_file is not None, message
                body.extend(serve_file(message))
        if send_hook is not None:
            send_hook(message)

    await app(scope, receive or request_body, send)
    (start,) = started
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]]
    return Response(start["status"], headers, bytes(body), events)


def asgi_request(
    app: StaticWrapASGI, method: str, target: str, headers: list[tuple[str, str]], **kwargs: Any
) -> Response:
    extensions = kwargs.pop("extensions", None)
    return asyncio.run(drive(app, make_scope(method, target, headers, extensions), **kwargs))


def wsgi_request(app: StaticWrap, method: str, target: str, headers: list[tuple[str, str]]) -> Response:
    """The WSGI answer through WebTest's lint, with PATH_INFO as a server sets it (the path's bytes as latin-1)."""
    path, _, query = target.partition("?")
    path_info = unquote_to_bytes(path).decode("latin-1")
    result = call(app, path_info, dict(headers), method=method, environ={"QUERY_STRING": query})
    # The server sends no body on a HEAD (RFC 9110 §9.3.2).
    body = b"" if method == "HEAD" else result.body
    return Response(result.code, [(name.lower(), value) for name, value in result.headers], body)


@dataclass(frozen=True)
class Site:
    root: Path
    built: Path
    wsgi: StaticWrap
    asgi: StaticWrapASGI


def populate(root: Path) -> None:
    write(root, "ten.txt", TEN)
    write(root, "large.bin", LARGE)
    write(root, "app.css", CSS)
    write(root, "app.css.gz", gzip.compress(CSS, 9, mtime=0))
    write(root, "app.css.br", brotli.compress(CSS))
    write(root, "sub/index.html", b"<!doctype html><title>sub</title>\n")
    write(root, "a:b/index.html", b"<p>colon</p>\n")
    write(root, "café.txt", "café\n")
    write(root.parent, "secret.txt", SECRET)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    base = tmp_path_factory.mktemp("asgi")
    root = base / "root"
    populate(root)
    source = base / "src"
    write(source, "app.js", b"console.log('built');\n" * 50)
    build(source, base / "built", prefix="/built/", jobs=1)
    options: dict[str, Any] = {"max_age": 60, "cors": ["https://allowed.example"]}
    wsgi = StaticWrap(downstream, root, prefix="/static/", **options)
    wsgi.add_files(base / "built", "/built/")
    asgi = StaticWrapASGI(downstream_asgi, root, prefix="/static/", **options)
    asgi.add_files(base / "built", "/built/")
    return Site(root, base / "built", wsgi, asgi)


# -- the same answers as WSGI, rule by rule --------------------------------------------

HOSTILE_RANGE = "bytes=" + ",".join(f"{i}-{i}" for i in range(1500))
REQUESTS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("GET", "/static/ten.txt", []),
    ("HEAD", "/static/ten.txt", []),
    ("GET", "/static/ten.txt", [("If-None-Match", "*")]),
    ("GET", "/static/ten.txt", [("If-None-Match", '"other", W/"x"')]),
    ("GET", "/static/ten.txt", [("If-Match", '"nope"')]),
    ("GET", "/static/ten.txt", [("If-Modified-Since", "Sun, 06 Nov 2044 08:49:37 GMT")]),
    ("GET", "/static/ten.txt", [("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")]),
    ("GET", "/static/ten.txt", [("Range", "bytes=2-4")]),
    ("GET", "/static/ten.txt", [("Range", "bytes=0-0")]),
    ("GET", "/static/ten.txt", [("Range", "bytes=-3")]),
    ("GET", "/static/ten.txt", [("Range", "bytes=20-")]),
    ("GET", "/static/ten.txt", [("Range", "bytes=2-4"), ("If-Range", '"stale"')]),
    ("HEAD", "/static/ten.txt", [("Range", "bytes=2-4")]),
    ("GET", "/static/large.bin", []),
    ("GET", "/static/large.bin", [("Range", f"bytes={READ_SIZE - 5}-{2 * READ_SIZE + 5}")]),
    ("GET", "/static/large.bin", [("Range", "bytes=0-9,1000000-1000099,-20")]),
    ("GET", "/static/app.css", [("Accept-Encoding", "br")]),
    ("GET", "/static/app.css", [("Accept-Encoding", "gzip, br;q=0")]),
    ("GET", "/static/app.css", [("Accept-Encoding", "identity")]),
    ("GET", "/static/app.css", [("Accept-Encoding", "gzip"), ("Range", "bytes=100-199")]),
    ("GET", "/static/app.css", [("Origin", "https://allowed.example")]),
    ("GET", "/static/app.css", [("Origin", "https://other.example")]),
    ("OPTIONS", "/static/app.css", [("Origin", "https://allowed.example"), ("Access-Control-Request-Method", "GET")]),
    ("POST", "/static/ten.txt", []),
    ("DELETE", "/static/ten.txt", []),
    ("GET", "/static/sub", []),
    ("GET", "/static/sub?a=1&b=%20c", []),
    ("GET", "/static/a:b", []),
    ("POST", "/static/sub", []),
    ("GET", "/static/sub/", []),
    ("GET", "/static/caf%C3%A9.txt", []),
    ("GET", "/static/caf%E9.txt", []),
    ("GET", "/elsewhere", []),
    ("GET", "/static/missing.txt", []),
    ("GET", "/static/app.css.gz", []),
    ("GET", "/built/app.0123456789ab.js", []),
    ("HEAD", "/built/app.0123456789ab.js", []),
    ("POST", "/built/app.0123456789ab.js", []),
    # Hostile paths and headers: never a 500, never outside the root, the same answer.
    ("GET", "/static/../secret.txt", []),
    ("GET", "/static/%2e%2e/secret.txt", []),
    ("GET", "/static/..%2fsecret.txt", []),
    ("GET", "/static/%5c..%5csecret.txt", []),
    ("GET", "/static//ten.txt", []),
    ("GET", "/static/ten.txt%00", []),
    ("GET", "/static/ten.txt", [("Range", HOSTILE_RANGE)]),
    ("GET", "/static/ten.txt", [("Range", "bytes=" + "9" * 8000 + "-")]),
    ("GET", "/static/app.css", [("Accept-Encoding", "br;q=" + "0" * 8000)]),
    ("GET", "/static/ten.txt", [("If-None-Match", '"' + "a" * 8000)]),
    ("GET", "/static/ten.txt", [("If-Modified-Since", "\x7f\x80ÿ" * 2000)]),
    ("GET", "/static/ten.txt", [("Range", "bytes=2-4"), ("If-Range", "Sun, 06 Nov 1994 08:49:37 GMT" * 200)]),
]


def normalized(response: Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """The response with a multipart boundary (random per response) replaced by a fixed one."""
    match = re.search(r"boundary=(\S+)", response.header("content-type") or "")
    if match is None:
        return response.status, response.headers, response.body
    boundary = match.group(1)
    headers = [(name, value.replace(boundary, "BOUNDARY")) for name, value in response.headers]
    return response.status, headers, response.body.replace(boundary.encode(), b"BOUNDARY")


@pytest.mark.parametrize(("method", "target", "headers"), REQUESTS, ids=lambda value: str(value)[:60])
def test_asgi_answer_is_the_wsgi_answer(site: Site, method: str, target: str, headers: list[tuple[str, str]]) -> None:
    expected = wsgi_request(site.wsgi, method, target, headers)

    answer = asgi_request(site.asgi, method, target, headers)

    assert normalized(answer) == normalized(expected)
    assert answer.status < 500
    assert SECRET not in answer.body


def test_asgi_answers_are_right_not_only_alike(site: Site) -> None:
    """A few of the table's answers against the files and RFC 9110 themselves, not the WSGI output."""
    full = asgi_request(site.asgi, "GET", "/static/large.bin", [])
    ranged = asgi_request(site.asgi, "GET", "/static/large.bin", [("Range", "bytes=1000-1499999")])
    coded = asgi_request(site.asgi, "GET", "/static/app.css", [("Accept-Encoding", "br")])
    redirect = asgi_request(site.asgi, "GET", "/static/sub?a=1", [])
    gone = asgi_request(site.asgi, "GET", "/built/app.0123456789ab.js", [])

    assert (full.status, hashlib.sha256(full.body).digest()) == (200, hashlib.sha256(LARGE).digest())
    assert full.header("content-length") == str(len(LARGE))
    assert (ranged.status, ranged.body) == (206, LARGE[1000:1_500_000])
    assert ranged.header("content-range") == f"bytes 1000-1499999/{len(LARGE)}"
    assert (coded.header("content-encoding"), brotli.decompress(coded.body)) == ("br", CSS)
    assert (redirect.status, redirect.header("location")) == (302, "sub/?a=1")
    assert gone.status == 404
    assert gone.header("cache-control") == "no-store"


def test_hashed_url_and_integrity_are_the_wsgi_ones(site: Site) -> None:
    built = next(site.built.glob("app.*.js"))
    integrity = template_globals(site.asgi)["static_integrity"]("app.js")

    assert site.asgi.url("app.js") == site.wsgi.url("app.js") == "/built/" + built.name
    assert integrity == site.wsgi.integrity("app.js")
    assert integrity == "sha384-" + base64.b64encode(hashlib.sha384(built.read_bytes()).digest()).decode()
    assert template_globals(site.asgi, root_path="/mount/")["static_url"]("app.js") == "/mount/built/" + built.name


def test_template_url_on_a_cdn_is_whole_whatever_the_mount(site: Site) -> None:
    built = next(site.built.glob("app.*.js"))
    on_cdn = StaticWrapASGI(None, site.built, prefix="/built/", base_url="https://cdn.example.com/")

    url = template_globals(on_cdn, root_path="/mount/")["static_url"]("app.js")

    assert url == "https://cdn.example.com/built/" + built.name


# -- scopes that are not HTTP --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
def test_other_scopes_reach_the_app_untouched(site: Site, kind: str) -> None:
    seen: list[tuple[Scope, Receive, Send]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    async def receive() -> Message:
        return {"type": f"{kind}.connect"}

    async def send(message: Message) -> None:
        pass

    scope: Scope = {"type": kind, "asgi": {"version": "3.0"}, "path": "/static/ten.txt", "headers": []}
    asyncio.run(StaticWrapASGI(app, site.root, prefix="/static/")(scope, receive, send))

    assert len(seen) == 1
    assert seen[0][0] is scope
    assert seen[0][1] is receive
    assert seen[0][2] is send


def test_static_only_app_completes_lifespan_and_answers_404(site: Site) -> None:
    app = StaticWrapASGI(None, site.root)
    sent: list[Message] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Message:
        return next(incoming)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    missing = asgi_request(app, "GET", "/nothing", [])

    assert [message["type"] for message in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert (missing.status, missing.body) == (404, b"Not Found\n")
    assert asgi_request(app, "GET", "/ten.txt", []).body == TEN


def test_mounted_app_looks_up_the_path_below_root_path(site: Site) -> None:
    app = StaticWrapASGI(None, site.root)
    scope = make_scope("GET", "/assets/ten.txt", [], None)
    scope["root_path"] = "/assets"

    response = asyncio.run(drive(app, scope))

    assert (response.status, response.body) == (200, TEN)


@pytest.mark.parametrize("option", ["listing", "not_found"])
def test_wsgi_only_options_are_refused_by_name(site: Site, option: str) -> None:
    options: dict[str, Any] = {option: True if option == "listing" else "404.html"}
    with pytest.raises(ConfigurationError, match=f"{option} keyword"):
        StaticWrapASGI(None, site.root, **options)


def test_first_argument_must_be_an_app(site: Site) -> None:
    with pytest.raises(ConfigurationError, match=r"StaticWrapASGI\(None, "):
        StaticWrapASGI(str(site.root))  # type: ignore[arg-type]


# -- how the body leaves -------------------------------------------------------------------


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def pread_file(message: Message) -> bytes:
    """What a server does with a zerocopysend: send ``count`` bytes of the descriptor from ``offset``."""
    data = os.pread(message["file"].fileno(), message["count"], message["offset"])
    assert len(data) == message["count"]
    return data


def test_zerocopysend_gets_the_descriptor_with_offset_and_count(site: Site) -> None:
    extensions: dict[str, Any] = {"http.response.zerocopysend": {}}
    before = open_descriptors()

    full = asgi_request(site.asgi, "GET", "/static/large.bin", [], extensions=extensions, serve_file=pread_file)
    ranged = asgi_request(
        site.asgi,
        "GET",
        "/static/large.bin",
        [("Range", "bytes=100-199,5000-")],
        extensions=extensions,
        serve_file=pread_file,
    )

    assert full.body == LARGE
    assert full.events == [{"type": "http.response.zerocopysend", "offset": 0, "count": len(LARGE), "more_body": False}]
    files = [event for event in ranged.events if event["type"] == "http.response.zerocopysend"]
    assert [(event["offset"], event["count"]) for event in files] == [(100, 100), (5000, len(LARGE) - 5000)]
    assert LARGE[100:200] in ranged.body
    assert ranged.body.count(LARGE[5000:]) == 1
    assert open_descriptors() == before


def test_pathsend_only_for_a_whole_immutable_file(site: Site) -> None:
    extensions: dict[str, Any] = {"http.response.pathsend": {}}
    built = next(site.built.glob("app.*.js"))
    # No body cache: the small files are sent from disk too.
    app = StaticWrapASGI(None, site.root, prefix="/static/", memory_budget=0)
    app.add_files(site.built, "/built/")

    def read_path(message: Message) -> bytes:
        return Path(message["path"]).read_bytes()

    hashed = asgi_request(app, "GET", "/built/" + built.name, [], extensions=extensions, serve_file=read_path)
    ranged = asgi_request(app, "GET", "/built/" + built.name, [("Range", "bytes=0-3")], extensions=extensions)
    plain = asgi_request(app, "GET", "/static/ten.txt", [], extensions=extensions)

    assert hashed.events == [{"type": "http.response.pathsend", "path": str(built.resolve())}]
    assert hashed.body == built.read_bytes()
    assert {event["type"] for event in ranged.events + plain.events} == {"http.response.body"}
    assert (ranged.body, plain.body) == (built.read_bytes()[:4], TEN)


def test_large_body_is_sent_in_bounded_blocks(site: Site) -> None:
    response = asgi_request(site.asgi, "GET", "/static/large.bin", [])

    assert response.body == LARGE
    # Never the whole file in memory at once: blocks of READ_SIZE, the last one shorter.
    assert len(response.events) == -(-len(LARGE) // READ_SIZE)
    assert [event["more_body"] for event in response.events] == [True] * (len(response.events) - 1) + [False]


T = TypeVar("T")


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default thread pool, counting the calls handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.calls = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


def request_counting_hops(app: StaticWrapASGI, target: str, headers: list[tuple[str, str]]) -> tuple[Response, int]:
    """One GET through ``app``, and how many calls it made in the loop's thread pool."""
    executor = CountingExecutor()

    async def run() -> Response:
        asyncio.get_running_loop().set_default_executor(executor)
        return await drive(app, make_scope("GET", target, headers, None))

    with executor:
        return asyncio.run(run()), executor.calls


def evict_from_page_cache(path: Path) -> None:
    """Drop the file's pages from the page cache (written back first: only clean pages can go)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def page_cache_readable(path: Path) -> bool:
    """Whether ``path``'s file system answers preadv2(RWF_NOWAIT): ext4, XFS, Btrfs do; tmpfs and overlayfs do not."""
    if RWF_NOWAIT is None:
        return False
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.read(descriptor, 1)
        os.preadv(descriptor, [bytearray(1)], 0, RWF_NOWAIT)
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return True


@pytest.mark.skipif(RWF_NOWAIT is None, reason="preadv2(RWF_NOWAIT) is Linux's")
@pytest.mark.parametrize(
    "headers", [[], [("Range", f"bytes={READ_SIZE - 5}-{2 * READ_SIZE + 5}")]], ids=["whole", "range"]
)
def test_cached_blocks_are_read_on_the_loop_and_the_rest_in_threads(
    tmp_path: Path, headers: list[tuple[str, str]]
) -> None:
    path = write(tmp_path, "large.bin", LARGE)
    if not page_cache_readable(path):  # a /tmp on tmpfs, say
        pytest.skip("this file system cannot say what the page cache holds: every block is read in threads")
    app = StaticWrapASGI(None, tmp_path)
    # The file's open and fstat check is one call in a thread, whatever the body.
    opening = request_counting_hops(app, "/missing", [])[1] + 1
    start, stop = (0, len(LARGE)) if not headers else (READ_SIZE - 5, 2 * READ_SIZE + 6)

    evict_from_page_cache(path)
    from_disk, hops_from_disk = request_counting_hops(app, "/large.bin", headers)
    cached, hops_cached = request_counting_hops(app, "/large.bin", headers)

    assert from_disk.body == cached.body == LARGE[start:stop]
    # Every block of the cached file was read on the loop; blocks that had to
    # come from the disk (at least the first: readahead may bring the rest) in threads.
    assert hops_cached == opening
    assert hops_from_disk > opening


def test_a_descriptor_that_cannot_say_what_is_cached_is_read_in_threads() -> None:
    reading, writing = os.pipe()
    with open(reading, "rb") as pipe, open(writing, "wb") as other_end:
        other_end.write(b"x" * 100)
        other_end.flush()
        reader = _PageCacheReader(pipe)

        # A pipe has no offsets (ESPIPE): no block is read on the loop, now or
        # later, and nothing is taken from it.
        assert reader.read(0, 100) is None
        assert reader.read(0, 100) is None
        assert pipe.read(100) == b"x" * 100


def test_disconnect_mid_body_closes_the_file_and_stops_reading(site: Site) -> None:
    before = open_descriptors()
    first_block = asyncio.Event()
    sent: list[int] = []

    async def receive() -> Message:
        if not sent:
            sent.append(0)
            return {"type": "http.request", "body": b"", "more_body": False}
        await first_block.wait()
        return {"type": "http.disconnect"}

    def hook(message: Message) -> None:
        if message["type"] == "http.response.body":
            sent.append(len(message["body"]))
            first_block.set()

    response = asgi_request(site.asgi, "GET", "/static/large.bin", [], receive=receive, send_hook=hook)

    assert response.status == 200
    assert 0 < len(response.body) <= 2 * READ_SIZE < len(LARGE)
    assert open_descriptors() == before


def test_send_raising_oserror_closes_the_file(site: Site) -> None:
    before = open_descriptors()

    def hook(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        asgi_request(site.asgi, "GET", "/static/large.bin", [], send_hook=hook)

    assert open_descriptors() == before


def test_file_changed_while_sent_aborts_the_body(tmp_path: Path) -> None:
    path = write(tmp_path, "big.bin", LARGE)
    app = StaticWrapASGI(None, tmp_path)

    def hook(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("more_body"):
            with open(path, "r+b") as file:
                file.write(b"X")

    with pytest.raises(OSError, match="changed while it was being sent"):
        asgi_request(app, "GET", "/big.bin", [], send_hook=hook)


def test_autorefresh_finds_new_files_off_the_loop(tmp_path: Path) -> None:
    app = StaticWrapASGI(downstream_asgi, tmp_path, autorefresh=True)
    assert asgi_request(app, "GET", "/late.txt", []).body == b"app:GET /late.txt"

    write(tmp_path, "late.txt", TEN)

    assert asgi_request(app, "GET", "/late.txt", []).body == TEN


# -- on the wire: a client that goes away, seen from the server's process -------------------------


@contextlib.contextmanager
def serving(
    argv: Callable[[int], list[str]], env: dict[str, str], log_path: Path, path: str = "/static/ten.txt"
) -> Iterator[tuple[int, int]]:
    """A server started in tests/apps with ``argv(port)`` and ``env``; (port, pid) once ``path`` answers 200."""
    port = free_port()
    python_path = os.pathsep.join(filter(None, [str(APPS), str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv(port),
            cwd=APPS,
            env={**os.environ, **env, "PYTHONPATH": python_path},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_serving(process, port, log_path, path)
            yield port, process.pid
        finally:
            stop(process)


@contextlib.contextmanager
def asgi_server(name: str, root: Path, log_path: Path) -> Iterator[tuple[int, int]]:
    """The ASGI server ``name`` of tests/servers.py serving tests/apps/asgi_app.py over ``root``; (port, pid)."""
    launcher = ASGI_SERVERS[name]
    require(launcher.requires)
    with serving(launcher.argv, {"STATICWRAP_TEST_ROOT": str(root)}, log_path) as found:
        yield found


@pytest.fixture
def uvicorn_big(tmp_path: Path) -> Iterator[tuple[int, int, int]]:
    """uvicorn serving a root with a 64 MiB file; (port, pid, size)."""
    size = 64 * 1024 * 1024
    root = tmp_path / "root"
    write(root, "ten.txt", TEN)
    with open(root / "big.bin", "wb") as file:
        file.truncate(size)
    with asgi_server("uvicorn", root, tmp_path / "server.log") as (port, pid):
        yield port, pid, size


def read_chars(pid: int) -> int:
    """Bytes the process has read with read(2) and friends (/proc/PID/io rchar)."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["rchar"])


def holds_open(pid: int, name: str) -> bool:
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{entry}").endswith(name):
                return True
        except OSError:
            continue
    return False


def test_uvicorn_closes_the_file_when_the_client_goes(uvicorn_big: tuple[int, int, int]) -> None:
    port, pid, size = uvicorn_big
    before = read_chars(pid)
    with RawClient(port) as client:
        client.send("GET", "/static/big.bin")
        while len(client.buffer) < 256 * 1024:
            assert client._fill()
        assert holds_open(pid, "big.bin")
    # Bounded wait for the server to see the close; no timing is asserted.
    deadline = time.monotonic() + 10
    while holds_open(pid, "big.bin") and time.monotonic() < deadline:
        time.sleep(0.02)

    assert not holds_open(pid, "big.bin")
    # It stopped reading: far less than the file was read (a few blocks, and the socket's buffers).
    assert read_chars(pid) - before < size // 4


def test_granian_pathsend_sends_a_whole_immutable_file(tmp_path: Path) -> None:
    """Granian offers pathsend: a hashed name larger than the body cache takes it; its bytes and length are right."""
    root = tmp_path / "root"
    write(root, "ten.txt", TEN)
    write(root, "big.0123456789ab.bin", LARGE)
    with asgi_server("granian-asgi", root, tmp_path / "server.log") as (port, _):
        whole = fetch(port, "/static/big.0123456789ab.bin")
        ranged = fetch(port, "/static/big.0123456789ab.bin", [("Range", "bytes=10-19")])

    assert (whole.status, whole.header("Content-Length")) == (200, str(len(LARGE)))
    assert hashlib.sha256(whole.body).digest() == hashlib.sha256(LARGE).digest()
    assert "immutable" in (whole.header("Cache-Control") or "")
    assert (ranged.status, ranged.body) == (206, LARGE[10:20])


UNREADABLE_LATER = """
import io, json, logging, os, sys
from staticwrap.asgi import StaticWrapASGI
from tests.test_asgi import asgi_request

root, name = sys.argv[1], sys.argv[2]
log = io.StringIO()
logging.getLogger("staticwrap").addHandler(logging.StreamHandler(log))
app = StaticWrapASGI(None, root)

def ask():
    log.seek(0)
    log.truncate()
    return [asgi_request(app, "GET", "/" + name, []).status, log.getvalue()]

report = {"before": ask()}
os.chmod(os.path.join(root, name), 0)
report["after"] = [ask(), ask()]
print(json.dumps(report))
"""


def test_unreadable_file_answers_503_and_logs_one_line(tmp_path: Path) -> None:
    report = unreadable_later(tmp_path / "root", "big.bin", UNREADABLE_LATER)

    assert report["before"] == [200, ""]
    for status, logged in report["after"]:
        assert status == 503
        (line,) = logged.splitlines()  # one line per request
        assert str(tmp_path / "root" / "big.bin") in line
        assert os.strerror(13) in line  # EACCES, as the system names it


def test_repeated_fields_are_one_list_and_names_any_case(site: Site) -> None:
    """RFC 9110 §5.3: two If-None-Match lines are one list; a server that does not lower-case names is read too."""
    etag = asgi_request(site.asgi, "GET", "/static/ten.txt", []).header("etag")
    assert etag is not None

    repeated = asgi_request(site.asgi, "GET", "/static/ten.txt", [("If-None-Match", '"a"'), ("If-None-Match", etag)])
    scope = make_scope("GET", "/static/ten.txt", [], None)
    scope["headers"] = [(b"Range", b"bytes=1-2")]
    upper = asyncio.run(drive(site.asgi, scope))

    assert repeated.status == 304
    assert (upper.status, upper.body) == (206, TEN[1:3])
