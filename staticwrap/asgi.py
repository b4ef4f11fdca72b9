"""The ASGI front end: :class:`StaticWrapASGI` serves static files in front of any ASGI 3 application.

It shares everything but the transport with the WSGI
:class:`~staticwrap.StaticWrap` (:class:`~staticwrap.core.StaticCore`: one
index, one set of options, one body cache, the same answers); this module
only reads the scope and sends the :class:`~staticwrap.answer.Answer` as
``http.response.*`` events. ``lifespan`` and ``websocket`` scopes, and every
request the index does not answer, reach the wrapped application untouched.

The event loop never waits on the disk: an answer that needs it (a file not
in the body cache, a stat(2) for a 304 of one) is made in a thread, and a
file body is read there in large blocks, unless the server takes the open
descriptor itself (``http.response.zerocopysend``) or may open the path
itself (``http.response.pathsend``, for immutable names only). See
:doc:`/asgi`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, BinaryIO, Generic, TypeVar

from .answer import ASGI_KEYS, Answer, not_found, read_request
from .body import check_holds, check_unchanged, ended_early
from .core import NEEDS_DISK, StaticCore
from .errors import ConfigurationError
from .index import path_info_of
from .ranges import ByteRange

__all__ = ["StaticWrapASGI", "template_globals"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

T = TypeVar("T")

#: Bytes read from a file per block: large, as each thread hop costs a
#: context switch, and bounded, as a client that goes away waits for at most
#: one read before its file is closed.
READ_SIZE = 512 * 1024

#: preadv2(2)'s flag to read only what the page cache holds, failing with
#: EAGAIN instead of waiting for the disk (Linux 4.14+; absent elsewhere).
RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)

ZEROCOPYSEND = "http.response.zerocopysend"
PATHSEND = "http.response.pathsend"

_log = logging.getLogger("staticwrap")


class StaticWrapASGI(StaticCore):
    """Serve static files in front of an ASGI application.

    ::

        app = StaticWrapASGI(app, "static/", prefix="/static/")
        app.add_files("public/", prefix="/")

    :param app: the ASGI 3 application to wrap, or ``None`` to answer every
        other path with a plain 404 (a static-only app, to mount in a router).
    :param root: a directory to serve at once, as with :meth:`add_files`.
    :param prefix: the URL prefix of ``root``, below the scope's ``root_path``.
    :param options: the keyword-only options of
        :meth:`staticwrap.config.Config.from_options`, checked at once;
        ``listing`` and ``not_found`` are WSGI-only.
    :raises ConfigurationError: for a bad option or a root that is not a directory.
    """

    def __init__(
        self,
        app: ASGIApp | None,
        root: str | os.PathLike[str] | None = None,
        prefix: str = "/",
        **options: Any,
    ) -> None:
        super().__init__(app, "ASGI", options)
        for name in ("listing", "not_found"):
            if options.get(name):
                raise ConfigurationError(
                    f"StaticWrapASGI({name}=...) is not supported: directory listings and the not-found page "
                    f"are served by the WSGI StaticWrap only; drop the {name} keyword"
                )
        self.app: ASGIApp = app if app is not None else static_only
        if root is not None:
            self.add_files(root, prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan, websocket: not ours
            await self.app(scope, receive, send)
            return
        path = _path_info(scope)
        method: str = scope["method"]
        if self.config.autorefresh:  # every lookup is made on disk
            entry = await _off_loop(functools.partial(self._paths.get, path), _keep)
        else:
            entry = self._paths.get(path)
        if entry is None:
            gone = self.missing(path, method) if self._built_prefixes else None
            if gone is None:
                await self.app(scope, receive, send)
            else:
                await send_answer(gone, scope, receive, send)
            return
        fields = _fields(scope["headers"])
        request = read_request(method, fields.get, ASGI_KEYS)
        query: bytes = scope.get("query_string", b"")
        answer = self.answer(entry, request, query, may_block=False)
        if answer is NEEDS_DISK:
            answer = await _off_loop(functools.partial(self.answer, entry, request, query), _close_answer)
        if answer is None:
            await self.app(scope, receive, send)
            return
        assert answer is not NEEDS_DISK
        await send_answer(answer, scope, receive, send)


def _path_info(scope: Scope) -> str:
    """The request path below the mount point, in the ``PATH_INFO`` form the index is keyed by.

    The scope's ``path`` includes ``root_path`` (the ASGI spec since 2.3 and
    the asgiref WSGI adapter), as when a router mounts this app: the part
    below it is the one looked up, as WSGI's ``PATH_INFO`` is below
    ``SCRIPT_NAME``.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path_info_of(path)


#: The request fields that decide a static answer: lower-case name as sent → the key read_request looks up.
_WANTED = {key.encode("latin-1"): key for key in ASGI_KEYS}


