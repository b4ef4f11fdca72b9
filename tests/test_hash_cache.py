"""The ``hash_cache`` option: a restart reads only the files changed since the cache was written.

What a start reads is counted by the kernel (``rchar`` in ``/proc/self/io``:
bytes returned by read(2) to this process), not by staticwrap. ETags are
compared with ones derived here from the bytes with hashlib.

A file is cached only once its ctime is two seconds older than the scan
(staticwrap.hashcache.RACY_MARGIN_NS): the trees these tests cache are made
once, by a module fixture that then waits out the margin.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest

from staticwrap import ConfigurationError, StaticWrap
from staticwrap.errors import StaticwrapWarning
from tests.conftest import MTIME, call, downstream, etag_of, write

#: Big enough that reading it shows in rchar beside the cache file and directory listings.
SIZE = 512 * 1024
#: Waited after making the trees: the margin of two seconds, and some.
MARGIN = 2.2


def body(seed: int, size: int = SIZE) -> bytes:
    """Text of ``size`` bytes that differs by ``seed`` (it compresses, so siblings are smaller)."""
    line = f"/* file {seed} */ a{{color:#{seed:06x}}}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def read_bytes() -> int:
    """Bytes this process has read with read(2) and the like, as the kernel counts them."""
    with open("/proc/self/io", "rb") as file:
        for line in file:
            if line.startswith(b"rchar:"):
                return int(line.split()[1])
    raise LookupError("rchar")


def start(root: Path, cache: Path, **options: Any) -> tuple[StaticWrap, int]:
    """A StaticWrap over ``root`` with the cache, and the bytes read while it was made."""
    before = read_bytes()
    app = StaticWrap(downstream, root, hash_cache=cache, **options)
    return app, read_bytes() - before


#: The trees of the tests, each made in its own directory before the margin was waited out.
#: (Each test that changes files has its own: a copy, even by hard links, would change the files' ctimes.)
EDITS = ("in place, size and mtime kept", "renamed over", "deleted")
TREES = ("restart", "siblings", "stale-sibling", *EDITS, "corrupt", "shared", "roots", "racy", "workers")


@pytest.fixture(scope="module")
def aged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    top = tmp_path_factory.mktemp("aged")
    for index, name in enumerate(TREES):
        for number in range(3):
            write(top / name, f"f{number}.css", body(10 * index + number))
    original = body(99)
    for name in ("siblings", "stale-sibling"):
        write(top / name, "app.js", original)
        write(top / name, "app.js.gz", gzip.compress(original, mtime=0))
        write(top / name, "app.js.br", brotli.compress(original))
    write(top / "roots" / "second", "g.css", body(98))
    time.sleep(MARGIN)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def test_a_restart_reads_no_cached_file_and_serves_the_same_etags(aged: Path, tmp_path: Path) -> None:
    root, cache = aged / "restart", tmp_path / "cache" / "hashes"
    files = {f"/f{number}.css": (root / f"f{number}.css").read_bytes() for number in range(3)}
    first, cold = start(root, cache)
    assert cold >= 3 * SIZE  # every file hashed
    assert cache.is_file()
    assert (cache.stat().st_mode & 0o777) == 0o600
    second, warm = start(root, cache)
    assert warm < SIZE // 2  # the cache file, not the files
    for app in (first, second):
        for url, data in files.items():
            response = call(app, url)
            assert (response.code, response.header("ETag"), response.body) == (200, etag_of(data), data)


def test_cached_siblings_are_not_decoded_again_and_keep_their_own_etags(aged: Path, tmp_path: Path) -> None:
    root, cache = aged / "siblings", tmp_path / "hashes"
    start(root, cache)
    app, warm = start(root, cache)
    assert warm < SIZE // 2
    for coding, suffix in (("br", ".br"), ("gzip", ".gz")):
        data = (root / f"app.js{suffix}").read_bytes()
        response = call(app, "/app.js", {"Accept-Encoding": coding})
        assert response.header("Content-Encoding") == coding
        assert (response.header("ETag"), response.body) == (etag_of(data), data)


def test_a_stale_sibling_is_refused_even_when_its_original_was_cached(aged: Path, tmp_path: Path) -> None:
    root, cache = aged / "stale-sibling", tmp_path / "hashes"
    start(root, cache)
    # A deploy rewrites the original only; the old .gz no longer decodes to it.
    new = body(97)
    (root / "app.js").unlink()
    write(root, "app.js", new)
    with pytest.warns(StaticwrapWarning) as caught:
        app, _ = start(root, cache)
    for coding, suffix in (("br", ".br"), ("gzip", ".gz")):
        assert any(f"app.js{suffix} is not served as the {coding} coding" in str(w.message) for w in caught)
    response = call(app, "/app.js", {"Accept-Encoding": "gzip"})
    assert response.header("Content-Encoding") is None
    assert (response.header("ETag"), response.body) == (etag_of(new), new)


@pytest.mark.parametrize("change", EDITS)
def test_a_file_changed_after_it_was_cached_is_read_again(aged: Path, tmp_path: Path, change: str) -> None:
    root, cache = aged / change, tmp_path / "hashes"
    start(root, cache)
    path = root / "f0.css"
    old = path.read_bytes()
    new = old.replace(b"file", b"FILE", 1)  # the same size
    assert len(new) == len(old)
    if change == "deleted":
        path.unlink()
    elif change == "renamed over":
        write(root, ".f0.css.tmp", new)
        os.replace(root / ".f0.css.tmp", path)
    else:
        # Bytes rewritten through the same inode, and the old mtime put back:
        # only the ctime, which no system call can set, tells it changed.
        with open(path, "r+b") as file:
            file.write(new)
        os.utime(path, ns=(MTIME * 10**9, MTIME * 10**9))
    app, read = start(root, cache)
    if change == "deleted":
        assert call(app, "/f0.css").body == b"app:GET /f0.css"
        assert read < SIZE // 2
    else:
        assert SIZE <= read < 2 * SIZE  # this file alone
        response = call(app, "/f0.css")
        assert (response.header("ETag"), response.body) == (etag_of(new), new)
    for number in (1, 2):
        data = (root / f"f{number}.css").read_bytes()
        assert call(app, f"/f{number}.css").header("ETag") == etag_of(data)


def test_a_file_changed_within_the_margin_is_not_cached(aged: Path, tmp_path: Path) -> None:
    # Its ctime is too recent: a second change in the same clock tick would
    # keep it, so the next start reads the file again.
    root, cache = aged / "racy", tmp_path / "hashes"
    write(root, "new.css", body(5))
    start(root, cache)
    _, read = start(root, cache)
    assert SIZE <= read < 2 * SIZE


@pytest.mark.parametrize(
    "contents",
    [
        b"",
        b"not a cache at all",
        b"staticwrap-hash-cache\x00\x01\xff\xff\xff\xff",  # a root name longer than the file
        b"staticwrap-hash-cache\x00\x01\x01\x00\x00\x00/\x09\x00\x00\x00",  # nine records promised, none there
        b"staticwrap-hash-cache\x00",  # cut inside the header
    ],
)
def test_a_corrupt_cache_is_ignored_with_a_warning_and_rewritten(aged: Path, tmp_path: Path, contents: bytes) -> None:
    root, cache = aged / "corrupt", tmp_path / "hashes"
    cache.write_bytes(contents)
    cache.chmod(0o600)
    files = {f"/f{number}.css": (root / f"f{number}.css").read_bytes() for number in range(3)}
    with pytest.warns(StaticwrapWarning, match="is ignored: it is not a hash cache") as caught:
        app, read = start(root, cache)
    assert str(cache) in str(caught[0].message)
    assert read >= 3 * SIZE
    for url, data in files.items():
        assert call(app, url).header("ETag") == etag_of(data)
    _, warm = start(root, cache)
    assert warm < SIZE // 2


def test_a_cache_others_can_write_is_not_trusted(aged: Path, tmp_path: Path) -> None:
    root, cache = aged / "shared", tmp_path / "hashes"
    start(root, cache)
    cache.chmod(0o666)
    with pytest.warns(StaticwrapWarning, match="writable by others") as caught:
        _, read = start(root, cache)
    assert str(cache) in str(caught[0].message)
    assert read >= 3 * SIZE


def test_every_root_keeps_its_entries(aged: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hashes"
    first = StaticWrap(downstream, aged / "roots", prefix="/a/", hash_cache=cache)
    first.add_files(aged / "roots" / "second", prefix="/b/")
    before = read_bytes()
    again = StaticWrap(downstream, aged / "roots", prefix="/a/", hash_cache=cache)
    again.add_files(aged / "roots" / "second", prefix="/b/")
    assert read_bytes() - before < SIZE  # neither root hashed again
    data = (aged / "roots" / "second" / "g.css").read_bytes()
    assert call(again, "/b/g.css").header("ETag") == etag_of(data)


def test_an_unwritable_cache_location_is_a_warning_and_changes_nothing_else(aged: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cache = blocker / "hashes"  # under a regular file: no directory can be made there
    with pytest.warns(StaticwrapWarning, match="cannot be written") as caught:
        app, _ = start(aged / "restart", cache)
    assert str(cache) in str(caught[0].message)
    assert "hash_cache=None" in str(caught[0].message)
    data = (aged / "restart" / "f1.css").read_bytes()
    assert call(app, "/f1.css").header("ETag") == etag_of(data)


def test_workers_starting_at_once_share_the_cache(aged: Path, tmp_path: Path) -> None:
    # Each writes a whole file and renames it into place: whichever wins, the
    # next start finds a complete cache.
    cache = tmp_path / "hashes"
    script = textwrap.dedent(
        """
        import sys
        from staticwrap import StaticWrap
        app = StaticWrap(None, sys.argv[1], hash_cache=sys.argv[2])
        print(app.files["/f0.css"].identity.etag)
        """
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(aged / "workers"), str(cache)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    try:
        outputs = [worker.communicate(timeout=120)[0].strip() for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [worker.returncode for worker in workers] == [0] * 4
    assert set(outputs) == {etag_of((aged / "workers" / "f0.css").read_bytes())}
    _, read = start(aged / "workers", cache)
    assert read < SIZE // 2
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]  # no temporary file left


@pytest.mark.parametrize("value", [123, "", b"/tmp/x", "dir"])
def test_a_bad_hash_cache_value_is_refused_naming_the_option(tmp_path: Path, value: object) -> None:
    if value == "dir":
        value = str(tmp_path)
    write(tmp_path, "a.css", "a{}")
    with pytest.raises(ConfigurationError) as raised:
        StaticWrap(downstream, tmp_path, hash_cache=value)
    message = str(raised.value)
    assert f"hash_cache={value!r}" in message
    assert "give the path of a file" in message
