"""Adversarial review of session 4 (ASGI, compression dictionaries, publish): each test failed before its fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from staticwrap.asgi import StaticWrapASGI
from tests.test_asgi import downstream_asgi, drive, make_scope

# -- ASGI: a scope path the index cannot hold ---------------------------------------------------------


@pytest.mark.parametrize("autorefresh", [False, True])
@pytest.mark.parametrize("path", ["/static/\udcff.txt", "/static/\ud800", "/\udce9"])
def test_a_scope_path_with_a_lone_surrogate_goes_to_the_application(
    tmp_path: Path, path: str, autorefresh: bool
) -> None:
    # A str that is not UTF-8 text (an ASGI middleware or server that decoded
    # the path with surrogateescape) names no file: the application answers,
    # never a UnicodeEncodeError (a 500).
    (tmp_path / "a.txt").write_bytes(b"hello")
    app = StaticWrapASGI(downstream_asgi, tmp_path, prefix="/static/", autorefresh=autorefresh)
    scope = make_scope("GET", "/elsewhere", [], None)
    scope["path"] = path
    response = asyncio.run(drive(app, scope))
    assert (response.status, response.body) == (200, b"app:GET /elsewhere")
