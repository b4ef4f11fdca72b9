"""Content codings on disk: hashing files, and checking precompressed siblings.

A sibling (``app.css.br``) is served only if it decodes to exactly the bytes
of its original (rule 28 of the project's HTTP contract): a stale ``.gz`` left
from an older deploy would otherwise be sent as the current file.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

import brotli

CHUNK_SIZE = 256 * 1024
SNIFF_SIZE = 2048

# RFC 9659 §3: a zstd encoder for HTTP MUST NOT need a window above 8 MiB,
# and a frame with a dictionary is not plain "zstd".
ZSTD_MAX_WINDOW = 8 * 1024 * 1024

#: File name suffixes of precompressed siblings, by coding. ``.zstd`` is also
#: found because some tools write it.
SIBLING_SUFFIXES: tuple[tuple[str, str], ...] = (("br", ".br"), ("zstd", ".zst"), ("zstd", ".zstd"), ("gzip", ".gz"))
#: The suffix staticwrap itself writes for each coding.
WRITTEN_SUFFIXES = {"br": ".br", "zstd": ".zst", "gzip": ".gz"}


class Digest(NamedTuple):
    """The hash of a file's bytes, and the first bytes for media type sniffing."""

    sha256: bytes
    head: bytes

    @property
    def tag(self) -> str:
        """A short, URL- and ETag-safe text of the hash (128 bits of base64url)."""
        return base64.urlsafe_b64encode(self.sha256[:16]).rstrip(b"=").decode("ascii")


Decoder = Callable[[bytes], bytes]


def hash_file(path: str) -> Digest:
    """SHA-256 of a file's bytes and its first :data:`SNIFF_SIZE` bytes."""
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        head = file.read(SNIFF_SIZE)
        sha.update(head)
        while chunk := file.read(CHUNK_SIZE):
            sha.update(chunk)
    return Digest(sha.digest(), head)


def read_head(path: str) -> bytes:
    """The first :data:`SNIFF_SIZE` bytes of a file, for media type sniffing; empty if unreadable."""
    try:
        with open(path, "rb") as file:
            return file.read(SNIFF_SIZE)
    except OSError:
        return b""


class SiblingCheck(NamedTuple):
    """The result of :func:`check_sibling`: the sibling's own digest, or why it is refused."""

    digest: Digest | None
    problem: str | None


def check_sibling(path: str, coding: str, original: Digest, original_size: int) -> SiblingCheck:
    """Decode a precompressed sibling and compare it with its original.

    Reads the sibling once, hashing its raw bytes (for its own ETag) and its
    decoded bytes (to compare). Decoding stops as soon as the output is longer
    than the original, so a corrupt or hostile file costs bounded memory.
    """
    decoder_factory = _DECODERS.get(coding)
    if decoder_factory is None:
        return SiblingCheck(None, "the zstandard package is not installed (pip install 'staticwrap[zstd]')")
    raw = hashlib.sha256()
    decoded = hashlib.sha256()
    decoded_size = 0
    try:
        decode, finish = decoder_factory()
        with open(path, "rb") as file:
            head = file.read(SNIFF_SIZE)
            chunk = head
            while chunk:
                raw.update(chunk)
                output = decode(chunk)
                decoded_size += len(output)
                if decoded_size > original_size:
                    return SiblingCheck(None, "it decodes to more bytes than the original file")
                decoded.update(output)
                chunk = file.read(CHUNK_SIZE)
        tail = finish()
        decoded_size += len(tail)
        decoded.update(tail)
    except Exception as error:  # every decoder raises its own error class on corrupt input
        return SiblingCheck(None, f"it cannot be decoded as {coding} ({error})")
    if decoded_size != original_size or decoded.digest() != original.sha256:
        return SiblingCheck(None, "it does not decode to the bytes of the original (a stale or foreign file)")
    return SiblingCheck(Digest(raw.digest(), head), None)


DecoderFactory = Callable[[], tuple[Decoder, Callable[[], bytes]]]


def _gzip_decoder() -> tuple[Decoder, Callable[[], bytes]]:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)

    def finish() -> bytes:
        if not inflater.eof:
            raise ValueError("truncated gzip stream")
        if inflater.unused_data:
            raise ValueError("data after the end of the gzip stream")
        return inflater.flush()

    return lambda data: inflater.decompress(data), finish


def _brotli_decoder() -> tuple[Decoder, Callable[[], bytes]]:
    decompressor = brotli.Decompressor()

    def finish() -> bytes:
        if not decompressor.is_finished():
            raise ValueError("truncated brotli stream")
        return b""

    return decompressor.process, finish


_DECODERS: dict[str, DecoderFactory] = {"gzip": _gzip_decoder, "br": _brotli_decoder}

try:
    import zstandard
except ImportError:  # pragma: no cover - the zstd extra is installed in the test environments
    pass
else:

    class _ZstdFrames:
        """Decode a zstd stream of one or more frames (RFC 8878 §3.1), checking each frame header."""

        def __init__(self) -> None:
            self._frame: Any = None  # the decompressor of the frame being read, if one has begun

        def decode(self, data: bytes) -> bytes:
            output = []
            while data:
                if self._frame is None:
                    if problem := _zstd_frame_problem(data):
                        raise ValueError(problem)
                    self._frame = zstandard.ZstdDecompressor().decompressobj()
                output.append(self._frame.decompress(data))
                data = b""
                if self._frame.eof:
                    data, self._frame = self._frame.unused_data, None
            return b"".join(output)

        def finish(self) -> bytes:
            if self._frame is not None:
                raise ValueError("truncated zstd frame")
            return b""

    def _zstd_decoder() -> tuple[Decoder, Callable[[], bytes]]:
        frames = _ZstdFrames()
        return frames.decode, frames.finish

    _DECODERS["zstd"] = _zstd_decoder


def _zstd_frame_problem(head: bytes) -> str | None:
    try:
        params = zstandard.get_frame_parameters(head)
    except zstandard.ZstdError as error:
        return f"it is not a zstd frame ({error})"
    if params.dict_id:
        return "it needs a zstd dictionary, which plain 'zstd' coding does not allow (RFC 9659)"
    if params.window_size > ZSTD_MAX_WINDOW:
        return f"its zstd window is {params.window_size} bytes, above the 8 MiB that RFC 9659 allows"
    return None
