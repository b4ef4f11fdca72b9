"""Asset manifests (staticwrap/manifest.py): hashed names listed there are immutable.

HTTP.md rule 30: content-hashed names, from the manifest or from their shape,
get ``Cache-Control: public, max-age=31536000, immutable`` (RFC 8246).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from staticwrap import ConfigurationError, StaticWrap
from staticwrap.asset import Asset
from staticwrap.manifest import read_manifest
from tests.conftest import write

# RFC 9111 §5.2.2.1 max-age in seconds: one year of 365 days.
IMMUTABLE = f"public, max-age={365 * 24 * 60 * 60}, immutable"
SHORT = "public, max-age=60"  # the default max_age


def cache_control(app: StaticWrap, url: str) -> str | None:
    entry = app.files[url]
    assert isinstance(entry, Asset)
    values = [value for name, value in entry.identity.ok_headers if name == "Cache-Control"]
    assert len(values) <= 1
    return values[0] if values else None


def staticwrap_manifest(files: dict[str, str]) -> str:
    return json.dumps({"version": 1, "files": {name: {"hashed": hashed} for name, hashed in files.items()}})


def django_manifest(paths: dict[str, str]) -> str:
    return json.dumps({"version": "1.1", "paths": paths, "hash": "0123456789ab"})


def test_manifest_staticwrap_json_makes_hashed_name_immutable(tmp_path: Path) -> None:
    write(tmp_path, "staticwrap.json", staticwrap_manifest({"app.css": "app.v2.css"}))
    write(tmp_path, "app.css", "body {}")
    write(tmp_path, "app.v2.css", "body {}")
    app = StaticWrap(None, tmp_path)
    entry = app.files["/app.v2.css"]
    assert isinstance(entry, Asset)
    assert entry.immutable
    assert cache_control(app, "/app.v2.css") == IMMUTABLE
    # The unhashed name is not content-addressed, so it keeps the short max-age.
    assert cache_control(app, "/app.css") == SHORT


def test_manifest_staticwrap_json_hashed_name_of_the_brief(tmp_path: Path) -> None:
    write(tmp_path, "staticwrap.json", staticwrap_manifest({"app.css": "app.0123abcd.css"}))
    write(tmp_path, "app.0123abcd.css", "body {}")
    assert cache_control(StaticWrap(None, tmp_path), "/app.0123abcd.css") == IMMUTABLE


def test_manifest_names_are_relative_to_root_under_prefix(tmp_path: Path) -> None:
    write(tmp_path, "staticwrap.json", staticwrap_manifest({"css/app.css": "css/app.v2.css"}))
    write(tmp_path, "css/app.v2.css", "body {}")
    write(tmp_path, "app.v2.css", "body {}")  # same base name, not the listed path
    app = StaticWrap(None, tmp_path, prefix="/static/")
    assert cache_control(app, "/static/css/app.v2.css") == IMMUTABLE
    assert cache_control(app, "/static/app.v2.css") == SHORT


def test_manifest_django_staticfiles_json(tmp_path: Path) -> None:
    write(tmp_path, "staticfiles.json", django_manifest({"js/app.js": "js/app.release-2.js"}))
    write(tmp_path, "js/app.js", "1")
    write(tmp_path, "js/app.release-2.js", "1")
    app = StaticWrap(None, tmp_path)
    assert cache_control(app, "/js/app.release-2.js") == IMMUTABLE
    assert cache_control(app, "/js/app.js") == SHORT


def test_manifest_both_formats_are_read(tmp_path: Path) -> None:
    write(tmp_path, "staticwrap.json", staticwrap_manifest({"a.css": "a.v2.css"}))
    write(tmp_path, "staticfiles.json", django_manifest({"b.css": "b.v2.css"}))
    assert set(read_manifest(str(tmp_path)).hashed_names) == {"a.v2.css", "b.v2.css"}


def test_manifest_none_present_gives_no_names(tmp_path: Path) -> None:
    write(tmp_path, "app.css", "body {}")
    assert set(read_manifest(str(tmp_path)).hashed_names) == set()


def test_manifest_immutable_false_disables_manifest_names(tmp_path: Path) -> None:
    write(tmp_path, "staticwrap.json", staticwrap_manifest({"app.css": "app.v2.css"}))
    write(tmp_path, "app.v2.css", "body {}")
    app = StaticWrap(None, tmp_path, immutable=False)
    assert cache_control(app, "/app.v2.css") == SHORT


def test_manifest_names_immutable_whatever_custom_test_says(tmp_path: Path) -> None:
    write(tmp_path, "staticwrap.json", staticwrap_manifest({"app.css": "app.v2.css"}))
    write(tmp_path, "app.v2.css", "body {}")
    app = StaticWrap(None, tmp_path, immutable=lambda url: False)
    assert cache_control(app, "/app.v2.css") == IMMUTABLE


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("staticwrap.json", '{"version": 1, "files": {'),
        ("staticwrap.json", ""),
        ("staticwrap.json", b"\xff\xfe{}".decode("latin-1")),
        ("staticfiles.json", "{'paths': {}}"),
    ],
    ids=["truncated", "empty", "not-utf8", "django-single-quotes"],
)
def test_manifest_malformed_json_raises_naming_file(tmp_path: Path, filename: str, text: str) -> None:
    path = write(tmp_path, filename, text.encode("latin-1"))
    with pytest.raises(ConfigurationError, match=re.escape(str(path))):
        StaticWrap(None, tmp_path)


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("staticwrap.json", {"version": 3, "files": {}}),
        ("staticwrap.json", {"version": 2, "files": {}}),
        ("staticwrap.json", {"version": "1", "files": {}}),
        ("staticwrap.json", {"files": {}}),
        ("staticwrap.json", {"version": 1, "files": ["app.css"]}),
        ("staticwrap.json", {"version": 1, "files": {"app.css": "app.v2.css"}}),
        ("staticwrap.json", []),
        ("staticfiles.json", {"version": "1.1", "paths": ["app.css"]}),
        ("staticfiles.json", {"version": "1.1"}),
        ("staticfiles.json", ["app.css"]),
        ("staticwrap.json", {"version": 1, "files": {"a.css": {"hashed": "a.v2.css", "unkept": {"br": "12"}}}}),
        ("staticwrap.json", {"version": 1, "files": {"a.css": {"hashed": "a.v2.css", "unkept": {"br": True}}}}),
        ("staticwrap.json", {"version": 1, "files": {"a.css": {"hashed": "a.v2.css", "unkept": {"br": -1}}}}),
        ("staticwrap.json", {"version": 1, "files": {"a.css": {"hashed": "a.v2.css", "unkept": ["br"]}}}),
    ],
    ids=[
        "version-3",
        "version-2-without-built",
        "version-string",
        "no-version",
        "files-list",
        "files-flat",
        "top-list",
        "django-paths-list",
        "django-no-paths",
        "django-top-list",
        "unkept-string",
        "unkept-bool",
        "unkept-negative",
        "unkept-list",
    ],
)
def test_manifest_unknown_shape_raises_naming_file(tmp_path: Path, filename: str, data: Any) -> None:
    path = write(tmp_path, filename, json.dumps(data))
    with pytest.raises(ConfigurationError, match=re.escape(str(path))):
        StaticWrap(None, tmp_path)


def test_a_file_replaced_after_startup_is_hashed_not_trusted_to_the_manifest(tmp_path: Path) -> None:
    # The manifest's size, mtime and ETag spare the startup scan only: a file
    # replaced later by one with the same size and mtime (an inode change
    # gives it away) gets the ETag of its own bytes.
    import os

    from tests.conftest import MTIME, call, content_tag

    write(tmp_path, "app.css", "b{}")
    old_tag = content_tag(b"b{}")
    record = {"hashed": "app.css", "size": 3, "mtime": MTIME, "etag": old_tag, "integrity": "sha384-x"}
    (tmp_path / "staticwrap.json").write_text(json.dumps({"version": 1, "files": {"app.css": record}}))
    app = StaticWrap(None, tmp_path, memory_budget=0)
    assert call(app, "/app.css").header("ETag") == f'"{old_tag}"'
    write(tmp_path, "app.new", "i{}")
    os.replace(tmp_path / "app.new", tmp_path / "app.css")
    new_tag = content_tag(b"i{}")
    response = call(app, "/app.css")
    assert (response.body, response.header("ETag")) == (b"i{}", f'"{new_tag}"')
    assert app.integrity("app.css") == "sha384-x"  # what serving keeps of the manifest
