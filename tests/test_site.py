"""A real front-end tree (tests/site) built, served by StaticWrap in-process, and crawled.

The HTML is not rewritten by the build: its pages name assets by their
original names, which the build keeps. Following every link from the pages,
then every reference inside the CSS, JavaScript and source maps served, must
reach only files that exist (200): the original copies from the HTML, and the
hashed assets their rewritten references name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urljoin, urlsplit

import brotli
import pytest

from staticwrap import StaticWrap
from staticwrap.build import build
from staticwrap.references import COMMENT, css_references, js_references
from tests.conftest import Result, call

SITE = Path(__file__).parent / "site"
PREFIX = "/static/"
ORIGIN = "http://testserver"
# RFC 9111 §5.2.2.1: one year of 365 days; RFC 8246 immutable.
IMMUTABLE = f"public, max-age={365 * 24 * 60 * 60}, immutable"
SHORT = "public, max-age=60"  # StaticWrap's default max_age
PAGE = "no-cache"  # HTML under its own name: it names the current deploy's assets


class LinkParser(HTMLParser):
    """Collects the URLs of ``href``, ``src`` and ``srcset`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src"):
                self.links.append(value)
            elif name == "srcset":
                self.links.extend(candidate.split()[0] for candidate in value.split(",") if candidate.strip())


def html_links(body: bytes) -> list[str]:
    parser = LinkParser()
    parser.feed(body.decode("utf-8"))
    parser.close()
    return parser.links


def local_path(reference: str, base: str) -> str | None:
    """The URL path ``reference`` (written in the page or asset at ``base``) names on this server, or None."""
    if not reference or reference.startswith("#"):
        return None
    url = urlsplit(urljoin(ORIGIN + base, reference))
    if f"{url.scheme}://{url.netloc}" != ORIGIN:
        return None  # another host, or not http at all (mailto:, data:)
    return url.path


def path_info(path: str) -> str:
    # PEP 3333: PATH_INFO is the percent-decoded bytes of the path, as latin-1.
    return unquote_to_bytes(path).decode("latin-1")


def references_in(url: str, result: Result) -> list[str]:
    """The references written in a served page or asset that a browser would follow."""
    content_type = result.header("Content-Type") or ""
    if content_type.startswith("text/html"):
        return html_links(result.body)
    text = result.body.decode("utf-8", "surrogateescape")
    if content_type.startswith("text/css"):
        return [reference.value for reference in css_references(text)]
    if "javascript" in content_type:
        # A bare specifier ("preact") names a package, not a URL (WHATWG HTML, module specifiers).
        return [
            reference.value
            for reference in js_references(text)
            if reference.kind == COMMENT or reference.value.startswith(("/", "./", "../"))
        ]
    # A source map's "file" is informational (ECMA-426) and left as written;
    # its "sources" may name files never shipped: neither is followed.
    return []


def crawl(app: StaticWrap, start: list[str]) -> dict[str, Result]:
    """Fetch ``start`` and everything reachable from it on this server; each URL path once."""
    fetched: dict[str, Result] = {}
    queue = list(start)
    while queue:
        url = queue.pop()
        if url in fetched:
            continue
        result = fetched[url] = call(app, path_info(url))
        if result.code != 200:
            continue
        for reference in references_in(url, result):
            target = local_path(reference, url)
            if target is not None and target not in fetched:
                queue.append(target)
    return fetched


# -- fixtures: one build, one server, one crawl for the module ---------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("site") / "dest"
    build(SITE, dest, prefix=PREFIX)  # the defaults of a real build: every coding, parallel
    return dest


@pytest.fixture(scope="module")
def manifest(built: Path) -> dict[str, Any]:
    files: dict[str, Any] = json.loads((built / "staticwrap.json").read_text(encoding="utf-8"))["files"]
    return files


@pytest.fixture(scope="module")
def app(built: Path) -> StaticWrap:
    return StaticWrap(None, built, prefix=PREFIX)


@pytest.fixture(scope="module")
def pages() -> list[str]:
    """The URL of every HTML page of the site, by its original name."""
    return sorted(PREFIX + path.relative_to(SITE).as_posix() for path in SITE.rglob("*.html"))


@pytest.fixture(scope="module")
def crawled(app: StaticWrap, pages: list[str]) -> dict[str, Result]:
    return crawl(app, pages)


def hashed_url(manifest: dict[str, Any], name: str) -> str:
    return PREFIX + str(manifest[name]["hashed"])


# -- the crawl -----------------------------------------------------------------------------


def test_site_pages_found() -> None:
    assert sorted(path.relative_to(SITE).as_posix() for path in SITE.rglob("*.html")) == [
        "about/index.html",
        "index.html",
    ]


def test_site_every_html_link_resolves(app: StaticWrap, pages: list[str]) -> None:
    statuses = {}
    for page in pages:
        for link in html_links(call(app, page).body):
            target = local_path(link, page)
            if target is not None:
                statuses[f"{page} -> {link}"] = call(app, path_info(target)).code
    assert statuses, "the pages link to local files"
    assert {link: code for link, code in statuses.items() if code != 200} == {}


def test_site_crawl_every_url_200(crawled: dict[str, Result]) -> None:
    assert {url: result.status for url, result in crawled.items() if result.code != 200} == {}


def test_site_crawl_reaches_original_names(crawled: dict[str, Result]) -> None:
    originals = [
        "",
        "index.html",
        "about/",
        "about/index.html",
        "css/app.css",
        "js/main.js",
        "img/logo.svg",
        "img/photo.png",
        "img/photo@2x.png",
        "img/hero.svg",
        "fonts/inter.woff2",
        "data/numbers.txt",
        ".well-known/security.txt",
    ]
    assert [name for name in originals if PREFIX + name not in crawled] == []


def test_site_crawl_reaches_hashed_assets(crawled: dict[str, Result], manifest: dict[str, Any]) -> None:
    # Everything named from inside the CSS and JavaScript, by its hashed name.
    referenced = [
        "css/base.css",
        "fonts/inter.woff2",
        "fonts/inter-bold.woff2",
        "img/logo.svg",
        "img/photo.png",
        "img/photo@2x.png",
        "img/hero.svg",
        "js/util.js",
        "js/lazy.js",
        "js/main.js.map",
    ]
    assert [name for name in referenced if hashed_url(manifest, name) not in crawled] == []


def test_site_crawl_follows_only_hashed_names_from_assets(crawled: dict[str, Result], manifest: dict[str, Any]) -> None:
    # What the CSS and JS served name is always a hashed (long-cached) file.
    hashed = {hashed_url(manifest, name) for name in manifest}
    named_by_assets = set()
    for url, result in crawled.items():
        if not url.endswith(".html") and not url.endswith("/") and result.code == 200:
            for reference in references_in(url, result):
                target = local_path(reference, url)
                if target is not None:
                    named_by_assets.add(target)
    assert named_by_assets, "the assets name other files"
    assert named_by_assets - hashed == set()


# -- caching ---------------------------------------------------------------------------------


def test_site_cache_control(crawled: dict[str, Result], manifest: dict[str, Any]) -> None:
    hashed = {hashed_url(manifest, name) for name in manifest}
    wrong = {}
    for url, result in crawled.items():
        if url in hashed:
            expected = IMMUTABLE
        else:
            expected = PAGE if (result.header("Content-Type") or "").startswith("text/html") else SHORT
        if result.header("Cache-Control") != expected:
            wrong[url] = result.header("Cache-Control")
    assert wrong == {}


def test_site_all_digit_hash_is_immutable(app: StaticWrap, manifest: dict[str, Any]) -> None:
    # data/numbers.txt was written so that its hash has no letter: only the
    # manifest, not the shape of the name, can tell that it is content-hashed.
    url = hashed_url(manifest, "data/numbers.txt")
    assert re.fullmatch(r"/static/data/numbers\.[0-9]{12}\.txt", url), "the fixture's hash must be all digits"
    assert call(app, url).header("Cache-Control") == IMMUTABLE


# -- url(), integrity(), ETags -----------------------------------------------------------------


def test_site_url_of_app_css(app: StaticWrap, manifest: dict[str, Any]) -> None:
    url = app.url("css/app.css")
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", url)
    assert url == hashed_url(manifest, "css/app.css")


def test_site_url_of_every_file(app: StaticWrap, manifest: dict[str, Any]) -> None:
    assert {name: app.url(name) for name in manifest} == {
        name: PREFIX + quote(record["hashed"], safe="/@") for name, record in manifest.items()
    }


def test_site_integrity_is_manifest_value(app: StaticWrap, manifest: dict[str, Any]) -> None:
    assert {name: app.integrity(name) for name in manifest} == {
        name: record["integrity"] for name, record in manifest.items()
    }


def test_site_integrity_matches_served_bytes(app: StaticWrap, manifest: dict[str, Any]) -> None:
    for name in manifest:
        body = call(app, app.url(name)).body
        assert app.integrity(name) == "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode(), name


@pytest.mark.parametrize("which", ["hashed", "original"])
def test_site_etag_is_manifest_etag(app: StaticWrap, manifest: dict[str, Any], which: str) -> None:
    served = {}
    for name, record in manifest.items():
        url = PREFIX + (record["hashed"] if which == "hashed" else name)
        served[name] = call(app, url).header("ETag")
    assert served == {name: f'"{record["etag"]}"' for name, record in manifest.items()}


@pytest.mark.parametrize(("coding", "token"), [("br", "br"), ("zstd", "zstd"), ("gzip", "gzip")])
def test_site_variant_etag_is_manifest_etag(app: StaticWrap, manifest: dict[str, Any], coding: str, token: str) -> None:
    served, expected = {}, {}
    for name, record in manifest.items():
        if coding in record.get("variants", {}):
            result = call(app, hashed_url(manifest, name), {"Accept-Encoding": token})
            served[name] = (result.header("Content-Encoding"), result.header("ETag"))
            expected[name] = (token, f'"{record["variants"][coding]["etag"]}"')
    assert expected, f"some file of the site has a {coding} variant"
    assert served == expected


def test_site_served_variant_decodes_to_identity(app: StaticWrap) -> None:
    url = app.url("css/app.css")
    coded = call(app, url, {"Accept-Encoding": "br"})
    assert coded.header("Content-Encoding") == "br"
    assert brotli.decompress(coded.body) == call(app, url).body


# -- what the build did to the site --------------------------------------------------------------


@pytest.mark.parametrize("page", ["index.html", "about/index.html"])
def test_site_html_not_rewritten(built: Path, page: str) -> None:
    assert (built / page).read_bytes() == (SITE / page).read_bytes()


def test_site_map_shipped_source_resolves(app: StaticWrap, manifest: dict[str, Any]) -> None:
    map_url = hashed_url(manifest, "js/main.js.map")
    sources = json.loads(call(app, map_url).body)["sources"]
    target = local_path(sources[0], map_url)
    assert (target, call(app, path_info(target or "")).code) == (hashed_url(manifest, "js/util.js"), 200)


def test_site_map_unshipped_source_left_alone(app: StaticWrap, manifest: dict[str, Any]) -> None:
    sources = json.loads(call(app, hashed_url(manifest, "js/main.js.map")).body)["sources"]
    assert sources[1] == "../src/main.ts"


def test_site_comment_and_string_references_untouched(app: StaticWrap) -> None:
    css = call(app, app.url("css/app.css")).body.decode()
    js = call(app, app.url("js/main.js")).body.decode()
    assert "url(../img/not-shipped.png); */" in css
    assert '"url(../img/not-shipped.png)"' in css
    assert 'import "./not-shipped.js";' in js
    assert "\"import('./not-shipped.js') is just text\"" in js


def test_site_build_is_reproducible(tmp_path: Path, manifest: dict[str, Any]) -> None:
    dest = tmp_path / "again"
    build(SITE, dest, prefix=PREFIX, jobs=1)
    again = json.loads((dest / "staticwrap.json").read_text(encoding="utf-8"))["files"]

    # The same names, sizes, hashes and variants; "mtime" is when each output
    # was written, so two builds in different seconds differ there only.
    def content(files: dict[str, Any]) -> dict[str, Any]:
        return {name: {k: v for k, v in record.items() if k != "mtime"} for name, record in files.items()}

    assert content(again) == content(manifest)
