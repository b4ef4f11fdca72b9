"""``StaticWrapMiddleware``: staticwrap as a Django middleware, for projects that prefer ``MIDDLEWARE``.

The request is answered by a :class:`~staticwrap.StaticWrap` configured from
the settings, called as a WSGI application on the request's environ; its
status, headers and body become a Django response unchanged. All the HTTP
logic (preconditions, ranges, codings, CORS, the re-check of a file changed
on disk) is the WSGI middleware's: this module only translates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

from django.http import FileResponse

from staticwrap.body import BLOCK_SIZE, SendableRange, respects_content_length
from staticwrap.middleware import StaticWrap

from .wsgi import configure

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from staticwrap._types import HeaderList, StartResponse, WSGIEnvironment

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]

# What StaticWrap returns for a path it does not serve: the request then goes
# on to the rest of the middleware stack.
_PASSED_ON: list[bytes] = []


def _pass_on(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return _PASSED_ON


class StaticWrapMiddleware:
    """Answer requests for static files before the middleware below it and the views.

    Put it right after ``django.middleware.security.SecurityMiddleware``::

        MIDDLEWARE = [
            "django.middleware.security.SecurityMiddleware",
            "staticwrap.django.middleware.StaticWrapMiddleware",
            ...
        ]

    It serves what :func:`staticwrap.django.configure` would, read from the
    settings once, when Django loads the middleware. A file body reaches the
    server's ``wsgi.file_wrapper`` as the file itself, so Gunicorn sends it
    with ``sendfile``.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.static = StaticWrap(_pass_on)
        configure(self.static)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        environ = dict(request.META)
        # Django replaced PATH_INFO with its decoded text; StaticWrap reads it
        # as WSGI gives it (the path's bytes as latin-1, PEP 3333).
        environ["PATH_INFO"] = request.path_info.encode("utf-8").decode("latin-1")
        server_wrapper = environ.get("wsgi.file_wrapper")
        environ["wsgi.file_wrapper"] = _WrapperStandIn(server_wrapper)
        started: list[tuple[str, HeaderList]] = []

        def start_response(status: str, headers: HeaderList, exc_info: _ExcInfo | None = None, /) -> Any:
            started.append((status, headers))
            return _no_write

        body = self.static(environ, start_response)
        if body is _PASSED_ON:
            return self.get_response(request)
        status, headers = started[-1]
        content: Iterable[bytes] | BinaryIO = body.file if isinstance(body, _Wrapped) else body
        return StaticResponse.build(status, headers, content)


class StaticResponse(FileResponse):
    """A response whose status and headers are exactly the ones staticwrap chose.

    Given a file, it stays a ``FileResponse`` whose ``file_to_stream`` is that
    file, which Django's WSGI handler passes to the server's
    ``wsgi.file_wrapper``; given an iterable (a multipart body), it streams it.
    """

    block_size = BLOCK_SIZE

    def close(self) -> None:
        # Django's close() swallows what closing the file raises, but a
        # SendableRange that finds its file cut short after the server
        # sendfile()d it raises so that the server ends the connection
        # (staticwrap.body). Django's WSGI handler made the file's ``close``
        # this method, hence the class's own, called here first.
        file: object = self.file_to_stream  # typed BytesIO by django-stubs, but any file-like
        try:
            if isinstance(file, SendableRange):
                SendableRange.close(file)
        finally:
            super().close()

    def set_headers(self, filelike: object) -> None:
        # FileResponse would guess Content-Length, Content-Type and
        # Content-Disposition from the file: staticwrap's are already right,
        # and a Content-Disposition broke Safari (whitenoise#240).
        pass

    @classmethod
    def build(cls, status: str, headers: HeaderList, content: Iterable[bytes] | BinaryIO) -> StaticResponse:
        """A response with ``status`` ("206 Partial Content"), exactly ``headers``, and the body ``content``."""
        code, _, reason = status.partition(" ")
        response = cls(content, status=int(code))
        response.reason_phrase = reason
        for name in list(response.headers):  # the default Content-Type of HttpResponseBase
            del response.headers[name]
        for name, value in headers:
            # Django keeps one value per name: a field a headers= hook sent
            # twice is combined into a list, as RFC 9110 §5.3 allows.
            previous = response.headers.get(name)
            response.headers[name] = value if previous is None else f"{previous}, {value}"
        return response


class _Wrapped:
    """What :class:`_WrapperStandIn` returns in place of the server's wrapper: the file to send."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file


class _WrapperStandIn:
    """Stands in for the server's ``wsgi.file_wrapper`` while StaticWrap answers, to receive the file.

    :func:`staticwrap.body.file_body` gives the real file (seeked to the range
    start) only to a wrapper that sends no more than Content-Length, such as
    Gunicorn's, and a reader bounded to the range to any other; the stand-in
    declares what the server's wrapper would, so the choice is made for the
    server, and Django then gives the server what was chosen.
    """

    def __init__(self, server_wrapper: object) -> None:
        self.respects_content_length = respects_content_length(server_wrapper)

    def __call__(self, file: BinaryIO, block_size: int = BLOCK_SIZE) -> Iterable[bytes]:
        return _Wrapped(file)  # type: ignore[return-value]  # unwrapped by StaticWrapMiddleware.__call__


def _no_write(data: bytes) -> None:
    raise RuntimeError("StaticWrap does not use the write() callable of start_response")
