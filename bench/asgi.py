"""The ASGI entry point: ``bench.asgi:application`` is the contender named in the environment.

``BENCH_CONTENDER`` is a key of :data:`bench.asgi_apps.FACTORIES`; ``BENCH_STATIC``
is the directory served at ``/static/``.
"""

from __future__ import annotations

import os

from .asgi_apps import build

application = build(os.environ["BENCH_CONTENDER"], os.environ["BENCH_STATIC"])
