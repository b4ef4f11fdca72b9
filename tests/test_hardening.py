"""Hardening (issue 6): hostile trees, files that change under a running app, descriptors, concurrency.

Everything runs on real files, real processes and real sockets on 127.0.0.1; nothing is mocked,
and nothing asserts a duration (loops that wait for a state are bounded by generous deadlines).

What is proven:

- **Hostile trees** (the gaps test_index.py leaves: it covers each object alone, at startup, in
  static mode). A tree holding at once a symlink loop, a broken symlink, a directory link to its
  parent, a FIFO, a unix socket, a name that is not UTF-8, and names with a space, ``%``, ``?``,
  ``#`` and a non-ASCII letter: StaticWrap starts in static and in autorefresh mode, serves exactly
  the regular files with their bytes, names every skipped object in a warning where the code
  warns, and passes a request for a skipped name on to the application (no 500, no hang). The
  same tree under Gunicorn: it starts, the odd names are served at their percent-encoded URLs,
  and the startup log names every skipped object. Autorefresh refuses a directory link to an
  ancestor as the scan does. Unreadable files and directories are tested even as root, in a child
  process that drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH with setpriv(1) (no setuid): each is
  skipped with a warning naming it, and a file made unreadable after startup gets a 503 (in
  autorefresh mode, once a lookup built its entry; before that it is passed on), never a 500.
- **Changes between requests** (rule 35). After a file is replaced (by rename or in place, same or
  other size), truncated or deleted, requests of every kind (GET; single, suffix and multiple
  ranges; HEAD; If-None-Match and If-Range with the old ETag) are repeated until a full GET shows
  the new file (or, for a deletion, a pass-through): a body cache may learn of a change a few
  milliseconds late. Every response on the way is wholly the old version (bytes, ETag,
  Content-Length, Content-Range) or wholly the new one, or a pass-through; never a 500, never a
  mix; and once the new state is seen the old one never comes back. 1 KiB files (the size a
  memory cache keeps) and 2 MiB files (sent from disk), with no ``wsgi.file_wrapper``, wsgiref's,
  and Gunicorn's; static and autorefresh mode.
- **Changes during a download** (2 MiB, changed after the first block was read; GET, a range and
  a multipart range; no ``wsgi.file_wrapper``, wsgiref's, and Gunicorn's). Replaced by rename or
  deleted: the body is the whole old file. Rewritten in place or truncated: staticwrap's own
  readers raise ``staticwrap.body.ChangedWhileSentError`` (an OSError, on which a server aborts
  the connection) before yielding a byte of the changed file, so what was sent is a prefix of the
  old answer, shorter than its Content-Length; the next request gets the new file. (What
  Gunicorn sendfile()s itself is checked when Gunicorn closes the body: on the wire in
  tests/test_security_body.py.) On the wire, below: a
  multipart body cut short under Gunicorn ends with the connection, never completed by the bytes
  of a request pipelined behind it.
- **Descriptors in-process**: 100,000 requests mixing full GETs, single and multiple ranges, 304,
  416, HEAD, 405, redirects, coded variants, pass-throughs and files replaced on the way, with and
  without a file_wrapper, bodies read to the end, abandoned after one block, or closed unread:
  after every batch of 1,000 (the closed bodies still referenced, so that only ``close()`` can
  have released their files) /proc/self/fd holds as many descriptors as before.
- **Descriptors under Gunicorn** (sync, gthread, gthread with autorefresh): a mix of requests and
  of clients that drop the connection mid-body (FIN and RST) leaves the same worker process with
  as many descriptors as before, but for the io_uring instance each thread makes after its first
  answers from memory and keeps (staticwrap.watch): at most one per thread.
- **Concurrency**: a gthread Gunicorn (8 threads), autorefresh off and on, hit by 16 concurrent
  keep-alive clients on the same small and large files, with ranges, sends exactly the files'
  bytes; while two files are replaced by rename again and again under the clients, every response
  is wholly one version, and no answer is a 5xx. A file replaced by rename in the middle of a
  download is sent whole. test_threads_of_one_process_serve_a_cached_body_at_once does the same
  in-process, on a body held in memory.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from wsgiref.util import FileWrapper

import pytest
from gunicorn.http.wsgi import FileWrapper as GunicornFileWrapper

from staticwrap import StaticWrap
from staticwrap.asset import Asset
from staticwrap.body import ChangedWhileSentError
from staticwrap.index import path_info_of
from tests.conftest import downstream, make_environ, write
from tests.test_server import (
    STATICWRAP_HOME,
    TIMEOUT,
    RawClient,
    RawResponse,
    fetch,
    free_port,
    parse_byteranges,
    stop,
    wait_until_serving,
)

SMALL = 1024
LARGE = 2 * 1024 * 1024
#: How long a change may take to reach every request: a body cache hears of it from inotify, which may lag.
SETTLE_DEADLINE = 5.0
#: Bounds every wait for a server or a thread; generous, as a loaded CI machine is slow.
WAIT_DEADLINE = 30.0
OLD_SEED, NEW_SEED = 1, 2

#: The file_wrapper of each kind of server: none, one that reads to EOF (wsgiref: staticwrap must
#: bound it), and Gunicorn's (which sends no more than Content-Length, by sendfile on the wire).
WRAPPERS: dict[str, Any] = {"none": None, "wsgiref": FileWrapper, "gunicorn": GunicornFileWrapper}


def payload(size: int, seed: int) -> bytes:
    """``size`` reproducible random bytes: no two versions of a file share a long run of bytes."""
    return random.Random(seed).randbytes(size)


def open_descriptors(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def ring_descriptors(pid: int | str = "self") -> int:
    """The io_uring instances among the descriptors: one per thread that answered from memory (staticwrap.watch)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile
            count += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[io_uring]"
    return count


def request_descriptors(pid: int | str = "self") -> int:
    """The descriptors but the rings, which a thread makes after its first answers from memory and keeps."""
    return open_descriptors(pid) - ring_descriptors(pid)


# -- calling the application as a server does ---------------------------------------------------


