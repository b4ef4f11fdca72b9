"""staticwrap.flask with real Flask applications and real files.

The apps are :class:`StrictFlask` and :class:`StrictBlueprint`, whose
``send_static_file`` raises: a static file that reaches Flask's own ``static``
view fails the test, so a ``200`` proves staticwrap answered. Responses are
also checked for what only staticwrap sends (``X-Content-Type-Options``,
``Accept-Ranges``, its ETag format). Requests go through ``app.test_client()``
and through WebTest over the wrapped ``app.wsgi_app``.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

pytest.importorskip("flask")

from flask import Blueprint, Flask, render_template, url_for
from flask.testing import FlaskClient
from webtest import TestApp

from staticwrap import ConfigurationError, StaticWrap, StaticwrapWarning
from staticwrap.build import build
from staticwrap.flask import FlaskStatic, StaticFolder, configure, init_app, static_folders
from tests.conftest import write

CSS = "body { color: #123456; }\n.logo { background: url(../img/logo.svg); }\n"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n'
TEN = b"0123456789"
PAGE = "css={{ static_url('css/app.css') }}\nintegrity={{ static_integrity('css/app.css') }}\n"
# staticwrap's ETag: 128 bits of SHA-256, base64url, quoted (Flask's has a dash-separated mtime and size).
ETAG = re.compile(r'"[A-Za-z0-9_-]{22}"')
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app"


class StrictFlask(Flask):
    """A Flask app whose own static view must never be reached."""

    def send_static_file(self, filename: str) -> NoReturn:
        raise AssertionError(f"Flask's static view was reached for {filename!r}")


class StrictBlueprint(Blueprint):
    """A blueprint whose own static view must never be reached."""

    def send_static_file(self, filename: str) -> NoReturn:
        raise AssertionError(f"the static view of blueprint {self.name!r} was reached for {filename!r}")


@pytest.fixture(autouse=True)
def _no_flask_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runner's own FLASK_DEBUG or FLASK_STATIC_BUILD must not change the defaults under test.
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.delenv("FLASK_STATIC_BUILD", raising=False)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An application folder: static files and a template that uses the helpers."""
    write(tmp_path, "static/css/app.css", CSS)
    write(tmp_path, "static/img/logo.svg", SVG)
    write(tmp_path, "static/ten.txt", TEN)
    write(tmp_path, "templates/page.html", PAGE)
    return tmp_path


def make_app(root: Path, app_class: type[Flask] = StrictFlask, **kwargs: Any) -> Flask:
    """A Flask app rooted at ``root``, with a plain view and a page rendered from a template."""
    app = app_class(__name__, root_path=str(root), **kwargs)

    @app.get("/")
    def home() -> str:
        return "flask home"

    @app.get("/page")
    def page() -> str:
        return render_template("page.html")

    @app.post("/form")
    def form() -> str:
        return "posted"

    return app


