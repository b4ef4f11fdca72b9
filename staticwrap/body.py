"""File bodies: opening a variant safely and handing its bytes to the server.

This and :mod:`staticwrap.middleware` are the only modules that do I/O per
request. Every file opened here is closed on every path: by the server through
``close()`` on the returned iterable (PEP 3333), including when the client goes
away, or here when something fails before the iterable exists.
"""

from __future__ import annotations

import enum
import errno
import io
import os
import stat
from collections.abc import Iterable, Iterator
from typing import BinaryIO, NamedTuple

from .asset import FileFacts
from .ranges import ByteRange

# How much of a file one read takes, where staticwrap reads it itself (a
# server without wsgi.file_wrapper, such as Granian's WSGI interface, or with
# one that cannot be given the descriptor, or a multipart body), and the block
# size handed to a wsgi.file_wrapper. Large enough that a 20 MiB file is 80
# reads and 80 fstat checks, not 320 of each; small enough to bound memory: a
# server holds a few blocks of a body its client is slow to take (Granian
# buffers several), so each stalled response costs a few times this.
BLOCK_SIZE = 256 * 1024

# file_wrapper implementations known to send no more than the Content-Length
# the application set, so that they can be given the real descriptor, seeked
# to the start of a range, and use sendfile(2) with an offset and a count.
# Gunicorn's Response.sendfile() sends at most response_length bytes from the
# file's current offset, and Response.write() truncates to it on the
# non-sendfile path. It may send fewer: see SendableRange.
# Waitress's ReadOnlyFileBasedBuffer, given a seekable file, sends
# min(Content-Length, end - current position) bytes (prepare()), read by its
# I/O thread as the socket drains; given anything else, its worker thread
# iterates the body into an output buffer that spills to temporary files, a
# whole copy of the body for a client that is slow to read it.
_LENGTH_RESPECTING_WRAPPERS = ("gunicorn.", "waitress.")


class ChangedWhileSentError(OSError):
    """Raised by a body iterable when its file changes or ends early while it is sent.

    Raised while the body is read, or by its ``close()`` when the server sent
    the file itself with sendfile(2) (see :class:`SendableRange`).

    Its headers are out already: the only honest end is an error, on which
    the server aborts the connection (PEP 3333), so that the client sees an
    incomplete response instead of one that looks whole but mixes two files
    or is cut short.
    """


class Stale(enum.Enum):
    """A file of the index that could not be used for a response because it is not the file indexed."""

    #: Gone, replaced or changed since it was indexed: re-index it.
    CHANGED = "changed"


class Unavailable(NamedTuple):
    """A file of the index that is there but cannot be reached now, and why.

    A transient failure (permissions changed, out of descriptors, an I/O
    error): the index is left alone, the request is answered 503 (RFC 9110
    §15.6.4), and the server's error log gets a line naming ``path`` and
    ``error`` (:mod:`staticwrap.middleware`). ``path`` is the file, or the
    URL path whose lookup on disk failed.
    """

    path: str
    error: OSError


#: Why a file of the index could not be used for a response.
Unusable = Stale | Unavailable


# errno values that mean the path no longer leads to the file indexed.
_GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENXIO})