def _fields(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request fields of :data:`_WANTED` by name; repeated fields joined with ", " (RFC 9110 §5.3).

    Only those are decoded: a request carries many other fields.
    """
    fields: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = _WANTED.get(raw_name) or _WANTED.get(raw_name.lower())
        if name is not None:
            value = raw_value.decode("latin-1")
            fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


#: Response fields as ASGI sends them (lower-case name, latin-1 bytes), by the field as staticwrap makes it:
#: most answers repeat the same few fields, so each is encoded once.
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_ENCODED_MAX = 4096


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    encoded = []
    for field in headers:
        pair = _ENCODED.get(field)
        if pair is None:
            name, value = field
            pair = (name.lower().encode("latin-1"), value.encode("latin-1"))
            if len(_ENCODED) >= _ENCODED_MAX:  # per-response values (ETags, Content-Range) would fill it
                _ENCODED.clear()
            _ENCODED[field] = pair
        encoded.append(pair)
    return encoded


async def send_answer(answer: Answer, scope: Scope, receive: Receive, send: Send) -> None:
    """Send ``answer`` as ASGI events; its file, if any, is closed on every path, at once when the client goes."""
    file = answer.file
    try:
        if answer.complaint is not None:
            # The server's error log: uvicorn, Hypercorn and Granian show the
            # warnings of the logging module.
            _log.warning("%s", answer.complaint.rstrip("\n"))
        start = {"type": "http.response.start", "status": int(answer.status[:3]), "headers": _encoded(answer.headers)}
        await send(start)
        # No body on a HEAD (RFC 9110 §9.3.2): the WSGI servers drop it; here it is never sent.
        if scope["method"] == "HEAD" or (file is None and not answer.parts):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if file is None:
            last = len(answer.parts) - 1
            for number, part in enumerate(answer.parts):
                await send({"type": "http.response.body", "body": part, "more_body": number < last})
            return
        await _send_file(answer, file, scope, receive, send)
    finally:
        if file is not None:
            file.close()


async def _send_file(answer: Answer, file: BinaryIO, scope: Scope, receive: Receive, send: Send) -> None:
    extensions = scope.get("extensions") or {}
    segments = answer.segments
    whole = len(segments) == 1 and segments[0] == ByteRange(0, answer.facts.size if answer.facts else -1)
    if PATHSEND in extensions and ZEROCOPYSEND not in extensions and answer.path_is_stable and whole:
        # The server opens the path after these headers were made: only a
        # name whose bytes never change (content-hashed, immutable) is
        # safe; its descriptor was checked to be the file indexed.
        assert answer.facts is not None
        await send({"type": PATHSEND, "path": os.path.abspath(answer.facts.path)})
        return
    listener = _Listener(receive)
    try:
        last = len(segments) - 1
        for number, segment in enumerate(segments):
            more = number < last
            if listener.gone:
                return
            if isinstance(segment, bytes):
                await send({"type": "http.response.body", "body": segment, "more_body": more})
            elif ZEROCOPYSEND in extensions:
                message = {"type": ZEROCOPYSEND, "file": file, "offset": segment.start, "count": segment.length}
                await send({**message, "more_body": more})
                # As for Gunicorn's sendfile (body.SendableRange): the file is
                # checked once the server is done with it; a change aborts the
                # connection, so the client sees the body end early.
                check_holds(file, segment.stop, answer.facts)
            elif not await _send_range(file, segment, more, answer, listener, send):
                return
    finally:
        listener.stop()


async def _send_range(
    file: BinaryIO, segment: ByteRange, more: bool, answer: Answer, listener: _Listener, send: Send
) -> bool:
    """Send one range of ``file`` block by block; ``False`` once the client is gone.

    A block the page cache holds is read on the loop; any other in a thread.
    """
    position, stop = segment.start, segment.stop
    cached = _PageCacheReader(file)
    while position < stop:
        count = min(READ_SIZE, stop - position)
        block = cached.read(position, count)
        if block is None:
            block = await _off_loop(functools.partial(_read, file, position, count, answer), _keep)
        else:
            check_unchanged(file, answer.facts)
            # Let the loop run between blocks, as a thread's read would: other
            # requests, and the listener, which may learn the client is gone
            # (uvicorn's send returns at once, without yielding, once it is).
            await asyncio.sleep(0)
        position += len(block)
        if listener.gone:
            return False
        await send({"type": "http.response.body", "body": block, "more_body": more or position < stop})
    return True


def _read(file: BinaryIO, position: int, count: int, answer: Answer) -> bytes:
    block = os.pread(file.fileno(), count, position)
    if len(block) < count:
        raise ended_early(file, answer.facts)
    check_unchanged(file, answer.facts)
    return block


#: Each thread's buffer for :class:`_PageCacheReader` (one per event loop's thread).
_buffers = threading.local()


class _PageCacheReader:
    """Reads blocks of a file on the event loop when, and only when, the page cache holds all of a block.

    ``preadv2(RWF_NOWAIT)`` copies what is in memory and fails rather than
    wait for the disk, so the loop never blocks on it; a block it cannot read
    whole goes to a thread. A hop to a thread and back costs far more than
    the copy, and a served file is nearly always cached.
    The block lands in one buffer per thread and leaves as ``bytes``: ASGI
    bodies are byte strings, and a fresh buffer per block costs more in page
    faults than the copy. The buffer is the thread's, not the response's:
    the read and the copy are made with no ``await`` between them, and a
    response waiting on a slow client then holds only the block it sends.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._fd = file.fileno()
        self._usable = RWF_NOWAIT is not None

    def read(self, position: int, count: int) -> bytes | None:
        """The ``count`` bytes at ``position``, or ``None`` where reading them could wait for the disk."""
        if not self._usable or RWF_NOWAIT is None:
            return None
        buffer: bytearray | None = getattr(_buffers, "buffer", None)
        if buffer is None or len(buffer) < count:
            buffer = _buffers.buffer = bytearray(count)
        with memoryview(buffer) as whole, whole[:count] as view:
            try:
                got = os.preadv(self._fd, [view], position, RWF_NOWAIT)
            except BlockingIOError:  # EAGAIN: not all of it is in memory
                return None
            except OSError:  # EOPNOTSUPP (tmpfs, overlayfs) and the like: this file system cannot tell
                self._usable = False  # threads read the rest of the range
                return None
            # Short: part of the block is not cached, or the file ended early;
            # the thread's read tells the two apart.
            return bytes(view) if got == count else None


class _Listener:
    """Watches ``receive`` for ``http.disconnect`` while a body is sent, so that the file is closed at once.

    uvicorn makes a send after the client left a no-op, so without this
    the whole file would be read for nobody.
    """

    def __init__(self, receive: Receive) -> None:
        self.gone = False
        self._task = asyncio.ensure_future(self._listen(receive))

    async def _listen(self, receive: Receive) -> None:
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
        except Exception:  # a server whose receive fails has lost the client too
            pass
        self.gone = True

    def stop(self) -> None:
        self._task.cancel()


class _Handoff(Generic[T]):
    """A result made in a thread for a coroutine that may be cancelled meanwhile: then ``discard`` gets it."""

    def __init__(self, discard: Callable[[T], None]) -> None:
        self._lock = threading.Lock()
        self._discard = discard
        self._abandoned = False
        self._result: list[T] = []

    def deliver(self, result: T) -> T:
        with self._lock:
            if self._abandoned:
                self._discard(result)
            else:
                self._result.append(result)
        return result

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            for result in self._result:
                self._discard(result)


async def _off_loop(call: Callable[[], T], discard: Callable[[T], None]) -> T:
    """``call()`` in the loop's default thread pool; a result the caller no longer waits for goes to ``discard``."""
    handoff = _Handoff(discard)
    try:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: handoff.deliver(call()))
    except asyncio.CancelledError:
        handoff.abandon()
        raise


