"""The WSGI middleware: look the path up in the index, answer from it, or pass the request on."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import answer as answers
from ._wsgi import wsgi_answer
from .answer import WSGI_KEYS, read_request
from .asset import Asset
from .core import NEEDS_DISK, StaticCore
from .fallback import Fallback
from .negotiation import choose_memoized
from .watch import WATCHER

if TYPE_CHECKING:
    from ._types import StartResponse, WSGIApplication, WSGIEnvironment


class StaticWrap(StaticCore):
    """Serve static files in front of a WSGI application.

    Requests whose decoded path is in the index are answered from it; every
    other request reaches ``application`` untouched::

        application = StaticWrap(application, "static/", prefix="/static/")
        application.add_files("public/", prefix="/")

    :param application: the WSGI application to wrap, or ``None`` to answer
        every other path with a plain 404 (a static-only server).
    :param root: a directory to serve at once, as with :meth:`add_files`.
    :param prefix: the URL prefix of ``root``.
    :param options: the keyword-only options of
        :meth:`staticwrap.config.Config.from_options`, checked at once.
    :raises ConfigurationError: for a bad option or a root that is not a directory.
    """

    def __init__(
        self,
        application: WSGIApplication | None,
        root: str | os.PathLike[str] | None = None,
        prefix: str = "/",
        **options: Any,
    ) -> None:
        super().__init__(application, "WSGI", options)
        self.application = application if application is not None else not_found
        if root is not None:
            self.add_files(root, prefix)
        # A Flask app: its static folders and its blueprints' (staticwrap.flask).
        # Flask is imported already if `application` is a Flask app, so other
        # applications pay nothing for the check.
        flask = sys.modules.get("flask")
        if flask is not None and isinstance(application, flask.Flask):
            from .flask import configure

            configure(self, application)
        # A Django project (staticwrap.django): the roots and options its
        # settings name; the keywords given here take precedence. Django is
        # loaded already if `application` is its WSGIHandler.
        handlers = sys.modules.get("django.core.handlers.wsgi")
        if handlers is not None and isinstance(application, handlers.WSGIHandler):
            from .django.wsgi import configure as configure_django

            configure_django(self, **options)
        if self.config.listing or self.config.not_found is not None:
            # Listings and the not-found page answer (some of) the paths the index does not hold.
            fallback = Fallback(self, self.application, static_only=application is None)
            fallback.check()
            self.application = fallback

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # One dict lookup of PATH_INFO as the server gives it (see
        # index.path_info_of): every request that is not for a static file
        # pays only this, and, when a root has a manifest, a prefix and
        # name check of the path (StaticCore.missing).
        path = environ.get("PATH_INFO", "")
        entry = self._paths.get(path)
        if entry is None:
            gone = self.missing(path, environ.get("REQUEST_METHOD")) if self._built_prefixes else None
            if gone is not None:
                return wsgi_answer(gone, environ, start_response)
            return self.application(environ, start_response)
        # The fast path: a plain GET, or a revalidation by the exact ETag, of
        # a body held in memory. No request header that could change the
        # answer is present, so the prebuilt headers are the answer (every
        # other request is decided by responder.respond).
        get = environ.get
        if (
            type(entry) is Asset
            and get("REQUEST_METHOD") == "GET"
            and get("HTTP_RANGE") is None
            and get("HTTP_IF_MATCH") is None
            and get("HTTP_IF_UNMODIFIED_SINCE") is None
            and (self._origin_ignored or get("HTTP_ORIGIN") is None)
            # A client that holds a dictionary of a file with deltas may get one (RFC 9842).
            and (not entry.deltas or get("HTTP_AVAILABLE_DICTIONARY") is None)
        ):
            accept = get("HTTP_ACCEPT_ENCODING")
            variant = entry.variants[entry.choices.get(accept) or choose_memoized(entry.choices, accept, entry.codings)]
            # A cached body is used only once the kernel's news of changes on
            # disk is delivered (staticwrap.memory): none is queued (a word
            # of memory the kernel shares, or one epoll_wait(2): see
            # staticwrap.watch), and none is being delivered by another
            # thread that has read it already. Only then is the body read:
            # read before, it could be one that the news drops.
            if variant.body is not None and not WATCHER.pending() and not WATCHER.syncing:
                body = variant.body  # None if dropped meanwhile: the full path reads the disk
                if body is not None:
                    tag = get("HTTP_IF_NONE_MATCH")
                    if tag is None:
                        if get("HTTP_IF_MODIFIED_SINCE") is None:
                            # A copy: a server or middleware may add to the list it is given.
                            start_response("200 OK", variant.ok_headers[:])
                            return [body]
                    elif tag == variant.etag:
                        # §13.1.2: If-Modified-Since is ignored when If-None-Match is present.
                        start_response("304 Not Modified", variant.not_modified_headers[:])
                        return []
        method = get("REQUEST_METHOD", "GET")
        request = read_request(method, get, WSGI_KEYS)
        answer = self.answer(entry, request, answers.wsgi_query(get("QUERY_STRING", "")))
        if answer is None:
            return self.application(environ, start_response)
        assert answer is not NEEDS_DISK  # the WSGI worker may block: the answer is always made
        return wsgi_answer(answer, environ, start_response)


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The application of a static-only StaticWrap: 404 for every path not in the index."""
    return wsgi_answer(answers.not_found(), environ, start_response)
