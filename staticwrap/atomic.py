"""Writing files that a server may be reading: all of the new bytes or none of them."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
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


#: What link(2) fails with where a file system has no hard links, or no more
#: for this file: the caller writes a copy instead.
_NO_LINK = frozenset({errno.EPERM, errno.EXDEV, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOSYS})


def link_atomic(source: str, path: str) -> bool:
    """Make ``path`` a hard link to ``source``, replacing what is there in one step.

    A reader of ``path`` finds the old file or the new one, never neither
    and never part of one: a new name is created whole by link(2), an
    existing one is replaced by rename(2) from a dot-named temporary link.
    Returns False, having changed nothing, where the file system cannot
    link (see :data:`_NO_LINK`); the caller then writes a copy.
    """
    try:
        os.link(source, path)
        return True
    except FileExistsError:
        pass
    except OSError as error:
        if error.errno in _NO_LINK:
            return False
        raise
    directory, name = os.path.split(path)
    for _ in range(100):
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            os.link(source, temporary)
            break
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno in _NO_LINK:
                return False
            raise
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(errno.EEXIST, "no free temporary name", path)
    try:
        os.replace(temporary, path)
    finally:
        # Gone after a rename, but still there after a failed one, or after
        # one that did nothing: rename(2) leaves two links to one file as
        # they are, when ``path`` already was a link to ``source``.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return True
