"""The ``staticwrap`` command line: ``inspect`` in-process, ``serve`` as a real subprocess."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import importlib.metadata
import os
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import brotli
import pytest

import staticwrap
from staticwrap.cli import main
from tests.conftest import TEN, write
from tests.test_server import stop

#: Where this process imported staticwrap from (the checkout, or site-packages
#: under tox): ``python -m staticwrap`` must run the same one.
STATICWRAP_HOME = Path(staticwrap.__file__ or "").resolve().parents[1]
#: Every wait on the subprocess or its output is bounded by this.
TIMEOUT = 15.0
CSS = b"".join(f".rule-{i} {{ padding: {i % 9}px; }}\n".encode() for i in range(400))
INDEX_HTML = b"<!doctype html><title>docs</title>\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    write(root, "ten.txt", TEN)
    write(root, "app.css", CSS)
    write(root, "app.css.gz", gzip.compress(CSS, 9, mtime=0))
    write(root, "app.css.br", brotli.compress(CSS))
    write(root, "docs/index.html", INDEX_HTML)
    return root


def module_env() -> dict[str, str]:
    """The environment of a ``python -m staticwrap`` subprocess."""
    python_path = os.pathsep.join(filter(None, [str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": python_path}


def inspect_rows(output: str) -> dict[str, list[str]]:
    """The lines of ``inspect`` keyed by URL, split on tabs."""
    rows: dict[str, list[str]] = {}
    for line in output.splitlines():
        url, *fields = line.split("\t")
        assert url not in rows, f"{url} listed twice"
        rows[url] = fields
    return rows


# -- inspect --------------------------------------------------------------------


def test_inspect_directory_lists_every_url_with_size_type_and_codings(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["inspect", str(tree)])

    out, err = capsys.readouterr()
    assert status == 0
    assert err == ""
    rows = inspect_rows(out)
    assert set(rows) == {"/ten.txt", "/app.css", "/docs/index.html", "/docs/", "/docs"}
    size, content_type, codings, *_ = rows["/ten.txt"]
    assert (size, content_type, codings) == (str(len(TEN)), "text/plain; charset=utf-8", "-")
    size, content_type, codings, *_ = rows["/app.css"]
    assert (size, content_type) == (str(len(CSS)), "text/css; charset=utf-8")
    assert set(codings.split(",")) == {"br", "gzip"}
    assert rows["/docs/index.html"][:2] == [str(len(INDEX_HTML)), "text/html; charset=utf-8"]
    # The directory URL without its slash is a redirect to the one with it.
    assert "/docs/" in rows["/docs"]


def test_inspect_directory_never_lists_compressed_siblings(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["inspect", str(tree)])

    rows = inspect_rows(capsys.readouterr().out)
    assert "/app.css.gz" not in rows
    assert "/app.css.br" not in rows


def test_inspect_url_prints_response_headers(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["inspect", str(tree), "/ten.txt"])

    out, _ = capsys.readouterr()
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("/ten.txt")
    headers = dict(line.strip().split(": ", 1) for line in lines[1:])
    assert headers["Content-Length"] == "10"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert re.fullmatch(r'"[\x21\x23-\x7e]*"', headers["ETag"])


def test_inspect_url_with_codings_prints_each_variant(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["inspect", str(tree), "/app.css"])

    out, _ = capsys.readouterr()
    assert status == 0
    assert out.count("/app.css") == 3  # identity, br and gzip
    assert "  Content-Encoding: gzip" in out.splitlines()
    assert "  Content-Encoding: br" in out.splitlines()
    assert f"  Content-Length: {len(gzip.compress(CSS, 9, mtime=0))}" in out.splitlines()
    etags = [line for line in out.splitlines() if line.startswith("  ETag: ")]
    assert len(set(etags)) == 3


def test_inspect_url_not_in_index_fails_naming_it(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["inspect", str(tree), "/nope.txt"])

    _, err = capsys.readouterr()
    assert status == 1
    assert "/nope.txt" in err


def test_inspect_missing_directory_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-dir"

    status = main(["inspect", str(missing)])

    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert str(missing) in err


def test_module_missing_directory_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"

    result = subprocess.run(
        [sys.executable, "-m", "staticwrap", "inspect", str(missing)],
        cwd=tmp_path,
        env=module_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert result.returncode == 2
    assert str(missing) in result.stderr


def test_version_prints_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"staticwrap {importlib.metadata.version('staticwrap')}\n"


def test_no_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])

    assert exit_info.value.code == 2
    assert capsys.readouterr().err != ""


# -- serve --------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    host: str
    port: int
    prefix: str


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@contextlib.contextmanager
def serving(cwd: Path, *argv: str, log_path: Path) -> Iterator[Served]:
    """``python -m staticwrap serve ARGV``, with its errors in ``log_path``; stopped when the block ends.

    Yields the address of the URL it prints on its first line.
    """
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "staticwrap", "serve", *argv],
            cwd=cwd,
            env=module_env(),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            try:
                first = lines.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"serve printed nothing within {TIMEOUT} s: {log_path.read_text(errors='replace')}")
            assert first is not None, f"serve exited: {log_path.read_text(errors='replace')}"
            match = re.search(r" at http://(127\.0\.0\.1):(\d+)(/\S*)$", first.rstrip("\n"))
            assert match, first
            yield Served(match.group(1), int(match.group(2)), match.group(3))
        finally:
            stop(process)
            reader.join(timeout=TIMEOUT)
            process.stdout.close()
    assert not reader.is_alive()


@pytest.fixture
def served(tree: Path, tmp_path: Path) -> Iterator[Served]:
    """``python -m staticwrap serve TREE --port 0``, stopped after the test."""
    with serving(tmp_path, str(tree), "--port", "0", log_path=tmp_path / "serve.log") as address:
        yield address


def get(served: Served, target: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(served.host, served.port, timeout=TIMEOUT)
    try:
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_serve_prints_url_on_first_line(served: Served) -> None:
    assert served.port > 0
    assert served.prefix == "/"


def test_serve_get_file_sends_it(served: Served) -> None:
    status, headers, body = get(served, "/ten.txt")

    assert status == 200
    assert body == TEN
    assert headers["content-length"] == "10"
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_serve_get_range_sends_partial_content(served: Served) -> None:
    status, headers, body = get(served, "/ten.txt", {"Range": "bytes=2-4"})

    assert status == 206
    assert body == b"234"
    assert headers["content-range"] == "bytes 2-4/10"
    assert headers["content-length"] == "3"


def test_serve_unknown_path_returns_404(served: Served) -> None:
    status, _, _ = get(served, "/nope.txt")

    assert status == 404


# -- serve: an address it cannot use is a message, not a traceback ----------------------------------


@pytest.mark.parametrize("port", ["-1", "99999", "http"])
def test_serve_refuses_a_port_that_is_not_one(tree: Path, port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", str(tree), "--port", port])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"'{port}' is not a port: give a number from 1 to 65535, or 0 for any free one" in err
    assert "Traceback" not in err


def test_serve_on_a_busy_port_says_which_and_what_to_do(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["serve", str(tree), "--port", str(port)])
    assert status == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1 port {port} (Address already in use): choose another --port" in err


def test_serve_on_an_unknown_host_says_so(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["serve", str(tree), "--host", "no-such-host.invalid", "--port", "0"])
    assert status == 2
    assert "cannot listen on no-such-host.invalid port 0" in capsys.readouterr().err
