"""The example projects under a real Gunicorn, checked on the wire.

Each example (examples/flask_app, examples/django_project) is built the way
its README says, served by Gunicorn (sync and gthread workers) under strace,
and asked for its page and its assets: the page comes from the framework,
the assets from staticwrap, byte-exact, ranged, revalidated and compressed.
The examples' assets are small, so they are sent from memory after their
first request; tests/test_sendfile.py proves sendfile(2) for large files.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import brotli
import pytest

from staticwrap.build import build
from tests.test_sendfile import Traced, gunicorn_master, stop_master
from tests.test_server import STATICWRAP_HOME, fetch, free_port, stop, wait_until_serving

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup installs it)"),
]

# The checkout's examples (under tox, staticwrap itself comes from site-packages).
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class Project:
    """How to run one example under Gunicorn, and where its built assets are."""

    name: str
    cwd: Path
    target: str  # the WSGI application for Gunicorn
    env: dict[str, str]
    built: Path  # the directory of built assets, with its staticwrap.json
    prefix: str  # the URL prefix those assets are served at


def flask_project(tmp: Path) -> Project:
    built = tmp / "flask-build"
    build(EXAMPLES / "flask_app" / "static", built, jobs=1)
    return Project(
        "flask", EXAMPLES / "flask_app", "app:create_app()", {"FLASK_STATIC_BUILD": str(built)}, built, "/static/"
    )


PROJECTS: dict[str, Callable[[Path], Project]] = {"flask": flask_project}


Served = tuple[Project, Traced]
RUNS = [(project, worker) for project in PROJECTS for worker in ("sync", "gthread")]


@pytest.fixture(scope="module", params=RUNS, ids=["-".join(run) for run in RUNS])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    kind, worker = request.param
    tmp = tmp_path_factory.mktemp(f"{kind}-{worker}")
    project = PROJECTS[kind](tmp)
    trace, log = tmp / "trace", tmp / "gunicorn.log"
    port = free_port()
    command = [
        "strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(trace),
        sys.executable, "-m", "gunicorn", "--preload",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", worker, "--threads", "2",
        "--graceful-timeout", "3",
        project.target,
    ]  # fmt: skip
    python_path = os.pathsep.join(filter(None, [str(project.cwd), str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, **project.env, "PYTHONPATH": python_path}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=project.cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            master = gunicorn_master(process)
        except BaseException:
            stop(process)
            raise
        try:
            wait_until_serving(process, port, log, path="/")
            yield project, Traced(port, trace)
        finally:
            stop_master(master, process)


def assets(project: Project) -> dict[str, dict[str, object]]:
    manifest = json.loads((project.built / "staticwrap.json").read_text())
    files: dict[str, dict[str, object]] = manifest["files"]
    return files


def test_page_comes_from_the_framework_with_hashed_urls_and_integrity(served: Served) -> None:
    project, server = served
    response = fetch(server.port, "/")
    assert response.status == 200
    page = response.body.decode()
    for name in ("css/app.css",):
        record = assets(project)[name]
        assert f"{project.prefix}{record['hashed']}" in page
        assert f'integrity="{record["integrity"]}"' in page


def test_assets_are_byte_exact_and_immutable(served: Served) -> None:
    project, server = served
    for name, record in assets(project).items():
        hashed = str(record["hashed"])
        expected = (project.built / hashed).read_bytes()
        response = fetch(server.port, project.prefix + hashed)
        assert (response.status, response.body) == (200, expected), name
        assert response.header("Cache-Control") == "public, max-age=31536000, immutable"
        assert response.header("ETag") == f'"{record["etag"]}"'


def test_range_304_and_coded_variants_on_the_wire(served: Served) -> None:
    project, server = served
    hashed = str(assets(project)["css/app.css"]["hashed"])
    url = project.prefix + hashed
    css = (project.built / hashed).read_bytes()
    ranged = fetch(server.port, url, [("Range", "bytes=5-24")])
    assert (ranged.status, ranged.body, ranged.header("Content-Range")) == (206, css[5:25], f"bytes 5-24/{len(css)}")
    etag = ranged.header("ETag")
    assert etag is not None
    assert fetch(server.port, url, [("If-None-Match", etag)]).status == 304
    for coding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        coded = fetch(server.port, url, [("Accept-Encoding", coding)])
        assert (coded.header("Content-Encoding"), decode(coded.body)) == (coding, css)
        assert coded.header("Vary") == "Accept-Encoding"


def test_other_paths_reach_the_framework(served: Served) -> None:
    project, server = served
    missing = fetch(server.port, project.prefix + "no-such-file.css")
    assert missing.status == 404
    assert re.search(rb"(?i)not found", missing.body)
