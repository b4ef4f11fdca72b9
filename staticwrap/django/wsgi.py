"""Serving a Django project through :class:`~staticwrap.StaticWrap`: the roots its settings name."""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from staticwrap.errors import ConfigurationError, warn
from staticwrap.middleware import StaticWrap
from staticwrap.tree import normalize_prefix

from .conf import DjangoConfig

if TYPE_CHECKING:
    from django.core.handlers.wsgi import WSGIHandler

# The roots configure() added to each wrapper, so that configuring one again
# replaces them instead of serving them twice.
_added: weakref.WeakKeyDictionary[StaticWrap, list[tuple[str, str]]] = weakref.WeakKeyDictionary()


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

    Directories the wrapper already served are kept, ahead of these.

    :param settings: ``django.conf.settings`` when not given.
    :raises ConfigurationError: for a bad ``STATICWRAP`` key, and, unless
        ``DEBUG``, for a ``STATIC_ROOT`` that is not set. One that is not a
        directory (collectstatic has not run) is a :class:`~staticwrap.StaticwrapWarning`.
    """
    if settings is None:
        from django.conf import settings as django_settings

        settings = django_settings
    django = DjangoConfig.from_settings(settings, **options)
    roots = static_roots(django)
    ours = set(_added.get(wrapper, ()))
    earlier = [(root.path, root.prefix) for root in wrapper.index.roots if (root.path, root.prefix) not in ours]
    # The index was built with the wrapper's options: it is built again with these.
    wrapper.use_config(django.config)
    for path, prefix in [*earlier, *roots]:
        wrapper.add_files(path, prefix)
    _added[wrapper] = roots


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
    roots: list[tuple[str, str]] = []
    prefix = django.static_prefix
    if django.use_finders and prefix is not None:
        roots += finder_roots(prefix)
    if django.static_root is not None and os.path.isdir(django.static_root):
        if prefix is None:
            raise ConfigurationError(
                f"STATIC_ROOT is {django.static_root}, but STATIC_URL is not set: set STATIC_URL (such as "
                "'static/'), the URL path STATIC_ROOT is served at"
            )
        roots.append((django.static_root, prefix))
    elif not django.debug:
        if django.static_root is None:
            raise ConfigurationError(
                "STATIC_ROOT is not set, so staticwrap has no static files to serve: set it to the directory "
                "collectstatic fills (such as BASE_DIR / 'staticfiles'), then run manage.py collectstatic"
            )
        # Not an error: a test run (DEBUG is off) or a release step may start
        # the application before collectstatic has run. The check says it too.
        warn(
            f"STATIC_ROOT {django.static_root} is not a directory, so no static file is served "
            "from it: run manage.py collectstatic"
        )
    if django.root is not None:
        if not os.path.isdir(django.root):
            raise ConfigurationError(
                f"settings.STATICWRAP['root'] = {django.root!r} is not a directory: create it, or remove the key"
            )
        roots.append((django.root, "/"))
    return roots


def finder_roots(prefix: str) -> list[tuple[str, str]]:
    """The directories of the staticfiles finders that are on the local disk, with their URL prefixes.

    ``FileSystemFinder`` serves a ``("prefix", path)`` entry of
    ``STATICFILES_DIRS`` under ``STATIC_URL + "prefix/"``. Storages with no
    local directory (a remote storage) cannot be served and are left out.
    """
    from django.contrib.staticfiles import finders

    found: dict[tuple[str, str], None] = {}
    for finder in finders.get_finders():
        storages = getattr(finder, "storages", None)
        candidates = list(storages.values()) if isinstance(storages, Mapping) else [getattr(finder, "storage", None)]
        for storage in candidates:
            location = getattr(storage, "location", None)
            if not isinstance(location, str) or not os.path.isdir(location):
                continue
            sub = str(getattr(storage, "prefix", None) or "").strip("/")
            found[(location, normalize_prefix(prefix + sub) if sub else prefix)] = None
    return list(found)
