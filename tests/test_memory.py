"""The body cache: small files served from memory, and dropped the moment their file changes.

Every test runs against real files and the kernel's real inotify events:
the change is made on disk, and the very next request must see it (rule 35),
with no waiting.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from staticwrap import ConfigurationError, StaticWrap
from staticwrap.asset import Asset
from staticwrap.memory import BodyCache, _keys, path_keys
from staticwrap.watch import IN_Q_OVERFLOW, WATCHER, Watcher
from tests.conftest import TEN, call, downstream, etag_of, in_forked_child, write

pytestmark = [
    pytest.mark.skipif(not WATCHER.available, reason="the body cache needs inotify (Linux)"),
    pytest.mark.usefixtures("change_check"),  # with each way of asking the kernel for news
]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def asset(app: StaticWrap, url: str) -> Asset:
    entry = app.files[url]
    assert isinstance(entry, Asset)
    return entry


def test_second_request_opens_no_file(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path)
    first = call(app, "/ten.txt")
    assert (first.code, first.body) == (200, TEN)
    assert asset(app, "/ten.txt").identity.body == TEN
    before = open_descriptors()
    # With the file gone from the directory's view of the process's descriptors,
    # a body can only come from memory: count descriptors around the call.
    second = app(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/ten.txt"}, lambda status, headers, exc_info=None: lambda data: None
    )
    assert open_descriptors() == before
    assert list(second) == [TEN]


@pytest.mark.parametrize("how", ["in place, same size", "in place, grown", "renamed over", "touched"])
def test_a_change_on_disk_is_seen_by_the_next_request(tmp_path: Path, how: str) -> None:
    path = write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path)
    for _ in range(2):
        assert call(app, "/ten.txt").body == TEN  # the second from memory
    new = {"in place, grown": b"0123456789 and more"}.get(how, b"abcdefghij")
    if how == "renamed over":
        write(tmp_path, "ten.new", new)
        os.replace(tmp_path / "ten.new", path)
    elif how == "touched":
        new = TEN
        os.utime(path, (1_800_000_000, 1_800_000_000))
    else:
        with path.open("r+b") as file:
            file.write(new)
    response = call(app, "/ten.txt")
    assert (response.code, response.body, response.header("ETag")) == (200, new, etag_of(new))
    assert response.header("Content-Length") == str(len(new))


def test_a_deleted_file_is_passed_on_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path)
    call(app, "/ten.txt")
    path.unlink()
    assert call(app, "/ten.txt").body == b"app:GET /ten.txt"


def test_a_304_is_not_given_for_a_file_changed_since(tmp_path: Path) -> None:
    path = write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path)
    tag = call(app, "/ten.txt").header("ETag")
    assert tag is not None
    assert call(app, "/ten.txt", {"If-None-Match": tag}).code == 304  # from memory
    path.write_bytes(b"abcdefghij")
    response = call(app, "/ten.txt", {"If-None-Match": tag})
    assert (response.code, response.body) == (200, b"abcdefghij")


def test_a_304_is_not_given_while_another_thread_reloads_a_body_changed_in_place(tmp_path: Path) -> None:
    # Bytes rewritten in place with the size and modification time put back:
    # only the watch tells, and it drops the body. While another thread
    # reloads it (its registration made, its read not yet done), a request
    # that finds the reload under way must not fall back on a stat, which
    # sees nothing, and answer 304 under the old ETag.
    path = write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path)
    tag = call(app, "/ten.txt").header("ETag")
    assert tag is not None
    assert call(app, "/ten.txt", {"If-None-Match": tag}).code == 304  # from memory
    st = path.stat()
    with path.open("r+b") as file:
        file.write(b"abcdefghij")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    WATCHER.sync()  # the event drops the body
    variant = asset(app, "/ten.txt").identity
    assert variant.body is None
    cache = app._memory
    assert cache is not None
    # Another thread's reload, caught between its registration and its read.
    keys = _keys(variant.file, None, cache.roots)
    assert keys is not None
    assert cache._register(variant, keys, 100) is True

    response = call(app, "/ten.txt", {"If-None-Match": tag})

    assert (response.code, response.body, response.header("ETag")) == (200, b"abcdefghij", etag_of(b"abcdefghij"))


def test_renaming_a_directory_on_the_path_is_seen(tmp_path: Path) -> None:
    # A deploy that swaps the directory: static -> old, new -> static.
    write(tmp_path, "site/static/css/app.css", "old{}")
    app = StaticWrap(downstream, tmp_path / "site")
    call(app, "/static/css/app.css")
    write(tmp_path, "next/static/css/app.css", "new{}")
    os.rename(tmp_path / "site", tmp_path / "previous")
    os.rename(tmp_path / "next", tmp_path / "site")
    response = call(app, "/static/css/app.css")
    assert (response.code, response.body) == (200, b"new{}")


def test_re_pointing_a_symlinked_directory_is_seen(tmp_path: Path) -> None:
    # The "current -> releases/N" layout.
    write(tmp_path, "releases/1/app.js", "one")
    write(tmp_path, "releases/2/app.js", "two")
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "releases/1")
    app = StaticWrap(downstream, current)
    assert call(app, "/app.js").body == b"one"
    (tmp_path / "next").symlink_to(tmp_path / "releases/2")
    os.replace(tmp_path / "next", current)
    assert call(app, "/app.js").body == b"two"


def test_path_keys_cover_every_component_and_the_real_path(tmp_path: Path) -> None:
    write(tmp_path, "real/f.txt", "x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    keys = path_keys(str(tmp_path / "link" / "f.txt"))
    assert keys is not None
    assert (str(tmp_path), "link") in keys
    assert (str(tmp_path / "link"), "f.txt") in keys
    assert (str(tmp_path), "real") in keys
    assert (str(tmp_path / "real"), "f.txt") in keys
    assert ("/", str(tmp_path).split("/")[1]) in keys


def test_path_keys_stop_at_a_plain_root(tmp_path: Path) -> None:
    write(tmp_path, "static/css/app.css", "x")
    app = StaticWrap(None, tmp_path / "static")
    keys = path_keys(str(tmp_path / "static/css/app.css"), app.index.roots)
    assert keys == {
        (str(tmp_path), "static"),
        (str(tmp_path / "static"), "css"),
        (str(tmp_path / "static/css"), "app.css"),
    }


def test_a_symlink_out_of_the_root_is_watched_to_its_target(tmp_path: Path) -> None:
    write(tmp_path, "shared/lib.js", "one")
    write(tmp_path, "static/x.txt", "x")
    (tmp_path / "static/lib.js").symlink_to(tmp_path / "shared/lib.js")
    app = StaticWrap(downstream, tmp_path / "static", follow_symlinks=True)
    assert call(app, "/lib.js").body == b"one"
    (tmp_path / "shared/lib.js").write_bytes(b"two")
    assert call(app, "/lib.js").body == b"two"


def test_budget_and_largest_file_are_kept_to(tmp_path: Path) -> None:
    for name in "abcd":
        write(tmp_path, f"{name}.bin", name.encode() * 100)
    write(tmp_path, "big.bin", b"B" * 500)
    # What one of these bodies is charged (its bytes and its bookkeeping), from a cache of its own.
    probe = BodyCache(1 << 20, 400, WATCHER, StaticWrap(None, tmp_path, memory_budget=0).index.roots)
    assert probe.load(asset(StaticWrap(None, tmp_path, memory_budget=0), "/a.bin").identity) == b"a" * 100
    assert 100 < probe.used < 1 << 20
    app = StaticWrap(downstream, tmp_path, memory_budget=probe.used * 5 // 2, memory_max_file=400)
    for url in ("/a.bin", "/b.bin", "/c.bin", "/d.bin", "/big.bin"):
        response = call(app, url)
        assert response.body == (b"B" * 500 if url == "/big.bin" else url[1:2].encode() * 100)
    cached = [url for url in app.files if asset(app, url).identity.body is not None]
    assert cached == ["/a.bin", "/b.bin"]  # first come, first served, within 2.5 bodies; big.bin is over 400


def test_memory_budget_zero_keeps_nothing(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path, memory_budget=0)
    for _ in range(2):
        assert call(app, "/ten.txt").body == TEN
    assert asset(app, "/ten.txt").identity.body is None


def test_autorefresh_keeps_nothing_in_memory(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path, autorefresh=True)
    call(app, "/ten.txt")
    entry = app.index.lookup("/ten.txt")
    assert isinstance(entry, Asset)
    assert entry.identity.body is None


def test_without_inotify_nothing_is_cached(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    cache = BodyCache(1 << 20, 1000, Watcher(None))  # room for the body and its bookkeeping
    app = StaticWrap(downstream, tmp_path)
    variant = asset(app, "/ten.txt").identity
    assert cache.load(variant) is None
    assert variant.body is None
    assert not variant.cacheable


def test_bytes_that_do_not_match_the_etag_are_never_cached_under_it(tmp_path: Path) -> None:
    # A manifest whose etag is not the hash of the bytes: the file is indexed
    # again, as one rewritten in place would be, and served under its own hash.
    import json

    write(tmp_path, "app.css", "b{}")
    record = {"hashed": "app.css", "size": 3, "mtime": 1_700_000_000, "etag": "not-the-hash"}
    (tmp_path / "staticwrap.json").write_text(json.dumps({"version": 1, "files": {"app.css": record}}))
    app = StaticWrap(downstream, tmp_path)
    for _ in range(2):
        response = call(app, "/app.css")
        assert (response.body, response.header("ETag")) == (b"b{}", etag_of(b"b{}"))
    assert asset(app, "/app.css").identity.body == b"b{}"


def test_lost_events_drop_every_body(tmp_path: Path) -> None:
    # IN_Q_OVERFLOW cannot be provoked on demand: deliver one as the kernel
    # writes it (wd -1, no name) to the process's watcher.
    write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path)
    call(app, "/ten.txt")
    assert asset(app, "/ten.txt").identity.body == TEN
    WATCHER.dispatch(struct.pack("iIII", -1, IN_Q_OVERFLOW, 0, 0))
    assert asset(app, "/ten.txt").identity.body is None
    assert call(app, "/ten.txt").body == TEN


@pytest.mark.skipif(sys.platform != "linux", reason="fork and inotify")
def test_a_forked_child_starts_with_an_empty_cache_and_its_own_watches(tmp_path: Path) -> None:
    # A Gunicorn worker forked from a --preload master that had cached files.
    path = write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path)
    call(app, "/ten.txt")

    def in_child() -> list[bool]:
        seen = [asset(app, "/ten.txt").identity.body is None, call(app, "/ten.txt").body == TEN]
        path.write_bytes(b"abcdefghij")
        seen.append(call(app, "/ten.txt").body == b"abcdefghij")
        return seen

    assert in_forked_child(in_child) == [True, True, True]


@pytest.mark.parametrize("option", ["memory_budget", "memory_max_file"])
@pytest.mark.parametrize("value", [-1, 1.5, "1M", True])
def test_bad_memory_options_are_refused(tmp_path: Path, option: str, value: object) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(ConfigurationError, match=f"{option}="):
        StaticWrap(None, tmp_path, **options)
