"""Generations: a build keeps the hashed files of earlier builds, so a rolling deploy never answers 404.

Each build here is given its time (``now=``): retention by age is shown with
explicit timestamps, never by sleeping.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from staticwrap import StaticWrap
from staticwrap.build import BuildError, build
from staticwrap.cli import main
from staticwrap.errors import ConfigurationError
from staticwrap.generations import Retention, parse_duration
from staticwrap.manifest import FileRecord, Generation, read_manifest
from staticwrap.resolve import looks_hashed
from tests.conftest import MTIME, call, etag_of, write
from tests.test_build_atomic import run_cli, snapshot
from tests.test_hardening import gunicorn
from tests.test_server import fetch

#: A time for the first build; later builds are given times after it.
T0 = 1_765_000_000
HOUR = 3600
DAY = 24 * HOUR
#: RFC 8246 and HTTP.md rule 30: what every content-hashed name gets.
IMMUTABLE = "public, max-age=31536000, immutable"
LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
OTHER_LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 4


def source(root: Path, version: int, *, logo: bytes = LOGO) -> Path:
    """A source tree whose CSS and JavaScript say ``version``; the logo changes only when asked."""
    write(root, "css/site.css", f"/* version {version} */\nbody {{ background: url(../img/logo.png) }}\n")
    write(root, "js/app.js", f'import {{ util }} from "./util.js";\nexport const version = {version};\n')
    write(root, "js/util.js", "export const util = 1;\n")
    write(root, "img/logo.png", logo)
    return root


def deploy(tmp_path: Path, dest: Path, version: int, when: float, **options: Any) -> dict[str, str]:
    """Build ``version`` into ``dest`` at time ``when``; the logical → hashed names its manifest gives."""
    options.setdefault("jobs", 1)
    build(source(tmp_path / f"src{version}", version, logo=options.pop("logo", LOGO)), dest, now=when, **options)
    return listing(dest)


def listing(dest: Path) -> dict[str, str]:
    files: dict[str, Any] = json.loads((dest / "staticwrap.json").read_text())["files"]
    return {name: record["hashed"] for name, record in files.items()}


def present(dest: Path, names: Iterable[str]) -> dict[str, bool]:
    return {name: (dest / name).is_file() for name in names}


# -- the retention rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90m", 90 * 60),
        ("12h", 12 * 60 * 60),
        ("2d", 2 * 24 * 60 * 60),
        ("30s", 30),
        ("0", 0),
        ("0d", 0),
        (45, 45),
        (1.5, 1.5),
        (timedelta(hours=1, minutes=30), 90 * 60),
    ],
)
def test_parse_duration_accepts(value: str | float | timedelta, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["90", "1.5h", "2 days", "-1d", "", "1w", "d", "01h", True, -5, float("nan")])
def test_parse_duration_refuses_naming_keep_for(value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_duration(value)  # type: ignore[arg-type]
    assert caught.value.option == "keep_for"
    assert str(caught.value).startswith(f"keep_for={value!r}: ")


@pytest.mark.parametrize("keep", [0, -1, True, "3", 2.0])
def test_retention_refuses_a_bad_keep(keep: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Retention.of(keep, "1d")  # type: ignore[arg-type]
    assert caught.value.option == "keep"


def generations(*built: int) -> list[Generation]:
    return [Generation(time, {}) for time in built]


def test_retention_keeps_by_count_while_too_old() -> None:
    # Three earlier builds, retired long ago: keep=3 keeps the two newest beside the new one.
    previous = generations(T0 - 3 * DAY, T0 - 4 * DAY, T0 - 5 * DAY)
    kept = Retention.of(3, "1h").kept(previous, T0 - 2 * DAY, now=T0)
    assert [generation.built for generation in kept] == [T0 - 3 * DAY, T0 - 4 * DAY]


def test_retention_keeps_by_age_beyond_the_count() -> None:
    # Deploys every 10 minutes: with keep=1, those replaced less than an hour ago stay.
    previous = generations(*(T0 - 10 * 60 * n for n in range(1, 10)))
    kept = Retention.of(1, "1h").kept(previous, T0, now=T0)
    # Each generation was retired when the next newer one was built: T0, T0-10min, ..., T0-50min.
    assert [generation.built for generation in kept] == [T0 - 10 * 60 * n for n in range(1, 7)]


def test_retention_counts_age_from_retirement_not_from_building() -> None:
    # Built a month ago, but served until the newest build an hour ago: pages of it are still about.
    kept = Retention.of(1, "1d").kept(generations(T0 - 30 * DAY), T0 - HOUR, now=T0)
    assert [generation.built for generation in kept] == [T0 - 30 * DAY]


def test_retention_one_and_zero_keeps_nothing_earlier() -> None:
    assert Retention.of(1, "0").kept(generations(T0 - 1, T0 - 2), T0, now=T0) == ()


# -- builds into one DEST -----------------------------------------------------------------------


def test_build_keeps_three_generations_by_default_count(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    # Days apart: keep_for (one day by default) keeps none of them; the count does.
    v1 = deploy(tmp_path, dest, 1, T0)
    deploy(tmp_path, dest, 2, T0 + 2 * DAY)
    deploy(tmp_path, dest, 3, T0 + 4 * DAY)
    changed = [v1["css/site.css"], v1["js/app.js"]]
    assert present(dest, changed) == dict.fromkeys(changed, True)
    deploy(tmp_path, dest, 4, T0 + 6 * DAY)
    assert present(dest, changed) == dict.fromkeys(changed, False)
    for name in changed:
        assert not list(dest.glob(name + ".*")), "the variants go with their file"


def test_build_keeps_recent_generations_beyond_the_count(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    v1 = deploy(tmp_path, dest, 1, T0, keep=1, keep_for="1h")
    v2 = deploy(tmp_path, dest, 2, T0 + 10 * 60, keep=1, keep_for="1h")
    v3 = deploy(tmp_path, dest, 3, T0 + 30 * 60, keep=1, keep_for="1h")
    apps = [v1["js/app.js"], v2["js/app.js"], v3["js/app.js"]]
    assert present(dest, apps) == dict.fromkeys(apps, True)
    # v1 was retired at T0+10min, v2 at T0+30min: at T0+1h20min only v2 is within the hour.
    v4 = deploy(tmp_path, dest, 4, T0 + 80 * 60, keep=1, keep_for="1h")
    assert present(dest, [*apps, v4["js/app.js"]]) == {
        apps[0]: False,
        apps[1]: True,
        apps[2]: True,
        v4["js/app.js"]: True,
    }


def test_build_unchanged_file_stays_while_any_kept_generation_lists_it(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    options: dict[str, Any] = {"keep": 2, "keep_for": "0"}
    first_logo = deploy(tmp_path, dest, 1, T0, **options)["img/logo.png"]
    deploy(tmp_path, dest, 2, T0 + 1, **options)
    deploy(tmp_path, dest, 3, T0 + 2, **options)
    # Written by build 1, which is dropped by now; builds 2 and 3 list it too.
    assert (dest / first_logo).read_bytes() == LOGO
    deploy(tmp_path, dest, 4, T0 + 3, logo=OTHER_LOGO, **options)
    assert (dest / first_logo).read_bytes() == LOGO, "build 3, still kept, lists it"
    deploy(tmp_path, dest, 5, T0 + 4, logo=OTHER_LOGO, **options)
    assert not (dest / first_logo).exists()


def test_build_unchanged_rerun_is_not_a_new_generation(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    options: dict[str, Any] = {"keep": 2, "keep_for": "0"}
    v1 = deploy(tmp_path, dest, 1, T0, **options)
    deploy(tmp_path, dest, 2, T0 + 1, **options)
    manifest = (dest / "staticwrap.json").read_bytes()
    for when in (T0 + 2, T0 + 3, T0 + 4):
        build(tmp_path / "src2", dest, now=when, jobs=1, **options)
    assert (dest / v1["js/app.js"]).is_file(), "three reruns of build 2 did not push build 1 out"
    assert (dest / "staticwrap.json").read_bytes() == manifest


def test_build_logical_names_are_the_newest_builds(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    deploy(tmp_path, dest, 1, T0)
    v2 = deploy(tmp_path, dest, 2, T0 + 1)
    assert b"version = 2" in (dest / "js/app.js").read_bytes()
    # A file the newest build does not have loses its logical copy, keeps its hashed one.
    write(tmp_path / "src3", "js/only-in-3.js", "export const three = 3;\n")
    v3 = deploy(tmp_path, dest, 3, T0 + 2)
    deploy(tmp_path, dest, 4, T0 + 3)
    assert not (dest / "js/only-in-3.js").exists()
    assert (dest / v3["js/only-in-3.js"]).is_file()
    assert v2["js/util.js"] == v3["js/util.js"]


def test_build_manifest_records_each_generation(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    v1 = deploy(tmp_path, dest, 1, T0)
    v2 = deploy(tmp_path, dest, 2, T0 + HOUR)
    manifest = read_manifest(str(dest))
    assert manifest.built == T0 + HOUR
    assert [(g.built, {n: r.hashed for n, r in g.files.items()}) for g in manifest.generations] == [
        (T0 + HOUR, v2),
        (T0, v1),
    ]
    assert set(v1.values()) | set(v2.values()) <= manifest.hashed_names
    # Each generation's record describes its own bytes.
    old = manifest.previous[0].files["js/app.js"]
    assert old.size == (dest / v1["js/app.js"]).stat().st_size


def test_build_manifest_keeps_one_line_per_record(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    deploy(tmp_path, dest, 1, T0)
    deploy(tmp_path, dest, 2, T0 + 1)
    lines = (dest / "staticwrap.json").read_text().splitlines()
    # 4 files in each of 2 generations: each on a line of its own.
    assert len([line for line in lines if re.match(r'\s+"(css|js|img)/', line)]) == 8


def test_version_1_manifest_loads_as_one_generation(tmp_path: Path) -> None:
    record = {"hashed": "app.0123456789ab.css", "size": 3}
    path = write(tmp_path, "staticwrap.json", json.dumps({"version": 1, "files": {"app.css": record}}))
    manifest = read_manifest(str(tmp_path))
    assert manifest.built == MTIME  # the file's time: when that build ended
    assert manifest.generations == (Generation(MTIME, {"app.css": FileRecord("app.0123456789ab.css", size=3)}),)
    assert path.is_file()


def test_build_over_a_version_1_dest_keeps_its_files(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    v1 = deploy(tmp_path, dest, 1, T0)
    # DEST as a version-1 build left it: the same files, the manifest of that format.
    manifest = json.loads((dest / "staticwrap.json").read_text())
    manifest["version"] = 1
    del manifest["built"]
    write(dest, "staticwrap.json", json.dumps(manifest), mtime=T0)
    v2 = deploy(tmp_path, dest, 2, T0 + 5 * DAY, keep=2, keep_for="0")
    assert present(dest, [v1["js/app.js"], v2["js/app.js"]]) == {v1["js/app.js"]: True, v2["js/app.js"]: True}
    assert [g.built for g in read_manifest(str(dest)).generations] == [T0 + 5 * DAY, T0]


def test_build_refuses_bad_retention_before_touching_dest(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    deploy(tmp_path, dest, 1, T0)
    before = snapshot(dest)
    with pytest.raises(ConfigurationError, match=r"^keep_for='soon': "):
        build(source(tmp_path / "src2", 2), dest, keep_for="soon", jobs=1)
    with pytest.raises(ConfigurationError, match=r"^keep=0: "):
        build(source(tmp_path / "src2", 2), dest, keep=0, jobs=1)
    assert snapshot(dest) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--keep", "0"], "staticwrap: error: --keep 0: "),
        (["--keep-for", "1.5h"], "staticwrap: error: --keep-for 1.5h: "),
    ],
)
def test_cli_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str) -> None:
    status = main(["build", str(source(tmp_path / "src", 1)), str(tmp_path / "dest"), "--quiet", *args])
    assert status == 2
    assert capsys.readouterr().err.startswith(expected)
    assert not (tmp_path / "dest").exists()


def test_cli_keep_flags_reach_the_build(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    v1 = deploy(tmp_path, dest, 1, T0)
    assert (
        main(["build", str(source(tmp_path / "src2", 2)), str(dest), "--quiet", "--keep", "1", "--keep-for", "0"]) == 0
    )
    assert not (dest / v1["js/app.js"]).exists()


def test_failed_build_leaves_dest_with_its_generations_byte_identical(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    deploy(tmp_path, dest, 1, T0)
    deploy(tmp_path, dest, 2, T0 + DAY)
    before = snapshot(dest)
    broken = source(tmp_path / "src3", 3)
    write(broken, "css/broken.css", "a { background: url(missing.png) }\n")
    with pytest.raises(BuildError):
        build(broken, dest, now=T0 + 9 * DAY, keep=1, keep_for="0", jobs=1)
    assert snapshot(dest) == before


def test_write_failing_half_way_leaves_every_generation_in_place(tmp_path: Path) -> None:
    # A real failure while the new build writes (a file larger than the
    # process may write), in a build that would have dropped both generations.
    dest = tmp_path / "dest"
    deploy(tmp_path, dest, 1, T0)
    deploy(tmp_path, dest, 2, T0 + DAY)
    before = snapshot(dest)
    src = source(tmp_path / "src3", 3)
    write(src, "zz/big.bin", os.urandom(300_000))
    args = ["build", "--quiet", "--jobs", "1", "--keep", "1", "--keep-for", "0", str(src), str(dest)]
    completed = run_cli(args, file_size_limit=200_000)
    assert completed.returncode == 1, completed.stderr
    assert "File too large" in completed.stderr
    assert snapshot(dest) == before


# -- serving every kept generation --------------------------------------------------------------


def spa(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A single-page app's catch-all route: its HTML for every path."""
    body = b"<!doctype html><div id=app></div>"
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def two_builds(tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, str], dict[str, bytes]]:
    """DEST with builds 1 and 2; their names, and every file's bytes as each build wrote it."""
    dest = tmp_path / "dest"
    v1 = deploy(tmp_path, dest, 1, T0)
    data = {name: (dest / name).read_bytes() for name in v1.values()}
    v2 = deploy(tmp_path, dest, 2, T0 + HOUR)
    data.update({name: (dest / name).read_bytes() for name in v2.values()})
    return dest, v1, v2, data


