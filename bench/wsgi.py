"""The Gunicorn entry point: ``bench.wsgi:application`` is the contender named in the environment.

``BENCH_CONTENDER`` is a key of :data:`bench.apps.BY_KEY`; ``BENCH_STATIC`` is
the directory served at ``/static/``.
"""

from __future__ import annotations

import os

from .apps import build

application = build(os.environ["BENCH_CONTENDER"], os.environ["BENCH_STATIC"])
