"""Hashing files and checking precompressed siblings (staticwrap/codings.py).

HTTP.md rules 27 (zstd window at most 8 MiB, no dictionary) and 28 (every coded
variant decodes to exactly the identity bytes).
"""

from __future__ import annotations

import gzip
import hashlib
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest
import zstandard

from staticwrap.codings import SNIFF_SIZE, check_sibling, hash_file
from tests.conftest import TEN, write

#: Incompressible bytes, the same on every run.
NOISE = random.Random(9110).randbytes(700 * 1024)

CSS = b"body { color: #333; margin: 0 auto; padding: 1em; }\n" * 200

# RFC 9659 §3: a zstd coding for HTTP uses a window of at most 8 MiB.
EIGHT_MIB = 8 * 1024 * 1024
#: More than 8 MiB of compressible bytes, so that a window of 8 or 16 MiB is really used.
BIG = (b"abcdefghij" * 1000 + bytes(range(256))) * 900


def zstd_with_window(content: bytes, window_log: int) -> bytes:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log, write_content_size=False)
    return zstandard.ZstdCompressor(compression_params=params).compress(content)


def zstd_with_dictionary(content: bytes) -> bytes:
    samples: list[bytes | bytearray | memoryview[int]] = [
        f'{{"id": {i}, "name": "user{i * 7919 % 1000}", "tag": "t{i % 13}"}}'.encode() for i in range(2000)
    ]
    dictionary = zstandard.train_dictionary(4096, samples)
    return zstandard.ZstdCompressor(dict_data=dictionary).compress(content)


Encoder = Callable[[bytes], bytes]

ENCODERS: dict[str, Encoder] = {
    "br": brotli.compress,
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "zstd": zstandard.ZstdCompressor().compress,
}


# -- hash_file ------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", TEN, NOISE[: SNIFF_SIZE - 1], NOISE[:SNIFF_SIZE], NOISE[: 600 * 1024 + 7]],
    ids=["empty", "ten", "below-head", "exactly-head", "several-chunks"],
)
def test_hash_file_digest_is_sha256_of_bytes(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "f.bin", content)
    digest = hash_file(str(path))
    assert digest.sha256 == hashlib.sha256(content).digest()
    assert digest.head == content[:SNIFF_SIZE]


def test_hash_file_tag_is_token_of_digest(tmp_path: Path) -> None:
    one = hash_file(str(write(tmp_path, "one", TEN)))
    same = hash_file(str(write(tmp_path, "same", TEN)))
    other = hash_file(str(write(tmp_path, "other", b"9876543210")))
    assert one.tag == same.tag
    assert one.tag != other.tag
    # Safe inside a quoted entity-tag (RFC 9110 §8.8.3) and in a URL.
    assert one.tag.isascii()
    assert all(char.isalnum() or char in "-_" for char in one.tag)


def test_hash_file_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="missing"):
        hash_file(str(tmp_path / "missing"))


# -- check_sibling: accepted ----------------------------------------------


@pytest.mark.parametrize("coding", ["br", "gzip", "zstd"], ids=["br", "gzip", "zstd"])
@pytest.mark.parametrize(
    "content",
    [CSS, NOISE[: 300 * 1024] + CSS * 50],
    ids=["small", "several-chunks"],
)
def test_check_sibling_accepts_matching_coding(tmp_path: Path, coding: str, content: bytes) -> None:
    original = write(tmp_path, "x", content)
    encoded = ENCODERS[coding](content)
    sibling = write(tmp_path, "x.sibling", encoded)
    check = check_sibling(str(sibling), coding, hash_file(str(original)), len(content))
    assert check.problem is None
    assert check.digest is not None
    assert check.digest.sha256 == hashlib.sha256(encoded).digest()
    assert check.digest.head == encoded[:SNIFF_SIZE]


def test_check_sibling_accepts_zstd_window_of_exactly_8mib(tmp_path: Path) -> None:
    original = write(tmp_path, "big", BIG)
    encoded = zstd_with_window(BIG, 23)
    assert zstandard.get_frame_parameters(encoded).window_size == EIGHT_MIB
    sibling = write(tmp_path, "big.zst", encoded)
    check = check_sibling(str(sibling), "zstd", hash_file(str(original)), len(BIG))
    assert check.problem is None
    assert check.digest is not None


def test_check_sibling_accepts_empty_original(tmp_path: Path) -> None:
    original = write(tmp_path, "empty", b"")
    sibling = write(tmp_path, "empty.gz", gzip.compress(b"", mtime=0))
    check = check_sibling(str(sibling), "gzip", hash_file(str(original)), 0)
    assert check.problem is None


# -- check_sibling: refused -----------------------------------------------


