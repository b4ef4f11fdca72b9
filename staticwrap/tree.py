"""The files under a root as staticwrap sees them: which may be served, and what stat says of them.

The policy here is applied alike by the startup scan and by autorefresh
lookups, so both modes serve exactly the same files: dotfiles and
dot-directories are hidden (but ``.well-known``), symlinks may not leave the
root (unless ``follow_symlinks``) nor lead to a hidden name, names must be
UTF-8, and what cannot be read is skipped with a warning.
"""

from __future__ import annotations

import errno
import importlib.resources
import os
import pathlib
import stat
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from . import codings
from .config import Config
from .dictionaries import delta_original
from .errors import ConfigurationError, warn
from .manifest import Manifest

# Directories that are public by convention although their name starts with a
# dot (RFC 8615: /.well-known/ is meant to be published).
_PUBLIC_DOT_NAMES = frozenset({".well-known"})


class Root(NamedTuple):
    """A directory served at a URL prefix (``"/static/"``; ``"/"`` for the top)."""

    path: str
    real_path: str
    prefix: str
    manifest: Manifest


class Found(NamedTuple):
    """A file the policy allows: its path, the result of ``stat`` (following links), and its real path."""

    path: str
    stat: os.stat_result
    real: str = ""


def normalize_prefix(prefix: str) -> str:
    """``"static"``, ``"/static"`` and ``"/static/"`` all mean ``"/static/"``."""
    if not isinstance(prefix, str) or "\\" in prefix or "\x00" in prefix or "?" in prefix or "#" in prefix:
        raise ConfigurationError.bad_value("prefix", prefix, "give a URL path such as '/static/'")
    stripped = prefix.strip("/")
    if "//" in prefix or (stripped and any(part in {"", ".", ".."} for part in stripped.split("/"))):
        raise ConfigurationError.bad_value("prefix", prefix, "a URL prefix cannot contain '//', '.' or '..' segments")
    return f"/{stripped}/" if stripped else "/"


# errno values of a failure that says nothing about the file: out of
# descriptors (EMFILE, ENFILE), memory or buffers, or an I/O error. A lookup
# that meets one answers 503 (RFC 9110 §15.6.4), not "not found".
_TRANSIENT = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS, errno.EIO})

# A directory is opened to be listed; the directories on a link's real path
# only to be searched, which O_PATH allows without read permission (Linux).
_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_SEARCH = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def is_transient(error: OSError) -> bool:
    """Whether ``error`` is a passing failure of the system, not a fact about the file."""
    return error.errno in _TRANSIENT


class Place(NamedTuple):
    """A directory open for the policy walk: its descriptor, path as served, real path and names."""

    fd: int
    path: str
    real: str
    names: frozenset[str]


