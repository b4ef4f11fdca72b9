"""With ``DEBUG`` on: a 404 under ``STATIC_URL`` that says where staticwrap looked.

Django's own development handler answers every request under ``STATIC_URL``
itself; staticwrap does the same when ``DEBUG`` is on, and its 404 lists the
files it looked for (one per directory searched, with the finder or setting
that named the directory) and the directories it could not search. With
``DEBUG`` off the request goes on to Django, whose 404 page names nothing.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from staticwrap._syntax import SAFE_IN_PATH
from staticwrap.index import path_info_of

if TYPE_CHECKING:
    from staticwrap._types import StartResponse, WSGIApplication, WSGIEnvironment


@dataclass(frozen=True, slots=True)
class Source:
    """A directory the settings name for static files, and why it is not served, if it is not."""

    #: The finder's dotted class name, ``STATIC_ROOT``, or ``settings.STATICWRAP['root']``.
    origin: str
    #: The directory; ``None`` for a storage with no directory on this machine.
    location: str | None
    #: The URL prefix it is served at.
    prefix: str
    #: Why it is not served ("is not a directory"), or ``None`` when it is.
    problem: str | None = None


class DebugNotFound:
    """The application behind the wrapper when ``DEBUG`` is on: a miss under ``prefix`` is explained.

    :param application: the application that answers every other request.
    :param prefix: the URL path of ``STATIC_URL`` (not ``/``).
    :param searched: the directories the wrapper serves, in the order it searches them.
    :param skipped: the directories the settings name that it cannot serve.
    """

    def __init__(
        self, application: WSGIApplication, prefix: str, searched: Sequence[Source], skipped: Sequence[Source]
    ) -> None:
        self.application = application
        self.prefix = prefix
        self._prefix_info = path_info_of(prefix)
        self.searched = tuple(searched)
        self.skipped = tuple(skipped)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path_info: str = environ.get("PATH_INFO", "")
        if not path_info.startswith(self._prefix_info):
            return self.application(environ, start_response)
        # PEP 3333: PATH_INFO holds the path's bytes as latin-1 text. They
        # are echoed percent-encoded, as a URL: nothing the client sent can
        # become markup, a header or a terminal control sequence.
        url = quote(path_info.encode("latin-1", "replace"), safe=SAFE_IN_PATH)
        body = explain(url, self.prefix, self.searched, self.skipped).encode()
        start_response(
            "404 Not Found",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("X-Content-Type-Options", "nosniff"),
                ("Cache-Control", "no-store"),
            ],
        )
        # RFC 9110 §9.3.2: HEAD gets the headers of the GET, and no body.
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def explain(url: str, prefix: str, searched: Sequence[Source], skipped: Sequence[Source]) -> str:
    """The 404 text for ``url`` (percent-encoded) under ``prefix``: the files looked for, the directories skipped."""
    lines = [
        f"404 Not Found: no static file at {url}",
        "",
        "DEBUG is on, so staticwrap says where it looked (with DEBUG off, this is Django's 404 page).",
        "",
    ]
    # The files are named by the decoded path (the name a file on disk has);
    # one holding anything a terminal or a browser could act on is shown
    # percent-encoded, as the URL is.
    decoded = unquote(url, errors="replace")
    candidates = []
    for source in searched:
        if decoded.startswith(source.prefix) and source.location is not None:
            candidates.append((source, decoded[len(source.prefix) :].split("/")))
    if any(part in {"", ".", ".."} for _, parts in candidates for part in parts):
        # The index never holds such a path, and no file is named so.
        lines.append("This is not a file name: it has an empty, '.' or '..' segment.")
    elif candidates:
        lines.append("Looked for, in this order:")
        for source, parts in candidates:
            lines += [f"  {_shown(os.path.join(source.location or '', *parts))}"]
            lines += [f"      ({source.origin}, served at {source.prefix})"]
        name = decoded[len(prefix) :]
        lines += ["", f"Where Django's finders would find it: python manage.py findstatic {shlex.quote(_shown(name))}"]
    else:
        lines.append("No directory is served at this URL.")
    if skipped:
        lines += ["", "Not searched:"]
        lines += [f"  {source.location or 'a storage'} {source.problem} ({source.origin})" for source in skipped]
    return "\n".join(lines) + "\n"


def _shown(text: str) -> str:
    return text if text.isprintable() and not _MARKUP.intersection(text) else _encoded(text)


#: Characters an echoed name never holds as they are (see :func:`_shown`).
_MARKUP = frozenset("<>&\"'`")


def _encoded(path: str) -> str:
    # A URL path as the 404 echoes it: UTF-8, percent-encoded.
    return quote(path, safe=SAFE_IN_PATH)
