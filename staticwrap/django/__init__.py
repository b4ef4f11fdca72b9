"""Django integration: serve a project's static files with staticwrap.

- ``wsgi.py``: ``application = get_wsgi_application()`` (from this package),
  or :class:`~staticwrap.django.middleware.StaticWrapMiddleware` in ``MIDDLEWARE``;
- ``STORAGES["staticfiles"]``: :class:`~staticwrap.django.storage.StaticWrapStorage`,
  whose collectstatic runs the staticwrap build;
- ``INSTALLED_APPS``: ``"staticwrap.django"`` for the system checks, the
  ``{% load staticwrap %}`` tags and a ``runserver`` that leaves static files to staticwrap.
"""

from __future__ import annotations

from .conf import DjangoConfig
from .wsgi import configure, get_wsgi_application

__all__ = ["DjangoConfig", "configure", "get_wsgi_application"]
