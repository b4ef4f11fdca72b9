"""Content-Type of indexed files (staticwrap/mediatypes.py), HTTP.md rule 36.

Expected types come from the IANA media type registry and the RFCs that
register them, not from the table under test.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from staticwrap import StaticWrap
from staticwrap.asset import Asset
from staticwrap.mediatypes import DEFAULT_MEDIA_TYPES, lookup_media_type, sniff_media_type, with_charset
from tests.conftest import write


def png_bytes() -> bytes:
    """A valid 1x1 greyscale PNG (PNG spec: signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


def content_type_of(tmp_path: Path, name: str, content: bytes = b"x", **options: Any) -> str:
    write(tmp_path, name, content)
    app = StaticWrap(None, tmp_path, **options)
    entry = app.files["/" + name]
    assert isinstance(entry, Asset)
    headers = [value for key, value in entry.identity.ok_headers if key == "Content-Type"]
    assert headers == [entry.content_type]
    return entry.content_type


# (file name, expected Content-Type with the default charset=utf-8), with the source of each.
TABLE: list[tuple[str, str, str]] = [
    ("app.js", "text/javascript; charset=utf-8", "RFC 9239 §6"),
    ("module.mjs", "text/javascript; charset=utf-8", "RFC 9239 §6 (.mjs)"),
    ("module.wasm", "application/wasm", "IANA application/wasm (WebAssembly)"),
    ("site.webmanifest", "application/manifest+json", "IANA application/manifest+json (W3C Manifest)"),
    ("app.js.map", "application/json", "Source Map spec: served as application/json, RFC 8259 has no charset"),
    ("photo.avif", "image/avif", "IANA image/avif (AOM)"),
    ("photo.jxl", "image/jxl", "IANA image/jxl (ISO/IEC 18181)"),
    ("font.woff2", "font/woff2", "RFC 8081 §4.4.6"),
    ("font.woff", "font/woff", "RFC 8081 §4.4.5"),
    ("font.ttf", "font/ttf", "RFC 8081 §4.4.2"),
    ("font.otf", "font/otf", "RFC 8081 §4.4.3"),
    ("captions.vtt", "text/vtt; charset=utf-8", "IANA text/vtt (WebVTT)"),
    ("logo.svg", "image/svg+xml; charset=utf-8", "IANA image/svg+xml, charset as for application/xml"),
    ("page.html", "text/html; charset=utf-8", "RFC 2854 / HTML Standard"),
    ("site.css", "text/css; charset=utf-8", "RFC 2318"),
    ("data.json", "application/json", "RFC 8259 §11: no charset parameter"),
    ("feed.xml", "application/xml; charset=utf-8", "RFC 7303 §9.1"),
    ("page.xhtml", "application/xhtml+xml; charset=utf-8", "RFC 3236"),
    ("feed.atom", "application/atom+xml; charset=utf-8", "RFC 4287 §7"),
    ("notes.txt", "text/plain; charset=utf-8", "RFC 2046 §4.1.3"),
    ("image.png", "image/png", "RFC 2083 / IANA image/png"),
    ("favicon.ico", "image/vnd.microsoft.icon", "IANA image/vnd.microsoft.icon"),
    ("doc.pdf", "application/pdf", "RFC 8118"),
    ("archive.zip", "application/zip", "IANA application/zip"),
]


@pytest.mark.parametrize(("name", "expected"), [row[:2] for row in TABLE], ids=[row[0] for row in TABLE])
def test_mediatypes_table_gives_registered_type(tmp_path: Path, name: str, expected: str) -> None:
    assert content_type_of(tmp_path, name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("APP.JS", "text/javascript; charset=utf-8"),
        ("Photo.PNG", "image/png"),
        ("Font.Woff2", "font/woff2"),
        ("Apple-App-Site-Association", "application/json"),
    ],
    ids=["upper-js", "mixed-png", "mixed-woff2", "mixed-whole-name"],
)
def test_mediatypes_extension_is_case_insensitive(tmp_path: Path, name: str, expected: str) -> None:
    assert content_type_of(tmp_path, name) == expected


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        # Apple: the association file has no extension and is JSON.
        (".well-known/apple-app-site-association", "application/json"),
        ("apple-app-site-association", "application/json"),
        # Adobe cross-domain policy spec: served as text/x-cross-domain-policy.
        ("crossdomain.xml", "text/x-cross-domain-policy; charset=utf-8"),
    ],
    ids=["apple-well-known", "apple-top", "crossdomain"],
)
def test_mediatypes_whole_name_entries(tmp_path: Path, relative: str, expected: str) -> None:
    write(tmp_path, relative, b"{}")
    entry = StaticWrap(None, tmp_path).files["/" + relative]
    assert isinstance(entry, Asset)
    assert entry.content_type == expected


