"""``staticwrap build`` on the corpus of real packages (tests/corpus.py), then served and crawled.

For each pinned release: the strict build succeeds, or stops on the package's
genuinely broken reference and ``--no-strict`` builds it with a warning naming
exactly the references listed in the corpus. The built tree is then served by
StaticWrap and crawled: every reference the build rewrote (found by parsing
the source and the built file alike, and comparing) resolves, as a browser
resolves it against the URL of the file, to a hashed name that answers 200
with the bytes of the file the original reference named; every variant
decodes to its original; hashed names are immutable; a rerun writes nothing.

Marked ``slow``: ``pytest -m "not slow"`` leaves it out locally. CI runs it.
Without a registry it is skipped locally, and fails in CI (``CI=true``).
"""

from __future__ import annotations

import ast
import base64
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import brotli
import pytest
import zstandard

from staticwrap import StaticWrap
from staticwrap.build import BuildError, BuildResult, build
from staticwrap.errors import StaticwrapWarning
from tests import corpus
from tests.conftest import downstream, make_environ
from tests.corpus import PACKAGES, Package, reference_values

DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "br": brotli.decompress,
    "gzip": gzip.decompress,
    # stream_reader: a frame need not carry its content size.
    "zstd": lambda data: zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read(),
}
ORIGIN = "http://corpus.test/"
ONE_YEAR_IMMUTABLE = "public, max-age=31536000, immutable"

_MISSING_WARNING = re.compile(
    r"(?:staticwrap: )?(?P<path>.+?):\d+: (?P<value>'.*'|\".*\") refers to '.*', which is not in "
)
_NOT_JSON_WARNING = re.compile(r"(?P<path>.+) is not valid JSON; copied as it is")


def source_tree(package: Package) -> Path:
    """The package's SRC; skipped locally (failed in CI) when the registry cannot be reached."""
    try:
        return corpus.source_of(package)
    except corpus.FetchError as error:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must fetch the corpus: {error}")
        pytest.skip(f"the package registries cannot be reached: {error}")


# -- what a build reports about broken references ------------------------------------------


def reported(messages: Iterable[str], src: Path) -> set[tuple[str, str]]:
    """(file relative to SRC, reference) for each message; a message of another form is kept whole."""
    found = set()
    for message in messages:
        if match := _MISSING_WARNING.match(message):
            found.add((os.path.relpath(match["path"], src), ast.literal_eval(match["value"])))
        elif match := _NOT_JSON_WARNING.match(message):
            found.add((os.path.relpath(match["path"], src), ""))
        else:
            found.add(("unexpected message", message))
    return found


def build_as_documented(package: Package, src: Path, dest: Path) -> BuildResult:
    """Build strictly; for a package with broken references, check the strict failure, then build with warnings."""
    expected = {(b.file, b.reference) for b in package.broken}
    missing = {item for item in expected if item[1]}
    strict = not missing
    if missing:
        with pytest.raises(BuildError) as failure:
            build(src, dest, strict=True, codings=package.codings)
        assert reported([str(failure.value)], src) <= missing, str(failure.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build(src, dest, strict=strict, codings=package.codings)
    messages = [str(w.message) for w in caught if issubclass(w.category, StaticwrapWarning)]
    assert reported(messages, src) == expected
    return result


# -- references: found in the source and in the built file, compared -----------------------


def names_a_file(kind: str, value: str) -> bool:
    """Whether a reference is a path a browser would fetch from this server (a bare import is a package)."""
    if not value or value.startswith(("#", "//")) or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value):
        return False
    return kind != "js-string" or value.startswith(("/", "./", "../"))


def file_url(name: str) -> str:
    return ORIGIN + quote(name)


def name_at(base: str, value: str) -> str:
    """The file name (relative to the root) that ``value``, written in the file at ``base``, names."""
    return unquote(urlsplit(urljoin(file_url(base), value)).path).removeprefix("/")


