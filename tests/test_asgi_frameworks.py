"""staticwrap.asgi with real frameworks under uvicorn: FastAPI (wrapped), Starlette (mounted), Django ASGI.

Each application is tests/apps/asgi_frameworks.py, served by uvicorn on
127.0.0.1. A page rendered by the framework's Jinja2 templates names the
built file by its hashed URL with its SRI value; the expected URL comes from
the file the build wrote, and the SRI from hashlib on the bytes served.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from staticwrap.build import build
from tests.conftest import TEN, write
from tests.servers import require, uvicorn
from tests.test_asgi import serving
from tests.test_server import fetch

SCRIPT = b"document.title = 'built';\n" * 40
PAGE = '<script src="{{ static_url("app.js") }}" integrity="{{ static_integrity("app.js") }}"></script>\n'
TAG = re.compile(r'<script src="([^"]+)" integrity="([^"]+)"></script>')


@dataclass(frozen=True)
class Project:
    built: Path
    templates: Path
    hashed: str


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("frameworks")
    write(base / "src", "app.js", SCRIPT)
    write(base / "src", "ten.txt", TEN)
    build(base / "src", base / "built", prefix="/static/", jobs=1)
    write(base / "templates", "page.html", PAGE)
    (hashed,) = [path.name for path in (base / "built").glob("app.*.js")]
    return Project(base / "built", base / "templates", hashed)


@pytest.fixture(params=["fastapi", "starlette"])
def framework(request: pytest.FixtureRequest, project: Project, tmp_path: Path) -> Iterator[int]:
    """uvicorn serving the FastAPI or Starlette app; its port."""
    name: str = request.param
    require("uvicorn")
    require(name)
    env = {"STATICWRAP_TEST_ROOT": str(project.built), "STATICWRAP_TEST_TEMPLATES": str(project.templates)}
    with serving(uvicorn(f"asgi_frameworks:{name}_app"), env, tmp_path / "server.log") as (port, _):
        yield port


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def test_template_names_the_hashed_url_and_its_integrity(framework: int, project: Project) -> None:
    page = fetch(framework, "/")
    match = TAG.search(page.body.decode())
    assert match is not None, page.body

    url, integrity = match.groups()
    script = fetch(framework, url)

    assert page.status == 200
    assert url == "/static/" + project.hashed
    assert (script.status, script.body) == (200, SCRIPT)
    assert integrity == sri(script.body)
    assert "immutable" in (script.header("Cache-Control") or "")


def test_framework_static_answers_follow_http(framework: int, project: Project) -> None:
    etag = fetch(framework, "/static/ten.txt").header("ETag")
    assert etag is not None

    ranged = fetch(framework, "/static/ten.txt", [("Range", "bytes=3-5")])
    revalidated = fetch(framework, "/static/ten.txt", [("If-None-Match", etag)])
    posted = fetch(framework, "/static/ten.txt", method="POST")

    assert (ranged.status, ranged.body) == (206, TEN[3:6])
    assert (revalidated.status, revalidated.body) == (304, b"")
    assert (posted.status, posted.header("Allow")) == (405, "GET, HEAD")


def test_framework_answers_what_is_not_static(framework: int) -> None:
    missing = fetch(framework, "/static/missing.txt")
    elsewhere = fetch(framework, "/nowhere")

    # A miss under the mount is the framework's own 404 (FastAPI's JSON, or the static-only app's).
    assert missing.status == 404
    assert elsewhere.status == 404


def test_django_asgi_serves_static_root_and_passes_the_rest(project: Project, tmp_path: Path) -> None:
    require("uvicorn")
    require("django")
    env = {"STATICWRAP_TEST_STATIC_ROOT": str(project.built)}
    with serving(uvicorn("asgi_frameworks:django_app"), env, tmp_path / "server.log") as (port, _):
        static = fetch(port, "/static/" + project.hashed)
        ranged = fetch(port, "/static/ten.txt", [("Range", "bytes=-2")])
        view = fetch(port, "/page/")

    assert (static.status, static.body) == (200, SCRIPT)
    assert "immutable" in (static.header("Cache-Control") or "")
    assert (ranged.status, ranged.body) == (206, TEN[-2:])
    assert (view.status, view.body) == (200, b"view:GET /page/")