def test_serves_every_kept_generation_with_its_own_bytes_and_etag(
    two_builds: tuple[Path, dict[str, str], dict[str, str], dict[str, bytes]],
) -> None:
    dest, v1, v2, data = two_builds
    app = StaticWrap(spa, dest, prefix="/static/")
    for name in {*v1.values(), *v2.values()}:
        result = call(app, "/static/" + name)
        assert (result.code, result.body) == (200, data[name]), name
        assert result.header("ETag") == etag_of(data[name])
        assert result.header("Cache-Control") == IMMUTABLE
    assert b"version = 1" in data[v1["js/app.js"]]
    assert b"version = 2" in data[v2["js/app.js"]]
    # Build 1's stylesheet still names build 1's logo, which is served.
    assert v1["img/logo.png"].removeprefix("img/") in data[v1["css/site.css"]].decode()


def test_url_and_integrity_give_the_newest(
    two_builds: tuple[Path, dict[str, str], dict[str, str], dict[str, bytes]],
) -> None:
    dest, _, v2, data = two_builds
    app = StaticWrap(spa, dest, prefix="/static/")
    assert app.url("js/app.js") == "/static/" + v2["js/app.js"]
    expected = "sha384-" + base64.b64encode(hashlib.sha384(data[v2["js/app.js"]]).digest()).decode()
    assert app.integrity("js/app.js") == expected


