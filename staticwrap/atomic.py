"""Writing files that a server may be reading: all of the new bytes or none of them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable


def write_atomic(
    path: str,
    data: bytes,
    *,
    mode: int = 0o644,
    mtime_ns: int | None = None,
    check: Callable[[str], None] | None = None,
) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place.

    The temporary file is a dotfile in the same directory, so ``os.replace``
    is an atomic rename and neither the server's scan nor a build ever picks
    up a half-written file; it is removed on any failure, interruption
    included. ``check(temporary_path)`` may raise to refuse the file before
    it takes the place of the old one.
    """
    directory, name = os.path.split(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or None)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        # mkstemp makes the file 0600: the server must be able to read it.
        os.chmod(temporary, mode)
        if mtime_ns is not None:
            os.utime(temporary, ns=(mtime_ns, mtime_ns))
        if check is not None:
            check(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.filename is None:
            raise naming(error, path) from error
        raise


def naming(error: OSError, path: str) -> OSError:
    """``error`` naming ``path``: write(2) failing (a full disk, EFBIG) names no file."""
    return OSError(error.errno, error.strerror, path)
