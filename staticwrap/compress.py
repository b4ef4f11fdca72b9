"""Precompressed siblings: write ``x.css.br``, ``x.css.zst`` and ``x.css.gz`` next to ``x.css``.

The server sends a sibling only after checking, at startup, that it decodes to
its original (HTTP.md rule 28). This module checks the same thing of the
bytes it is about to write, with the same decoder
(:func:`staticwrap.codings.check_encoded`), so a build never leaves a sibling
the server would refuse.
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import multiprocessing
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from fractions import Fraction
from types import TracebackType
from typing import NamedTuple

import brotli

from .atomic import write_atomic
from .codings import (
    SIBLING_SUFFIXES,
    WRITTEN_SUFFIXES,
    ZSTD_MAX_WINDOW,
    Digest,
    check_encoded,
    check_sibling,
    digest_bytes,
)
from .errors import ConfigurationError, StaticwrapError
from .negotiation import SERVER_ORDER
from .transaction import save_before_change
from .tree import source_root, walk

try:
    import zstandard
except ImportError:  # pragma: no cover - the zstd extra is installed in the test environments
    CODINGS: tuple[str, ...] = ("br", "gzip")
else:
    CODINGS = ("br", "zstd", "gzip")

#: Keep a variant only when it is at least this fraction smaller than its original:
#: below that, the bytes saved do not pay for a second file and a Vary header.
DEFAULT_MIN_SAVING = 0.05

_SIBLING_ENDINGS = tuple(suffix for _, suffix in SIBLING_SUFFIXES)

# RFC 9659 §3: a "zstd" encoder MUST NOT need a window above 8 MiB (2**23).
_ZSTD_WINDOW_LOG = ZSTD_MAX_WINDOW.bit_length() - 1

# Files whose bytes are already compressed: encoding them again costs time (brotli
# at quality 11 is slow) and rarely saves the 5% that min_saving asks for. The
# threshold is still the safety net for anything this list misses.
SKIP_EXTENSIONS: frozenset[str] = frozenset(
    {
        # Images. JPEG 2000 (jp2 j2k jpx) is wavelet-coded. Left out on purpose,
        # because they compress well: svg (text), bmp and ico (mostly raw
        # bitmaps), tif/tiff (often uncompressed).
        *("jpg", "jpeg", "jpe", "jfif", "pjpeg", "pjp", "png", "apng", "gif", "webp", "avif"),
        *("jxl", "heic", "heif", "jp2", "j2k", "jpx"),
        # svgz is SVG that is already gzipped (RFC 1952), served as image/svg+xml.
        "svgz",
        # Fonts: WOFF is zlib-compressed per table, WOFF2 is brotli. TTF, OTF and
        # EOT are plain tables (EOT's MTX compression is rare), so they are compressed.
        *("woff", "woff2"),
        # Audio and video containers hold compressed streams. "ts" is missing on
        # purpose: on the web it is far more often TypeScript than MPEG-TS.
        *("mp3", "aac", "m4a", "m4b", "oga", "ogg", "opus", "flac", "weba", "wma", "amr", "mka"),
        *("mp4", "m4v", "mov", "webm", "mkv", "ogv", "avi", "wmv", "asf", "flv", "f4v", "swf"),
        *("3gp", "3gpp", "3g2", "mpg", "mpeg", "m2ts", "mts"),
        # Archives and compressed data.
        *("zip", "gz", "tgz", "bz2", "tbz", "tbz2", "xz", "txz", "lz", "lzma", "lz4", "zst", "tzst"),
        *("br", "7z", "rar", "cab", "dmg"),
        # Compression dictionary deltas (RFC 9842) that staticwrap build writes.
        "dcz",
        # ZIP containers under other names: Java and Python packages, browser
        # extensions, mobile apps, e-books, OOXML and OpenDocument files.
        *("jar", "war", "ear", "whl", "egg", "apk", "aab", "ipa", "xpi", "crx", "nupkg", "epub"),
        *("docx", "xlsx", "pptx", "odt", "ods", "odp", "odg"),
        # PDF content streams are nearly always deflated (FlateDecode).
        "pdf",
    }
)


class CompressError(StaticwrapError):
    """A variant that was written does not decode to its original; the message names the file."""


class CompressResult(NamedTuple):
    """What :func:`compress_file` did to one file."""

    path: str
    #: The size of the original file in bytes.
    original_size: int
    #: The size of each variant kept, by coding (written now or reused).
    sizes: dict[str, int]
    #: The codings whose existing sibling was kept without encoding again.
    reused: tuple[str, ...]
    #: True if the file was not considered at all (its extension, or an empty file).
    skipped: bool
    #: The ETag value of each variant kept, by coding: the hash of the bytes
    #: that were checked to decode, so that nobody reads the file again for it.
    tags: Mapping[str, str]
    #: The size each coding tried and not kept (it saved too little) came to,
    #: so that a rebuild of the same bytes can judge it again without encoding.
    #: (The default is shared and never changed; a plain dict, as results are
    #: pickled between processes.)
    unkept: Mapping[str, int] = {}


class Encoding(NamedTuple):
    """The variants of some bytes that save enough, made by :func:`encode_checked` and still in memory."""

    #: The digest of the bytes encoded.
    digest: Digest
    #: The codings tried.
    codings: tuple[str, ...]
    #: For each coding kept: the variant's bytes, checked to decode to the original, and its ETag value.
    variants: Mapping[str, tuple[bytes, str]]
    #: For each coding tried and not kept (it saved too little): the size it came to.
    unkept: Mapping[str, int]


def should_compress(name: str) -> bool:
    """Whether a file name is worth compressing: not a sibling, not an already-compressed format."""
    lower = os.path.basename(name).lower()
    if lower.endswith(_SIBLING_ENDINGS):
        return False
    _, dot, extension = lower.rpartition(".")
    return not (dot and extension in SKIP_EXTENSIONS)


def encode(data: bytes, coding: str) -> bytes:
    """Encode bytes with one content coding, at the slowest, smallest settings.

    The output is deterministic: the same input gives the same bytes, so
    rebuilding does not change a sibling's ETag.
    """
    if coding == "br":
        # Quality 11 with the library's default 4 MiB window (lgwin 22); RFC 7932
        # §9.1 lets a stream ask a decoder for up to 16 MiB, so this is safe.
        compressed: bytes = brotli.compress(data, quality=11, lgwin=22)
        return compressed
    if coding == "gzip":
        # mtime=0 and no file name (RFC 1952 §2.3.1 MTIME, FNAME), so that the
        # header depends on nothing but the data (and zlib's OS byte, per platform).
        return gzip.compress(data, compresslevel=9, mtime=0)
    if coding == "zstd" and "zstd" in CODINGS:
        return _encode_zstd(data)
    raise ConfigurationError(_coding_problem(coding))


def encode_checked(data: bytes, codings: Sequence[str], min_saving: float, name: str) -> Encoding:
    """Encode ``data`` with each coding and keep the variants that save enough, each checked to decode to it.

    The check is the server's (:func:`staticwrap.codings.check_encoded`), made
    on the very bytes that will be written.

    :param name: the file the bytes are for, named by an error.
    :raises CompressError: a variant does not decode to ``data``.
    """
    digest = digest_bytes(data)
    limit = keep_ratio(min_saving) * len(data)
    variants: dict[str, tuple[bytes, str]] = {}
    unkept: dict[str, int] = {}
    for coding in codings:
        variant = encode(data, coding)
        if len(variant) <= limit:
            check = check_encoded(variant, coding, digest, len(data))
            if check.digest is None:
                raise CompressError(f"the {coding} encoding of {name} is wrong and was not written: {check.problem}")
            variants[coding] = (variant, check.digest.tag)
        else:
            unkept[coding] = len(variant)
    return Encoding(digest, tuple(codings), variants, unkept)


def _encode_zstd(data: bytes) -> bytes:
    # Level 19 asks for an 8 MiB window today; the cap keeps RFC 9659 §3 true
    # whatever a future zstd table says. One frame, with the content size (so a
    # decoder can allocate once) and a checksum, and no dictionary: plain "zstd"
    # gives the decoder no way to get one (HTTP.md rule 27).
    size = len(data)
    level_window = zstandard.ZstdCompressionParameters.from_level(19, source_size=size).window_log
    params = zstandard.ZstdCompressionParameters.from_level(
        19,
        source_size=size,
        window_log=min(level_window, _ZSTD_WINDOW_LOG),
        write_checksum=1,
        write_content_size=1,
        write_dict_id=0,
    )
    compressed: bytes = zstandard.ZstdCompressor(compression_params=params).compress(data)
    return compressed


def compress_file(
    path: str,
    *,
    codings: Sequence[str] = CODINGS,
    min_saving: float = DEFAULT_MIN_SAVING,
    undo: str | None = None,
    encoding: Encoding | None = None,
) -> CompressResult:
    """Write the precompressed siblings of one file, keeping only those that save enough.

    A variant is kept when ``len(variant) <= (1 - min_saving) * len(original)``.
    Each kept one is written atomically, with the original's mtime, and checked
    to decode to the original. Siblings of a requested coding that is not kept
    are removed, as is a ``.zstd`` once ``.zst`` is written; a sibling of a coding
    not requested is removed only if it no longer decodes to the original.
    An existing sibling that is not older than the original, saves enough and
    decodes to it is kept as it is (listed in ``reused``).

    :param undo: the directory of a :class:`~staticwrap.transaction.Transaction`:
        a sibling is kept there before it is replaced or removed.
    :param encoding: the variants of the file's bytes, made beforehand (see
        :class:`Encoder`): used instead of encoding again when it is of
        exactly the bytes the file holds now.

    :raises CompressError: a variant written does not decode to the original.
    :raises ConfigurationError: ``codings`` or ``min_saving`` cannot be used.
    """
    wanted = _check_codings(codings)
    ratio = keep_ratio(min_saving)
    if not should_compress(path):
        return CompressResult(path, os.stat(path).st_size, {}, (), True, {})
    with open(path, "rb") as file:
        original = os.fstat(file.fileno())
        data = file.read()
    if not data:
        return CompressResult(path, 0, {}, (), True, {})
    # The digest of exactly the bytes encoded, so a file changed while we
    # work is caught by the check rather than half-described.
    digest = digest_bytes(data)
    limit = ratio * len(data)
    sizes: dict[str, int] = {}
    tags: dict[str, str] = {}
    reused: list[str] = []
    unkept: dict[str, int] = {}
    for coding in wanted:
        if (kept := _reusable(path + WRITTEN_SUFFIXES[coding], coding, digest, original, limit)) is not None:
            sizes[coding], tags[coding] = kept
            reused.append(coding)
    missing = [coding for coding in wanted if coding not in sizes]
    if missing:
        if encoding is None or encoding.digest.sha256 != digest.sha256 or not set(missing) <= set(encoding.codings):
            encoding = encode_checked(data, missing, min_saving, path)
        for coding in missing:
            if coding in encoding.variants:
                variant, tags[coding] = encoding.variants[coding]
                target = path + WRITTEN_SUFFIXES[coding]
                save_before_change(undo, target)
                _write(target, variant, original)
                sizes[coding] = len(variant)
            else:
                unkept[coding] = encoding.unkept[coding]
    for coding, suffix in SIBLING_SUFFIXES:
        sibling = path + suffix
        if coding in wanted:
            if coding not in sizes or suffix != WRITTEN_SUFFIXES[coding]:
                _remove(sibling, undo)
        elif coding in CODINGS and os.path.lexists(sibling) and _stale(sibling, coding, digest, len(data)):
            _remove(sibling, undo)  # the server would refuse it anyway
    return CompressResult(path, len(data), sizes, tuple(reused), False, tags, unkept)


def _stale(sibling: str, coding: str, digest: Digest, size: int) -> bool:
    return check_sibling(sibling, coding, digest, size).problem is not None


def _reusable(
    target: str, coding: str, digest: Digest, original: os.stat_result, limit: Fraction
) -> tuple[int, str] | None:
    """The size and ETag value of an existing sibling that may stay as it is, or None."""
    try:
        sibling = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(sibling.st_mode) or sibling.st_mtime_ns < original.st_mtime_ns or sibling.st_size > limit:
        return None
    check = check_sibling(target, coding, digest, original.st_size)
    return None if check.digest is None else (sibling.st_size, check.digest.tag)


def _write(target: str, variant: bytes, original: os.stat_result) -> None:
    """Write a variant (checked by :func:`encode_checked`) atomically."""
    # The sibling is readable whenever the original is (no execute or setuid
    # bits), and has its mtime: tools that compare mtimes (rsync -u, make,
    # our own reuse test, the server's manifest check) see the pair as one.
    write_atomic(
        target,
        variant,
        mode=stat.S_IMODE(original.st_mode) & 0o666,
        mtime_ns=original.st_mtime_ns,
    )


def _remove(path: str, undo: str | None) -> None:
    if os.path.lexists(path):
        save_before_change(undo, path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def compress_tree(
    root: str,
    *,
    codings: Sequence[str] = CODINGS,
    min_saving: float = DEFAULT_MIN_SAVING,
    jobs: int | None = None,
    progress: Callable[[CompressResult], None] | None = None,
) -> list[CompressResult]:
    """Run :func:`compress_file` on every file under ``root``, in parallel processes.

    Dotfiles and dot-directories are left out, as are siblings whose original
    is next to them, and symlinks that lead out of ``root`` (the server does not
    serve those either). Each directory is visited once, even if symlinks
    reach it twice. The results come in sorted walk order; see
    :func:`compress_paths` for ``jobs`` and ``progress``.

    :raises CompressError: a variant written does not decode to its original.
    :raises ConfigurationError: an option cannot be used, or ``root`` is not a directory.
    """
    check_options(codings, min_saving, jobs)
    if not os.path.isdir(root):
        raise ConfigurationError.bad_value("root", root, "not a directory; give the directory of the static files")
    return compress_paths(list(_walk(root)), codings=codings, min_saving=min_saving, jobs=jobs, progress=progress)


def compress_paths(
    paths: Sequence[str],
    *,
    codings: Sequence[str] = CODINGS,
    min_saving: float = DEFAULT_MIN_SAVING,
    jobs: int | None = None,
    progress: Callable[[CompressResult], None] | None = None,
    undo: str | None = None,
) -> list[CompressResult]:
    """Run :func:`compress_file` on each path, in parallel processes; one result per path, in order.

    :param jobs: the number of processes; ``None`` for one per CPU, ``1`` to work in this process.
    :param progress: called in this process with each result, as each file is done.
    :param undo: passed on to :func:`compress_file`.
    :raises CompressError: a variant written does not decode to its original.
    :raises ConfigurationError: ``codings``, ``min_saving`` or ``jobs`` cannot be used.
    """
    results: dict[str, CompressResult] = {}
    with sigterm_unwinds(), Workers(codings=codings, min_saving=min_saving, jobs=jobs, undo=undo) as workers:
        # Largest first: brotli at quality 11 takes seconds for a large bundle,
        # and one started last would keep a single worker busy while the others
        # have nothing left to do.
        for size, path in sorted(((_size(path), path) for path in paths), key=lambda pair: -pair[0]):
            workers.submit(path, size)
        for result in workers.completed():
            results[result.path] = result
            if progress is not None:
                progress(result)
    return [results[path] for path in paths]


#: Files smaller than this go to a worker in batches of about this many
#: bytes: a trip to a worker process and back costs about a millisecond of
#: pickling and pipe writes. Small enough that the last batch, which one
#: worker may finish alone, takes a fraction of a second (brotli at quality
#: 11 encodes about 200 KiB a second of small text files).
BATCH_BYTES = 64 * 1024

#: The batches an :class:`Encoder` keeps handed out per worker: enough that no
#: worker waits between two calls of its owner, few enough that what is
#: handed out next is still chosen largest first.
_IN_FLIGHT = 3


class Workers:
    """:func:`compress_file` on paths handed in one by one, in worker processes; a context manager.

    The workers write the siblings next to each file (:func:`compress_paths`
    uses it); a caller that must not write before a given moment hands its
    contents to an :class:`Encoder` instead. Results come out of
    :meth:`completed` in the order the files finish.

    :param jobs: the number of processes; ``None`` for one per CPU, ``1`` to work in this process.
    :raises ConfigurationError: ``codings``, ``min_saving`` or ``jobs`` cannot be used.
    """

    def __init__(
        self,
        *,
        codings: Sequence[str] = CODINGS,
        min_saving: float = DEFAULT_MIN_SAVING,
        jobs: int | None = None,
        undo: str | None = None,
    ) -> None:
        self._codings = check_options(codings, min_saving, jobs)
        self._min_saving = min_saving
        self._undo = undo
        self._workers = jobs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._running: set[Future[list[CompressResult]]] = set()
        self._done: list[CompressResult] = []
        self._batch: list[str] = []
        self._batch_bytes = 0

    def submit(self, path: str, size: int | None = None) -> None:
        """Compress ``path`` (of ``size`` bytes, if known): in a worker, or here if that is cheaper."""
        if self._workers <= 1 or not should_compress(path) or size == 0:
            # Without workers, or only a stat (an empty file has nothing to
            # encode): not worth a trip to another process, nor starting one.
            self._done.extend(_compress_batch([path], self._codings, self._min_saving, self._undo))
            return
        self._batch.append(path)
        self._batch_bytes += _size(path) if size is None else size
        if self._batch_bytes >= BATCH_BYTES:
            self._send_batch()

    def completed(self) -> Iterator[CompressResult]:
        """Each result of the files handed in so far, as each file is done.

        :raises CompressError: a variant written does not decode to its original.
        """
        self._send_batch()
        while self._done:
            yield self._done.pop()
        for future in as_completed(self._running):
            self._running.discard(future)
            with _explained():
                results = future.result()
            yield from results

    def _send_batch(self) -> None:
        if not self._batch:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=_process_context())
        with _explained():
            future = self._pool.submit(_compress_batch, self._batch, self._codings, self._min_saving, self._undo)
        self._running.add(future)
        self._batch, self._batch_bytes = [], 0

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._pool is not None:
            # After a failure no file is started; every one running ends
            # before this returns, so that nothing writes behind the caller.
            self._pool.shutdown(wait=True, cancel_futures=error is not None)


class Encoder:
    """:func:`encode_checked` on contents handed in as soon as they are known, in worker processes; a context manager.

    Unlike :class:`Workers`, the workers only encode: they read and write no
    file, so the caller may hand in its contents before it may write anything
    (the build does while it still reads and rewrites its sources), and
    writes the variants itself with :func:`compress_file`. Contents are keyed
    by their SHA-256: identical contents are encoded once. Work goes to the
    workers a few batches at a time, the largest contents known first, so
    that the last to finish are small.

    :param jobs: the number of processes; ``None`` for one per CPU, ``1`` to work in this process.
    :raises ConfigurationError: ``codings``, ``min_saving`` or ``jobs`` cannot be used.
    """

    def __init__(
        self, *, codings: Sequence[str] = CODINGS, min_saving: float = DEFAULT_MIN_SAVING, jobs: int | None = None
    ) -> None:
        self._codings = check_options(codings, min_saving, jobs)
        self._min_saving = min_saving
        self._workers = jobs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._queued: list[tuple[int, int, bytes]] = []  # a heap of (-size, order, key)
        self._inputs: dict[bytes, tuple[bytes, str]] = {}  # key -> (data, name), until handed out
        self._running: dict[Future[list[Encoding]], list[bytes]] = {}
        # Appended to by the pool's thread as each piece of work ends: poll()
        # looks at it alone, as the caller may call it for every file.
        self._finished: list[Future[list[Encoding]]] = []
        self._done: dict[bytes, Encoding] = {}
        self._known: set[bytes] = set()
        self._queued_bytes = 0
        # Whether the caller has asked for results: from then on all goes out.
        self._asked = False
        #: How many contents were encoded so far (each once, however many files hold it).
        self.encoded = 0

    def add(self, key: bytes, data: bytes, name: str) -> None:
        """Have ``data`` encoded, unless contents with the SHA-256 ``key`` were handed in before.

        :param name: the file ``data`` is for, named by an error.
        """
        if key in self._known:
            return
        self._known.add(key)
        if self._workers <= 1:
            self._done[key] = encode_checked(data, self._codings, self._min_saving, name)
            self.encoded += 1
            return
        self._inputs[key] = (data, name)
        self._queued_bytes += len(data)
        heapq.heappush(self._queued, (-len(data), len(self._known), key))
        self.poll()

    def poll(self) -> None:
        """Take in the work finished and hand out more; cheap, for the caller to call between its own steps.

        :raises CompressError: a variant does not decode to its original.
        """
        while self._finished:
            self._collect(self._finished.pop())
        if self._pool is None and not self._asked and self._queued_bytes < BATCH_BYTES:
            # Starting the processes costs more than a few small contents
            # (an unchanged rebuild hands in only the files for which some
            # coding saved too little): they wait until results are asked for.
            return
        while self._queued and len(self._running) < _IN_FLIGHT * self._workers:
            self._send()

    def get(self, key: bytes) -> Encoding | None:
        """The encoding of the contents with the SHA-256 ``key``, if it is done.

        :raises CompressError: a variant does not decode to its original.
        """
        self._asked = True
        self.poll()
        return self._done.get(key)

    def completed(self, keys: Collection[bytes]) -> Iterator[tuple[bytes, Encoding]]:
        """``(key, encoding)`` for each of ``keys`` (all handed in with :meth:`add`), as each is done.

        :raises CompressError: a variant does not decode to its original.
        """
        self._asked = True
        wanted = set(keys)
        while wanted:
            self.poll()
            ready = [key for key in wanted if key in self._done]
            for key in ready:
                wanted.discard(key)
                yield key, self._done[key]
            if ready:
                continue  # the caller took time: take in what ended meanwhile, without waiting
            if not self._running:  # never handed in: waiting would never end
                raise ValueError(f"{len(wanted)} contents were never handed in with add()")
            finished, _ = wait(self._running, return_when=FIRST_COMPLETED)
            for future in finished:
                self._collect(future)

    def release(self, key: bytes) -> None:
        """Forget the encoding of the contents with the SHA-256 ``key``: the caller wrote it wherever it goes.

        Without this, the variants of every content of a tree stay in memory
        until the encoder closes. Contents handed in again after are encoded again.
        """
        self._done.pop(key, None)
        # Still queued or being encoded: its result is on its way.
        if key not in self._inputs and not any(key in keys for keys in self._running.values()):
            self._known.discard(key)

    def _send(self) -> None:
        batch: list[tuple[bytes, str]] = []
        keys: list[bytes] = []
        size = 0
        while self._queued and size < BATCH_BYTES:
            key = heapq.heappop(self._queued)[2]
            data, name = self._inputs.pop(key)
            self._queued_bytes -= len(data)
            batch.append((data, name))
            keys.append(key)
            size += len(data)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=_process_context())
        with _explained():
            future = self._pool.submit(_encode_batch, batch, self._codings, self._min_saving)
        self._running[future] = keys
        future.add_done_callback(self._finished.append)

    def _collect(self, future: Future[list[Encoding]]) -> None:
        keys = self._running.pop(future, None)
        if keys is None:
            return  # taken in already
        with _explained():
            encodings = future.result()
        self._done.update(zip(keys, encodings, strict=True))
        self.encoded += len(encodings)

    def __enter__(self) -> Encoder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._pool is None:
            return
        # Work not started is dropped; what the workers are encoding is
        # finished, and every worker has ended when this returns. They are
        # not terminated: one killed while it writes its result into the
        # pool's pipe leaves half a message there, and the pool's thread then
        # waits for the rest for ever (a build stopped with Ctrl-C hung so).
        self._pool.shutdown(wait=True, cancel_futures=True)


def _encode_batch(batch: Sequence[tuple[bytes, str]], codings: Sequence[str], min_saving: float) -> list[Encoding]:
    return [encode_checked(data, codings, min_saving, name) for data, name in batch]


@contextlib.contextmanager
def _explained() -> Iterator[None]:
    """A worker that died is a :class:`CompressError` saying the likely cause."""
    try:
        yield
    except BrokenProcessPool as error:
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        where = f"the script {main}" if main else "the main module"
        raise CompressError(
            f"a compression worker process stopped ({error}). Workers start by importing {where} again: "
            'if it compresses or builds at its top level, put that under if __name__ == "__main__": '
            "(or pass jobs=1 to work in this process)"
        ) from error


def _compress_batch(
    paths: Sequence[str], codings: Sequence[str], min_saving: float, undo: str | None
) -> list[CompressResult]:
    return [compress_file(path, codings=codings, min_saving=min_saving, undo=undo) for path in paths]


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # compress_file will say what is wrong with it


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`SystemExit`; once the block is left, the process dies of it.

    By default SIGTERM ends the process on the spot: no ``finally`` runs, so a
    build's transaction is not rolled back (``DEST`` stays half written) and
    its worker processes are not stopped (an idle one waits for work, a busy
    one to hand in its result, for ever). Raised as an exception, the signal
    unwinds the block like Ctrl-C does; the process then dies of SIGTERM
    after all, as its sender expects. A second SIGTERM during that cleanup
    is ignored (SIGKILL still works). Nothing changes where the program set
    its own handler, or outside the main thread, where no handler can be set.
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    received = False

    def unwind(signum: int, frame: object) -> None:
        nonlocal received
        received = True
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if received:
            os.kill(os.getpid(), signal.SIGTERM)


def _process_context() -> multiprocessing.context.BaseContext:
    # Forking a process that has threads can deadlock the child (Python 3.12
    # warns about it); forkserver and spawn start workers from a clean process.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _walk(root: str) -> Iterator[str]:
    # The server's policy (tree.walk): no dotfiles but .well-known, no
    # symlinks out of the root; siblings whose original is here are outputs.
    # A directory reached twice (through a symlink) is compressed once: its
    # siblings are the same files, and two workers must not write them at once.
    seen: set[str] = set()
    for directory in walk(source_root(root)):
        if directory.real in seen:
            continue
        seen.add(directory.real)
        skip = directory.siblings_to_skip()
        yield from (found.path for name, found in directory.files.items() if name not in skip)


def plural_files(count: int) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} file" if count == 1 else f"{count} files"


def format_summary(results: Sequence[CompressResult], seconds: float) -> str:
    """A short report of a run, for people.

    Counts files compressed (of which reused: nothing new was written),
    not worth compressing, and skipped. For each coding, the bytes a client
    accepting it downloads for all the files considered (the original where no
    variant was kept), and the share saved against the originals.
    """
    considered = [result for result in results if not result.skipped]
    compressed = [result for result in considered if result.sizes]
    reused = sum(1 for result in compressed if set(result.reused) == set(result.sizes))
    total = sum(result.original_size for result in considered)
    lines = [
        f"{plural_files(len(compressed))} compressed ({reused} reused unchanged), "
        f"{len(considered) - len(compressed)} not worth compressing, "
        f"{len(results) - len(considered)} skipped, in {seconds:.2f} s",
        f"  originals: {total:,} bytes",
    ]
    for coding in SERVER_ORDER:
        if total and any(coding in result.sizes for result in considered):
            after = sum(result.sizes.get(coding, result.original_size) for result in considered)
            lines.append(f"  {coding}: {after:,} bytes, {100 * (total - after) / total:.1f}% saved")
    return "\n".join(lines)


def check_options(codings: Sequence[str], min_saving: float, jobs: int | None) -> tuple[str, ...]:
    """Check the compression options; :class:`ConfigurationError` names the first bad one."""
    wanted = _check_codings(codings)
    keep_ratio(min_saving)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigurationError.bad_value("jobs", jobs, "give a number of processes >= 1 (left out: one per CPU)")
    return wanted


def _check_codings(codings: Sequence[str]) -> tuple[str, ...]:
    if isinstance(codings, str):
        raise ConfigurationError.bad_value("codings", codings, "give a sequence of codings, such as ('br', 'gzip')")
    wanted = tuple(dict.fromkeys(codings))
    if not wanted:
        raise ConfigurationError(f"codings=(): name at least one of {', '.join(CODINGS)}")
    for coding in wanted:
        if coding not in CODINGS:
            raise ConfigurationError(_coding_problem(coding))
    return wanted


def _coding_problem(coding: str) -> str:
    if coding in SERVER_ORDER:
        return f"codings: {coding} needs the zstandard package: pip install 'staticwrap[zstd]', or leave {coding} out"
    return f"codings: unknown coding {coding!r}; choose from {', '.join(CODINGS)}"


def keep_ratio(min_saving: float) -> Fraction:
    """The largest fraction of its original's size a kept variant may have, for ``min_saving``."""
    if isinstance(min_saving, bool) or not isinstance(min_saving, (int, float)) or not 0 <= min_saving < 1:
        raise ConfigurationError.bad_value(
            "min_saving", min_saving, "give a fraction from 0 up to (not including) 1, such as 0.05 for 5%"
        )
    # Exact decimal arithmetic: 0.05 means 1/20, so a 95-byte variant of a
    # 100-byte file is kept, as the documented rule says, and not lost to the
    # float 0.05 being a little more than 1/20.
    return 1 - Fraction(repr(float(min_saving)))
