"""Servers other than Gunicorn: staticwrap and its peers under Granian, uWSGI, Waitress and uvicorn, beside nginx.

Every (server, application) pair below runs as its own server on 127.0.0.1,
all at once, next to the wire section's nginx; each is checked, then loaded
with the same wrk settings as the Gunicorn section (:func:`bench.wire.run_phase`),
in interleaved rounds. The WSGI contenders are the Gunicorn section's
(``bench.wsgi``); the ASGI ones are in :mod:`bench.asgi_apps`. A pair whose
server or package is missing is shown as not installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import asgi_apps, procs, wire
from .apps import BARE, CHUNKED, FILES, RANGE, STATICWRAP, STATICWRAP_AGAIN, WHITENOISE, Contender
from .results import Grid, Skipped
from .scenarios import HIT_1K, LARGE_20M, RANGE_20M, Scenario

REPO = Path(__file__).resolve().parent.parent
#: The rows of this section.
SCENARIOS = (HIT_1K, LARGE_20M, RANGE_20M)
#: Worker processes of the servers that run more than one (Granian and uWSGI); uvicorn and Waitress run one process.
WORKERS = 2
WAITRESS_THREADS = 4

Command = Callable[[int, str, str], list[str]]  # (port, application target, static directory) -> argv


def _granian(interface: str) -> Command:
    def command(port: int, target: str, static_dir: str) -> list[str]:
        return [
            sys.executable, "-m", "granian", "--interface", interface, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(WORKERS), "--no-ws", "--log-level", "warning", target,
        ]  # fmt: skip

    return command


def _granian_static(port: int, target: str, static_dir: str) -> list[str]:
    # Granian's own file serving, in Rust, in front of the bare ASGI app.
    return [
        *_granian("asgi")(port, target, static_dir)[:-1],
        "--static-path-route", "/static", "--static-path-mount", static_dir, target,
    ]  # fmt: skip


def _uwsgi(port: int, target: str, static_dir: str) -> list[str]:
    # --http11-socket: HTTP/1.1 with keep-alive on the workers themselves (no
    # router process in between), as wrk keeps its connections open.
    return [
        str(Path(sys.executable).with_name("uwsgi")), "--http11-socket", f"127.0.0.1:{port}", "--master",
        "--processes", str(WORKERS), "--die-on-term", "--need-app", "--disable-logging", "--module", target,
    ]  # fmt: skip


def _waitress(port: int, target: str, static_dir: str) -> list[str]:
    return [
        sys.executable, "-m", "waitress", "--listen", f"127.0.0.1:{port}", "--threads", str(WAITRESS_THREADS), target,
    ]  # fmt: skip


def _uvicorn(port: int, target: str, static_dir: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning", target,
    ]  # fmt: skip


@dataclass(frozen=True)
class Server:
    """One kind of server: how to start it, which interface it speaks, the module it needs."""

    key: str
    name: str
    command: Command
    asgi: bool
    module: str


GRANIAN_WSGI = Server("granian-wsgi", f"Granian WSGI ({WORKERS} workers)", _granian("wsgi"), False, "granian")
UWSGI = Server("uwsgi", f"uWSGI ({WORKERS} processes)", _uwsgi, False, "pyuwsgi")
WAITRESS = Server("waitress", f"Waitress ({WAITRESS_THREADS} threads)", _waitress, False, "waitress")
UVICORN = Server("uvicorn", "uvicorn (1 worker)", _uvicorn, True, "uvicorn")
GRANIAN_ASGI = Server("granian-asgi", f"Granian ASGI ({WORKERS} workers)", _granian("asgi"), True, "granian")
GRANIAN_STATIC = Server("granian-static", f"Granian static files ({WORKERS} workers)", _granian_static, True, "granian")


@dataclass(frozen=True)
class Pair:
    """One row: an application under a server."""

    server: Server
    app: str  # a key of bench.apps.BY_KEY (WSGI) or of bench.asgi_apps.FACTORIES (ASGI)
    app_name: str
    features: frozenset[str] = frozenset({FILES, RANGE})

    @property
    def contender(self) -> Contender:
        return Contender(f"{self.server.key}/{self.app}", f"{self.app_name} under {self.server.name}", self.features)


STATICWRAP_ASGI = "staticwrap-asgi"
SERVESTATIC = "servestatic-asgi"
STARLETTE = "starlette"
BARE_ASGI = "bare-asgi"

PAIRS = (
    Pair(GRANIAN_WSGI, STATICWRAP.key, "staticwrap"),
    Pair(GRANIAN_WSGI, STATICWRAP_AGAIN.key, "staticwrap (again)"),
    Pair(GRANIAN_WSGI, WHITENOISE.key, "WhiteNoise"),
    Pair(UWSGI, STATICWRAP.key, "staticwrap"),
    Pair(UWSGI, WHITENOISE.key, "WhiteNoise"),
    Pair(WAITRESS, STATICWRAP.key, "staticwrap"),
    Pair(WAITRESS, WHITENOISE.key, "WhiteNoise"),
    Pair(UVICORN, STATICWRAP_ASGI, "staticwrap ASGI"),
    Pair(UVICORN, SERVESTATIC, "ServeStatic ASGI"),
    Pair(UVICORN, STARLETTE, "Starlette StaticFiles"),
    Pair(UVICORN, "blacknoise", "BlackNoise"),
    Pair(GRANIAN_ASGI, STATICWRAP_ASGI, "staticwrap ASGI"),
    Pair(GRANIAN_ASGI, SERVESTATIC, "ServeStatic ASGI"),
    Pair(GRANIAN_ASGI, STARLETTE, "Starlette StaticFiles"),
    # No Content-Length (the body goes chunked) and no ranges.
    Pair(GRANIAN_STATIC, BARE_ASGI, "Granian's own static files", frozenset({FILES, CHUNKED})),
    # The floors: the bare application answering the 1 KiB request itself
    # (1 KiB from memory, no middleware), the most each interface can give.
    Pair(GRANIAN_WSGI, BARE.key, "bare app, the floor", BARE.features),
    Pair(GRANIAN_ASGI, BARE_ASGI, "bare ASGI app, the floor", BARE.features),
)
QUICK_PAIRS = (PAIRS[0],)


def unavailable(pair: Pair) -> Skipped | None:
    """Why ``pair`` cannot run here, or ``None``."""
    if importlib.util.find_spec(pair.server.module) is None:
        return Skipped(f"n/a ({pair.server.module} not installed)")
    if not pair.server.asgi:
        return None
    module = asgi_apps.missing(pair.app)
    return Skipped(f"n/a ({module} not installed)") if module is not None else None


def start(pair: Pair, static_dir: str, logs: Path) -> procs.Server:
    port = procs.free_port()
    target = "bench.asgi:application" if pair.server.asgi else "bench.wsgi:application"
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "BENCH_CONTENDER": pair.app, "BENCH_STATIC": static_dir, "PYTHONPATH": python_path}
    log = logs / f"{pair.server.key}-{pair.app}.log"
    return procs.start(pair.contender.name, pair.server.command(port, target, static_dir), port, log, env=env)


def run(
    static_dir: str,
    nginx: tuple[str, Contender] | None,
    *,
    pairs: Sequence[Pair] = PAIRS,
    settings: wire.Settings,
    workdir: Path,
    wrk: str,
    progress: Callable[[str], None] | None = None,
    scenarios: Sequence[Scenario] = SCENARIOS,
) -> Grid:
    """Every pair that can run here, and nginx when given, loaded in interleaved rounds."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    script = workdir / "report.lua"
    script.write_text(wire.WRK_SCRIPT)
    skipped: dict[str, Skipped] = {}
    servers: dict[str, procs.Server] = {}
    running: list[Contender] = []
    with procs.stopping([]) as started:
        for pair in pairs:
            reason = unavailable(pair)
            if reason is not None:
                skipped[pair.contender.key] = reason
                continue
            server = start(pair, static_dir, logs)
            started.append(server)
            servers[pair.contender.key] = server
            running.append(pair.contender)
        if nginx is not None:
            from . import nginx as nginx_module

            nginx_server = nginx_module.start(nginx[0], static_dir, workdir / "nginx-servers")
            started.append(nginx_server)
            servers[nginx[1].key] = nginx_server
            running.append(nginx[1])
        grid = wire.run_phase(
            servers,
            running,
            wrk=wrk,
            script=script,
            settings=settings,
            scenarios=scenarios,
            progress=progress,
            label="other servers",
        )
    for key, reason in skipped.items():
        for scenario in scenarios:
            grid[(scenario.key, key)] = reason
    return grid