def get(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    # buffered: the response body is read and the file closed at once (the
    # suite turns a ResourceWarning into an error).
    return client.get(path, buffered=True, **kwargs)


def assert_staticwrap_sent(headers: Any) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Accept-Ranges"] == "bytes"
    assert ETAG.fullmatch(headers["ETag"]), headers["ETag"]


def blueprint_site(root: Path, name: str, **kwargs: Any) -> StrictBlueprint:
    write(root, f"{name}_static/{name}.txt", f"{name} file")
    return StrictBlueprint(name, __name__, static_folder=str(root / f"{name}_static"), **kwargs)


# -- The app's static folder ---------------------------------------------------


def test_init_app_serves_app_static_folder(site: Path) -> None:
    app = make_app(site)
    init_app(app)
    response = get(app.test_client(), "/static/ten.txt")
    assert response.status_code == 200
    assert response.data == TEN
    assert_staticwrap_sent(response.headers)


def test_init_app_keeps_the_flask_object(site: Path) -> None:
    app = make_app(site)
    static = init_app(app)
    assert isinstance(static, FlaskStatic)
    assert app.wsgi_app is static
    assert app.extensions["staticwrap"] is static
    assert static.folders == (StaticFolder(None, str(site / "static"), "/static/"),)


def test_init_app_serves_through_webtest(site: Path) -> None:
    app = make_app(site)
    init_app(app)
    response = TestApp(app.wsgi_app).get("/static/css/app.css", status=200)
    assert response.body == CSS.encode()
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"
    assert_staticwrap_sent(response.headers)


def test_init_app_range_request(site: Path) -> None:
    app = make_app(site)
    init_app(app)
    response = TestApp(app.wsgi_app).get("/static/ten.txt", headers={"Range": "bytes=2-5"}, status=206)
    assert response.body == b"2345"
    assert response.headers["Content-Range"] == "bytes 2-5/10"


def test_init_app_not_modified(site: Path) -> None:
    app = make_app(site)
    init_app(app)
    client = app.test_client()
    etag = get(client, "/static/ten.txt").headers["ETag"]
    response = get(client, "/static/ten.txt", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_init_app_other_routes_reach_flask(site: Path) -> None:
    app = make_app(site)
    init_app(app)
    client = TestApp(app.wsgi_app)
    assert client.get("/", status=200).text == "flask home"
    assert client.post("/form", status=200).text == "posted"
    assert client.get("/nowhere", status=404).headers["Content-Type"].startswith("text/html")


def test_init_app_missing_static_file_reaches_flask(site: Path) -> None:
    app = make_app(site, app_class=Flask)
    init_app(app)
    assert get(app.test_client(), "/static/missing.css").status_code == 404


def test_init_app_with_a_custom_static_url_path(site: Path) -> None:
    app = make_app(site, static_url_path="/assets")
    init_app(app)
    client = app.test_client()
    assert get(client, "/assets/ten.txt").data == TEN
    assert get(client, "/static/ten.txt").status_code == 404


# -- Blueprints ----------------------------------------------------------------


def test_blueprint_static_under_url_prefix(site: Path) -> None:
    app = make_app(site)
    app.register_blueprint(blueprint_site(site, "admin", url_prefix="/admin"))
    init_app(app)
    # Flask's URL: the url_prefix, then the static_url_path (the folder's name).
    response = get(app.test_client(), "/admin/admin_static/admin.txt")
    assert response.data == b"admin file"
    assert_staticwrap_sent(response.headers)


def test_blueprint_static_without_url_prefix(site: Path) -> None:
    app = make_app(site)
    app.register_blueprint(blueprint_site(site, "shop", static_url_path="/shop-static"))
    init_app(app)
    response = get(app.test_client(), "/shop-static/shop.txt")
    assert response.data == b"shop file"
    assert_staticwrap_sent(response.headers)


def test_blueprint_registered_after_init_app(site: Path) -> None:
    app = make_app(site)
    static = init_app(app)
    before = static.wrapper
    app.register_blueprint(blueprint_site(site, "late", url_prefix="/late"))
    client = app.test_client()
    response = get(client, "/late/late_static/late.txt")
    assert response.data == b"late file"
    assert_staticwrap_sent(response.headers)
    assert get(client, "/static/ten.txt").data == TEN
    # Added to the index already built: the app's folder was not scanned again.
    assert static.wrapper is before


def test_blueprint_registered_after_init_app_under_the_app_prefix(site: Path) -> None:
    # /static/admin/<path> is more specific than /static/<path>, so Flask
    # routes it to the blueprint: the index is rebuilt with it first.
    write(site, "static/admin/both.txt", "from the app")
    write(site, "admin_static/both.txt", "from the blueprint")
    app = make_app(site)
    static = init_app(app)
    before = static.wrapper
    app.register_blueprint(
        StrictBlueprint("admin", __name__, static_folder=str(site / "admin_static"), static_url_path="/static/admin")
    )
    client = app.test_client()
    assert get(client, "/static/admin/both.txt").data == b"from the blueprint"
    assert get(client, "/static/ten.txt").data == TEN
    assert static.wrapper is not before


def test_blueprint_at_the_app_static_url_loses_to_the_app(site: Path) -> None:
    # Flask: without a url_prefix, "the app's static route will take precedence".
    write(site, "shadow/ten.txt", "shadowed")
    write(site, "shadow/only.txt", "only in the blueprint")
    app = make_app(site)
    app.register_blueprint(
        StrictBlueprint("shadow", __name__, static_folder=str(site / "shadow"), static_url_path="/static")
    )
    init_app(app)
    client = app.test_client()
    assert get(client, "/static/ten.txt").data == TEN
    assert get(client, "/static/only.txt").data == b"only in the blueprint"


def test_nested_blueprint_static(site: Path) -> None:
    parent = Blueprint("parent", __name__, url_prefix="/parent")
    parent.register_blueprint(blueprint_site(site, "child", url_prefix="/child"))
    app = make_app(site)
    app.register_blueprint(parent)
    static = init_app(app)
    assert get(app.test_client(), "/parent/child/child_static/child.txt").data == b"child file"
    with app.app_context():
        assert static.url("parent.child:child.txt") == "/parent/child/child_static/child.txt"


def test_blueprint_registered_twice_is_served_at_both_urls(site: Path) -> None:
    widgets = blueprint_site(site, "widgets")
    app = make_app(site)
    app.register_blueprint(widgets, url_prefix="/one")
    app.register_blueprint(widgets, url_prefix="/two", name="widgets2")
    static = init_app(app)
    client = app.test_client()
    assert get(client, "/one/widgets_static/widgets.txt").data == b"widgets file"
    assert get(client, "/two/widgets_static/widgets.txt").data == b"widgets file"
    with app.app_context():
        assert static.url("widgets2:widgets.txt") == "/two/widgets_static/widgets.txt"


def test_blueprint_with_a_variable_prefix_is_left_to_flask(site: Path) -> None:
    write(site, "i18n/x.txt", "per language")
    app = make_app(site)
    app.register_blueprint(Blueprint("i18n", __name__, static_folder=str(site / "i18n"), url_prefix="/<lang>"))
    init_app(app)
    assert [folder.blueprint for folder in static_folders(app)] == [None]
    # The request reaches Flask's own view (which, in Flask 3.1, fails: its
    # send_static_file does not take the lang argument).
    response = get(app.test_client(), "/en/i18n/x.txt")
    assert "X-Content-Type-Options" not in response.headers


def test_static_host_is_left_to_flask(site: Path) -> None:
    app = Flask(__name__, root_path=str(site), host_matching=True, static_host="static.example")
    static = init_app(app)
    assert static.folders == ()
    # static_url() gives the URL Flask's url_for builds for its own view.
    with app.test_request_context("/", base_url="http://www.example"):
        assert static.url("css/app.css") == "http://static.example/static/css/app.css"
        assert static.integrity("css/app.css") is None


# -- Template helpers ----------------------------------------------------------


def test_template_helpers_with_a_manifest(tmp_path: Path) -> None:
    write(tmp_path, "src/css/app.css", CSS)
    write(tmp_path, "src/img/logo.svg", SVG)
    write(tmp_path, "templates/page.html", PAGE)
    build(tmp_path / "src", tmp_path / "static", jobs=1)
    app = make_app(tmp_path)
    init_app(app)
    client = app.test_client()
    page = get(client, "/page").text
    url = re.search(r"^css=(\S+)$", page, re.MULTILINE)
    integrity = re.search(r"^integrity=(\S+)$", page, re.MULTILINE)
    assert url is not None
    assert integrity is not None
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", url[1])
    response = get(client, url[1])
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert b"logo." in response.data  # the built copy, its reference rewritten
    assert integrity[1] == "sha384-" + base64.b64encode(hashlib.sha384(response.data).digest()).decode()


def test_template_helpers_without_a_manifest(site: Path) -> None:
    app = make_app(site)
    init_app(app)
    page = get(app.test_client(), "/page").text
    assert page == "css=/static/css/app.css\nintegrity=None"


def test_static_url_of_a_blueprint_file(site: Path) -> None:
    app = make_app(site)
    app.register_blueprint(blueprint_site(site, "admin", url_prefix="/admin"))
    static = init_app(app)
    with app.app_context():
        assert static.url("admin:admin.txt") == "/admin/admin_static/admin.txt"
        assert static.url("admin.txt", blueprint="admin") == "/admin/admin_static/admin.txt"
        assert static.integrity("admin:admin.txt") is None


def test_static_url_of_a_missing_file_raises(site: Path) -> None:
    app = make_app(site)
    static = init_app(app)
    with pytest.raises(LookupError, match=r"'nope\.css'.*check the name"):
        static.url("nope.css")
    with pytest.raises(LookupError, match=r"'nope\.css'"):
        static.integrity("nope.css")


def test_template_helpers_with_a_django_manifest(site: Path) -> None:
    write(site, "static/css/app.0123abcd4567.css", CSS)
    (site / "static" / "staticfiles.json").write_text(
        '{"version": "1.1", "paths": {"css/app.css": "css/app.0123abcd4567.css"}}'
    )
    app = make_app(site)
    init_app(app)
    assert get(app.test_client(), "/page").text == "css=/static/css/app.0123abcd4567.css\nintegrity=None"


def test_static_url_of_an_app_without_static_folder_raises(tmp_path: Path) -> None:
    static = init_app(make_app(tmp_path, static_folder=None))
    with pytest.raises(LookupError, match="the app has no static folder"):
        static.url("app.css")


def test_static_url_of_a_blueprint_without_static_folder_raises(site: Path) -> None:
    app = make_app(site)
    app.register_blueprint(Blueprint("api", __name__))
    static = init_app(app)
    with pytest.raises(LookupError, match="blueprint 'api' has no static folder"):
        static.url("api:x.js")


def test_static_url_keeps_a_colon_that_names_no_blueprint(site: Path) -> None:
    write(site, "static/a:b.txt", "colon")
    app = make_app(site)
    static = init_app(app)
    assert static.url("a:b.txt") == "/static/a:b.txt"


def test_static_url_percent_encodes_the_file_name(site: Path) -> None:
    write(site, "static/my file%.txt", "spaced")
    app = make_app(site)
    static = init_app(app)
    assert static.url("my file%.txt") == "/static/my%20file%25.txt"


# -- Factory, debug, options ---------------------------------------------------


def create_app(root: Path) -> Flask:
    """An application factory, the pattern Flask recommends."""
    app = StrictFlask(__name__, root_path=str(root))
    init_app(app)
    return app


def test_application_factory_apps_are_independent(tmp_path: Path) -> None:
    write(tmp_path, "one/static/who.txt", "one")
    write(tmp_path, "two/static/who.txt", "two")
    first, second = create_app(tmp_path / "one"), create_app(tmp_path / "two")
    assert get(first.test_client(), "/static/who.txt").data == b"one"
    assert get(second.test_client(), "/static/who.txt").data == b"two"


def test_debug_autorefresh_serves_a_new_file(site: Path) -> None:
    app = make_app(site)
    app.debug = True
    init_app(app)
    client = app.test_client()
    write(site, "static/new.css", "p { margin: 0; }")
    response = get(client, "/static/new.css")
    assert response.data == b"p { margin: 0; }"
    assert response.headers["Cache-Control"] == "public, max-age=0"
    assert_staticwrap_sent(response.headers)


def test_flask_debug_variable_turns_autorefresh_on(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(site)  # app.debug is False: the variable is set after the app was made
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert init_app(app).wrapper.config.autorefresh is True


def test_no_autorefresh_without_debug(site: Path) -> None:
    static = init_app(make_app(site))
    assert static.wrapper.config.autorefresh is False
    assert static.wrapper.config.max_age == 60


def test_options_override_the_debug_defaults(site: Path) -> None:
    app = make_app(site)
    app.debug = True
    config = init_app(app, autorefresh=False, max_age=5).wrapper.config
    assert (config.autorefresh, config.max_age) == (False, 5)


def test_send_file_max_age_default_is_the_max_age(site: Path) -> None:
    app = make_app(site)
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = datetime.timedelta(hours=1)
    init_app(app)
    assert get(app.test_client(), "/static/ten.txt").headers["Cache-Control"] == "public, max-age=3600"


def test_misspelt_option_raises(site: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown option 'max_aeg'; did you mean 'max_age'"):
        init_app(make_app(site), max_aeg=5)


def test_init_app_twice_raises(site: Path) -> None:
    app = make_app(site)
    init_app(app)
    with pytest.raises(ConfigurationError, match="already called"):
        init_app(app)


# -- Mounting ------------------------------------------------------------------


def test_mounted_under_script_name(site: Path) -> None:
    app = make_app(site)
    init_app(app)
    client = TestApp(app, extra_environ={"SCRIPT_NAME": "/mount"})
    assert client.get("/static/ten.txt", status=200).body == TEN
    assert client.get("/page").text == "css=/mount/static/css/app.css\nintegrity=None"


def test_application_root_outside_a_request(site: Path) -> None:
    app = make_app(site)
    app.config["APPLICATION_ROOT"] = "/sub/"
    static = init_app(app)
    assert static.url("css/app.css") == "/sub/static/css/app.css"


# -- Missing folders -----------------------------------------------------------


def test_missing_static_folder_warns_and_flask_still_works(tmp_path: Path) -> None:
    write(tmp_path, "templates/page.html", "no static files")
    app = make_app(tmp_path)
    with pytest.warns(StaticwrapWarning, match=re.escape(str(tmp_path / "static")) + ".*static_folder=None"):
        static = init_app(app)
    assert get(app.test_client(), "/").text == "flask home"
    with pytest.raises(LookupError, match="is not a directory"):
        static.url("app.css")


def test_static_folder_none_serves_nothing_silently(tmp_path: Path) -> None:
    app = make_app(tmp_path, static_folder=None)
    static = init_app(app)
    assert static.folders == ()
    assert get(app.test_client(), "/").text == "flask home"


# -- StaticWrap(flask_app) ---------------------------------------------------------


def test_configure_serves_the_folders_of_a_wrapped_app(site: Path) -> None:
    app = make_app(site)
    app.register_blueprint(blueprint_site(site, "admin", url_prefix="/admin"))
    wrapper = StaticWrap(app)
    # Once StaticWrap.__init__ calls configure itself, this second call adds nothing.
    configure(wrapper, app)
    configure(wrapper, app)
    assert [root.prefix for root in wrapper.index.roots] == ["/admin/admin_static/", "/static/"]
    client = TestApp(wrapper)
    assert_staticwrap_sent(client.get("/static/ten.txt", status=200).headers)
    assert client.get("/admin/admin_static/admin.txt", status=200).body == b"admin file"
    assert client.get("/page", status=200).text == "css=/static/css/app.css\nintegrity=None"


# -- The example app -----------------------------------------------------------


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Flask]:
    """``create_app`` of examples/flask_app/app.py."""
    spec = importlib.util.spec_from_file_location("staticwrap_flask_example", EXAMPLE / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Flask finds the app's folder (templates, static) through sys.modules.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    factory: Callable[..., Flask] = module.create_app
    return factory


def page_assets(client: FlaskClient) -> list[str]:
    page = get(client, "/")
    assert page.status_code == 200
    return re.findall(r'(?:href|src)="([^"]+)"', page.text)


def test_example_serves_its_sources(example: Callable[..., Flask]) -> None:
    client = example().test_client()
    assets = page_assets(client)
    assert assets == ["/static/css/app.css", "/static/js/main.js"]
    for url in [*assets, "/static/js/greet.js", "/static/img/logo.svg"]:
        response = get(client, url)
        assert response.status_code == 200, url
        assert_staticwrap_sent(response.headers)
    assert b'from "./greet.js"' in get(client, "/static/js/main.js").data


def test_example_serves_the_built_tree(example: Callable[..., Flask], tmp_path: Path) -> None:
    build(EXAMPLE / "static", tmp_path / "build", jobs=1)
    client = example({"STATIC_BUILD": str(tmp_path / "build")}).test_client()
    page = get(client, "/").text
    assets = page_assets(client)
    assert [re.sub(r"\.[0-9a-f]{12}\.", ".#.", url) for url in assets] == [
        "/static/css/app.#.css",
        "/static/js/main.#.js",
    ]
    for url in assets:
        response = get(client, url)
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        integrity = "sha384-" + base64.b64encode(hashlib.sha384(response.data).digest()).decode()
        assert f'integrity="{integrity}" crossorigin="anonymous"' in page
    main = get(client, assets[1]).data.decode()
    greet = re.search(r'from "\./(greet\.[0-9a-f]{12}\.js)"', main)
    assert greet is not None
    assert get(client, "/static/js/" + greet[1]).status_code == 200


def test_flask_own_static_view_does_not_serve_what_staticwrap_declines(tmp_path: Path) -> None:
    # Dotfiles, links leaving the folder and precompressed siblings are not
    # served by staticwrap; Flask's static view must not serve them instead.
    site = tmp_path / "site"
    write(site, "static/ok.css", "ok{}")
    write(site, "static/.env", "SECRET=1")
    write(site, "static/app.css", "a{}" * 100)
    write(site, "static/app.css.gz", gzip.compress(b"a{}" * 100, mtime=0))
    write(tmp_path, "outside.txt", "private")
    (site / "static" / "leak.txt").symlink_to(tmp_path / "outside.txt")
    app = Flask(__name__, static_folder=str(site / "static"))
    with pytest.warns(StaticwrapWarning, match="leak.txt"):
        init_app(app)
    client = app.test_client()
    served = client.get("/static/ok.css")
    assert served.status_code == 200
    served.close()
    for path in ("/static/.env", "/static/leak.txt", "/static/app.css.gz"):
        response = client.get(path)
        assert response.status_code == 404, path
        response.close()
    with app.test_request_context():
        assert url_for("static", filename="ok.css") == "/static/ok.css"
