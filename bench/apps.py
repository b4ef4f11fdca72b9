"""The contenders: how each one is built in front of the same bare application, and what it supports.

The imports of the middleware packages happen inside the factories, so that a
startup measurement (:mod:`bench.startup_child`) loads only its own contender.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The URL prefix every contender serves the static directory at.
PREFIX = "/static/"

#: The bare application's body: 1 KiB from memory, the same size as the small file.
APP_BODY = b"x" * 1024
#: A header only the bare application sets: a response carrying it was passed through.
APP_MARKER = "X-Bench-App"

# Features a scenario may need (see bench.scenarios).
FILES = "files"  # serves files from the directory
BR = "br"  # serves a precompressed .br sibling
CONDITIONAL = "304"  # answers If-None-Match with 304
RANGE = "range"  # answers a single Range with 206
PASS = "pass"  # hands other requests to the application
FLOOR = "floor"  # the application itself: the floor of the 1 KiB row
CHUNKED = "chunked"  # sends file bodies chunked, without Content-Length (Granian's own static files)


def bare_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The application behind every middleware: 200 and 1 KiB from memory for any path."""
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(APP_BODY))), (APP_MARKER, "1")],
    )
    return [APP_BODY]


def _staticwrap(static_dir: str) -> WSGIApplication:
    from staticwrap import StaticWrap

    return StaticWrap(bare_app, static_dir, prefix=PREFIX)


def hash_cache_path(static_dir: str) -> str:
    """The ``hash_cache`` file of a tree: beside it, not in it (it must not be served)."""
    return static_dir.rstrip("/") + ".hash-cache"


def _staticwrap_hash_cache(static_dir: str) -> WSGIApplication:
    from staticwrap import StaticWrap

    return StaticWrap(bare_app, static_dir, prefix=PREFIX, hash_cache=hash_cache_path(static_dir))


def _whitenoise(static_dir: str) -> WSGIApplication:
    from whitenoise import WhiteNoise

    app: WSGIApplication = WhiteNoise(bare_app, root=static_dir, prefix=PREFIX)
    return app


def _werkzeug(static_dir: str) -> WSGIApplication:
    from werkzeug.middleware.shared_data import SharedDataMiddleware

    return SharedDataMiddleware(bare_app, {PREFIX.rstrip("/"): static_dir})


def _bare(static_dir: str) -> WSGIApplication:
    return bare_app


@dataclass(frozen=True)
class Contender:
    """One row of the tables."""

    key: str
    name: str
    features: frozenset[str]
    #: Builds the WSGI callable over a static directory; ``None`` for nginx.
    build: Callable[[str], WSGIApplication] | None = None
    #: The distribution whose version is reported.
    package: str | None = None

    @property
    def is_wsgi(self) -> bool:
        return self.build is not None


_MIDDLEWARE = frozenset({FILES, BR, CONDITIONAL, RANGE, PASS})

STATICWRAP = Contender("staticwrap", "staticwrap", _MIDDLEWARE, _staticwrap, "staticwrap")
STATICWRAP_AGAIN = Contender("staticwrap-again", "staticwrap (again)", _MIDDLEWARE, _staticwrap, "staticwrap")
#: Startup only: a restart with the hash cache that an earlier start wrote (bench.startup warms it).
STATICWRAP_HASH_CACHE = Contender(
    "staticwrap-hash-cache", "staticwrap, hash cache warm", _MIDDLEWARE, _staticwrap_hash_cache, "staticwrap"
)
WHITENOISE = Contender("whitenoise", "WhiteNoise", _MIDDLEWARE, _whitenoise, "whitenoise")
WERKZEUG = Contender("werkzeug", "Werkzeug SharedData", frozenset({FILES, CONDITIONAL, PASS}), _werkzeug, "werkzeug")
BARE = Contender("bare", "bare app", frozenset({PASS, FLOOR}), _bare)
NGINX = Contender("nginx", "nginx", frozenset({FILES, BR, CONDITIONAL, RANGE}))

#: The WSGI contenders, in table order.
WSGI_CONTENDERS = (STATICWRAP, STATICWRAP_AGAIN, WHITENOISE, WERKZEUG, BARE)
BY_KEY = {contender.key: contender for contender in (*WSGI_CONTENDERS, STATICWRAP_HASH_CACHE, NGINX)}


def build(key: str, static_dir: str) -> WSGIApplication:
    """The WSGI callable of the contender ``key`` over ``static_dir``."""
    factory = BY_KEY[key].build
    if factory is None:
        raise ValueError(f"{key} is not a WSGI contender")
    return factory(static_dir)


def index_size(app: Any) -> int | None:
    """How many URLs a contender's index holds; ``None`` for one without an index."""
    files = getattr(app, "files", None)
    return len(files) if files is not None else None


def available(contender: Contender) -> bool:
    """Whether the contender's package can be imported here (WhiteNoise may be missing in quick mode)."""
    if contender.package is None:
        return True
    try:
        importlib.metadata.version(contender.package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
