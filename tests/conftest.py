"""Shared fixtures: real files on disk, and the middleware under WebTest."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper

import pytest
from webtest import TestApp

from staticwrap import StaticWrap

#: The 10-byte file of HTTP.md's examples.
TEN = b"0123456789"
#: A fixed, past modification time for files whose Last-Modified tests compare.
MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT


def write(root: Path, relative: str, content: bytes | str, mtime: int | None = MTIME) -> Path:
    """Write a file under ``root`` (creating directories) and set its mtime."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def downstream(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The wrapped application: says it was reached, and echoes the path."""
    body = f"app:{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(params=["file_wrapper", "no_file_wrapper"])
def environ_mode(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Run a test both with a server-provided ``wsgi.file_wrapper`` and without one."""
    if request.param == "file_wrapper":
        return {"wsgi.file_wrapper": FileWrapper}
    return {}


@pytest.fixture
def make_client(environ_mode: dict[str, Any]) -> Callable[..., TestApp]:
    """Build a WebTest client for ``StaticWrap(downstream, root, **options)``."""

    def factory(root: Path, prefix: str = "/", **options: Any) -> TestApp:
        app = StaticWrap(downstream, root, prefix=prefix, **options)
        return TestApp(app, extra_environ=dict(environ_mode))

    return factory


def now() -> int:
    return int(time.time())