def open_checked(facts: FileFacts) -> BinaryIO | Unusable:
    """Open a file of the index, checking on the descriptor that it is still the file indexed.

    The check is made on the open descriptor (fstat), so the file read is the
    one checked: a file replaced or changed after startup is never sent with
    the size, ETag or bytes of the old one. ``O_NONBLOCK`` keeps a FIFO put in
    a file's place from blocking the worker in ``open``.
    """
    try:
        descriptor = os.open(facts.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        return Stale.CHANGED if error.errno in _GONE else Unavailable(facts.path, error)
    # Unbuffered: the server reads in large blocks or sendfile()s the
    # descriptor, so a BufferedReader would only cost time per request.
    file = io.FileIO(descriptor, "rb", closefd=True)
    try:
        st = os.fstat(descriptor)
    except OSError as error:  # pragma: no cover - fstat of a descriptor just opened does not fail on Linux
        file.close()
        return Unavailable(facts.path, error)
    if not (stat.S_ISREG(st.st_mode) and facts.matches(st)):
        file.close()
        return Stale.CHANGED
    return file


def check_fresh(facts: FileFacts) -> Unusable | None:
    """For a response without a body: ``None`` if the file is still the one indexed."""
    try:
        st = os.stat(facts.path)
    except OSError as error:
        return Stale.CHANGED if error.errno in _GONE else Unavailable(facts.path, error)
    return None if stat.S_ISREG(st.st_mode) and facts.matches(st) else Stale.CHANGED


def respects_content_length(wrapper: object) -> bool:
    """Whether a ``wsgi.file_wrapper`` sends no more of a file than the response's Content-Length.

    Such a wrapper may be given the real descriptor, seeked to the range start
    (a :class:`SendableRange`).
    A wrapper can say so itself with a boolean ``respects_content_length``
    attribute (the Django middleware's stand-in does); otherwise it is known
    by its module.
    """
    declared = getattr(wrapper, "respects_content_length", None)
    if isinstance(declared, bool):
        return declared
    return str(getattr(wrapper, "__module__", "")).startswith(_LENGTH_RESPECTING_WRAPPERS)


def file_body(
    file: BinaryIO, segments: tuple[ByteRange | bytes, ...], wrapper: object, facts: FileFacts | None = None
) -> Iterable[bytes]:
    """An iterable of the response body made of ``segments`` of ``file``.

    A single range goes through the server's ``wsgi.file_wrapper`` when there
    is one: as the real file seeked to the range start when the server is
    known to send no more than Content-Length (Gunicorn, which then uses
    sendfile with an offset and a count, and Waitress), otherwise as a reader bounded to the
    range, so that not even a file that grows while it is sent can make the
    body longer than Content-Length. Multipart bodies, and servers without a
    file_wrapper, get a chunked iterator. Where staticwrap reads the file
    itself, it checks the descriptor against ``facts`` after each block, and
    where the server sendfile()s it, once the server is done (in ``close()``);
    either raises :class:`ChangedWhileSentError` if the file changed or ended
    early.
    """
    first = segments[0]
    if len(segments) == 1 and isinstance(first, ByteRange) and callable(wrapper):
        file.seek(first.start)
        if respects_content_length(wrapper):
            body: Iterable[bytes] = wrapper(SendableRange(file, first, facts), BLOCK_SIZE)
        else:
            body = wrapper(BoundedReader(file, first.length, facts), BLOCK_SIZE)
        return body
    return FileIterator(file, segments, facts)


def check_unchanged(file: BinaryIO, facts: FileFacts | None) -> None:
    """Raise :class:`ChangedWhileSentError` if the open file no longer matches ``facts``.

    A write changes the mtime before its bytes land (Linux updates it first),
    so a block read after a write is always followed by a check that sees it.
    """
    if facts is not None and not facts.matches(os.fstat(file.fileno())):
        raise _changed(facts)


def check_holds(file: BinaryIO, stop: int, facts: FileFacts | None) -> None:
    """Raise :class:`ChangedWhileSentError` unless the open file still holds its first ``stop`` bytes, unchanged.

    One fstat(2). A file that was shorter than ``stop`` at any moment since it
    was checked on open (truncated, even if grown back since) has a new mtime,
    or a size below ``stop`` when ``facts`` is unknown.
    """
    st = os.fstat(file.fileno())
    if facts is not None and not facts.matches(st):
        raise _changed(facts)
    if st.st_size < stop:
        raise ended_early(file, facts)


def _changed(facts: FileFacts) -> ChangedWhileSentError:
    return ChangedWhileSentError(f"{facts.path} changed while it was being sent; the response is cut short")


def ended_early(file: BinaryIO, facts: FileFacts | None) -> ChangedWhileSentError:
    """The error for a file that ended before the bytes a response's Content-Length promised."""
    name = facts.path if facts is not None else getattr(file, "name", "the file")
    return ChangedWhileSentError(
        f"{name} ended before the bytes its Content-Length promised; the response is cut short"
    )


class BoundedReader(io.RawIOBase):
    """A read-only view of ``length`` bytes from a file's current position.

    Its ``fileno()`` raises :class:`io.UnsupportedOperation` on purpose: a
    server that sendfile()s a descriptor to its end would send past the range.
    """

    def __init__(self, file: BinaryIO, length: int, facts: FileFacts | None = None) -> None:
        super().__init__()
        self._file = file
        self._remaining = length
        self._facts = facts

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._remaining <= 0:
            return 0
        view = memoryview(buffer)[: self._remaining]
        count = int(self._file.readinto(view))  # type: ignore[attr-defined]
        if count == 0:
            raise ended_early(self._file, self._facts)
        check_unchanged(self._file, self._facts)
        self._remaining -= count
        return count

    def read(self, size: int | None = -1) -> bytes:
        # One read of the file, without RawIOBase.read's scratch buffer and
        # the copy out of it: Waitress reads every block of a body this way.
        if self._remaining <= 0:
            return b""
        wanted = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data = self._file.read(wanted)
        if not data and wanted:
            raise ended_early(self._file, self._facts)
        check_unchanged(self._file, self._facts)
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


class SendableRange(BoundedReader):
    """One range of a file, for a server that sends it by sendfile(2): checked when the server is done.

    Its ``fileno()`` is the file's, seeked to the range start, so that the
    server can send it with sendfile(2) and an offset and a count; reads (a
    server without sendfile, or TLS, or Waitress) are bounded to the range and
    checked as :class:`BoundedReader` checks them. It seeks like the file,
    except that its end is the range's end.

    sendfile(2) returns 0 at end of file, and Gunicorn's loop (Python's
    ``socket.sendfile``) then stops without an error, short of the
    Content-Length its head announced, and would keep the connection alive:
    the client would read the next response as the rest of this body. The
    server calls ``close()`` after the body (PEP 3333), and it raises
    :class:`ChangedWhileSentError` if the file is no longer the one checked
    on open or ends before the range does; on that error Gunicorn closes the
    connection, so the client sees the body end early.
    """

    def __init__(self, file: BinaryIO, byte_range: ByteRange, facts: FileFacts | None = None) -> None:
        super().__init__(file, byte_range.length, facts)
        self._stop = byte_range.stop
        # Set once a read raised: the server knows already, close() need not say it twice.
        self._reported = False

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        try:
            return super().readinto(buffer)
        except ChangedWhileSentError:
            self._reported = True
            raise

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except ChangedWhileSentError:
            self._reported = True
            raise

    def fileno(self) -> int:
        return self._file.fileno()

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        # socket.sendfile() moves the offset past what it sent, and its
        # fallback without sendfile(2) seeks and reads: reads stay bounded to
        # the range wherever they start. The end is the range's end, not the
        # file's: Waitress measures what to send by seeking to it, and a file
        # truncated meanwhile must still be sent (and found short) under the
        # Content-Length already computed, not have it silently lowered.
        if whence == os.SEEK_END:
            offset, whence = self._stop + offset, os.SEEK_SET
        position = self._file.seek(offset, whence)
        self._remaining = self._stop - position
        return position

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._reported:
                check_holds(self._file, self._stop, self._facts)
        finally:
            super().close()


class FileIterator:
    """Iterate ``segments``: byte ranges read from ``file`` and literal bytes between them."""

    def __init__(self, file: BinaryIO, segments: tuple[ByteRange | bytes, ...], facts: FileFacts | None = None) -> None:
        self._file = file
        self._segments = segments
        self._facts = facts

    def __iter__(self) -> Iterator[bytes]:
        file = self._file
        for segment in self._segments:
            if isinstance(segment, bytes):
                yield segment
                continue
            file.seek(segment.start)
            remaining = segment.length
            while remaining > 0:
                chunk = file.read(min(BLOCK_SIZE, remaining))
                if not chunk:
                    raise ended_early(file, self._facts)
                check_unchanged(file, self._facts)
                remaining -= len(chunk)
                yield chunk

    def close(self) -> None:
        self._file.close()


def memory_body(body: bytes, segments: tuple[ByteRange | bytes, ...]) -> list[bytes]:
    """The response body made of ``segments`` of a file's bytes held in memory."""
    return [segment if isinstance(segment, bytes) else _slice(body, segment) for segment in segments]


def _slice(body: bytes, byte_range: ByteRange) -> bytes:
    # The whole body is the common case: no copy.
    return body if byte_range.start == 0 and byte_range.stop == len(body) else body[byte_range.start : byte_range.stop]
