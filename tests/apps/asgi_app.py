"""The ASGI twin of tests/apps/gunicorn_app.py: what uvicorn, Hypercorn and Granian serve in tests/test_server.py.

``STATICWRAP_TEST_ROOT`` names the directory served at ``/static/``; every
other request reaches a downstream application that answers ``app``.
"""

from __future__ import annotations

import os

from staticwrap.asgi import Receive, Scope, Send, StaticWrapASGI, static_only

DOWNSTREAM_BODY = b"app"


async def downstream_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The wrapped application: the same short answer for every request; the lifespan protocol completed."""
    if scope["type"] != "http":
        await static_only(scope, receive, send)
        return
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(DOWNSTREAM_BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": DOWNSTREAM_BODY})


application = StaticWrapASGI(downstream_app, os.environ["STATICWRAP_TEST_ROOT"], prefix="/static/")
