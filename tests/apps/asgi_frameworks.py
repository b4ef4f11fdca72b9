"""The FastAPI, Starlette and Django ASGI applications tests/test_asgi_frameworks.py runs under uvicorn.

``STATICWRAP_TEST_ROOT`` is a built directory (``staticwrap build``) served at
``/static/``; ``STATICWRAP_TEST_TEMPLATES`` holds ``page.html``, which names a
file of it with ``static_url()`` and ``static_integrity()``. Each application
is made when first asked for (``asgi_frameworks:fastapi_app`` and so on), so
that a server imports only the framework it serves.
"""

from __future__ import annotations

import os
from typing import Any

# At module level: FastAPI reads the route's annotations (strings here) from the module's globals.
from starlette.requests import Request

from staticwrap.asgi import StaticWrapASGI, template_globals

ROOT = os.environ.get("STATICWRAP_TEST_ROOT", "")
TEMPLATES = os.environ.get("STATICWRAP_TEST_TEMPLATES", "")


def _fastapi() -> StaticWrapASGI:
    """FastAPI, wrapped: the static files answered before FastAPI sees the request."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse
    from fastapi.templating import Jinja2Templates

    app = FastAPI()
    static = StaticWrapASGI(app, ROOT, prefix="/static/")
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.globals.update(template_globals(static))

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> Any:
        return templates.TemplateResponse(request, "page.html")

    return static


def _starlette() -> Any:
    """Starlette, with the files mounted at /static as a static-only StaticWrapASGI."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Mount, Route
    from starlette.templating import Jinja2Templates

    static = StaticWrapASGI(None, ROOT)
    templates = Jinja2Templates(directory=TEMPLATES)
    # Mounted at /static: static.url() gives the path below the mount.
    templates.env.globals.update(template_globals(static, root_path="/static"))

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html")

    return Starlette(routes=[Route("/", page), Mount("/static", app=static)])


def _django() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.contrib.django_settings")
    from staticwrap.django.asgi import get_asgi_application

    return get_asgi_application()


_FACTORIES = {"fastapi_app": _fastapi, "starlette_app": _starlette, "django_app": _django}


def __getattr__(name: str) -> Any:
    if name in _FACTORIES:
        app = _FACTORIES[name]()
        globals()[name] = app
        return app
    raise AttributeError(name)
