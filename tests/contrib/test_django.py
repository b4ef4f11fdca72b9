"""staticwrap.django in a real Django project, with real files in tmp_path.

The project is tests/contrib/django_settings.py, configured once for the
process; each test points STATIC_ROOT and the rest at its own directories with
``override_settings`` (the ``overrides`` fixture). Requests go through WebTest
(with its WSGI lint) or straight to the WSGI callable, in both modes:
``wsgi`` (``staticwrap.django.get_wsgi_application()``) and ``middleware``
(Django's WSGIHandler with ``StaticWrapMiddleware``). Expected values come
from the files' bytes and RFC 9110, and, for "our exact status and headers",
from a plain :class:`~staticwrap.StaticWrap` over the same directory.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from wsgiref.util import FileWrapper

import pytest

pytest.importorskip("django")

import django
from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.checks import run_checks
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage
from django.core.management import CommandError, call_command, get_commands, load_command_class
from django.core.wsgi import get_wsgi_application as django_wsgi_application
from django.template import Context, Template
from django.test import Client, override_settings
from webtest import TestApp

import staticwrap.django
from staticwrap import ConfigurationError, StaticWrap, StaticwrapWarning
from staticwrap.body import BLOCK_SIZE
from staticwrap.dates import format_http_date
from staticwrap.django import DjangoConfig, configure, get_wsgi_application
from staticwrap.django.conf import static_prefix
from staticwrap.django.management.commands.runserver import Command as Runserver
from staticwrap.django.middleware import StaticWrapMiddleware
from staticwrap.django.storage import MissingManifestEntryError, StaticWrapStorage
from tests.conftest import MTIME, TEN, Result, call, etag_of, make_environ, write
from tests.contrib import django_settings
from tests.test_build_atomic import run_cli, snapshot
from tests.test_server import free_port, stop, wait_until_serving

if not settings.configured:
    settings.configure(**{name: getattr(django_settings, name) for name in dir(django_settings) if name.isupper()})
    django.setup()

MIDDLEWARE = "staticwrap.django.middleware.StaticWrapMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"
CSS = ("body { color: #123456; margin: 0 auto; }\n" * 40).encode()
#: The checkout (for ``tests.*`` and the example) and where staticwrap was
#: imported from (site-packages under tox): subprocesses import the same one.
CHECKOUT = Path(__file__).resolve().parents[2]
STATICWRAP_HOME = Path(staticwrap.__file__ or "").resolve().parents[1]
EXAMPLE = CHECKOUT / "examples" / "django_project"
HASHED = re.compile(r"[0-9a-f]{12}")

Overrides = Callable[..., None]
App = Callable[..., Iterable[bytes]]


def sri_of(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@pytest.fixture
def overrides() -> Iterator[Overrides]:
    """``overrides(SETTING=value, ...)``: override_settings until the end of the test."""
    active: list[override_settings] = []

    def apply(**values: Any) -> None:
        override = override_settings(**values)
        override.enable()
        active.append(override)

    yield apply
    for override in reversed(active):
        override.disable()


@pytest.fixture
def static_root(tmp_path: Path, overrides: Overrides) -> Path:
    """A STATIC_ROOT as collectstatic would leave it without our storage (no manifest)."""
    root = tmp_path / "static_root"
    write(root, "ten.txt", TEN)
    write(root, "css/app.css", CSS)
    write(root, "css/app.css.gz", gzip.compress(CSS, 9, mtime=0))
    write(root, "café.txt", "café\n")
    write(root, "sub/index.html", "<p>sub</p>")
    write(root, ".env", "SECRET=1")
    overrides(STATIC_ROOT=str(root))
    return root


@pytest.fixture(params=["wsgi", "middleware"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def application_for(mode: str, overrides: Overrides, **options: Any) -> App:
    """The project's WSGI application in ``mode``, with no other middleware than ours."""
    if mode == "wsgi":
        overrides(MIDDLEWARE=[])
        return get_wsgi_application(**options)
    overrides(MIDDLEWARE=[MIDDLEWARE])
    if options:
        overrides(STATICWRAP={**settings.STATICWRAP, **options})
    return django_wsgi_application()


@pytest.fixture
def app(mode: str, static_root: Path, overrides: Overrides) -> App:
    return application_for(mode, overrides)


@pytest.fixture
def client(app: App) -> TestApp:
    return TestApp(app)


def start(app: App, path: str, headers: dict[str, str] | None = None, **environ: Any) -> tuple[Result, Iterable[bytes]]:
    """Call a WSGI application without WebTest, leaving the body iterable to the test."""
    env = make_environ(path, headers, environ=environ, server_name="testserver")
    started: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, list(response_headers)]
        return lambda data: None

    body = app(env, start_response)
    return Result(started[0], started[1], b""), body


def close(body: Iterable[bytes]) -> None:
    closer = getattr(body, "close", None)
    if closer is not None:
        closer()


# -- serving STATIC_ROOT: the same answers as StaticWrap itself ------------------------------------

# Each request, and the status RFC 9110 gives it. The headers and body must be
# the plain StaticWrap's, byte for byte (boundaries aside).
EXACT_CASES = [
    ("get", "GET", "/static/ten.txt", {}, 200),
    ("head", "HEAD", "/static/ten.txt", {}, 200),
    ("range", "GET", "/static/ten.txt", {"Range": "bytes=2-5"}, 206),
    ("one-byte-range", "GET", "/static/ten.txt", {"Range": "bytes=0-0"}, 206),
    ("suffix-range", "GET", "/static/ten.txt", {"Range": "bytes=-1"}, 206),
    ("multipart", "GET", "/static/ten.txt", {"Range": "bytes=0-1,4-5"}, 206),
    ("head-range", "HEAD", "/static/ten.txt", {"Range": "bytes=2-5"}, 200),
    ("not-modified-etag", "GET", "/static/ten.txt", {"If-None-Match": etag_of(TEN)}, 304),
    ("not-modified-date", "GET", "/static/ten.txt", {"If-Modified-Since": format_http_date(MTIME)}, 304),
    ("precondition-failed", "GET", "/static/ten.txt", {"If-Match": '"other"'}, 412),
    ("unsatisfiable", "GET", "/static/ten.txt", {"Range": "bytes=10-"}, 416),
    ("if-range-stale", "GET", "/static/ten.txt", {"Range": "bytes=0-1", "If-Range": '"old"'}, 200),
    ("gzip", "GET", "/static/css/app.css", {"Accept-Encoding": "gzip"}, 200),
    ("method", "POST", "/static/ten.txt", {}, 405),
    ("directory", "GET", "/static/sub", {}, 302),
    ("index", "GET", "/static/sub/", {}, 200),
    ("non-ascii", "GET", "/static/café.txt".encode().decode("latin-1"), {}, 200),
]


