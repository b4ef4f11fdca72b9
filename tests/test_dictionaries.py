"""Compression dictionaries (RFC 9842): the header grammar, the deltas a build writes, and how they are served.

Expected values are made here from the RFC's definitions with hashlib,
base64 and zstandard (the reference decoder), never read back from
staticwrap: the dcz header is the magic of a zstd skippable frame and the
SHA-256 of the dictionary, and a delta decodes, with the old file as a raw
dictionary, to the new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from staticwrap import StaticWrap
from staticwrap.build import build
from staticwrap.cli import main
from staticwrap.dictionaries import (
    format_use_as_dictionary,
    match_pattern,
    parse_available_dictionary,
    sf_string,
)
from staticwrap.errors import ConfigurationError, StaticwrapWarning
from staticwrap.manifest import read_manifest
from tests.conftest import Result, call, content_tag, etag_of
from tests.test_security_parsers import SIZE, assert_costs_like_normal

# -- the grammar ------------------------------------------------------------------------------------

DIGEST = hashlib.sha256(b"an earlier version").digest()
OFFER = ":" + base64.b64encode(DIGEST).decode("ascii") + ":"


def test_parse_available_dictionary_reads_a_32_byte_binary() -> None:
    assert parse_available_dictionary(OFFER) == DIGEST


def test_parse_available_dictionary_allows_spaces_around_the_value() -> None:
    # RFC 8941 §4.2: leading and trailing SP are discarded.
    assert parse_available_dictionary("  " + OFFER + " ") == DIGEST


BASE64 = base64.b64encode(DIGEST).decode("ascii")


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        BASE64,  # no colons
        ":" + BASE64,  # one colon
        ":" + BASE64.rstrip("=") + ":",  # no padding
        ":" + base64.urlsafe_b64encode(b"\xfb" * 32).decode() + ":",  # base64url, not base64
        ":" + base64.b64encode(DIGEST[:31]).decode() + ":",  # 31 bytes
        ":" + base64.b64encode(DIGEST + b"x").decode() + ":",  # 33 bytes
        ":" + base64.b64encode(hashlib.sha512().digest()).decode() + ":",  # another hash
        OFFER + ";a=1",  # parameters
        OFFER + ", " + OFFER,  # a list
        '"' + BASE64 + '"',  # a string
        "\t" + OFFER,  # a tab is not SP
        ":" + BASE64[:-2] + "é=:",  # not ASCII
        ":" + BASE64[:10] + " " + BASE64[10:] + ":",  # a space inside
        OFFER + OFFER,
        "::",
        ":" * 46,
        ":" + "=" * 44 + ":",
        OFFER * 200,
    ],
)
def test_parse_available_dictionary_ignores_malformed_values(value: str) -> None:
    assert parse_available_dictionary(value) is None


def test_parse_available_dictionary_of_none_is_none() -> None:
    assert parse_available_dictionary(None) is None


@given(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=80))
def test_parse_available_dictionary_never_raises(value: str) -> None:
    parsed = parse_available_dictionary(value)
    assert parsed is None or len(parsed) == 32


@given(st.binary(min_size=32, max_size=32))
def test_parse_available_dictionary_reads_what_a_client_sends(digest: bytes) -> None:
    assert parse_available_dictionary(":" + base64.b64encode(digest).decode("ascii") + ":") == digest


@pytest.mark.parametrize(
    "hostile",
    [
        ":" + "A" * (SIZE - 2) + ":",
        " " * (SIZE - len(OFFER)) + OFFER,
        (OFFER + ",") * (SIZE // (len(OFFER) + 1)),
        ":" * SIZE,
        "A" * SIZE,
    ],
    ids=["long binary", "spaces then a value", "a list", "colons", "letters"],
)
def test_parse_available_dictionary_costs_no_more_on_8_kib(hostile: str) -> None:
    assert_costs_like_normal(parse_available_dictionary, hostile, OFFER)


def test_sf_string_escapes_quotes_and_backslashes() -> None:
    # RFC 8941 §4.1.6: "\" and DQUOTE are escaped with "\".
    assert sf_string('a"b\\c') == '"a\\"b\\\\c"'


@pytest.mark.parametrize("text", ["é", "a\nb", "\x7f", "tab\t"])
def test_sf_string_refuses_what_it_cannot_hold(text: str) -> None:
    with pytest.raises(ValueError, match="sf-string"):
        sf_string(text)


def test_format_use_as_dictionary_match_only() -> None:
    assert format_use_as_dictionary("app.*.js") == 'match="app.*.js"'


def test_format_use_as_dictionary_with_destinations_and_id() -> None:
    value = format_use_as_dictionary("/a/*", match_dest=("script", "style"), id="v1")
    assert value == 'match="/a/*", match-dest=("script" "style"), id="v1"'


HEX = "3f2a1b9c0d4e"


@pytest.mark.parametrize(
    ("url", "pattern"),
    [
        (f"/static/app.{HEX}.js", "app.*.js"),  # relative: resolved against the file's own URL
        (f"/static/app.min.{HEX}.js", "app.min.*.js"),
        (f"/LICENSE.{HEX}", "LICENSE.*"),
        (f"/css/a(b).{HEX}.css", "a\\(b\\).*.css"),  # URL Pattern group syntax escaped
        (f"/x/a+b:c{{d}}?.{HEX}.js", "a\\+b\\:c%7Bd%7D%3F.*.js"),  # "{" "}" "?" are percent-encoded first
        (f"/é/ü.{HEX}.css", "%C3%BC.*.css"),
        (f"/static/{HEX}.{HEX}.js", f"{HEX}.*.js"),  # only the hash before the extension
    ],
)
def test_match_pattern_puts_a_wildcard_for_the_hash(url: str, pattern: str) -> None:
    assert match_pattern(url, HEX) == pattern


@pytest.mark.parametrize("url", ["/static/app.js", f"/static/app.{HEX}x.js", f"/static/{HEX}.js", f"/{HEX}.a.b"])
def test_match_pattern_of_a_name_without_the_hash_is_none(url: str) -> None:
    assert match_pattern(url, HEX) is None


# -- building ---------------------------------------------------------------------------------------


def _library(version: int) -> str:
    """A script most of whose bytes stay the same from one version to the next, as a library's do."""
    body = "\n".join(f"export function helper{i}(value) {{ return value * {i} + {i * 7 % 13}; }}" for i in range(600))
    return f"/* library version {version} */\n{body}\nexport const VERSION = {version};\n"


