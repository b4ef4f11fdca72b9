"""Content codings on disk: hashing files, and checking precompressed siblings.

A sibling (``app.css.br``) is served only if it decodes to exactly the bytes
of its original (rule 28 of the project's HTTP contract): a stale ``.gz`` left
from an older deploy would otherwise be sent as the current file.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple, Protocol

import brotli

from .dictionaries import DCZ, DCZ_HEADER_SIZE, dcz_header, window_limit

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
        """A short, URL- and ETag-safe text of the hash (see :func:`tag_of`)."""
        return tag_of(self.sha256)


def tag_of(sha256: bytes) -> str:
    """A short, URL- and ETag-safe text of a SHA-256 (128 bits of base64url)."""
    return base64.urlsafe_b64encode(sha256[:16]).rstrip(b"=").decode("ascii")


def digest_bytes(data: bytes) -> Digest:
    """The :class:`Digest` of bytes in memory, as :func:`hash_file` gives for a file holding them."""
    return Digest(hashlib.sha256(data).digest(), data[:SNIFF_SIZE])


def hash_file(path: str) -> Digest:
    """SHA-256 of a file's bytes and its first :data:`SNIFF_SIZE` bytes."""
    with open(path, "rb") as file:
        return hash_stream(file)


def hash_stream(file: BinaryIO) -> Digest:
    """:func:`hash_file` of a file already open, read from its current position to its end."""
    sha = hashlib.sha256()
    head = file.read(SNIFF_SIZE)
    sha.update(head)
    while chunk := file.read(CHUNK_SIZE):
        sha.update(chunk)
    return Digest(sha.digest(), head)


class SiblingCheck(NamedTuple):
    """The result of :func:`check_sibling`: the sibling's own digest, or why it is refused."""

    digest: Digest | None
    problem: str | None


def check_sibling(path: str, coding: str, original: Digest, original_size: int) -> SiblingCheck:
    """Decode a precompressed sibling and compare it with its original.

    Reads the sibling once, hashing its raw bytes (for its own ETag) and its
    decoded bytes (to compare). The decoders hand out their output in pieces
    of at most :data:`DECODE_LIMIT` bytes and decoding stops as soon as the
    output is longer than the original, so a small hostile file (a
    "decompression bomb") costs bounded memory.
    """
    try:
        with open(path, "rb") as file:
            return _check_stream(file, coding, original, original_size)
    except OSError as error:
        return SiblingCheck(None, f"it cannot be decoded as {coding} ({error})")


def check_encoded(data: bytes, coding: str, original: Digest, original_size: int) -> SiblingCheck:
    """:func:`check_sibling` for a variant still in memory: the same decoder, the same answer."""
    return _check_stream(io.BytesIO(data), coding, original, original_size)


def _check_stream(file: BinaryIO, coding: str, original: Digest, original_size: int) -> SiblingCheck:
    decoder_class = _DECODERS.get(coding)
    if decoder_class is None:
        return SiblingCheck(None, "the zstandard package is not installed (pip install 'staticwrap[zstd]')")
    try:
        decoder = decoder_class()
        head = file.read(SNIFF_SIZE)
        if coding == "zstd" and (problem := _zstd_frame_problem(head)):
            return SiblingCheck(None, problem)
        return _compare(file, head, decoder, coding, original, original_size)
    except Exception as error:  # every decoder raises its own error class on corrupt input
        return SiblingCheck(None, f"it cannot be decoded as {coding} ({error})")


def check_delta(path: str, dictionary: bytes, original: Digest, original_size: int) -> SiblingCheck:
    """:func:`check_sibling` for a ``dcz`` file: the original compressed against ``dictionary`` (RFC 9842 §5.2).

    The file must start with the 40-byte header naming the dictionary's
    SHA-256, and the rest must be one or more zstd frames that need no
    window above what a client must accept for that dictionary, decoding
    with it to exactly the original's bytes.
    """
    if "zstd" not in _DECODERS:
        return SiblingCheck(None, "the zstandard package is not installed (pip install 'staticwrap[zstd]')")
    expected = dcz_header(hashlib.sha256(dictionary).digest())
    try:
        with open(path, "rb") as file:
            head = file.read(SNIFF_SIZE)
            if head[:DCZ_HEADER_SIZE] != expected:
                return SiblingCheck(None, "it does not start with the dcz header of its dictionary (RFC 9842 §5.2)")
            decoder = _ZstdDecoder(dictionary, window_limit(len(dictionary)))
            return _compare(file, head, decoder, DCZ, original, original_size, skip=DCZ_HEADER_SIZE)
    except Exception as error:  # zstd raises its own error class on corrupt input
        return SiblingCheck(None, f"it cannot be decoded as {DCZ} ({error})")


