"""staticwrap's management commands, and how they report a bad setting."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.core.management.base import CommandError

from staticwrap.errors import ConfigurationError


@contextlib.contextmanager
def reported_as_command_error() -> Iterator[None]:
    """Raise a :class:`~staticwrap.ConfigurationError` as the ``CommandError`` it is to ``manage.py``.

    ``manage.py`` prints a ``CommandError`` as one line, ``CommandError:
    <message>``, and exits with status 1; any other exception is printed
    with its traceback, in which the message naming the setting and its fix
    is the last of some thirty lines.
    """
    try:
        yield
    except ConfigurationError as error:
        raise CommandError(str(error)) from None