def test_unknown_hashed_name_is_a_404_not_the_app(
    two_builds: tuple[Path, dict[str, str], dict[str, str], dict[str, bytes]],
) -> None:
    app = StaticWrap(spa, two_builds[0], prefix="/static/")
    for method in ("GET", "HEAD"):
        result = call(app, "/static/js/app.0123456789ab.js", method=method)
        assert result.code == 404
        assert result.header("Content-Type") == "text/plain; charset=utf-8"
        assert result.header("Cache-Control") == "no-store"
        assert result.header("X-Content-Type-Options") == "nosniff"
        assert (result.body == b"") == (method == "HEAD")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/static/app.0123456789ab.js", True),
        ("/static/archive.tar.0123456789ab.gz", True),
        ("/static/app.0123456789ab.js/", False),  # a directory URL
        ("/static/app.0123456789ab.js/x", False),
        ("/static/.0123456789ab.js", False),  # no stem
        ("/static/app.0123456789ab.", False),  # no extension
        ("/static/app.0123456789ab", False),  # hashed_name's shape without extension: not guarded
        ("/static/app.0123456789abc.js", False),  # 13 digits
        ("/" + "a.0123456789ab." * 600 + "/", False),  # 9 KiB of near misses
        ("/" + "a.0123456789ab." * 600 + "js", True),
    ],
)
def test_looks_hashed(path: str, expected: bool) -> None:
    assert looks_hashed(path) is expected


