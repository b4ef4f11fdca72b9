"""Sending an :class:`~staticwrap.answer.Answer` through WSGI: ``start_response`` and a body iterable."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .answer import Answer
from .body import file_body

if TYPE_CHECKING:
    from ._types import StartResponse, WSGIEnvironment


def wsgi_answer(answer: Answer, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Send ``answer`` the WSGI way: ``start_response``, then the body iterable (PEP 3333)."""
    if answer.complaint is not None:
        # wsgi.errors is where PEP 3333 says an application writes errors,
        # and Gunicorn, uWSGI and mod_wsgi send it to their error log with no
        # logging set up.
        errors = environ.get("wsgi.errors")
        if errors is not None:
            errors.write(answer.complaint)
            errors.flush()  # PEP 3333: a line written to wsgi.errors may be buffered until flushed
    file = answer.file
    if file is None:
        start_response(answer.status, answer.headers)
        return answer.parts
    try:
        start_response(answer.status, answer.headers)
        return file_body(file, answer.segments, environ.get("wsgi.file_wrapper"), answer.facts)
    except BaseException:
        file.close()  # the server never got an iterable to close
        raise