def _stale(coding: str) -> tuple[str, bytes, bytes]:
    return coding, CSS, ENCODERS[coding](CSS.replace(b"#333", b"#444"))


REFUSED: list[tuple[str, str, bytes, bytes, str]] = [
    ("stale-br", *_stale("br"), "original"),
    ("stale-gzip", *_stale("gzip"), "original"),
    ("stale-zstd", *_stale("zstd"), "original"),
    ("shorter-br", "br", CSS, brotli.compress(CSS[:-1]), "original"),
    ("longer-gzip", "gzip", CSS, gzip.compress(CSS + b"x", mtime=0), "more bytes"),
    ("much-longer-zstd", "zstd", CSS, ENCODERS["zstd"](CSS * 50), "more bytes"),
    ("corrupt-br", "br", CSS, b"\xff" * 64, "br"),
    ("corrupt-gzip", "gzip", CSS, b"\x1f\x8b" + b"\xff" * 64, "gzip"),
    ("corrupt-zstd", "zstd", CSS, b"\x28\xb5\x2f\xfd" + b"\xff" * 64, "zstd"),
    ("not-zstd-at-all", "zstd", CSS, gzip.compress(CSS, mtime=0), "zstd"),
    ("truncated-br", "br", CSS, brotli.compress(CSS)[:20], "br"),
    ("truncated-gzip", "gzip", CSS, gzip.compress(CSS, mtime=0)[:-4], "gzip"),
    ("truncated-zstd", "zstd", CSS, ENCODERS["zstd"](CSS)[:20], "zstd"),
    ("gzip-trailing-garbage", "gzip", CSS, gzip.compress(CSS, mtime=0) + b"junk", "gzip"),
    ("br-trailing-garbage", "br", CSS, brotli.compress(CSS) + b"junk", "br"),
    # RFC 8878 §3: zstd data is a sequence of frames; bytes after the frame that
    # are not a frame make the whole coding undecodable, and a second frame adds
    # its content to the decoded bytes.
    ("zstd-trailing-garbage", "zstd", CSS, ENCODERS["zstd"](CSS) + b"junkjunkjunk", "zstd"),
    ("zstd-second-frame", "zstd", CSS, ENCODERS["zstd"](CSS) * 2, "original"),
    ("zstd-window-16MiB", "zstd", BIG, zstd_with_window(BIG, 24), "window"),
    ("zstd-dictionary", "zstd", CSS, zstd_with_dictionary(CSS), "dictionary"),
]


@pytest.mark.parametrize(
    ("coding", "original", "encoded", "problem"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_check_sibling_refuses_mismatch(
    tmp_path: Path, coding: str, original: bytes, encoded: bytes, problem: str
) -> None:
    original_path = write(tmp_path, "x", original)
    sibling = write(tmp_path, "x.sibling", encoded)
    check = check_sibling(str(sibling), coding, hash_file(str(original_path)), len(original))
    assert check.digest is None
    assert check.problem is not None
    assert problem in check.problem


def test_check_sibling_zstd_frames_used_by_refusal_cases_are_what_they_claim() -> None:
    window = zstandard.get_frame_parameters(zstd_with_window(BIG, 24))
    assert window.window_size > EIGHT_MIB
    assert window.dict_id == 0
    assert zstandard.get_frame_parameters(zstd_with_dictionary(CSS)).dict_id != 0


# -- check_sibling: large files -----------------------------------------------

MIB = 1024 * 1024


def large_content(size: int) -> bytes:
    """``size`` bytes that compress well but not trivially: text with noise sprinkled in."""
    unit = CSS + NOISE[:4096]
    return (unit * (size // len(unit) + 1))[:size]


@pytest.mark.parametrize("coding", ["br", "gzip", "zstd"], ids=["br", "gzip", "zstd"])
@pytest.mark.parametrize("mebibytes", [1, 2, 3, 8, 64], ids=lambda n: f"{n}MiB")
def test_check_sibling_accepts_large_files_in_bounded_memory(tmp_path: Path, coding: str, mebibytes: int) -> None:
    # Bundles and source maps of several MiB (pdf.js, three.js) must keep their
    # variants: the decode check has to drain every decoder's output, whatever
    # the size, holding only a piece of it at a time.
    content = large_content(mebibytes * MIB)
    original = write(tmp_path, "bundle.js", content)
    encoded = brotli.compress(content, quality=5) if coding == "br" else ENCODERS[coding](content)
    sibling = write(tmp_path, "bundle.js.sibling", encoded)
    digest = hash_file(str(original))
    del content, encoded
    tracemalloc.start()
    try:
        check = check_sibling(str(sibling), coding, digest, mebibytes * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert check.problem is None
    # A few decoder pieces (1 MiB each) and read chunks, never the whole file.
    assert peak < 12 * MIB
