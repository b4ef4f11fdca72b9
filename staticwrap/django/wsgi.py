"""Serving a Django project through :class:`~staticwrap.StaticWrap`: the roots its settings name."""

from __future__ import annotations

import difflib
import os
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from staticwrap.core import StaticCore
from staticwrap.errors import ConfigurationError, warn
from staticwrap.middleware import StaticWrap
from staticwrap.tree import normalize_prefix

from .conf import DjangoConfig
from .debug import DebugNotFound, Source

if TYPE_CHECKING:
    from django.core.handlers.wsgi import WSGIHandler

    from staticwrap._types import WSGIApplication

#: The origins of the directories that are not a finder's.
STATIC_ROOT = "STATIC_ROOT"
ROOT = "settings.STATICWRAP['root']"
NOT_A_DIRECTORY = "is not a directory"

# The roots configure() added to each wrapper, so that configuring one again
# replaces them instead of serving them twice.
_added: weakref.WeakKeyDictionary[StaticCore, list[tuple[str, str]]] = weakref.WeakKeyDictionary()


def configure(wrapper: StaticWrap, settings: object | None = None, **options: Any) -> None:
    """Configure ``wrapper`` from Django's settings: its options and the directories it serves.

    The options come from ``settings.STATICWRAP`` (see :doc:`django`), with
    ``max_age`` 0 and ``autorefresh`` on when ``DEBUG``; ``options`` take
    precedence. The roots, first match wins:

    1. with ``use_finders`` (the default when ``DEBUG``), the directories of
       the staticfiles finders (``STATICFILES_DIRS``, each app's ``static/``),
       at ``STATIC_URL``, so that no ``collectstatic`` is needed;
    2. ``STATIC_ROOT`` at the path of ``STATIC_URL`` (``FORCE_SCRIPT_NAME`` removed);
    3. ``STATICWRAP["root"]`` at ``/``.

    Directories the wrapper already served are kept, ahead of these. With
    ``DEBUG`` on, a request under ``STATIC_URL`` that none of them serves
    gets a 404 that lists where it was looked for
    (:class:`~staticwrap.django.debug.DebugNotFound`), as with Django's own
    development handler, instead of reaching the application.

    :param settings: ``django.conf.settings`` when not given.
    :raises ConfigurationError: for a bad ``STATICWRAP`` key or a
        ``STATICWRAP["root"]`` that is not a directory, and, unless ``DEBUG``,
        for a ``STATIC_ROOT`` that is not set. One that is not a directory
        (collectstatic has not run) is a :class:`~staticwrap.StaticwrapWarning`.
    """
    django, sources, served = configure_roots(wrapper, settings, **options)
    wrapper.application = _behind(wrapper.application, django, sources, served)


def configure_roots(
    wrapper: StaticCore, settings: object | None = None, **options: Any
) -> tuple[DjangoConfig, list[Source], list[tuple[str, str]]]:
    """The part of :func:`configure` both front ends share: ``wrapper``'s options and roots from the settings.

    :returns: the settings read, every static directory they name, and the
        ``(directory, prefix)`` pairs now served, in order.
    """
    if settings is None:
        from django.conf import settings as django_settings

        settings = django_settings
    django = DjangoConfig.from_settings(settings, **options)
    sources = static_sources(django)
    roots = _served(django, sources)
    ours = set(_added.get(wrapper, ()))
    earlier = [(root.path, root.prefix) for root in wrapper.index.roots if (root.path, root.prefix) not in ours]
    # The index was built with the wrapper's options: it is built again with these.
    wrapper.use_config(django.config)
    for path, prefix in [*earlier, *roots]:
        wrapper.add_files(path, prefix)
    _added[wrapper] = roots
    return django, sources, [*earlier, *roots]


def get_wsgi_application(**options: Any) -> StaticWrap:
    """Django's WSGI application, wrapped in a :class:`~staticwrap.StaticWrap` configured by :func:`configure`.

    Use it in ``wsgi.py`` instead of ``django.core.wsgi.get_wsgi_application``::

        from staticwrap.django import get_wsgi_application

        application = get_wsgi_application()

    :param options: as for :func:`configure`; they take precedence over ``settings.STATICWRAP``.
    """
    from django.core.wsgi import get_wsgi_application as django_application

    handler: WSGIHandler = django_application()
    wrapper = StaticWrap(handler)
    if options or wrapper not in _added:
        configure(wrapper, **options)
    return wrapper


def static_roots(django: DjangoConfig) -> list[tuple[str, str]]:
    """The ``(directory, URL prefix)`` pairs to serve, in order of precedence (see :func:`configure`)."""
    return _served(django, static_sources(django))


