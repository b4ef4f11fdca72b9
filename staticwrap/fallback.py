"""What a StaticWrap answers for a path no file of the index answers: a listing, a not-found page, or the application.

Both are options (``listing``, ``not_found``); without them the request goes
to the wrapped application (or the plain 404 of a static-only StaticWrap)
untouched. The request path is only ever a key into the index here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import answer as answers
from . import listing
from ._syntax import SAFE_METHODS
from ._wsgi import wsgi_answer
from .answer import Answer
from .asset import Asset, Redirect
from .body import Stale, Unavailable, check_fresh, open_checked
from .errors import OPTION, ConfigurationError
from .index import Entry, url_of
from .ranges import ByteRange
from .responder import Plan, method_not_allowed

if TYPE_CHECKING:
    from ._types import StartResponse, WSGIApplication, WSGIEnvironment
    from .middleware import StaticWrap


class Fallback:
    """The WSGI application a :class:`~staticwrap.StaticWrap` hands the paths its index does not hold.

    :param wrap: the StaticWrap, whose index (as it is at each request) is listed.
    :param application: where every other request goes.
    :param static_only: whether no application is behind ``wrap``: only then
        is a miss answered with the ``not_found`` page.
    """

    def __init__(self, wrap: StaticWrap, application: WSGIApplication, *, static_only: bool) -> None:
        self._wrap = wrap
        self._application = application
        self._static_only = static_only
        # The index's URLs in sorted order, for listings; made again when the index changes size.
        self._urls: tuple[dict[str, Entry], int, list[str]] = ({}, 0, [])

    def check(self) -> None:
        """Raise :class:`ConfigurationError` if the ``not_found`` page cannot be served."""
        name = self._wrap.config.not_found
        if name is None:
            return
        if not self._static_only:
            raise ConfigurationError(
                f"{OPTION} answers the paths that neither a file nor the application answers, and the "
                "application answers all of those: drop the option, or serve the files alone with "
                "StaticWrap(None, root, ...)",
                option="not_found",
                value=name,
            )
        if self._wrap.index.roots and self._page() is None:
            roots = ", ".join(root.path for root in self._wrap.index.roots)
            raise ConfigurationError(
                f"{OPTION}: no root has a file {name} that can be served (roots: {roots}); "
                "create it, or give the path of the page relative to a root",
                option="not_found",
                value=name,
            )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        config = self._wrap.config
        if config.listing:
            url = url_of(environ.get("PATH_INFO", ""))
            if url is not None:
                answer = self._listing(url, environ, start_response)
                if answer is not None:
                    return answer
        if self._static_only and config.not_found is not None:
            return self._not_found(environ, start_response)
        return self._application(environ, start_response)

    # -- listings ---------------------------------------------------------

    def _listing(self, url: str, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes] | None:
        prefixes = {root.prefix for root in self._wrap.index.roots}
        if not url.endswith("/"):
            # A directory named without its slash: the same redirect as for an index file.
            if self._entries(url + "/", prefixes) is not None:
                method = environ.get("REQUEST_METHOD", "GET")
                query = answers.wsgi_query(environ.get("QUERY_STRING", ""))
                return wsgi_answer(
                    answers.redirect(Redirect(url + "/"), method, query, self._wrap.config), environ, start_response
                )
            return None
        entries = self._entries(url, prefixes)
        if entries is None:
            return None
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in SAFE_METHODS:
            return _answer(method_not_allowed(), start_response)
        body = listing.render(url, entries, parent=url not in prefixes)
        headers = [*listing.LISTING_HEADERS, ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [body]

    def _entries(self, url: str, prefixes: set[str]) -> list[listing.Listed] | None:
        """What the directory URL ``url`` lists; ``None`` if it is not one.

        A directory is one if it is a root's prefix, or lies under one and
        holds a file that is served.
        """
        if not any(url.startswith(prefix) for prefix in prefixes):
            return None
        if self._wrap.config.autorefresh:
            try:
                items = self._wrap.index.directory_on_disk(url)
            except OSError:  # a transient failure: not a listing this time
                return None
            found = None if items is None else listing.ordered(listing.listed(name, asset) for name, asset in items)
        else:
            files, urls = self._sorted_urls()
            found = listing.entries(files, urls, url)
        return found if found or url in prefixes else None

    def _sorted_urls(self) -> tuple[dict[str, Entry], list[str]]:
        files = self._wrap.index.files
        known, size, urls = self._urls
        if known is not files or size != len(files):
            # Sorted from a copy made in one step: another thread may add to the index meanwhile.
            urls = sorted(files.copy())
            self._urls = (files, len(urls), urls)
        return files, urls

    # -- the not-found page -------------------------------------------------

    def _page(self) -> Asset | None:
        """The ``not_found`` page: the file of that name under the first root that has one."""
        name = self._wrap.config.not_found
        index = self._wrap.index
        for root in index.roots:
            try:
                entry = index.lookup(root.prefix + (name or ""))
            except OSError:  # a transient failure (autorefresh): the plain 404 this time
                return None
            if isinstance(entry, Asset):
                return entry
        return None

    def _not_found(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # A 404 is not the target's representation: no validator, so no
        # precondition can turn it into a 304 or a 412 (RFC 9110 §13.2.1),
        # no range, and no-cache, so that a cache that stores it
        # (§15.1: 404 is heuristically cacheable) asks again once the file exists.
        page = self._page()
        # Two tries, as for any file: one found changed is indexed again (HTTP.md rule 35).
        for _attempt in range(2):
            if page is None:
                break
            answer = self._send_page(page, environ, start_response)
            if answer is not None:
                return answer
            refreshed = self._wrap.index.refresh(page)
            page = refreshed if isinstance(refreshed, Asset) else None
        return self._application(environ, start_response)

    def _send_page(
        self, page: Asset, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """The 404 with ``page`` as its body; ``None`` if the file is no longer the one indexed."""
        facts = page.identity.file
        plan = Plan(
            "404 Not Found",
            [
                ("Content-Type", page.content_type),
                ("Content-Length", str(facts.size)),
                ("Cache-Control", "no-cache"),
                ("X-Content-Type-Options", "nosniff"),
            ],
            page.identity,
            (ByteRange(0, facts.size),),
        )
        if environ.get("REQUEST_METHOD") == "HEAD":
            return _answer(plan, start_response) if check_fresh(facts) is None else None
        opened = open_checked(facts)
        if isinstance(opened, (Stale, Unavailable)):  # the plain 404 then
            return None
        return wsgi_answer(Answer(plan.status, plan.headers, (), opened, plan.segments, facts), environ, start_response)


def _answer(plan: Plan, start_response: StartResponse) -> Iterable[bytes]:
    start_response(plan.status, plan.headers)
    return []
