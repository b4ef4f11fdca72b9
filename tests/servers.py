"""The HTTP servers the wire suite (tests/test_server.py) runs the middleware under.

Each entry is a command line that serves ``tests/apps/gunicorn_app.py``'s
``application`` (the middleware over ``STATICWRAP_TEST_ROOT`` at
``/static/``) on 127.0.0.1 at a given port, started in tests/apps. A server
that needs more than the ``test`` extra names the module it needs in
``requires``: with it missing the server's tests fail, unless
``STATICWRAP_ALLOW_SKIP=1`` lets them be skipped (a developer's machine
without it); CI installs everything and so runs them all.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Launcher:
    """How to start one server: ``argv(port)`` run in tests/apps."""

    argv: Callable[[int], list[str]]
    #: The importable module the server needs, when the test extra lacks it.
    requires: str | None = None
    #: Whether a connection carries more than one request (Gunicorn's sync worker closes it after each).
    keepalive: bool = True


def _gunicorn(worker: str) -> Launcher:
    threads = ["--threads", "4"] if worker == "gthread" else []

    def argv(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            worker,
            *threads,
            "--graceful-timeout",
            "5",
            "--no-control-socket",
            "gunicorn_app:application",
        ]

    return Launcher(argv, keepalive=worker != "sync")


#: name -> launcher; the wire suite runs once per entry.
WSGI_SERVERS: dict[str, Launcher] = {
    "gunicorn-sync": _gunicorn("sync"),
    "gunicorn-gthread": _gunicorn("gthread"),
}


def require(module: str | None) -> None:
    """Fail (or, with ``STATICWRAP_ALLOW_SKIP=1``, skip) when ``module`` cannot be imported."""
    if module is None or importlib.util.find_spec(module) is not None:
        return
    message = f"{module} is not installed (scripts/setup installs it)"
    if os.environ.get("STATICWRAP_ALLOW_SKIP") == "1":
        pytest.skip(message)
    pytest.fail(message)
