"""The build encodes each output as soon as its bytes are known, once per content (staticwrap/build.py).

Compression starts in worker processes while the build still reads and
rewrites its sources, and before DEST is locked; the variants are written
into DEST under the lock. These tests check what that must not change: the
bytes written, DEST after a failure, and no worker left running; and what it
adds: identical outputs encoded once, nothing encoded for an unchanged
rebuild.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from multiprocessing import forkserver
from pathlib import Path

import brotli
import pytest

from staticwrap.build import BuildError, build
from staticwrap.compress import Encoder
from tests.conftest import write
from tests.test_build_atomic import snapshot


def svg(width: int) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h{width}v24H0z"/></svg>\n' * 40


CSS = "body { background: url(../img/icon.svg) }\n" + "p { margin: 0 }\n" * 200


def tree(root: Path) -> Path:
    # One content three times (as packages vendor jQuery), under names of
    # both kinds: files read as they are, and scanned files with no reference.
    for name in ("a/icon.svg", "b/icon.svg", "c/same.svg"):
        write(root, name, svg(1))
    for name in ("a/lib.js", "b/lib.js"):
        write(root, name, "export const answer = 42;\n" * 200)
    write(root, "img/icon.svg", svg(2))
    write(root, "css/site.css", CSS)  # refers to img/icon.svg: rewritten
    write(root, "img/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)  # never compressed
    return root


def contents(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "staticwrap.json"
    }


@pytest.mark.parametrize("jobs", [1, 2])
def test_identical_outputs_are_encoded_once(tmp_path: Path, jobs: int) -> None:
    dest = tmp_path / "dest"
    result = build(tree(tmp_path / "src"), dest, codings=["br", "gzip"], jobs=jobs)
    # Four distinct contents compressed: the SVG held three times, the other
    # SVG, the script held twice, and the rewritten stylesheet.
    assert result.encoded == 4
    written = contents(dest)
    for name in ("a/icon.svg", "b/icon.svg", "c/same.svg"):
        hashed = result.manifest.files[name].hashed
        assert brotli.decompress(written[hashed + ".br"]) == written[hashed]
        assert written[hashed + ".br"] == written[result.manifest.files["a/icon.svg"].hashed + ".br"]
        # Each file's variants have its own time, as the server expects.
        for suffix in (".br", ".gz"):
            assert os.stat(dest / (hashed + suffix)).st_mtime_ns == os.stat(dest / hashed).st_mtime_ns


def test_an_unchanged_rebuild_encodes_nothing(tmp_path: Path) -> None:
    src, dest = tree(tmp_path / "src"), tmp_path / "dest"
    build(src, dest, jobs=2)
    assert build(src, dest, jobs=2).encoded == 0
    # One file changed: only it is encoded again, and the stylesheet that refers to it.
    write(src, "img/icon.svg", svg(3))
    assert build(src, dest, jobs=2).encoded == 2


def test_variants_the_manifest_lists_but_are_gone_are_written_again(tmp_path: Path) -> None:
    # The manifest, read before DEST is locked, says every output is
    # compressed: none is handed in early. Under the lock the build finds
    # the variants gone and encodes them then, to the same bytes.
    src, dest = tree(tmp_path / "src"), tmp_path / "dest"
    build(src, dest, codings=["br", "gzip"], jobs=2)
    first = contents(dest)
    for path in dest.rglob("*.br"):
        path.unlink()
    result = build(src, dest, codings=["br", "gzip"], jobs=2)
    assert result.encoded == 4
    assert contents(dest) == first


def test_output_is_the_same_whatever_the_workers(tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    build(src, tmp_path / "one", jobs=1)
    build(src, tmp_path / "two", jobs=2)
    assert contents(tmp_path / "one") == contents(tmp_path / "two")


def _workers() -> list[int]:
    """The live processes the multiprocessing forkserver started: compression workers."""
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == server and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_strict_error_after_encoding_started_leaves_dest_unchanged_and_no_worker(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    build(tree(tmp_path / "v1"), dest, jobs=2)
    before = snapshot(dest)
    src = tree(tmp_path / "v2")
    # Large and hard to compress: still being encoded (handed in as soon
    # as the tree is read) when the scan of the scripts finds the error.
    rng = random.Random(12)
    write(src, "img/big.svg", "".join(rng.choice("0123456789abcdef ") for _ in range(3_000_000)))
    write(src, "js/main.js", 'import "./missing.js";\n')
    with pytest.raises(BuildError, match=r"missing\.js"):
        build(src, dest, jobs=2)
    assert snapshot(dest) == before
    assert _workers() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_few_small_contents_start_no_worker_until_results_are_asked_for() -> None:
    # An unchanged rebuild hands in only a few small files: starting the
    # processes early would cost more than encoding them.
    data = svg(7).encode()
    key = hashlib.sha256(data).digest()
    with Encoder(jobs=2) as encoder:
        encoder.add(key, data, "icon.svg")
        encoder.poll()
        assert _workers() == []
        (done, encoding), *_ = encoder.completed([key])
    assert done == key
    assert brotli.decompress(encoding.variants["br"][0]) == data