@dataclass
class Reply:
    """What a server would have sent for one request, and how the body's iteration ended."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    #: What iterating the body raised: the way an application tells a server to abort the
    #: connection rather than finish a response it cannot complete (PEP 3333).
    error: Exception | None = None

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    @property
    def content_length(self) -> int:
        value = self.header("Content-Length")
        assert value is not None, f"no Content-Length: {self.headers}"
        return int(value)

    @property
    def passed_on(self) -> bool:
        """Answered by the wrapped application (conftest.downstream), not from the index."""
        return self.status == 200 and self.body.startswith(b"app:")


def serve(
    app: StaticWrap,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
    wrapper: str = "none",
    after_first_block: Callable[[], object] | None = None,
) -> Reply:
    """Call ``app`` as a server does: iterate the body, and close it whatever happens.

    The body sent is what the iterable yields, cut at Content-Length when it is Gunicorn's
    file_wrapper (Gunicorn's Response.write and sendfile never send more). ``after_first_block``
    runs once, after the first block was read: a change to the file in the middle of a download.
    """
    factory = WRAPPERS[wrapper]
    environ = make_environ(
        path, headers, method=method, environ={} if factory is None else {"wsgi.file_wrapper": factory}
    )
    started: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, list(response_headers)]
        return lambda data: None

    iterable = app(environ, start_response)
    body = bytearray()
    error: Exception | None = None
    try:
        for block in iterable:
            body += block
            if after_first_block is not None:
                after_first_block()
                after_first_block = None
    except Exception as caught:  # the application aborting the response: kept for the test to judge
        error = caught
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    status, response_headers = started
    reply = Reply(int(status.split(" ", 1)[0]), response_headers, bytes(body), error)
    if isinstance(iterable, GunicornFileWrapper):
        reply.body = reply.body[: reply.content_length]
    return reply


def etag_of(data: bytes, directory: Path) -> str:
    """The ETag a fresh StaticWrap gives ``data``: ETags come from the content alone (rule 2)."""
    write(directory, "f", data)
    etag = serve(StaticWrap(None, directory), "/f").header("ETag")
    assert etag is not None
    return etag


# -- versions of a file, and what each kind of request must get from one --------------------------


@dataclass(frozen=True)
class Version:
    name: str
    data: bytes
    etag: str

    def __post_init__(self) -> None:
        # The expectations below assume that every range asked for starts inside the file.
        assert len(self.data) >= 512


KINDS = ("get", "range", "suffix", "multi", "head", "if-none-match", "if-range")
MULTI = ((0, 9), (200, 299))


def kind_request(kind: str, old_etag: str) -> tuple[str, dict[str, str]]:
    """The method and headers of a request of ``kind``; the conditional ones carry the old ETag."""
    headers = {
        "get": {},
        "head": {},
        "range": {"Range": "bytes=100-1099"},
        "suffix": {"Range": "bytes=-300"},
        "multi": {"Range": "bytes=" + ",".join(f"{first}-{last}" for first, last in MULTI)},
        "if-none-match": {"If-None-Match": old_etag},
        "if-range": {"If-Range": old_etag, "Range": "bytes=5-14"},
    }[kind]
    return ("HEAD" if kind == "head" else "GET"), headers


def describe(body: bytes) -> str:
    return f"{len(body)} bytes starting {body[:12]!r}"


def expect(reply: Reply, status: int, content_range: str | None, body: bytes, length: int | None = None) -> str | None:
    """``None`` if ``reply`` has this status, Content-Range, Content-Length and body; else what differs."""
    found: list[object] = [reply.status, reply.header("Content-Range"), describe(reply.body)]
    wanted: list[object] = [status, content_range, describe(body)]
    if status != 304:
        found.append(reply.header("Content-Length"))
        wanted.append(str(len(body) if length is None else length))
    if found == wanted and reply.body == body:
        return None
    return f"got {found}, the version gives {wanted}"


def multipart_difference(reply: Reply, data: bytes, ranges: Sequence[tuple[int, int]]) -> str | None:
    media_type = reply.header("Content-Type") or ""
    prefix = "multipart/byteranges; boundary="
    if reply.status != 206 or not media_type.startswith(prefix):
        return f"status {reply.status} with Content-Type {media_type!r}, not a multipart 206"
    if reply.header("Content-Length") != str(len(reply.body)):
        return f"Content-Length {reply.header('Content-Length')} for a body of {len(reply.body)} bytes"
    parts = parse_byteranges(reply.body, media_type[len(prefix) :])
    found = [(fields["content-range"], part) for fields, part in parts]
    wanted = [(f"bytes {first}-{last}/{len(data)}", data[first : last + 1]) for first, last in ranges]
    if found == wanted:
        return None
    shown = [[(name, describe(part)) for name, part in parts] for parts in (found, wanted)]
    return f"parts {shown[0]}, the version gives {shown[1]}"


def difference(kind: str, reply: Reply, version: Version, old_etag: str) -> str | None:
    """How ``reply`` differs from what ``version`` of the file gives for ``kind``; ``None`` if it does not."""
    data, size = version.data, len(version.data)
    if reply.header("ETag") != version.etag:
        return f"ETag {reply.header('ETag')}, the version has {version.etag}"
    current = version.etag == old_etag  # the conditional requests name the old ETag
    if kind == "if-none-match" and current:
        return expect(reply, 304, None, b"")
    if kind == "head":
        return expect(reply, 200, None, b"", length=size)
    if kind == "get" or (kind in {"if-none-match", "if-range"} and not current):
        return expect(reply, 200, None, data)
    if kind == "multi":
        return multipart_difference(reply, data, MULTI)
    first, last = {"range": (100, min(1099, size - 1)), "suffix": (size - 300, size - 1), "if-range": (5, 14)}[kind]
    return expect(reply, 206, f"bytes {first}-{last}/{size}", data[first : last + 1])


def classify(kind: str, reply: Reply, versions: Sequence[Version], old_etag: str) -> str:
    """The version ``reply`` is wholly made of, or ``"miss"`` for a pass-through; fails on anything else."""
    assert reply.error is None, f"{kind}: the body raised {reply.error!r}"
    assert reply.status < 500, f"{kind}: {reply.status}"
    if reply.passed_on:
        return "miss"
    problems = {}
    for version in versions:
        problem = difference(kind, reply, version, old_etag)
        if problem is None:
            return version.name
        problems[version.name] = problem
    pytest.fail(f"a {kind} answer that is wholly no version of the file: {problems}")


def ask(app: StaticWrap, url: str, kind: str, old_etag: str, wrapper: str) -> Reply:
    method, headers = kind_request(kind, old_etag)
    return serve(app, url, headers, method=method, wrapper=wrapper)


def settle(app: StaticWrap, url: str, versions: Sequence[Version], wrapper: str, goals: frozenset[str]) -> Counter[str]:
    """Ask every kind in turn until a full GET shows a state in ``goals``; then every kind must show one.

    Each answer on the way must be wholly one version (:func:`classify`). Returns how often each
    state was seen.
    """
    old_etag = versions[0].etag
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + SETTLE_DEADLINE
    for kind in itertools.cycle(KINDS):
        state = classify(kind, ask(app, url, kind, old_etag, wrapper), versions, old_etag)
        seen[state] += 1
        if kind == "get" and state in goals:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"no full GET showed {sorted(goals)} within {SETTLE_DEADLINE} s; seen {dict(seen)}")
    for kind in KINDS:
        state = classify(kind, ask(app, url, kind, old_etag, wrapper), versions, old_etag)
        assert state in goals, f"{kind} answered from the {state} state after the change had been seen"
    return seen


# -- changes to a file --------------------------------------------------------------------------

CHANGES = ("rename-same-size", "rename-other-size", "in-place-same-size", "in-place-other-size", "truncate", "delete")


def replace_by_rename(path: Path, data: bytes) -> None:
    """The atomic deploy: write a new file beside it, then rename it over the old one."""
    incoming = path.with_name(".incoming-" + path.name)  # a dotfile: never indexed, never served
    incoming.write_bytes(data)
    os.replace(incoming, path)


def apply_change(change: str, path: Path, old: bytes) -> bytes | None:
    """Change the file at ``path`` (holding ``old``) as ``change`` says; its new content, or ``None`` if gone.

    New bytes get the current time as mtime, while the old file has the past MTIME: the change is
    one that a stat can see, as every edit made after the index was built is.
    """
    if change == "delete":
        path.unlink()
        return None
    if change == "truncate":
        os.truncate(path, len(old) // 2)
        return old[: len(old) // 2]
    new = payload(len(old) if change.endswith("same-size") else len(old) + 4099, NEW_SEED)
    if change.startswith("rename"):
        replace_by_rename(path, new)
    elif change == "in-place-same-size":
        with open(path, "r+b") as file:  # the bytes change, the inode and the size stay
            file.write(new)
    else:
        with open(path, "wb") as file:  # as cp(1) onto an existing file: truncated, then written
            file.write(new)
    return new


@pytest.mark.parametrize("autorefresh", [False, True], ids=["static", "autorefresh"])
@pytest.mark.parametrize("wrapper", list(WRAPPERS))
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1KiB", "2MiB"])
@pytest.mark.parametrize("change", CHANGES)
def test_after_a_change_every_answer_is_wholly_one_version(
    tmp_path: Path, change: str, size: int, wrapper: str, autorefresh: bool
) -> None:
    old = payload(size, OLD_SEED)
    path = write(tmp_path / "root", "file.bin", old)
    app = StaticWrap(downstream, tmp_path / "root", autorefresh=autorefresh)
    versions = [Version("old", old, etag_of(old, tmp_path / "reference-old"))]
    # Every kind twice before the change: a body cache loads on a first request and serves
    # the next from memory, and it is the memory that must then learn of the change.
    for kind in KINDS * 2:
        assert (
            classify(kind, ask(app, "/file.bin", kind, versions[0].etag, wrapper), versions, versions[0].etag) == "old"
        )

    new = apply_change(change, path, old)

    if new is not None:
        versions.append(Version("new", new, etag_of(new, tmp_path / "reference-new")))
    # A replaced file may also be passed on (rule 35: "re-index that entry, or pass through").
    goals = frozenset({"miss"} if new is None else {"new", "miss"})
    seen = settle(app, "/file.bin", versions, wrapper, goals)
    assert set(seen) <= {"old", "new", "miss"}


# -- a change in the middle of a download -------------------------------------------------------

MID_DOWNLOAD_REQUESTS = {
    "get": {},
    "range": {"Range": "bytes=1000-2000000"},
    "multi": {"Range": "bytes=0-9,1000-2000000"},
}


def mid_download_cases() -> list[Any]:
    """Every kind x wrapper x change (Gunicorn's wrapper read as Gunicorn reads it without sendfile)."""
    return [
        pytest.param(kind, wrapper, change, id=f"{kind}-{wrapper}-{change}")
        for kind in MID_DOWNLOAD_REQUESTS
        for wrapper in WRAPPERS
        for change in CHANGES
    ]


def multipart_boundary(reply: Reply) -> str | None:
    media_type = reply.header("Content-Type") or ""
    prefix = "multipart/byteranges; boundary="
    return media_type[len(prefix) :] if media_type.startswith(prefix) else None


def old_answer(data: bytes, headers: dict[str, str], reply: Reply, directory: Path) -> Reply:
    """What a StaticWrap that never saw a change answers: a fresh one over a copy of the old file.

    A multipart body gets the boundary of ``reply`` (each response draws its own), so that the two
    can be compared byte for byte.
    """
    write(directory, "file.bin", data)
    reference = serve(StaticWrap(None, directory), "/file.bin", headers)
    assert reference.error is None
    ours, theirs = multipart_boundary(reply), multipart_boundary(reference)
    if ours is not None and theirs is not None:
        reference.body = reference.body.replace(theirs.encode("ascii"), ours.encode("ascii"))
    return reference


@pytest.mark.parametrize(("kind", "wrapper", "change"), mid_download_cases())
def test_a_change_during_a_download_never_mixes_versions(tmp_path: Path, kind: str, wrapper: str, change: str) -> None:
    old = payload(LARGE, OLD_SEED)  # larger than memory_max_file: read from disk while it is sent
    path = write(tmp_path / "root", "file.bin", old)
    app = StaticWrap(downstream, tmp_path / "root")
    headers = MID_DOWNLOAD_REQUESTS[kind]
    changed: list[bytes | None] = []

    reply = serve(
        app,
        "/file.bin",
        headers,
        wrapper=wrapper,
        after_first_block=lambda: changed.append(apply_change(change, path, old)),
    )

    assert len(changed) == 1, "the body ended before its first block"
    expected = old_answer(old, headers, reply, tmp_path / "reference-old")
    assert (reply.status, reply.header("ETag"), reply.content_length) == (
        expected.status,
        expected.header("ETag"),
        expected.content_length,
    )
    if change.startswith("rename") or change == "delete":
        # The open descriptor still reads the old inode: the whole old file, under its headers.
        assert reply.error is None, repr(reply.error)
        assert reply.body == expected.body, f"{describe(reply.body)}, the old file gives {describe(expected.body)}"
        if kind == "multi":
            assert multipart_difference(reply, old, ((0, 9), (1000, 2_000_000))) is None
    else:
        # The headers are out: the body must end in an error (the server then aborts the
        # connection), after nothing but bytes of the old version.
        assert isinstance(reply.error, ChangedWhileSentError), f"the body ended with {reply.error!r}"
        assert len(reply.body) < reply.content_length, "a cut-short body as long as its Content-Length"
        assert expected.body.startswith(reply.body), "bytes of the changed file were sent under the old headers"
    # The next request sees the change.
    new = changed[0]
    versions = [Version("old", old, expected.header("ETag") or "")]
    if new is not None:
        versions.append(Version("new", new, etag_of(new, tmp_path / "reference-new")))
    state = classify("get", serve(app, "/file.bin", wrapper=wrapper), versions, versions[0].etag)
    assert state == ("miss" if new is None else "new")


# -- hostile trees --------------------------------------------------------------------------------

#: Names a URL must percent-encode (a space, "%", "?", "#") and a non-ASCII letter; one is a directory.
ODD_NAMES = ("a b.txt", "100%.txt", "why?.txt", "hash#tag.txt", "café.txt", "odd dir %#/é ?.txt")


@dataclass(frozen=True)
class Skipped:
    """An object of a hostile tree that is not served."""

    #: How a warning names it: its path, or the repr of a path that is not UTF-8.
    named_as: str
    #: PATH_INFO values (latin-1 text of the raw bytes, as PEP 3333 has it) that lead to it: each must pass on.
    requests: tuple[str, ...]
    #: Whether an autorefresh lookup warns of it too (it stats a symlink that leads nowhere); a
    #: lookup skips the others without a word, as they are not files to serve.
    warned_on_lookup: bool = False


@dataclass(frozen=True)
class HostileTree:
    root: Path
    #: Decoded URL path -> bytes, of every regular file: exactly what must be served.
    files: dict[str, bytes]
    skipped: tuple[Skipped, ...]


def make_unix_socket(path: Path) -> None:
    """A socket file at ``path``; it stays on disk after the socket is closed."""
    # Bound by a relative name: sun_path holds 108 bytes, less than a deep temporary path.
    previous = os.getcwd()
    os.chdir(path.parent)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(path.name)
    finally:
        os.chdir(previous)


def hostile_tree(root: Path) -> HostileTree:
    """Every object a tree should not hold, at once, beside regular files with awkward names."""
    files = {"ok.txt": b"ok\n", "sub/x.txt": b"x\n", **{name: f"odd: {name}\n".encode() for name in ODD_NAMES}}
    for name, data in files.items():
        write(root, name, data)
    (root / "loop-a").symlink_to("loop-b")
    (root / "loop-b").symlink_to("loop-a")
    (root / "broken.txt").symlink_to("missing.txt")
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)
    os.mkfifo(root / "pipe")
    make_unix_socket(root / "server.sock")
    bad = os.fsencode(root) + b"/bad\xff.txt"
    with open(bad, "wb") as file:
        file.write(b"a file whose name is not UTF-8\n")
    skipped = (
        Skipped(str(root / "loop-a"), ("/loop-a",), warned_on_lookup=True),
        Skipped(str(root / "loop-b"), ("/loop-b", "/loop-b/x"), warned_on_lookup=True),
        Skipped(str(root / "broken.txt"), ("/broken.txt",), warned_on_lookup=True),
        Skipped(str(root / "sub" / "up"), ("/sub/up", "/sub/up/", "/sub/up/ok.txt", "/sub/up/sub/x.txt")),
        Skipped(str(root / "pipe"), ("/pipe",)),
        Skipped(str(root / "server.sock"), ("/server.sock",)),
        Skipped(repr(os.fsdecode(bad)), ("/bad\xff.txt",)),
    )
    return HostileTree(root, {"/" + name: data for name, data in files.items()}, skipped)


@contextlib.contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """The messages of every warning raised inside (the suite otherwise turns warnings into errors)."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    messages.extend(str(warning.message) for warning in caught)


def check_warnings(messages: list[str], named: Iterable[str], may_be_named: Iterable[str]) -> None:
    """Each of ``named`` is named in a warning, and every warning names one of ``may_be_named``."""
    allowed_names = list(may_be_named)
    for name in named:
        assert any(name in message for message in messages), f"no warning names {name}: {messages}"
    for message in messages:
        assert any(name in message for name in allowed_names), f"a warning about nothing skipped: {message}"


@pytest.mark.parametrize("autorefresh", [False, True], ids=["static", "autorefresh"])
def test_a_hostile_tree_serves_exactly_its_regular_files(tmp_path: Path, autorefresh: bool) -> None:
    tree = hostile_tree(tmp_path / "root")
    with recorded_warnings() as at_startup:
        app = StaticWrap(downstream, tree.root, autorefresh=autorefresh)
    with recorded_warnings() as on_requests:
        for url, data in tree.files.items():
            reply = serve(app, path_info_of(url))
            assert (reply.status, reply.body, reply.error) == (200, data, None), url
        for skipped in tree.skipped:
            for path_info in skipped.requests:
                reply = serve(app, path_info)
                assert reply.passed_on, f"{path_info!r}: {reply.status} {describe(reply.body)}"
    every_name = [skipped.named_as for skipped in tree.skipped]
    if autorefresh:
        assert at_startup == []  # nothing is scanned
        named = [skipped.named_as for skipped in tree.skipped if skipped.warned_on_lookup]
        check_warnings(on_requests, named, every_name)
    else:
        assert set(app.files) == set(tree.files)
        check_warnings(at_startup, every_name, every_name)
        assert on_requests == []


def test_autorefresh_skips_a_directory_link_to_an_ancestor_as_the_scan_does(tmp_path: Path) -> None:
    root = tmp_path / "root"
    contents = {"/top.txt": b"top", "/sub/x.txt": b"x", "/a/b/y.txt": b"y"}
    for url, data in contents.items():
        write(root, url[1:], data)
    links = [root / "sub" / "up", root / "a" / "b" / "up"]  # to the root, and to a directory between
    for link in links:
        link.symlink_to("..", target_is_directory=True)
    with recorded_warnings() as scan_warnings:
        scanned = StaticWrap(downstream, root)
    assert set(scanned.files) == set(contents)
    check_warnings(scan_warnings, [str(link) for link in links], [str(link) for link in links])

    live = StaticWrap(downstream, root, autorefresh=True)
    through_links = ["/sub/up", "/sub/up/", "/sub/up/top.txt", "/sub/up/sub/x.txt", "/sub/up/sub/up/top.txt"]
    through_links += ["/a/b/up", "/a/b/up/b/y.txt", "/a/b/up/b/up/b/y.txt"]
    for url in [*contents, *through_links]:
        reply = serve(live, url)
        if url in scanned.files:
            assert (reply.status, reply.body) == (200, contents[url]), url
        else:
            assert reply.passed_on, f"{url}: autorefresh serves {describe(reply.body)}, which the scan skips"


# -- Gunicorn serving a generated tree -----------------------------------------------------------

#: The application module the Gunicorn servers of this file import; written next to each server's log.
APP_MODULE = '''\
"""Written by tests/test_hardening.py: StaticWrap over $HARDENING_ROOT at /static/, a 404 for everything else."""

import os

from staticwrap import StaticWrap

application = StaticWrap(
    None, os.environ["HARDENING_ROOT"], prefix="/static/", autorefresh=os.environ["HARDENING_AUTOREFRESH"] == "1"
)
'''


@dataclass(frozen=True)
class Gunicorn:
    """A Gunicorn started by this module: one worker, on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def worker_pid(self) -> int:
        """The PID of the master's one worker."""
        master = self.process.pid
        deadline = time.monotonic() + WAIT_DEADLINE
        while True:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
            if len(children) == 1:
                return int(children[0])
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn {master} has workers {children}, not one")
            time.sleep(0.05)


@contextlib.contextmanager
def gunicorn(
    root: Path, directory: Path, *, worker: str = "sync", autorefresh: bool = False, probe: str = "/static/small.txt"
) -> Iterator[Gunicorn]:
    """Gunicorn serving ``root`` at /static/ until the block ends; ``probe`` must answer 200 once it is up."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hardening_app.py").write_text(APP_MODULE)
    port = free_port()
    threads = ["--threads", "8"] if worker == "gthread" else []
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", worker, *threads,
        "--graceful-timeout", "5", "--no-control-socket",
        "hardening_app:application",
    ]  # fmt: skip
    python_path = os.pathsep.join(filter(None, [str(directory), str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "PYTHONPATH": python_path,
        "HARDENING_ROOT": str(root),
        "HARDENING_AUTOREFRESH": "1" if autorefresh else "0",
    }
    log = directory / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_serving(process, port, log, probe)
        yield Gunicorn(port, process, log)
    finally:
        stop(process)


@pytest.mark.server
def test_a_hostile_tree_starts_and_serves_under_gunicorn(tmp_path: Path) -> None:
    tree = hostile_tree(tmp_path / "root")
    with gunicorn(tree.root, tmp_path / "server", probe="/static/ok.txt") as server:
        for url, data in tree.files.items():
            response = fetch(server.port, "/static" + quote(url))  # UTF-8, percent-encoded
            assert (response.status, response.body) == (200, data), url
        for skipped in tree.skipped:
            for path_info in skipped.requests:
                target = "/static" + quote(path_info.encode("latin-1"))  # the raw bytes, percent-encoded
                assert fetch(server.port, target).status == 404, target  # passed on to the 404 app
        log = server.log.read_text(errors="replace")
    for skipped in tree.skipped:
        assert skipped.named_as in log, f"the startup log does not name {skipped.named_as}:\n{log}"


# -- unreadable files and directories, even as root -----------------------------------------------

#: Run by the child: StaticWrap over argv[1] in the mode argv[2], the paths argv[3:] asked once,
#: then seen.txt and unseen.txt made unreadable and asked; a JSON report on stdout.
UNREADABLE_CHILD = textwrap.dedent(
    """
    import json, os, sys, warnings
    from staticwrap import StaticWrap

    root, autorefresh, paths = sys.argv[1], sys.argv[2] == "autorefresh", sys.argv[3:]


    def downstream(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"app:"]


    def ask(app, path):
        started = []
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
                   "wsgi.url_scheme": "http"}
        body = app(environ, lambda status, headers, exc_info=None: started.append(status))
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        return [int(started[0].split()[0]), data.decode("latin-1")]


    def readable(path):
        try:
            with open(path, "rb"):
                return True
        except PermissionError:
            return False


    report = {"root_reads_mode_000": readable(os.path.join(root, "locked.txt"))}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = StaticWrap(downstream, root, autorefresh=autorefresh)
    report["startup_warnings"] = [str(warning.message) for warning in caught]
    report["indexed"] = sorted(app.files)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report["answers"] = {path: ask(app, path) for path in paths}
        for name in ["seen.txt", "unseen.txt"]:
            os.chmod(os.path.join(root, name), 0)
        report["made_unreadable"] = {path: ask(app, path) for path in ["/seen.txt", "/unseen.txt"]}
    report["request_warnings"] = [str(warning.message) for warning in caught]
    print(json.dumps(report))
    """
)

#: The capabilities that let root read and search whatever the mode bits say.
DAC_CAPABILITIES = "-dac_override,-dac_read_search"


@pytest.mark.parametrize("autorefresh", [False, True], ids=["static", "autorefresh"])
def test_unreadable_files_and_directories_are_skipped_even_as_root(tmp_path: Path, autorefresh: bool) -> None:
    root = tmp_path / "root"
    write(root, "readable.txt", b"readable")
    later = [write(root, "seen.txt", b"asked for while readable"), write(root, "unseen.txt", b"never asked for")]
    locked = write(root, "locked.txt", b"mode 000")
    write(root, "closed/inner.txt", b"in a mode-000 directory")
    write(root, "unsearchable/f.txt", b"in a directory without x")
    command = [sys.executable, "-c", UNREADABLE_CHILD, str(root), "autorefresh" if autorefresh else "static"]
    # seen.txt while it is readable: static mode then holds it in memory, autorefresh its built entry.
    command += ["/readable.txt", "/seen.txt", "/locked.txt", "/closed/inner.txt", "/unsearchable/f.txt"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv(1) is not installed (util-linux): root would read every file")
        # Dropped from the bounding and inheritable sets: the exec'd Python has neither capability.
        command = [setpriv, f"--inh-caps={DAC_CAPABILITIES}", f"--bounding-set={DAC_CAPABILITIES}", *command]
    python_path = os.pathsep.join(filter(None, [str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))
    modes = {locked: 0o000, root / "closed": 0o000, root / "unsearchable": 0o644}
    for path, mode in modes.items():
        path.chmod(mode)
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": python_path},
        )
    finally:
        for path in [locked, *later]:
            path.chmod(0o644)
        for path in [root / "closed", root / "unsearchable"]:
            path.chmod(0o755)
    if result.returncode != 0 and result.stderr.startswith("setpriv"):
        pytest.skip(f"setpriv cannot drop capabilities here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert not report["root_reads_mode_000"], "the child can still read a mode-000 file"

    unreadable = [str(locked), str(root / "closed"), str(root / "unsearchable" / "f.txt"), *map(str, later)]
    answers = report["answers"]
    assert answers["/readable.txt"] == [200, "readable"]
    assert answers["/seen.txt"] == [200, "asked for while readable"]
    for url in ["/locked.txt", "/closed/inner.txt", "/unsearchable/f.txt"]:
        assert answers[url] == [200, "app:"], f"{url}: {answers[url]}"  # passed on
    if autorefresh:
        assert report["startup_warnings"] == []
        # A lookup warns of what it cannot read; a directory it cannot list simply has no such name.
        named = [str(locked), str(root / "unsearchable" / "f.txt"), str(root / "unseen.txt")]
        check_warnings(report["request_warnings"], named, unreadable)
        # The entry built for seen.txt is reused (size, mtime and inode are unchanged): opening it
        # fails, a transient failure. unseen.txt cannot be read to build an entry: passed on.
        assert report["made_unreadable"] == {"/seen.txt": [503, ""], "/unseen.txt": [200, "app:"]}
    else:
        assert report["indexed"] == ["/readable.txt", "/seen.txt", "/unseen.txt"]
        check_warnings(report["startup_warnings"], unreadable[:3], unreadable[:3])
        # Indexed (seen.txt held in memory, until its mode changed), unreadable now: a transient
        # failure (§15.6.4), never a 500.
        assert report["made_unreadable"] == {"/seen.txt": [503, ""], "/unseen.txt": [503, ""]}
        assert report["request_warnings"] == []


# -- descriptors, in-process ----------------------------------------------------------------------

FD_REQUESTS = 100_000
FD_BATCH = 1_000
#: swap.bin is replaced by rename every so many requests, in the middle of the body then being read.
FD_SWAP_EVERY = 250
CSS = b"".join(f".c{i} {{ color: #{i * 2654435761 % 0xFFFFFF:06x}; margin: {i % 7}px }}\n".encode() for i in range(600))


def test_no_descriptor_outlives_its_response_in_process(tmp_path: Path) -> None:
    root = tmp_path / "root"
    contents = {
        "/small.txt": b"a small file, kept in memory\n" * 20,
        "/medium.bin": payload(150 * 1024, 41),  # in memory too, but several blocks long
        "/large.bin": payload(300 * 1024, 42),  # above memory_max_file: always from disk
        "/app.css": CSS,
        "/dir/index.html": b"<!doctype html><title>dir</title>\n",
    }
    for url, data in contents.items():
        write(root, url[1:], data)
    write(root, "app.css.gz", gzip.compress(CSS, mtime=0))
    swaps = (payload(100 * 1024, 43), payload(110 * 1024, 44))
    write(root, "swap.bin", swaps[0])
    apps = {"memory": StaticWrap(downstream, root), "disk": StaticWrap(downstream, root, memory_budget=0)}
    extra_environ: dict[str, dict[str, Any]] = {"none": {}, "wsgiref": {"wsgi.file_wrapper": FileWrapper}}

    asks: list[tuple[str, str, str, dict[str, str]]] = []  # kind, path, method, headers
    for path in ["/small.txt", "/medium.bin", "/large.bin", "/swap.bin"]:
        asks += [
            ("get", path, "GET", {}),
            ("range", path, "GET", {"Range": "bytes=10-70009"}),
            ("ranges", path, "GET", {"Range": "bytes=0-9,100-199,-10"}),
            ("not modified", path, "GET", {}),  # If-None-Match: the ETag last seen
            ("unsatisfiable", path, "GET", {"Range": "bytes=99999999-"}),
            ("head", path, "HEAD", {}),
            ("post", path, "POST", {}),
        ]
    asks += [
        ("redirect", "/dir", "GET", {}),
        ("index", "/dir/", "GET", {}),
        ("coded", "/app.css", "GET", {"Accept-Encoding": "gzip"}),
        ("get", "/app.css", "GET", {}),
        ("pass", "/missing.txt", "GET", {}),
    ]
    etags: dict[tuple[str, str], str] = {}
    statuses: Counter[str] = Counter()
    swapped = [0]
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return lambda data: None

    def swap() -> None:
        swapped[0] += 1
        replace_by_rename(root / "swap.bin", swaps[swapped[0] % 2])

    def one(app_name: str, wrapper: str, ask: tuple[str, str, str, dict[str, str]], consume: str, change: bool) -> Any:
        kind, path, method, headers = ask
        if kind == "not modified":
            headers = {"If-None-Match": etags.get((app_name, path), '"not-seen-yet"')}
        body = apps[app_name](
            make_environ(path, headers, method=method, environ=extra_environ[wrapper]), start_response
        )
        status, response_headers = int(started[0][:3]), dict(started[1])
        received: list[bytes] = []
        if consume != "unread":
            for block in body:
                received.append(block)
                if change:
                    swap()
                    change = False
                if consume == "one":
                    break
        if change:
            swap()
        close = getattr(body, "close", None)
        if close is not None:
            close()
        assert status < 500, f"{status} for {method} {path} {headers}"
        if "ETag" in response_headers:
            etags[app_name, path] = response_headers["ETag"]
        data = b"".join(received)
        if consume == "end" and method != "HEAD" and status != 304:
            assert len(data) == int(response_headers["Content-Length"]), f"{method} {path} {headers}"
            if kind == "get":  # wholly one version, even when swap.bin was replaced in the middle
                wanted = swaps if path == "/swap.bin" else (contents[path],)
                assert data in wanted, f"{path}: {describe(data)}"
        passed_on = path == "/missing.txt"
        statuses[f"{status}" + (" (HEAD)" if method == "HEAD" else " (passed on)" if passed_on else "")] += 1
        return body

    rng = random.Random(6)
    for app_name in apps:  # once each first: the inotify instance, header lists and caches are made now
        for wrapper in extra_environ:
            for ask in asks:
                one(app_name, wrapper, ask, "end", change=False)
    before = request_descriptors()  # the thread's ring, made after its first answers from memory, aside
    held: list[Any] = []
    app_names, wrappers, consumptions = list(apps), list(extra_environ), ("end", "one", "unread")
    for number in range(FD_REQUESTS):
        body = one(
            rng.choice(app_names),
            rng.choice(wrappers),
            rng.choice(asks),
            rng.choice(consumptions),
            change=number % FD_SWAP_EVERY == 0,
        )
        held.append(body)  # referenced: only close() can have released its file
        if len(held) == FD_BATCH:
            now = request_descriptors()
            assert now == before, f"{now} descriptors after request {number + 1}, {before} before; {dict(statuses)}"
            held.clear()
    print(f"\nin-process: {FD_REQUESTS} requests, {swapped[0]} swaps, descriptors {before} before and after each batch")
    print(f"statuses: {dict(sorted(statuses.items()))}")
    expected = {"200", "200 (HEAD)", "200 (passed on)", "206", "302", "304", "405", "416"}
    assert expected <= set(statuses), f"missing {expected - set(statuses)}: {dict(statuses)}"
    assert sum(statuses.values()) == FD_REQUESTS + len(apps) * len(extra_environ) * len(asks)


# -- Gunicorn: the served tree, and what a client may send ---------------------------------------


def huge_size() -> int:
    """Larger than all a server can have sent ahead of a client that stopped reading.

    That is at most the server's socket send buffer (at most tcp_wmem's maximum), the client's
    small receive buffer (see :func:`slow_client`) and a block of staticwrap's: a quarter of it.
    """
    try:
        send_buffer_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        send_buffer_max = 4 * 1024 * 1024
    return max(16 * 1024 * 1024, 4 * send_buffer_max)


#: The files every served tree holds, by name under /static/: in memory and from disk.
SERVED_FILES = {
    "small.txt": b"a small text file, served from memory\n" * 16,
    "medium.bin": payload(100 * 1024, 31),
    "large.bin": payload(LARGE, 32),  # above memory_max_file: sent by sendfile
    "app.css": CSS,
    "sub/index.html": b"<!doctype html><title>sub</title>\n",
}
#: Files replaced by rename under concurrent clients: each name's two versions (the first on disk at
#: startup), of other sizes, so that the index tells them apart whatever the mtime ticks.
SWAP = {
    "swap-small.bin": (payload(900, 21), payload(1300, 22)),
    "swap-large.bin": (payload(LARGE // 2, 23), payload(LARGE // 2 + 4099, 24)),
}
#: Worker class and autorefresh of each served tree.
SERVERS = {"sync": ("sync", False), "gthread": ("gthread", False), "gthread-autorefresh": ("gthread", True)}


@dataclass(frozen=True)
class Served:
    """A Gunicorn serving a generated tree at /static/ (a 404 for other paths)."""

    name: str
    worker: str
    autorefresh: bool
    port: int
    root: Path
    #: Name under /static/ -> bytes, of the files no test changes.
    files: dict[str, bytes]
    #: The bytes of replace-me.bin and truncate-me.bin at startup: larger than every buffer on the way.
    huge: bytes
    server: Gunicorn


@pytest.fixture(scope="module", params=list(SERVERS))
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    name: str = request.param
    worker, autorefresh = SERVERS[name]
    base = tmp_path_factory.mktemp(f"served-{name}")
    root = base / "root"
    for relative, data in SERVED_FILES.items():
        write(root, relative, data)
    write(root, "app.css.gz", gzip.compress(CSS, mtime=0))
    for relative, versions in SWAP.items():
        write(root, relative, versions[0])
    huge = payload(huge_size(), 5)
    for relative in ["replace-me.bin", "truncate-me.bin"]:
        write(root, relative, huge)
    with gunicorn(root, base / "server", worker=worker, autorefresh=autorefresh) as server:
        yield Served(name, worker, autorefresh, server.port, root, dict(SERVED_FILES), huge, server)


def random_request(rng: random.Random, name: str, size: int, etag: str) -> tuple[str, dict[str, str]]:
    """A request for the ``size``-byte file ``name`` whose ETag is ``etag``: its method and headers.

    Ranges never overlap nor touch (a server may merge those), and stay within ``size`` bytes, so
    they select the same bytes from any version at least as long.
    """
    kind = rng.choice(("get", "head", "range", "suffix", "open", "multi", "if-none-match", "if-range"))
    first = rng.randrange(size // 2)
    last = rng.randrange(first, size // 2 + 1)
    if kind == "head":
        return "HEAD", {}
    if kind == "range":
        return "GET", {"Range": f"bytes={first}-{last}"}
    if kind == "suffix":
        return "GET", {"Range": f"bytes=-{rng.randrange(1, size)}"}
    if kind == "open":
        return "GET", {"Range": f"bytes={first}-"}
    if kind == "multi":
        start = rng.randrange(last + 2, size)  # a gap of at least one byte after the first range
        return "GET", {"Range": f"bytes={first}-{last},{start}-{rng.randrange(start, size)}"}
    if kind == "if-none-match":
        return "GET", {"If-None-Match": etag}
    if kind == "if-range":
        return "GET", {"If-Range": etag, "Range": f"bytes={first}-{last}"}
    return "GET", {}


def selected_ranges(spec: str, size: int) -> list[tuple[int, int]]:
    """The (first, last) byte positions a Range of :func:`random_request` selects in ``size`` bytes."""
    assert spec.startswith("bytes="), spec
    selected = []
    for part in spec[len("bytes=") :].split(","):
        first, _, last = part.partition("-")
        if not first:
            selected.append((max(size - int(last), 0), size - 1))
        else:
            selected.append((int(first), min(int(last), size - 1) if last else size - 1))
    return selected


def check_answer(response: RawResponse, method: str, headers: dict[str, str], data: bytes) -> None:
    """``response`` is what a request with ``headers`` must get from the file holding ``data``.

    An If-None-Match names the file's current ETag (drop it for another version: see
    :func:`without_validator`); an If-Range is compared with the response's own ETag.
    """
    etag = response.header("ETag")
    asked = f"{method} {headers}"
    assert etag is not None, f"{asked}: no ETag in {response.status} {response.headers}"
    if "If-None-Match" in headers:
        assert (response.status, etag, response.body) == (304, headers["If-None-Match"], b""), asked
        return
    if method == "HEAD":
        found = (response.status, response.header("Content-Length"), response.body)
        assert found == (200, str(len(data)), b""), f"{asked}: {found}"
        return
    spec = headers.get("Range")
    if spec is None or headers.get("If-Range", etag) != etag:
        assert response.status == 200, f"{asked}: {response.status}"
        assert response.body == data, f"{asked}: {describe(response.body)}, the file is {describe(data)}"
        return
    ranges = selected_ranges(spec, len(data))
    assert response.status == 206, f"{asked}: {response.status}"
    if len(ranges) == 1:
        ((first, last),) = ranges
        assert response.header("Content-Range") == f"bytes {first}-{last}/{len(data)}", asked
        assert response.body == data[first : last + 1], f"{asked}: {describe(response.body)}"
        return
    media_type = response.header("Content-Type") or ""
    prefix = "multipart/byteranges; boundary="
    assert media_type.startswith(prefix), f"{asked}: {media_type}"
    parts = [
        (fields["content-range"], part) for fields, part in parse_byteranges(response.body, media_type[len(prefix) :])
    ]
    wanted = [(f"bytes {first}-{last}/{len(data)}", data[first : last + 1]) for first, last in ranges]
    assert parts == wanted, f"{asked}: parts {[name for name, _ in parts]}"


def run_clients(count: int, client: Callable[[int], None]) -> None:
    """Run ``client(0)`` ... ``client(count - 1)`` on as many threads at once; re-raise the first failure."""
    failures: list[BaseException] = []

    def run(number: int) -> None:
        try:
            client(number)
        except BaseException as failure:  # an assertion too: reported by the test's own thread
            failures.append(failure)

    threads = [threading.Thread(target=run, args=(number,), daemon=True) for number in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + WAIT_DEADLINE
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if failures:
        raise failures[0]
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} of {count} clients still running after {WAIT_DEADLINE} s"


@contextlib.contextmanager
def slow_client(port: int) -> Iterator[socket.socket]:
    """A connection to 127.0.0.1:``port`` that reads only when the test does, with a small receive buffer."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # before connect: the window
        client.settimeout(TIMEOUT)
        client.connect(("127.0.0.1", port))
        yield client
    finally:
        client.close()


