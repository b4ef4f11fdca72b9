"""Writing precompressed siblings (staticwrap/compress.py).

HTTP.md rules 27 (zstd window at most 8 MiB, no dictionary) and 28 (every coded
variant decodes to exactly the identity bytes). Expected bytes come from the
libraries' own decoders and the format specs (RFC 1952, RFC 8878, RFC 9659).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import random
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from staticwrap import compress
from staticwrap.compress import (
    CODINGS,
    DEFAULT_MIN_SAVING,
    CompressError,
    CompressResult,
    compress_file,
    compress_paths,
    compress_tree,
    encode,
    format_summary,
    should_compress,
)
from staticwrap.errors import ConfigurationError, StaticwrapError, StaticwrapWarning
from tests.conftest import MTIME, content_tag, write

SUFFIXES = {"br": ".br", "zstd": ".zst", "gzip": ".gz"}
Codec = Callable[[bytes], bytes]

DECODERS: dict[str, Codec] = {
    "br": brotli.decompress,
    "gzip": gzip.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompress(data),
}

#: Text that compresses well but is not one repeated line.
_rng = random.Random(9659)
CSS = "".join(
    f".c{_rng.randrange(10_000)} {{ margin: {_rng.randrange(40)}px; color: #{_rng.randrange(4096):03x}; }}\n"
    for _ in range(3000)
).encode()
#: Incompressible bytes, the same on every run.
NOISE = random.Random(1952).randbytes(64 * 1024)
# RFC 9659 §3: a zstd coding for HTTP uses a window of at most 8 MiB.
EIGHT_MIB = 8 * 1024 * 1024


def decode(coding: str, data: bytes) -> bytes:
    return DECODERS[coding](data)


def sibling(path: Path, coding: str) -> Path:
    return Path(str(path) + SUFFIXES[coding])


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# -- constants -----------------------------------------------------------


def test_codings_with_zstandard_installed() -> None:
    assert CODINGS == ("br", "zstd", "gzip")
    assert DEFAULT_MIN_SAVING == 0.05


def test_compress_error_is_a_staticwrap_error() -> None:
    assert issubclass(CompressError, StaticwrapError)


# -- encode --------------------------------------------------------------


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip"])
def test_encode_decodes_to_original(coding: str) -> None:
    encoded = encode(CSS, coding)
    assert len(encoded) < len(CSS)
    assert decode(coding, encoded) == CSS


def test_encode_gzip_header_has_no_mtime_and_no_name() -> None:
    header = encode(CSS, "gzip")[:10]
    # RFC 1952 §2.3: ID1 ID2 CM FLG MTIME(4) XFL OS.
    assert header[:3] == b"\x1f\x8b\x08"
    assert header[3] == 0  # FLG: no FNAME, FCOMMENT, FEXTRA or FHCRC
    assert header[4:8] == b"\x00\x00\x00\x00"


def test_encode_gzip_is_deterministic() -> None:
    assert encode(CSS, "gzip") == encode(CSS, "gzip")


def test_encode_zstd_big_input_has_small_window_and_no_dictionary() -> None:
    big = (b"abcdefghij" * 1000 + bytes(range(256))) * 900
    assert len(big) > EIGHT_MIB
    encoded = encode(big, "zstd")
    params = zstandard.get_frame_parameters(encoded)
    assert params.window_size <= EIGHT_MIB
    assert params.dict_id == 0
    assert params.content_size == len(big)
    assert params.has_checksum
    # A single frame: the decoder ends exactly at the end of the data.
    reader = zstandard.ZstdDecompressor().decompressobj()
    assert reader.decompress(encoded) == big
    assert reader.eof
    assert reader.unused_data == b""


def test_encode_zstd_small_input_has_content_size() -> None:
    params = zstandard.get_frame_parameters(encode(CSS, "zstd"))
    assert params.content_size == len(CSS)
    assert params.dict_id == 0


def test_encode_unknown_coding() -> None:
    with pytest.raises(ConfigurationError, match="deflate"):
        encode(CSS, "deflate")


# -- should_compress -----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["app.css", "app.js", "app.mjs", "logo.svg", "favicon.ico", "bitmap.bmp", "font.ttf", "font.otf", "font.eot"],
)
def test_should_compress_compressible(name: str) -> None:
    assert should_compress(name)


@pytest.mark.parametrize("name", ["main.ts", "README", "module.wasm", "data.json", "dir/page.html"])
def test_should_compress_other_names(name: str) -> None:
    assert should_compress(name)


@pytest.mark.parametrize(
    "name",
    [
        "photo.jpg",
        "PHOTO.JPEG",
        "image.png",
        "image.webp",
        "image.avif",
        "image.jxl",
        "font.woff",
        "font.woff2",
        "song.mp3",
        "clip.mp4",
        "clip.webm",
        "archive.zip",
        "archive.tar.gz",
        "doc.pdf",
        "sheet.xlsx",
        "drawing.svgz",
        "app.css.br",
        "app.css.gz",
        "app.css.zst",
        "app.css.zstd",
        "dir/image.png",
    ],
)
def test_should_compress_already_compressed(name: str) -> None:
    assert not should_compress(name)


def etag_value(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()[:16]).rstrip(b"=").decode("ascii")


# -- compress_file -------------------------------------------------------


def test_compress_file_writes_every_coding(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    result = compress_file(str(path))
    assert result == CompressResult(
        str(path),
        len(CSS),
        {coding: sibling(path, coding).stat().st_size for coding in ("br", "zstd", "gzip")},
        (),
        False,
        # Each variant's ETag value: 128 bits of the SHA-256 of its bytes, in unpadded base64url.
        {coding: etag_value(sibling(path, coding).read_bytes()) for coding in ("br", "zstd", "gzip")},
    )
    assert listing(tmp_path) == ["app.css", "app.css.br", "app.css.gz", "app.css.zst"]
    for coding in ("br", "zstd", "gzip"):
        assert decode(coding, sibling(path, coding).read_bytes()) == CSS


def test_compress_file_only_requested_codings(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    result = compress_file(str(path), codings=["gzip"])
    assert set(result.sizes) == {"gzip"}
    assert listing(tmp_path) == ["app.css", "app.css.gz"]


def test_compress_file_siblings_have_original_mtime_and_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    os.utime(path, ns=(MTIME * 10**9, MTIME * 10**9 + 123_456_789))
    path.chmod(0o640)
    compress_file(str(path))
    for coding in ("br", "zstd", "gzip"):
        info = sibling(path, coding).stat()
        assert info.st_mtime_ns == path.stat().st_mtime_ns
        assert stat.S_IMODE(info.st_mode) == 0o640


def test_compress_file_gzip_same_bytes_for_any_name_and_mtime(tmp_path: Path) -> None:
    one = write(tmp_path, "one/a.css", CSS, mtime=MTIME)
    two = write(tmp_path, "two/other-name.css", CSS, mtime=MTIME + 86_400)
    compress_file(str(one), codings=["gzip"])
    compress_file(str(two), codings=["gzip"])
    assert sibling(one, "gzip").read_bytes() == sibling(two, "gzip").read_bytes()


def _boundary_data() -> bytes:
    # 10,000 bytes, so that a variant of V bytes saves exactly (10000 - V) / 10000,
    # a short decimal that min_saving can state exactly.
    rng = random.Random(7932)
    return bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 \n") for _ in range(10_000))


#: The settings the brief fixes for each coding, applied by the library itself.
REFERENCE: dict[str, Codec] = {
    "gzip": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    "br": lambda data: brotli.compress(data, quality=11, lgwin=22),
}


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_compress_file_min_saving_boundary(tmp_path: Path, coding: str) -> None:
    data = _boundary_data()
    size = len(REFERENCE[coding](data))
    assert 0 < size < len(data)
    exact = (len(data) - size) / len(data)  # the variant saves exactly this much
    path = write(tmp_path, "data.txt", data)

    kept = compress_file(str(path), codings=[coding], min_saving=exact)
    assert kept.sizes == {coding: size}

    one_byte_more = (len(data) - size + 1) / len(data)
    dropped = compress_file(str(path), codings=[coding], min_saving=one_byte_more)
    assert dropped.sizes == {}
    assert dropped.reused == ()
    assert not sibling(path, coding).exists()  # the variant kept before no longer saves enough


def test_compress_file_min_saving_zero_keeps_any_smaller_variant(tmp_path: Path) -> None:
    path = write(tmp_path, "data.txt", _boundary_data())
    assert set(compress_file(str(path), min_saving=0).sizes) == {"br", "zstd", "gzip"}


def test_compress_file_incompressible_writes_nothing_and_removes_stale(tmp_path: Path) -> None:
    path = write(tmp_path, "noise.bin", NOISE)
    old = b"an older version of the file " * 100
    for name, content in [
        ("noise.bin.gz", gzip.compress(old)),
        ("noise.bin.br", brotli.compress(old)),
        ("noise.bin.zst", zstandard.ZstdCompressor().compress(old)),
        ("noise.bin.zstd", zstandard.ZstdCompressor().compress(old)),
    ]:
        write(tmp_path, name, content)
    result = compress_file(str(path))
    assert result._replace(unkept={}) == CompressResult(str(path), len(NOISE), {}, (), False, {})
    # Each coding was tried, and is reported with the size that saved too little.
    assert set(result.unkept) == {"br", "zstd", "gzip"}
    assert all(size > 0.95 * len(NOISE) for size in result.unkept.values())
    assert listing(tmp_path) == ["noise.bin"]


@pytest.mark.parametrize(
    "name", ["image.png", "font.woff2", "song.mp3", "image.avif", "data.zst", "PHOTO.JPG", "archive.tar.gz"]
)
def test_compress_file_skipped_extension_writes_nothing(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, CSS)
    result = compress_file(str(path))
    assert result == CompressResult(str(path), len(CSS), {}, (), True, {})
    assert listing(tmp_path) == [name]


def test_compress_file_empty_file_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.css", b"")
    assert compress_file(str(path)) == CompressResult(str(path), 0, {}, (), True, {})
    assert listing(tmp_path) == ["empty.css"]


def test_compress_file_replaces_zstd_suffix_with_zst(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    write(tmp_path, "app.css.zstd", zstandard.ZstdCompressor().compress(CSS))
    compress_file(str(path), codings=["zstd"])
    assert listing(tmp_path) == ["app.css", "app.css.zst"]


def test_compress_file_unrequested_coding_kept_only_if_valid(tmp_path: Path) -> None:
    valid = write(tmp_path, "valid.css", CSS)
    write(tmp_path, "valid.css.br", brotli.compress(CSS))
    stale = write(tmp_path, "stale.css", CSS)
    write(tmp_path, "stale.css.br", brotli.compress(CSS + b"/* old */"))
    compress_file(str(valid), codings=["gzip"])
    compress_file(str(stale), codings=["gzip"])
    assert brotli.decompress(sibling(valid, "br").read_bytes()) == CSS
    assert not sibling(stale, "br").exists()


def test_compress_file_reuses_up_to_date_siblings(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    first = compress_file(str(path))
    before = {coding: sibling(path, coding).stat() for coding in CODINGS}
    second = compress_file(str(path))
    assert second.reused == ("br", "zstd", "gzip")
    assert second.sizes == first.sizes
    for coding, info in before.items():
        after = sibling(path, coding).stat()
        assert (after.st_ino, after.st_mtime_ns) == (info.st_ino, info.st_mtime_ns)


def test_compress_file_reencodes_changed_original(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    compress_file(str(path))
    changed = CSS + b".new { color: red; }\n"
    write(tmp_path, "app.css", changed, mtime=MTIME + 60)
    result = compress_file(str(path))
    assert result.reused == ()
    assert result.original_size == len(changed)
    for coding in ("br", "zstd", "gzip"):
        assert decode(coding, sibling(path, coding).read_bytes()) == changed
        assert sibling(path, coding).stat().st_mtime_ns == path.stat().st_mtime_ns


def test_compress_file_reencodes_when_original_is_newer(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    compress_file(str(path), codings=["gzip"])
    os.utime(path, (MTIME + 60, MTIME + 60))  # touched: same bytes, newer mtime
    result = compress_file(str(path), codings=["gzip"])
    assert result.reused == ()
    assert sibling(path, "gzip").stat().st_mtime_ns == path.stat().st_mtime_ns


def test_compress_file_replaces_corrupt_sibling(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    compress_file(str(path))
    write(tmp_path, "app.css.br", b"not brotli at all", mtime=MTIME + 60)
    result = compress_file(str(path))
    assert result.reused == ("zstd", "gzip")
    assert brotli.decompress(sibling(path, "br").read_bytes()) == CSS


def test_compress_file_wrong_encoding_raises_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "app.css", CSS)
    monkeypatch.setattr(compress, "encode", lambda data, coding: gzip.compress(b"something else"))
    with pytest.raises(CompressError, match=re.escape(str(path))):
        compress_file(str(path), codings=["gzip"])
    assert listing(tmp_path) == ["app.css"]  # no sibling, no temporary file


# -- options -------------------------------------------------------------


@pytest.mark.parametrize("value", [-0.01, 1, 1.5, float("nan"), True, "0.05", None])
def test_min_saving_invalid(tmp_path: Path, value: Any) -> None:
    path = write(tmp_path, "app.css", CSS)
    with pytest.raises(ConfigurationError, match="min_saving"):
        compress_file(str(path), min_saving=value)
    with pytest.raises(ConfigurationError, match="min_saving"):
        compress_tree(str(tmp_path), min_saving=value)
    assert listing(tmp_path) == ["app.css"]


@pytest.mark.parametrize("value", [("deflate",), ("br", "compress"), "br", ()])
def test_codings_invalid(tmp_path: Path, value: Any) -> None:
    path = write(tmp_path, "app.css", CSS)
    with pytest.raises(ConfigurationError, match="codings"):
        compress_file(str(path), codings=value)
    with pytest.raises(ConfigurationError, match="codings"):
        compress_tree(str(tmp_path), codings=value)


def test_codings_zstd_without_zstandard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compress, "CODINGS", ("br", "gzip"))
    path = write(tmp_path, "app.css", CSS)
    with pytest.raises(ConfigurationError, match=r"pip install 'staticwrap\[zstd\]'"):
        compress_file(str(path), codings=["br", "zstd"])
    with pytest.raises(ConfigurationError, match="zstandard"):
        encode(CSS, "zstd")


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_jobs_invalid(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigurationError, match="jobs"):
        compress_tree(str(tmp_path), jobs=value)


def test_root_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="root"):
        compress_tree(str(tmp_path / "missing"))


# -- compress_tree -------------------------------------------------------


def build_tree(root: Path) -> None:
    write(root, "app.css", CSS)
    write(root, "app.css.gz", gzip.compress(b"stale"))  # an old sibling: not a file of its own
    write(root, "js/main.js", CSS.replace(b"margin", b"padding"))
    write(root, "js/lib/deep.svg", b"<svg>" + CSS + b"</svg>")
    write(root, "img/logo.png", CSS)
    write(root, "archive.tar.gz", gzip.compress(CSS))  # no "archive.tar" next to it: skipped, not hidden
    write(root, "noise.bin", NOISE)
    write(root, "empty.txt", b"")
    write(root, ".hidden.css", CSS)
    write(root, ".git/config.css", CSS)


#: The files compress_tree reports for build_tree, in sorted walk order, and whether each is skipped.
TREE_FILES = [
    ("app.css", False),
    ("archive.tar.gz", True),
    ("empty.txt", True),
    ("img/logo.png", True),
    ("js/lib/deep.svg", False),
    ("js/main.js", False),
    ("noise.bin", False),
]


def relative(root: Path, results: list[CompressResult]) -> list[tuple[str, int, dict[str, int], bool]]:
    return [(Path(r.path).relative_to(root).as_posix(), r.original_size, r.sizes, r.skipped) for r in results]


@pytest.mark.parametrize("jobs", [1, 2])
def test_compress_tree_files_and_siblings(tmp_path: Path, jobs: int) -> None:
    build_tree(tmp_path)
    results = compress_tree(str(tmp_path), jobs=jobs)
    assert sorted((name, skipped) for name, _, _, skipped in relative(tmp_path, results)) == sorted(TREE_FILES)
    for name in ["app.css", "js/main.js", "js/lib/deep.svg"]:
        original = (tmp_path / name).read_bytes()
        for coding in ("br", "zstd", "gzip"):
            assert decode(coding, sibling(tmp_path / name, coding).read_bytes()) == original
    assert listing(tmp_path / ".git") == ["config.css"]
    assert not (tmp_path / ".hidden.css.gz").exists()
    assert listing(tmp_path / "img") == ["logo.png"]
    assert not (tmp_path / "noise.bin.gz").exists()


def test_compress_tree_same_results_in_process_and_in_pool(tmp_path: Path) -> None:
    build_tree(tmp_path / "one")
    build_tree(tmp_path / "two")
    alone = compress_tree(str(tmp_path / "one"), jobs=1)
    pooled = compress_tree(str(tmp_path / "two"), jobs=2)
    assert relative(tmp_path / "one", alone) == relative(tmp_path / "two", pooled)


def test_compress_tree_progress_once_per_file_in_parent(tmp_path: Path) -> None:
    build_tree(tmp_path)
    seen: list[tuple[str, int]] = []
    results = compress_tree(str(tmp_path), jobs=2, progress=lambda result: seen.append((result.path, os.getpid())))
    assert sorted(path for path, _ in seen) == sorted(result.path for result in results)
    assert len(seen) == len(TREE_FILES)
    assert {pid for _, pid in seen} == {os.getpid()}


def test_compress_tree_second_run_reuses(tmp_path: Path) -> None:
    build_tree(tmp_path)
    compress_tree(str(tmp_path), jobs=1)
    again = compress_tree(str(tmp_path), jobs=1)
    assert {Path(r.path).name: r.reused for r in again if r.sizes} == {
        "app.css": ("br", "zstd", "gzip"),
        "deep.svg": ("br", "zstd", "gzip"),
        "main.js": ("br", "zstd", "gzip"),
    }


def test_compress_tree_error_propagates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_tree(tmp_path)
    monkeypatch.setattr(compress, "encode", lambda data, coding: gzip.compress(b"something else"))
    # Files are compressed largest first: the error names whichever came first.
    with pytest.raises(CompressError, match=re.escape(str(tmp_path)) + r"/\S+ is wrong"):
        compress_tree(str(tmp_path), codings=["gzip"], jobs=1)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_compress_tree_symlinks(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(outside, "secret.css", CSS)
    write(root, "real/app.css", CSS)
    (root / "out.css").symlink_to(outside / "secret.css")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "link.css").symlink_to(root / "real" / "app.css")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "broken.css").symlink_to(root / "nowhere.css")
    os.mkfifo(root / "fifo.css")
    # The loop back to the root, the broken link, the link leaving the root
    # and the FIFO are passed over with a warning each, as the server does.
    with pytest.warns(StaticwrapWarning) as caught:
        results = compress_tree(str(root), jobs=1)
    warned = " ".join(str(warning.message) for warning in caught)
    for name in ("loop", "broken.css", "out.css", "fifo.css"):
        assert name in warned, name
    # "alias" and "real" are one directory: its file is compressed once.
    assert sorted(Path(r.path).relative_to(root).as_posix() for r in results) == ["alias/app.css", "link.css"]
    assert listing(outside) == ["secret.css"]
    assert not (root / "out.css.gz").exists()
    assert gzip.decompress((root / "link.css.gz").read_bytes()) == CSS
    assert listing(root / "real") == ["app.css", "app.css.br", "app.css.gz", "app.css.zst"]


# -- compress_paths ------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_compress_paths_results_in_given_order(tmp_path: Path, jobs: int) -> None:
    build_tree(tmp_path)
    names = ["noise.bin", "js/main.js", "img/logo.png", "app.css", "empty.txt"]
    results = compress_paths([str(tmp_path / name) for name in names], jobs=jobs)
    assert [r.path for r in results] == [str(tmp_path / name) for name in names]
    assert [bool(r.sizes) for r in results] == [False, True, False, True, False]


def test_compress_paths_worker_error_propagates(tmp_path: Path) -> None:
    build_tree(tmp_path)
    paths = [str(tmp_path / "app.css"), str(tmp_path / "missing.css"), str(tmp_path / "js/main.js")]
    with pytest.raises(FileNotFoundError):
        compress_paths(paths, jobs=2)


# -- format_summary ------------------------------------------------------


def test_format_summary_numbers() -> None:
    results = [
        CompressResult("a.css", 1000, {"br": 200, "gzip": 300}, ("br", "gzip"), False, {}),
        CompressResult("b.js", 3000, {"br": 1000, "zstd": 1100, "gzip": 1200}, (), False, {}),
        CompressResult("noise.bin", 500, {}, (), False, {}),
        CompressResult("logo.png", 9999, {}, (), True, {}),
    ]
    text = format_summary(results, 1.5)
    assert "2 files compressed" in text
    assert "1 reused" in text
    assert "1 not worth compressing" in text
    assert "1 skipped" in text
    assert "1.50 s" in text
    assert "4,500 bytes" in text  # the originals considered; the skipped .png is not counted
    assert "9,999" not in text
    # A client accepting br gets 200 + 1000 bytes, plus the 500-byte original that has no variant.
    assert "br: 1,700 bytes, 62.2% saved" in text
    assert "zstd: 2,600 bytes, 42.2% saved" in text
    assert "gzip: 2,000 bytes, 55.6% saved" in text


def test_format_summary_nothing() -> None:
    text = format_summary([], 0.0)
    assert "0 files compressed" in text
    assert "saved" not in text


def test_a_script_without_the_main_guard_gets_a_message_saying_so(tmp_path: Path) -> None:
    # The workers start by importing the main module again: a script that
    # compresses at its top level starts workers from inside a worker.
    write(tmp_path / "site", "app.css", CSS)
    write(tmp_path / "site", "app.js", CSS.replace(b"color", b"colour"))
    script = tmp_path / "make_variants.py"
    script.write_text(
        f"from staticwrap.compress import compress_tree\ncompress_tree({str(tmp_path / 'site')!r}, jobs=2)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    # The workers that died held semaphores of their own pools: Python's
    # resource tracker, another process, may warn of them after the message.
    lines = [line for line in done.stderr.strip().splitlines() if "resource_tracker" not in line]
    last = lines[-1]
    assert last.startswith("staticwrap.compress.CompressError:"), done.stderr
    assert 'if __name__ == "__main__":' in last
    assert str(script) in last


# -- Encoder ---------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_encoder_encodes_each_content_once(jobs: int) -> None:
    contents = [CSS, CSS[:50_000], CSS]  # the first and last are one content
    with compress.Encoder(codings=["br", "gzip"], jobs=jobs) as encoder:
        keys = [hashlib.sha256(data).digest() for data in contents]
        for number, (key, data) in enumerate(zip(keys, contents, strict=True)):
            encoder.add(key, data, f"file{number}.css")
        done = dict(encoder.completed(set(keys)))
    assert encoder.encoded == 2
    for key, data in zip(keys, contents, strict=True):
        for coding, (variant, tag) in done[key].variants.items():
            assert DECODERS[coding](variant) == data
            assert tag == content_tag(variant)


def test_encoder_refuses_to_wait_for_contents_never_handed_in() -> None:
    with compress.Encoder(jobs=2) as encoder, pytest.raises(ValueError, match="never handed in"):
        list(encoder.completed([hashlib.sha256(b"nothing").digest()]))


def test_compress_file_ignores_an_encoding_of_other_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", CSS)
    other = compress.encode_checked(CSS[:-1], ["br", "gzip"], DEFAULT_MIN_SAVING, "other.css")
    result = compress_file(str(path), codings=["br", "gzip"], encoding=other)
    assert set(result.sizes) == {"br", "gzip"}
    for coding in ("br", "gzip"):
        assert DECODERS[coding]((tmp_path / ("app.css" + SUFFIXES[coding])).read_bytes()) == CSS