class Walker:
    """The policy walk of one root, on directory descriptors (openat(2), fstatat(2)).

    A name is looked up in the directory it was listed in, through that
    directory's descriptor, never through a path string again: a directory
    swapped for a symlink after it was checked cannot redirect the names
    below it. A directory is entered by opening it and checking that the
    descriptor is the directory the policy checked (same device and inode);
    a link's target is checked on its real path, and then reached from the
    root (or from ``/``) one real directory at a time with ``O_NOFOLLOW``, so
    that what is stat'ed is what the policy allowed. A swap can only make a
    name miss. The file facts found are those of files reached this way;
    whoever opens a file later by its path compares the descriptor with them
    (:func:`staticwrap.facts.open_found`, :func:`staticwrap.body.open_checked`).

    A transient failure (:func:`is_transient`) raises :class:`OSError`;
    anything else the policy refuses, or cannot read, is a miss.
    """

    def __init__(
        self, root: Root, config: Config, unreadable: Unreadable | None = None, refused: Refused | None = None
    ) -> None:
        self.root = root
        self.config = config
        #: How many entries the policy refused, by reason (one of :data:`REFUSALS`).
        self.refused: Refused = refused if refused is not None else Counter()
        #: Told of each directory or entry that cannot be read; warns by
        #: default. ``staticwrap build --strict`` raises instead: a deploy
        #: must not silently ship without a folder.
        self.unreadable = unreadable or warn_unreadable
        # The root's real path, resolved now (a root reached through a link
        # that is re-pointed, current -> v2, is the directory it leads to now),
        # and the root opened by that path: the two agree.
        real = real_path(root.path)
        if real is None:
            raise FileNotFoundError(errno.ENOENT, "the root is gone", root.path)
        self._opened: list[int] = []
        try:
            self.top = self._open(root.path, real, os.open(real, _LIST))
        except BaseException:
            self.__exit__()  # no `with` will close what was opened
            raise

    def __enter__(self) -> Walker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._opened:
            os.close(self._opened.pop())

    def _open(self, path: str, real: str, fd: int) -> Place:
        self._opened.append(fd)
        try:
            names = frozenset(os.listdir(fd))
        except OSError as error:
            if is_transient(error):
                raise
            self.refused["unreadable"] += 1
            self.unreadable(path, f"cannot be listed ({error.strerror})")
            names = frozenset()
        return Place(fd, path, real, names)

    def close(self, place: Place) -> None:
        """Close a directory entered with :meth:`enter` (the root stays open until the walk ends)."""
        if place.fd != self.top.fd and place.fd in self._opened:
            self._opened.remove(place.fd)
            os.close(place.fd)

    def enter(self, found: Found) -> Place | None:
        """Open the directory ``found``; ``None`` if it is no longer the directory the policy checked."""
        try:
            fd = os.open(found.path, _LIST)
        except OSError as error:
            if is_transient(error):
                raise
            return None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (found.stat.st_dev, found.stat.st_ino):
            os.close(fd)  # swapped since it was checked
            return None
        return self._open(found.path, found.real, fd)

    def entry(self, place: Place, name: str) -> Found | None:
        """Apply the dotfile, name and symlink policy to the entry ``name`` of ``place``."""
        # The name must be one the directory really lists: "..", "." or "" never are.
        if not name or name not in place.names:
            return None
        if is_hidden(name) and not self.config.allow_hidden:
            self.refused["hidden"] += 1
            return None
        path = os.path.join(place.path, name)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            self.refused["undecodable"] += 1
            warn(f"{path!r} has a name that is not valid UTF-8, so no URL can name it; not served")
            return None
        try:
            st = os.stat(name, dir_fd=place.fd, follow_symlinks=False)
        except OSError as error:
            if is_transient(error):
                raise
            self.refused["unreadable"] += 1
            self.unreadable(path, f"cannot be read ({error.strerror})")
            return None
        if not stat.S_ISLNK(st.st_mode):
            return Found(path, st, os.path.join(place.real, name))
        return self._through_link(place, name, path)

    def _through_link(self, place: Place, name: str, path: str) -> Found | None:
        try:
            # The link as the checked directory holds it, resolved from that
            # directory's real path; strict: a broken link or a loop raises.
            target = os.path.realpath(os.path.join(place.real, os.readlink(name, dir_fd=place.fd)), strict=True)
        except OSError as error:
            if is_transient(error):
                raise
            self.refused["broken"] += 1
            warn(f"{path} cannot be read ({error.strerror}; a broken or looping symlink?); not served")
            return None
        top = self.top.real
        common = os.path.commonpath([target, top])
        inside = common == top
        if not inside and not self.config.follow_symlinks:
            self.refused["outside"] += 1
            warn(
                f"{path} is a symlink to {target}, outside {self.root.path}; not served "
                "(pass follow_symlinks=True to serve links that leave the root)"
            )
            return None
        # A link must not publish what the dotfile rule hides (pub/env ->
        # ../.env, cfg -> ../.git/config): no hidden name on the target's
        # real path below the deepest directory it shares with the root.
        # Above that lie the root's own ancestors, which a server may well
        # have under a dot-directory (~/.local/...) without hiding anything.
        hidden = any(is_hidden(part) for part in os.path.relpath(target, common).split(os.sep))
        if hidden and not self.config.allow_hidden:
            self.refused["hidden"] += 1
            return None
        st = self._stat_real(target, self.top.fd if inside else None, top if inside else os.sep)
        return None if st is None else Found(path, st, target)

    def _stat_real(self, target: str, base: int | None, base_path: str) -> os.stat_result | None:
        """lstat ``target`` reached from ``base`` (``/`` if ``None``) through real directories only."""
        parts = [part for part in os.path.relpath(target, base_path).split(os.sep) if part != "."]
        opened: list[int] = []
        try:
            fd = base if base is not None else os.open(os.sep, _SEARCH)
            if base is None:
                opened.append(fd)
            for part in parts[:-1]:
                fd = os.open(part, _SEARCH, dir_fd=fd)  # a component now a link: ELOOP or ENOTDIR
                opened.append(fd)
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False) if parts else os.fstat(fd)
        except OSError as error:
            if is_transient(error):
                raise
            return None
        finally:
            for fd in opened:
                os.close(fd)
        return None if stat.S_ISLNK(st.st_mode) else st  # a link now: swapped since realpath


