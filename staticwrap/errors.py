"""The exceptions and warnings staticwrap raises."""

from __future__ import annotations

import os
import sys
import types
import warnings


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
