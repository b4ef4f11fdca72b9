"""The per-request change check: the first request after a change sees it (docs/change-detection.rst).

Each test makes a change on disk and then, at once, a request: a revalidation
with the old ETag (which must not get a 304) or a plain GET (which must get
the new bytes, or pass to the application for a deleted file). Bodies held in
memory are checked through inotify (any change, a forged mtime included);
bodies read from disk (memory_budget=0) through stat, which sees a change of
inode, size or mtime. ETags are derived here from the bytes with hashlib.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from staticwrap import StaticWrap
from staticwrap.asset import Asset
from tests.conftest import MTIME, call, downstream, etag_of, write

pytestmark = pytest.mark.usefixtures("change_check")  # with each way of asking the kernel for news

OLD = b"a{color:red}"
NEW = b"a{color:tan}"  # the same size


def in_place(path: Path) -> None:
    """Rewrite the bytes through the same inode; the mtime moves on."""
    with open(path, "r+b") as file:
        file.write(NEW)


def in_place_mtime_kept(path: Path) -> None:
    """Rewrite the bytes through the same inode, and put the old mtime back: size, inode and mtime unchanged."""
    before = path.stat()
    in_place(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_ino, after.st_mtime_ns) == (before.st_size, before.st_ino, before.st_mtime_ns)


def renamed_over(path: Path) -> None:
    """A new file renamed into place, with the old one's mtime: a deploy's atomic replace."""
    temporary = write(path.parent, ".incoming", NEW, mtime=MTIME)
    os.replace(temporary, path)


def deleted(path: Path) -> None:
    path.unlink()


Change = Callable[[Path], None]
#: The changes every check sees, and the one only the inotify check sees.
SEEN_BY_BOTH: list[Change] = [in_place, renamed_over, deleted]


def served_from_memory(app: StaticWrap, url: str) -> bool:
    entry = app.files[url]
    assert isinstance(entry, Asset)
    return entry.identity.body is not None


def make_app(root: Path, *, memory: bool) -> StaticWrap:
    write(root, "a.css", OLD)
    app = StaticWrap(downstream, root) if memory else StaticWrap(downstream, root, memory_budget=0)
    assert call(app, "/a.css").body == OLD  # the first request: a body in memory is read now
    assert served_from_memory(app, "/a.css") is memory
    return app


def assert_sees(app: StaticWrap, change: Change, *, conditional: bool) -> None:
    headers = {"If-None-Match": etag_of(OLD)} if conditional else {}
    response = call(app, "/a.css", headers)
    if change is deleted:
        assert response.body == b"app:GET /a.css"
    else:
        assert (response.code, response.header("ETag"), response.body) == (200, etag_of(NEW), NEW)


CASES = [
    *[(True, change) for change in [*SEEN_BY_BOTH, in_place_mtime_kept]],
    *[(False, change) for change in SEEN_BY_BOTH],
]


@pytest.mark.parametrize("conditional", [True, False], ids=["304 asked", "GET"])
@pytest.mark.parametrize(
    ("memory", "change"), CASES, ids=[f"{'memory' if m else 'disk'}-{c.__name__}" for m, c in CASES]
)
def test_the_first_request_after_a_change_sees_it(
    tmp_path: Path, memory: bool, change: Change, conditional: bool
) -> None:
    app = make_app(tmp_path, memory=memory)
    headers = {"If-None-Match": etag_of(OLD)} if conditional else {}
    assert call(app, "/a.css", headers).code == (304 if conditional else 200)
    change(tmp_path / "a.css")
    assert_sees(app, change, conditional=conditional)


@pytest.mark.parametrize("change", [*SEEN_BY_BOTH, in_place_mtime_kept], ids=lambda change: change.__name__)
def test_a_request_on_another_thread_after_a_change_sees_it(tmp_path: Path, change: Change) -> None:
    # The change is made on this thread; the request starts after it, on another.
    app = make_app(tmp_path, memory=True)
    change(tmp_path / "a.css")
    failures: list[BaseException] = []

    def request() -> None:
        try:
            assert_sees(app, change, conditional=False)
        except BaseException as error:  # reported on the main thread
            failures.append(error)

    thread = threading.Thread(target=request)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert not failures, failures


def test_many_changes_at_once_are_all_seen(tmp_path: Path) -> None:
    # More events are queued than the one the check asks the kernel about:
    # every one is delivered before any body in memory is used.
    names = [f"f{number}.css" for number in range(8)]
    for name in names:
        write(tmp_path, name, OLD)
    app = StaticWrap(downstream, tmp_path)
    for name in names:
        assert call(app, "/" + name).body == OLD
        assert served_from_memory(app, "/" + name)
    for name in names:
        in_place_mtime_kept(tmp_path / name)
    for name in reversed(names):
        response = call(app, "/" + name, {"If-None-Match": etag_of(OLD)})
        assert (response.code, response.body) == (200, NEW)


def test_an_unchanged_file_keeps_getting_304_from_memory(tmp_path: Path) -> None:
    # The counterpart: with no change, the answer is the 304, from memory.
    app = make_app(tmp_path, memory=True)
    for _ in range(3):
        response = call(app, "/a.css", {"If-None-Match": etag_of(OLD)})
        assert (response.code, response.body, response.header("ETag")) == (304, b"", etag_of(OLD))
    assert served_from_memory(app, "/a.css")