def real_path(path: str) -> str | None:
    """The real path of ``path``, or ``None`` if it is gone or loops (raises only a transient failure).

    :func:`os.path.realpath` reads each link with readlink(2) after lstat(2)
    said it was one: a link replaced or removed in between (``ln -sfn``
    re-pointing ``current``) makes it raise. That is a miss, not an error.
    """
    try:
        return os.path.realpath(path, strict=True)
    except OSError as error:
        if is_transient(error):
            raise
        return None


class Directory(NamedTuple):
    """One directory met by :func:`walk`: its path, its path relative to the root, its servable files."""

    path: str
    relative: str  # "" for the root, else "sub/dir/"
    files: dict[str, Found]
    #: Its real path (where symlinks on the way lead).
    real: str = ""

    def siblings_to_skip(self) -> set[str]:
        """Names of precompressed siblings whose original is a servable file here."""
        return {name for name in self.files if original_name(name) != name and original_name(name) in self.files}


def source_root(path: str) -> Root:
    """A directory to read (``staticwrap build`` and ``compress``) with the server's default policy."""
    return Root(path, os.path.realpath(path), "/", Manifest())


def walk(
    root: Root, config: Config | None = None, unreadable: Unreadable | None = None, refused: Refused | None = None
) -> Iterator[Directory]:
    """Every directory under ``root`` with the regular files the policy allows, in name order.

    The one walk of the tree that the index scan, ``staticwrap build`` and
    ``staticwrap compress`` share: a directory reached again through a
    symlink loop is not entered twice, and what is skipped is warned about
    (and counted in ``refused``, by reason, when it is given).
    Depth first, with a stack of its own rather than recursion, so that no
    legal depth of tree can exhaust Python's stack.
    """
    with Walker(root, config or Config.from_options(), unreadable, refused) as walker:
        top = os.fstat(walker.top.fd)
        # Directories still to visit, the last to visit first: each with the
        # (device, inode) of its ancestors, which it must not lead back to.
        pending: list[tuple[Found | None, str, tuple[tuple[int, int], ...]]] = [(None, "", ((top.st_dev, top.st_ino),))]
        while pending:
            found, relative, ancestors = pending.pop()
            place = walker.top if found is None else _enter(walker, found)
            if place is None:
                continue
            try:
                files, subdirectories = _list(walker, place)
            finally:
                walker.close(place)
            yield Directory(place.path, relative, files, place.real)
            for name, sub in reversed(subdirectories):
                key = (sub.stat.st_dev, sub.stat.st_ino)
                if key in ancestors:
                    walker.refused["loop"] += 1
                    warn(f"{sub.path} leads back to a directory above it (a symlink loop); not followed")
                    continue
                pending.append((sub, relative + name + "/", (*ancestors, key)))


def _enter(walker: Walker, found: Found) -> Place | None:
    try:
        place = walker.enter(found)
    except OSError as error:
        walker.refused["unreadable"] += 1
        walker.unreadable(found.path, f"cannot be listed ({error.strerror})")
        return None
    if place is None:
        walker.refused["unreadable"] += 1
        walker.unreadable(found.path, "cannot be listed (it changed while the tree was read)")
    return place


