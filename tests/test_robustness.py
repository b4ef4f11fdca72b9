"""Files that change under the server, hostile files, and failures of the machine.

Each test reproduces a way the middleware could send wrong bytes, hang, leak,
or lose a file from its index; they run on real files and processes.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper

import brotli
import pytest
import zstandard

from staticwrap import ConfigurationError, StaticWrap
from staticwrap.body import ChangedWhileSentError
from tests.conftest import MTIME, TEN, call, downstream, write


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_nested_root_file_changed_is_refreshed_not_dropped(tmp_path: Path) -> None:
    # Root A at "/" contains the directory of root B, served at "/s/".
    write(tmp_path, "static/app.css", "a{}")
    app = StaticWrap(downstream, tmp_path, prefix="/")
    app.add_files(tmp_path / "static", prefix="/s/")
    write(tmp_path, "static/app.css", "b{color:red}", mtime=MTIME + 1)
    assert call(app, "/s/app.css").body == b"b{color:red}"
    assert call(app, "/s/app.css").body == b"b{color:red}"


def test_stale_etag_is_not_answered_304_after_the_file_changed(tmp_path: Path) -> None:
    # A 304 needs no body, but must not be made from an outdated index entry.
    write(tmp_path, "a.txt", "old")
    app = StaticWrap(downstream, tmp_path)
    old_etag = call(app, "/a.txt").header("ETag")
    assert old_etag is not None
    write(tmp_path, "a.txt", "new", mtime=MTIME + 1)
    response = call(app, "/a.txt", {"If-None-Match": old_etag})
    assert (response.code, response.body) == (200, b"new")
    assert response.header("ETag") != old_etag


def test_grown_file_gets_a_fresh_416(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path)
    write(tmp_path, "ten.txt", TEN * 2, mtime=MTIME + 1)
    response = call(app, "/ten.txt", {"Range": "bytes=12-"})
    assert (response.code, response.header("Content-Range"), response.body) == (206, "bytes 12-19/20", TEN[2:])


def test_head_of_changed_file_has_the_new_length(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "old")
    app = StaticWrap(downstream, tmp_path)
    write(tmp_path, "a.txt", "longer", mtime=MTIME + 1)
    assert call(app, "/a.txt", method="HEAD").header("Content-Length") == "6"


def test_file_growing_while_sent_never_exceeds_content_length(tmp_path: Path) -> None:
    # wsgiref's FileWrapper reads to EOF and does not stop at Content-Length;
    # staticwrap's reader sees the change and raises before sending a byte
    # of it, so that the server aborts the response.
    path = write(tmp_path, "ten.txt", TEN)
    app = StaticWrap(downstream, tmp_path, memory_budget=0)  # from disk: a cached body cannot grow
    for headers in ({}, {"Range": "bytes=5-"}):
        sent: list[tuple[str, str]] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            sent.extend(response_headers)  # noqa: B023 - called before the loop moves on

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/ten.txt", "wsgi.file_wrapper": FileWrapper}
        environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
        body = app(environ, start_response)
        with path.open("ab") as appender:
            appender.write(b"appended after the response started")
        received: list[bytes] = []
        with pytest.raises(ChangedWhileSentError):
            received.extend(body)
        body.close()  # type: ignore[attr-defined]
        assert len(b"".join(received)) <= int(dict(sent)["Content-Length"]), headers
        path.write_bytes(TEN)
        os.utime(path, (MTIME, MTIME))


def test_out_of_descriptors_is_503_and_the_file_stays_indexed(tmp_path: Path) -> None:
    # Every descriptor taken: opening the file fails with EMFILE, which is
    # transient. The answer is a 503, and the file must stay in the index.
    write(tmp_path, "a.txt", "a")
    app = StaticWrap(downstream, tmp_path)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/a.txt"}
    sent: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        sent.append(status)

    hoard: list[int] = []
    try:
        with contextlib.suppress(OSError):
            while True:
                hoard.append(os.open("/dev/null", os.O_RDONLY))
        body = app(environ, start_response)
    finally:
        for descriptor in hoard:
            os.close(descriptor)
    assert (sent, list(body)) == (["503 Service Unavailable"], [])
    assert "/a.txt" in app.files
    assert call(app, "/a.txt").body == b"a"


def bomb(coding: str, size: int) -> bytes:
    """``size`` zero bytes, encoded a MiB at a time so that no process holds them all."""
    chunk = bytes(1024 * 1024)
    if coding == "br":
        compressor = brotli.Compressor(quality=4)
        parts = [compressor.process(chunk) for _ in range(size // len(chunk))]
        end: bytes = compressor.finish()
        return b"".join(parts) + end
    stream = zstandard.ZstdCompressor(level=1).compressobj()
    parts = [stream.compress(chunk) for _ in range(size // len(chunk))]
    tail: bytes = stream.flush()
    return b"".join(parts) + tail


@pytest.mark.parametrize(("coding", "suffix"), [("br", ".br"), ("zstd", ".zst")])
def test_decompression_bomb_sibling_costs_bounded_memory(tmp_path: Path, coding: str, suffix: str) -> None:
    # A few KiB that decode to 512 MiB: checking it must not allocate that.
    write(tmp_path, "x.txt", "x" * 50_000)
    write(tmp_path, "x.txt" + suffix, bomb(coding, 512 * 1024 * 1024))
    # The peak is measured in a fresh process, from a reset high-water mark
    # (ru_maxrss would include the parent's size at fork).
    script = textwrap.dedent(
        f"""
        import re, warnings
        from staticwrap import StaticWrap
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset VmHWM, the peak resident set size
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            app = StaticWrap(None, {str(tmp_path)!r})
        assert app.files["/x.txt"].codings == (), app.files["/x.txt"].codings
        assert any("more bytes than the original" in str(w.message) for w in caught), caught
        with open("/proc/self/status") as status:
            print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) // 1024)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert int(result.stdout.split()[-1]) < 200, "MiB of peak memory"


