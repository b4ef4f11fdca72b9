"""Option validation (staticwrap/config.py) and the headers built per file (staticwrap/asset.py).

HTTP.md rules 30-31: ``immutable`` only for content-hashed names, ``max-age`` in
token form (RFC 9111 §5.2.2.1, RFC 8246).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard
from werkzeug.datastructures import Headers

from staticwrap import ESBUILD, VITE, Config, ConfigurationError, StaticWrap
from staticwrap.asset import Asset, cache_control
from tests.conftest import write

ONE_YEAR = 365 * 24 * 60 * 60  # RFC 8246 §2 example and common practice: 31536000 s
IMMUTABLE = f"public, max-age={ONE_YEAR}, immutable"

CSS = b"body { color: #333; margin: 0 auto; padding: 1em; }\n" * 200

# RFC 9111 §5.2: Cache-Control = #cache-directive; cache-directive = token [ "=" ( token / quoted-string ) ].
# max-age takes delta-seconds (§1.2.2: 1*DIGIT) in token form (§5.2.2.1).
_DIRECTIVE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|\"[^\"]*\"))?")


def assert_token_form(value: str) -> None:
    for directive in value.split(", "):
        assert _DIRECTIVE.fullmatch(directive), directive
        if directive.startswith("max-age"):
            assert re.fullmatch(r"max-age=[0-9]+", directive), directive


def asset_at(app: StaticWrap, url: str) -> Asset:
    entry = app.files[url]
    assert isinstance(entry, Asset)
    return entry


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name.lower()]
    assert len(values) <= 1, f"{name} appears {len(values)} times"
    return values[0] if values else None


# -- validation -----------------------------------------------------------


INVALID: list[tuple[str, str, Any]] = [
    ("max_age-negative", "max_age", -1),
    ("max_age-string", "max_age", "60"),
    ("max_age-bool", "max_age", True),
    ("max_age-float", "max_age", 1.5),
    ("max_ranges-zero", "max_ranges", 0),
    ("max_ranges-negative", "max_ranges", -1),
    ("max_ranges-bool", "max_ranges", True),
    ("max_ranges-string", "max_ranges", "16"),
    ("charset-space", "charset", "utf 8"),
    ("charset-empty", "charset", ""),
    ("charset-quoted", "charset", '"utf-8"'),
    ("charset-int", "charset", 8),
    ("index_file-slash", "index_file", "a/b"),
    ("index_file-empty", "index_file", ""),
    ("index_file-dotdot", "index_file", ".."),
    ("index_file-int", "index_file", 3),
    ("mimetypes-bad-type", "mimetypes", {".x": "nope"}),
    ("mimetypes-bad-type-no-dot-key", "mimetypes", {"x": "nope"}),
    ("mimetypes-empty-subtype", "mimetypes", {".x": "text/"}),
    ("mimetypes-not-str", "mimetypes", {".x": 3}),
    ("mimetypes-empty-key", "mimetypes", {"": "text/plain"}),
    ("mimetypes-key-with-slash", "mimetypes", {"a/b.x": "text/plain"}),
    ("mimetypes-list", "mimetypes", [".x"]),
    ("cors-no-scheme-list", "cors", ["example.com"]),
    ("cors-no-scheme-str", "cors", "example.com"),
    ("cors-with-path", "cors", "https://example.com/app"),
    ("cors-not-str", "cors", [42]),
    ("cors-int", "cors", 42),
    ("immutable-bad-regex", "immutable", "("),
    ("immutable-int", "immutable", 42),
    ("headers-int", "headers", 3),
    ("headers-str", "headers", "X-Frame-Options: DENY"),
    ("allow_hidden-str", "allow_hidden", "yes"),
    ("allow_hidden-int", "allow_hidden", 1),
    ("follow_symlinks-str", "follow_symlinks", "no"),
    ("autorefresh-str", "autorefresh", "true"),
]


@pytest.mark.parametrize(("option", "value"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_config_invalid_option_raises_naming_it(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"\b{option}\b"):
        Config.from_options(**{option: value})


def test_config_invalid_option_raises_through_staticwrap(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"\bmax_age\b"):
        StaticWrap(None, tmp_path, max_age=-1)


def test_config_defaults() -> None:
    config = Config.from_options()
    assert config.max_age == 60
    assert config.index_file == "index.html"
    assert config.charset == "utf-8"
    assert config.max_ranges == 16
    assert not config.allow_hidden
    assert not config.follow_symlinks
    assert not config.autorefresh
    assert not config.cors


@pytest.mark.parametrize(
    ("given", "expected"),
    [(True, "index.html"), (False, None), (None, None), ("default.htm", "default.htm")],
    ids=["true", "false", "none", "name"],
)
def test_config_index_file_values(given: str | bool | None, expected: str | None) -> None:
    assert Config.from_options(index_file=given).index_file == expected


@pytest.mark.parametrize(
    "cors",
    ["*", "https://example.com", ["https://example.com", "http://localhost:8000"]],
    ids=["any", "one-origin", "origin-list"],
)
def test_config_valid_cors(cors: str | list[str]) -> None:
    assert Config.from_options(cors=cors).cors


# -- the immutable test ---------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/app.3f2a1b9c.js", True),
        ("/static/app.3f2a1b9c0d4e.min.css", True),
        ("/css/site.0a1b2c3d4e5f6a7b.css", True),
        ("/app.js", False),
        ("/report.20260101.pdf", False),
        ("/app.deadbeef.js", False),
        ("/app.cafebabe.min.js", False),
        ("/app.3f2a1b9.js", False),
        ("/app.3f2a1b9c", False),
        ("/v.3f2a1b9c.d/app.js", False),
    ],
    ids=[
        "hash-8",
        "hash-12-min",
        "hash-16",
        "plain",
        "digits-only-date",
        "hex-word-deadbeef",
        "hex-word-cafebabe",
        "hash-7",
        "no-extension-after-hash",
        "hash-in-directory",
    ],
)
def test_config_default_immutable_test(url: str, expected: bool) -> None:
    test = Config.from_options().immutable
    assert test is not None
    assert test(url) is expected


def test_config_immutable_true_is_the_default_test() -> None:
    test = Config.from_options(immutable=True).immutable
    assert test is not None
    assert test("/app.3f2a1b9c.js")
    assert not test("/app.js")


def test_config_immutable_false_disables_test() -> None:
    assert Config.from_options(immutable=False).immutable is None


@pytest.mark.parametrize(
    "immutable",
    [r"^/build/", re.compile(r"^/build/")],
    ids=["string", "compiled"],
)
def test_config_immutable_regex_searched_in_url(immutable: str | re.Pattern[str]) -> None:
    test = Config.from_options(immutable=immutable).immutable
    assert test is not None
    assert test("/build/app.js")
    assert not test("/app.js")
    assert not test("/static/build/app.js")


def test_config_immutable_callable_is_used() -> None:
    seen: list[str] = []

    def woff2_only(url: str) -> bool:
        seen.append(url)
        return url.endswith(".woff2")

    test = Config.from_options(immutable=woff2_only).immutable
    assert test is not None
    assert test("/fonts/a.woff2")
    assert not test("/app.3f2a1b9c.js")
    assert seen == ["/fonts/a.woff2", "/app.3f2a1b9c.js"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/assets/index-BxQ2a9_c.js", True),
        ("/static/assets/vendor-a1B2-c3D.css", True),
        ("/my-calendar.js", False),
        ("/assets/index.js", False),
        ("/assets/index-BxQ2a9.js", False),
    ],
    ids=["vite-js", "vite-css-under-prefix", "dash-word-outside-assets", "no-hash", "hash-6"],
)
def test_config_vite_preset(url: str, expected: bool) -> None:
    test = Config.from_options(immutable=VITE).immutable
    assert test is not None
    assert test(url) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [("/out/main-Q2ZJQ7LM.js", True), ("/out/main.js", False), ("/out/main-q2zjq7lm.js", False)],
    ids=["esbuild", "no-hash", "lower-case"],
)
def test_config_esbuild_preset(url: str, expected: bool) -> None:
    test = Config.from_options(immutable=ESBUILD).immutable
    assert test is not None
    assert test(url) is expected


# -- Cache-Control --------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "immutable", "media_type", "expected"),
    [
        ({}, True, "text/javascript", IMMUTABLE),
        ({}, False, "text/html; charset=utf-8", "no-cache"),
        ({}, False, "application/xhtml+xml", "no-cache"),
        ({}, False, "text/css", "public, max-age=60"),
        ({"max_age": 0}, False, "text/css", "public, max-age=0"),
        ({"max_age": 3600}, False, "image/png", "public, max-age=3600"),
        ({"max_age": None}, False, "text/css", None),
        ({"max_age": None}, True, "text/css", IMMUTABLE),
    ],
    ids=["hashed", "html", "xhtml", "default", "zero", "hour", "none", "none-but-hashed"],
)
def test_cache_control_values(options: dict[str, Any], immutable: bool, media_type: str, expected: str | None) -> None:
    value = cache_control(Config.from_options(**options), immutable, media_type)
    assert value == expected
    if value is not None:
        assert_token_form(value)
        assert ("immutable" in value) is immutable


def test_cache_control_on_indexed_files(tmp_path: Path) -> None:
    write(tmp_path, "app.3f2a1b9c.js", "1")
    write(tmp_path, "app.js", "1")
    write(tmp_path, "index.html", "<p>x</p>")
    write(tmp_path, "report.20260101.pdf", "%PDF-1.7")
    app = StaticWrap(None, tmp_path)
    assert header(asset_at(app, "/app.3f2a1b9c.js").identity.ok_headers, "Cache-Control") == IMMUTABLE
    assert header(asset_at(app, "/app.js").identity.ok_headers, "Cache-Control") == "public, max-age=60"
    assert header(asset_at(app, "/index.html").identity.ok_headers, "Cache-Control") == "no-cache"
    assert header(asset_at(app, "/report.20260101.pdf").identity.ok_headers, "Cache-Control") == "public, max-age=60"
    for url in app.files:
        asset = asset_at(app, url)
        value = header(asset.identity.ok_headers, "Cache-Control")
        assert value is not None
        assert_token_form(value)
        assert ("immutable" in value) is (url == "/app.3f2a1b9c.js")


def test_cache_control_immutable_false_on_hashed_file(tmp_path: Path) -> None:
    write(tmp_path, "app.3f2a1b9c.js", "1")
    app = StaticWrap(None, tmp_path, immutable=False)
    asset = asset_at(app, "/app.3f2a1b9c.js")
    assert not asset.immutable
    assert header(asset.identity.ok_headers, "Cache-Control") == "public, max-age=60"


def test_cache_control_max_age_none_sends_none(tmp_path: Path) -> None:
    write(tmp_path, "app.js", "1")
    asset = asset_at(StaticWrap(None, tmp_path, max_age=None), "/app.js")
    assert header(asset.identity.ok_headers, "Cache-Control") is None
    assert header(asset.identity.not_modified_headers, "Cache-Control") is None


def test_cache_control_vite_preset_on_indexed_files(tmp_path: Path) -> None:
    write(tmp_path, "assets/index-BxQ2a9_c.js", "1")
    write(tmp_path, "my-calendar.js", "1")
    app = StaticWrap(None, tmp_path, immutable=VITE)
    assert header(asset_at(app, "/assets/index-BxQ2a9_c.js").identity.ok_headers, "Cache-Control") == IMMUTABLE
    assert header(asset_at(app, "/my-calendar.js").identity.ok_headers, "Cache-Control") == "public, max-age=60"


# -- the headers= hook ----------------------------------------------------


def _with_siblings(root: Path) -> Path:
    path = write(root, "x.css", CSS)
    write(root, "x.css.br", brotli.compress(CSS))
    write(root, "x.css.zst", zstandard.ZstdCompressor().compress(CSS))
    write(root, "x.css.gz", gzip.compress(CSS, mtime=0))
    return path


def test_headers_hook_adds_header_to_every_variant(tmp_path: Path) -> None:
    path = _with_siblings(tmp_path)
    calls: list[tuple[str, str]] = []

    def hook(headers: Headers, file_path: str, url: str) -> None:
        calls.append((file_path, url))
        headers["X-Frame-Options"] = "DENY"

    asset = asset_at(StaticWrap(None, tmp_path, headers=hook), "/x.css")
    assert calls == [(str(path), "/x.css")]
    assert asset.codings == ("br", "zstd", "gzip")
    for variant in [asset.identity, *asset.coded.values()]:
        assert header(variant.ok_headers, "X-Frame-Options") == "DENY"


def test_headers_hook_can_change_cache_control(tmp_path: Path) -> None:
    _with_siblings(tmp_path)

    def hook(headers: Headers, file_path: str, url: str) -> None:
        headers["Cache-Control"] = "public, max-age=5"

    asset = asset_at(StaticWrap(None, tmp_path, headers=hook), "/x.css")
    for variant in [asset.identity, *asset.coded.values()]:
        assert header(variant.ok_headers, "Cache-Control") == "public, max-age=5"
        # RFC 9110 §15.4.5: a 304 carries the Cache-Control the 200 would.
        assert header(variant.not_modified_headers, "Cache-Control") == "public, max-age=5"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ETag", '"mine"'),
        ("Content-Length", "1"),
        ("Content-Encoding", "gzip"),
        ("Last-Modified", "Thu, 01 Jan 2015 00:00:00 GMT"),
        ("Vary", "Cookie"),
        ("Accept-Ranges", "none"),
        ("Content-Range", "bytes 0-0/1"),
        ("Transfer-Encoding", "chunked"),
    ],
    ids=[
        "etag",
        "content-length",
        "content-encoding",
        "last-modified",
        "vary",
        "accept-ranges",
        "content-range",
        "transfer-encoding",
    ],
)
def test_headers_hook_forbidden_header_raises(tmp_path: Path, name: str, value: str) -> None:
    path = write(tmp_path, "x.css", CSS)

    def hook(headers: Headers, file_path: str, url: str) -> None:
        headers[name] = value

    with pytest.raises(ConfigurationError) as raised:
        StaticWrap(None, tmp_path, headers=hook)
    message = str(raised.value)
    assert name.lower() in message.lower()
    assert str(path) in message


def test_headers_hook_removing_last_modified_raises(tmp_path: Path) -> None:
    path = write(tmp_path, "x.css", CSS)

    def hook(headers: Headers, file_path: str, url: str) -> None:
        del headers["Last-Modified"]

    with pytest.raises(ConfigurationError) as raised:
        StaticWrap(None, tmp_path, headers=hook)
    assert "last-modified" in str(raised.value).lower()
    assert str(path) in str(raised.value)


def test_every_option_is_documented_in_the_docstring_and_the_options_page() -> None:
    # The API reference is generated from Config.from_options' docstring; the
    # options page is written by hand: neither may miss an option.
    from pathlib import Path

    from staticwrap.config import OPTION_NAMES, Config

    docstring = Config.from_options.__doc__ or ""
    page = (Path(__file__).parent.parent / "docs" / "options.rst").read_text(encoding="utf-8")
    for name in sorted(OPTION_NAMES):
        assert f":param {name}:" in docstring, name
        assert f"``{name}``" in page, name


def test_a_directory_given_where_the_application_goes_is_refused_at_once(tmp_path: Path) -> None:
    # StaticWrap("public/", prefix="/"): every request would raise "'str' object is not callable".
    with pytest.raises(ConfigurationError) as raised:
        StaticWrap(str(tmp_path), prefix="/")  # type: ignore[arg-type]
    message = str(raised.value)
    assert "first argument is the WSGI application to wrap" in message
    assert f"StaticWrap(application, {str(tmp_path)!r}, prefix=...)" in message
    assert f"StaticWrap(None, {str(tmp_path)!r})" in message