def _compare(
    file: BinaryIO,
    head: bytes,
    decoder: _Decoder,
    coding: str,
    original: Digest,
    original_size: int,
    skip: int = 0,
) -> SiblingCheck:
    # Reads the file once, hashing its raw bytes (for its own ETag) and its
    # decoded bytes (to compare); the first ``skip`` bytes are hashed, not decoded.
    raw = hashlib.sha256()
    decoded = hashlib.sha256()
    decoded_size = 0
    chunk = head
    while chunk:
        raw.update(chunk)
        for output in decoder.feed(chunk[skip:]):
            decoded_size += len(output)
            if decoded_size > original_size:
                return SiblingCheck(None, "it decodes to more bytes than the original file")
            decoded.update(output)
        skip = max(0, skip - len(chunk))
        chunk = file.read(CHUNK_SIZE)
    decoder.finish()
    if decoded_size != original_size or decoded.digest() != original.sha256:
        return SiblingCheck(None, "it does not decode to the bytes of the original (a stale or foreign file)")
    return SiblingCheck(Digest(raw.digest(), head), None)


#: The most output a decoder produces from one call.
DECODE_LIMIT = 1024 * 1024


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode ``data``, yielding the output in pieces of at most about DECODE_LIMIT bytes."""

    def finish(self) -> None:
        """Raise ValueError unless the stream ended exactly at the end of the input."""


class _GzipDecoder:
    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        inflater = self._inflater
        while data:
            if inflater.eof:
                raise ValueError("data after the end of the gzip stream")
            yield inflater.decompress(data, DECODE_LIMIT)
            data = inflater.unconsumed_tail
        if inflater.unused_data:
            raise ValueError("data after the end of the gzip stream")

    def finish(self) -> None:
        if not self._inflater.eof:
            raise ValueError("truncated gzip stream")


class _BrotliDecoder:
    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        decompressor = self._decompressor
        output = decompressor.process(data, output_buffer_limit=DECODE_LIMIT)
        yield output
        # An output that reached the limit may leave more in the decoder even
        # when can_accept_more_data() says True (it has taken all the input):
        # drain until a call gives less than the limit, or the last piece of
        # a large file would be lost and its variant judged truncated.
        while len(output) >= DECODE_LIMIT or not decompressor.can_accept_more_data():
            output = decompressor.process(b"", output_buffer_limit=DECODE_LIMIT)
            yield output

    def finish(self) -> None:
        if not self._decompressor.is_finished():
            raise ValueError("truncated brotli stream")


_DECODERS: dict[str, type[_Decoder]] = {"gzip": _GzipDecoder, "br": _BrotliDecoder}

try:
    import zstandard
except ImportError:  # pragma: no cover - the zstd extra is installed in the test environments
    pass
else:

    class _ZstdDecoder:
        """Decode a zstd stream of one or more frames (RFC 8878 §3.1), checking each frame header.

        The decompressor has no output limit, so it is fed small slices: a
        zstd block holds at most 128 KiB and takes at least 4 bytes, so 256
        bytes of input give at most 8 MiB of output.
        """

        _SLICE = 256

        def __init__(self, dictionary: bytes | None = None, max_window: int = ZSTD_MAX_WINDOW) -> None:
            self._frame: Any = None  # the decompressor of the frame being read, if one has begun
            # A dcz body (RFC 9842 §5.2) is compressed against the raw bytes
            # of its dictionary, which may need a larger window than plain zstd.
            self._dictionary = (
                None
                if dictionary is None
                else zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            )
            self._max_window = max_window

        def feed(self, data: bytes) -> Iterator[bytes]:
            view = memoryview(data)
            for start in range(0, len(view), self._SLICE):
                piece = bytes(view[start : start + self._SLICE])
                while piece:
                    if self._frame is None:
                        # Later frames: the decompressor refuses a larger window,
                        # and a frame that needs a dictionary fails without one.
                        decompressor = zstandard.ZstdDecompressor(
                            dict_data=self._dictionary, max_window_size=self._max_window
                        )
                        self._frame = decompressor.decompressobj()
                    yield self._frame.decompress(piece)
                    piece = b""
                    if self._frame.eof:
                        piece, self._frame = self._frame.unused_data, None

        def finish(self) -> None:
            if self._frame is not None:
                raise ValueError("truncated zstd frame")

    _DECODERS["zstd"] = _ZstdDecoder


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
