"""The multipart/byteranges body, from RFC 9110 §14.6 / §15.3.7.2 and RFC 2046 §5.1.1.

RFC 2046 §5.1.1:
    multipart-body  := [preamble CRLF] dash-boundary transport-padding CRLF
                       body-part *encapsulation close-delimiter transport-padding
                       [CRLF epilogue]
    encapsulation   := delimiter transport-padding CRLF body-part
    delimiter       := CRLF dash-boundary ; dash-boundary := "--" boundary
    close-delimiter := delimiter "--"
    body-part       := MIME-part-headers [CRLF *OCTET]

RFC 9110 §14.6: each body part has a Content-Range, and a Content-Type when the
representation has one. The body ends with the close-delimiter, after which an empty
epilogue (nothing, or a single CRLF) is equally valid; the tests accept both.
"""

from __future__ import annotations

import pytest

from staticwrap.ranges import ByteRange
from staticwrap.responder import Segment, multipart_segments

TEN = b"0123456789"
#: The boundary of the RFC 9110 §15.3.7.2 example.
BOUNDARY = "THIS_STRING_SEPARATES"


def render(segments: list[Segment], data: bytes) -> bytes:
    """The bytes a server sends for ``segments`` of the representation ``data``."""
    out = bytearray()
    for segment in segments:
        if isinstance(segment, bytes):
            out += segment
        else:
            out += data[segment.start : segment.stop]
    return bytes(out)


def without_empty_epilogue(body: bytes) -> bytes:
    """Drop a trailing ``CRLF`` (an empty epilogue, RFC 2046 §5.1.1), if there is one."""
    return body[:-2] if body.endswith(b"--\r\n") else body


def part(content_type: str, content_range: str, payload: bytes) -> bytes:
    """One body-part: its MIME-part-headers, the empty line, then its octets."""
    headers = f"Content-Type: {content_type}\r\nContent-Range: {content_range}\r\n\r\n"
    return headers.encode("latin-1") + payload


def test_multipart_segments_rfc_9110_example_layout() -> None:
    # RFC 9110 §15.3.7.2: an 8000-byte application/pdf, ranges 500-999 and 7000-7999.
    data = bytes(i % 251 for i in range(8000))
    segments = multipart_segments([ByteRange(500, 1000), ByteRange(7000, 8000)], "application/pdf", 8000, BOUNDARY)
    expected = (
        b"--THIS_STRING_SEPARATES\r\n"
        + part("application/pdf", "bytes 500-999/8000", data[500:1000])
        + b"\r\n--THIS_STRING_SEPARATES\r\n"
        + part("application/pdf", "bytes 7000-7999/8000", data[7000:8000])
        + b"\r\n--THIS_STRING_SEPARATES--"
    )
    assert without_empty_epilogue(render(segments, data)) == expected


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        pytest.param(
            [ByteRange(0, 2), ByteRange(5, 7)],
            b"--B\r\n"
            b"Content-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01"
            b"\r\n--B\r\n"
            b"Content-Type: text/plain\r\nContent-Range: bytes 5-6/10\r\n\r\n56"
            b"\r\n--B--",
            id="two-parts",
        ),
        pytest.param(
            [ByteRange(7, 10), ByteRange(0, 1)],
            b"--B\r\n"
            b"Content-Type: text/plain\r\nContent-Range: bytes 7-9/10\r\n\r\n789"
            b"\r\n--B\r\n"
            b"Content-Type: text/plain\r\nContent-Range: bytes 0-0/10\r\n\r\n0"
            b"\r\n--B--",
            id="two-parts-in-request-order",
        ),
        pytest.param(
            [ByteRange(0, 1), ByteRange(4, 5), ByteRange(9, 10)],
            b"--B\r\n"
            b"Content-Type: text/plain\r\nContent-Range: bytes 0-0/10\r\n\r\n0"
            b"\r\n--B\r\n"
            b"Content-Type: text/plain\r\nContent-Range: bytes 4-4/10\r\n\r\n4"
            b"\r\n--B\r\n"
            b"Content-Type: text/plain\r\nContent-Range: bytes 9-9/10\r\n\r\n9"
            b"\r\n--B--",
            id="three-parts",
        ),
    ],
)
def test_multipart_segments_body_layout(ranges: list[ByteRange], expected: bytes) -> None:
    body = render(multipart_segments(ranges, "text/plain", 10, "B"), TEN)
    assert without_empty_epilogue(body) == expected


