"""The HTTP servers the wire suite (tests/test_server.py) runs the middleware under.

Each entry is a command line that serves ``tests/apps/gunicorn_app.py``'s
``application`` (the middleware over ``STATICWRAP_TEST_ROOT`` at
``/static/``), or for an ASGI server ``tests/apps/asgi_app.py``'s (its ASGI
twin), on 127.0.0.1 at a given port, started in tests/apps. A server
that needs more than the ``test`` extra names the module it needs in
``requires``: with it missing the server's tests fail, unless
``STATICWRAP_ALLOW_SKIP=1`` lets them be skipped (a developer's machine
without it); CI installs everything and so runs them all.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: A bound on each wait of the stalled-client helpers (a hang guard, not a measure).
STALL_TIMEOUT = 10.0


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


def _granian(interface: str, app: str) -> Callable[[int], list[str]]:
    """The argv of Granian serving ``app`` through its ``interface`` ("wsgi" or "asgi") on 127.0.0.1.

    Granian's WSGI interface has no wsgi.file_wrapper: bodies are iterated.
    """
    websockets = ["--no-ws"] if interface == "wsgi" else []

    def argv(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            interface,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            *websockets,
            "--log-level",
            "warning",
            app,
        ]

    return argv


def _uwsgi(port: int) -> list[str]:
    # pyuwsgi installs its ``uwsgi`` entry point beside the interpreter.
    # --http-socket: HTTP on the worker itself (no router process), one
    # request per connection. (--http11-socket keeps connections alive but
    # holds one open after "Connection: close" until its socket timeout,
    # RFC 9112 §9.6.) --die-on-term: SIGTERM stops it instead of reloading.
    return [
        str(Path(sys.executable).with_name("uwsgi")),
        "--http-socket",
        f"127.0.0.1:{port}",
        "--master",
        "--processes",
        "1",
        "--die-on-term",
        "--need-app",
        "--disable-logging",
        "--module",
        "gunicorn_app:application",
    ]


def _waitress(port: int) -> list[str]:
    return [sys.executable, "-m", "waitress", "--listen", f"127.0.0.1:{port}", "gunicorn_app:application"]


#: name -> launcher; the wire suite runs once per entry.
WSGI_SERVERS: dict[str, Launcher] = {
    "gunicorn-sync": _gunicorn("sync"),
    "gunicorn-gthread": _gunicorn("gthread"),
    "granian": Launcher(_granian("wsgi", "gunicorn_app:application"), requires="granian"),
    "uwsgi": Launcher(_uwsgi, requires="pyuwsgi", keepalive=False),
    "waitress": Launcher(_waitress, requires="waitress"),
}


def require(module: str | None) -> None:
    """Fail (or, with ``STATICWRAP_ALLOW_SKIP=1``, skip) when ``module`` cannot be imported."""
    if module is None or importlib.util.find_spec(module) is not None:
        return
    message = f"{module} is not installed (scripts/setup installs it)"
    if os.environ.get("STATICWRAP_ALLOW_SKIP") == "1":
        pytest.skip(message)
    pytest.fail(message)


def uvicorn(app: str) -> Callable[[int], list[str]]:
    """The argv of uvicorn serving ``app`` (``module:attribute``, in tests/apps) on 127.0.0.1."""

    def argv(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            app,
        ]

    return argv


def _hypercorn(port: int) -> list[str]:
    return [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", ASGI_APP]


#: The ASGI twin of gunicorn_app.py's application (tests/apps/asgi_app.py).
ASGI_APP = "asgi_app:application"

#: name -> launcher of an ASGI server; the wire suite runs once per entry of these too.
ASGI_SERVERS: dict[str, Launcher] = {
    "uvicorn": Launcher(uvicorn(ASGI_APP), requires="uvicorn"),
    "hypercorn": Launcher(_hypercorn, requires="hypercorn"),
    "granian-asgi": Launcher(_granian("asgi", ASGI_APP), requires="granian"),
}

#: Every server the wire suite runs under.
SERVERS: dict[str, Launcher] = {**WSGI_SERVERS, **ASGI_SERVERS}


def require_command(name: str) -> str:
    """The path of the program ``name``; fail (or, with ``STATICWRAP_ALLOW_SKIP=1``, skip) when it is not on PATH."""
    found = shutil.which(name)
    if found is not None:
        return found
    message = f"{name} is not installed (scripts/setup installs it)"
    if os.environ.get("STATICWRAP_ALLOW_SKIP") == "1":
        pytest.skip(message)
    pytest.fail(message)


@contextlib.contextmanager
def stalled_clients(port: int, target: str, count: int) -> Iterator[None]:
    """``count`` connections on 127.0.0.1 that each asked for ``target``, read the start of a 200, and stall.

    Each has a small receive window, so the server soon cannot send it more;
    all are closed on the way out.
    """
    with contextlib.ExitStack() as stack:
        for _ in range(count):
            client = stack.enter_context(socket.socket())
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.settimeout(STALL_TIMEOUT)
            client.connect(("127.0.0.1", port))
            client.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            assert client.recv(64).startswith(b"HTTP/1.1 200")
        yield


def settled(measure: Callable[[], int]) -> int:
    """``measure()`` once it stops changing between two polls 0.2 s apart (waiting at most ``STALL_TIMEOUT``)."""
    value = measure()
    for _ in range(int(STALL_TIMEOUT / 0.2)):
        time.sleep(0.2)
        if measure() == value:
            break
        value = measure()
    return value