def test_mediatypes_nosniff_on_every_variant(tmp_path: Path) -> None:
    write(tmp_path, "x.bin", b"\x00\x01")
    entry = StaticWrap(None, tmp_path).files["/x.bin"]
    assert isinstance(entry, Asset)
    assert ("X-Content-Type-Options", "nosniff") in entry.identity.ok_headers


# -- the charset rule -----------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("text/css", "text/css; charset=utf-8"),
        ("text/plain", "text/plain; charset=utf-8"),
        ("text/javascript", "text/javascript; charset=utf-8"),
        ("application/xml", "application/xml; charset=utf-8"),
        ("application/xhtml+xml", "application/xhtml+xml; charset=utf-8"),
        ("image/svg+xml", "image/svg+xml; charset=utf-8"),
        ("application/rss+xml", "application/rss+xml; charset=utf-8"),
        ("application/atom+xml", "application/atom+xml; charset=utf-8"),
        ("application/json", "application/json"),
        ("application/manifest+json", "application/manifest+json"),
        ("application/ld+json", "application/ld+json"),
        ("image/png", "image/png"),
        ("application/wasm", "application/wasm"),
    ],
    ids=[
        "css",
        "plain",
        "javascript",
        "xml",
        "xhtml",
        "svg",
        "rss",
        "atom",
        "json",
        "manifest-json",
        "ld-json",
        "png",
        "wasm",
    ],
)
def test_with_charset_text_and_xml_only(media_type: str, expected: str) -> None:
    assert with_charset(media_type, "utf-8") == expected


def test_with_charset_none_adds_nothing() -> None:
    assert with_charset("text/css", None) == "text/css"


def test_mediatypes_charset_option_changes_parameter(tmp_path: Path) -> None:
    assert content_type_of(tmp_path, "a.css", charset="iso-8859-1") == "text/css; charset=iso-8859-1"


def test_mediatypes_charset_none_gives_bare_type(tmp_path: Path) -> None:
    assert content_type_of(tmp_path, "a.css", charset=None) == "text/css"


# -- lookup_media_type ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app.min.js", "text/javascript"),
        ("ARCHIVE.TAR.GZ", "application/gzip"),
        ("crossdomain.xml", "text/x-cross-domain-policy"),
        ("README", None),
        ("file.unknownext", None),
        ("trailing.", None),
    ],
    ids=["last-extension", "upper-case", "whole-name-first", "no-extension", "unknown", "empty-extension"],
)
def test_lookup_media_type_whole_name_then_extension(name: str, expected: str | None) -> None:
    assert lookup_media_type(name, DEFAULT_MEDIA_TYPES) == expected