def _build(source: Path, dest: Path, version: int, **options: Any) -> dict[str, Any]:
    (source / "app.js").parent.mkdir(parents=True, exist_ok=True)
    (source / "app.js").write_text(_library(version))
    (source / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    options.setdefault("dictionaries", True)
    build(source, dest, jobs=1, now=1_000_000 + 100 * version, **options)
    manifest: dict[str, Any] = json.loads((dest / "staticwrap.json").read_text())
    return manifest


def _decode(delta: bytes, dictionary: bytes) -> bytes:
    raw = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    decoded: bytes = zstandard.ZstdDecompressor(dict_data=raw).decompressobj().decompress(delta[40:])
    return decoded


def _delta_path(dest: Path, target: str, dictionary: bytes) -> Path:
    return dest / f"{target}.{hashlib.sha256(dictionary).hexdigest()[:12]}.dcz"


def test_build_writes_a_delta_that_decodes_with_the_earlier_version(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    first = _build(source, dest, 1)["files"]["app.js"]["hashed"]
    second = _build(source, dest, 2)["files"]["app.js"]["hashed"]
    old, new = (dest / first).read_bytes(), (dest / second).read_bytes()
    delta = _delta_path(dest, second, old).read_bytes()
    # RFC 9842 §5.2: a zstd skippable frame (magic 0x184D2A5E, length 32), then the dictionary's SHA-256.
    assert struct.unpack("<II", delta[:8]) == (0x184D2A5E, 32)
    assert delta[8:40] == hashlib.sha256(old).digest()
    assert _decode(delta, old) == new
    params = zstandard.get_frame_parameters(delta[40:])
    assert params.window_size <= max(8 * 1024 * 1024, len(old) * 5 // 4)
    assert params.dict_id == 0  # a raw-content dictionary has no ID
    # Far smaller than even the brotli variant of the new file.
    assert len(delta) * 4 < (dest / (second + ".br")).stat().st_size


def test_build_lists_the_delta_in_the_manifest(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    first = _build(source, dest, 1)["files"]["app.js"]["hashed"]
    record = _build(source, dest, 2)["files"]["app.js"]
    old = (dest / first).read_bytes()
    delta = _delta_path(dest, record["hashed"], old).read_bytes()
    assert record["dictionaries"] == {
        hashlib.sha256(old).hexdigest(): {"dictionary": first, "size": len(delta), "etag": content_tag(delta)}
    }
    assert read_manifest(str(dest)).files["app.js"].dictionaries[hashlib.sha256(old).hexdigest()].dictionary == first


def test_build_writes_no_delta_for_files_not_worth_compressing_or_without_history(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    first = _build(source, dest, 1)
    assert "dictionaries" not in first["files"]["app.js"]  # no earlier version
    (source / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 5)
    second = _build(source, dest, 2)
    assert "dictionaries" not in second["files"]["logo.png"]
    app_delta = f"{second['files']['app.js']['hashed']}.{_sha_hex(dest / first['files']['app.js']['hashed'])}.dcz"
    assert sorted(path.name for path in dest.glob("*.dcz")) == [app_delta]


def _sha_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_build_keeps_no_delta_that_saves_too_little(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    source.mkdir()
    (source / "data.txt").write_bytes(os.urandom(3000).hex().encode())
    build(source, dest, jobs=1, dictionaries=True, now=1_000_000)
    (source / "data.txt").write_bytes(os.urandom(3000).hex().encode())  # nothing in common with the first
    build(source, dest, jobs=1, dictionaries=True, now=1_000_100)
    assert not list(dest.glob("*.dcz"))
    assert "dictionaries" not in json.loads((dest / "staticwrap.json").read_text())["files"]["data.txt"]


def test_build_writes_a_delta_per_kept_earlier_version(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    names = [_build(source, dest, version)["files"]["app.js"]["hashed"] for version in (1, 2, 3)]
    newest = json.loads((dest / "staticwrap.json").read_text())["files"]["app.js"]
    expected = {hashlib.sha256((dest / name).read_bytes()).hexdigest(): name for name in names[:2]}
    assert {key: value["dictionary"] for key, value in newest["dictionaries"].items()} == expected
    for name in names[:2]:
        old = (dest / name).read_bytes()
        assert _decode(_delta_path(dest, names[2], old).read_bytes(), old) == (dest / names[2]).read_bytes()


def test_build_removes_deltas_whose_dictionary_or_target_is_dropped(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    names = [_build(source, dest, version, keep=2, keep_for="0")["files"]["app.js"]["hashed"] for version in (1, 2, 3)]
    # keep=2: generations 2 and 3 stay; version 1 went, and with it the delta of 2 against it.
    assert not (dest / names[0]).exists()
    left = sorted(path.name for path in dest.glob("*.dcz"))
    assert left == [f"{names[2]}.{_sha_hex(dest / names[1])}.dcz"]
    manifest = json.loads((dest / "staticwrap.json").read_text())
    assert "dictionaries" not in manifest["previous"][0]["files"]["app.js"]
    # The next build drops generation 2: the delta of 3 against 2 goes; 4 gets one against 3.
    _build(source, dest, 4, keep=2, keep_for="0")
    fourth = json.loads((dest / "staticwrap.json").read_text())["files"]["app.js"]["hashed"]
    assert sorted(path.name for path in dest.glob("*.dcz")) == [f"{fourth}.{_sha_hex(dest / names[2])}.dcz"]


def test_build_without_dictionaries_removes_every_delta(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    _build(source, dest, 1)
    _build(source, dest, 2)
    assert list(dest.glob("*.dcz"))
    manifest = _build(source, dest, 3, dictionaries=False)
    assert not list(dest.glob("*.dcz"))
    assert "dictionaries" not in json.dumps(manifest)


def test_rebuilding_unchanged_keeps_the_delta_and_the_manifest(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    _build(source, dest, 1)
    _build(source, dest, 2)
    (delta,) = dest.glob("*.dcz")
    before = (delta.stat().st_mtime_ns, delta.stat().st_ino, (dest / "staticwrap.json").read_bytes())
    _build(source, dest, 2)
    assert (delta.stat().st_mtime_ns, delta.stat().st_ino, (dest / "staticwrap.json").read_bytes()) == before


def test_a_manifest_without_dictionaries_still_loads(tmp_path: Path) -> None:
    (tmp_path / "app.0123456789ab.js").write_text("x")
    (tmp_path / "staticwrap.json").write_text(
        json.dumps({"version": 2, "built": 5, "files": {"app.js": {"hashed": "app.0123456789ab.js"}}})
    )
    assert read_manifest(str(tmp_path)).files["app.js"].dictionaries == {}


@pytest.mark.parametrize(
    "dictionaries",
    [
        {"abc": {"dictionary": "a.js", "size": 1, "etag": "x"}},
        {"a" * 64: {"dictionary": "../a.js", "size": 1, "etag": "x"}},
        {"a" * 64: {"size": 1, "etag": "x"}},
    ],
)
def test_a_manifest_with_a_bad_delta_record_is_refused(tmp_path: Path, dictionaries: dict[str, Any]) -> None:
    record = {"hashed": "app.0123456789ab.js", "dictionaries": dictionaries}
    (tmp_path / "staticwrap.json").write_text(json.dumps({"version": 2, "built": 5, "files": {"app.js": record}}))
    with pytest.raises(ConfigurationError, match=r"staticwrap\.json"):
        read_manifest(str(tmp_path))


def test_build_refuses_a_dictionaries_option_that_is_not_a_bool(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(ConfigurationError, match=r"dictionaries='yes': give True or False"):
        build(tmp_path / "src", tmp_path / "dest", dictionaries="yes")  # type: ignore[arg-type]


def test_cli_build_dictionaries_writes_deltas(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    source.mkdir()
    for version in (1, 2):
        (source / "app.js").write_text(_library(version))
        assert main(["build", "--quiet", "--jobs", "1", "--dictionaries", str(source), str(dest)]) == 0
    assert len(list(dest.glob("*.dcz"))) == 1


# -- serving ----------------------------------------------------------------------------------------

DCZ_ACCEPT = "gzip, deflate, br, zstd, dcz"


class Deployed:
    """Two builds of a site in one DEST, served with dictionaries on."""

    def __init__(self, tmp_path: Path, **options: Any) -> None:
        self.dest = tmp_path / "dest"
        first = _build(tmp_path / "src", self.dest, 1)["files"]["app.js"]["hashed"]
        second = _build(tmp_path / "src", self.dest, 2)["files"]["app.js"]["hashed"]
        self.old_url, self.new_url = "/static/" + first, "/static/" + second
        self.old = (self.dest / first).read_bytes()
        self.new = (self.dest / second).read_bytes()
        self.delta_path = _delta_path(self.dest, second, self.old)
        self.delta = self.delta_path.read_bytes()
        self.offer = ":" + base64.b64encode(hashlib.sha256(self.old).digest()).decode() + ":"
        options.setdefault("dictionaries", True)
        self.app = StaticWrap(None, self.dest, prefix="/static/", **options)

    def get(self, url: str, method: str = "GET", **headers: str) -> Result:
        return call(self.app, url, {name.replace("_", "-"): value for name, value in headers.items()}, method=method)

    def ask(self, **headers: str) -> Result:
        return self.get(self.new_url, Accept_Encoding=DCZ_ACCEPT, Available_Dictionary=self.offer, **headers)


@pytest.fixture
def deployed(tmp_path: Path) -> Deployed:
    return Deployed(tmp_path)


def test_a_client_with_the_dictionary_gets_the_delta(deployed: Deployed) -> None:
    result = deployed.ask()
    assert result.code == 200
    assert result.header("Content-Encoding") == "dcz"
    assert result.header("ETag") == etag_of(deployed.delta)
    assert result.header("Vary") == "Accept-Encoding, Available-Dictionary"
    assert result.header("Content-Length") == str(len(deployed.delta))
    assert result.body == deployed.delta
    assert _decode(result.body, deployed.old) == deployed.new


def test_the_delta_keeps_the_caching_and_dictionary_headers(deployed: Deployed) -> None:
    result = deployed.ask()
    assert result.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert result.header("Use-As-Dictionary") == 'match="app.*.js"'


def test_hashed_files_are_offered_as_dictionaries(deployed: Deployed) -> None:
    for url in (deployed.old_url, deployed.new_url):
        assert deployed.get(url, Accept_Encoding="br").header("Use-As-Dictionary") == 'match="app.*.js"'


def test_logical_names_and_images_are_not_offered_as_dictionaries(deployed: Deployed) -> None:
    assert deployed.get("/static/app.js").header("Use-As-Dictionary") is None
    logo = json.loads((deployed.dest / "staticwrap.json").read_text())["files"]["logo.png"]["hashed"]
    result = deployed.get("/static/" + logo)
    assert result.code == 200
    assert result.header("Use-As-Dictionary") is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept_Encoding": "gzip, br, zstd"},  # dcz not accepted
        {"Accept_Encoding": "gzip, br, zstd, dcz;q=0"},
        {"Accept_Encoding": "*"},  # a wildcard does not announce dcz
    ],
)
def test_without_dcz_accepted_the_answer_is_the_ordinary_one(deployed: Deployed, headers: dict[str, str]) -> None:
    result = deployed.get(deployed.new_url, Available_Dictionary=deployed.offer, **headers)
    assert result.code == 200
    assert result.header("Content-Encoding") in {"br", None}
    assert result.header("Vary") == "Accept-Encoding, Available-Dictionary"
    assert result.header("Content-Encoding") != "dcz"


HOSTILE_OFFERS = [
    ":" + base64.b64encode(hashlib.sha256(b"another file").digest()).decode() + ":",  # unknown dictionary
    "",
    "garbage",
    ":::",
    ":" + "A" * 8000 + ":",
    "\x00\x01",
    "é" * 50,
    ":" + "=" * 44 + ":",
]


@pytest.mark.parametrize("offer", HOSTILE_OFFERS)
def test_unknown_or_malformed_offers_get_the_ordinary_answer(deployed: Deployed, offer: str) -> None:
    result = deployed.get(deployed.new_url, Accept_Encoding=DCZ_ACCEPT, Available_Dictionary=offer)
    assert result.code == 200
    assert result.header("Content-Encoding") == "br"
    assert _brotli_decoded(result.body) == deployed.new


def _brotli_decoded(data: bytes) -> bytes:
    import brotli

    decoded: bytes = brotli.decompress(data)
    return decoded


def test_every_answer_of_a_file_with_a_delta_varies_on_available_dictionary(deployed: Deployed) -> None:
    for accept in (None, "identity", "gzip", "br", "zstd"):
        headers = {} if accept is None else {"Accept_Encoding": accept}
        assert deployed.get(deployed.new_url, **headers).header("Vary") == "Accept-Encoding, Available-Dictionary"
    # The first version has no delta: its answers do not depend on Available-Dictionary.
    assert deployed.get(deployed.old_url, Accept_Encoding="br").header("Vary") == "Accept-Encoding"


def test_the_delta_revalidates_by_its_own_etag(deployed: Deployed) -> None:
    result = deployed.ask(If_None_Match=etag_of(deployed.delta))
    assert result.code == 304
    assert result.header("ETag") == etag_of(deployed.delta)
    assert result.header("Vary") == "Accept-Encoding, Available-Dictionary"
    assert result.body == b""
    # The brotli variant's tag does not match the delta.
    brotli_tag = deployed.get(deployed.new_url, Accept_Encoding="br").header("ETag")
    assert brotli_tag is not None
    assert deployed.ask(If_None_Match=brotli_tag).code == 200


def test_a_range_of_the_delta(deployed: Deployed) -> None:
    result = deployed.ask(Range="bytes=0-39")
    assert result.code == 206
    assert result.header("Content-Range") == f"bytes 0-39/{len(deployed.delta)}"
    assert result.header("Content-Encoding") == "dcz"
    assert result.body == deployed.delta[:40]


def test_head_of_the_delta(deployed: Deployed) -> None:
    result = deployed.get(deployed.new_url, "HEAD", Accept_Encoding=DCZ_ACCEPT, Available_Dictionary=deployed.offer)
    assert result.code == 200
    assert result.header("Content-Length") == str(len(deployed.delta))
    assert result.body == b""


def test_dictionaries_off_serves_no_delta_and_no_dictionary_header(tmp_path: Path) -> None:
    site = Deployed(tmp_path, dictionaries=False)
    result = site.ask()
    assert result.header("Content-Encoding") == "br"
    assert result.header("Use-As-Dictionary") is None
    assert result.header("Vary") == "Accept-Encoding"


def test_the_memory_cache_serves_the_same_delta(tmp_path: Path) -> None:
    site = Deployed(tmp_path, memory_budget=10 * 1024 * 1024)
    first, second = site.ask(), site.ask()
    assert first.body == second.body == site.delta


def test_a_delta_changed_on_disk_is_checked_and_served_when_it_decodes(tmp_path: Path) -> None:
    site = Deployed(tmp_path)
    # Another mtime: the manifest no longer vouches for it, so it is decoded at startup.
    os.utime(site.delta_path, (1_000, 1_000))
    app = StaticWrap(None, site.dest, prefix="/static/", dictionaries=True)
    result = call(app, site.new_url, {"Accept-Encoding": DCZ_ACCEPT, "Available-Dictionary": site.offer})
    assert result.header("Content-Encoding") == "dcz"
    assert result.body == site.delta


def test_a_delta_that_does_not_decode_is_not_served(tmp_path: Path) -> None:
    site = Deployed(tmp_path)
    site.delta_path.write_bytes(site.delta[:40] + b"not zstd at all" + site.delta[55:])
    with pytest.warns(StaticwrapWarning, match="is not served as the dcz delta"):
        app = StaticWrap(None, site.dest, prefix="/static/", dictionaries=True)
    result = call(app, site.new_url, {"Accept-Encoding": DCZ_ACCEPT, "Available-Dictionary": site.offer})
    assert result.header("Content-Encoding") == "br"
    assert result.header("Vary") == "Accept-Encoding"


def test_a_delta_file_is_never_served_at_its_own_url(deployed: Deployed) -> None:
    url = "/static/" + deployed.delta_path.name
    assert url not in deployed.app.files
    assert deployed.get(url).code == 404


def test_available_dictionary_costs_no_more_on_8_kib_through_the_middleware(deployed: Deployed) -> None:
    def serve(offer: str) -> object:
        return call(deployed.app, deployed.new_url, {"Accept-Encoding": DCZ_ACCEPT, "Available-Dictionary": offer})

    assert_costs_like_normal(serve, ":" + "A" * (SIZE - 2) + ":", deployed.offer)


# -- Django -----------------------------------------------------------------------------------------


def test_collectstatic_writes_deltas_with_the_build_setting(tmp_path: Path) -> None:
    pytest.importorskip("django")
    from django.test import override_settings

    from tests.contrib.test_django import collectstatic

    root = tmp_path / "collected"
    names = []
    for version in (1, 2):
        source = tmp_path / f"src{version}"
        source.mkdir()
        (source / "app.js").write_text(_library(version))
        settings = {"jobs": 1, "dictionaries": True}
        with override_settings(STATICFILES_DIRS=[str(source)], STATIC_ROOT=str(root), STATICWRAP={"build": settings}):
            collectstatic()
        names.append(json.loads((root / "staticwrap.json").read_text())["files"]["app.js"]["hashed"])
    old = (root / names[0]).read_bytes()
    assert _decode(_delta_path(root, names[1], old).read_bytes(), old) == (root / names[1]).read_bytes()


def test_a_django_dictionaries_build_setting_that_is_not_a_bool_names_the_setting(tmp_path: Path) -> None:
    pytest.importorskip("django")
    from types import SimpleNamespace

    from staticwrap.django.conf import DjangoConfig

    settings = SimpleNamespace(
        STATICWRAP={"build": {"dictionaries": "yes"}}, DEBUG=False, STATIC_ROOT=str(tmp_path), STATIC_URL="/static/"
    )
    with pytest.raises(
        ConfigurationError, match=r"STATICWRAP\['build'\]\['dictionaries'\] = 'yes': give True or False"
    ):
        DjangoConfig.from_settings(settings)
