"""The objects of a built tree, as the middleware would serve them: the input of :mod:`.plan`.

The tree is indexed by :class:`~staticwrap.StaticWrap` itself, so each object
gets the very header fields the middleware computes (media type and charset,
Cache-Control, Content-Encoding, a headers hook's additions), and only the
files it would serve are published: no hidden file, no sibling that is not a
valid, smaller coding of its original.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from staticwrap.asset import Asset
from staticwrap.codings import hash_file
from staticwrap.config import Config
from staticwrap.errors import ConfigurationError
from staticwrap.manifest import STATICWRAP_MANIFEST
from staticwrap.middleware import StaticWrap

from .plan import LocalObject, checksum


def read_tree(
    tree: str,
    options: Mapping[str, Any],
    *,
    jobs: int,
    config: Config | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[LocalObject], bytes]:
    """The objects of ``tree`` and the bytes of its ``staticwrap.json``.

    ``options`` are :class:`~staticwrap.StaticWrap`'s (``max_age``,
    ``immutable``, ``headers``...): the headers stored are those it would
    send with them; or ``config``, options checked already (Django's). Each
    file is read once, for its SHA-256, on ``jobs`` threads.

    :raises ConfigurationError: when ``tree`` has no ``staticwrap.json``.
    """
    manifest_path = os.path.join(tree, STATICWRAP_MANIFEST)
    try:
        with open(manifest_path, "rb") as file:
            manifest = file.read()
    except FileNotFoundError:
        raise ConfigurationError(
            f"{manifest_path} does not exist: publish a tree that `staticwrap build SRC DEST` (or Django's "
            "collectstatic with StaticWrapStorage) wrote; its manifest is what makes publishing incremental and safe"
        ) from None
    # memory_budget=0: nothing is read into memory to serve; autorefresh off: indexed now.
    if config is None:
        config = Config.from_keywords(options)
    app = StaticWrap(None)
    app.use_config(dataclasses.replace(config, memory_budget=0, autorefresh=False))
    app.add_files(tree)
    found: dict[str, tuple[str, Asset, str]] = {}
    for entry in app.files.values():
        if not isinstance(entry, Asset):
            continue
        for variant in entry.variants.values():
            key = os.path.relpath(variant.file.path, tree).replace(os.sep, "/")
            if key != STATICWRAP_MANIFEST:
                found.setdefault(key, (variant.file.path, entry, variant.coding))

    def describe(key: str) -> LocalObject:
        path, asset, coding = found[key]
        variant = asset.variants[coding]
        digest = hash_file(path)
        if progress is not None:
            progress(key)
        return LocalObject(
            key=key,
            path=path,
            size=os.path.getsize(path),
            sha256=checksum(digest.sha256),
            headers=list(variant.ok_headers),
            immutable=asset.immutable,
        )

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        objects = list(pool.map(describe, sorted(found)))
    return objects, manifest