def request_bytes(
    target: str, headers: Sequence[tuple[str, str]] = (), *, method: str = "GET", close: bool = False
) -> bytes:
    """An HTTP/1.1 request for ``target`` as it goes on the wire."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *(f"{name}: {value}" for name, value in headers)]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_head(client: socket.socket, at_least: int = 0) -> tuple[str, bytearray]:
    """Read a response head, and at least ``at_least`` bytes of body: the head, and the body bytes read."""
    received = bytearray()
    while True:
        end = received.find(b"\r\n\r\n")
        if end >= 0 and len(received) - end - 4 >= at_least:
            return received[:end].decode("latin-1"), received[end + 4 :]
        chunk = client.recv(64 * 1024)
        assert chunk, f"the connection closed after {bytes(received[:300])!r}"
        received += chunk


def head_field(head: str, name: str) -> str:
    """The value of the field ``name`` in a response head."""
    for line in head.split("\r\n")[1:]:
        field, _, value = line.partition(":")
        if field.strip().lower() == name.lower():
            return value.strip()
    pytest.fail(f"no {name} in {head!r}")


# -- descriptors under Gunicorn -------------------------------------------------------------------

DROPPED_CLIENTS = 40
#: What the dropping clients ask for: sendfile of the whole file, and of a range; staticwrap's iterator.
DROPPED_REQUESTS: tuple[list[tuple[str, str]], ...] = ([], [("Range", "bytes=1000-")], [("Range", "bytes=0-0,2-")])


def steady_descriptors(pid: int) -> int:
    """The process's descriptor count once ten samples in a row agree (connections take a moment to close)."""
    deadline = time.monotonic() + WAIT_DEADLINE
    samples = [request_descriptors(pid)]
    while len(samples) < 10 or len(set(samples[-10:])) > 1:
        if time.monotonic() > deadline:
            pytest.fail(f"the descriptors of {pid} never settled: {samples[-20:]}")
        time.sleep(0.02)
        samples.append(request_descriptors(pid))
    return samples[-1]


