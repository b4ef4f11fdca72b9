"""The startup index (staticwrap/index.py), built over real files on disk.

HTTP.md rules 1-3 (validators), 27-29 (precompressed siblings), 32-35 (which
files are indexed, and under which URL).
"""

from __future__ import annotations

import email.utils
import gzip
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from staticwrap import ConfigurationError, StaticWrap, StaticwrapWarning
from staticwrap.asset import Asset, Redirect, Variant
from staticwrap.config import Config
from staticwrap.index import Index
from staticwrap.tree import normalize_prefix
from tests.conftest import MTIME, TEN, write

# RFC 9110 §8.8.3: entity-tag = [ weak ] opaque-tag; opaque-tag = DQUOTE *etagc DQUOTE;
# etagc = %x21 / %x23-7E / obs-text. staticwrap's tags must be strong and ASCII.
STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]*"')

#: Compressible text, so that every precompressed sibling is smaller than it.
CSS = b"body { color: #333; margin: 0 auto; padding: 1em; }\n" * 200


def build(root: Path, prefix: str = "/", **options: Any) -> StaticWrap:
    return StaticWrap(None, root, prefix=prefix, **options)


def asset_at(app: StaticWrap, url: str) -> Asset:
    entry = app.files[url]
    assert isinstance(entry, Asset), f"{url} is {entry!r}, not an asset"
    return entry


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name.lower()]
    assert len(values) <= 1, f"{name} appears {len(values)} times in {headers}"
    return values[0] if values else None


def variants(asset: Asset) -> list[Variant]:
    return [asset.identity, *asset.coded.values()]


def write_siblings(root: Path, name: str, content: bytes) -> dict[str, Path]:
    """Write ``name`` and its br, zstd and gzip siblings, each decoding to ``content``."""
    write(root, name, content)
    return {
        "br": write(root, name + ".br", brotli.compress(content)),
        "zstd": write(root, name + ".zst", zstandard.ZstdCompressor().compress(content)),
        "gzip": write(root, name + ".gz", gzip.compress(content, mtime=0)),
    }


# -- prefixes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("static", "/static/"),
        ("/static", "/static/"),
        ("/static/", "/static/"),
        ("static/", "/static/"),
        ("/", "/"),
        ("", "/"),
        ("/assets/v1", "/assets/v1/"),
    ],
    ids=["bare", "leading-slash", "both-slashes", "trailing-slash", "top", "empty", "two-segments"],
)
def test_normalize_prefix_accepts_every_spelling(given: str, expected: str) -> None:
    assert normalize_prefix(given) == expected


@pytest.mark.parametrize(
    "prefix",
    [
        "..",
        "/static/..",
        "/../static",
        "/a/./b",
        "/a//b/",
        "//static/",
        "/static//",
        "\\static",
        "/sta\\tic/",
        "/st\x00atic/",
    ],
    ids=[
        "dotdot",
        "trailing-dotdot",
        "leading-dotdot",
        "dot-segment",
        "inner-double-slash",
        "leading-double-slash",
        "trailing-double-slash",
        "leading-backslash",
        "inner-backslash",
        "nul",
    ],
)
def test_normalize_prefix_rejects_bad_prefix(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="prefix"):
        normalize_prefix(prefix)


@pytest.mark.parametrize("prefix", ["static", "/static", "/static/"], ids=["bare", "leading-slash", "both-slashes"])
def test_index_keys_carry_normalized_prefix(tmp_path: Path, prefix: str) -> None:
    write(tmp_path, "app.css", CSS)
    write(tmp_path, "img/logo.png", b"\x89PNG\r\n\x1a\n")
    app = build(tmp_path, prefix)
    assert set(app.files) == {"/static/app.css", "/static/img/logo.png"}


