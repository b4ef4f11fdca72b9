"""Issue 11, the body cache and coded variants: findings 3, 4, 6, 7 and the path_keys race of 5.

Everything runs on real files, the kernel's real inotify events, real threads and a real Gunicorn:

- **3, stale coded variants.** ``app.js`` replaced by rename (or deleted) while its ``.br`` and
  ``.gz`` stay: every later answer for a client that accepts br or gzip is the new identity file
  (the siblings are stale) or a pass-through, never the old bytes nor the old ETag; in the three
  ways files are served (memory, disk with and without a ``wsgi.file_wrapper``), for GET, HEAD,
  304, 412 and 416, and under Gunicorn (sync and gthread).
- **4, bounded bookkeeping.** Thousands of one-byte files requested once each: the memory the
  cache adds is within ``memory_budget`` (measured with tracemalloc against the same requests
  with the cache off), the inotify watches of the process (counted in /proc/self/fdinfo) stay
  within the watcher's limit, every file is still served with its bytes, and watches no body
  needs any more are given back (a ``current -> releases/N`` deploy repeated).
- **6, hard links.** A file edited in place through a hard link in another directory, the link
  made before the file was cached or after: the next request gets the new bytes.
- **7, threads.** A request that starts after a replacement completed never gets the old bytes,
  even while another thread holds the change events read but not yet delivered (shown with a
  listener that blocks the delivery), and under threads replacing and reading at once.
- **5 (path_keys).** A symlink on the path re-pointed the non-atomic way (unlink, symlink) while
  the cache computes the keys: the variant is not cached, never an exception.
"""

from __future__ import annotations

import gzip
import os
import threading
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest

from staticwrap import StaticWrap
from staticwrap.asset import Asset
from staticwrap.memory import path_keys
from staticwrap.watch import MAX_WATCHES, WATCHER
from tests.conftest import Mode, call, downstream, etag_of, write
from tests.test_hardening import WAIT_DEADLINE, gunicorn, replace_by_rename
from tests.test_server import fetch

pytestmark = [
    pytest.mark.skipif(not WATCHER.available, reason="the body cache needs inotify (Linux)"),
    pytest.mark.usefixtures("change_check"),  # with each way of asking the kernel for news
]

OLD = b"console.log('the old version of app.js');\n" * 40
NEW = b"console.log('the new version, another size');\n" * 40
#: A client that accepts both codings, and each alone.
CODED_ACCEPTS = ("br", "gzip", "gzip, deflate, br")


def coded_tree(root: Path) -> Path:
    """``app.js`` with an up-to-date ``.br`` and ``.gz`` (and ``small.txt``, Gunicorn's probe)."""
    write(root, "small.txt", b"probe\n")
    write(root, "app.js.br", brotli.compress(OLD))
    write(root, "app.js.gz", gzip.compress(OLD, mtime=0))
    return write(root, "app.js", OLD)


def asset_of(app: StaticWrap, url: str) -> Asset:
    entry = app.files[url]
    assert isinstance(entry, Asset)
    return entry


