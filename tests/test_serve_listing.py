"""Directory listings (``listing=True``, on in ``serve``) and the ``not_found`` page.

Expected pages are read as a browser reads them: links are resolved against
the request URL and followed, names are compared after HTML unescaping.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from staticwrap import ConfigurationError, StaticWrap, StaticwrapWarning
from staticwrap.index import path_info_of
from tests.conftest import MTIME, TEN, Result, call, downstream, write
from tests.test_cli import Served, get, serving

PAGE_404 = b"<!doctype html><title>Lost</title><p>Nothing here.\n"
ODD_NAME = "a b&<c>\"'#%?.txt"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Files a listing must show, and files and directories it must not."""
    top = tmp_path / "public"
    write(top, "ten.txt", TEN)
    write(top, "Zeta.css", "z{}")
    write(top, "app.css", b"a{}" * 100)
    write(top, "app.css.gz", gzip.compress(b"a{}" * 100, mtime=0))  # a sibling: served only through app.css
    write(top, ODD_NAME, "odd")
    write(top, "sub/deep/leaf.txt", "leaf")
    write(top, "docs/index.html", "<p>docs")  # has an index file: served, not listed
    write(top, ".env", "SECRET=1")
    write(top, ".git/config", "[core]")
    write(top, "only-hidden/.keep", "")
    (top / "empty").mkdir()
    write(top, "404.html", PAGE_404)
    outside = write(tmp_path, "outside.txt", "outside")
    os.symlink(outside, top / "link-out.txt")
    os.symlink(tmp_path, top / "dir-out")
    return top


def wrap(application: Any, root: Path, **options: Any) -> StaticWrap:
    """``StaticWrap(application, root, ...)``, quiet about the symlinks :func:`root` has that leave it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".* is a symlink to .*, outside", StaticwrapWarning)
        return StaticWrap(application, root, **options)


class Links(HTMLParser):
    """The ``href`` and text of every link of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((self._href, data))
            self._href = None


def links(page: bytes) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(page.decode("utf-8"))
    return parser.links


def follow(app: StaticWrap, base: str, href: str, method: str = "GET") -> Result:
    """Request the link ``href`` of the page at ``base`` as a browser would (resolved, then decoded by the server)."""
    return call(app, path_info_of(unquote(urlsplit(urljoin(base, href)).path)), method=method)


def test_listing_is_off_by_default(root: Path) -> None:
    result = call(wrap(None, root), "/")
    assert result.code == 404
    assert result.body == b"Not Found\n"


def test_listing_shows_only_what_the_index_serves_directories_first_then_names(root: Path) -> None:
    result = call(wrap(None, root, listing=True), "/")

    assert result.code == 200
    names = [text for _, text in links(result.body)]
    assert names == ["docs/", "sub/", "404.html", ODD_NAME, "app.css", "ten.txt", "Zeta.css"]


def test_listing_links_lead_to_each_file_and_directory(root: Path) -> None:
    app = wrap(None, root, listing=True)
    page = call(app, "/").body

    for href, name in links(page):
        followed = follow(app, "http://h/", href)
        assert followed.code == 200, (href, name)
        if not name.endswith("/"):
            assert followed.body == (root / name).read_bytes()
    assert follow(app, "http://h/", "sub/").body.count(b"deep/") >= 1


def test_listing_escapes_names_in_text_and_links(root: Path) -> None:
    page = call(wrap(None, root, listing=True), "/").body.decode()

    assert "&<c>" not in page  # never raw: < and & would be markup
    assert ODD_NAME in [text for _, text in links(page.encode())]  # read back as the name
    (href,) = (href for href, text in links(page.encode()) if text == ODD_NAME)
    assert not set(href) & set(' <>"#?')
    assert unquote(href) == ODD_NAME


def test_listing_shows_sizes_and_dates(root: Path) -> None:
    page = call(wrap(None, root, listing=True), "/").body.decode()

    row = next(line for line in page.splitlines() if 'href="ten.txt"' in line)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    # MTIME is Tue, 14 Nov 2023 22:13:20 GMT.
    assert cells == ["10", "2023-11-14 22:13"]