# -- mimetypes= -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mimetypes", "expected"),
    [
        ("app.js", {".js": "application/javascript"}, "application/javascript"),
        ("anim.avifs", {".avifs": "image/avif-sequence"}, "image/avif-sequence"),
        ("doc.foo", {".FOO": "text/x-foo"}, "text/x-foo; charset=utf-8"),
        ("LICENSE", {"LICENSE": "text/plain"}, "text/plain; charset=utf-8"),
        ("legacy.txt", {".txt": "text/plain; charset=iso-8859-1"}, "text/plain; charset=iso-8859-1"),
    ],
    ids=["override-js", "new-extension", "upper-case-key", "whole-name", "own-charset-kept"],
)
def test_mediatypes_mimetypes_option_overrides(
    tmp_path: Path, name: str, mimetypes: dict[str, str], expected: str
) -> None:
    assert content_type_of(tmp_path, name, mimetypes=mimetypes) == expected


def test_mediatypes_mimetypes_option_leaves_other_entries(tmp_path: Path) -> None:
    write(tmp_path, "app.js", b"x")
    write(tmp_path, "site.css", b"x")
    app = StaticWrap(None, tmp_path, mimetypes={".js": "application/javascript"})
    entry = app.files["/site.css"]
    assert isinstance(entry, Asset)
    assert entry.content_type == "text/css; charset=utf-8"


# -- libmagic fallback ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("pixel", png_bytes(), "image/png"),
        ("pixel.unknownext", png_bytes(), "image/png"),
        ("README", b"This is plain text.\nIt has two lines.\n", "text/plain; charset=utf-8"),
        ("NOTES", "日本語のテキストです。\n".encode() * 20, "text/plain; charset=utf-8"),
        # The 2048-byte head ends inside a two-byte character: still UTF-8 text.
        ("CUT", ("a" + "é" * 1500).encode(), "text/plain; charset=utf-8"),
        # libmagic calls an empty file application/x-empty, not a media type to send.
        ("EMPTY", b"", "application/octet-stream"),
    ],
    ids=["png-no-extension", "png-unknown-extension", "ascii-text", "utf8-text", "utf8-cut-at-head", "empty"],
)
def test_mediatypes_unknown_name_is_sniffed(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    assert content_type_of(tmp_path, name, content) == expected


def test_mediatypes_sniffed_text_not_utf8_gets_no_utf8_charset(tmp_path: Path) -> None:
    latin1 = "Le café au lait est une boisson très appréciée à Paris.\n".encode("latin-1") * 10
    content_type = content_type_of(tmp_path, "MENU", latin1)
    assert content_type.startswith("text/plain")
    assert "charset=utf-8" not in content_type


def test_sniff_media_type_png() -> None:
    assert sniff_media_type(png_bytes(), "pixel") == "image/png"


# Run in a fresh interpreter: sys.modules["magic"] = None makes "import magic"
# raise ImportError, which is what python-magic raises when libmagic is missing.
_WITHOUT_LIBMAGIC = """
import json, sys, warnings
sys.modules["magic"] = None
from staticwrap import StaticWrap, StaticwrapWarning
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    app = StaticWrap(None, sys.argv[1])
print(json.dumps({
    "types": {url: entry.content_type for url, entry in app.files.items()},
    "warnings": [
        {"category": w.category.__name__, "is_staticwrap": issubclass(w.category, StaticwrapWarning),
         "message": str(w.message)}
        for w in caught
    ],
}))
"""


def test_mediatypes_without_libmagic_falls_back_to_octet_stream(tmp_path: Path) -> None:
    write(tmp_path, "blob.unknownext", png_bytes())
    write(tmp_path, "README", b"plain text\n")
    write(tmp_path, "site.css", b"body {}\n")
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_LIBMAGIC, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert report["types"] == {
        "/blob.unknownext": "application/octet-stream",
        "/README": "application/octet-stream",
        "/site.css": "text/css; charset=utf-8",
    }
    warnings = report["warnings"]
    assert len(warnings) == 1, warnings
    assert warnings[0]["is_staticwrap"]
    message = warnings[0]["message"]
    assert "libmagic" in message
    # Debian/Ubuntu ship libmagic as libmagic1; Homebrew as libmagic.
    assert "apt-get install libmagic1" in message
    assert "brew install libmagic" in message
    assert "README" in message or "blob.unknownext" in message