@pytest.fixture
def stale_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """The warnings raised during the test, as they come (a stale sibling is dropped with one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def old_coded_tags(app: StaticWrap, environ: dict[str, Any]) -> dict[str, str]:
    """The ETag of each coded variant before the change, as a client that cached it holds it."""
    tags: dict[str, str] = {}
    for coding in ("br", "gzip"):
        response = call(app, "/app.js", {"Accept-Encoding": coding}, environ=environ)
        assert response.header("Content-Encoding") == coding, "the tree's siblings must be served before the change"
        tag = response.header("ETag")
        assert tag is not None
        tags[coding] = tag
    return tags


def check_new_identity(app: StaticWrap, environ: dict[str, Any], old_tags: dict[str, str]) -> None:
    """Every kind of request for /app.js by a client accepting br or gzip is answered from NEW alone."""
    new_tag = etag_of(NEW)
    for accept in CODED_ACCEPTS:
        for _ in range(2):  # the second may come from memory
            get = call(app, "/app.js", {"Accept-Encoding": accept}, environ=environ)
            found = (get.code, get.header("Content-Encoding"), get.header("ETag"), get.body)
            assert found == (200, None, new_tag, NEW), f"GET, Accept-Encoding {accept}: {found[:3]}"
            head = call(app, "/app.js", {"Accept-Encoding": accept}, method="HEAD", environ=environ)
            found_head = (
                head.code,
                head.header("Content-Encoding"),
                head.header("ETag"),
                head.header("Content-Length"),
            )
            assert found_head == (200, None, new_tag, str(len(NEW))), f"HEAD, {accept}"
        for old_tag in old_tags.values():
            # §13.1.2: the old coded tag matches nothing on disk now: the full new answer.
            revalidated = call(app, "/app.js", {"Accept-Encoding": accept, "If-None-Match": old_tag}, environ=environ)
            assert (revalidated.code, revalidated.body) == (200, NEW), f"If-None-Match {old_tag}, {accept}"
            # §13.1.1: a write conditional on the old coded bytes fails.
            failed = call(app, "/app.js", {"Accept-Encoding": accept, "If-Match": old_tag}, environ=environ)
            assert (failed.code, failed.body) == (412, b""), f"If-Match {old_tag}, {accept}: {failed.code}"
        current = call(app, "/app.js", {"Accept-Encoding": accept, "If-Match": new_tag}, environ=environ)
        assert (current.code, current.body) == (200, NEW), f"If-Match the new tag, {accept}: {current.code}"
        beyond = call(app, "/app.js", {"Accept-Encoding": accept, "Range": "bytes=100000-"}, environ=environ)
        found_416 = (beyond.code, beyond.header("Content-Range"), beyond.header("ETag"))
        assert found_416 == (416, f"bytes */{len(NEW)}", new_tag), f"416, {accept}"


def check_passed_on(app: StaticWrap, environ: dict[str, Any]) -> None:
    for accept in CODED_ACCEPTS:
        for method in ("GET", "HEAD"):
            response = call(app, "/app.js", {"Accept-Encoding": accept}, method=method, environ=environ)
            assert (response.code, response.header("Content-Encoding")) == (200, None), f"{method}, {accept}"
            assert response.body == f"app:{method} /app.js".encode()  # the application's own answer


def test_a_coded_variant_is_not_served_once_its_original_is_replaced(
    tmp_path: Path, mode: Mode, make_app: Callable[..., StaticWrap], stale_warnings: list[warnings.WarningMessage]
) -> None:
    path = coded_tree(tmp_path)
    app = make_app(downstream, tmp_path)
    old_tags = old_coded_tags(app, mode.environ)
    replace_by_rename(path, NEW)
    check_new_identity(app, mode.environ, old_tags)
    # The new build checked the siblings against the new original, and said why it dropped them.
    messages = [str(warning.message) for warning in stale_warnings]
    assert any(f"{path}.br is not served" in message for message in messages), messages
    assert asset_of(app, "/app.js").codings == ()


def test_a_coded_variant_is_not_served_once_its_original_is_edited_in_place(
    tmp_path: Path, mode: Mode, make_app: Callable[..., StaticWrap], stale_warnings: list[warnings.WarningMessage]
) -> None:
    path = coded_tree(tmp_path)
    app = make_app(downstream, tmp_path)
    old_tags = old_coded_tags(app, mode.environ)
    path.write_bytes(NEW)  # the same inode: only its size and mtime tell
    check_new_identity(app, mode.environ, old_tags)


def test_no_coding_of_a_deleted_original_is_served(
    tmp_path: Path, mode: Mode, make_app: Callable[..., StaticWrap]
) -> None:
    path = coded_tree(tmp_path)
    app = make_app(downstream, tmp_path)
    old_coded_tags(app, mode.environ)
    path.unlink()
    check_passed_on(app, mode.environ)
    assert "/app.js" not in app.files


@pytest.mark.server
@pytest.mark.parametrize("worker", ["sync", "gthread"])
def test_a_stale_coded_variant_is_never_served_under_gunicorn(tmp_path: Path, worker: str) -> None:
    path = coded_tree(tmp_path / "root")
    with gunicorn(tmp_path / "root", tmp_path / "server", worker=worker) as server:
        for accept in CODED_ACCEPTS:
            for _ in range(3):  # the first from disk, then from memory
                response = fetch(server.port, "/static/app.js", [("Accept-Encoding", accept)])
                assert response.header("Content-Encoding") in {"br", "gzip"}
        replace_by_rename(path, NEW)
        answers = []
        for accept in CODED_ACCEPTS * 10:
            response = fetch(server.port, "/static/app.js", [("Accept-Encoding", accept)])
            answers.append((response.status, response.header("Content-Encoding"), response.header("ETag")))
            assert response.body == NEW, f"{accept}: {len(response.body)} bytes, {answers[-1]}"
        assert set(answers) == {(200, None, etag_of(NEW))}
        head = fetch(server.port, "/static/app.js", [("Accept-Encoding", "br")], method="HEAD")
        assert (head.header("Content-Encoding"), head.header("Content-Length")) == (None, str(len(NEW)))
        path.unlink()
        for accept in CODED_ACCEPTS * 3:
            gone = fetch(server.port, "/static/app.js", [("Accept-Encoding", accept)])
            assert (gone.status, gone.header("Content-Encoding")) == (404, None), accept
        assert b"app.js.br is not served" in server.log.read_bytes()


# -- finding 4: the bookkeeping and the watches are bounded -------------------------------------


def inotify_watches() -> int:
    """The inotify watches this process holds: one "inotify wd:" line per watch in fdinfo (proc(5))."""
    count = 0
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{descriptor}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/self/fdinfo/{descriptor}").read_text()
        except OSError:
            continue  # the descriptor of the listing itself, closed meanwhile
        count += sum(line.startswith("inotify wd:") for line in info.splitlines())
    return count


def one_byte_files(root: Path, count: int, depth: int = 0) -> dict[str, bytes]:
    """``count`` one-byte files, each in a directory of its own, ``depth`` more below it: URL -> bytes.

    The worst cases for the bookkeeping: every file needs watches and records of its own.
    """
    files = {}
    for number in range(count):
        data = bytes([65 + number % 26])
        relative = "/".join([f"d{number}", *[f"x{number}"] * depth, "f.txt"])
        write(root, relative, data)
        files["/" + relative] = data
    return files


def get(app: StaticWrap, url: str) -> bytes:
    """The body of a GET for ``url``, called as a server calls it (no lint: thousands are made)."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        statuses.append(status)
        return lambda data: None

    body = app({"REQUEST_METHOD": "GET", "PATH_INFO": url}, start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    assert statuses == ["200 OK"], f"{url}: {statuses}"
    return data


def cached_count(app: StaticWrap) -> int:
    return sum(asset_of(app, url).identity.body is not None for url in app.files)


def test_watches_stay_within_the_limit_whatever_is_requested(tmp_path: Path) -> None:
    files = one_byte_files(tmp_path / "root", 5000)
    app = StaticWrap(downstream, tmp_path / "root")
    for url, data in files.items():
        assert get(app, url) == data
    watches = inotify_watches()
    assert watches <= WATCHER.limit <= MAX_WATCHES, f"{watches} watches for {len(files)} files"
    cached = cached_count(app)
    assert 0 < cached < len(files)
    # Past the bound, files are served from disk, with their bytes, and still as they change.
    for url, data in files.items():
        assert get(app, url) == data
    last = tmp_path / "root" / "d4999/f.txt"
    last.write_bytes(b"changed")
    assert get(app, "/d4999/f.txt") == b"changed"
    assert inotify_watches() <= WATCHER.limit


@pytest.mark.parametrize("depth", [0, 3])
def test_the_cache_bookkeeping_is_counted_in_the_budget(tmp_path: Path, depth: int) -> None:
    files = one_byte_files(tmp_path / "root", 1500, depth)
    budget = 1024 * 1024
    growth = {}
    apps = []  # kept alive: their bookkeeping must still be there when measured
    for budget_given in (0, budget):
        app = StaticWrap(None, tmp_path / "root", memory_budget=budget_given)
        apps.append(app)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for url, data in files.items():
                assert get(app, url) == data
            growth[budget_given] = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    added = growth[budget] - growth[0]
    assert added <= budget, f"the cache added {added} bytes for a budget of {budget} ({cached_count(apps[1])} bodies)"
    assert 0 < cached_count(apps[1]) < len(files)


def test_watches_no_body_needs_are_given_back(tmp_path: Path) -> None:
    # The "current -> releases/N" deploy, repeated: each deploy's directory is watched while its
    # file is in memory, and no longer once the link points elsewhere.
    current = tmp_path / "current"

    def deploy(number: int) -> bytes:
        data = f"release {number}\n".encode()
        write(tmp_path, f"releases/{number}/app.js", data)
        (tmp_path / "next").symlink_to(tmp_path / f"releases/{number}")
        os.replace(tmp_path / "next", current)
        return data

    deploy(0)
    app = StaticWrap(downstream, current)
    assert get(app, "/app.js") == b"release 0\n"
    baseline = inotify_watches()
    for number in range(1, 41):
        data = deploy(number)
        assert get(app, "/app.js") == data
        assert asset_of(app, "/app.js").identity.body == f"release {number}\n".encode(), "not held in memory"
        assert inotify_watches() <= baseline, f"deploy {number}"


# -- finding 6: hard links --------------------------------------------------------------------


@pytest.mark.parametrize("linked", ["before it is cached", "after it is cached"])
def test_an_edit_through_a_hard_link_in_another_directory_is_seen(tmp_path: Path, linked: str) -> None:
    path = write(tmp_path / "root", "app.js", OLD)
    elsewhere = tmp_path / "elsewhere" / "same.js"
    elsewhere.parent.mkdir()
    if linked == "before it is cached":
        os.link(path, elsewhere)
    app = StaticWrap(downstream, tmp_path / "root")
    for _ in range(2):
        assert get(app, "/app.js") == OLD
    assert asset_of(app, "/app.js").identity.body == OLD, "not held in memory"
    if linked == "after it is cached":
        os.link(path, elsewhere)
    edited = OLD.replace(b"old", b"NEW")  # the same size, in place: the same inode
    with elsewhere.open("r+b") as file:
        file.write(edited)
    response = call(app, "/app.js")
    assert (response.body, response.header("ETag")) == (edited, etag_of(edited))


# -- finding 7: threads -----------------------------------------------------------------------


class BlockingListener:
    """A watcher listener that holds the delivery of events at the one naming ``trigger``."""

    def __init__(self, directory: Path) -> None:
        self.directory = str(directory)
        self.entered = threading.Event()
        self.release = threading.Event()

    def changed(self, directory: str | None, name: str | None) -> None:
        if (directory, name) == (self.directory, "trigger"):
            self.entered.set()
            self.release.wait(WAIT_DEADLINE)


def test_a_request_after_a_replacement_waits_for_events_read_but_not_delivered(tmp_path: Path) -> None:
    path = write(tmp_path / "root", "app.js", OLD)
    side = tmp_path / "side"
    side.mkdir()
    app = StaticWrap(downstream, tmp_path / "root")
    for _ in range(2):
        assert get(app, "/app.js") == OLD
    assert asset_of(app, "/app.js").identity.body == OLD, "not held in memory"
    listener = BlockingListener(side)
    assert WATCHER.watch(str(side), listener)
    (side / "trigger").write_bytes(b"x")  # the first event the next sync delivers
    replace_by_rename(path, NEW)  # complete: its events are queued behind the trigger's
    syncer = threading.Thread(target=WATCHER.sync, daemon=True)
    syncer.start()
    try:
        assert listener.entered.wait(WAIT_DEADLINE)
        # The syncer has read every event and is stuck delivering the first: epoll says nothing
        # is pending. A request that starts now, after the replacement, must not get OLD.
        bodies: list[bytes] = []
        requester = threading.Thread(target=lambda: bodies.append(get(app, "/app.js")), daemon=True)
        requester.start()
        requester.join(0.5)  # time to answer wrongly at once; the fixed code waits for the delivery
    finally:
        listener.release.set()
        syncer.join(WAIT_DEADLINE)
        WATCHER.release(str(side))
    requester.join(WAIT_DEADLINE)
    assert bodies == [NEW]


def test_threads_never_get_a_version_older_than_the_last_replacement_completed(tmp_path: Path) -> None:
    versions = [f"version {number}\n".encode() * (number + 1) for number in range(300)]  # sizes differ
    path = write(tmp_path / "root", "app.js", versions[0])
    app = StaticWrap(downstream, tmp_path / "root")
    assert get(app, "/app.js") == versions[0]
    completed = [0]
    done = threading.Event()
    problems: list[str] = []

    def swapper() -> None:
        try:
            for number in range(1, len(versions)):
                replace_by_rename(path, versions[number])
                completed[0] = number
        finally:
            done.set()

    def reader() -> None:
        while not done.is_set():
            floor = completed[0]
            body = get(app, "/app.js")
            if body == b"app:GET /app.js":
                continue  # changing faster than it could be read: passed on, as documented
            number = versions.index(body) if body in versions else -1
            if number < floor:
                problems.append(f"version {number} served after version {floor} was in place")

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(8)]
    threads.append(threading.Thread(target=swapper, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_DEADLINE)
    assert not any(thread.is_alive() for thread in threads)
    assert not problems, problems[:5]
    assert get(app, "/app.js") == versions[-1]


# -- finding 5, second site: memory.path_keys ------------------------------------------------


def test_path_keys_never_raise_while_a_link_on_the_path_is_re_pointed(tmp_path: Path) -> None:
    # The non-atomic re-pointing (unlink, then symlink): realpath may find the link, then not.
    for number in (1, 2):
        write(tmp_path, f"releases/{number}/app.js", OLD)
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "releases/1")
    stop = threading.Event()

    def flip() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            current.unlink()
            current.symlink_to(tmp_path / f"releases/{1 + number % 2}")

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    outcomes = {"keys": 0, "not cached": 0}
    try:
        for _ in range(20_000):
            keys = path_keys(str(current / "app.js"))
            outcomes["keys" if keys is not None else "not cached"] += 1
    finally:
        stop.set()
        flipper.join(WAIT_DEADLINE)
    assert outcomes["keys"] > 0, outcomes