def _served(django: DjangoConfig, sources: list[Source]) -> list[tuple[str, str]]:
    if not django.debug and any(source.origin == STATIC_ROOT and source.problem for source in sources):
        # Not an error: a test run (DEBUG is off) or a release step may start
        # the application before collectstatic has run. The check says it too.
        warn(
            f"STATIC_ROOT {django.static_root} is not a directory, so no static file is served "
            "from it: run manage.py collectstatic"
        )
    return list(
        dict.fromkeys(
            (source.location, source.prefix)
            for source in sources
            if source.problem is None and source.location is not None
        )
    )


def _behind(
    application: WSGIApplication, django: DjangoConfig, sources: list[Source], served: list[tuple[str, str]]
) -> WSGIApplication:
    """What the wrapper passes a miss to: ``application``, behind a :class:`DebugNotFound` when ``DEBUG`` is on."""
    if isinstance(application, DebugNotFound):  # configured before
        application = application.application
    prefix = django.static_prefix
    # STATIC_URL = "/" would put every page of the site under it.
    if not django.debug or prefix is None or prefix == "/":
        return application
    origins: dict[tuple[str | None, str], str] = {}
    for source in sources:
        if source.problem is None:
            origins.setdefault((source.location, source.prefix), source.origin)
    searched = [Source(origins.get((path, at), "StaticWrap.add_files"), path, at) for path, at in served]
    skipped = [source for source in sources if source.problem is not None]
    return DebugNotFound(application, prefix, searched, skipped)


def static_sources(django: DjangoConfig) -> list[Source]:
    """Every directory the settings name for static files, in order of precedence, served or not.

    :raises ConfigurationError: as :func:`configure`.
    """
    sources: list[Source] = []
    prefix = django.static_prefix
    if django.use_finders and prefix is not None:
        sources += finder_sources(prefix)
    if django.static_root is not None and os.path.isdir(django.static_root):
        if prefix is None:
            raise ConfigurationError(
                f"STATIC_ROOT is {django.static_root}, but STATIC_URL is not set: set STATIC_URL (such as "
                "'static/'), the URL path STATIC_ROOT is served at"
            )
        sources.append(Source(STATIC_ROOT, django.static_root, prefix))
    elif django.static_root is not None:
        sources.append(Source(STATIC_ROOT, django.static_root, prefix or "/", NOT_A_DIRECTORY))
    elif not django.debug:
        raise ConfigurationError(
            "STATIC_ROOT is not set, so staticwrap has no static files to serve: set it to the directory "
            "collectstatic fills (such as BASE_DIR / 'staticfiles'), then run manage.py collectstatic"
        )
    check_root(django)
    if django.root is not None:
        sources.append(Source(ROOT, django.root, "/"))
    return sources


def check_root(django: DjangoConfig) -> None:
    """Raise the error :func:`configure` gives for a ``STATICWRAP["root"]`` that is not a directory.

    The message suggests the directory beside it whose name is closest, for a misspelt name.
    """
    root = django.root
    if root is None or os.path.isdir(root):
        return
    parent, name = os.path.split(root)
    try:
        siblings = [entry.name for entry in os.scandir(parent) if entry.is_dir()]
    except OSError:  # the parent is missing too: nothing to suggest
        siblings = []
    close = difflib.get_close_matches(name, siblings, n=1)
    fix = f"did you mean {os.path.join(parent, close[0])!r}? Otherwise create it" if close else "create it"
    raise ConfigurationError(f"{ROOT} = {root!r} is not a directory: {fix}, or remove the key")


def finder_sources(prefix: str) -> list[Source]:
    """The directories of the staticfiles finders, with their URL prefixes, served or not.

    ``FileSystemFinder`` serves a ``("prefix", path)`` entry of
    ``STATICFILES_DIRS`` under ``STATIC_URL + "prefix/"``. Storages with no
    local directory (a remote storage) cannot be served.
    """
    from django.contrib.staticfiles import finders

    sources: list[Source] = []
    for finder in finders.get_finders():
        origin = f"{type(finder).__module__}.{type(finder).__qualname__}"
        storages = getattr(finder, "storages", None)
        candidates = list(storages.values()) if isinstance(storages, Mapping) else [getattr(finder, "storage", None)]
        for storage in candidates:
            location = getattr(storage, "location", None)
            sub = str(getattr(storage, "prefix", None) or "").strip("/")
            served_at = normalize_prefix(prefix + sub) if sub else prefix
            if not isinstance(location, str):
                sources.append(Source(origin, None, served_at, "has no directory on this machine"))
            elif not os.path.isdir(location):
                sources.append(Source(origin, location, served_at, NOT_A_DIRECTORY))
            else:
                sources.append(Source(origin, location, served_at))
    return sources
