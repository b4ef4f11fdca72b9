"""Where staticwrap's time goes on the in-process hit path: ``python -m bench.profile_hit [CALLS]``.

Runs CALLS (default 100,000) requests for the 1 KiB file through staticwrap
exactly as :mod:`bench.inprocess` times them, under :mod:`cProfile`, and
prints the functions with the most own time (``tottime``). The profiler's
overhead inflates every call alike, so read the shares, not the absolutes.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path

from . import trees
from .apps import STATICWRAP, build
from .inprocess import call_once, make_environ, time_calls
from .scenarios import HIT_1K


def main(argv: list[str]) -> int:
    calls = int(argv[0]) if argv else 100_000
    static_dir = str(trees.request_tree(Path(tempfile.gettempdir()) / "staticwrap-bench"))
    app = build(STATICWRAP.key, static_dir)
    environ = make_environ(HIT_1K.path, HIT_1K.request_headers(None))
    status, headers = call_once(app, environ)
    problem = HIT_1K.check(STATICWRAP, status, headers)
    if problem is not None:
        print(f"the hit is not served as expected: {problem}", file=sys.stderr)
        return 1
    unprofiled = time_calls(app, environ, calls) / 1000
    profiler = cProfile.Profile()
    profiler.enable()
    time_calls(app, environ, calls)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(20)
    print(f"{calls:,} hits of {HIT_1K.path}: {unprofiled:.2f} µs per request without the profiler\n")
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