@pytest.mark.parametrize(
    "path",
    [
        "/static/js/missing.js",  # not hashed-looking: the application decides
        "/static/js/app.0123456789AB.js",  # upper-case hex is not a name the build writes
        "/static/js/app.0123456789a.js",  # 11 digits
        "/elsewhere/app.0123456789ab.js",  # outside the built root's prefix
    ],
)
def test_other_missing_names_reach_the_app(
    two_builds: tuple[Path, dict[str, str], dict[str, str], dict[str, bytes]], path: str
) -> None:
    app = StaticWrap(spa, two_builds[0], prefix="/static/")
    assert call(app, path).header("Content-Type") == "text/html; charset=utf-8"


def test_unknown_hashed_name_post_reaches_the_app(
    two_builds: tuple[Path, dict[str, str], dict[str, str], dict[str, bytes]],
) -> None:
    app = StaticWrap(spa, two_builds[0], prefix="/static/")
    assert call(app, "/static/js/app.0123456789ab.js", method="POST").code == 200


def test_root_without_a_manifest_does_not_guard_hashed_names(tmp_path: Path) -> None:
    write(tmp_path / "plain", "app.js", "x")
    app = StaticWrap(spa, tmp_path / "plain", prefix="/static/")
    assert call(app, "/static/app.0123456789ab.js").code == 200  # the application's answer