def _unbounded(result: Result) -> tuple[str, list[tuple[str, str]], bytes]:
    # A multipart boundary is random per response.
    boundary = re.search(r"boundary=(\w+)", result.header("Content-Type") or "")
    if boundary is None:
        return result.status, result.headers, result.body
    mask = boundary.group(1)
    headers = [(name, value.replace(mask, "B")) for name, value in result.headers]
    return result.status, headers, result.body.replace(mask.encode(), b"B")


@pytest.mark.parametrize(
    ("method", "path", "headers", "code"), [case[1:] for case in EXACT_CASES], ids=[case[0] for case in EXACT_CASES]
)
def test_static_root_answers_are_staticwraps_exactly(
    app: App, static_root: Path, method: str, path: str, headers: dict[str, str], code: int
) -> None:
    reference = StaticWrap(None, static_root, prefix="/static/")
    expected = call(reference, path, headers, method=method)
    got = call(app, path, headers, method=method)
    assert got.code == expected.code == code
    assert _unbounded(got) == _unbounded(expected)


def test_full_response_has_our_headers(client: TestApp) -> None:
    response = client.get("/static/ten.txt")
    assert response.body == TEN
    assert response.headers["ETag"] == etag_of(TEN)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Length"] == "10"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.headers["Last-Modified"] == format_http_date(MTIME)
    assert "Content-Disposition" not in response.headers


def test_single_range(client: TestApp) -> None:
    response = client.get("/static/ten.txt", headers={"Range": "bytes=2-5"}, status=206)
    assert response.body == b"2345"
    assert response.headers["Content-Range"] == "bytes 2-5/10"
    assert response.headers["Content-Length"] == "4"


def test_multipart_ranges(client: TestApp) -> None:
    response = client.get("/static/ten.txt", headers={"Range": "bytes=0-1,4-5"}, status=206)
    boundary = response.headers["Content-Type"].removeprefix("multipart/byteranges; boundary=")
    assert (
        response.body
        == (
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/10\r\n\r\n01\r\n"
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 4-5/10\r\n\r\n45\r\n"
            f"--{boundary}--\r\n"
        ).encode()
    )
    assert response.headers["Content-Length"] == str(len(response.body))


def test_not_modified(client: TestApp) -> None:
    response = client.get("/static/ten.txt", headers={"If-None-Match": f'"x", W/{etag_of(TEN)}'}, status=304)
    assert response.body == b""
    assert response.headers["ETag"] == etag_of(TEN)
    assert "Content-Length" not in response.headers


def test_unsatisfiable_range(client: TestApp) -> None:
    response = client.get("/static/ten.txt", headers={"Range": "bytes=10-"}, status=416)
    assert response.headers["Content-Range"] == "bytes */10"
    assert response.body == b""


def test_head_has_the_length_and_no_body(client: TestApp) -> None:
    response = client.head("/static/ten.txt")
    assert response.headers["Content-Length"] == "10"
    assert response.body == b""


def test_other_paths_reach_django(client: TestApp) -> None:
    assert client.get("/page/").text == "view:GET /page/"
    assert client.get("/static/missing.txt", status=404).headers["Content-Type"].startswith("text/html")
    client.get("/static/.env", status=404)  # dotfiles are not served


def test_django_test_client_sees_our_response(static_root: Path) -> None:
    response = Client().get("/static/ten.txt", headers={"Range": "bytes=2-5"})
    try:
        assert response.status_code == 206
        assert response.reason_phrase == "Partial Content"
        assert b"".join(response.streaming_content) == b"2345"  # type: ignore[attr-defined]
        assert response.headers["Content-Range"] == "bytes 2-5/10"
    finally:
        response.close()


def test_security_middleware_above_still_adds_its_headers(static_root: Path) -> None:
    app = TestApp(django_wsgi_application())  # the settings' MIDDLEWARE: SecurityMiddleware first
    response = app.get("/static/ten.txt")
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["ETag"] == etag_of(TEN)


def test_options_from_settings(mode: str, static_root: Path, overrides: Overrides) -> None:
    overrides(STATICWRAP={"max_age": 3600, "cors": "*", "build": {"jobs": 1}})
    app = TestApp(application_for(mode, overrides))
    response = app.get("/static/ten.txt")
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_get_wsgi_application_options_take_precedence(static_root: Path, overrides: Overrides) -> None:
    overrides(STATICWRAP={"max_age": 3600})
    response = TestApp(get_wsgi_application(max_age=5)).get("/static/ten.txt")
    assert response.headers["Cache-Control"] == "public, max-age=5"


def test_static_wrap_headers_hook_sent_twice_is_combined(static_root: Path, overrides: Overrides) -> None:
    def links(headers: Any, path: str, url: str) -> None:
        headers.add("Link", "</a>; rel=preload")
        headers.add("Link", "</b>; rel=preload")

    overrides(MIDDLEWARE=[MIDDLEWARE], STATICWRAP={"headers": links})
    response = TestApp(django_wsgi_application()).get("/static/ten.txt")
    assert response.headers["Link"] == "</a>; rel=preload, </b>; rel=preload"


# -- the body reaches wsgi.file_wrapper as the file ------------------------------------------------


class Recorder:
    """A ``wsgi.file_wrapper`` that records what it is given; ``module`` is the server it poses as."""

    def __init__(self, module: str) -> None:
        self.__module__ = module
        self.received: list[tuple[Any, int]] = []

    def __call__(self, filelike: Any, block_size: int = 8192) -> FileWrapper:
        self.received.append((filelike, block_size))
        return FileWrapper(filelike, block_size)


@pytest.mark.parametrize(("range_header", "start"), [(None, 0), ("bytes=2-5", 2)], ids=["full", "range"])
def test_gunicorn_file_wrapper_gets_the_real_file(
    mode: str, overrides: Overrides, static_root: Path, range_header: str | None, start: int
) -> None:
    app = application_for(mode, overrides, memory_budget=0)  # from disk, as files too large for memory are
    recorder = Recorder("gunicorn.http.wsgi")
    headers = {"Range": range_header} if range_header else {}
    result, body = start_app(app, "/static/ten.txt", headers, recorder)
    try:
        assert result.code == (206 if range_header else 200)
        ((filelike, block_size),) = recorder.received
        assert isinstance(body, FileWrapper)
        # The file itself, at the start of the range: Gunicorn sendfile()s
        # Content-Length bytes from there.
        assert os.fstat(filelike.fileno()).st_ino == (static_root / "ten.txt").stat().st_ino
        assert filelike.tell() == start
        assert block_size == BLOCK_SIZE
    finally:
        close(body)
    assert filelike.closed