def test_index_rejects_bad_prefix_through_staticwrap(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", TEN)
    with pytest.raises(ConfigurationError, match="prefix"):
        build(tmp_path, "/static/../etc")


# -- entries --------------------------------------------------------------


def test_index_has_one_entry_per_file_keyed_by_url(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    write(tmp_path, "css/site.css", CSS)
    write(tmp_path, "a/b/c/deep.js", "export {};\n")
    app = build(tmp_path, index_file=None)
    assert set(app.files) == {"/ten.txt", "/css/site.css", "/a/b/c/deep.js"}
    deep = asset_at(app, "/a/b/c/deep.js")
    assert deep.url == "/a/b/c/deep.js"
    assert deep.identity.file.path == str(tmp_path / "a/b/c/deep.js")
    assert deep.identity.size == len("export {};\n")
    assert header(asset_at(app, "/ten.txt").identity.ok_headers, "Content-Length") == str(len(TEN))


def test_index_direct_use_of_index_class(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    index = Index(Config.from_options())
    index.add_root(tmp_path, "static")
    assert set(index.files) == {"/static/ten.txt"}
    assert index.lookup("/static/ten.txt") is index.files["/static/ten.txt"]
    assert index.lookup("/ten.txt") is None


def test_index_index_file_gives_directory_url_and_redirect(tmp_path: Path) -> None:
    write(tmp_path, "docs/index.html", "<p>docs</p>")
    write(tmp_path, "docs/guide/index.html", "<p>guide</p>")
    app = build(tmp_path)
    page = asset_at(app, "/docs/index.html")
    assert app.files["/docs/"] is page
    assert app.files["/docs"] == Redirect("/docs/")
    assert app.files["/docs/guide/"] is asset_at(app, "/docs/guide/index.html")
    assert app.files["/docs/guide"] == Redirect("/docs/guide/")


def test_index_index_file_at_root_of_prefix(tmp_path: Path) -> None:
    write(tmp_path, "index.html", "<p>home</p>")
    app = build(tmp_path, "/site/")
    assert app.files["/site/"] is asset_at(app, "/site/index.html")
    assert app.files["/site"] == Redirect("/site/")


def test_index_index_file_at_top_root_has_no_empty_key(tmp_path: Path) -> None:
    write(tmp_path, "index.html", "<p>home</p>")
    app = build(tmp_path)
    assert app.files["/"] is asset_at(app, "/index.html")
    assert "" not in app.files


def test_index_index_file_none_gives_no_directory_keys(tmp_path: Path) -> None:
    write(tmp_path, "docs/index.html", "<p>docs</p>")
    app = build(tmp_path, index_file=None)
    assert set(app.files) == {"/docs/index.html"}


def test_index_custom_index_file(tmp_path: Path) -> None:
    write(tmp_path, "docs/default.htm", "<p>docs</p>")
    write(tmp_path, "other/index.html", "<p>other</p>")
    app = build(tmp_path, index_file="default.htm")
    assert app.files["/docs/"] is asset_at(app, "/docs/default.htm")
    assert app.files["/docs"] == Redirect("/docs/")
    assert "/other/" not in app.files
    assert "/other" not in app.files


@pytest.mark.parametrize(
    ("relative", "url"),
    [
        ("a b.txt", "/a b.txt"),
        ("100%.txt", "/100%.txt"),
        ("what?.txt", "/what?.txt"),
        ("hash#1.txt", "/hash#1.txt"),
        ("café.txt", "/café.txt"),
        ("日本/語.txt", "/日本/語.txt"),
        ("%2e%2e", "/%2e%2e"),
    ],
    ids=["space", "percent", "question-mark", "hash", "e-acute", "japanese-dir", "encoded-dots-literal"],
)
def test_index_keys_names_by_decoded_text(tmp_path: Path, relative: str, url: str) -> None:
    write(tmp_path, relative, TEN)
    app = build(tmp_path)
    assert set(app.files) == {url}
    assert asset_at(app, url).identity.file.path == str(tmp_path / relative)


# -- hidden files ---------------------------------------------------------


def _hidden_tree(root: Path) -> None:
    write(root, "visible.txt", TEN)
    write(root, ".env", "SECRET=1\n")
    write(root, ".git/config", "[core]\n")
    write(root, "sub/.htpasswd", "user:hash\n")
    write(root, ".well-known/security.txt", "Contact: mailto:a@example.com\n")


def test_index_skips_dotfiles_and_dot_directories_by_default(tmp_path: Path) -> None:
    _hidden_tree(tmp_path)
    app = build(tmp_path)
    assert set(app.files) == {"/visible.txt", "/.well-known/security.txt"}


def test_index_allow_hidden_indexes_dotfiles(tmp_path: Path) -> None:
    _hidden_tree(tmp_path)
    app = build(tmp_path, allow_hidden=True)
    assert set(app.files) == {
        "/visible.txt",
        "/.env",
        "/.git/config",
        "/sub/.htpasswd",
        "/.well-known/security.txt",
    }


# -- symlinks -------------------------------------------------------------


def test_index_symlink_to_file_inside_root_is_served(tmp_path: Path) -> None:
    write(tmp_path, "real.txt", TEN)
    write(tmp_path, "dir/x.txt", "x")
    (tmp_path / "link.txt").symlink_to("real.txt")
    (tmp_path / "alias").symlink_to("dir", target_is_directory=True)
    app = build(tmp_path)
    assert set(app.files) == {"/real.txt", "/link.txt", "/dir/x.txt", "/alias/x.txt"}
    assert asset_at(app, "/link.txt").identity.etag == asset_at(app, "/real.txt").identity.etag


def test_index_root_given_as_symlink_serves_its_files(tmp_path: Path) -> None:
    real = tmp_path / "real"
    write(real, "a.txt", TEN)
    (real / "b.txt").symlink_to(real / "a.txt")  # absolute target, through the real path
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    app = build(link)
    assert set(app.files) == {"/a.txt", "/b.txt"}


def test_index_symlink_to_file_outside_root_is_not_indexed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "ok.txt", TEN)
    secret = write(tmp_path, "outside/secret.txt", "secret")
    link = root / "leak.txt"
    link.symlink_to(secret)
    with pytest.warns(StaticwrapWarning, match=re.escape(str(link))):
        app = build(root)
    assert set(app.files) == {"/ok.txt"}


def test_index_symlink_to_directory_outside_root_is_not_indexed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "ok.txt", TEN)
    write(tmp_path, "outside/secret.txt", "secret")
    link = root / "ext"
    link.symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.warns(StaticwrapWarning, match=re.escape(str(link))):
        app = build(root)
    assert set(app.files) == {"/ok.txt"}


def test_index_follow_symlinks_indexes_links_outside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "ok.txt", TEN)
    secret = write(tmp_path, "outside/secret.txt", "secret")
    (root / "leak.txt").symlink_to(secret)
    (root / "ext").symlink_to(tmp_path / "outside", target_is_directory=True)
    app = build(root, follow_symlinks=True)
    assert set(app.files) == {"/ok.txt", "/leak.txt", "/ext/secret.txt"}
    assert asset_at(app, "/leak.txt").identity.size == len("secret")