@pytest.mark.server
def test_rolling_deploy_under_gunicorn(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    options: dict[str, Any] = {"keep": 2, "keep_for": "0"}
    v1 = deploy(tmp_path, dest, 1, T0, **options)
    v1_data = {name: (dest / name).read_bytes() for name in v1.values()}

    def check(port: int, names: dict[str, str], data: dict[str, bytes]) -> None:
        for hashed in names.values():
            response = fetch(port, "/static/" + hashed)
            assert (response.status, response.body) == (200, data[hashed]), hashed
            assert response.header("ETag") == etag_of(data[hashed])
            assert response.header("Cache-Control") == IMMUTABLE

    probe = "/static/" + v1["js/util.js"]
    with gunicorn(dest, tmp_path / "old", probe=probe) as old:
        check(old.port, v1, v1_data)
        # The new build lands while the old replica serves build 1's pages.
        v2 = deploy(tmp_path, dest, 2, T0 + 1, **options)
        v2_data = {name: (dest / name).read_bytes() for name in v2.values()}
        check(old.port, v1, v1_data)
        with gunicorn(dest, tmp_path / "new", probe=probe) as new:
            check(new.port, v1, v1_data)  # a page of build 1 asking a new replica
            check(new.port, v2, v2_data)
    deploy(tmp_path, dest, 3, T0 + 2, **options)
    deploy(tmp_path, dest, 4, T0 + 3, **options)
    with gunicorn(dest, tmp_path / "later", probe=probe) as later:
        for logical in ("css/site.css", "js/app.js"):
            response = fetch(later.port, "/static/" + v1[logical])
            # staticwrap's own 404 (the static-only app's has no Cache-Control).
            assert (response.status, response.header("Cache-Control")) == (404, "no-store"), logical
        assert fetch(later.port, probe).status == 200, "unchanged since build 1, listed by every build"


# -- Django -------------------------------------------------------------------------------------


@contextlib.contextmanager
def django_project(tmp_path: Path, **build_options: Any) -> Iterator[Callable[[int], dict[str, str]]]:
    """``collect(version)``: collectstatic of a source tree at ``version`` into one STATIC_ROOT."""
    pytest.importorskip("django")
    from django.test import override_settings

    from tests.contrib.test_django import collectstatic  # Django is optional

    root = tmp_path / "collected"
    with contextlib.ExitStack() as stack:

        def collect(version: int) -> dict[str, str]:
            src = source(tmp_path / f"src{version}", version)
            stack.enter_context(
                override_settings(
                    STATICFILES_DIRS=[str(src)],
                    STATIC_ROOT=str(root),
                    STATICWRAP={"build": {"jobs": 1, **build_options}},
                )
            )
            collectstatic()
            return listing(root)

        yield collect


def test_collectstatic_keeps_generations(tmp_path: Path) -> None:
    with django_project(tmp_path) as collect:
        v1 = collect(1)
        v2 = collect(2)
    root = tmp_path / "collected"
    assert v1["js/app.js"] != v2["js/app.js"]
    assert b"version = 1" in (root / v1["js/app.js"]).read_bytes()
    assert [set(g.files) for g in read_manifest(str(root)).generations] == [set(v2), set(v1)]


def test_collectstatic_keep_settings_reach_the_build(tmp_path: Path) -> None:
    with django_project(tmp_path, keep=1, keep_for="0") as collect:
        v1 = collect(1)
        collect(2)
    assert not (tmp_path / "collected" / v1["js/app.js"]).exists()


def test_collectstatic_bad_keep_for_names_the_setting(tmp_path: Path) -> None:
    pytest.importorskip("django")
    from staticwrap.django.conf import DjangoConfig

    settings = SimpleNamespace(
        STATICWRAP={"build": {"keep_for": "a week"}}, DEBUG=False, STATIC_ROOT=str(tmp_path), STATIC_URL="/static/"
    )
    with pytest.raises(ConfigurationError, match=r"STATICWRAP\['build'\]"):
        DjangoConfig.from_settings(settings)
