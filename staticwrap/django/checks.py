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
from .wsgi import check_root

TAG = "staticwrap"
SETTING = "STATICWRAP"
MIDDLEWARE = "staticwrap.django.middleware.StaticWrapMiddleware"
SECURITY_MIDDLEWARE = "django.middleware.security.SecurityMiddleware"
STORAGE = "staticwrap.django.storage.StaticWrapStorage"
APP = "staticwrap.django"
STATICFILES_APP = "django.contrib.staticfiles"


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """staticwrap.E001: ``settings.STATICWRAP`` has an unknown key, a bad value, or a root that is not a directory."""
    try:
        check_root(DjangoConfig.from_settings(settings))
    except ConfigurationError as error:
        return [
            Error(
                str(error),
                hint="Fix settings.STATICWRAP; its keys are the StaticWrap options and "
                "use_finders, root, manifest_strict, build and publish.",
                id="staticwrap.E001",
            )
        ]
    return []


def check_setting_name(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """staticwrap.W005: a setting whose name is one edit away from ``STATICWRAP``, such as ``STATICWARP``."""
    return [
        Warning(
            f"settings.{name} is one typo away from settings.STATICWRAP, the only setting of staticwrap's "
            f"options: staticwrap ignores settings.{name}.",
            hint=f"Rename {name} to STATICWRAP.",
            id="staticwrap.W005",
        )
        for name in sorted(dir(settings))
        if name.isupper() and one_edit_apart(name, SETTING)
    ]


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


ALL_CHECKS = (
    check_settings,
    check_setting_name,
    check_static_root,
    check_middleware_order,
    check_manifest,
    check_app_order,
)


def one_edit_apart(a: str, b: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of neighbours turns ``a`` into ``b``.

    The swap counts as one edit (Damerau), as in ``STATICWARP``: typing two
    letters in the wrong order is the usual slip.
    """
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) != len(b):
        shorter, longer = sorted((a, b), key=len)
        return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(differ) == 1:
        return True
    first, second = differ[0], differ[-1]
    return len(differ) == 2 and second == first + 1 and (a[first], a[second]) == (b[second], b[first])


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