def test_index_broken_symlink_is_skipped_with_warning(tmp_path: Path) -> None:
    write(tmp_path, "ok.txt", TEN)
    link = tmp_path / "broken.txt"
    link.symlink_to(tmp_path / "missing.txt")
    with pytest.warns(StaticwrapWarning, match=re.escape(str(link))):
        app = build(tmp_path)
    assert set(app.files) == {"/ok.txt"}


def test_index_symlink_loop_is_skipped_with_warning(tmp_path: Path) -> None:
    write(tmp_path, "ok.txt", TEN)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.warns(StaticwrapWarning) as record:
        app = build(tmp_path)
    assert set(app.files) == {"/ok.txt"}
    messages = [str(warning.message) for warning in record]
    assert any(str(tmp_path / "a") in message for message in messages), messages
    assert any(str(tmp_path / "b") in message for message in messages), messages


@pytest.mark.parametrize(
    ("link", "target", "other"),
    [
        ("self", ".", "sub/x.txt"),
        ("sub/up", "..", "sub/x.txt"),
        ("a/b/up", "..", "a/b/x.txt"),
    ],
    ids=["root-to-itself", "sub-to-root", "to-parent"],
)
def test_index_directory_symlink_to_ancestor_is_skipped(tmp_path: Path, link: str, target: str, other: str) -> None:
    write(tmp_path, "top.txt", TEN)
    write(tmp_path, other, "x")
    link_path = tmp_path / link
    link_path.symlink_to(target, target_is_directory=True)
    with pytest.warns(StaticwrapWarning) as record:
        app = build(tmp_path)
    assert any(str(link_path) in str(warning.message) for warning in record)
    assert set(app.files) == {"/top.txt", "/" + other}


