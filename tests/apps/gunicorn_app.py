"""The application Gunicorn serves in tests/test_server.py.

``STATICWRAP_TEST_ROOT`` names the directory served at ``/static/``; every
other request reaches a downstream application that answers ``app``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from staticwrap import StaticWrap

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

DOWNSTREAM_BODY = b"app"


def downstream_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The wrapped application: the same short answer for every request."""
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(DOWNSTREAM_BODY)))],
    )
    return [DOWNSTREAM_BODY]


application = StaticWrap(downstream_app, os.environ["STATICWRAP_TEST_ROOT"], prefix="/static/")