@pytest.mark.parametrize(("range_header", "expected"), [(None, TEN), ("bytes=2-5", b"2345")], ids=["full", "range"])
def test_other_file_wrappers_get_a_bounded_reader(
    mode: str, overrides: Overrides, static_root: Path, range_header: str | None, expected: bytes
) -> None:
    app = application_for(mode, overrides, memory_budget=0)
    recorder = Recorder("wsgiref.util")
    headers = {"Range": range_header} if range_header else {}
    _, body = start_app(app, "/static/ten.txt", headers, recorder)
    try:
        ((filelike, _),) = recorder.received
        with pytest.raises(io.UnsupportedOperation):
            filelike.fileno()  # a server must not sendfile past the range
        assert b"".join(body) == expected
    finally:
        close(body)
    assert filelike.closed


def test_multipart_body_does_not_use_the_file_wrapper(app: App) -> None:
    recorder = Recorder("gunicorn.http.wsgi")
    result, body = start_app(app, "/static/ten.txt", {"Range": "bytes=0-1,4-5"}, recorder)
    try:
        assert result.code == 206
        assert recorder.received == []
        assert b"01" in b"".join(body)
    finally:
        close(body)


def start_app(app: App, path: str, headers: dict[str, str], wrapper: Recorder) -> tuple[Result, Iterable[bytes]]:
    return start(app, path, headers, **{"wsgi.file_wrapper": wrapper})


# -- URL prefixes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("static_url", "force_script_name", "expected"),
    [
        ("/static/", None, "/static/"),
        ("static", None, "/static/"),
        ("/app/static/", "/app", "/static/"),
        ("/app/static/", "/app/", "/static/"),
        ("/application/static/", "/app", "/application/static/"),  # not a path segment of it
        ("https://cdn.example.com/assets/", None, "/assets/"),
        ("/st%C3%A4tic/", None, "/stätic/"),
        ("/", None, "/"),
        (None, None, None),
    ],
)
def test_static_prefix(static_url: str | None, force_script_name: str | None, expected: str | None) -> None:
    assert static_prefix(static_url, force_script_name) == expected


@pytest.mark.parametrize("static_url", ["/app/static/", "static/"], ids=["absolute", "relative"])
def test_force_script_name(mode: str, static_root: Path, overrides: Overrides, static_url: str) -> None:
    # A relative STATIC_URL gets the script prefix (FORCE_SCRIPT_NAME) in front of it.
    overrides(FORCE_SCRIPT_NAME="/app", STATIC_URL=static_url)
    app = application_for(mode, overrides)
    result = call(app, "/static/ten.txt", environ={"SCRIPT_NAME": "/app"})
    assert (result.code, result.body) == (200, TEN)


# -- configure() and the settings ------------------------------------------------------------------


def test_configure_keeps_earlier_roots_ahead(static_root: Path, tmp_path: Path) -> None:
    public = write(tmp_path / "public", "robots.txt", "User-agent: *\n").parent
    wrapper = StaticWrap(None, public, prefix="/")
    configure(wrapper)
    configure(wrapper)  # again: its roots are replaced, not added twice
    assert [(root.path, root.prefix) for root in wrapper.index.roots] == [
        (str(public), "/"),
        (str(static_root), "/static/"),
    ]
    assert call(wrapper, "/robots.txt").code == 200


def test_configure_reads_the_given_settings_object(static_root: Path) -> None:
    wrapper = StaticWrap(None)
    given = SimpleNamespace(DEBUG=False, STATIC_ROOT=static_root, STATIC_URL="/assets/", STATICWRAP={"max_age": 7})
    configure(wrapper, given)
    result = call(wrapper, "/assets/ten.txt")
    assert (result.code, result.header("Cache-Control")) == (200, "public, max-age=7")


def test_static_root_needs_static_url(static_root: Path) -> None:
    given = SimpleNamespace(DEBUG=False, STATIC_ROOT=static_root, STATIC_URL=None)
    with pytest.raises(ConfigurationError, match="STATIC_URL is not set"):
        configure(StaticWrap(None), given)


def test_root_is_served_at_the_top(static_root: Path, tmp_path: Path, overrides: Overrides) -> None:
    write(tmp_path / "public", "robots.txt", "User-agent: *\n")
    overrides(STATICWRAP={"root": tmp_path / "public"})
    wrapper = StaticWrap(None)
    configure(wrapper)
    assert call(wrapper, "/robots.txt").body == b"User-agent: *\n"
    assert call(wrapper, "/static/ten.txt").body == TEN


def test_production_needs_static_root_set(overrides: Overrides) -> None:
    overrides(STATIC_ROOT=None)
    with pytest.raises(ConfigurationError, match="STATIC_ROOT is not set"):
        configure(StaticWrap(None))


def test_production_warns_of_a_missing_static_root(tmp_path: Path, overrides: Overrides) -> None:
    overrides(STATIC_ROOT=str(tmp_path / "missing"))
    wrapper = StaticWrap(None)
    with pytest.warns(StaticwrapWarning, match="is not a directory.*run manage.py collectstatic"):
        configure(wrapper)
    assert wrapper.index.roots == []


def test_debug_tolerates_a_missing_static_root(tmp_path: Path, overrides: Overrides) -> None:
    overrides(DEBUG=True, STATIC_ROOT=str(tmp_path / "missing"), STATICFILES_DIRS=[])
    wrapper = StaticWrap(None)
    configure(wrapper)
    assert wrapper.index.roots == []


def test_root_must_be_a_directory(static_root: Path, tmp_path: Path, overrides: Overrides) -> None:
    overrides(STATICWRAP={"root": tmp_path / "nowhere"})
    with pytest.raises(ConfigurationError, match=r"STATICWRAP\['root'\].*is not a directory"):
        configure(StaticWrap(None))


def settings_object(**values: Any) -> SimpleNamespace:
    return SimpleNamespace(**{"DEBUG": False, "STATIC_ROOT": None, "STATIC_URL": "/static/", **values})


def test_defaults_in_production() -> None:
    config = DjangoConfig.from_settings(settings_object())
    assert (config.config.max_age, config.config.autorefresh, config.use_finders) == (60, False, False)
    assert (config.manifest_strict, config.build, config.root) == (True, {}, None)


