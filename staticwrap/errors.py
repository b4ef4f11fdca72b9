"""The exceptions and warnings staticwrap raises."""

from __future__ import annotations


class StaticwrapError(Exception):
    """Base class of every error staticwrap raises."""


class ConfigurationError(StaticwrapError, ValueError):
    """An option or a directory given to staticwrap cannot be used.

    The message names the option or the file, and says how to fix it.
    """


class StaticwrapWarning(UserWarning):
    """Something was skipped or degraded, such as a file that cannot be served.

    Startup goes on; the message names the file and the reason.
    """
