"""Changes to the files of one directory that take effect all together, or not at all.

``staticwrap build`` writes many files into ``DEST`` (hashed copies, copies
under the original names, precompressed siblings written by worker
processes, the manifest) and removes the previous build's leftovers. A
failure half-way (a full disk, a file that cannot be compressed, an
interruption) must leave ``DEST`` as it was, byte for byte, because a running
server and the pages it has sent still use it.

Each path the build may change is recorded first (:meth:`Transaction.expect`,
:meth:`Transaction.preserve`): whether it existed, with its mode and times.
Right before a file is replaced, removed or touched,
:func:`save_before_change` keeps it as a hard link in a dot-named directory
inside the root (the server never serves dotfiles, and a link on the same
file system costs no copy); worker processes do the same through the
directory's name. Every writer in the build replaces files by renaming a new
file over them (:func:`staticwrap.atomic.write_atomic`), so the inode the
link holds keeps the old bytes. Files that are not changed are not touched,
so an unchanged rebuild changes nothing, not even a ctime.
:meth:`Transaction.rollback` puts each recorded path back, newest change
first; :meth:`Transaction.commit` forgets them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from typing import NamedTuple

#: The prefix of the directory of saved states inside the root (a dot name: never served).
UNDO_PREFIX = ".staticwrap-undo-"


def backup_path(undo: str, path: str) -> str:
    """Where the state of ``path`` before the transaction is kept, in the directory ``undo``.

    Derived from the path alone, so that a worker process can save a file
    it is about to replace without telling the transaction's owner.
    """
    return os.path.join(undo, hashlib.sha256(os.fsencode(path)).hexdigest())


def save_before_change(undo: str | None, path: str) -> None:
    """Keep the file at ``path`` as it is now, unless it was kept already or there is none.

    Call it right before replacing, removing or touching ``path``. A hard
    link costs no copy and holds the old inode: bytes, mode and times. Only
    the first call for a path keeps anything: the state to go back to is the
    one before the transaction.
    """
    if undo is None:
        return
    backup = backup_path(undo, path)
    if os.path.lexists(backup):
        return
    try:
        os.link(path, backup, follow_symlinks=False)
    except FileNotFoundError:
        return
    except OSError:
        # A file system without hard links: a copy keeps the bytes too.
        shutil.copy2(path, backup, follow_symlinks=False)


class _Before(NamedTuple):
    """How a path was before the transaction: ``existed`` false when there was nothing there."""

    existed: bool
    mode: int
    atime_ns: int
    mtime_ns: int


class Transaction:
    """The changes made under ``root``, undone together by :meth:`rollback` unless :meth:`commit` is called.

    :attr:`undo` is the directory that :func:`save_before_change` keeps old
    files in; worker processes may be given it.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.undo: str | None = tempfile.mkdtemp(prefix=UNDO_PREFIX, dir=root)
        self._before: dict[str, _Before] = {}
        self._directories: list[str] = []  # made by this transaction, in order
        # The times of the directories whose entries may change (adding or
        # removing a name sets a directory's mtime), the root's included.
        self._directory_times: dict[str, tuple[int, int]] = {}
        self._keep_times(root)

    def expect(self, paths: Iterable[str]) -> None:
        """Record whether each of ``paths`` exists now, as something else may change them.

        Whoever changes an existing one calls :func:`save_before_change`
        first; a path that did not exist is removed again on rollback.
        """
        for path in paths:
            if path in self._before:
                continue
            self._keep_times(os.path.dirname(path))
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                self._before[path] = _Before(False, 0, 0, 0)
                continue
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(f"{path} is a directory, where the build writes a file")
            self._before[path] = _Before(True, stat.S_IMODE(st.st_mode), st.st_atime_ns, st.st_mtime_ns)

    def preserve(self, path: str) -> None:
        """Record how ``path`` is now and keep its file, before this process changes, replaces or removes it."""
        self.expect([path])
        if self._before[path].existed:
            save_before_change(self.undo, path)

    def makedirs(self, directory: str) -> None:
        """Create ``directory`` and its missing parents, to be removed again on rollback."""
        missing: list[str] = []
        while not os.path.isdir(directory):
            missing.append(directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        for path in reversed(missing):
            os.mkdir(path)
            self._directories.append(path)

    def commit(self) -> None:
        """Keep every change: drop the saved states."""
        self._before.clear()
        self._directories.clear()
        self._directory_times.clear()
        self._remove_undo()

    def rollback(self) -> None:
        """Put every recorded path back as it was, and remove the directories made.

        A kept file is renamed back (same inode, bytes and mode), then given
        its old times again, since a file whose bytes did not change may have
        had only its mtime set; a path that did not exist is removed; an
        existing path no one kept was not changed. Restoring goes on past a
        path that cannot be restored, and the first error is raised at the
        end, with the saved states left for a person to look at.
        """
        failure: OSError | None = None
        undo = self.undo
        for path, before in reversed(list(self._before.items())):
            try:
                _restore(path, before, None if undo is None else backup_path(undo, path))
            except OSError as error:
                failure = failure or error
        for directory in reversed(self._directories):
            with contextlib.suppress(OSError):  # not empty: something else wrote there meanwhile
                os.rmdir(directory)
        self._before.clear()
        self._directories.clear()
        if failure is not None:
            raise failure
        self._remove_undo()
        for directory, (atime_ns, mtime_ns) in self._directory_times.items():
            with contextlib.suppress(FileNotFoundError):  # one this transaction made, removed above
                os.utime(directory, ns=(atime_ns, mtime_ns))
        self._directory_times.clear()

    def _keep_times(self, directory: str) -> None:
        if directory not in self._directory_times:
            try:
                st = os.stat(directory)
            except FileNotFoundError:
                return  # made by this transaction: removed on rollback
            self._directory_times[directory] = (st.st_atime_ns, st.st_mtime_ns)

    def _remove_undo(self) -> None:
        if self.undo is not None:
            shutil.rmtree(self.undo, ignore_errors=True)
            self.undo = None


def _restore(path: str, before: _Before, backup: str | None) -> None:
    if not before.existed:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    if backup is None or not os.path.lexists(backup):
        return  # never changed
    os.replace(backup, path)
    if not os.path.islink(path):
        os.chmod(path, before.mode)
        os.utime(path, ns=(before.atime_ns, before.mtime_ns))
