"""``manage.py runserver`` that leaves static files to staticwrap.

``django.contrib.staticfiles`` replaces ``runserver`` with one that serves
static files itself when ``DEBUG`` is on, in front of the WSGI application, so
staticwrap (in ``wsgi.py`` or the middleware) would never see those requests.
This command is that one with ``--nostatic`` as the default. It is the one
``manage.py`` runs when ``"staticwrap.django"`` comes before
``"django.contrib.staticfiles"`` in ``INSTALLED_APPS``.

A bad setting is reported as a message, never with a traceback, with or
without the autoreloader.
"""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import CommandError, CommandParser, SystemCheckError

from staticwrap.django.management import reported_as_command_error


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

    def get_handler(self, *args: Any, **options: Any) -> WSGIHandler:
        # Loading WSGI_APPLICATION (or the middleware) configures staticwrap.
        with reported_as_command_error():
            return super().get_handler(*args, **options)

    def inner_run(self, *args: Any, **options: Any) -> None:
        try:
            super().inner_run(*args, **options)
        except CommandError as error:
            if not options["use_reloader"]:
                raise  # manage.py prints it
            # The autoreloader runs this in a thread, whose exception Python
            # prints with its traceback (threading.excepthook). Print it as
            # manage.py would: the reloader goes on watching the files, and
            # restarts the server once the fix is saved.
            self.stderr.write(str(error) if isinstance(error, SystemCheckError) else f"CommandError: {error}")
            self.stderr.write("Fix it and save the file: runserver starts again.")