def test_index_fifo_is_skipped_with_warning(tmp_path: Path) -> None:
    write(tmp_path, "ok.txt", TEN)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.warns(StaticwrapWarning, match=re.escape(str(fifo))):
        app = build(tmp_path)
    assert set(app.files) == {"/ok.txt"}


def test_index_unix_socket_is_skipped_with_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "ok.txt", TEN)
    monkeypatch.chdir(tmp_path)  # a relative address keeps within the 108-byte sun_path limit
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind("server.sock")
        with pytest.warns(StaticwrapWarning, match=re.escape(str(tmp_path / "server.sock"))):
            app = build(tmp_path)
    finally:
        server.close()
    assert set(app.files) == {"/ok.txt"}


def test_index_unreadable_file_is_skipped_with_warning(tmp_path: Path) -> None:
    write(tmp_path, "ok.txt", TEN)
    locked = write(tmp_path, "locked.txt", "secret")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("this user (root) can read a file with mode 000")
        with pytest.warns(StaticwrapWarning, match=re.escape(str(locked))):
            app = build(tmp_path)
    finally:
        locked.chmod(0o644)
    assert set(app.files) == {"/ok.txt"}


def test_index_name_not_utf8_is_skipped_with_warning(tmp_path: Path) -> None:
    write(tmp_path, "ok.txt", TEN)
    bad = os.fsencode(tmp_path) + b"/bad\xff.txt"
    with open(bad, "wb") as file:
        file.write(b"latin-1 name")
    with pytest.warns(StaticwrapWarning, match="UTF-8") as record:
        app = build(tmp_path)
    assert set(app.files) == {"/ok.txt"}
    assert any(str(tmp_path) in str(warning.message) and "bad" in str(warning.message) for warning in record)


# -- precompressed siblings -----------------------------------------------


def test_index_siblings_are_variants_not_entries(tmp_path: Path) -> None:
    siblings = write_siblings(tmp_path, "x.css", CSS)
    app = build(tmp_path)
    assert set(app.files) == {"/x.css"}
    asset = asset_at(app, "/x.css")
    assert asset.codings == ("br", "zstd", "gzip")
    for coding, path in siblings.items():
        variant = asset.variant(coding)
        assert variant.file.path == str(path)
        assert variant.size == path.stat().st_size
        assert header(variant.ok_headers, "Content-Encoding") == coding
        assert header(variant.ok_headers, "Content-Length") == str(path.stat().st_size)
    assert header(asset.identity.ok_headers, "Content-Encoding") is None
    assert header(asset.identity.ok_headers, "Vary") == "Accept-Encoding"


def test_index_zstd_sibling_with_zstd_suffix(tmp_path: Path) -> None:
    write(tmp_path, "x.css", CSS)
    sibling = write(tmp_path, "x.css.zstd", zstandard.ZstdCompressor().compress(CSS))
    app = build(tmp_path)
    assert set(app.files) == {"/x.css"}
    assert asset_at(app, "/x.css").variant("zstd").file.path == str(sibling)


def test_index_lone_compressed_file_is_an_entry(tmp_path: Path) -> None:
    write(tmp_path, "data.json.gz", gzip.compress(b'{"a": 1}', mtime=0))
    app = build(tmp_path)
    assert set(app.files) == {"/data.json.gz"}
    asset = asset_at(app, "/data.json.gz")
    assert asset.codings == ()
    assert header(asset.identity.ok_headers, "Content-Encoding") is None
    # RFC 6713: the gzip file format is application/gzip.
    assert asset.content_type == "application/gzip"


