"""What the run ran on: the CPU, the cores, Python, and the version of every contender and tool."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def checkout() -> str:
    """The commit of the checkout measured, and whether staticwrap's files differ from it."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--", "staticwrap")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{commit}" + (" with uncommitted changes to staticwrap/" if changed else " (clean)")


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True)
    return result.stdout.strip()


def describe(tools: dict[str, str]) -> list[tuple[str, str]]:
    """(label, value) pairs for the machine table; ``tools`` adds nginx and wrk when used."""
    return [
        ("CPU", f"{cpu_model()}, {cores()} cores available ({os.cpu_count()} online)"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("staticwrap", f"{package_version('staticwrap')}, checkout {checkout()}"),
        ("WhiteNoise", package_version("whitenoise")),
        ("Werkzeug", package_version("werkzeug")),
        ("Gunicorn", package_version("gunicorn")),
        ("brotli", package_version("brotli")),
        *tools.items(),
    ]
