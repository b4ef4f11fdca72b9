"""The exceptions and warnings staticwrap raises."""

from __future__ import annotations

import os
import re
import sys
import types
import warnings
from collections.abc import Callable

#: Where a :class:`ConfigurationError`'s message names its option (and the value given).
OPTION = "{option}"

#: Around a part of a message that only Python callers can act on, such as
#: ", or None": :meth:`ConfigurationError.spelled` keeps it or drops it.
PYTHON_ONLY = re.compile(r"\{python:(.*?)\}", re.DOTALL)


def python_only(text: str) -> str:
    """``text`` marked as meant for Python callers only (see :data:`PYTHON_ONLY`)."""
    return "{python:" + text + "}"


#: How a caller names an option and its value: ``spell("jobs", 0)``.
Spelling = Callable[[str, object], str]


def keyword(option: str, value: object) -> str:
    """The Python spelling of an option and its value: ``jobs=0``."""
    return f"{option}={value!r}"


class StaticwrapError(Exception):
    """Base class of every error staticwrap raises."""


class ConfigurationError(StaticwrapError, ValueError):
    """An option or a directory given to staticwrap cannot be used.

    The message names the option or the file, and says how to fix it.
    When the problem is one option's value, :attr:`option` is its keyword,
    and the message names it where it holds :data:`OPTION`: ``str(error)``
    spells it as a keyword (``jobs=0``), and an interface that calls it
    something else (a command-line flag, a settings key) spells it its own
    way with :meth:`spelled`, so that the user reads the name they wrote.
    """

    def __init__(self, message: str, *, option: str | None = None, value: object = None) -> None:
        super().__init__(message)
        #: The keyword of the option the message is about, if any.
        self.option = option
        #: The value given for it.
        self.value = value

    def __str__(self) -> str:
        return self.spelled(keyword)

    def spelled(self, spell: Spelling, *, python: bool = True) -> str:
        """The message, with the option and its value named as ``spell(option, value)`` says.

        ``python=False`` leaves out what only a Python caller can do (pass
        ``None``, another keyword), for an interface that cannot.
        """
        template = str(self.args[0]) if self.args else ""
        message = PYTHON_ONLY.sub(lambda match: match.group(1) if python else "", template)
        if self.option is None:
            return message
        return message.replace(OPTION, spell(self.option, self.value))

    @classmethod
    def bad_value(cls, option: str, value: object, fix: str) -> ConfigurationError:
        """The error of an option whose value cannot be used: ``option=value: fix``."""
        return cls(f"{OPTION}: {fix}", option=option, value=value)


class StaticwrapWarning(UserWarning):
    """Something was skipped or degraded, such as a file that cannot be served.

    Startup goes on; the message names the file and the reason.
    """


# The directory of the package: frames of code under it are staticwrap's own.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str) -> None:
    """Raise a :class:`StaticwrapWarning` attributed to the first caller outside staticwrap.

    A warning then names the user's line (the call to ``StaticWrap``,
    ``add_files`` or ``init_app``), wherever in the package it was raised,
    so no caller counts frames by hand. When every frame is staticwrap's,
    the warning names no line. The category says it comes from staticwrap:
    the message does not repeat it.
    """
    # warnings.warn counts its own caller, this function, as level 1.
    level = 2
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, StaticwrapWarning, stacklevel=level)