def descriptors_back_to(pid: int, count: int) -> int:
    """Wait (bounded) until the process holds ``count`` descriptors (rings aside); the last count seen."""
    deadline = time.monotonic() + WAIT_DEADLINE
    while (now := request_descriptors(pid)) != count and time.monotonic() < deadline:
        time.sleep(0.02)
    return now


def request_mix(served: Served, etags: dict[str, str], statuses: Counter[int]) -> int:
    """Every kind of answer once per file, each on a connection of its own, and some on one kept alive."""
    asked = 0
    for name, data in served.files.items():
        target = f"/static/{name}"
        for method, headers in [
            ("GET", {}),
            ("HEAD", {}),
            ("GET", {"Range": "bytes=5-14"}),
            ("GET", {"Range": "bytes=0-0,10-19"}),
            ("GET", {"If-None-Match": etags[name]}),
        ]:
            response = fetch(served.port, target, list(headers.items()), method)
            check_answer(response, method, headers, data)
            statuses[response.status] += 1
        unsatisfiable = fetch(served.port, target, [("Range", f"bytes={len(data)}-")])
        assert (unsatisfiable.status, unsatisfiable.header("Content-Range")) == (416, f"bytes */{len(data)}")
        statuses[416] += 1
        asked += 6
    for target, fields, method, status in [
        ("/static/small.txt", [], "POST", 405),
        ("/static/sub", [], "GET", 302),
        ("/static/missing.txt", [], "GET", 404),
        ("/static/app.css", [("Accept-Encoding", "gzip")], "GET", 200),
    ]:
        response = fetch(served.port, target, fields, method)
        assert response.status == status, f"{method} {target}: {response.status}"
        if fields:
            assert response.header("Content-Encoding") == "gzip"
            assert gzip.decompress(response.body) == CSS
        statuses[status] += 1
        asked += 1
    if served.worker == "gthread":  # the sync worker closes every connection after one response
        with RawClient(served.port) as connection:
            for number, (name, data) in enumerate(sorted(served.files.items()) * 2):
                headers = {"Range": f"bytes={number}-{number + 99}"} if number % 2 else {}
                connection.send("GET", f"/static/{name}", list(headers.items()))
                response = connection.read_response()
                check_answer(response, "GET", headers, data)
                statuses[response.status] += 1
                asked += 1
    return asked


