"""The package as installed: metadata, typing marker, public API, entry points."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import subprocess
import sys

import staticwrap


def test_package_ships_py_typed() -> None:
    # PEP 561: without the marker, users' type checkers ignore our annotations.
    assert importlib.resources.files("staticwrap").joinpath("py.typed").is_file()


def test_version_matches_metadata() -> None:
    assert importlib.metadata.version("staticwrap") == staticwrap.__version__


def test_public_api_is_exported() -> None:
    for name in staticwrap.__all__:
        assert hasattr(staticwrap, name), name


def test_console_script_is_declared() -> None:
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert any(ep.name == "staticwrap" and ep.value == "staticwrap.cli:main" for ep in scripts)


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "staticwrap", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"staticwrap {staticwrap.__version__}")