def _list(walker: Walker, place: Place) -> tuple[dict[str, Found], list[tuple[str, Found]]]:
    """The servable files of ``place`` and its subdirectories, in name order."""
    files: dict[str, Found] = {}
    subdirectories: list[tuple[str, Found]] = []
    for name in sorted(place.names):
        try:
            found = walker.entry(place, name)
        except OSError as error:  # out of descriptors at startup: skipped, as unreadable
            walker.refused["unreadable"] += 1
            walker.unreadable(os.path.join(place.path, name), f"cannot be read ({error.strerror})")
            continue
        if found is None:
            continue
        if stat.S_ISDIR(found.stat.st_mode):
            subdirectories.append((name, found))
        elif stat.S_ISREG(found.stat.st_mode):
            files[name] = found
        else:
            walker.refused["special"] += 1
            warn(f"{found.path} is not a regular file (a FIFO, socket or device); not served")
    return files, subdirectories


def is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def is_hidden(name: str) -> bool:
    return name.startswith(".") and name not in _PUBLIC_DOT_NAMES and name not in {".", ".."}


def original_name(name: str) -> str:
    for _, suffix in codings.SIBLING_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    # A dcz delta (staticwrap.deltas) is served only through its original, too.
    return delta_original(name)


#: Why the policy walk refused entries, and how many (see :func:`describe_refusals`).
Refused = Counter[str]

#: Each reason counted in :data:`Refused`, as a count is followed in a message (and the fix, if any).
REFUSALS: Mapping[str, str] = {
    "hidden": "hidden (names starting with '.'; allow_hidden=True serves them)",
    "outside": "symlinked from outside the root (follow_symlinks=True serves them)",
    "unreadable": "unreadable",
    "broken": "broken or looping symlinks",
    "loop": "symlinks back to a directory above",
    "special": "not regular files (FIFOs, sockets or devices)",
    "undecodable": "named in bytes that are not UTF-8",
}


def describe_refusals(refused: Refused) -> str:
    """``"2 hidden (...), 1 unreadable"``: what the walk refused, most frequent first; ``""`` for nothing."""
    return ", ".join(f"{count} {REFUSALS[reason]}" for reason, count in refused.most_common() if count)


#: Told of a path that cannot be read, and how: ``unreadable(path, "cannot be listed (Permission denied)")``.
Unreadable = Callable[[str, str], None]


def warn_unreadable(path: str, problem: str) -> None:
    """The default :data:`Unreadable`: a warning, and the path is skipped."""
    warn(f"{path} {problem}; not served")


def package_directory(package: str, folder: str) -> str:
    """The path on disk of the directory ``folder`` inside the importable package ``package``.

    Found through :func:`importlib.resources.files`, as Starlette's
    ``packages=`` does, so the package is imported. Files are served from
    disk (os.open, sendfile), so a package imported from a zip file has no
    such directory.

    :raises ConfigurationError: for a package that cannot be imported, one
        that is not on disk, or a folder it does not have; the message says
        how to fix it.
    """
    call = f"add_package({package!r}, {folder!r})"
    try:
        files = importlib.resources.files(package)
    except ModuleNotFoundError as error:
        raise ConfigurationError(
            f"{call}: the package {package!r} cannot be imported ({error}): install it in the environment the "
            "server runs in, or correct its name (a dotted import name such as 'mypkg', not a file path)"
        ) from None
    except TypeError:  # importlib.resources.files() of a module that is not a package (Python < 3.12)
        raise ConfigurationError(
            f"{call}: {package!r} is a module, not a package: name the package that holds {folder!r}"
        ) from None
    # A namespace package gives the first of its directories that has the folder.
    target = files.joinpath(folder)
    if not isinstance(target, pathlib.Path):
        raise ConfigurationError(
            f"{call}: the package {package!r} is imported from {files} (a zip file, or a wheel or egg that "
            "was not extracted), and staticwrap serves files from disk: install the package with pip so that "
            "its files are extracted, or serve an extracted copy with add_files"
        )
    if not target.is_dir():
        raise ConfigurationError(
            f"{call}: the package {package!r} (at {files}) has no folder {folder!r}, so {target} is not a "
            "directory: correct the folder's name, or ship the folder in the package (its package data)"
        )
    return str(target)
