"""Django system checks for the settings staticwrap reads (``manage.py check``).

They are registered under the ``staticwrap`` tag, not ``staticfiles``: a
missing ``STATIC_ROOT`` must not stop ``collectstatic``, the command that
creates it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from staticwrap.errors import ConfigurationError
from staticwrap.manifest import STATICWRAP_MANIFEST

from .conf import DjangoConfig

TAG = "staticwrap"
MIDDLEWARE = "staticwrap.django.middleware.StaticWrapMiddleware"
SECURITY_MIDDLEWARE = "django.middleware.security.SecurityMiddleware"
STORAGE = "staticwrap.django.storage.StaticWrapStorage"
APP = "staticwrap.django"
STATICFILES_APP = "django.contrib.staticfiles"


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """staticwrap.E001: ``settings.STATICWRAP`` has an unknown key or a bad value."""
    try:
        DjangoConfig.from_settings(settings)
    except ConfigurationError as error:
        return [
            Error(
                str(error),
                hint="Fix the key in settings.STATICWRAP; its keys are the StaticWrap options and "
                "use_finders, root, manifest_strict and build.",
                id="staticwrap.E001",
            )
        ]
    return []


def check_static_root(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """staticwrap.E002 (``STATIC_ROOT`` not set) and W001 (not a directory), when ``DEBUG`` is off."""
    if settings.DEBUG:
        return []
    static_root = getattr(settings, "STATIC_ROOT", None)
    if not static_root:
        return [
            Error(
                "STATIC_ROOT is not set: with DEBUG off, staticwrap serves the files collectstatic puts there.",
                hint="Set STATIC_ROOT to a directory (such as BASE_DIR / 'staticfiles') and run "
                "'manage.py collectstatic'.",
                id="staticwrap.E002",
            )
        ]
    if not os.path.isdir(static_root):
        return [
            Warning(
                f"STATIC_ROOT {os.fspath(static_root)} is not a directory, so no static file can be served.",
                hint="Run 'manage.py collectstatic'.",
                id="staticwrap.W001",
            )
        ]
    return []


def check_middleware_order(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """staticwrap.W002: middleware other than ``SecurityMiddleware`` comes before ``StaticWrapMiddleware``."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE not in middleware:
        return []
    before = [name for name in middleware[: middleware.index(MIDDLEWARE)] if name != SECURITY_MIDDLEWARE]
    if not before:
        return []
    return [
        Warning(
            f"{MIDDLEWARE} comes after {', '.join(before)}, which handle static requests first and may "
            "change their responses (cookies, Vary, compression, redirects) or never let them through.",
            hint=f"Move '{MIDDLEWARE}' right after '{SECURITY_MIDDLEWARE}' (or to the top of MIDDLEWARE).",
            id="staticwrap.W002",
        )
    ]


def check_manifest(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """staticwrap.W003: ``StaticWrapStorage`` is the staticfiles storage, but ``STATIC_ROOT`` has no manifest."""
    static_root = getattr(settings, "STATIC_ROOT", None)
    if settings.DEBUG or not static_root or not os.path.isdir(static_root) or not _uses_our_storage():
        return []
    manifest = os.path.join(static_root, STATICWRAP_MANIFEST)
    if os.path.isfile(manifest):
        return []
    return [
        Warning(
            f"There is no {manifest}: StaticWrapStorage cannot give the hashed URL of any file, so "
            "{% static %} raises an error.",
            hint="Run 'manage.py collectstatic' (without --no-post-process).",
            id="staticwrap.W003",
        )
    ]


def check_app_order(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """staticwrap.W004: ``staticwrap.django`` comes after ``django.contrib.staticfiles`` in ``INSTALLED_APPS``."""
    apps = [app for app in settings.INSTALLED_APPS if isinstance(app, str)]
    ours = _position(apps, APP)
    theirs = _position(apps, STATICFILES_APP)
    if ours is None or theirs is None or ours < theirs:
        return []
    return [
        Warning(
            f"'{APP}' comes after '{STATICFILES_APP}' in INSTALLED_APPS, so 'manage.py runserver' and "
            "'collectstatic' are staticfiles' commands: runserver's handler serves static files in place of "
            "staticwrap, and a collectstatic that fails leaves STATIC_ROOT half-updated.",
            hint=f"Move '{APP}' above '{STATICFILES_APP}' in INSTALLED_APPS.",
            id="staticwrap.W004",
        )
    ]


ALL_CHECKS = (check_settings, check_static_root, check_middleware_order, check_manifest, check_app_order)


def _position(apps: list[str], name: str) -> int | None:
    # An entry may name the app module or its AppConfig class.
    for position, app in enumerate(apps):
        if app == name or app.startswith(name + ".apps."):
            return position
    return None


def _uses_our_storage() -> bool:
    storages = getattr(settings, "STORAGES", None) or {}
    backend = storages.get("staticfiles", {}).get("BACKEND")
    if backend == STORAGE:
        return True
    if not isinstance(backend, str):
        return False
    from .storage import StaticWrapStorage

    try:
        storage_class = import_string(backend)
    except ImportError:
        return False  # Django reports a backend that cannot be imported
    return isinstance(storage_class, type) and issubclass(storage_class, StaticWrapStorage)
