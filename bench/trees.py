"""The generated file trees: a small one for the request scenarios, a large one for startup.

Both are made from a fixed seed, so every run (and every machine) serves the
same bytes. A tree is kept in the work directory with a stamp of the
parameters that made it, and made again only when they change.

* The request tree: ``static/small.css`` (1 KiB, no sibling), ``static/app.js``
  (30 KiB of script-like text, with ``.br`` and ``.gz`` siblings made with
  brotli 11 and gzip 9), and ``static/large.bin`` (20 MiB of random bytes).
* The startup tree: ``count`` files in directories by kind (scripts, styles,
  images, fonts, data, pages), sizes drawn from a log-normal distribution per
  kind, and a third of the files (all of them text) with ``.gz`` and ``.br``
  siblings. ``staticwrap build --hashed-only`` of it gives the built tree with
  its ``staticwrap.json``.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import brotli

SMALL_SIZE = 1024
SCRIPT_SIZE = 30 * 1024
LARGE_SIZE = 20 * 1024 * 1024
SEED = 5
# Raise when the generators change, so that cached trees are made again.
GENERATOR_VERSION = 1

# A vocabulary with nothing a build would read as a reference (no url(), import, require).
_VOCABULARY = (
    "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega value count index item list "
    "render update state props node child parent width height color margin border padding layout grid "
    "flex block inline hidden visible active button input label form table row cell header footer"
)
_WORDS = _VOCABULARY.split()


@dataclass(frozen=True)
class Kind:
    """A kind of file in the startup tree."""

    directory: str
    extension: str
    weight: int
    median_size: int
    text: bool


_KINDS = (
    Kind("js", ".js", 30, 6 * 1024, True),
    Kind("css", ".css", 15, 4 * 1024, True),
    Kind("img", ".svg", 8, 2 * 1024, True),
    Kind("data", ".json", 5, 1024, True),
    Kind("pages", ".html", 7, 8 * 1024, True),
    Kind("img", ".png", 20, 12 * 1024, False),
    Kind("img", ".jpg", 10, 40 * 1024, False),
    Kind("fonts", ".woff2", 5, 30 * 1024, False),
)
_SIGMA = 1.0
_MIN_SIZE, _MAX_SIZE = 64, 1024 * 1024
_DIRECTORIES_PER_KIND = 40


def script_text(rng: random.Random, size: int) -> bytes:
    """Script-like ASCII text of exactly ``size`` bytes, about as compressible as real code."""
    lines: list[str] = []
    total = 0
    while total < size:
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 9)))
        line = f'const {rng.choice(_WORDS)}{rng.randint(0, 999)} = "{words}";\n'
        lines.append(line)
        total += len(line)
    return "".join(lines).encode("ascii")[:size]


def _fresh(directory: Path, stamp: str) -> bool:
    marker = directory / ".bench-stamp"
    return marker.is_file() and marker.read_text() == stamp


def _mark(directory: Path, stamp: str) -> None:
    (directory / ".bench-stamp").write_text(stamp)


def request_tree(workdir: Path) -> Path:
    """The directory served at ``/static/`` in the request scenarios (made if needed)."""
    top = workdir / "request"
    stamp = f"request v{GENERATOR_VERSION}"
    static = top / "static"
    if _fresh(top, stamp):
        return static
    shutil.rmtree(top, ignore_errors=True)
    static.mkdir(parents=True)
    rng = random.Random(SEED)
    (static / "small.css").write_bytes(script_text(rng, SMALL_SIZE))
    script = script_text(rng, SCRIPT_SIZE)
    (static / "app.js").write_bytes(script)
    (static / "app.js.br").write_bytes(brotli.compress(script, quality=11))
    (static / "app.js.gz").write_bytes(gzip.compress(script, compresslevel=9, mtime=0))
    (static / "large.bin").write_bytes(rng.randbytes(LARGE_SIZE))
    _mark(top, stamp)
    return static


@dataclass(frozen=True)
class StartupTrees:
    """The source tree (``count`` files, a third with siblings) and its staticwrap build."""

    source: Path
    #: ``None`` when the build failed (``build_problem`` says why).
    built: Path | None
    count: int
    #: Seconds ``staticwrap build`` took, or ``None`` if the built tree came from the cache.
    build_seconds: float | None
    build_problem: str | None = None


def startup_trees(workdir: Path, count: int) -> StartupTrees:
    """The trees of the startup section (made if needed)."""
    top = workdir / f"startup-{count}"
    source, built = top / "source", top / "built"
    stamp = json.dumps({"count": count, "version": GENERATOR_VERSION, "staticwrap": _staticwrap_version()})
    if _fresh(top, stamp):
        return StartupTrees(source, built, count, None)
    shutil.rmtree(top, ignore_errors=True)
    source.mkdir(parents=True)
    _generate_source(source, count)
    started = time.perf_counter()
    result = subprocess.run(
        [*_BUILD, str(source), str(built)], capture_output=True, text=True, timeout=900, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        # The source rows can still be measured; the built rows say why they cannot.
        problem = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        return StartupTrees(source, None, count, seconds, f"staticwrap build failed: {problem}")
    _mark(top, stamp)
    return StartupTrees(source, built, count, seconds)


_BUILD = [sys.executable, "-m", "staticwrap", "build", "--hashed-only", "--coding", "br", "--coding", "gzip", "--quiet"]


def _staticwrap_version() -> str:
    import staticwrap

    return staticwrap.__version__


def _generate_source(root: Path, count: int) -> None:
    rng = random.Random(SEED)
    text_pool = script_text(rng, 2 * _MAX_SIZE)
    binary_pool = rng.randbytes(2 * _MAX_SIZE)
    kinds = rng.choices(_KINDS, weights=[kind.weight for kind in _KINDS], k=count)
    text_indexes = [index for index, kind in enumerate(kinds) if kind.text]
    with_siblings = set(rng.sample(text_indexes, min(len(text_indexes), count // 3)))
    for index, kind in enumerate(kinds):
        size = int(rng.lognormvariate(0, _SIGMA) * kind.median_size)
        size = max(_MIN_SIZE, min(_MAX_SIZE, size))
        pool = text_pool if kind.text else binary_pool
        start = rng.randrange(len(pool) - size)
        data = pool[start : start + size]
        directory = root / kind.directory / f"d{index % _DIRECTORIES_PER_KIND:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"f{index:05d}{kind.extension}"
        path.write_bytes(data)
        if index in with_siblings:
            Path(f"{path}.gz").write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
            Path(f"{path}.br").write_bytes(brotli.compress(data, quality=5))


def tree_bytes(root: Path) -> tuple[int, int]:
    """The number of files under ``root`` and their total size."""
    files = size = 0
    for directory, _, names in os.walk(root):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(directory, name))
    return files, size