def test_defaults_in_debug() -> None:
    config = DjangoConfig.from_settings(settings_object(DEBUG=True))
    assert (config.config.max_age, config.config.autorefresh, config.use_finders) == (0, True, True)


def test_settings_override_the_debug_defaults() -> None:
    given = {"max_age": 10, "autorefresh": False, "use_finders": False, "index_file": None}
    config = DjangoConfig.from_settings(settings_object(DEBUG=True, STATICWRAP=given))
    assert (config.config.max_age, config.config.autorefresh, config.use_finders) == (10, False, False)
    assert config.config.index_file is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"max_agee": 1}, "unknown key 'max_agee': did you mean 'max_age'?"),
        ({"prefix": "/x/"}, "unknown key 'prefix'"),
        ({"max_age": -1}, r"settings.STATICWRAP\['max_age'\] = -1: give"),
        ({"use_finders": "yes"}, r"STATICWRAP\['use_finders'\] = 'yes': give True or False"),
        ({"manifest_strict": 1}, r"STATICWRAP\['manifest_strict'\] = 1"),
        ({"root": 3}, r"STATICWRAP\['root'\] = 3"),
        ({"build": {"hashed": True}}, r"\['build'\] has an unknown key 'hashed': did you mean 'hashed_only'"),
        ({"build": {"strict": "no"}}, r"\['build'\]\['strict'\] = 'no'"),
        ({"build": {"jobs": 0}}, r"\['build'\]\['jobs'\] = 0: give"),
        ({"build": ["strict"]}, r"\['build'\] = \['strict'\]: give a dict"),
    ],
)
def test_bad_settings_are_named(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        DjangoConfig.from_settings(settings_object(STATICWRAP=given))


def test_staticwrap_setting_must_be_a_dict() -> None:
    with pytest.raises(ConfigurationError, match="give a dict"):
        DjangoConfig.from_settings(settings_object(STATICWRAP=["max_age"]))


def test_middleware_reports_bad_settings_at_startup(static_root: Path, overrides: Overrides) -> None:
    overrides(STATICWRAP={"max_agee": 1})
    with pytest.raises(ConfigurationError, match="did you mean 'max_age'"):
        StaticWrapMiddleware(lambda request: pytest.fail("not called"))


def test_static_wrap_configures_a_django_application_itself(static_root: Path, overrides: Overrides) -> None:
    overrides(MIDDLEWARE=[])
    app = StaticWrap(django_wsgi_application())
    assert call(app, "/static/ten.txt").body == TEN


# -- collectstatic with StaticWrapStorage ----------------------------------------------------------

LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
SITE_CSS = ("/* site */\n.logo { background: url(../img/logo.png); }\n" + "p { margin: 0 0 1em; }\n" * 60).encode()
APP_JS = b'import { greet } from "./util.js";\n' + b"console.log(greet('you'));\n" * 30
UTIL_JS = b"export function greet(name) { return `hello ${name}`; }\n"


@pytest.fixture
def sources(tmp_path: Path, overrides: Overrides) -> Path:
    src = tmp_path / "src"
    write(src, "css/site.css", SITE_CSS)
    write(src, "img/logo.png", LOGO)
    write(src, "js/app.js", APP_JS)
    write(src, "js/util.js", UTIL_JS)
    overrides(STATICFILES_DIRS=[str(src)], STATIC_ROOT=str(tmp_path / "collected"))
    return src


def collectstatic(*args: str) -> str:
    out = io.StringIO()
    call_command("collectstatic", *args, interactive=False, verbosity=1, stdout=out)
    return out.getvalue()


def static_root_path() -> Path:
    root = settings.STATIC_ROOT
    assert root is not None
    return Path(root)


def manifest_files(root: Path) -> dict[str, Any]:
    files: dict[str, Any] = json.loads((root / "staticwrap.json").read_text())["files"]
    return files


def without_mtime(files: dict[str, Any]) -> dict[str, Any]:
    """A manifest's records less "mtime", which is when each output was last written."""
    return {name: {k: v for k, v in record.items() if k != "mtime"} for name, record in files.items()}


@pytest.fixture
def collected(sources: Path) -> Path:
    collectstatic()
    return static_root_path()


def test_collectstatic_builds_static_root(sources: Path) -> None:
    output = collectstatic()
    root = static_root_path()
    assert "4 static files copied" in output
    assert "4 post-processed" in output
    files = manifest_files(root)
    assert sorted(files) == ["css/site.css", "img/logo.png", "js/app.js", "js/util.js"]
    for name, record in files.items():
        stem, extension = name.rsplit(".", 1)
        assert re.fullmatch(re.escape(stem) + r"\.[0-9a-f]{12}\." + extension, record["hashed"])
        built = (root / record["hashed"]).read_bytes()
        assert record["integrity"] == sri_of(built)
        assert (root / name).read_bytes() == built  # the copy under the original name is the built file
    css = (root / files["css/site.css"]["hashed"]).read_text()
    assert f"url(../{files['img/logo.png']['hashed']})" in css
    js = (root / files["js/app.js"]["hashed"]).read_text()
    assert f'from "./{files["js/util.js"]["hashed"].removeprefix("js/")}"' in js
    assert gzip.decompress((root / (files["css/site.css"]["hashed"] + ".gz")).read_bytes()) == css.encode()
    assert (root / (files["js/app.js"]["hashed"] + ".br")).is_file()


def test_collectstatic_again_rebuilds_from_the_sources(sources: Path) -> None:
    collectstatic()
    root = static_root_path()
    first = manifest_files(root)
    collectstatic()  # STATIC_ROOT now holds rewritten copies; the build must not read them
    assert without_mtime(manifest_files(root)) == without_mtime(first)
    write(sources, "img/logo.png", LOGO + b"changed", mtime=MTIME + 10)
    collectstatic()
    second = manifest_files(root)
    assert second["img/logo.png"]["hashed"] != first["img/logo.png"]["hashed"]
    # The stylesheet names the logo's new hash, so its own hash changes too.
    assert second["css/site.css"]["hashed"] != first["css/site.css"]["hashed"]
    assert second["img/logo.png"]["hashed"].removeprefix("img/") in (root / "css/site.css").read_text()
    # The old logo stays, for pages of the earlier build (generations, staticwrap.generations).
    assert (root / first["img/logo.png"]["hashed"]).read_bytes() == LOGO


def test_collectstatic_again_after_a_change_writes_the_new_build_under_the_original_name(sources: Path) -> None:
    collectstatic()
    write(sources, "js/util.js", UTIL_JS + b"// changed\n", mtime=MTIME + 10)
    collectstatic()
    root = static_root_path()
    files = manifest_files(root)
    assert (root / "js/util.js").read_bytes() == UTIL_JS + b"// changed\n"
    # app.js names util.js's new hash: its copy under the original name is the new build's, not the source.
    assert (root / "js/app.js").read_bytes() == (root / files["js/app.js"]["hashed"]).read_bytes()
    assert files["js/util.js"]["hashed"].removeprefix("js/") in (root / "js/app.js").read_text()


def test_collectstatic_never_leaves_an_original_name_missing_while_it_builds(sources: Path) -> None:
    # A server reading STATIC_ROOT during collectstatic must find each file
    # under its name, old or new, all the time the build runs.
    collectstatic()
    root = static_root_path()
    # Edited after the last collectstatic: newer than the copy it wrote.
    write(sources, "css/site.css", SITE_CSS + b"/* edited */\n", mtime=int(time.time()) + 100)
    # Enough to compress that the build takes a while after the copy phase.
    write(sources, "js/big.js", "".join(f"export const v{n} = {n * 7919};\n" for n in range(120_000)))
    missing: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for name in ("css/site.css", "js/app.js"):
                if not (root / name).exists():
                    missing.append(name)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        collectstatic()
    finally:
        done.set()
        watcher.join()
    assert missing == []
    assert b"/* edited */" in (root / "css/site.css").read_bytes()


def test_collectstatic_no_post_process_copies_the_sources_as_django_does(sources: Path) -> None:
    output = collectstatic("--no-post-process")
    root = static_root_path()
    assert "4 static files copied" in output
    for name in ("css/site.css", "img/logo.png", "js/app.js", "js/util.js"):
        assert (root / name).read_bytes() == (sources / name).read_bytes()
    assert not (root / "staticwrap.json").exists()


def test_collectstatic_dotfiles_are_copied_as_django_does(sources: Path) -> None:
    # Django leaves dotfiles out unless told otherwise; then its copy puts
    # them in STATIC_ROOT as before. The build leaves them out of the
    # manifest, as the server hides them.
    write(sources, "css/.editorconfig", "root = true\n")
    collectstatic("--no-default-ignore")
    root = static_root_path()
    assert (root / "css/.editorconfig").read_text() == "root = true\n"
    assert "css/.editorconfig" not in manifest_files(root)


def test_collectstatic_link_leaves_the_sources_alone(sources: Path) -> None:
    for path in sources.rglob("*.*"):
        os.utime(path, ns=(MTIME * 10**9 + 123_456_789, MTIME * 10**9 + 123_456_789))  # not whole seconds
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in sources.rglob("*") if path.is_file()}
    collectstatic("--link")
    root = static_root_path()
    assert not (root / "css/site.css").is_symlink()
    assert f"url(../{manifest_files(root)['img/logo.png']['hashed']})" in (root / "css/site.css").read_text()
    after = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in sources.rglob("*") if path.is_file()}
    assert after == before


