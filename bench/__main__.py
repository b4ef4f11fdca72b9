"""``python -m bench``: see :mod:`bench.main`."""

from __future__ import annotations

from .main import main

raise SystemExit(main())
