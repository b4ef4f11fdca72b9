"""File bodies: the bounded reader and the chunked iterator, on real files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from staticwrap.asset import FileFacts
from staticwrap.body import BLOCK_SIZE, BoundedReader, ChangedWhileSentError, FileIterator, SendableRange
from staticwrap.ranges import ByteRange

DATA = bytes(range(256)) * 4096  # 1 MiB, every offset distinguishable


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


@pytest.mark.parametrize("read_size", [1, 7, 4096, BLOCK_SIZE, 10**9])
def test_bounded_reader_stops_at_the_range_end(data_file: Path, read_size: int) -> None:
    with data_file.open("rb") as file:
        file.seek(1000)
        reader = BoundedReader(file, 5000)
        chunks = iter(lambda: reader.read(read_size), b"")
        assert b"".join(chunks) == DATA[1000:6000]
        reader.close()
        assert file.closed


def test_bounded_reader_works_under_a_buffered_reader(data_file: Path) -> None:
    # io.BufferedReader insists on readable(); a server may wrap the body this way.
    with data_file.open("rb") as file:
        file.seek(10)
        buffered = io.BufferedReader(BoundedReader(file, 20))
        assert buffered.read() == DATA[10:30]
        buffered.close()


def test_bounded_reader_has_no_fileno(data_file: Path) -> None:
    # A server that sendfile()s a descriptor to EOF must not get one.
    with data_file.open("rb") as file:
        reader = BoundedReader(file, 1)
        with pytest.raises(io.UnsupportedOperation):
            reader.fileno()
        reader.close()


def test_file_iterator_yields_ranges_and_literals_in_order(data_file: Path) -> None:
    file = data_file.open("rb")
    body = FileIterator(file, (b"<", ByteRange(100_000, 100_000 + 3 * BLOCK_SIZE // 2), b"|", ByteRange(0, 3), b">"))
    chunks = list(body)
    body.close()
    assert file.closed
    assert b"".join(chunks) == b"<" + DATA[100_000 : 100_000 + 3 * BLOCK_SIZE // 2] + b"|" + DATA[0:3] + b">"
    assert max(len(chunk) for chunk in chunks) <= BLOCK_SIZE


def test_file_iterator_raises_when_the_file_shrinks(data_file: Path) -> None:
    # The file is truncated after it was opened: the body is never padded,
    # and it must not end quietly either (a keep-alive server would then
    # take the next response for its end): the iterator raises, and the
    # server aborts the connection (PEP 3333).
    file = data_file.open("rb")
    body = FileIterator(file, (ByteRange(0, len(DATA)),))
    with data_file.open("r+b") as writer:
        writer.truncate(100)
    received: list[bytes] = []
    with pytest.raises(ChangedWhileSentError, match="ended before"):
        received.extend(body)
    assert b"".join(received) == DATA[:100]  # without facts to check against, only the early end shows
    body.close()


def test_bounded_reader_raises_when_the_file_ends_early(data_file: Path) -> None:
    file = data_file.open("rb")
    file.seek(len(DATA) - 10)
    reader = BoundedReader(file, 20)
    assert reader.read(10) == DATA[-10:]
    with pytest.raises(ChangedWhileSentError, match="ended before"):
        reader.read(10)
    reader.close()


@pytest.mark.parametrize("reader_class", [BoundedReader, SendableRange])
def test_read_raises_once_the_file_changes_between_reads(data_file: Path, reader_class: type[BoundedReader]) -> None:
    # read() (Waitress reads every block this way) checks the open file
    # after each block, as readinto() does: a write in place between two
    # blocks changes the mtime, and the body stops instead of mixing bytes.
    st = data_file.stat()
    facts = FileFacts(str(data_file), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, "digest")
    file = data_file.open("rb")
    reader = (
        SendableRange(file, ByteRange(0, 100), facts)
        if reader_class is SendableRange
        else BoundedReader(file, 100, facts)
    )
    assert reader.read(40) == DATA[:40]
    os.utime(data_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ChangedWhileSentError, match="changed while"):
        reader.read(40)
    reader.close()
    assert file.closed


def test_read_with_no_size_returns_the_rest_of_the_range(data_file: Path) -> None:
    with data_file.open("rb") as file:
        file.seek(5)
        reader = BoundedReader(file, 50)
        assert reader.read(10) == DATA[5:15]
        assert reader.read() == DATA[15:55]
        assert reader.read() == b""
        reader.close()