def test_index_sibling_not_smaller_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", b"a")
    sibling = write(tmp_path, "a.txt.gz", gzip.compress(b"a", mtime=0))
    assert sibling.stat().st_size >= 1
    app = build(tmp_path)
    assert set(app.files) == {"/a.txt"}
    assert asset_at(app, "/a.txt").codings == ()
    assert header(asset_at(app, "/a.txt").identity.ok_headers, "Vary") is None


def _zstd_large_window(content: bytes) -> bytes:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=24, write_content_size=False)
    frame = zstandard.ZstdCompressor(compression_params=params).compress(content)
    assert zstandard.get_frame_parameters(frame).window_size > 8 * 1024 * 1024
    return frame


def _zstd_with_dictionary(content: bytes) -> bytes:
    samples: list[bytes | bytearray | memoryview[int]] = [
        f'{{"id": {i}, "name": "user{i * 7919 % 1000}", "tag": "t{i % 13}"}}'.encode() for i in range(2000)
    ]
    dictionary = zstandard.train_dictionary(4096, samples)
    frame = zstandard.ZstdCompressor(dict_data=dictionary).compress(content)
    assert zstandard.get_frame_parameters(frame).dict_id != 0
    return frame


#: More than 8 MiB, so that a 16 MiB window is really used.
BIG = (b"abcdefghij" * 1000 + bytes(range(256))) * 900
JSONISH = b"".join(f'{{"id": {i}, "name": "user{i * 7919 % 1000}", "tag": "t{i % 13}"}}'.encode() for i in range(500))


@pytest.mark.parametrize(
    ("suffix", "original", "sibling"),
    [
        (".gz", CSS, gzip.compress(CSS.replace(b"#333", b"#444"), mtime=0)),
        (".br", CSS, brotli.compress(CSS.replace(b"#333", b"#444"))),
        (".zst", CSS, zstandard.ZstdCompressor().compress(CSS.replace(b"#333", b"#444"))),
        (".gz", CSS, gzip.compress(CSS[:-10], mtime=0)),
        (".gz", CSS, gzip.compress(CSS + b"/* more */", mtime=0)),
        (".gz", CSS, b"\x1f\x8b" + b"\xff" * 64),
        (".br", CSS, b"\xff" * 64),
        (".zst", CSS, b"\x28\xb5\x2f\xfd" + b"\xff" * 64),
        (".gz", CSS, gzip.compress(CSS, mtime=0)[:-4]),
        (".br", CSS, brotli.compress(CSS)[:20]),
        (".zst", CSS, zstandard.ZstdCompressor().compress(CSS)[:20]),
        (".zst", BIG, _zstd_large_window(BIG)),
        (".zst", JSONISH, _zstd_with_dictionary(JSONISH)),
    ],
    ids=[
        "stale-gzip",
        "stale-br",
        "stale-zstd",
        "shorter-gzip",
        "longer-gzip",
        "corrupt-gzip",
        "corrupt-br",
        "corrupt-zstd",
        "truncated-gzip",
        "truncated-br",
        "truncated-zstd",
        "zstd-window-16MiB",
        "zstd-dictionary",
    ],
)
def test_index_bad_sibling_is_refused_with_warning(
    tmp_path: Path, suffix: str, original: bytes, sibling: bytes
) -> None:
    assert len(sibling) < len(original)
    write(tmp_path, "x.css", original)
    sibling_path = write(tmp_path, "x.css" + suffix, sibling)
    with pytest.warns(StaticwrapWarning, match=re.escape(str(sibling_path))):
        app = build(tmp_path)
    assert set(app.files) == {"/x.css"}  # still never served on its own URL
    asset = asset_at(app, "/x.css")
    assert asset.codings == ()
    assert header(asset.identity.ok_headers, "Vary") is None


def test_index_bad_sibling_does_not_drop_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "x.css", CSS)
    write(tmp_path, "x.css.br", brotli.compress(CSS))
    stale = write(tmp_path, "x.css.gz", gzip.compress(CSS[:-1], mtime=0))
    with pytest.warns(StaticwrapWarning, match=re.escape(str(stale))):
        app = build(tmp_path)
    assert asset_at(app, "/x.css").codings == ("br",)