def drop_mid_body(port: int, headers: list[tuple[str, str]], *, reset: bool) -> int:
    """Ask for the huge file, read its head and a little of the body, and go: FIN, or RST. Its status."""
    with slow_client(port) as client:
        client.sendall(request_bytes("/static/replace-me.bin", headers))
        head, _ = read_head(client, at_least=1)
        if reset:  # close() then sends an RST at once (SO_LINGER with a zero timeout)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:  # a FIN; the server's next bytes then meet the closed socket's RST
            client.shutdown(socket.SHUT_WR)
    return int(head.split(" ", 2)[1])


@pytest.mark.server
def test_dropped_clients_leave_the_worker_with_its_descriptors(served: Served) -> None:
    etags = {name: fetch(served.port, f"/static/{name}").header("ETag") or "" for name in served.files}
    statuses: Counter[int] = Counter()
    request_mix(served, etags, statuses)  # first: the worker makes its inotify instance, caches and lists
    worker = served.server.worker_pid()
    before = steady_descriptors(worker)
    statuses.clear()

    asked = request_mix(served, etags, statuses)
    for number in range(DROPPED_CLIENTS):
        headers = DROPPED_REQUESTS[number % len(DROPPED_REQUESTS)]
        statuses[drop_mid_body(served.port, headers, reset=number % 2 == 1)] += 1
    asked += DROPPED_CLIENTS + request_mix(served, etags, statuses)  # and it still answers every kind
    after = descriptors_back_to(worker, before)

    print(f"\n{served.name}: worker {worker}, {before} descriptors before and {after} after {asked} requests")
    print(f"({DROPPED_CLIENTS} dropped mid-body, half FIN, half RST); statuses {dict(sorted(statuses.items()))}")
    assert served.server.worker_pid() == worker, "the worker was replaced"
    assert after == before, f"{after} descriptors after, {before} before"
    assert ring_descriptors(worker) <= 8, "more rings than the worker has threads"  # gthread: --threads 8
    assert sum(statuses.values()) == asked


