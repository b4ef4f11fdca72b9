"""On the wire: a real Gunicorn per contender (and nginx) on 127.0.0.1, loaded with wrk.

For each worker class (sync, then gthread) one Gunicorn per WSGI contender is
started with the same settings (one worker; gthread with 4 threads), all
listening at once; nginx runs alongside as the reference for file scenarios.
Every scenario is checked once per server with a plain HTTP request, which
also reads the server's own ETag for the 304 scenario. Then, in each round,
every (scenario, server) pair gets one bounded wrk run (``-t2 -c16``, a few
seconds), the servers taking turns in a rotating order.

Reported per run: requests/s (MB/s for the 20 MiB file and the ranges, from
the bytes wrk read), and the server's CPU time per request: utime + stime of
the server's processes (master and worker) before and after the run, divided
by the requests done. wrk and the server share the machine's cores, alike for
every contender.
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import procs
from .apps import Contender
from .inprocess import skip_reason
from .results import Grid, Measured, Skipped
from .scenarios import WIRE, Scenario

REPO = Path(__file__).resolve().parent.parent

WRK_SCRIPT = """\
-- Print the totals in a form the benchmark parses (bytes include the headers).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH_RESULT %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
_ERROR_KINDS = ("connect", "read", "write", "status", "timeout")


@dataclass(frozen=True)
class Settings:
    """How hard and how long to load each server."""

    duration: int  # seconds per wrk run (wrk takes whole seconds)
    rounds: int
    threads: int = 2
    connections: int = 16
    worker_classes: tuple[str, ...] = ("sync", "gthread")
    gthread_threads: int = 4
    #: seconds per wrk run of the MB/s rows, when not ``duration``: a slow
    #: server sends one 20 MiB body per connection in more than a second.
    bulk_duration: int | None = None

    def for_scenario(self, scenario: Scenario) -> Settings:
        """These settings, with the duration of the scenario's kind of row."""
        if scenario.bulk and self.bulk_duration is not None:
            return dataclasses.replace(self, duration=self.bulk_duration)
        return self


@dataclass(frozen=True)
class WrkResult:
    requests: int
    bytes: int
    seconds: float
    errors: dict[str, int]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def wrk_executable() -> str | None:
    return shutil.which("wrk")


def wrk_version(binary: str) -> str:
    result = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)
    # "wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer"
    words = (result.stdout + result.stderr).split()
    return words[1] if len(words) > 1 else "?"