# -- validators -----------------------------------------------------------


def test_index_etags_are_strong_and_distinct_per_variant(tmp_path: Path) -> None:
    write_siblings(tmp_path, "x.css", CSS)
    asset = asset_at(build(tmp_path), "/x.css")
    tags = [variant.etag for variant in variants(asset)]
    assert len(tags) == 4
    for variant in variants(asset):
        assert STRONG_ETAG.fullmatch(variant.etag), variant.etag
        assert header(variant.ok_headers, "ETag") == variant.etag
        assert header(variant.not_modified_headers, "ETag") == variant.etag
    assert len(set(tags)) == len(tags)


def test_index_etags_survive_touch_and_reindex(tmp_path: Path) -> None:
    siblings = write_siblings(tmp_path, "x.css", CSS)
    before = asset_at(build(tmp_path), "/x.css")
    later = MTIME + 86_400
    for path in [tmp_path / "x.css", *siblings.values()]:
        os.utime(path, (later, later))
    after = asset_at(build(tmp_path), "/x.css")
    assert [v.etag for v in variants(after)] == [v.etag for v in variants(before)]
    assert header(after.identity.ok_headers, "Last-Modified") == email.utils.formatdate(later, usegmt=True)


def test_index_etags_equal_on_replicas_of_same_content(tmp_path: Path) -> None:
    write(tmp_path / "one", "x.css", CSS, mtime=MTIME)
    write(tmp_path / "two", "x.css", CSS, mtime=MTIME + 3600)
    one = asset_at(build(tmp_path / "one"), "/x.css")
    two = asset_at(build(tmp_path / "two"), "/x.css")
    assert one.identity.file.inode != two.identity.file.inode
    assert one.identity.etag == two.identity.etag


