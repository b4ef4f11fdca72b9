"""``python -m bench [--quick]``: run the sections, print the report, write it to bench/results/.

The full run takes about eleven minutes on a 2-core machine; ``--quick`` takes
seconds (tiny iteration counts, a small startup tree, one short wrk run per
scenario on the sync worker only, and no wrk or nginx if they are missing) so
that CI can keep the benchmark from rotting. The exit status is 1 when a
response of staticwrap failed its check, else 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from . import inprocess, machine, nginx, servers, startup, trees, wire
from .apps import (
    STATICWRAP,
    STATICWRAP_AGAIN,
    STATICWRAP_HASH_CACHE,
    WERKZEUG,
    WHITENOISE,
    WSGI_CONTENDERS,
    Contender,
    available,
)
from .report import Report
from .results import Grid
from .scenarios import BR_30K, HIT_1K, RANGE_20M, WIRE, Scenario

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("inprocess", "wire", "servers", "startup")


@dataclass(frozen=True)
class Mode:
    """The sizes of one kind of run."""

    name: str
    inprocess_rounds: int
    inprocess_target_ms: float
    wire: wire.Settings
    wire_quick: bool
    startup_files: int
    startup_rounds: int
    servers_rounds: int
    servers_bulk_seconds: int


FULL = Mode("full", 7, 120.0, wire.Settings(duration=1, rounds=5), False, 10_000, 3, 4, 2)
QUICK = Mode("quick", 2, 3.0, wire.Settings(duration=1, rounds=1, worker_classes=("sync",)), True, 300, 1, 1, 1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/run", description="Benchmark staticwrap against its peers.")
    parser.add_argument("--quick", action="store_true", help="seconds, tiny counts: a smoke test for CI")
    parser.add_argument(
        "--output", type=Path, help="markdown file to write (default: bench/results/latest.md; none with --quick)"
    )
    parser.add_argument("--workdir", type=Path, help="where the generated trees and server logs go (kept between runs)")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only this section (repeatable)")
    return parser


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {message}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    mode = QUICK if args.quick else FULL
    sections = set(args.only or SECTIONS)
    workdir = args.workdir or Path(tempfile.gettempdir()) / "staticwrap-bench"
    workdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _terminate)
    progress = Progress()

    contenders = [c for c in WSGI_CONTENDERS if available(c)]
    settings = [f"Mode: {mode.name}. Every figure is the median of the rounds; ratios are of medians of this run."]
    if not available(WHITENOISE):
        settings.append("WhiteNoise is not installed: no WhiteNoise column, no ratios to it.")
    tools: dict[str, str] = {}

    progress("making the request tree")
    static_dir = str(trees.request_tree(workdir))
    report = Report("staticwrap benchmark", [], settings)

    if "inprocess" in sections:
        report.in_process = inprocess.run(
            static_dir,
            contenders,
            rounds=mode.inprocess_rounds,
            target_ms=mode.inprocess_target_ms,
            progress=progress,
        )
        report.in_process_contenders = contenders
        settings.append(
            f"In-process: {mode.inprocess_rounds} interleaved rounds, each cell ≈ {mode.inprocess_target_ms:g} ms "
            "of calls; the file_wrapper does not read the file, and is taken by staticwrap for one that keeps to "
            "Content-Length, as Gunicorn's is."
        )

    if "wire" in sections:
        _run_wire(report, mode, contenders, static_dir, workdir, tools, progress)

    if "servers" in sections:
        _run_servers(report, mode, static_dir, workdir, progress)

    if "startup" in sections:
        progress(f"making the startup trees ({mode.startup_files:,} files)")
        startup_trees = trees.startup_trees(workdir, mode.startup_files)
        startup_contenders = [
            c for c in contenders if c.key in {STATICWRAP.key, STATICWRAP_AGAIN.key, WHITENOISE.key, WERKZEUG.key}
        ]
        startup_contenders.insert(2, STATICWRAP_HASH_CACHE)
        report.startup = startup.run(startup_trees, startup_contenders, rounds=mode.startup_rounds, progress=progress)
        report.startup_contenders = startup_contenders
        report.startup_info = _startup_info(startup_trees, mode)

    report.machine = machine.describe(tools)
    report.seconds = time.monotonic() - progress.started
    text = report.render()
    print(text)
    output = args.output if args.output is not None else (None if args.quick else RESULTS / "latest.md")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")
        progress(f"written to {output}")
    return 1 if _staticwrap_wrong(report) else 0


def _run_wire(
    report: Report,
    mode: Mode,
    contenders: list[Contender],
    static_dir: str,
    workdir: Path,
    tools: dict[str, str],
    progress: Progress,
) -> None:
    wrk = wire.wrk_executable()
    if wrk is None:
        report.wire_skipped = "wrk is not installed (bench/run installs it; --quick runs without it)"
        return
    tools["wrk"] = wire.wrk_version(wrk)
    nginx_binary = nginx.executable()
    nginx_pair = None
    if nginx_binary is not None:
        nginx_contender = nginx.contender()
        nginx_pair = (nginx_binary, nginx_contender)
        tools["nginx"] = nginx.version(nginx_binary) + (
            "" if nginx.BROTLI_STATIC_MODULE.is_file() else " (no brotli_static module: br n/a)"
        )
    else:
        report.settings.append("nginx is not installed: no nginx column.")
    wire_contenders = contenders
    scenarios: Sequence[Scenario] = WIRE
    if mode.wire_quick:
        wire_contenders = [c for c in contenders if c.key in {STATICWRAP.key, WHITENOISE.key}]
        scenarios = (HIT_1K, BR_30K, RANGE_20M)
    settings = mode.wire
    report.wire = wire.run(
        static_dir,
        wire_contenders,
        nginx_pair,
        settings=settings,
        workdir=workdir,
        wrk=wrk,
        progress=progress,
        scenarios=scenarios,
    )
    report.wire_contenders = [*wire_contenders, *([nginx_pair[1]] if nginx_pair else [])]
    threads = f" (gthread: {settings.gthread_threads} threads)" if "gthread" in settings.worker_classes else ""
    report.settings.append(
        f"Wire: Gunicorn {', '.join(settings.worker_classes)} with 1 worker{threads}, "
        f"wrk -t{settings.threads} -c{settings.connections} -d{settings.duration}s, "
        f"{settings.rounds} interleaved rounds; CPU is the server's utime+stime (master and worker) per request."
    )


def _run_servers(report: Report, mode: Mode, static_dir: str, workdir: Path, progress: Progress) -> None:
    wrk = wire.wrk_executable()
    if wrk is None:
        return  # the wire section says why
    binary = nginx.executable()
    nginx_pair = (binary, nginx.contender()) if binary is not None else None
    pairs = servers.QUICK_PAIRS if mode.wire_quick else servers.PAIRS
    scenarios = (HIT_1K,) if mode.wire_quick else servers.SCENARIOS
    settings = dataclasses.replace(mode.wire, rounds=mode.servers_rounds, bulk_duration=mode.servers_bulk_seconds)
    report.servers = servers.run(
        static_dir,
        nginx_pair,
        pairs=pairs,
        settings=settings,
        workdir=workdir,
        wrk=wrk,
        progress=progress,
        scenarios=scenarios,
    )
    report.servers_contenders = [pair.contender for pair in pairs] + ([nginx_pair[1]] if nginx_pair else [])
    report.servers_info = [
        f"Each (server, application) pair is its own server, all running at once beside nginx; "
        f"wrk -t{settings.threads} -c{settings.connections} -d{settings.duration}s as in the Gunicorn section "
        f"(-d{settings.bulk_duration}s for the MB/s rows), "
        f"{settings.rounds} interleaved rounds; CPU is the utime+stime of all the server's processes per request.",
        "Commands: `granian --interface wsgi|asgi --workers 2`, `uwsgi --http11-socket --master --processes 2`, "
        "`waitress --threads 4`, `uvicorn --workers 1` (uvloop and httptools installed), Granian's own files with "
        "`--static-path-route /static --static-path-mount DIR` in front of the bare ASGI app; nginx has 1 worker.",
    ]


def _startup_info(startup_trees: trees.StartupTrees, mode: Mode) -> list[str]:
    source_files, source_bytes = trees.tree_bytes(startup_trees.source)
    lines = [
        f"Source tree: {startup_trees.count:,} files served, {source_files:,} on disk with the .gz/.br siblings "
        f"of a third of them, {source_bytes / 1e6:.0f} MB."
    ]
    command = "`staticwrap build --hashed-only --coding br --coding gzip`"
    if startup_trees.built is None:
        lines.append(f"Built tree: {command} of it failed: {startup_trees.build_problem}")
    else:
        built_files, built_bytes = trees.tree_bytes(startup_trees.built)
        made = (
            f"made in {startup_trees.build_seconds:.0f} s this run"
            if startup_trees.build_seconds is not None
            else "reused from an earlier run"
        )
        lines.append(
            f"Built tree: {command} of it, {built_files:,} files, {built_bytes / 1e6:.0f} MB, with staticwrap.json "
            f"({made}). WhiteNoise indexes the same built tree."
        )
    return [
        *lines,
        f"{mode.startup_rounds} interleaved rounds. Index memory: RSS after construction minus before; "
        "peak: VmHWM during construction minus RSS before.",
    ]


def _staticwrap_wrong(report: Report) -> bool:
    grids: list[Grid] = [grid for grid in (report.in_process, report.startup) if grid is not None]
    grids += list(report.wire.values())
    if report.servers is not None:
        grids.append(report.servers)
        keys = {STATICWRAP.key, STATICWRAP_AGAIN.key, servers.STATICWRAP_ASGI}
        if any(contender.rsplit("/", 1)[-1] in keys for _, contender in report.servers.wrong()):
            return True
    return any(contender in {STATICWRAP.key, STATICWRAP_AGAIN.key} for grid in grids for _, contender in grid.wrong())