def test_manifest_hash_not_trusted_for_a_file_edited_in_the_same_second(tmp_path: Path) -> None:
    path = write(tmp_path, "app.css", "b{}")
    record = {"hashed": "app.css", "size": 3, "mtime": MTIME, "etag": "from-the-manifest"}
    (tmp_path / "staticwrap.json").write_text(json.dumps({"version": 1, "files": {"app.css": record}}))
    # From disk: a body read into memory is checked against its ETag, which this one is not.
    assert call(StaticWrap(None, tmp_path, memory_budget=0), "/app.css").header("ETag") == '"from-the-manifest"'
    os.utime(path, ns=(MTIME * 10**9 + 123, MTIME * 10**9 + 123))  # edited within the same second
    assert call(StaticWrap(None, tmp_path, memory_budget=0), "/app.css").header("ETag") != '"from-the-manifest"'


@pytest.mark.parametrize(
    ("directory", "location"),
    [("a%41", "a%2541/"), ("100%", "100%25/"), ("q?x", "q%3Fx/"), ("https:evil.example", "./https:evil.example/")],
)
def test_redirect_location_escapes_the_directory_name(tmp_path: Path, directory: str, location: str) -> None:
    write(tmp_path, f"{directory}/index.html", "<p>x</p>")
    assert call(StaticWrap(downstream, tmp_path), "/" + directory).header("Location") == location


def test_redirect_with_query_that_is_not_latin1_is_not_a_500(tmp_path: Path) -> None:
    write(tmp_path, "d/index.html", "<p>x</p>")
    response = call(StaticWrap(downstream, tmp_path), "/d", environ={"QUERY_STRING": "q=\u263a"})
    assert (response.code, response.header("Location")) == (302, "d/")


def test_header_values_are_checked_at_startup(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "a")
    write(tmp_path, "b.xyz", "b")

    def hook(headers: Any, path: str, url: str) -> None:
        headers["Content-Type"] = "text/plain; name=\u263a"

    with pytest.raises(ConfigurationError, match="Content-Type"):
        StaticWrap(None, tmp_path, headers=hook)
    with pytest.raises(ConfigurationError, match="mimetypes"):
        StaticWrap(None, tmp_path, mimetypes={".xyz": "text/plain\r\nX-Injected: 1"})


def test_file_closed_when_start_response_raises(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "a")
    app = StaticWrap(downstream, tmp_path)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        raise RuntimeError("the client went away")

    before = open_descriptors()
    with pytest.raises(RuntimeError):
        app({"REQUEST_METHOD": "GET", "PATH_INFO": "/a.txt"}, start_response)
    assert open_descriptors() == before


def test_several_ranges_come_from_the_identity_variant(tmp_path: Path) -> None:
    css = b"body{color:red}" * 100
    write(tmp_path, "app.css", css)
    write(tmp_path, "app.css.gz", gzip.compress(css, mtime=0))
    response = call(StaticWrap(None, tmp_path), "/app.css", {"Accept-Encoding": "gzip", "Range": "bytes=0-1,5-6"})
    assert response.code == 206
    assert response.header("Content-Encoding") is None
    assert response.header("Vary") == "Accept-Encoding"
    # The parts are identity bytes: css[0:2] and css[5:7].
    assert b"\r\n\r\n" + css[0:2] + b"\r\n" in response.body
    assert b"\r\n\r\n" + css[5:7] + b"\r\n" in response.body


def test_file_replaced_by_a_fifo_does_not_hang(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "a")
    app = StaticWrap(downstream, tmp_path)
    (tmp_path / "a.txt").unlink()
    os.mkfifo(tmp_path / "a.txt")
    outcome: list[bytes] = []
    worker = threading.Thread(target=lambda: outcome.append(call(app, "/a.txt").body), daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # unblock the open() so the thread ends, then fail
        with open(tmp_path / "a.txt", "wb"):
            pass
        pytest.fail("the request blocked on a FIFO")
    assert outcome == [b"app:GET /a.txt"]
    assert "/a.txt" not in app.files


@pytest.mark.parametrize("autorefresh", [False, True])
def test_symlink_inside_the_root_does_not_publish_a_dotfile(tmp_path: Path, autorefresh: bool) -> None:
    write(tmp_path, ".env", "SECRET=1")
    write(tmp_path, "pub/ok.txt", "ok")
    (tmp_path / "pub" / "env.txt").symlink_to(tmp_path / ".env")
    (tmp_path / "pub" / "git").symlink_to(tmp_path / ".git", target_is_directory=True)
    write(tmp_path, ".git/config", "[core]")
    app = StaticWrap(downstream, tmp_path, autorefresh=autorefresh)
    assert call(app, "/pub/env.txt").body == b"app:GET /pub/env.txt"
    assert call(app, "/pub/git/config").body == b"app:GET /pub/git/config"
    assert call(app, "/pub/ok.txt").body == b"ok"


@pytest.mark.parametrize("autorefresh", [False, True])
def test_compressed_name_next_to_a_directory_is_a_file(tmp_path: Path, autorefresh: bool) -> None:
    # "data.gz" is only a sibling when "data" is a servable regular file; in
    # both modes alike.
    write(tmp_path, "data/readme.txt", "r")
    write(tmp_path, "data.gz", gzip.compress(b"archive", mtime=0))
    app = StaticWrap(downstream, tmp_path, autorefresh=autorefresh)
    assert call(app, "/data.gz").body == gzip.compress(b"archive", mtime=0)