def test_collectstatic_dry_run_builds_nothing(sources: Path) -> None:
    collectstatic("--dry-run")
    assert not (static_root_path() / "staticwrap.json").exists()


def test_collectstatic_names_the_source_of_a_missing_reference(sources: Path) -> None:
    write(sources, "css/bad.css", "a { background: url(missing.png); }\n")
    # staticwrap's collectstatic reports a failed build as a CommandError with its message.
    with pytest.raises(CommandError) as raised:
        collectstatic()
    message = str(raised.value)
    assert f"{sources / 'css' / 'bad.css'}:1" in message
    assert "set STATICWRAP = {'build': {'strict': False}}" in message
    assert "staticwrap-collected" not in message


def test_collectstatic_not_strict_warns_and_keeps_the_reference(sources: Path, overrides: Overrides) -> None:
    write(sources, "css/bad.css", "a { background: url(missing.png); }\n")
    overrides(STATICWRAP={"build": {"jobs": 1, "strict": False}})
    with pytest.warns(StaticwrapWarning, match="'missing.png'"):
        collectstatic()
    hashed = manifest_files(static_root_path())["css/bad.css"]["hashed"]
    assert "url(missing.png)" in (static_root_path() / hashed).read_text()


def test_collectstatic_build_options(sources: Path, overrides: Overrides) -> None:
    overrides(STATICWRAP={"build": {"jobs": 1, "hashed_only": True, "codings": ["gzip"]}})
    collectstatic()
    root = static_root_path()
    files = manifest_files(root)
    hashed = files["css/site.css"]["hashed"]
    assert (root / hashed).is_file()
    assert (root / (hashed + ".gz")).is_file()
    assert not (root / (hashed + ".br")).exists()
    assert not (root / "css/site.css").exists()
    assert not (root / "img/logo.png").exists()


def test_post_process_reads_storages_without_local_files(tmp_path: Path, overrides: Overrides) -> None:
    overrides(STATIC_ROOT=str(tmp_path / "collected"))
    source = InMemoryStorage()
    source.save("app.js", ContentFile(b'import "./util.js";\n'))
    source.save("util.js", ContentFile(UTIL_JS))
    storage = StaticWrapStorage()
    processed = list(storage.post_process({"js/app.js": (source, "app.js"), "js/util.js": (source, "util.js")}))
    hashed = {name: hashed for name, hashed, _ in processed}
    assert sorted(hashed) == ["js/app.js", "js/util.js"]
    built = (tmp_path / "collected" / str(hashed["js/app.js"])).read_text()
    assert built == f'import "./{str(hashed["js/util.js"]).removeprefix("js/")}";\n'
    assert storage.url("js/app.js") == f"/static/{hashed['js/app.js']}"


def test_static_tag_gives_hashed_urls(collected: Path) -> None:
    hashed = manifest_files(collected)["css/site.css"]["hashed"]
    rendered = Template("{% load static %}{% static 'css/site.css' %}").render(Context())
    assert rendered == f"/static/{hashed}"


def test_hashed_files_are_served_immutable(mode: str, collected: Path, overrides: Overrides) -> None:
    hashed = manifest_files(collected)["css/site.css"]["hashed"]
    response = TestApp(application_for(mode, overrides)).get(f"/static/{hashed}")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["ETag"] == etag_of(response.body)
    plain = TestApp(application_for(mode, overrides)).get("/static/css/site.css")
    assert plain.headers["Cache-Control"] == "public, max-age=60"