def test_listing_under_a_prefix_links_to_the_parent_inside_it(root: Path) -> None:
    app = wrap(None, root, prefix="/static/", listing=True)

    top = call(app, "/static/")
    sub = call(app, "/static/sub/")

    assert "../" not in [href for href, _ in links(top.body)]  # the prefix's parent is not served
    assert [text for _, text in links(sub.body)] == ["../", "deep/"]
    assert follow(app, "http://h/static/sub/", "../").code == 200
    leaf = follow(app, "http://h/static/sub/deep/", links(call(app, "/static/sub/deep/").body)[-1][0])
    assert leaf.body == b"leaf"
    assert call(app, "/").code == 404


def test_listing_headers_and_head(root: Path) -> None:
    app = wrap(None, root, listing=True)
    got = call(app, "/sub/")
    head = call(app, "/sub/", method="HEAD")

    assert got.header("Content-Type") == "text/html; charset=utf-8"
    assert got.header("Cache-Control") == "no-cache"
    assert got.header("X-Content-Type-Options") == "nosniff"
    assert got.header("Content-Length") == str(len(got.body))
    assert got.header("ETag") is None
    assert (head.code, head.body) == (200, b"")
    assert head.headers == got.headers


def test_listing_answers_other_methods_with_405(root: Path) -> None:
    result = call(wrap(None, root, listing=True), "/sub/", method="POST")
    assert result.code == 405
    assert result.header("Allow") == "GET, HEAD"


@pytest.mark.parametrize(("path", "location"), [("/sub", "sub/"), ("/sub/deep", "deep/")])
def test_listing_directory_without_slash_redirects(root: Path, path: str, location: str) -> None:
    result = call(wrap(None, root, listing=True), path, environ={"QUERY_STRING": "a=1"})
    assert result.code == 302
    assert result.header("Location") == location + "?a=1"


@pytest.mark.parametrize(
    "path",
    ["/.git/", "/only-hidden/", "/empty/", "/dir-out/", "/nope/", "/ten.txt/", "/sub/../", "/../", "//", "/.git"],
)
def test_listing_never_shows_a_directory_the_index_does_not_serve(root: Path, path: str) -> None:
    result = call(wrap(None, root, listing=True), path)
    assert result.code == 404
    assert b"Index of" not in result.body


def test_listing_leaves_directories_with_an_index_file_to_it(root: Path) -> None:
    assert call(wrap(None, root, listing=True), "/docs/").body == b"<p>docs"


def test_listing_in_front_of_an_application_passes_other_paths_on(root: Path) -> None:
    app = wrap(downstream, root, listing=True)
    assert call(app, "/sub/").code == 200
    assert call(app, "/nope/").body == b"app:GET /nope/"


def test_listing_sees_files_added_to_the_index_later(root: Path, tmp_path: Path) -> None:
    app = wrap(None, root, listing=True)
    assert call(app, "/more/").code == 404
    write(tmp_path / "more", "more/new.txt", "new")
    app.add_files(tmp_path / "more")
    assert [text for _, text in links(call(app, "/more/").body)] == ["../", "new.txt"]


# -- not_found ---------------------------------------------------------------------------


def test_not_found_page_is_sent_with_status_404(root: Path) -> None:
    result = call(wrap(None, root, not_found="404.html"), "/nope.txt")

    assert result.code == 404
    assert result.body == PAGE_404
    assert result.header("Content-Type") == "text/html; charset=utf-8"
    assert result.header("Content-Length") == str(len(PAGE_404))
    assert result.header("Cache-Control") == "no-cache"
    assert result.header("X-Content-Type-Options") == "nosniff"
    # Not the target's representation: nothing a later request could validate or resume.
    assert not result.names() & {"etag", "last-modified", "accept-ranges", "content-encoding"}


@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": "*"},
        {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        {"If-Match": '"nope"'},
        {"Range": "bytes=0-1"},
        {"If-None-Match": "*", "Range": "bytes=0-1", "Accept-Encoding": "gzip"},
    ],
)
def test_not_found_page_ignores_conditions_and_ranges(root: Path, headers: dict[str, str]) -> None:
    result = call(wrap(None, root, not_found="404.html"), "/nope.txt", headers)
    assert (result.code, result.body) == (404, PAGE_404)


