"""In-process: each contender's WSGI callable called directly, µs per request.

The environ is prepared once per scenario (the headers a client would send,
and for the 304 the contender's own ETag, read from a first response). Its
``wsgi.file_wrapper`` takes the file and returns an empty iterable without
reading it, and closes the file in ``close()``: what is timed is the
middleware's own work (lookup, headers, opening the file), not copying bytes.
It behaves as Gunicorn's wrapper does towards staticwrap (see
:class:`NoReadFileWrapper`), so the path timed is the one Gunicorn runs.
Each call is followed by what a server does: iterate the body and call its
``close()``.

Each cell is timed with ``time.perf_counter_ns`` over enough calls to last
about ``target_ms`` (calibrated once), with the garbage collector off, in
several interleaved rounds; the median µs per request is reported.
"""

from __future__ import annotations

import gc
import io
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .apps import FILES, Contender
from .results import NO_SUPPORT, NOT_APPLICABLE, Grid, Measured, Skipped
from .scenarios import IN_PROCESS, Scenario

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

_MIN_CALLS = 50
_MAX_CALLS = 500_000


class NoReadFileWrapper:
    """A ``wsgi.file_wrapper`` that never reads the file: the body is empty, ``close()`` closes the file.

    It declares ``respects_content_length`` (it sends no more than the
    Content-Length, since it sends nothing), as staticwrap learns of
    Gunicorn's wrapper from its module: staticwrap then takes the path it
    takes under Gunicorn, handing over the file itself (seeked to a range's
    start) rather than a reader bounded to the range. The other contenders
    do not look at the attribute.
    """

    respects_content_length = True

    def __init__(self, filelike: Any, block_size: int = 8192) -> None:
        self.filelike = filelike

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        self.filelike.close()


def make_environ(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """A PEP 3333 environ for a GET of ``path``, as a server would build it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "staticwrap-bench",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": NoReadFileWrapper,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call_once(app: WSGIApplication, environ: dict[str, Any]) -> tuple[int, dict[str, str]]:
    """One request: the status code and the response headers (names in lower case)."""
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append((status, headers))
        return _write

    _consume(app(dict(environ), start_response))
    status, headers = seen[-1]
    return int(status.split(None, 1)[0]), {name.lower(): value for name, value in headers}


def _write(data: bytes) -> None:
    raise AssertionError("no contender should use the write() callable")


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return _write


def _consume(body: Iterable[bytes]) -> None:
    try:
        for _chunk in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def time_calls(app: WSGIApplication, environ: dict[str, Any], calls: int) -> float:
    """Nanoseconds per request over ``calls`` requests, each one's body consumed and closed."""
    start_response = _start_response
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        began = clock()
        for _ in range(calls):
            body = app(environ, start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        elapsed = clock() - began
    finally:
        gc.enable()
    return elapsed / calls


def calibrate(app: WSGIApplication, environ: dict[str, Any], target_ns: float) -> int:
    """How many calls last about ``target_ns``."""
    time_calls(app, environ, 20)  # warm caches first
    per_call = time_calls(app, environ, 200)
    return int(max(_MIN_CALLS, min(_MAX_CALLS, target_ns / max(per_call, 1.0))))


def skip_reason(contender: Contender) -> Skipped:
    """Why a scenario is not measured for ``contender``: a file server without the feature, or not a file server."""
    return NO_SUPPORT if FILES in contender.features else NOT_APPLICABLE


def own_etag(app: WSGIApplication, path: str) -> str | None:
    _, headers = call_once(app, make_environ(path, {}))
    return headers.get("etag")


def run(
    static_dir: str,
    contenders: Sequence[Contender],
    *,
    rounds: int,
    target_ms: float,
    scenarios: Sequence[Scenario] = IN_PROCESS,
    progress: Any = None,
) -> Grid:
    """Measure every scenario for every contender, interleaved over ``rounds``."""
    apps: dict[str, WSGIApplication] = {}
    for contender in contenders:
        assert contender.build is not None
        apps[contender.key] = contender.build(static_dir)
    grid = Grid()
    plan: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
    for scenario in scenarios:
        for contender in contenders:
            key = (scenario.key, contender.key)
            if not scenario.applies_to(contender):
                grid[key] = skip_reason(contender)
                continue
            app = apps[contender.key]
            etag = own_etag(app, scenario.path) if scenario.conditional else None
            environ = make_environ(scenario.path, scenario.request_headers(etag))
            status, headers = call_once(app, environ)
            problem = scenario.check(contender, status, headers)
            if problem is not None:
                grid[key] = Skipped(f"wrong: {problem}")
                continue
            plan[key] = (environ, calibrate(app, environ, target_ms * 1e6))
            grid[key] = Measured()
    for round_number in range(rounds):
        order = list(contenders[round_number % len(contenders) :]) + list(contenders[: round_number % len(contenders)])
        for scenario in scenarios:
            for contender in order:
                key = (scenario.key, contender.key)
                if key not in plan:
                    continue
                environ, calls = plan[key]
                per_call = time_calls(apps[contender.key], environ, calls)
                outcome = grid.cells[key]
                assert isinstance(outcome, Measured)
                outcome.add(us=per_call / 1000)
        if progress is not None:
            progress(f"in-process round {round_number + 1}/{rounds}")
    return grid
