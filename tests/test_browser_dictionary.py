"""Compression dictionaries (RFC 9842) in a real browser: headless Chromium against a real server.

Version 1 of a page and its script are built and served; Chromium loads
them, and keeps the script as a dictionary (its response carries
``Use-As-Dictionary``). Version 2 is built into the same DEST, the server
restarted on it (a deploy), and the page reloaded: Chromium asks for the new
script with ``Available-Dictionary`` naming version 1's SHA-256, gets the
``dcz`` delta, decodes it and runs it, so the page shows version 2's marker.

Chromium uses dictionaries only in a secure context: http://localhost is
one, so the page is loaded from there (the server listens on 127.0.0.1).
The site is mounted under ``/site`` (``SCRIPT_NAME``), which staticwrap does
not see in its paths: the ``match`` pattern, relative to the dictionary's own
URL, must still cover the next version, and no file of another directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from staticwrap import StaticWrap
from staticwrap.build import build
from tests.browser import Page, chromium, wait_for

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


MOUNT = "/site"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Site:
    """The deployed site: StaticWrap on the built DEST, swapped on each deploy, and a record of every exchange."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.static: StaticWrap | None = None
        #: (path, Available-Dictionary sent, Accept-Encoding sent, Content-Encoding answered), in order.
        self.exchanges: list[tuple[str, str | None, str | None, str | None]] = []
        self._lock = threading.Lock()

    def deploy(self) -> None:
        self.static = StaticWrap(self.page, self.dest, prefix="/static/", dictionaries=True)

    def page(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/":
            start_response("404 Not Found", [("Content-Length", "0")])
            return []
        assert self.static is not None
        script = environ["SCRIPT_NAME"] + self.static.url("app.js", prefix="/static/")
        body = f'<!doctype html><title>t</title><body><script src="{script}"></script></body>'.encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        static = self.static
        assert static is not None
        # Mounted at MOUNT, as a WSGI server or dispatcher does: the mount point moves to SCRIPT_NAME.
        path = environ["PATH_INFO"]
        if path.startswith(MOUNT + "/"):
            environ = {**environ, "SCRIPT_NAME": MOUNT, "PATH_INFO": path[len(MOUNT) :]}
        answered: list[str | None] = [None]

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered[0] = next((value for name, value in headers if name.lower() == "content-encoding"), None)
            return start_response(status, headers, exc_info)

        body = static(environ, recording)
        with self._lock:
            self.exchanges.append(
                (
                    environ["SCRIPT_NAME"] + environ["PATH_INFO"],
                    environ.get("HTTP_AVAILABLE_DICTIONARY"),
                    environ.get("HTTP_ACCEPT_ENCODING"),
                    answered[0],
                )
            )
        return body

    def requests_for(self, path: str) -> list[tuple[str, str | None, str | None, str | None]]:
        with self._lock:
            return [exchange for exchange in self.exchanges if exchange[0] == path]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Site, int]]:
    site = Site(tmp_path / "dest")
    server = make_server("127.0.0.1", 0, site, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _script(version: str) -> str:
    # The shared part is most of the file, as between two releases of a library.
    shared = "\n".join(f"function helper{i}(x) {{ return x * {i} + {i * 7 % 13}; }}" for i in range(400))
    return f'{shared}\ndocument.body.dataset.version = "{version}";\n'


def _write_source(source: Path, version: str) -> None:
    source.mkdir(exist_ok=True)
    (source / "app.js").write_text(_script(version))


def _navigate(page: Page, url: str, version: str) -> None:
    page.send("Page.navigate", url=url)
    wait_for(
        f"the page to run the script of {version}",
        lambda: page.evaluate("document.body && document.body.dataset.version") == version,
    )


def test_chromium_gets_and_runs_a_dcz_delta(site: tuple[Site, int], tmp_path: Path) -> None:
    served, port = site
    source = tmp_path / "src"
    _write_source(source, "v1")
    build(source, served.dest, dictionaries=True, jobs=1, now=1_000_000)
    served.deploy()
    origin = f"http://localhost:{port}"
    with chromium() as page:
        page.send("Page.enable")
        _navigate(page, origin + MOUNT + "/", "v1")
        manifest = json.loads((served.dest / "staticwrap.json").read_text())
        v1_name = manifest["files"]["app.js"]["hashed"]
        v1_hash = hashlib.sha256((served.dest / v1_name).read_bytes()).digest()
        v1_offer = ":" + base64.b64encode(v1_hash).decode("ascii") + ":"

        # Chromium stores a dictionary after the response has been read: a
        # fetch of another name the match pattern covers shows when it offers
        # it (the server answers that name with a 404, which is all it needs).
        probe = MOUNT + "/static/app.000000000000.js"

        def fetch(path: str) -> None:
            page.evaluate(f"fetch({json.dumps(path)}, {{cache: 'no-store'}}).then(r => r.status)")

        def offered() -> bool:
            fetch(probe)
            return any(exchange[1] == v1_offer for exchange in served.requests_for(probe))

        wait_for("Chromium to offer version 1 as a dictionary", offered)
        # The same name in another directory is not covered by the pattern.
        elsewhere = MOUNT + "/other/app.000000000000.js"
        fetch(elsewhere)
        assert [exchange[1] for exchange in served.requests_for(elsewhere)] == [None]

        _write_source(source, "v2")
        build(source, served.dest, dictionaries=True, jobs=1, now=1_000_100)
        served.deploy()
        _navigate(page, origin + MOUNT + "/", "v2")

    manifest = json.loads((served.dest / "staticwrap.json").read_text())
    v2_path = MOUNT + "/static/" + manifest["files"]["app.js"]["hashed"]
    exchanges = served.requests_for(v2_path)
    assert exchanges, f"Chromium never asked for {v2_path}"
    _, offer, accept, coding = exchanges[0]
    assert offer == v1_offer
    assert accept is not None
    assert "dcz" in [part.strip() for part in accept.split(",")]
    assert coding == "dcz"
