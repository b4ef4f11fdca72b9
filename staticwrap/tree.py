"""The files under a root as staticwrap sees them: which may be served, and what stat says of them.

The policy here is applied alike by the startup scan and by autorefresh
lookups, so both modes serve exactly the same files: dotfiles and
dot-directories are hidden (but ``.well-known``), symlinks may not leave the
root (unless ``follow_symlinks``) nor lead to a hidden name, names must be
UTF-8, and what cannot be read is skipped with a warning.
"""

from __future__ import annotations

import os
import stat
import time
import warnings
from collections.abc import Iterator
from typing import NamedTuple

from . import codings
from .asset import Asset, FileFacts
from .config import Config
from .errors import ConfigurationError, StaticwrapWarning
from .manifest import FileRecord, Manifest

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
    """A file the policy allows: its path and the result of ``stat`` (following links)."""

    path: str
    stat: os.stat_result


def normalize_prefix(prefix: str) -> str:
    """``"static"``, ``"/static"`` and ``"/static/"`` all mean ``"/static/"``."""
    if not isinstance(prefix, str) or "\\" in prefix or "\x00" in prefix or "?" in prefix or "#" in prefix:
        raise ConfigurationError(f"prefix={prefix!r}: give a URL path such as '/static/'")
    stripped = prefix.strip("/")
    if "//" in prefix or (stripped and any(part in {"", ".", ".."} for part in stripped.split("/"))):
        raise ConfigurationError(f"prefix={prefix!r}: a URL prefix cannot contain '//', '.' or '..' segments")
    return f"/{stripped}/" if stripped else "/"


def allowed(root: Root, directory: str, name: str, config: Config) -> Found | None:
    """Apply the dotfile, name and symlink policy to one directory entry."""
    path = os.path.join(directory, name)
    if is_hidden(name) and not config.allow_hidden:
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        warn(f"{path!r} has a name that is not valid UTF-8, so no URL can name it; not served")
        return None
    try:
        # One system call for all but symlinks: lstat is stat for them.
        result = os.lstat(path)
        is_link = stat.S_ISLNK(result.st_mode)
        if is_link:
            result = os.stat(path)
    except OSError as error:
        warn(f"{path} cannot be read ({error.strerror}; a broken or looping symlink?); not served")
        return None
    if is_link:
        target = os.path.realpath(path)
        inside = os.path.commonpath([target, root.real_path]) == root.real_path
        if not inside and not config.follow_symlinks:
            warn(
                f"{path} is a symlink to {target}, outside {root.path}; not served "
                "(pass follow_symlinks=True to serve links that leave the root)"
            )
            return None
        # A link must not publish what the dotfile rule hides (pub/env -> ../.env).
        hidden_part = os.path.relpath(target, root.real_path) if inside else os.path.basename(target)
        if not config.allow_hidden and any(is_hidden(part) for part in hidden_part.split(os.sep)):
            return None
    return Found(path, result)


class Directory(NamedTuple):
    """One directory met by :func:`walk`: its path, its path relative to the root, its servable files."""

    path: str
    relative: str  # "" for the root, else "sub/dir/"
    files: dict[str, Found]

    def siblings_to_skip(self) -> set[str]:
        """Names of precompressed siblings whose original is a servable file here."""
        return {name for name in self.files if original_name(name) != name and original_name(name) in self.files}


def source_root(path: str) -> Root:
    """A directory to read (``staticwrap build`` and ``compress``) with the server's default policy."""
    return Root(path, os.path.realpath(path), "/", Manifest())


def walk(root: Root, config: Config | None = None) -> Iterator[Directory]:
    """Every directory under ``root`` with the regular files the policy allows, in name order.

    The one walk of the tree that the index scan, ``staticwrap build`` and
    ``staticwrap compress`` share: a directory reached again through a
    symlink loop is not entered twice, and what is skipped is warned about.
    """
    top = os.stat(root.path)
    yield from _walk(root, config or Config.from_options(), root.path, "", ((top.st_dev, top.st_ino),))


def _walk(
    root: Root, config: Config, directory: str, relative: str, ancestors: tuple[tuple[int, int], ...]
) -> Iterator[Directory]:
    try:
        with os.scandir(directory) as entries:
            names = sorted(entry.name for entry in entries)
    except OSError as error:
        warn(f"cannot list directory {directory} ({error.strerror}); its files are not served")
        return
    files: dict[str, Found] = {}
    subdirectories: list[tuple[str, Found]] = []
    for name in names:
        found = allowed(root, directory, name, config)
        if found is None:
            continue
        if stat.S_ISDIR(found.stat.st_mode):
            subdirectories.append((name, found))
        elif stat.S_ISREG(found.stat.st_mode):
            files[name] = found
        else:
            warn(f"{found.path} is not a regular file (a FIFO, socket or device); not served")
    yield Directory(directory, relative, files)
    for name, found in subdirectories:
        key = (found.stat.st_dev, found.stat.st_ino)
        if key in ancestors:
            warn(f"{found.path} leads back to a directory above it (a symlink loop); not followed")
            continue
        yield from _walk(root, config, found.path, relative + name + "/", (*ancestors, key))


def is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def is_hidden(name: str) -> bool:
    return name.startswith(".") and name not in _PUBLIC_DOT_NAMES and name not in {".", ".."}


def listing(directory: str) -> frozenset[str]:
    try:
        return frozenset(os.listdir(directory))
    except OSError:
        return frozenset()


def original_name(name: str) -> str:
    for _, suffix in codings.SIBLING_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def unchanged(asset: Asset, found: Found, candidates: dict[str, Found]) -> bool:
    if set(asset.coded) != set(candidates) or not asset.identity.file.matches(found.stat):
        return False
    return all(variant.file.matches(candidates[coding].stat) for coding, variant in asset.coded.items())


def file_facts(found: Found, tag: str, shared: dict[int, int] | None = None) -> FileFacts:
    """The facts of a found file; ``shared`` interns the numbers many files have in common.

    A tree's files share one device, and often an mtime (a build or a
    checkout writes many in the same second): an index holds each once.
    """
    st = found.stat
    mtime, device = st.st_mtime_ns, st.st_dev
    if shared is not None:
        mtime, device = shared.setdefault(mtime, mtime), shared.setdefault(device, device)
    return FileFacts(found.path, st.st_size, mtime, st.st_ino, device, tag)


def hash_found(found: Found) -> codings.Digest | None:
    try:
        return codings.hash_file(found.path)
    except OSError as error:
        warn(f"{found.path} cannot be read ({error.strerror}); not served")
        return None


def trusted(record: FileRecord | None, st: os.stat_result, size: int | None = None) -> FileRecord | None:
    """``record`` if the file still has the size and mtime the build gave it."""
    # The build sets whole-second mtimes: a file edited since has a different
    # mtime_ns (an edit landing on an exact second is the rare exception, and
    # needs the same size too).
    if record is None or record.mtime is None or st.st_mtime_ns != record.mtime * 1_000_000_000:
        return None
    return record if st.st_size == (record.size if size is None else size) else None


def last_modified(st: os.stat_result) -> int | None:
    # §8.8.2.1: never later than the Date of the response: clamp a future
    # mtime to now. An mtime of 0 is a placeholder (reproducible builds,
    # some archives), not a date; send no Last-Modified for it.
    mtime = int(st.st_mtime)
    if mtime <= 0:
        return None
    return min(mtime, int(time.time()))


def warn(message: str) -> None:
    """Warn about a file that is skipped or degraded; the message names it."""
    warnings.warn(f"staticwrap: {message}", StaticwrapWarning, stacklevel=3)