def test_multipart_segments_body_begins_with_dash_boundary_crlf() -> None:
    # No preamble: the body opens with dash-boundary CRLF, as in the §15.3.7.2 example.
    body = render(multipart_segments([ByteRange(0, 2), ByteRange(5, 7)], "text/plain", 10, BOUNDARY), TEN)
    assert body.startswith(b"--THIS_STRING_SEPARATES\r\nContent-Type: ")


def test_multipart_segments_body_ends_with_close_delimiter() -> None:
    # The last part's data, then CRLF "--" boundary "--", then at most an empty epilogue.
    body = render(multipart_segments([ByteRange(0, 2), ByteRange(5, 7)], "text/plain", 10, BOUNDARY), TEN)
    assert body.endswith((b"56\r\n--THIS_STRING_SEPARATES--", b"56\r\n--THIS_STRING_SEPARATES--\r\n"))


def test_multipart_segments_close_delimiter_appears_once() -> None:
    body = render(multipart_segments([ByteRange(0, 2), ByteRange(5, 7)], "text/plain", 10, BOUNDARY), TEN)
    assert body.count(b"--THIS_STRING_SEPARATES--") == 1


def test_multipart_segments_one_delimiter_per_part() -> None:
    ranges = [ByteRange(0, 1), ByteRange(2, 3), ByteRange(4, 5), ByteRange(6, 7)]
    body = render(multipart_segments(ranges, "text/plain", 10, BOUNDARY), TEN)
    # The first part opens with dash-boundary, the others with delimiter (CRLF dash-boundary).
    assert body.count(b"--THIS_STRING_SEPARATES\r\n") == len(ranges)


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text-plain"),
        pytest.param("text/css; charset=utf-8", id="with-charset"),
        pytest.param("application/octet-stream", id="octet-stream"),
    ],
)
def test_multipart_segments_each_part_has_content_type(content_type: str) -> None:
    body = render(multipart_segments([ByteRange(0, 2), ByteRange(5, 7)], content_type, 10, "B"), TEN)
    header_line = f"Content-Type: {content_type}\r\n".encode()
    assert body.count(header_line) == 2


@pytest.mark.parametrize(
    ("ranges", "expected_lines"),
    [
        pytest.param(
            [ByteRange(0, 2), ByteRange(5, 7)],
            [b"Content-Range: bytes 0-1/10\r\n", b"Content-Range: bytes 5-6/10\r\n"],
            id="two",
        ),
        pytest.param(
            [ByteRange(8, 10), ByteRange(0, 3)],
            [b"Content-Range: bytes 8-9/10\r\n", b"Content-Range: bytes 0-2/10\r\n"],
            id="request-order",
        ),
    ],
)
def test_multipart_segments_each_part_has_content_range_in_order(
    ranges: list[ByteRange], expected_lines: list[bytes]
) -> None:
    body = render(multipart_segments(ranges, "text/plain", 10, "B"), TEN)
    positions = [body.find(line) for line in expected_lines]
    assert all(position >= 0 for position in positions)
    assert positions == sorted(positions)


def test_multipart_segments_part_headers_end_with_empty_line_before_data() -> None:
    body = render(multipart_segments([ByteRange(3, 5), ByteRange(7, 9)], "text/plain", 10, "B"), TEN)
    assert b"Content-Range: bytes 3-4/10\r\n\r\n34\r\n--B" in body


def test_multipart_segments_single_range_is_one_complete_part() -> None:
    # The function itself frames whatever it is given; one range still gets the close-delimiter.
    body = render(multipart_segments([ByteRange(2, 4)], "text/plain", 10, "B"), TEN)
    expected = b"--B\r\n" + part("text/plain", "bytes 2-3/10", b"23") + b"\r\n--B--"
    assert without_empty_epilogue(body) == expected


def test_multipart_segments_data_is_sent_as_byte_ranges() -> None:
    # The part data are ranges of the file (for sendfile), not copies of its bytes.
    ranges = [ByteRange(0, 2), ByteRange(5, 7)]
    segments = multipart_segments(ranges, "text/plain", 10, "B")
    assert [segment for segment in segments if isinstance(segment, ByteRange)] == ranges
