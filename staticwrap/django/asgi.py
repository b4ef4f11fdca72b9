"""Serving a Django project under ASGI: Django's ASGI handler behind a :class:`~staticwrap.asgi.StaticWrapASGI`.

The same settings, roots and options as under WSGI (:func:`staticwrap.django.configure`):
only the transport differs. A static file is answered by staticwrap's own
coroutine before Django sees the request, so it takes no sync-to-async hop
through Django's handler or middleware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from staticwrap.asgi import ASGIApp, StaticWrapASGI

from .wsgi import configure_roots

if TYPE_CHECKING:
    from django.core.handlers.asgi import ASGIHandler


def get_asgi_application(**options: Any) -> StaticWrapASGI:
    """Django's ASGI application, wrapped in a :class:`~staticwrap.asgi.StaticWrapASGI` configured from the settings.

    Use it in ``asgi.py`` instead of ``django.core.asgi.get_asgi_application``::

        from staticwrap.django.asgi import get_asgi_application

        application = get_asgi_application()

    The roots and options are those :func:`staticwrap.django.configure`
    reads. With ``DEBUG`` on, a missing static file reaches Django (the WSGI
    front end's page that lists where it was looked for is WSGI-only).

    :param options: as for :func:`~staticwrap.django.configure`; they take
        precedence over ``settings.STATICWRAP``.
    """
    from django.core.asgi import get_asgi_application as django_application

    handler: ASGIHandler = django_application()
    # django-stubs types the scope as a dict; any mapping the server gives works.
    wrapper = StaticWrapASGI(cast("ASGIApp", handler))
    configure_roots(wrapper, **options)
    return wrapper
