"""``python -m bench.collect``: ``collectstatic`` of one source tree with each manifest storage, side by side.

The contenders build the same ``STATICFILES_DIRS`` into their own
``STATIC_ROOT`` in a fresh ``manage.py``-style process each time
(:mod:`bench.collect_settings`):

- staticwrap's ``StaticWrapStorage`` (hashed names, rewritten references,
  manifest with SRI, brotli and gzip variants: the codings WhiteNoise writes);
- WhiteNoise's ``CompressedManifestStaticFilesStorage`` (hashed names,
  rewritten references, brotli and gzip variants);
- Django's ``ManifestStaticFilesStorage`` (hashed names and rewritten
  references, no compression): the floor of what the others do.

A cold build starts from an empty ``STATIC_ROOT``; a rerun builds again with
nothing changed. The rounds are interleaved (the order rotates each round)
and the medians reported, with the ratios the project's targets are about:
WhiteNoise's cold build over staticwrap's (at least 2×), and staticwrap's cold
build over its rerun (at least 10×). CPU time is that of the command and of
every process it started (compression workers included).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import machine

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "collectstatic.md"


@dataclass(frozen=True)
class Storage:
    name: str
    backend: str
    compresses: bool


STATICWRAP = Storage("staticwrap", "staticwrap.django.storage.StaticWrapStorage", True)
WHITENOISE = Storage("WhiteNoise", "whitenoise.storage.CompressedManifestStaticFilesStorage", True)
DJANGO = Storage("Django", "django.contrib.staticfiles.storage.ManifestStaticFilesStorage", False)
STORAGES = (STATICWRAP, WHITENOISE, DJANGO)


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float


@dataclass
class Outcome:
    """The measurements of one storage; ``failure`` when it could not build the tree."""

    cold: list[Run] = field(default_factory=list)
    rerun: list[Run] = field(default_factory=list)
    failure: str | None = None
    files: int = 0
    br_saved: int = 0


_PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


def adopt_orphans() -> None:
    """Become the parent of this process's orphaned descendants, so that their CPU time is counted.

    A compression worker pool may start a server process (multiprocessing's
    forkserver) that its command never waits for: orphaned, its CPU time and
    its workers' would be lost to ``RUSAGE_CHILDREN``. As a subreaper, this
    process adopts it, and :func:`_reap` waits for it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap() -> None:
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def collectstatic(storage: Storage, root: Path, dirs: Sequence[tuple[str, str]]) -> Run:
    """One ``collectstatic --noinput`` in a fresh process; raises RuntimeError with its output on failure.

    The CPU time is that of the command and of every process it started,
    compression workers included (see :func:`adopt_orphans`).
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.collect_settings",
        "BENCH_STORAGE": storage.backend,
        "BENCH_STATIC_ROOT": str(root),
        "BENCH_DIRS": json.dumps(list(dirs)),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    # What the previous build wrote is flushed to disk first: its writeback
    # (and the journal's) would otherwise run during this build, on the same
    # two cores, and charge one contender for another's output.
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "django", "collectstatic", "--noinput", "-v0"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    _reap()  # the adopted descendants, which may outlive the command by a moment
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError((done.stderr or done.stdout).strip().splitlines()[-1][:300])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu)


def _sizes(root: Path) -> tuple[int, int]:
    """(files served, bytes brotli saves over the identity files that have a .br)."""
    files = saved = 0
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix in {".br", ".gz", ".zst"} or path.name.startswith("."):
            continue
        files += 1
        brotli = path.with_name(path.name + ".br")
        if brotli.is_file():
            saved += path.stat().st_size - brotli.stat().st_size
    return files, saved


def run(
    dirs: Sequence[tuple[str, str]],
    workdir: Path,
    *,
    rounds: int,
    storages: Sequence[Storage] = STORAGES,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Outcome]:
    adopt_orphans()
    outcomes = {storage.name: Outcome() for storage in storages}
    for number in range(rounds):
        order = list(storages[number % len(storages) :]) + list(storages[: number % len(storages)])
        for storage in order:
            outcome = outcomes[storage.name]
            if outcome.failure is not None:
                continue
            root = workdir / f"static-root-{storage.name.lower()}"
            shutil.rmtree(root, ignore_errors=True)
            try:
                outcome.cold.append(collectstatic(storage, root, dirs))
                outcome.rerun.append(collectstatic(storage, root, dirs))
            except RuntimeError as error:
                outcome.failure = str(error)
                continue
            outcome.files, outcome.br_saved = _sizes(root)
            progress(
                f"round {number + 1}/{rounds}: {storage.name} cold {outcome.cold[-1].wall:.2f} s, "
                f"rerun {outcome.rerun[-1].wall:.2f} s"
            )
    return outcomes


def _median(runs: Sequence[Run], attribute: str) -> float:
    return float(statistics.median(getattr(run, attribute) for run in runs))


def render(outcomes: dict[str, Outcome], description: str, rounds: int) -> str:
    lines = [
        "# collectstatic: staticwrap, WhiteNoise and Django side by side",
        "",
        description,
        "",
        f"Medians of {rounds} interleaved rounds; each build in a fresh process, after a sync(2) "
        "of what the previous one wrote.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in machine.describe({"Django": machine.package_version("django")})),
        "",
        "| storage | cold build (s) | cold CPU (s) | unchanged rerun (s) | rerun CPU (s) | files | bytes saved by br |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, outcome in outcomes.items():
        if outcome.failure is not None or not outcome.cold:
            lines.append(f"| {name} | failed: {outcome.failure} | | | | | |")
            continue
        lines.append(
            f"| {name} | {_median(outcome.cold, 'wall'):.2f} | {_median(outcome.cold, 'cpu'):.2f} | "
            f"{_median(outcome.rerun, 'wall'):.2f} | {_median(outcome.rerun, 'cpu'):.2f} | "
            f"{outcome.files:,} | {outcome.br_saved:,} |"
        )
    ours, theirs = outcomes.get(STATICWRAP.name), outcomes.get(WHITENOISE.name)
    lines.append("")
    if ours is not None and ours.cold and theirs is not None and theirs.cold:
        ratio = _median(theirs.cold, "wall") / _median(ours.cold, "wall")
        lines.append(f"- WhiteNoise cold ÷ staticwrap cold: **{ratio:.2f}×** (target: at least 2×)")
        cpu = _median(theirs.cold, "cpu") / _median(ours.cold, "cpu")
        lines.append(f"- WhiteNoise cold CPU ÷ staticwrap cold CPU: {cpu:.2f}× (the work each does, on every core)")
    if ours is not None and ours.cold and ours.rerun:
        ratio = _median(ours.cold, "wall") / _median(ours.rerun, "wall")
        lines.append(f"- staticwrap cold ÷ staticwrap unchanged rerun: **{ratio:.1f}×** (target: at least 10×)")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collect", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round on a small tree: a smoke test")
    parser.add_argument("--output", type=Path, help=f"markdown file to write (default: {RESULTS.relative_to(REPO)})")
    args = parser.parse_args(argv)
    from .corpus_tree import source_dirs  # the packages the corpus test pins and verifies

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    dirs, description = source_dirs(quick=args.quick)
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="staticwrap-bench-collect-") as workdir:
        outcomes = run(dirs, Path(workdir), rounds=rounds, progress=progress)
    text = render(outcomes, description, rounds)
    print(text)
    output = args.output if args.output is not None else (None if args.quick else RESULTS)
    if output is not None:
        output.write_text(text)
    failure = outcomes[STATICWRAP.name].failure
    if failure is not None:
        print(f"staticwrap failed: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