def test_not_found_page_for_head_has_the_headers_and_no_body(root: Path) -> None:
    app = wrap(None, root, not_found="/404.html")
    got = call(app, "/nope.txt")
    head = call(app, "/nope.txt", method="HEAD")
    assert (head.code, head.body, head.headers) == (404, b"", got.headers)


def test_not_found_page_under_a_prefix_answers_only_under_it(root: Path) -> None:
    app = wrap(None, root, prefix="/static/", not_found="404.html")
    assert call(app, "/static/nope").body == PAGE_404
    assert call(app, "/other").body == PAGE_404  # no application at all: every miss


def test_not_found_page_changed_on_disk_is_sent_as_it_is_now(root: Path) -> None:
    app = wrap(None, root, not_found="404.html")
    write(root, "404.html", b"<p>new page, longer than the old one\n", mtime=MTIME + 10)
    result = call(app, "/nope")
    assert (result.code, result.body) == (404, b"<p>new page, longer than the old one\n")


def test_not_found_page_works_with_autorefresh(root: Path) -> None:
    result = call(wrap(None, root, not_found="404.html", autorefresh=True), "/nope")
    assert (result.code, result.body) == (404, PAGE_404)


def test_not_found_missing_file_is_refused_at_construction_naming_it(root: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"not_found='missing\.html': no root has a file missing\.html"):
        wrap(None, root, not_found="missing.html")


@pytest.mark.parametrize("name", [".env", "app.css.gz", "sub", "../outside.txt", "", 404])
def test_not_found_must_name_a_file_the_index_serves(root: Path, name: object) -> None:
    with pytest.raises(ConfigurationError, match="not_found="):
        wrap(None, root, not_found=name)


def test_not_found_with_an_application_is_refused(root: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"not_found='404\.html'.*StaticWrap\(None"):
        wrap(downstream, root, not_found="404.html")


# -- serve ---------------------------------------------------------------------------------


@contextlib.contextmanager
def serve(cwd: Path, *argv: str) -> Iterator[Served]:
    """``python -m staticwrap serve ARGV`` (with a free port), stopped when the block ends."""
    with tempfile.TemporaryDirectory() as logs, serving(cwd, *argv, log_path=Path(logs) / "serve.log") as served:
        yield served


@pytest.mark.parametrize(
    "argv",
    [
        ("public", "0"),  # http.server: the port as an argument
        ("-d", "public", "0"),
        ("--directory", "public", "--bind", "127.0.0.1", "--port", "0"),
        ("public", "-b", "127.0.0.1", "--port", "0", "--prefix", "/static/"),
    ],
)
def test_serve_prints_a_url_that_lists_the_directory(root: Path, argv: tuple[str, ...]) -> None:
    with serve(root.parent, *argv) as served:
        status, headers, body = get(served, served.prefix)
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert "ten.txt" in [text for _, text in links(body)]


def test_serve_lone_number_is_the_port_and_directory_the_current_one(root: Path) -> None:
    with serve(root, "0") as served:
        status, _, body = get(served, "/")
        assert status == 200
        assert "ten.txt" in [text for _, text in links(body)]


def test_serve_not_found_page_and_no_listing(root: Path) -> None:
    with serve(root.parent, "public", "0", "--not-found", "404.html", "--no-listing") as served:
        assert get(served, "/")[::2] == (404, PAGE_404)
        assert get(served, "/nope", {"If-None-Match": "*"})[::2] == (404, PAGE_404)


def test_serve_listing_follows_a_file_added_with_autorefresh(root: Path) -> None:
    with serve(root.parent, "public", "0", "--autorefresh") as served:
        write(root, "sub/new.txt", "new")
        status, _, body = get(served, "/sub/")
        assert status == 200
        assert [text for _, text in links(body)] == ["../", "deep/", "new.txt"]


@pytest.mark.parametrize(
    "path", ["/", "/sub/", "/sub/deep/", "/sub", "/.git/", "/empty/", "/only-hidden/", "/dir-out/", "/nope/", "/docs/"]
)
def test_listing_with_autorefresh_matches_the_scanned_index(root: Path, path: str) -> None:
    scanned = call(wrap(None, root, listing=True), path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".* is a symlink to .*, outside", StaticwrapWarning)
        on_disk = call(wrap(None, root, listing=True, autorefresh=True), path)
    assert (on_disk.code, on_disk.body) == (scanned.code, scanned.body)
