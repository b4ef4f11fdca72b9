"""``manage.py runserver`` that leaves static files to staticwrap.

``django.contrib.staticfiles`` replaces ``runserver`` with one that serves
static files itself when ``DEBUG`` is on, in front of the WSGI application, so
staticwrap (in ``wsgi.py`` or the middleware) would never see those requests.
This command is that one with ``--nostatic`` as the default. It is the one
``manage.py`` runs when ``"staticwrap.django"`` comes before
``"django.contrib.staticfiles"`` in ``INSTALLED_APPS``.
"""

from __future__ import annotations

from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.management.base import CommandParser


class Command(StaticfilesRunserver):
    help = (
        "Starts a lightweight web server for development; static files are served by staticwrap "
        "(pass --static for Django's static file handler)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--static",
            action="store_true",
            dest="use_static_handler",
            help="Serve static files with django.contrib.staticfiles' handler instead of staticwrap.",
        )
        parser.set_defaults(use_static_handler=False)