# -- threads of one process -----------------------------------------------------------------------


def test_threads_of_one_process_serve_a_cached_body_at_once(tmp_path: Path) -> None:
    """CLIENTS threads on one StaticWrap: a body held in memory, asked for at once, then while it is replaced.

    Every thread's fast path asks the one inotify watcher whether news is pending, at the same time.
    """
    datas = (payload(SMALL, OLD_SEED), payload(SMALL + 100, NEW_SEED))  # other sizes: always told apart
    path = write(tmp_path / "root", "file.bin", datas[0])
    app = StaticWrap(downstream, tmp_path / "root")
    versions = [
        Version(f"version {n}", data, etag_of(data, tmp_path / f"reference-{n}")) for n, data in enumerate(datas)
    ]
    old_etag = versions[0].etag
    assert serve(app, "/file.bin").body == datas[0]
    entry = app.files["/file.bin"]
    assert isinstance(entry, Asset)
    assert entry.identity.body == datas[0], "not held in memory"
    counts = [Counter[str]() for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS)

    def unchanged(number: int) -> None:
        start.wait(WAIT_DEADLINE)
        for request_number in range(REQUESTS_PER_CLIENT * 5):
            kind = "get" if request_number % 2 == 0 else KINDS[request_number % len(KINDS)]
            reply = ask(app, "/file.bin", kind, old_etag, "none")
            counts[number][classify(kind, reply, versions[:1], old_etag)] += 1

    run_clients(CLIENTS, unchanged)
    assert sum(sum(count.values()) for count in counts) == CLIENTS * REQUESTS_PER_CLIENT * 5
    assert entry.identity.body == datas[0], "the body left memory while its file did not change"

    clients_done = threading.Event()
    swaps = [0]

    def swapper() -> None:
        while not clients_done.is_set() and swaps[0] < 2_000:
            swaps[0] += 1
            replace_by_rename(path, datas[swaps[0] % 2])
            time.sleep(0.005)

    def changing(number: int) -> None:
        rng = random.Random(number)
        start.wait(WAIT_DEADLINE)
        for _ in range(REQUESTS_PER_CLIENT * 5):
            kind = rng.choice(KINDS)
            reply = ask(app, "/file.bin", kind, old_etag, rng.choice(list(WRAPPERS)))
            counts[number][classify(kind, reply, versions, old_etag)] += 1

    for count in counts:
        count.clear()
    writer = threading.Thread(target=swapper, daemon=True)
    writer.start()
    try:
        run_clients(CLIENTS, changing)
    finally:
        clients_done.set()
        writer.join(WAIT_DEADLINE)
    seen = sum(counts, Counter[str]())
    print(f"\nin-process threads: {dict(seen)} while swapping {swaps[0]} times")
    assert sum(seen.values()) == CLIENTS * REQUESTS_PER_CLIENT * 5
    assert swaps[0] > 0


