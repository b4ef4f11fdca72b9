"""``manage.py collectstatic`` that changes ``STATIC_ROOT`` all at once, or not at all.

Django's command copies the found files into ``STATIC_ROOT`` (after
deleting what ``--clear`` or a newer source replaces), then runs the storage's
post-processing, which is the staticwrap build. Should anything fail on the
way (a reference the build cannot resolve, a full disk, an interruption),
``STATIC_ROOT`` would be left half-updated: some copies new, the manifest and
the hashed files old. With :class:`~staticwrap.django.storage.StaticWrapStorage`
this command runs the whole collection as one
:class:`~staticwrap.transaction.Transaction`: every file the storage writes,
deletes or links is recorded first, and a failure puts ``STATIC_ROOT`` back
exactly as it was. A failure is reported as a ``CommandError`` naming the file
and the cause, never a traceback.

It is the command ``manage.py`` runs when ``"staticwrap.django"`` comes before
``"django.contrib.staticfiles"`` in ``INSTALLED_APPS``; with another storage
it behaves as Django's own.
"""

from __future__ import annotations

import contextlib
import os

from django.contrib.staticfiles.management.commands.collectstatic import Command as StaticfilesCollectstatic
from django.core.files.storage import Storage
from django.core.management.base import CommandError

from staticwrap.django.conf import get_config
from staticwrap.django.management import reported_as_command_error
from staticwrap.django.storage import StaticWrapStorage
from staticwrap.errors import StaticwrapError
from staticwrap.transaction import UNDO_PREFIX, Transaction
from staticwrap.tree import is_hidden


class Command(StaticfilesCollectstatic):
    def collect(self) -> dict[str, list[str]]:
        storage = self.storage
        if not isinstance(storage, StaticWrapStorage) or self.dry_run or not storage.location:
            return super().collect()
        with reported_as_command_error():  # before any file is copied
            get_config()
        root = os.fspath(storage.location)
        created = not os.path.isdir(root)
        os.makedirs(root, exist_ok=True)
        transaction = Transaction(root)
        storage.transaction = transaction
        try:
            result: dict[str, list[str]] = super().collect()
        except BaseException as error:
            transaction.rollback()
            if created:
                _remove_empty(root)
            if isinstance(error, (StaticwrapError, OSError)):
                message = _describe(error)
                if "was left as it was" not in message:
                    message += f"; {root} was left as it was"
                raise CommandError(message) from None
            raise
        finally:
            storage.transaction = None
        transaction.commit()
        return result

    def copy_file(self, path: str, prefixed_path: str, source_storage: Storage) -> None:
        if not self._built_from_source(prefixed_path):
            super().copy_file(path, prefixed_path, source_storage)
            return
        # The build (post-processing) reads each found file where its finder
        # found it and writes it under its name itself: Django's copy would be
        # written only to be written over, a second copy of every file. The
        # counts stay Django's: a file older than its copy is unmodified, any
        # other is copied. Nothing is deleted first, as Django would: the
        # build replaces each file in one step, and a server reading
        # STATIC_ROOT meanwhile finds the old file until then, never none.
        if self._up_to_date(path, prefixed_path, source_storage):
            self.unmodified_files.append(prefixed_path)
        else:
            self.copied_files.append(prefixed_path)

    def _up_to_date(self, path: str, prefixed_path: str, source_storage: Storage) -> bool:
        # Django's test in delete_file, which also deletes: both times known,
        # the copy's (to the second) not older than the source's. Made with
        # one stat(2) of each file, not the storages' datetime objects: the
        # check runs for every file of every unchanged rerun.
        try:
            copied = os.stat(self.storage.path(prefixed_path)).st_mtime
            source = os.stat(source_storage.path(path)).st_mtime
        except (OSError, NotImplementedError):
            return False
        return int(copied) >= int(source)

    def _built_from_source(self, name: str) -> bool:
        # Only a file the build writes: not with --dry-run or --no-post-process,
        # and not a dotfile, which the build leaves out as the server hides it.
        return (
            isinstance(self.storage, StaticWrapStorage)
            and self.post_process
            and not self.dry_run
            and not any(is_hidden(part) for part in name.replace(os.sep, "/").split("/"))
        )

    def clear_dir(self, path: str) -> None:
        # The transaction keeps the files it may have to restore in a
        # dot-named directory of STATIC_ROOT: --clear must not empty it.
        if os.path.basename(path).startswith(UNDO_PREFIX):
            return
        super().clear_dir(path)

    def link_file(self, path: str, prefixed_path: str, source_storage: Storage) -> None:
        # Django's --link unlinks and creates links itself, not through the storage.
        transaction = getattr(self.storage, "transaction", None)
        if transaction is not None:
            full_path = self.storage.path(prefixed_path)
            transaction.makedirs(os.path.dirname(full_path))
            transaction.preserve(full_path)
        super().link_file(path, prefixed_path, source_storage)


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


def _remove_empty(directory: str) -> None:
    with contextlib.suppress(OSError):  # not empty: it held something of its own before
        os.rmdir(directory)
