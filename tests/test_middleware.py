"""The middleware against HTTP.md, rule by rule, in-process.

Each test names the rule of ``shared/HTTP.md`` it checks. Expected values come
from the files' bytes and the RFC text. Tests that use WebTest run twice,
with and without a server ``wsgi.file_wrapper`` (the ``make_client`` fixture);
tests that must see coded bodies undecoded call the application directly
(``call``), also in both modes.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard
from webtest import TestApp

from staticwrap import ConfigurationError, StaticWrap, StaticwrapWarning
from staticwrap.dates import format_http_date
from tests.conftest import MTIME, TEN, Mode, Result, call, downstream, write

CSS = ("body { color: #123456; margin: 0 auto; }\n" * 40).encode()
JS = b"export const answer = 42;\n" * 20
LM = format_http_date(MTIME)
ETAG_SYNTAX = re.compile(r'"[\x21\x23-\x7e\x80-\xff]*"')

Client = Callable[..., TestApp]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "ten.txt", TEN)
    write(tmp_path, "app.css", CSS)
    write(tmp_path, "app.css.br", brotli.compress(CSS, quality=11))
    write(tmp_path, "app.css.gz", gzip.compress(CSS, 9, mtime=0))
    write(tmp_path, "app.css.zst", zstandard.ZstdCompressor(level=19).compress(CSS))
    write(tmp_path, "app.3f2a1b9c0d.js", JS)
    write(tmp_path, "page.html", "<!doctype html><title>p</title>")
    write(tmp_path, "empty.txt", b"")
    write(tmp_path, "sub/index.html", "<p>sub</p>")
    write(tmp_path, "lone.tar.gz", gzip.compress(b"tar bytes", mtime=0))
    write(tmp_path, ".env", "SECRET=1")
    return tmp_path


@pytest.fixture
def client(make_client: Client, root: Path) -> TestApp:
    return make_client(root, "/static/")


@pytest.fixture
def app(root: Path, make_app: Callable[..., StaticWrap]) -> StaticWrap:
    return make_app(downstream, root, "/static/")


@pytest.fixture
def get(app: StaticWrap, environ_mode: dict[str, Any]) -> Callable[..., Result]:
    """Call the app directly, in both file_wrapper modes, seeing raw (coded) bodies."""

    def request(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Result:
        return call(app, path, headers, method=method, environ=dict(environ_mode))

    return request


def etag_of(client: TestApp, path: str = "/static/ten.txt") -> str:
    return str(client.get(path).headers["ETag"])


# -- Validators (rules 1-4) ---------------------------------------------------


def test_etag_syntax_is_strong_entity_tag(get: Callable[..., Result]) -> None:
    # Rule 1, RFC 9110 §8.8.3: entity-tag = [ weak ] DQUOTE *etagc DQUOTE.
    etag = get("/static/ten.txt").header("ETag")
    assert etag is not None
    assert ETAG_SYNTAX.fullmatch(etag), etag


def test_etag_differs_for_every_coding(get: Callable[..., Result]) -> None:
    # Rule 1, §8.8.1: different bytes under one URL need different strong tags.
    tags = {
        coding: get("/static/app.css", {"Accept-Encoding": coding}).header("ETag")
        for coding in ("identity", "br", "zstd", "gzip")
    }
    assert len(set(tags.values())) == 4, tags
    assert all(tag is not None and not tag.startswith("W/") for tag in tags.values())


def test_etag_survives_a_new_mtime_and_changes_with_content(root: Path) -> None:
    # Rule 2: ETags come from the content, not from mtime and size.
    before = StaticWrap(None, root).files["/ten.txt"]
    os.utime(root / "ten.txt", (MTIME + 5000, MTIME + 5000))
    touched = StaticWrap(None, root).files["/ten.txt"]
    (root / "ten.txt").write_bytes(b"9876543210")
    changed = StaticWrap(None, root).files["/ten.txt"]
    assert before.identity.etag == touched.identity.etag  # type: ignore[union-attr]
    assert changed.identity.etag != before.identity.etag  # type: ignore[union-attr]


def test_last_modified_is_imf_fixdate_of_mtime(client: TestApp) -> None:
    # Rule 3, §5.6.7: 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT.
    assert client.get("/static/ten.txt").headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"


def test_last_modified_of_future_mtime_is_clamped(tmp_path: Path) -> None:
    # Rule 3, §8.8.2.1: never later than the Date of the response.
    write(tmp_path, "future.txt", "x", mtime=int(time.time()) + 86400 * 365)
    response = call(StaticWrap(None, tmp_path), "/future.txt")
    sent = response.header("Last-Modified")
    assert sent is not None
    assert time.mktime(time.strptime(sent, "%a, %d %b %Y %H:%M:%S GMT")) - time.timezone <= time.time() + 1


def test_last_modified_absent_for_mtime_zero(tmp_path: Path) -> None:
    # Rule 3: no Last-Modified for mtime 0.
    write(tmp_path, "zero.txt", "x", mtime=0)
    assert call(StaticWrap(None, tmp_path), "/zero.txt").header("Last-Modified") is None


@pytest.mark.parametrize(
    "date",
    ["Tue, 14 Nov 2023 22:13:20 GMT", "Tuesday, 14-Nov-23 22:13:20 GMT", "Tue Nov 14 22:13:20 2023"],
    ids=["imf-fixdate", "rfc850", "asctime"],
)
def test_if_modified_since_accepts_all_three_date_formats(client: TestApp, date: str) -> None:
    # Rule 4, §5.6.7: recipients accept the three formats.
    client.get("/static/ten.txt", headers={"If-Modified-Since": date}, status=304)


# -- Preconditions (rules 5-12) -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "status"),
    [("{E}", 200), ('"x", {E}', 200), ("*", 200), ('"x"', 412), ("W/{E}", 412), ("garbage", 412)],
    ids=["match", "list", "star", "other", "weak-never-matches", "malformed"],
)
def test_if_match(client: TestApp, value: str, status: int) -> None:
    # Rule 5, §13.1.1: strong comparison; false -> 412 with no body.
    response = client.get("/static/ten.txt", headers={"If-Match": value.format(E=etag_of(client))}, status=status)
    assert response.body == (TEN if status == 200 else b"")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, 412),
        ({"If-Unmodified-Since": LM}, 200),
        ({"If-Unmodified-Since": "garbage"}, 200),
        ({"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT, Tue, 02 Jan 2001 00:00:00 GMT"}, 200),
        ({"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT", "If-Match": "{E}"}, 200),
    ],
    ids=["earlier-412", "equal-200", "invalid-ignored", "list-ignored", "ignored-with-if-match"],
)
def test_if_unmodified_since(client: TestApp, headers: dict[str, str], status: int) -> None:
    # Rule 6, §13.1.4.
    etag = etag_of(client)
    client.get("/static/ten.txt", headers={k: v.format(E=etag) for k, v in headers.items()}, status=status)


@pytest.mark.parametrize(
    ("value", "status"),
    [("{E}", 304), ("W/{E}", 304), ('"x", {E}', 304), ("*", 304), ('"x"', 200)],
    ids=["match", "weak-match", "list", "star", "other"],
)
def test_if_none_match(client: TestApp, value: str, status: int) -> None:
    # Rule 7, §13.1.2: weak comparison; false on GET/HEAD -> 304.
    client.get("/static/ten.txt", headers={"If-None-Match": value.format(E=etag_of(client))}, status=status)
    client.head("/static/ten.txt", headers={"If-None-Match": value.format(E=etag_of(client))}, status=status)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-Modified-Since": LM}, 304),
        ({"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 304),
        ({"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, 200),
        ({"If-Modified-Since": "not a date"}, 200),
        ({"If-Modified-Since": LM, "If-None-Match": '"other"'}, 200),
    ],
    ids=["equal", "later", "earlier", "invalid", "ignored-with-if-none-match"],
)
def test_if_modified_since(client: TestApp, headers: dict[str, str], status: int) -> None:
    # Rule 8, §13.1.3.
    client.get("/static/ten.txt", headers=headers, status=status)


@pytest.mark.parametrize(
    ("if_range", "status", "body"),
    [
        ("{E}", 206, b"234"),
        ("W/{E}", 200, TEN),
        ('"stale"', 200, TEN),
        (LM, 206, b"234"),
        ("Tue, 14 Nov 2023 22:13:21 GMT", 200, TEN),
        ("nonsense", 200, TEN),
    ],
    ids=["etag", "weak-etag", "other-etag", "exact-date", "other-date", "invalid"],
)
def test_if_range(client: TestApp, if_range: str, status: int, body: bytes) -> None:
    # Rule 9, §13.1.5: strong comparison, or a date equal to Last-Modified.
    headers = {"Range": "bytes=2-4", "If-Range": if_range.format(E=etag_of(client))}
    assert client.get("/static/ten.txt", headers=headers, status=status).body == body


def test_preconditions_before_range(client: TestApp) -> None:
    # Rule 10, §13.2.2: If-None-Match + Range -> 304.
    client.get("/static/ten.txt", headers={"If-None-Match": etag_of(client), "Range": "bytes=0-1"}, status=304)


def test_not_modified_headers_match_the_200(tmp_path: Path) -> None:
    # Rule 11, §15.4.5: 304 keeps ETag, Cache-Control, Vary, Expires,
    # Content-Location and CORS as the 200, and no body or content headers.
    write(tmp_path, "app.css", CSS)
    write(tmp_path, "app.css.gz", gzip.compress(CSS, mtime=0))

    def hook(headers: Any, path: str, url: str) -> None:
        headers["Expires"] = "Thu, 01 Jan 2099 00:00:00 GMT"
        headers["Content-Location"] = url

    app = StaticWrap(None, tmp_path, cors="*", headers=hook)
    full = call(app, "/app.css", {"Accept-Encoding": "gzip"})
    etag = full.header("ETag")
    assert etag is not None
    not_modified = call(app, "/app.css", {"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert not_modified.code == 304
    assert not_modified.body == b""
    for name in ("ETag", "Cache-Control", "Vary", "Expires", "Content-Location", "Access-Control-Allow-Origin"):
        assert not_modified.header(name) == full.header(name), name
    assert not_modified.names().isdisjoint({"content-type", "content-encoding", "content-length", "last-modified"})


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_get_405_with_allow(client: TestApp, method: str) -> None:
    # Rule 12, §15.5.6: 405 MUST carry Allow.
    response = client.request("/static/ten.txt", method=method, status=405)
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.body == b""


def test_preconditions_not_evaluated_for_405(client: TestApp) -> None:
    # Rule 12, §13.2.1: POST + If-None-Match: E -> 405, not 304 or 412.
    etag = etag_of(client)
    client.request("/static/ten.txt", method="POST", headers={"If-None-Match": etag}, status=405)
    client.request("/static/ten.txt", method="PUT", headers={"If-Match": '"x"'}, status=405)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_urls_not_in_the_index_reach_the_app(client: TestApp, method: str) -> None:
    # Rule 12: whatever the method.
    response = client.request("/static/missing.txt", method=method, status=200)
    assert response.body == f"app:{method} /static/missing.txt".encode()


# -- Ranges (rules 13-24) -------------------------------------------------------


def test_range_ignored_on_head(client: TestApp) -> None:
    # Rule 13, §14.2: Range is defined for GET only.
    response = client.head("/static/ten.txt", headers={"Range": "bytes=0-1"}, status=200)
    assert response.headers["Content-Length"] == "10"
    assert "Content-Range" not in response.headers


@pytest.mark.parametrize(
    ("range_header", "content_range", "body"),
    [
        ("bytes=0-0", "bytes 0-0/10", b"0"),
        ("BYTES=0-0", "bytes 0-0/10", b"0"),
        ("bytes=8-100", "bytes 8-9/10", b"89"),
        ("bytes=-3", "bytes 7-9/10", b"789"),
        ("bytes=-100", "bytes 0-9/10", TEN),
        ("bytes=0-1,20-30", "bytes 0-1/10", b"01"),
        ("bytes=5-", "bytes 5-9/10", b"56789"),
        ("bytes=2-4, 3-6", "bytes 2-6/10", b"23456"),
    ],
    ids=["first-byte", "unit-case", "clamped", "suffix", "long-suffix", "one-satisfiable", "open", "coalesced"],
)
def test_single_range(client: TestApp, range_header: str, content_range: str, body: bytes) -> None:
    # Rules 14-17, 20, 24 (§14.1.1, §14.4): one part, never multipart.
    response = client.get("/static/ten.txt", headers={"Range": range_header}, status=206)
    assert response.headers["Content-Range"] == content_range
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.body == body


@pytest.mark.parametrize("range_header", ["bytes=20-", "bytes=10-", "bytes=-0", "bytes=20-30,40-"])
def test_unsatisfiable_range_is_416(client: TestApp, range_header: str) -> None:
    # Rules 16, 18, §15.5.17: 416 with bytes */10, keeping validators; no cache may store it
    # under the file's URL (RFC 9111 §3, §5.2.2.5; see tests/test_security_body.py).
    response = client.get("/static/ten.txt", headers={"Range": range_header}, status=416)
    assert response.headers["Content-Range"] == "bytes */10"
    assert response.headers["ETag"] == etag_of(client)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.body == b""


@pytest.mark.parametrize(
    "range_header",
    ["bytes=5-2", "abc", "bytes=", "bytes=+1-", "bytes=1_0-", "bytes=١-٢", "items=0-1", "bytes=0-1;", "bytes = 0-1"],
)
def test_invalid_or_unknown_range_is_ignored(get: Callable[..., Result], range_header: str) -> None:
    # Rules 14, 19: ignored -> 200 with the whole body; never 400 or 500.
    response = get("/static/ten.txt", {"Range": range_header})
    assert (response.code, response.body) == (200, TEN)


def test_huge_range_numbers_do_not_overflow(client: TestApp) -> None:
    # Rule 19: huge numerals parse; a first-pos past the end is unsatisfiable,
    # a huge last-pos is clamped.
    huge = "9" * 5000
    client.get("/static/ten.txt", headers={"Range": f"bytes={huge}-"}, status=416)
    assert client.get("/static/ten.txt", headers={"Range": f"bytes=3-{huge}"}, status=206).body == b"3456789"


def parse_multipart(response: Any) -> list[tuple[dict[str, str], bytes]]:
    content_type = response.headers["Content-Type"]
    match = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", content_type)
    assert match, content_type
    boundary = match.group(1).encode()
    body: bytes = response.body
    assert body.startswith(b"--" + boundary + b"\r\n")
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    parts = []
    for chunk in body[len(boundary) + 4 : -(len(boundary) + 8)].split(b"\r\n--" + boundary + b"\r\n"):
        head, _, data = chunk.partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append((fields, data))
    return parts


def test_multiple_ranges_are_multipart_byteranges(client: TestApp) -> None:
    # Rule 21, §14.6: parts in request order, each with Content-Type and
    # Content-Range, no top-level Content-Range, exact Content-Length.
    response = client.get("/static/ten.txt", headers={"Range": "bytes=7-8,0-1,4-4"}, status=206)
    assert "Content-Range" not in response.headers
    assert response.headers["Content-Length"] == str(len(response.body))
    parts = parse_multipart(response)
    assert [data for _, data in parts] == [b"78", b"01", b"4"]
    assert [fields["Content-Range"] for fields, _ in parts] == ["bytes 7-8/10", "bytes 0-1/10", "bytes 4-4/10"]
    assert all(fields["Content-Type"] == "text/plain; charset=utf-8" for fields, _ in parts)


def test_multipart_coalesces_overlapping_and_adjacent_ranges(client: TestApp) -> None:
    # Rule 21: "7-8,0-1,2-3" -> parts 7-8 and 0-3 (adjacent merged), request order.
    response = client.get("/static/ten.txt", headers={"Range": "bytes=7-8,0-1,2-3"}, status=206)
    assert [data for _, data in parse_multipart(response)] == [b"78", b"0123"]


def test_too_many_ranges_are_ignored(make_client: Client, root: Path) -> None:
    # Rule 21: more than max_ranges parts -> 200.
    client = make_client(root, "/static/", max_ranges=2)
    client.get("/static/ten.txt", headers={"Range": "bytes=0-0,2-2"}, status=206)
    assert client.get("/static/ten.txt", headers={"Range": "bytes=0-0,2-2,4-4"}, status=200).body == TEN


def test_ten_thousand_ranges_are_ignored(client: TestApp) -> None:
    # Rule 21 and the hostile input: 10,000 comma-separated ranges.
    header = "bytes=" + ",".join(f"{i % 10}-{i % 10}" for i in range(10_000))
    assert client.get("/static/ten.txt", headers={"Range": header}, status=200).body == TEN


def test_ranges_longer_than_the_file_are_ignored(client: TestApp) -> None:
    # Rule 21: parts whose total exceeds the length -> 200.
    assert client.get("/static/ten.txt", headers={"Range": "bytes=0-6,3-9"}, status=200).body == TEN


def test_range_on_empty_file_is_200(client: TestApp) -> None:
    # Rule 22.
    response = client.get("/static/empty.txt", headers={"Range": "bytes=0-0"}, status=200)
    assert response.body == b""
    assert response.headers["Content-Length"] == "0"


def test_range_applies_to_the_coded_variant(get: Callable[..., Result]) -> None:
    # Rule 23, §14.1.2: the range selects bytes of the variant actually sent.
    gz = gzip.compress(CSS, 9, mtime=0)
    response = get("/static/app.css", {"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
    assert response.code == 206
    assert response.header("Content-Encoding") == "gzip"
    assert response.header("Content-Range") == f"bytes 0-9/{len(gz)}"
    assert response.body == gz[:10]


def test_accept_ranges_on_200(client: TestApp) -> None:
    # Rule 24.
    assert client.get("/static/ten.txt").headers["Accept-Ranges"] == "bytes"


# -- Content coding (rules 25-29) -----------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        ("br", "br"),
        ("gzip", "gzip"),
        ("zstd", "zstd"),
        ("gzip, br, zstd", "br"),
        ("*", "br"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip;q=0", None),
        ("br;q=0.5, gzip;q=1", "gzip"),
        ("br;q=0, *", "zstd"),
        ("", None),
        ("identity", None),
        ("identity;q=0", None),
        ("deflate", None),
    ],
)
def test_accept_encoding_chooses_the_variant(
    get: Callable[..., Result], accept_encoding: str, coding: str | None
) -> None:
    # Rule 25, §12.5.3; rule 26: Content-Encoding never says identity.
    response = get("/static/app.css", {"Accept-Encoding": accept_encoding})
    assert response.header("Content-Encoding") == coding
    assert response.header("Content-Length") == str(len(response.body))


def test_missing_accept_encoding_means_identity(get: Callable[..., Result]) -> None:
    # Rule 25 (documented choice).
    response = get("/static/app.css")
    assert (response.header("Content-Encoding"), response.body) == (None, CSS)


@pytest.mark.parametrize(
    "headers",
    [{"Accept-Encoding": ""}, {"Accept-Encoding": "br"}, {"Accept-Encoding": "gzip", "Range": "bytes=0-0"}],
    ids=["identity-200", "br-200", "gzip-206"],
)
def test_vary_on_every_response_of_a_url_with_variants(get: Callable[..., Result], headers: dict[str, str]) -> None:
    # Rule 26, §12.5.5: including identity responses and 304s.
    response = get("/static/app.css", headers)
    assert response.header("Vary") == "Accept-Encoding"
    etag = response.header("ETag")
    assert etag is not None
    assert get("/static/app.css", {**headers, "If-None-Match": etag}).header("Vary") == "Accept-Encoding"


def test_no_vary_without_variants(client: TestApp) -> None:
    assert "Vary" not in client.get("/static/ten.txt").headers


@pytest.mark.parametrize(
    ("coding", "decode"),
    [("br", brotli.decompress), ("gzip", gzip.decompress), ("zstd", zstandard.ZstdDecompressor().decompress)],
)
def test_every_variant_decodes_to_the_identity_bytes(
    get: Callable[..., Result], coding: str, decode: Callable[[bytes], bytes]
) -> None:
    # Rules 27-28: the zstd variant is plain zstd (decodes with no dictionary).
    response = get("/static/app.css", {"Accept-Encoding": coding})
    assert response.header("Content-Encoding") == coding
    assert decode(response.body) == CSS


@pytest.mark.parametrize("suffix", [".br", ".gz", ".zst"])
def test_sibling_not_served_on_its_own_url(client: TestApp, suffix: str) -> None:
    # Rule 29: /app.css.gz is not found while app.css exists.
    assert client.get(f"/static/app.css{suffix}").body == f"app:GET /static/app.css{suffix}".encode()


def test_lone_compressed_file_is_an_ordinary_file(client: TestApp) -> None:
    response = client.get("/static/lone.tar.gz")
    assert response.headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in response.headers


# -- Caching (rules 30-31) ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "cache_control"),
    [
        ("/static/app.3f2a1b9c0d.js", "public, max-age=31536000, immutable"),
        ("/static/ten.txt", "public, max-age=60"),
        ("/static/app.css", "public, max-age=60"),
        ("/static/page.html", "no-cache"),
    ],
)
def test_cache_control(client: TestApp, path: str, cache_control: str) -> None:
    # Rules 30-31: immutable only for hashed names; max-age in token form.
    assert client.get(path).headers["Cache-Control"] == cache_control


def test_max_age_option(make_client: Client, root: Path) -> None:
    client = make_client(root, "/static/", max_age=3600)
    assert client.get("/static/ten.txt").headers["Cache-Control"] == "public, max-age=3600"


# -- Paths and files (rules 32-37) ----------------------------------------------


def test_dotfiles_are_not_served(client: TestApp) -> None:
    # Rule 32.
    assert client.get("/static/.env").body == b"app:GET /static/.env"


TRAVERSALS = [
    "/static/../conftest.py",
    "/static/%2e%2e/conftest.py",
    "/static/..%2fconftest.py",
    "/static/%2e%2e%2fconftest.py",
    "/static/%252e%252e/conftest.py",
    "/static/..\\conftest.py",
    "/static/%5c..%5cconftest.py",
    "/static/ten.txt%00",
    "/static/ten.txt\x00.css",
    "/static//ten.txt",
    "//static/ten.txt",
    "/static/./ten.txt",
    "/static/sub/../ten.txt",
    "/etc/passwd",
    "/static/" + "a" * 5000,
    "/static/\udcff",
    "/static/\xc3\xa9",
]


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize("autorefresh", [False, True])
def test_traversal_never_leaves_the_root(root: Path, path: str, autorefresh: bool) -> None:
    # Rule 33: raw and decoded forms; either the app is reached or nothing
    # but an indexed file is sent; never a 500.
    (root.parent / "conftest.py").write_text("outside")
    app = StaticWrap(downstream, root, prefix="/static/", autorefresh=autorefresh)
    from urllib.parse import unquote

    for form in {path, unquote(path)}:
        try:
            form.encode("latin-1")
        except UnicodeEncodeError:
            continue  # not a valid PATH_INFO string (PEP 3333); servers never produce it
        response = call(app, form)
        assert response.code in {200, 302}, (form, response.status)
        assert b"outside" not in response.body
        if not response.body.startswith(b"app:"):
            assert response.body == TEN, form  # only ten.txt is reachable from these


def test_directory_with_index_file(client: TestApp) -> None:
    # Rule 34.
    assert client.get("/static/sub/").body == b"<p>sub</p>"
    response = client.get("/static/sub", params={"x": "1", "y": "a b"}, status=302)
    assert response.headers["Location"] == "sub/?x=1&y=a+b"


def test_prefix_without_slash_redirects_to_root_index(tmp_path: Path) -> None:
    write(tmp_path, "index.html", "<p>home</p>")
    app = StaticWrap(downstream, tmp_path, prefix="/site/")
    response = call(app, "/site")
    assert (response.code, response.header("Location")) == (302, "site/")
    assert call(app, "/site/").body == b"<p>home</p>"


@pytest.mark.parametrize(
    "new_content", [b"abcdefghij", b"longer than before", b"short"], ids=["same-size", "grown", "shrunk"]
)
def test_file_changed_after_startup(make_client: Client, root: Path, new_content: bytes) -> None:
    # Rule 35: never a wrong Content-Length; the new bytes under a new ETag.
    client = make_client(root, "/static/")
    old_etag = etag_of(client)
    replacement = root / "ten.new"
    replacement.write_bytes(new_content)
    os.replace(replacement, root / "ten.txt")
    response = client.get("/static/ten.txt")
    assert response.body == new_content
    assert response.headers["Content-Length"] == str(len(new_content))
    assert response.headers["ETag"] != old_etag
    assert client.get("/static/ten.txt", headers={"Range": "bytes=0-1"}, status=206).body == new_content[:2]


def test_file_deleted_after_startup_passes_to_app(make_client: Client, root: Path) -> None:
    # Rule 35: a clean miss, never a 500.
    client = make_client(root, "/static/")
    (root / "ten.txt").unlink()
    assert client.get("/static/ten.txt").body == b"app:GET /static/ten.txt"
    assert client.head("/static/ten.txt").status_int == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/ten.txt", "text/plain; charset=utf-8"),
        ("/static/app.css", "text/css; charset=utf-8"),
        ("/static/app.3f2a1b9c0d.js", "text/javascript; charset=utf-8"),
        ("/static/page.html", "text/html; charset=utf-8"),
    ],
)
def test_content_type_and_nosniff(client: TestApp, path: str, content_type: str) -> None:
    # Rule 36.
    response = client.get(path)
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("headers", [{}, {"Range": "bytes=0-1"}, {"Range": "bytes=50-"}], ids=["200", "206", "416"])
def test_nosniff_on_every_file_response(client: TestApp, headers: dict[str, str]) -> None:
    assert client.get("/static/ten.txt", headers=headers, status="*").headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("accept_encoding", ["", "br", "gzip"])
def test_head_has_the_headers_of_get(get: Callable[..., Result], accept_encoding: str) -> None:
    # Rule 37, §9.3.2.
    full = get("/static/app.css", {"Accept-Encoding": accept_encoding})
    head = get("/static/app.css", {"Accept-Encoding": accept_encoding}, method="HEAD")
    assert head.headers == full.headers
    assert head.body == b""


# -- CORS ----------------------------------------------------------------------


def test_cors_any_origin_on_200_206_304_416(make_client: Client, root: Path) -> None:
    client = make_client(root, "/static/", cors="*")
    etag = etag_of(client)
    for headers, status in (
        ({}, 200),
        ({"Range": "bytes=0-1"}, 206),
        ({"If-None-Match": etag}, 304),
        ({"Range": "bytes=90-"}, 416),
    ):
        response = client.get("/static/ten.txt", headers=headers, status=status)
        assert response.headers["Access-Control-Allow-Origin"] == "*", status


def test_cors_allow_list_echoes_allowed_origin_only(make_client: Client, root: Path) -> None:
    client = make_client(root, "/static/", cors=["https://app.example"])
    allowed = client.get("/static/ten.txt", headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Origin" in allowed.headers["Vary"]
    other = client.get("/static/ten.txt", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in other.headers["Vary"]


def test_cors_off_by_default(client: TestApp) -> None:
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/static/ten.txt", headers={"Origin": "https://a.example"}).headers
    )


def test_cors_preflight(make_client: Client, root: Path) -> None:
    client = make_client(root, "/static/", cors=["https://app.example"])
    response = client.options(
        "/static/ten.txt",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        status=204,
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert "Range" in response.headers["Access-Control-Allow-Headers"]


# -- Bodies and files ------------------------------------------------------------


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize(
    "headers", [{}, {"Range": "bytes=1-2"}, {"Range": "bytes=0-0,5-6"}], ids=["full", "range", "multipart"]
)
def test_file_closed_when_client_goes_away(app: StaticWrap, mode: Mode, headers: dict[str, str]) -> None:
    # The server calls close() without reading the body (PEP 3333). A body
    # from memory holds no descriptor at all.
    environ_mode = mode.environ
    before = open_descriptors()
    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/static/ten.txt",
        **{"HTTP_" + k.upper(): v for k, v in headers.items()},
        **environ_mode,
    }
    body = app(env, lambda status, headers, exc_info=None: lambda data: None)
    assert open_descriptors() == before + (0 if mode.warm else 1)
    if not mode.warm:
        body.close()  # type: ignore[attr-defined]
    assert open_descriptors() == before


def test_single_range_reaching_eof_gets_the_real_file(root: Path) -> None:
    # Rule 23: a real file object, seeked to the range start, goes to wsgi.file_wrapper.
    from gunicorn.http.wsgi import FileWrapper as GunicornFileWrapper

    app = StaticWrap(downstream, root, prefix="/static/", memory_budget=0)

    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/static/ten.txt",
        "HTTP_RANGE": "bytes=3-5",
        "wsgi.file_wrapper": GunicornFileWrapper,
    }
    body = app(env, lambda status, headers, exc_info=None: lambda data: None)
    assert isinstance(body, GunicornFileWrapper)
    assert hasattr(body.filelike, "fileno")
    assert body.filelike.tell() == 3
    body.close()


def test_autorefresh_sees_files_added_changed_and_deleted(make_client: Client, tmp_path: Path) -> None:
    client = make_client(tmp_path, "/", autorefresh=True)
    assert client.get("/late.txt").body == b"app:GET /late.txt"
    write(tmp_path, "late.txt", "first")
    assert client.get("/late.txt").body == b"first"
    write(tmp_path, "late.txt", "second version", mtime=MTIME + 10)
    response = client.get("/late.txt")
    assert (response.body, response.headers["Content-Length"]) == (b"second version", "14")
    (tmp_path / "late.txt").unlink()
    assert client.get("/late.txt").body == b"app:GET /late.txt"


def test_autorefresh_serves_index_files_and_redirects(make_client: Client, tmp_path: Path) -> None:
    client = make_client(tmp_path, "/", autorefresh=True)
    write(tmp_path, "docs/index.html", "<p>docs</p>")
    assert client.get("/docs/").body == b"<p>docs</p>"
    assert client.get("/docs", status=302).headers["Location"] == "docs/"


def test_path_that_is_not_utf8_reaches_the_app(app: StaticWrap) -> None:
    # PEP 3333: PATH_INFO is latin-1 text of the raw bytes; b"\xff" is not UTF-8.
    assert call(app, "/static/\xff").body == "app:GET /static/\xff".encode()


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_directory_redirect_url_rejects_other_methods(client: TestApp, method: str) -> None:
    assert client.request("/static/sub", method=method, status=405).headers["Allow"] == "GET, HEAD"


def test_redirect_without_max_age_has_no_cache_control(make_client: Client, root: Path) -> None:
    response = make_client(root, "/static/", max_age=None).get("/static/sub", status=302)
    assert "Cache-Control" not in response.headers


def test_static_only_server_answers_404_for_other_paths(root: Path) -> None:
    app = StaticWrap(None)
    app.add_files(root, "/static/")
    response = call(app, "/elsewhere")
    assert (response.code, response.body, response.header("Content-Length")) == (404, b"Not Found\n", "10")
    assert call(app, "/static/ten.txt").body == TEN


def test_cors_any_origin_preflight(make_client: Client, root: Path) -> None:
    client = make_client(root, "/static/", cors="*")
    headers = {"Origin": "https://a.example", "Access-Control-Request-Method": "GET"}
    response = client.options("/static/ten.txt", headers=headers, status=204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in response.headers


def test_cors_callable_policy(make_client: Client, root: Path) -> None:
    client = make_client(root, "/static/", cors=lambda origin: origin.endswith(".example.org"))
    allowed = client.get("/static/ten.txt", headers={"Origin": "https://www.example.org"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.example.org"
    refused = client.get("/static/ten.txt", headers={"Origin": "https://example.net"})
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize("origin", ["null", "https://a.example\r\nX-Injected: 1", "https://a.example/path", "*"])
def test_cors_never_echoes_a_malformed_origin(make_client: Client, root: Path, origin: str) -> None:
    app = StaticWrap(downstream, root, prefix="/static/", cors=lambda _origin: True)
    assert call(app, "/static/ten.txt", {"Origin": origin}).header("Access-Control-Allow-Origin") is None


def test_autorefresh_reuses_an_unchanged_asset(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "same" * 100)
    app = StaticWrap(None, tmp_path, autorefresh=True)
    first = app.index.lookup("/a.txt")
    assert first is not None
    assert app.index.lookup("/a.txt") is first
    write(tmp_path, "a.txt.gz", gzip.compress(b"other" * 100, mtime=0))  # a new (stale) sibling: rebuilt
    with pytest.warns(StaticwrapWarning, match="a.txt.gz"):
        assert app.index.lookup("/a.txt") is not first


def test_autorefresh_bare_prefix_redirects(tmp_path: Path) -> None:
    write(tmp_path, "index.html", "<p>home</p>")
    app = StaticWrap(downstream, tmp_path, prefix="/site/", autorefresh=True)
    response = call(app, "/site")
    assert (response.code, response.header("Location")) == (302, "site/")


@pytest.mark.parametrize(
    "path",
    ["/nodir/", "/plain", "/plain/", "/a.txt/x", "/sub/a.txt.gz", "/gone/x.txt"],
    ids=["dir-without-index", "dir-without-index-no-slash", "dir-slash", "file-as-dir", "sibling", "missing-dir"],
)
def test_autorefresh_misses_reach_the_app(tmp_path: Path, path: str) -> None:
    write(tmp_path, "plain/readme.txt", "r")
    write(tmp_path, "nodir/readme.txt", "r")
    write(tmp_path, "a.txt", "a")
    write(tmp_path, "sub/a.txt", "a" * 100)
    write(tmp_path, "sub/a.txt.gz", gzip.compress(b"a" * 100, mtime=0))
    app = StaticWrap(downstream, tmp_path, autorefresh=True, index_file=None)
    assert call(app, path).body == f"app:GET {path}".encode()


def test_changed_file_is_refreshed_from_its_own_root(tmp_path: Path) -> None:
    # A root at "/" added before one at "/static/": a changed file of the
    # second must be re-read from the second, not looked for in the first.
    write(tmp_path, "top/index.html", "<p>top</p>")
    write(tmp_path, "assets/a.txt", "old")
    app = StaticWrap(downstream, tmp_path / "top", prefix="/")
    app.add_files(tmp_path / "assets", prefix="/static/")
    write(tmp_path, "assets/a.txt", "new!", mtime=MTIME + 1)
    assert call(app, "/static/a.txt").body == b"new!"


def test_if_range_date_never_resumes_a_coded_variant(get: Callable[..., Result]) -> None:
    # Last-Modified is the identity file's; a sibling rebuilt since would still
    # match a date, so coded variants resume only with their ETag (§13.1.5).
    coded = get("/static/app.css", {"Accept-Encoding": "gzip", "Range": "bytes=0-9", "If-Range": LM})
    assert (coded.code, coded.header("Content-Encoding")) == (200, "gzip")
    identity = get("/static/app.css", {"Range": "bytes=0-9", "If-Range": LM})
    assert (identity.code, identity.body) == (206, CSS[:10])


def test_headers_hook_adding_a_second_vary_is_refused(root: Path) -> None:
    def hook(headers: Any, path: str, url: str) -> None:
        headers.add("Vary", "Accept-Encoding")

    with pytest.raises(ConfigurationError, match="'vary'"):
        StaticWrap(None, root, headers=hook)


def test_cors_origin_with_underscore_and_port(make_client: Client, root: Path) -> None:
    origin = "https://my_host.example:8443"
    client = make_client(root, "/static/", cors=[origin])
    assert client.get("/static/ten.txt", headers={"Origin": origin}).headers["Access-Control-Allow-Origin"] == origin


def test_misspelt_option_is_a_configuration_error(root: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown option 'max_agee'; did you mean 'max_age'"):
        StaticWrap(None, root, max_agee=10)


def test_url_and_integrity_from_each_kind_of_root(tmp_path: Path) -> None:
    write(tmp_path, "django/app.css", "a{}")
    write(tmp_path, "django/app.0123abcd4567.css", "a{}")
    django_manifest = {"version": "1.1", "paths": {"app.css": "app.0123abcd4567.css"}}
    (tmp_path / "django" / "staticfiles.json").write_text(json.dumps(django_manifest))
    write(tmp_path, "plain/my file.txt", "x")
    app = StaticWrap(None, tmp_path / "django", prefix="/static/")
    app.add_files(tmp_path / "plain", prefix="/files/")
    assert app.url("app.css") == "/static/app.0123abcd4567.css"
    assert app.integrity("app.css") is None  # Django's manifest has no SRI values
    assert app.url("/my file.txt") == "/files/my%20file.txt"
    with pytest.raises(LookupError, match=r"'nope\.css'"):
        app.url("nope.css")
    with pytest.raises(LookupError, match=r"nope\.css"):
        app.integrity("nope.css")


def test_url_follows_the_serving_order_of_roots(tmp_path: Path) -> None:
    # The first root serves "app.css" as a plain file; a later root's manifest
    # must not win over it, as it does not win for requests either.
    write(tmp_path, "first/app.css", "first")
    write(tmp_path, "second/app.0123abcd4567.css", "second")
    record = {"hashed": "app.0123abcd4567.css", "integrity": "sha384-x"}
    (tmp_path / "second" / "staticwrap.json").write_text(json.dumps({"version": 1, "files": {"app.css": record}}))
    app = StaticWrap(None, tmp_path / "first", prefix="/a/")
    app.add_files(tmp_path / "second", prefix="/b/")
    assert (app.url("app.css"), app.integrity("app.css")) == ("/a/app.css", None)
    only_second = StaticWrap(None, tmp_path / "second", prefix="/b/")
    assert only_second.url("/app.css") == "/b/app.0123abcd4567.css"
    assert only_second.integrity("/app.css") == "sha384-x"
