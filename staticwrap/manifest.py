"""Reading asset manifests, to know which names are content-hashed.

Two formats are recognised in the top of a root:

- ``staticwrap.json``, written by ``staticwrap build``:
  ``{"version": 1, "files": {"app.css": {"hashed": "app.3f2a1b9c0d4e.css", ...}}}``
- ``staticfiles.json``, written by Django's ``ManifestStaticFilesStorage``:
  ``{"version": "1.1", "paths": {"app.css": "app.3f2a1b9c0d4e.css"}}``

Every hashed name listed is served as immutable, whatever its shape.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import ConfigurationError

STATICWRAP_MANIFEST = "staticwrap.json"
DJANGO_MANIFEST = "staticfiles.json"


def read_hashed_names(root: str) -> set[str]:
    """The hashed names (relative to ``root``, ``/``-separated) that its manifests list."""
    names: set[str] = set()
    for filename, extract in ((STATICWRAP_MANIFEST, _staticwrap_names), (DJANGO_MANIFEST, _django_names)):
        path = os.path.join(root, filename)
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            raise ConfigurationError(
                f"{path} cannot be read as a JSON manifest ({error}): rebuild it, or remove it from the directory"
            ) from None
        try:
            names.update(extract(data))
        except (TypeError, AttributeError, KeyError) as error:
            raise ConfigurationError(
                f"{path} is not a manifest staticwrap knows ({error!r}): rebuild it, or remove it from the directory"
            ) from None
    return names


def _staticwrap_names(data: Any) -> list[str]:
    if data.get("version") != 1:
        raise KeyError(f"unsupported version {data.get('version')!r}, expected 1")
    return [str(entry["hashed"]) for entry in data["files"].values()]


def _django_names(data: Any) -> list[str]:
    return [str(name) for name in data["paths"].values()]