def test_storage_url(collected: Path, overrides: Overrides) -> None:
    hashed = manifest_files(collected)["css/site.css"]["hashed"]
    storage = StaticWrapStorage()
    assert storage.url("css/site.css") == f"/static/{hashed}"
    assert storage.url("css/site.css?v=1#top") == f"/static/{hashed}?v=1#top"
    assert storage.url("css/") == "/static/css/"
    overrides(DEBUG=True)
    assert storage.url("css/site.css") == "/static/css/site.css"
    assert storage.url("css/site.css", force=True) == f"/static/{hashed}"


def test_storage_url_of_a_missing_name(collected: Path, overrides: Overrides) -> None:
    with pytest.raises(MissingManifestEntryError, match=r"'css/nope.css'.*does not list it"):
        staticfiles_storage.url("css/nope.css")
    overrides(DEBUG=True)
    assert staticfiles_storage.url("css/nope.css") == "/static/css/nope.css"


def test_storage_url_without_manifest_says_to_run_collectstatic(static_root: Path, overrides: Overrides) -> None:
    with pytest.raises(ValueError, match=r"there is no .*staticwrap\.json: run manage\.py collectstatic"):
        staticfiles_storage.url("ten.txt")
    overrides(STATICWRAP={"manifest_strict": False})
    assert staticfiles_storage.url("ten.txt") == "/static/ten.txt"


def test_storage_integrity(collected: Path, overrides: Overrides) -> None:
    storage = StaticWrapStorage()
    record = manifest_files(collected)["js/app.js"]
    assert storage.integrity("js/app.js") == record["integrity"]
    assert storage.integrity("js/nope.js") is None
    overrides(DEBUG=True)  # the URL is then the source's, whose bytes differ
    assert storage.integrity("js/app.js") is None


# -- template tags ------------------------------------------------------------------------------


def render(source: str) -> str:
    return Template("{% load staticwrap %}" + source).render(Context())


def test_static_integrity_tag(collected: Path) -> None:
    assert render("{% static_integrity 'css/site.css' %}") == manifest_files(collected)["css/site.css"]["integrity"]
    assert render("{% static_integrity 'css/nope.css' %}") == ""


def test_stylesheet_tag(collected: Path) -> None:
    record = manifest_files(collected)["css/site.css"]
    assert render("{% stylesheet 'css/site.css' media='print' %}") == (
        f'<link rel="stylesheet" href="/static/{record["hashed"]}" integrity="{record["integrity"]}" '
        'crossorigin="anonymous" media="print">'
    )


def test_script_tag(collected: Path) -> None:
    record = manifest_files(collected)["js/app.js"]
    assert render("{% script 'js/app.js' type='module' defer=True async=False data_app='main' %}") == (
        f'<script src="/static/{record["hashed"]}" integrity="{record["integrity"]}" '
        'crossorigin="anonymous" type="module" defer data-app="main"></script>'
    )


def test_tag_attributes_are_escaped(collected: Path) -> None:
    rendered = render("""{% stylesheet 'css/site.css' title='a"<b>&' %}""")
    assert 'title="a&quot;&lt;b&gt;&amp;"' in rendered


def test_tags_in_debug_link_the_source_without_integrity(collected: Path, overrides: Overrides) -> None:
    overrides(DEBUG=True)
    assert render("{% stylesheet 'css/site.css' %}") == '<link rel="stylesheet" href="/static/css/site.css">'
    assert render("{% script 'js/app.js' %}") == '<script src="/static/js/app.js"></script>'