CLIENTS = 16
REQUESTS_PER_CLIENT = 40


class ServerError(AssertionError):
    """A 5xx from the server."""


def check_status(response: RawResponse, target: str) -> None:
    if response.status >= 500:
        raise ServerError(f"{response.status} for {target}: {response.body[:200]!r}")


@pytest.mark.server
def test_concurrent_clients_get_exactly_the_files_bytes(served: Served, request: pytest.FixtureRequest) -> None:
    if served.worker != "gthread":
        pytest.skip("one sync worker answers one request at a time")
    etags = {name: fetch(served.port, f"/static/{name}").header("ETag") or "" for name in served.files}
    done: Counter[str] = Counter()
    counting = threading.Lock()  # += on a shared Counter can lose an update between threads

    def client(number: int) -> None:
        rng = random.Random(number)
        with RawClient(served.port) as connection:  # keep-alive: many requests per connection
            for _ in range(REQUESTS_PER_CLIENT):
                name = rng.choice(list(served.files))
                data = served.files[name]
                method, headers = random_request(rng, name, len(data), etags[name])
                connection.send(method, f"/static/{name}", list(headers.items()))
                response = connection.read_response(method)
                check_status(response, name)
                check_answer(response, method, headers, data)
                with counting:
                    done[name] += 1

    run_clients(CLIENTS, client)
    assert sum(done.values()) == CLIENTS * REQUESTS_PER_CLIENT


