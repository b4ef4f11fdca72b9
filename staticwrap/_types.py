"""Type aliases shared by the modules (WSGI signatures come from typeshed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

HeaderList = list[tuple[str, str]]

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse as StartResponse
    from _typeshed.wsgi import WSGIApplication as WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment as WSGIEnvironment
