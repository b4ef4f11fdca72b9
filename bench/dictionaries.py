"""Bytes on the wire with compression dictionaries (RFC 9842): ``python -m bench.dictionaries``.

For two consecutive releases of real libraries from the package corpus
(tests/corpus.py; the earlier release is pinned here the same way, by the
registry's integrity, and fetched with ``npm pack``), the main files of the
earlier release are built, then those of the later one into the same DEST
with ``dictionaries=True``, as two deploys. The later files are then asked
for, in process, through :class:`~staticwrap.StaticWrap` as a browser would:
with no coding (identity), with ``br``, with ``zstd``, and with ``dcz`` and
the earlier file in ``Available-Dictionary``. The table gives the
Content-Length of each answer, and the delta's size as a fraction of br and
zstd. Results go to ``bench/results/dictionaries.md``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from staticwrap import StaticWrap
from staticwrap.build import build
from staticwrap.deltas import MAX_DELTA_RATIO
from tests.conftest import call
from tests.corpus import NPM, PACKAGES, Package, source_of

RESULTS = Path(__file__).parent / "results" / "dictionaries.md"


@dataclass(frozen=True)
class Pair:
    """Two consecutive releases of one library, and the files of it to measure (relative to its SRC)."""

    earlier: Package
    later: Package
    files: tuple[str, ...]


def _corpus(name: str, version: str) -> Package:
    return next(package for package in PACKAGES if (package.name, package.version) == (name, version))


def _earlier(later: Package, version: str, integrity: str) -> Package:
    return Package(NPM, later.name, version, integrity, later.src, f"the release before {later.version}")


_BOOTSTRAP = _corpus("bootstrap", "5.3.8")
_LEAFLET = _corpus("leaflet", "1.9.4")

PAIRS = (
    Pair(
        _earlier(
            _BOOTSTRAP,
            "5.3.7",
            "sha512-7KgiD8UHjfcPBHEpDNg+zGz8L3LqR3GVwqZiBRFX04a1BCArZOz1r2kjly2HQ0WokqTO0v1nF+QAt8dsW4lKlw==",
        ),
        _BOOTSTRAP,
        ("js/bootstrap.bundle.min.js", "css/bootstrap.min.css", "js/bootstrap.esm.js"),
    ),
    Pair(
        _earlier(
            _LEAFLET,
            "1.9.3",
            "sha512-iB2cR9vAkDOu5l3HAay2obcUHZ7xwUBBjph8+PGtmW/2lYhbLizWtG7nTeYht36WfOslixQF9D/uSIzhZgGMfQ==",
        ),
        _LEAFLET,
        ("leaflet.js", "leaflet.css", "leaflet-src.esm.js"),
    ),
)

ACCEPTS = {"identity": "identity", "br": "br", "zstd": "zstd", "dcz": "gzip, deflate, br, zstd, dcz"}


def _copy(src: Path, names: tuple[str, ...], into: Path) -> None:
    """Copy the measured files and their source maps (which their last line names), as a site vendors them."""
    if into.exists():
        shutil.rmtree(into)
    for name in names:
        for path in (src / name, src / (name + ".map")):
            if path.is_file():
                target = into / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def measure(pair: Pair, work: Path) -> list[tuple[str, dict[str, int | None]]]:
    """The Content-Length of each answer for each file of the later release: identity, br, zstd, dcz."""
    source, dest = work / "src", work / "dest"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # references to files a release does not ship
        _copy(source_of(pair.earlier), pair.files, source)
        earlier = build(source, dest, strict=False, dictionaries=True, now=1_000_000).manifest
        _copy(source_of(pair.later), pair.files, source)
        later = build(source, dest, strict=False, dictionaries=True, now=1_000_100).manifest
    app = StaticWrap(None, dest, dictionaries=True)
    rows = []
    for name in pair.files:
        old = (dest / earlier.files[name].hashed).read_bytes()
        offer = ":" + base64.b64encode(hashlib.sha256(old).digest()).decode("ascii") + ":"
        url = "/" + later.files[name].hashed
        sizes: dict[str, int | None] = {}
        for label, accept in ACCEPTS.items():
            headers = {"Accept-Encoding": accept}
            if label == "dcz":
                headers["Available-Dictionary"] = offer
            result = call(app, url, headers)
            coding = result.header("Content-Encoding") or "identity"
            sizes[label] = len(result.body) if coding == label else None
        rows.append((name, sizes))
    return rows


def _cell(size: int | None) -> str:
    return "—" if size is None else f"{size:,}"


def _ratio(part: int | None, whole: int | None) -> str:
    return "—" if part is None or not whole else f"{part / whole:.3f}"


def report(results: list[tuple[Pair, list[tuple[str, dict[str, int | None]]]]]) -> str:
    lines = [
        "# Compression dictionaries: bytes on the wire",
        "",
        "Made by `python -m bench.dictionaries`. Each later release is built into the DEST of the earlier",
        "one with `dictionaries=True` (two deploys), then asked for through StaticWrap in process. The",
        "figures are Content-Length of the body sent; `dcz` is the answer to a browser that holds the",
        "earlier file (Available-Dictionary) and accepts dcz. A `—` in dcz means the build kept no delta",
        f"(the rule keeps one only at most {MAX_DELTA_RATIO} of the smallest ordinary answer). Sizes",
        "depend only on the files and the encoders, not on the machine.",
        "",
        "| release | file | identity | br | zstd | dcz | dcz / br | dcz / zstd |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for pair, rows in results:
        release = f"{pair.later.name} {pair.earlier.version} → {pair.later.version}"
        for name, sizes in rows:
            lines.append(
                f"| {release} | {name} | {_cell(sizes['identity'])} | {_cell(sizes['br'])} | "
                f"{_cell(sizes['zstd'])} | {_cell(sizes['dcz'])} | {_ratio(sizes['dcz'], sizes['br'])} | "
                f"{_ratio(sizes['dcz'], sizes['zstd'])} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dictionaries", description=__doc__)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table (default: %(default)s)")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="staticwrap-dictionaries-") as scratch:
        for index, pair in enumerate(PAIRS):
            work = Path(scratch) / str(index)
            work.mkdir()
            results.append((pair, measure(pair, work)))
    text = report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