def run_wrk(binary: str, script: Path, url: str, headers: dict[str, str], settings: Settings) -> WrkResult:
    command = [binary, f"-t{settings.threads}", f"-c{settings.connections}", f"-d{settings.duration}s"]
    command += ["--timeout", "10s", "-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=settings.duration + 60, check=False
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            numbers = [int(word) for word in line.split()[1:]]
            return WrkResult(
                numbers[0], numbers[1], numbers[2] / 1e6, dict(zip(_ERROR_KINDS, numbers[3:], strict=True))
            )
    raise RuntimeError(f"wrk gave no result (exit {result.returncode}): {result.stdout}{result.stderr}")


def fetch(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """One GET, its body read to the end: the status and the headers (names in lower case)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()


def gunicorn_command(worker_class: str, port: int, settings: Settings) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    command += ["--worker-class", worker_class]
    if worker_class == "gthread":
        command += ["--threads", str(settings.gthread_threads)]
    command += ["--timeout", "30", "--graceful-timeout", "2", "--log-level", "warning", "--no-control-socket"]
    return [*command, "--chdir", str(REPO), "bench.wsgi:application"]


def start_gunicorn(
    contender: Contender, worker_class: str, static_dir: str, settings: Settings, logs: Path
) -> procs.Server:
    port = procs.free_port()
    env = {**os.environ, "BENCH_CONTENDER": contender.key, "BENCH_STATIC": static_dir}
    log = logs / f"gunicorn-{worker_class}-{contender.key}.log"
    return procs.start(
        f"gunicorn {worker_class} {contender.name}", gunicorn_command(worker_class, port, settings), port, log, env=env
    )


def run_phase(
    servers: dict[str, procs.Server],
    contenders: Sequence[Contender],
    *,
    wrk: str,
    script: Path,
    settings: Settings,
    scenarios: Sequence[Scenario] = WIRE,
    progress: Callable[[str], None] | None = None,
    label: str = "",
) -> Grid:
    """Check, then load every (scenario, server) pair once per round."""
    grid = Grid()
    plan: dict[tuple[str, str], dict[str, str]] = {}
    for scenario in scenarios:
        for contender in contenders:
            key = (scenario.key, contender.key)
            if not scenario.applies_to(contender):
                grid[key] = skip_reason(contender)
                continue
            port = servers[contender.key].port
            etag = fetch(port, scenario.path, {})[1].get("etag") if scenario.conditional else None
            headers = scenario.request_headers(etag)
            status, response_headers = fetch(port, scenario.path, headers)
            problem = scenario.check(contender, status, response_headers)
            if problem is not None:
                grid[key] = Skipped(f"wrong: {problem}")
                continue
            plan[key] = headers
            grid[key] = Measured()
    for round_number in range(settings.rounds):
        shift = round_number % len(contenders)
        order = [*contenders[shift:], *contenders[:shift]]
        for scenario in scenarios:
            for contender in order:
                key = (scenario.key, contender.key)
                if key in plan:
                    outcome = grid.cells[key]
                    assert isinstance(outcome, Measured)
                    _measure(outcome, servers[contender.key], scenario, plan[key], wrk, script, settings)
        if progress is not None:
            progress(f"{label} round {round_number + 1}/{settings.rounds}")
    return grid


def _measure(
    outcome: Measured,
    server: procs.Server,
    scenario: Scenario,
    headers: dict[str, str],
    wrk: str,
    script: Path,
    settings: Settings,
) -> None:
    cpu_before, pids_before = server.cpu_seconds()
    result = run_wrk(wrk, script, server.url + scenario.path, headers, settings.for_scenario(scenario))
    cpu_after, pids_after = server.cpu_seconds()
    if pids_after != pids_before:
        outcome.notes.append(f"the server's processes changed during a run ({len(pids_before)} → {len(pids_after)})")
    if result.error_count:
        errors = ", ".join(f"{count} {kind}" for kind, count in result.errors.items() if count)
        outcome.notes.append(f"wrk errors in a run: {errors} of {result.requests} requests")
    if result.requests == 0 or result.seconds <= 0:
        outcome.notes.append("a run completed no request")
        return
    outcome.add(
        rps=result.requests / result.seconds,
        mbps=result.bytes / result.seconds / 1e6,
        cpu_us=(cpu_after - cpu_before) / result.requests * 1e6,
    )


def run(
    static_dir: str,
    contenders: Sequence[Contender],
    nginx: tuple[str, Contender] | None,
    *,
    settings: Settings,
    workdir: Path,
    wrk: str,
    progress: Callable[[str], None] | None = None,
    scenarios: Sequence[Scenario] = WIRE,
) -> dict[str, Grid]:
    """One grid per worker class: the WSGI contenders under Gunicorn, and nginx when given."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)
    grids: dict[str, Grid] = {}
    with procs.stopping([]) as started:
        nginx_server = None
        if nginx is not None:
            from . import nginx as nginx_module

            nginx_server = nginx_module.start(nginx[0], static_dir, workdir / "nginx")
            started.append(nginx_server)
        for worker_class in settings.worker_classes:
            servers: dict[str, procs.Server] = {}
            phase: list[procs.Server] = []
            with procs.stopping(phase):
                for contender in contenders:
                    server = start_gunicorn(contender, worker_class, static_dir, settings, logs)
                    phase.append(server)
                    servers[contender.key] = server
                everyone = list(contenders)
                if nginx is not None and nginx_server is not None:
                    servers[nginx[1].key] = nginx_server
                    everyone.append(nginx[1])
                grids[worker_class] = run_phase(
                    servers,
                    everyone,
                    wrk=wrk,
                    script=script,
                    settings=settings,
                    scenarios=scenarios,
                    progress=progress,
                    label=f"Gunicorn {worker_class}",
                )
    return grids
