"""Startup: the time and memory each contender needs to index the startup tree.

Two trees (:mod:`bench.trees`): the source tree (no manifest: staticwrap
hashes every file and checks every sibling decodes to its original; WhiteNoise
stats them), and ``staticwrap build`` of it, whose ``staticwrap.json`` lets
staticwrap trust the recorded hashes. WhiteNoise indexes the same built tree
with its default scan. Werkzeug's SharedDataMiddleware keeps no index; its
construction time is shown for completeness. "staticwrap, hash cache warm"
is a restart with the ``hash_cache`` option: one unmeasured start writes the
cache beside each tree, and the measured starts read it.

Every measurement runs in a fresh interpreter (:mod:`bench.startup_child`), so
no contender inherits another's page cache of Python objects or memory; the
rounds are interleaved like the other sections, and medians are reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .apps import STATICWRAP_HASH_CACHE, Contender
from .results import Grid, Measured, Skipped
from .trees import StartupTrees

REPO = Path(__file__).resolve().parent.parent
SOURCE, BUILT = "source", "built"


def measure_once(contender: Contender, directory: Path, timeout: float = 600.0) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.startup_child", contender.key, str(directory)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"startup of {contender.name} on {directory} failed:\n{result.stderr[-2000:]}")
    values: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


def run(
    trees: StartupTrees,
    contenders: Sequence[Contender],
    *,
    rounds: int,
    progress: Callable[[str], None] | None = None,
) -> Grid:
    """Grid rows ``"source"`` and ``"built"``; metrics ``ms``, ``index_mb``, ``peak_mb``, ``urls``."""
    grid = Grid()
    directories = {SOURCE: trees.source}
    if trees.built is not None:
        directories[BUILT] = trees.built
    else:
        for contender in contenders:
            grid[BUILT, contender.key] = Skipped(f"wrong: {trees.build_problem}")
    # The hash cache a restart finds: written by one start, not measured.
    for contender in contenders:
        if contender.key == STATICWRAP_HASH_CACHE.key:
            for directory in directories.values():
                measure_once(contender, directory)
    for round_number in range(rounds):
        shift = round_number % len(contenders)
        order = [*contenders[shift:], *contenders[:shift]]
        for row, directory in directories.items():
            for contender in order:
                key = (row, contender.key)
                try:
                    values = measure_once(contender, directory)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    grid[key] = Skipped(f"wrong: {str(error).splitlines()[0]}")
                    continue
                outcome = grid.cells.setdefault(key, Measured())
                if not isinstance(outcome, Measured):
                    continue
                outcome.add(
                    ms=values["seconds"] * 1000,
                    index_mb=values["index_bytes"] / 1e6,
                    peak_mb=values["peak_bytes"] / 1e6,
                )
                if values["urls"] is not None:
                    outcome.add(urls=values["urls"])
                if not values["peak_reset"]:
                    outcome.notes.append("VmHWM could not be reset: the peak includes the imports")
        if progress is not None:
            progress(f"startup round {round_number + 1}/{rounds}")
    return grid