@pytest.mark.server
def test_replacements_under_concurrent_clients_are_never_mixed(
    served: Served, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if served.worker != "gthread":
        pytest.skip("one sync worker answers one request at a time")
    etags = {
        name: tuple(etag_of(data, tmp_path / f"{name}-{n}") for n, data in enumerate(versions))
        for name, versions in SWAP.items()
    }
    readers_done = threading.Event()
    swaps: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    counting = threading.Lock()  # += on a shared Counter can lose an update between threads

    def swapper() -> None:
        for number in itertools.count():
            if readers_done.is_set() or number >= 2_000:
                return
            for name, versions in SWAP.items():
                replace_by_rename(served.root / name, versions[number % 2])
                swaps[name] += 1
            # Paced, so that two versions never share an mtime tick: the index tells files apart
            # by (size, mtime, inode), and a freed inode number is soon given to a new file.
            time.sleep(0.02)

    def client(number: int) -> None:
        rng = random.Random(1000 + number)
        with RawClient(served.port) as connection:
            for _ in range(REQUESTS_PER_CLIENT):
                name = rng.choice(list(SWAP))
                size = len(SWAP[name][0])
                method, headers = random_request(rng, name, size, etags[name][0])
                connection.send(method, f"/static/{name}", list(headers.items()))
                response = connection.read_response(method)
                check_status(response, name)
                if response.status == 404:  # changing faster than it could be read: passed on
                    with counting:
                        seen["miss"] += 1
                    continue
                etag = response.header("ETag")
                assert etag in etags[name], f"{name}: ETag {etag} is of neither version"
                version = etags[name].index(etag)
                check_answer(
                    response, method, headers if version == 0 else without_validator(headers), SWAP[name][version]
                )
                with counting:
                    seen[f"version {version}"] += 1

    writer = threading.Thread(target=swapper, daemon=True)
    writer.start()
    try:
        run_clients(CLIENTS, client)
    finally:
        readers_done.set()
        writer.join(WAIT_DEADLINE)
    print(f"\n{served.name}: {dict(seen)} while swapping {dict(swaps)}")
    assert sum(seen.values()) == CLIENTS * REQUESTS_PER_CLIENT
    assert min(swaps.values()) > 0


def without_validator(headers: dict[str, str]) -> dict[str, str]:
    """The request as a file whose ETag is not the one named answers it: If-None-Match is false."""
    return {name: value for name, value in headers.items() if name != "If-None-Match"}


@pytest.mark.server
def test_a_file_replaced_mid_body_is_sent_whole(served: Served) -> None:
    with slow_client(served.port) as client:
        client.sendall(request_bytes("/static/replace-me.bin", close=True))
        head, body = read_head(client, at_least=1)
        # The server is now inside the file (it is larger than every buffer on the way).
        replace_by_rename(served.root / "replace-me.bin", payload(len(served.huge), 99))
        while chunk := client.recv(1 << 20):
            body += chunk
    assert head.startswith("HTTP/1.1 200"), head
    assert int(head_field(head, "Content-Length")) == len(served.huge)
    assert body == served.huge, "the replaced file's bytes were sent under the old head"


@pytest.mark.server
def test_a_body_cut_short_never_looks_complete(served: Served, request: pytest.FixtureRequest) -> None:
    """A multipart body whose file is truncated while it is sent, and a request pipelined behind it."""
    path = served.root / "truncate-me.bin"
    with slow_client(served.port) as client:
        # Multipart: the body comes from staticwrap's own iterator, not from sendfile.
        client.sendall(request_bytes("/static/truncate-me.bin", [("Range", "bytes=0-0,2-")]))
        head, body = read_head(client)
        content_length = int(head_field(head, "Content-Length"))
        # 100 bytes fewer than Content-Length promises, well after all the server can have sent.
        os.truncate(path, len(served.huge) - 100)
        with contextlib.suppress(OSError):  # a server that closed the connection may refuse it
            client.sendall(request_bytes("/static/small.txt"))
        with contextlib.suppress(ConnectionResetError):
            while len(body) < content_length and (chunk := client.recv(1 << 20)):
                body += chunk
    assert head.startswith("HTTP/1.1 206"), head
    # The client must be able to tell the body is incomplete: the connection ends before it.
    assert len(body) < content_length, f"a complete-looking body ending in {body[-160:]!r}"