def test_index_etag_changes_with_content(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    before = asset_at(build(tmp_path), "/ten.txt").identity.etag
    write(tmp_path, "ten.txt", b"9876543210")  # same size and mtime, other bytes
    after = asset_at(build(tmp_path), "/ten.txt").identity.etag
    assert before != after


def test_index_last_modified_is_imf_fixdate_of_mtime(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN, mtime=MTIME)
    asset = asset_at(build(tmp_path), "/ten.txt")
    assert asset.last_modified == MTIME
    assert header(asset.identity.ok_headers, "Last-Modified") == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert email.utils.formatdate(MTIME, usegmt=True) == "Tue, 14 Nov 2023 22:13:20 GMT"


def test_index_last_modified_absent_for_mtime_zero(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN, mtime=0)
    asset = asset_at(build(tmp_path), "/ten.txt")
    assert asset.last_modified is None
    assert header(asset.identity.ok_headers, "Last-Modified") is None


def test_index_last_modified_future_mtime_is_clamped_to_now(tmp_path: Path) -> None:
    future = int(time.time()) + 10 * 86_400
    write(tmp_path, "ten.txt", TEN, mtime=future)
    started = int(time.time())
    asset = asset_at(build(tmp_path), "/ten.txt")
    finished = int(time.time())
    assert asset.last_modified is not None
    assert started <= asset.last_modified <= finished
    value = header(asset.identity.ok_headers, "Last-Modified")
    assert value is not None
    assert started <= email.utils.parsedate_to_datetime(value).timestamp() <= finished


# -- roots ----------------------------------------------------------------


def test_index_root_that_is_a_file_raises(tmp_path: Path) -> None:
    path = write(tmp_path, "not-a-dir.txt", TEN)
    with pytest.raises(ConfigurationError, match=re.escape(str(path))):
        build(path)


def test_index_root_that_does_not_exist_raises(tmp_path: Path) -> None:
    path = tmp_path / "missing"
    with pytest.raises(ConfigurationError, match=re.escape(str(path))):
        build(path)


def test_index_first_root_wins_for_a_shared_url(tmp_path: Path) -> None:
    first = write(tmp_path / "first", "app.css", "first")
    write(tmp_path / "second", "app.css", "second")
    extra = write(tmp_path / "second", "extra.css", "extra")
    app = build(tmp_path / "first")
    app.add_files(tmp_path / "second")
    assert asset_at(app, "/app.css").identity.file.path == str(first)
    assert asset_at(app, "/extra.css").identity.file.path == str(extra)


def test_index_roots_at_different_prefixes(tmp_path: Path) -> None:
    write(tmp_path / "static", "app.css", CSS)
    write(tmp_path / "public", "robots.txt", "User-agent: *\n")
    app = build(tmp_path / "static", "/static/")
    app.add_files(tmp_path / "public", "/")
    assert set(app.files) == {"/static/app.css", "/robots.txt"}


# -- autorefresh ----------------------------------------------------------


def test_index_autorefresh_scans_nothing_at_startup(tmp_path: Path) -> None:
    write(tmp_path, "ten.txt", TEN)
    app = build(tmp_path, autorefresh=True)
    assert dict(app.files) == {}
    assert isinstance(app.index.lookup("/ten.txt"), Asset)


def test_index_autorefresh_sees_added_changed_and_deleted_files(tmp_path: Path) -> None:
    write(tmp_path, "keep.txt", TEN)
    app = build(tmp_path, autorefresh=True)
    assert app.index.lookup("/new.txt") is None

    write(tmp_path, "new.txt", "first version", mtime=MTIME)
    first = app.index.lookup("/new.txt")
    assert isinstance(first, Asset)
    assert first.identity.size == len("first version")

    write(tmp_path, "new.txt", "second, longer version", mtime=MTIME + 60)
    second = app.index.lookup("/new.txt")
    assert isinstance(second, Asset)
    assert second.identity.size == len("second, longer version")
    assert second.identity.etag != first.identity.etag

    (tmp_path / "new.txt").unlink()
    assert app.index.lookup("/new.txt") is None


def test_index_autorefresh_applies_startup_policy(tmp_path: Path) -> None:
    write(tmp_path, "docs/index.html", "<p>docs</p>")
    write(tmp_path, ".env", "SECRET=1\n")
    write_siblings(tmp_path, "x.css", CSS)
    app = build(tmp_path, autorefresh=True)
    assert app.index.lookup("/docs") == Redirect("/docs/")
    page = app.index.lookup("/docs/")
    assert isinstance(page, Asset)
    assert page.url == "/docs/index.html"
    assert app.index.lookup("/.env") is None
    assert app.index.lookup("/x.css.gz") is None
    css = app.index.lookup("/x.css")
    assert isinstance(css, Asset)
    assert css.codings == ("br", "zstd", "gzip")


@pytest.mark.parametrize(
    "url",
    [
        "/../x",
        "/a/../b",
        "/%2e%2e/x",
        "/..%2fx",
        "",
        "//x",
        "/.env",
        "/sub/../../etc/passwd",
        "/sub/..",
        "/.",
        "/..",
        "/sub/./y.txt",
        "/sub\\..\\x",
        "/b\x00",
        "/etc/passwd",
    ],
    ids=[
        "dotdot",
        "inner-dotdot",
        "encoded-dots",
        "encoded-slash",
        "empty",
        "double-slash",
        "dotfile",
        "escape-two-levels",
        "trailing-dotdot",
        "dot",
        "bare-dotdot",
        "dot-segment",
        "backslashes",
        "nul",
        "absolute",
    ],
)
@pytest.mark.parametrize("autorefresh", [False, True], ids=["startup", "autorefresh"])
def test_index_lookup_traversal_returns_none(tmp_path: Path, url: str, autorefresh: bool) -> None:
    root = tmp_path / "root"
    write(tmp_path, "x", "outside")
    write(tmp_path, "etc/passwd", "root:x:0:0\n")
    write(root, "index.html", "<p>home</p>")
    write(root, "b", "b")
    write(root, "a/keep.txt", "a")
    write(root, "sub/y.txt", "y")
    write(root, ".env", "SECRET=1\n")
    app = build(root, autorefresh=autorefresh)
    assert app.index.lookup(url) is None