def expected_hashed(name: str, data: bytes) -> str:
    """A content-hashed name as the issue defines it: 12 hex of the SHA-256 before the last extension."""
    head, slash, base = name.rpartition("/")
    stem, dot, extension = base.rpartition(".")
    tag = hashlib.sha256(data).hexdigest()[:12]
    return head + slash + (f"{stem}.{tag}.{extension}" if dot and stem else f"{base}.{tag}")


# -- serving ---------------------------------------------------------------------------------


def get(app: StaticWrap, name: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``/name`` from the middleware as a server calls it; returns status, headers, body."""
    captured: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, response_headers]
        return lambda data: None

    body_iterable = app(make_environ("/" + name, headers), start_response)
    try:
        body = b"".join(body_iterable)
    finally:
        close = getattr(body_iterable, "close", None)
        if close is not None:
            close()
    return int(captured[0].split()[0]), {k.lower(): v for k, v in captured[1]}, body


def app_records(dest: Path) -> dict[str, Any]:
    """The "files" of DEST's staticwrap.json."""
    files: dict[str, Any] = json.loads((dest / "staticwrap.json").read_text("utf-8"))["files"]
    return files


def crawl(src: Path, dest: Path) -> None:
    """Serve DEST and check every file, variant and rewritten reference."""
    records = app_records(dest)
    app = StaticWrap(downstream, dest)
    for name, record in records.items():
        data = (dest / name).read_bytes()
        hashed = record["hashed"]
        assert hashed == expected_hashed(name, data), name
        status, headers, body = get(app, hashed)
        assert (status, body) == (200, data), hashed
        assert headers["cache-control"] == ONE_YEAR_IMMUTABLE, hashed
        for coding in record.get("variants", {}):
            for url in (hashed, name):
                status, headers, body = get(app, url, {"Accept-Encoding": coding})
                assert (status, headers.get("content-encoding")) == (200, coding), url
                assert DECODERS[coding](body) == data, f"{url} ({coding})"
        check_references(app, dest, records, name, (src / name).read_bytes(), data)


def check_references(
    app: StaticWrap, dest: Path, records: dict[str, Any], name: str, source: bytes, built: bytes
) -> None:
    """Check each reference the build rewrote in ``name``, and that it left none that names a file of the tree."""
    before, after = reference_values(name, source), reference_values(name, built)
    if before is None or after is None:
        assert built == source, f"{name} is neither CSS, JavaScript nor a map, and was changed"
        return
    assert len(before) == len(after), f"{name}: {len(before)} references before the build, {len(after)} after"
    for (kind, old), (_, new) in zip(before, after, strict=True):
        if old == new:
            target = name_at(name, old)
            # A map's source may stay as written (when it would close a cycle); nothing else that
            # names another file of the tree may.
            if kind != "source" and names_a_file(kind, old) and target != name:
                assert target not in records, f"{name}: {old!r} names {target} but was left as written"
            continue
        original = name_at(name, old)
        assert original in records, f"{name}: {old!r} was rewritten, but names no file ({original})"
        # Resolved against the URL the built file is served at, as a browser does.
        requested = name_at(records[name]["hashed"], new)
        assert requested == expected_hashed(original, (dest / original).read_bytes()), f"{name}: {old!r} -> {new!r}"
        status, _, body = get(app, requested)
        assert (status, body) == (200, (dest / original).read_bytes()), f"{name}: {new!r}"


# -- the tests -------------------------------------------------------------------------------


def test_corpus_has_enough_packages_from_both_registries() -> None:
    registries = {package.registry for package in PACKAGES}
    assert len(PACKAGES) >= 25
    assert registries == {corpus.NPM, corpus.PYPI}
    assert len({package.id for package in PACKAGES}) == len(PACKAGES)


def _pinned(registry: str, archive: Path) -> Package:
    """A package pinned, as the registries pin, to the bytes of ``archive``."""
    data = archive.read_bytes()
    if registry == corpus.NPM:
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    else:
        integrity = f"{archive.name} sha256:{hashlib.sha256(data).hexdigest()}"
    return Package(registry, "example", "1.0.0", integrity, "", "a test")


@pytest.mark.parametrize("registry", [corpus.NPM, corpus.PYPI])
def test_corpus_verify_accepts_the_pinned_archive_only(registry: str, tmp_path: Path) -> None:
    archive = tmp_path / "example-1.0.0-py3-none-any.whl"
    archive.write_bytes(b"PK\x03\x04 an archive")
    package = _pinned(registry, archive)
    corpus.verify(package, archive)
    archive.write_bytes(b"PK\x03\x04 an archivE")
    with pytest.raises(corpus.IntegrityError, match="the pin is"):
        corpus.verify(package, archive)


def test_corpus_verify_rejects_another_wheel_file(tmp_path: Path) -> None:
    pinned = tmp_path / "example-1.0.0-py3-none-any.whl"
    pinned.write_bytes(b"wheel")
    other = tmp_path / "example-1.0.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    other.write_bytes(b"wheel")
    with pytest.raises(corpus.IntegrityError, match=re.escape("the pin is for example-1.0.0-py3-none-any.whl")):
        corpus.verify(_pinned(corpus.PYPI, pinned), other)


def test_corpus_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STATICWRAP_CORPUS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert corpus.cache_root() == tmp_path / "xdg" / "staticwrap-corpus"
    monkeypatch.setenv("STATICWRAP_CORPUS_CACHE", str(tmp_path / "mine"))
    assert corpus.cache_root() == tmp_path / "mine"


def test_corpus_cached_tree_is_not_fetched_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATICWRAP_CORPUS_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-clients"))  # npm cannot run
    package = PACKAGES[0]
    with pytest.raises(corpus.FetchError, match="npm pack"):
        corpus.fetch(package)
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no half-fetched tree is left
    tree = tmp_path / "trees" / corpus.cache_key(package)
    (tree / package.src).mkdir(parents=True)
    assert corpus.source_of(package) == tree / package.src


@pytest.mark.slow
@pytest.mark.parametrize("package", PACKAGES, ids=[package.id for package in PACKAGES])
def test_corpus_package_builds_serves_and_rebuilds(package: Package, tmp_path: Path) -> None:
    src = source_tree(package)
    dest = tmp_path / "dest"
    result = build_as_documented(package, src, dest)
    records = app_records(dest)
    assert result.files == len(records)
    crawl(src, dest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StaticwrapWarning)  # the warnings were checked by the first build
        rerun = build(src, dest, strict=not any(b.reference for b in package.broken), codings=package.codings)
    assert (rerun.written, rerun.removed) == (0, 0)
    assert app_records(dest) == records


@pytest.mark.slow
def test_corpus_bootstrap_through_the_cli(tmp_path: Path) -> None:
    (bootstrap,) = (package for package in PACKAGES if package.id == "bootstrap@5.3.8")
    src = source_tree(bootstrap)
    dest = tmp_path / "dest"
    command = [sys.executable, "-m", "staticwrap", "build", "--strict", str(src), str(dest)]
    first = subprocess.run([*command, "--quiet"], capture_output=True, text=True, check=False)
    assert (first.returncode, first.stderr) == (0, "")
    records = app_records(dest)
    # The stylesheet names its map by the map's hashed name.
    built = (dest / "css/bootstrap.min.css").read_bytes()
    map_name = records["css/bootstrap.min.css.map"]["hashed"].rsplit("/", 1)[1]
    assert built.endswith(f"/*# sourceMappingURL={map_name} */".encode())
    assert corpus.rewritten_references(src, dest, records) > 0
    assert set(records["css/bootstrap.css"]["variants"]) == {"br", "zstd", "gzip"}  # the default: every coding
    crawl(src, dest)
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert f"built {len(records)} files: 0 written, {len(records)} unchanged" in again.stdout + again.stderr