def test_tags_with_another_storage_have_no_integrity(static_root: Path, overrides: Overrides) -> None:
    overrides(STORAGES={"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}})
    assert render("{% stylesheet 'css/app.css' %}") == '<link rel="stylesheet" href="/static/css/app.css">'


# -- system checks ------------------------------------------------------------------------------


def check_ids() -> list[str]:
    return sorted(message.id or "" for message in run_checks(tags=["staticwrap"]))


def test_checks_pass_when_configured(collected: Path) -> None:
    assert check_ids() == []


def test_check_bad_staticwrap_setting(collected: Path, overrides: Overrides) -> None:
    overrides(STATICWRAP={"max_agee": 1})
    (message,) = run_checks(tags=["staticwrap"])
    assert message.id == "staticwrap.E001"
    assert "did you mean 'max_age'" in message.msg


def test_check_static_root_not_set(overrides: Overrides) -> None:
    overrides(STATIC_ROOT=None)
    assert check_ids() == ["staticwrap.E002"]
    overrides(DEBUG=True)
    assert check_ids() == []


def test_check_static_root_not_a_directory(tmp_path: Path, overrides: Overrides) -> None:
    overrides(STATIC_ROOT=str(tmp_path / "missing"))
    (message,) = run_checks(tags=["staticwrap"])
    assert message.id == "staticwrap.W001"
    assert "collectstatic" in (message.hint or "")


def test_check_middleware_order(collected: Path, overrides: Overrides) -> None:
    overrides(MIDDLEWARE=["django.middleware.common.CommonMiddleware", SECURITY, MIDDLEWARE])
    (message,) = run_checks(tags=["staticwrap"])
    assert message.id == "staticwrap.W002"
    assert "django.middleware.common.CommonMiddleware" in message.msg
    assert SECURITY not in message.msg
    overrides(MIDDLEWARE=[MIDDLEWARE, SECURITY])
    assert check_ids() == []
    overrides(MIDDLEWARE=["django.middleware.common.CommonMiddleware"])  # the wsgi.py mode
    assert check_ids() == []


def test_check_manifest_missing(static_root: Path, overrides: Overrides) -> None:
    (message,) = run_checks(tags=["staticwrap"])
    assert message.id == "staticwrap.W003"
    overrides(STORAGES={"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}})
    assert check_ids() == []
    overrides(STORAGES={"staticfiles": {"BACKEND": "tests.contrib.test_django.MyStorage"}})
    assert check_ids() == ["staticwrap.W003"]
    overrides(STORAGES={"staticfiles": {"BACKEND": "tests.contrib.nowhere.Storage"}})
    assert check_ids() == []  # Django itself reports a backend it cannot import


class MyStorage(StaticWrapStorage):
    """A project's subclass of the storage: the manifest check applies to it too."""


@pytest.mark.parametrize("entry", ["staticwrap.django", "staticwrap.django.apps.StaticwrapConfig"])
def test_check_app_order(collected: Path, overrides: Overrides, entry: str) -> None:
    overrides(INSTALLED_APPS=["django.contrib.staticfiles", entry])
    assert check_ids() == ["staticwrap.W004"]
    assert get_commands()["runserver"] == "django.contrib.staticfiles"


# -- DEBUG: the finders' directories, with autorefresh ------------------------------------------


@pytest.fixture
def app_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: Overrides) -> tuple[str, Path]:
    """An installed app (new for each test) with ``static/<name>/app.css``; DEBUG on, no STATIC_ROOT."""
    name = "swapp_" + re.sub(r"\W", "_", tmp_path.name)
    package = tmp_path / "apps" / name
    write(package, "__init__.py", "")
    static = write(package, f"static/{name}/app.css", "a { color: red; }\n").parent
    monkeypatch.syspath_prepend(str(tmp_path / "apps"))
    apps = ["staticwrap.django", "django.contrib.staticfiles", name]
    overrides(DEBUG=True, INSTALLED_APPS=apps, STATIC_ROOT=None, STATICFILES_DIRS=[])
    return name, static


def test_debug_serves_app_static_files_and_sees_edits(
    mode: str, app_package: tuple[str, Path], overrides: Overrides
) -> None:
    name, static = app_package
    app = TestApp(application_for(mode, overrides))
    response = app.get(f"/static/{name}/app.css")
    assert response.body == b"a { color: red; }\n"
    assert response.headers["Cache-Control"] == "public, max-age=0"
    write(static, "app.css", "a { color: blue; text-decoration: none; }\n", mtime=MTIME + 60)
    assert app.get(f"/static/{name}/app.css").body == b"a { color: blue; text-decoration: none; }\n"
    write(static, "new.css", "b { }\n")
    assert app.get(f"/static/{name}/new.css").body == b"b { }\n"


def test_debug_static_tag_and_finders_prefix(tmp_path: Path, overrides: Overrides) -> None:
    write(tmp_path / "vendor", "lib.js", "export {};\n")
    overrides(DEBUG=True, STATIC_ROOT=None, STATICFILES_DIRS=[("vendor", str(tmp_path / "vendor"))])
    response = TestApp(get_wsgi_application()).get("/static/vendor/lib.js")
    assert response.body == b"export {};\n"
    assert Template("{% load static %}{% static 'vendor/lib.js' %}").render(Context()) == "/static/vendor/lib.js"


def test_debug_finders_come_before_static_root(static_root: Path, tmp_path: Path, overrides: Overrides) -> None:
    # A stale collectstatic output must not hide the source being edited.
    write(tmp_path / "src", "ten.txt", "fresh\n")
    overrides(DEBUG=True, STATICFILES_DIRS=[str(tmp_path / "src")])
    app = TestApp(get_wsgi_application())
    assert app.get("/static/ten.txt").body == b"fresh\n"
    assert app.get("/static/css/app.css").body == CSS


# -- runserver ------------------------------------------------------------------------------------


def test_runserver_is_ours() -> None:
    assert get_commands()["runserver"] == "staticwrap.django"


def test_runserver_defaults_to_nostatic() -> None:
    command = load_command_class("staticwrap.django", "runserver")
    parser = command.create_parser("manage.py", "runserver")
    assert parser.parse_args([]).use_static_handler is False
    assert parser.parse_args(["--nostatic"]).use_static_handler is False
    assert parser.parse_args(["--static"]).use_static_handler is True


def test_runserver_handler_leaves_static_files_to_staticwrap(overrides: Overrides) -> None:
    overrides(DEBUG=True, STATICFILES_DIRS=[])
    command = load_command_class("staticwrap.django", "runserver")
    assert isinstance(command, Runserver)
    options = vars(command.create_parser("manage.py", "runserver").parse_args([]))
    assert not isinstance(command.get_handler(**options), StaticFilesHandler)
    options["use_static_handler"] = True
    assert isinstance(command.get_handler(**options), StaticFilesHandler)


# -- the example project ----------------------------------------------------------------------------

# Runs in the example's own process (its settings are not this process's).
EXAMPLE_CLIENT = """
import json
from webob import Request
from webtest import TestApp
from project.wsgi import application

app = TestApp(application)
page = app.get("/")
css_url = page.html.find("link")["href"]
script = page.html.find("script")
css = Request.blank(css_url, headers={"Accept-Encoding": "br"}).get_response(application)
js = app.get(script["src"])
print(json.dumps({
    "page": page.text,
    "css_url": css_url,
    "css_headers": dict(css.headers),
    "css_bytes": len(css.body),
    "js": js.text,
    "integrity": script["integrity"],
    "robots": app.get("/robots.txt").text,
}))
"""


def run_example(*args: str, env: dict[str, str]) -> str:
    """Run ``python ARGS`` in the example's directory; its stderr is in the failure message."""
    done = subprocess.run(
        [sys.executable, *args], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_example_project(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_STATIC_ROOT": str(tmp_path / "staticfiles"),
        "PYTHONPATH": os.pathsep.join([str(EXAMPLE), str(STATICWRAP_HOME)]),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run_example("manage.py", "collectstatic", "--noinput", "-v0", env=env)
    assert "no issues" in run_example("manage.py", "check", "--tag", "staticwrap", env=env)
    seen = json.loads(run_example("-c", EXAMPLE_CLIENT, env=env))
    files = manifest_files(tmp_path / "staticfiles")
    assert seen["css_url"] == "/static/" + files["pages/css/site.css"]["hashed"]
    assert seen["css_headers"]["Content-Encoding"] == "br"
    assert seen["css_headers"]["Cache-Control"] == "public, max-age=31536000, immutable"
    assert seen["integrity"] == files["pages/js/app.js"]["integrity"]
    assert files["pages/js/greet.js"]["hashed"].removeprefix("pages/js/") in seen["js"]
    assert seen["robots"].startswith("User-agent: *")
    check_vendored_bootstrap(json.loads(run_example("-c", BOOTSTRAP_CLIENT, env=env)), files)


BOOTSTRAP = "vendor/bootstrap-5.3.8/"

# What a browser fetches of the Bootstrap the example vendors: the page's
# <link> and <script>, then, as developer tools do, the map each names.
BOOTSTRAP_CLIENT = """
import json
import brotli
from webob import Request
from webtest import TestApp
from project.wsgi import application

app = TestApp(application)
page = app.get("/")
seen = {}
for tag, attribute in (("link", "href"), ("script", "src")):
    for element in page.html.find_all(tag):
        url = element.get(attribute)
        if url and "bootstrap" in url:
            body = Request.blank(url, headers={"Accept-Encoding": "br"}).get_response(application)
            text = brotli.decompress(body.body).decode()
            comment = text.rstrip().rsplit("sourceMappingURL=", 1)[1].rstrip(" */")
            map_url = url.rsplit("/", 1)[0] + "/" + comment
            source_map = app.get(map_url)
            seen[url] = {
                "integrity": element.get("integrity"),
                "headers": dict(body.headers),
                "text": text,
                "map_url": map_url,
                "map_status": source_map.status_int,
                "map": source_map.json,
            }
print(json.dumps(seen))
"""


def check_vendored_bootstrap(seen: dict[str, Any], files: dict[str, Any]) -> None:
    """Bootstrap 5's minified CSS and bundle, as vendored, built and served like the project's own files."""
    vendored = EXAMPLE / "pages" / "static" / BOOTSTRAP
    for name in ("css/bootstrap.min.css", "js/bootstrap.bundle.min.js"):
        record = files[BOOTSTRAP + name]
        url = "/static/" + record["hashed"]
        assert url in seen, sorted(seen)
        answer = seen[url]
        assert answer["headers"]["Cache-Control"] == "public, max-age=31536000, immutable"
        assert answer["headers"]["Content-Encoding"] == "br"
        assert answer["integrity"] == record["integrity"]
        original = (vendored / name).read_text()
        map_record = files[BOOTSTRAP + name + ".map"]
        # Only the sourceMappingURL changed: it names the map's hashed name.
        assert answer["text"] == original.replace(
            f"sourceMappingURL={Path(name).name}.map", f"sourceMappingURL={Path(map_record['hashed']).name}"
        )
        assert answer["map_url"] == "/static/" + map_record["hashed"]
        assert answer["map_status"] == 200
        # The map's sources were not shipped (../../scss/...): left as written.
        assert answer["map"]["sources"] == json.loads((vendored / (name + ".map")).read_text())["sources"]


# -- under Gunicorn: the body goes out through sendfile ---------------------------------------------

# A Gunicorn config whose worker logs each sendfile attempt: Gunicorn tries it
# only for a body that is its own wsgi.file_wrapper, and it succeeds only with
# a real file.
SENDFILE_LOGGER = """
import os

def post_worker_init(worker):
    from gunicorn.http import wsgi

    original = wsgi.Response.sendfile

    def sendfile(self, respiter):
        used = original(self, respiter)
        with open(os.environ["SENDFILE_LOG"], "a") as log:
            log.write(f"{self.req.path} {self.response_length} {used}\\n")
        return used

    wsgi.Response.sendfile = sendfile
"""


@pytest.mark.server
@pytest.mark.parametrize(
    "target",
    ["staticwrap.django.wsgi:get_wsgi_application()", "django.core.wsgi:get_wsgi_application()"],
    ids=["wsgi", "middleware"],
)
def test_gunicorn_sends_files_with_sendfile(tmp_path: Path, target: str) -> None:
    large = bytes(range(256)) * 1200
    root = tmp_path / "static_root"
    write(root, "ten.txt", TEN)
    write(root, "large.bin", large)
    config = write(tmp_path, "gunicorn_conf.py", SENDFILE_LOGGER)
    sendfile_log = tmp_path / "sendfile.log"
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    command += ["--no-control-socket", "--config", str(config), target]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.contrib.django_settings",
        "STATICWRAP_TEST_STATIC_ROOT": str(root),
        "SENDFILE_LOG": str(sendfile_log),
        # staticwrap first: the checkout's copy must not shadow an installed one.
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(STATICWRAP_HOME), str(CHECKOUT), os.environ.get("PYTHONPATH")])
        ),
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_serving(process, port, log_path)
            full = http_get(port, "/static/large.bin")
            ranged = http_get(port, "/static/large.bin", {"Range": "bytes=1000-1003"})
            not_static = http_get(port, "/page/")
        finally:
            stop(process)
    assert (full.status, full.body) == (200, large)
    content_range = f"bytes 1000-1003/{len(large)}"
    assert (ranged.status, ranged.body, ranged.getheader("Content-Range")) == (206, large[1000:1004], content_range)
    assert not_static.body == b"view:GET /page/"
    # Read once the server has stopped, so every line is written. The startup
    # probe's ten.txt is small: it is sent from memory, not by sendfile.
    attempts = sendfile_log.read_text().splitlines()
    assert attempts == [f"/static/large.bin {len(large)} True", "/static/large.bin 4 True"]


class Fetched:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.body = response.read()
        self.getheader = response.getheader


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> Fetched:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        return Fetched(connection.getresponse())
    finally:
        connection.close()


# -- collectstatic that fails changes nothing ----------------------------------------------------


@pytest.mark.parametrize("options", [(), ("--clear",), ("--link",)], ids=["copy", "clear", "link"])
def test_collectstatic_that_fails_leaves_static_root_as_it_was(
    collected: Path, sources: Path, options: tuple[str, ...]
) -> None:
    write(collected, "unrelated.txt", "kept")
    before = snapshot(collected)
    # A newer source that the copy phase writes into STATIC_ROOT, and a
    # reference that makes the build fail after it.
    write(sources, "img/logo.png", LOGO + b"newer", mtime=MTIME + 100)
    write(sources, "css/bad.css", "a {}\n\na { background: url(missing.png); }\n", mtime=MTIME + 100)
    with pytest.raises(CommandError) as raised:
        collectstatic(*options)
    message = str(raised.value)
    assert f"{sources / 'css' / 'bad.css'}:3" in message
    assert "'missing.png'" in message
    assert f"{collected} was left as it was" in message
    assert snapshot(collected) == before


def test_collectstatic_on_a_full_disk_reports_a_command_error_and_changes_nothing(
    tmp_path: Path, sources: Path
) -> None:
    root = tmp_path / "collected"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.contrib.django_settings",
        "STATICWRAP_TEST_STATIC_ROOT": str(root),
        "STATICWRAP_TEST_STATICFILES_DIRS": str(sources),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(STATICWRAP_HOME), str(CHECKOUT), os.environ.get("PYTHONPATH")])
        ),
    }
    command = ["collectstatic", "--noinput", "-v0"]
    first = run_cli(command, module="django", env=env)
    assert first.returncode == 0, first.stderr
    before = snapshot(root)
    # A file larger than the process may write: the build fails half-way.
    write(sources, "zz/video.bin", os.urandom(300_000), mtime=MTIME + 100)
    write(sources, "img/logo.png", LOGO + b"newer", mtime=MTIME + 100)
    failed = run_cli(command, file_size_limit=200_000, module="django", env=env)
    assert failed.returncode == 1, failed.stderr
    assert "CommandError:" in failed.stderr
    assert "File too large" in failed.stderr
    assert re.search(r"zz/video\.([0-9a-f]{12}\.)?bin: File too large", failed.stderr), failed.stderr
    assert "Traceback" not in failed.stderr
    assert snapshot(root) == before
