"""The Django application ``staticwrap.django``: system checks, template tags, ``runserver``."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class StaticwrapConfig(AppConfig):
    """Add ``"staticwrap.django"`` to ``INSTALLED_APPS``, above ``"django.contrib.staticfiles"``."""

    name = "staticwrap.django"
    label = "staticwrap"
    verbose_name = "staticwrap"

    def ready(self) -> None:
        from .checks import ALL_CHECKS, TAG

        for check in ALL_CHECKS:
            checks.register(check, TAG)