def _keep(result: object) -> None:
    """The discard of a result that holds nothing to close."""


def _close_answer(answer: object) -> None:
    if isinstance(answer, Answer) and answer.file is not None:
        answer.file.close()


async def complete_lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol for an application with nothing to start or stop: complete both steps."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def static_only(scope: Scope, receive: Receive, send: Send) -> None:
    """The application of a static-only StaticWrapASGI: a 404 for every path not in the index.

    It completes the lifespan protocol, so that a server that runs it
    alone starts, and refuses a WebSocket (a close before the accept: a 403).
    """
    if scope["type"] == "lifespan":
        await complete_lifespan(receive, send)
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1000})
    else:
        await send_answer(not_found(), scope, receive, send)


def template_globals(wrapper: StaticCore, *, root_path: str = "") -> dict[str, Callable[..., Any]]:
    """``static_url()`` and ``static_integrity()`` for the templates of any framework (Jinja2 above all).

    The same names and meaning as in Flask's templates (:mod:`staticwrap.flask`)
    and Django's ``{% load staticwrap %}``::

        templates = Jinja2Templates(directory="templates")
        templates.env.globals.update(template_globals(static))

    ``{{ static_url("app.js") }}`` is the content-hashed URL when a manifest
    lists the file; ``{{ static_integrity("app.js") }}`` its SRI value.

    :param root_path: where the application is mounted (ASGI ``root_path``,
        WSGI ``SCRIPT_NAME``), put before every URL.
    """
    mount = root_path.rstrip("/")

    def static_url(name: str, prefix: str | None = None) -> str:
        url = wrapper.url(name, prefix=prefix)
        # On a CDN (base_url), the URL is whole already: the CDN's paths are the roots' prefixes.
        return url if wrapper.config.base_url is not None else mount + url

    def static_integrity(name: str, prefix: str | None = None) -> str | None:
        return wrapper.integrity(name, prefix=prefix)

    return {"static_url": static_url, "static_integrity": static_integrity}
