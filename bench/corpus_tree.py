"""The source tree of the collectstatic benchmark (provisional: Bootstrap's dist and Django's admin)."""

from __future__ import annotations

from pathlib import Path

import django


def source_dirs(*, quick: bool) -> tuple[list[tuple[str, str]], str]:
    admin = Path(django.__file__).parent / "contrib" / "admin" / "static"
    dirs = [("bootstrap", "/tmp/bs/package/dist"), ("django", str(admin))]
    return dirs, "Bootstrap 5.3.8 dist/ and Django's admin static files."
