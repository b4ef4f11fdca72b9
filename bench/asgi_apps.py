"""The ASGI contenders of the servers section, each over the same bare ASGI application.

``bench.asgi:application`` builds the one named by ``BENCH_CONTENDER`` over
``BENCH_STATIC``. The peers' packages are imported inside the factories, so
that a server loads only its own contender's, and a missing one is reported by
:func:`missing` instead of failing the run. (staticwrap.asgi is imported by
every server here: the bare application uses its lifespan helper.)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from staticwrap.asgi import ASGIApp, Receive, Scope, Send, StaticWrapASGI, complete_lifespan

from .apps import APP_BODY, APP_MARKER, PREFIX

_HEADERS = [
    (b"content-type", b"text/plain"),
    (b"content-length", str(len(APP_BODY)).encode()),
    (APP_MARKER.lower().encode(), b"1"),
]


async def bare_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The application behind every ASGI contender: 200 and 1 KiB from memory for any HTTP request."""
    if scope["type"] == "lifespan":
        await complete_lifespan(receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": APP_BODY})


def _staticwrap(static_dir: str) -> ASGIApp:
    return StaticWrapASGI(bare_asgi, static_dir, prefix=PREFIX)


def _servestatic(static_dir: str) -> ASGIApp:
    from servestatic import ServeStaticASGI

    app: ASGIApp = ServeStaticASGI(bare_asgi, root=static_dir, prefix=PREFIX)
    return app


def _starlette(static_dir: str) -> ASGIApp:
    from starlette.routing import Mount, Router
    from starlette.staticfiles import StaticFiles

    return Router(routes=[Mount(PREFIX.rstrip("/"), app=StaticFiles(directory=static_dir)), Mount("/", app=bare_asgi)])


def _blacknoise(static_dir: str) -> ASGIApp:
    from blacknoise import BlackNoise

    app = BlackNoise(bare_asgi)
    app.add(static_dir, PREFIX.rstrip("/"))
    built: ASGIApp = app
    return built


def _bare(static_dir: str) -> ASGIApp:
    return bare_asgi


#: key -> (factory, the module it needs)
FACTORIES: dict[str, tuple[Callable[[str], ASGIApp], str | None]] = {
    "staticwrap-asgi": (_staticwrap, None),
    "servestatic-asgi": (_servestatic, "servestatic"),
    "starlette": (_starlette, "starlette"),
    "blacknoise": (_blacknoise, "blacknoise"),
    "bare-asgi": (_bare, None),
}


def missing(key: str) -> str | None:
    """The module contender ``key`` needs that cannot be imported here, or ``None``."""
    module = FACTORIES[key][1]
    if module is None:
        return None
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else module


def build(key: str, static_dir: str) -> ASGIApp:
    """The ASGI application of contender ``key`` over ``static_dir``."""
    return FACTORIES[key][0](static_dir)
