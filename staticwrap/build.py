"""``staticwrap build SRC DEST``: content-hashed names, rewritten references, manifest, precompression.

The steps, in order:

1. Scan ``SRC`` (dotfiles skipped, as the server skips them) and read every file.
2. Find the references inside CSS, JavaScript and source maps
   (:mod:`staticwrap.references`) and resolve them against the tree
   (:mod:`staticwrap.resolve`).
3. Order the files so that each comes after the files it refers to; a real
   cycle is an error that names it.
4. In that order, rewrite each file's references to the hashed names of their
   targets, hash the result (SHA-256), and name it ``name.<12 hex>.ext``;
   refuse two files that would be written under one name.
5. With ``DEST`` locked, write what changed (the hashed copy and, unless
   ``hashed_only``, the copy under the original name), largest file first;
   write each file's variants, and link them to its original name; write
   ``staticwrap.json``, and only then remove what an earlier build wrote
   and neither this one nor a generation kept (:mod:`staticwrap.generations`)
   lists.

Compressing, nearly all of a cold build's time, runs in worker processes
(:class:`staticwrap.compress.Encoder`) from the moment each output's bytes
are known: a file that has no references (an image, a font, an SVG) right
after the tree is read, the others as they are rewritten. So the workers
encode while this process still scans and rewrites, and before ``DEST`` is
locked: they only encode, in memory, and the variants are written into
``DEST`` here, in step 5. Identical outputs are encoded once. An output that
an earlier build already compressed (per ``DEST``'s manifest) is not handed
in at all, so an unchanged rebuild encodes nothing.

Every hashed name describes exactly the bytes written under it. A source
map's ``file`` field (informational, ECMA-426) is therefore left as written:
pointing it at its script's hashed name would need the script's hash, which
depends on the map's own name through ``sourceMappingURL``.

An output whose bytes change gets a new mtime (whole seconds, later than its
old one), and its hashed and logical copies share it: the mtime is what tells
a running server, and the manifest it read at startup, that the file is new.
An output whose bytes do not change is not touched.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import posixpath
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from typing import Any

from . import __version__, compress, deltas, references
from .atomic import link_atomic, write_atomic
from .codings import SIBLING_SUFFIXES, WRITTEN_SUFFIXES, Digest
from .errors import OPTION, ConfigurationError, StaticwrapError, warn
from .facts import trusted
from .generations import DEFAULT_KEEP, DEFAULT_KEEP_FOR, Retention
from .manifest import (
    STATICWRAP_MANIFEST,
    FileRecord,
    Generation,
    Manifest,
    VariantRecord,
    read_manifest,
    write_manifest,
)
from .resolve import (
    HASH_LENGTH,
    Missing,
    Target,
    acyclic_soft_edges,
    dependency_order,
    hashed_name,
    resolve,
    rewritten_path,
)
from .transaction import Transaction
from .tree import normalize_prefix, source_root, walk, warn_unreadable

CSS_EXTENSIONS = (".css",)
JS_EXTENSIONS = (".js", ".mjs", ".cjs")
MAP_EXTENSIONS = (".map",)


class BuildError(StaticwrapError):
    """The source tree cannot be built as asked: a missing reference (strict mode), a cycle, a bad file,
    or another build holding the lock on DEST."""


@dataclass(frozen=True, slots=True)
class Link:
    """A reference found in a source file that names another file of the tree."""

    reference: references.Reference
    target: Target


@dataclass(slots=True)
class SourceFile:
    """One file of the source tree on its way through the build."""

    name: str
    path: str
    data: bytes
    mtime: int
    links: list[Link] = field(default_factory=list)
    #: For a source map: its parsed JSON and the tree files its "sources" name.
    sourcemap: dict[str, Any] | None = None
    map_sources: dict[int, Target] = field(default_factory=dict)
    output: bytes = b""
    #: The SHA-256 of ``output``, and the part of its hex form that names the hashed copy.
    sha256: bytes = b""
    digest: str = ""
    # The hashed name, and the digest it was made from: asked for a dozen
    # times per file, it is made once per digest.
    _hashed: tuple[str, str] = ("", "")

    @property
    def hashed(self) -> str:
        digest, name = self._hashed
        if digest != self.digest or not name:
            name = hashed_name(self.name, self.digest)
            self._hashed = (self.digest, name)
        return name


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build did; :meth:`summary` formats it for people."""

    files: int
    written: int
    removed: int
    compressed: Sequence[compress.CompressResult]
    seconds: float
    manifest: Manifest
    #: How many distinct contents were encoded: files with identical outputs share one encoding.
    encoded: int = 0

    def summary(self) -> str:
        unchanged = self.files - self.written
        lines = [
            f"built {compress.plural_files(self.files)}: {self.written} written, {unchanged} unchanged, "
            f"{self.removed} removed from an earlier build"
        ]
        lines.append(compress.format_summary(self.compressed, self.seconds))
        return "\n".join(lines)


def build(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    prefix: str = "/",
    strict: bool = True,
    hashed_only: bool = False,
    codings: Sequence[str] | None = None,
    min_saving: float = compress.DEFAULT_MIN_SAVING,
    jobs: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    keep: int = DEFAULT_KEEP,
    keep_for: str | float | timedelta = DEFAULT_KEEP_FOR,
    now: float | None = None,
    dictionaries: bool = False,
) -> BuildResult:
    """Build ``source`` into ``destination``; see the module documentation for the steps.

    :param prefix: the URL prefix the built tree will be served at, used to
        resolve absolute references such as ``/static/img/a.png``.
    :param strict: a reference to a missing file, or a directory or file that
        cannot be read, is an error (the default); otherwise a warning, and
        the reference is left as written or the path skipped.
    :param hashed_only: write only the hashed copies, not the original names.
    :param codings: the precompressed variants to write (default: all available).
    :param min_saving: keep a variant only when it saves at least this fraction.
    :param jobs: processes for compression (default: one per CPU).
    :param progress: called as ``progress(done, total, name)`` each time a file is compressed.
    :param keep: earlier builds are kept as generations: their hashed files
        stay in ``destination`` (and in the manifest) while the generation is
        among the newest ``keep``, the new build included...
    :param keep_for: ...or was replaced less than ``keep_for`` ago (``"90m"``,
        ``"12h"``, ``"2d"``, ``"0"``, seconds, or a :class:`~datetime.timedelta`).
        See :mod:`staticwrap.generations`.
    :param now: the build's time, in seconds since the epoch (default: the
        current time): when the new generation is built, and the reference
        for ``keep_for``.
    :param dictionaries: also write each output's ``dcz`` deltas against its
        earlier versions in the kept generations (RFC 9842 compression
        dictionaries; needs the zstandard package); see :mod:`staticwrap.deltas`.
    :raises BuildError: for a missing reference (strict), a cycle, ``destination`` inside ``source``
        (or the reverse), or another build writing ``destination`` now.
    :raises OSError: when ``destination`` cannot be written (a full disk, say).

    Whatever fails, and when, ``destination`` is left exactly as it was
    (see :mod:`staticwrap.transaction`).
    """
    started = time.monotonic()
    written_codings = codings if codings is not None else compress.CODINGS
    # Bad options fail before anything in DEST is written or removed.
    compress.check_options(written_codings, min_saving, jobs)
    retention = Retention.of(keep, keep_for)
    _check_dictionaries(dictionaries)
    clock = time.time() if now is None else now
    src, dest = os.path.abspath(os.fspath(source)), os.path.abspath(os.fspath(destination))
    _check_directories(src, dest)
    prefix = normalize_prefix(prefix)
    # Leaving the block, after a failure or a SIGTERM too, stops the workers
    # (and _commit rolls DEST back).
    with (
        compress.sigterm_unwinds(),
        compress.Encoder(codings=written_codings, min_saving=min_saving, jobs=jobs) as encoder,
    ):
        hand_in = _Handing(encoder, dest, written_codings, compress.keep_ratio(min_saving))
        files = _prepare(src, prefix, strict, hashed_only, hand_in)
        write = functools.partial(
            _write_build,
            files,
            dest,
            hashed_only,
            written_codings,
            min_saving,
            encoder,
            progress,
            started,
            retention=retention,
            now=clock,
            dictionaries=dictionaries,
        )
        return _commit(dest, write)


class _Handing:
    """Hands each output to the encoder once its bytes are known, unless it will not be compressed.

    An output is left out when ``DEST``'s manifest, read now as a hint,
    says an earlier build compressed exactly these bytes with these codings:
    its variants are reused (see :func:`_unchanged_variants`). Should they
    turn out not to be, under the lock, the output is handed in then.
    """

    def __init__(self, encoder: compress.Encoder, dest: str, codings: Sequence[str], keep_ratio: Fraction) -> None:
        self.encoder = encoder
        self.dest = dest
        self.codings = codings
        self.keep_ratio = keep_ratio
        try:
            self.old = read_manifest(dest)
        except (StaticwrapError, OSError):
            self.old = Manifest()  # the build reports it, under the lock

    def __call__(self, file: SourceFile) -> None:
        if not _encodable(file):
            return
        if _compressed_before(self.old.files.get(file.name), file.hashed, self.codings, self.keep_ratio):
            return
        self.encoder.add(file.sha256, file.output, os.path.join(self.dest, file.hashed))


def _encodable(file: SourceFile) -> bool:
    """Whether the output goes to the encoder: not empty, and not of a format that is compressed already."""
    return bool(file.output) and compress.should_compress(file.hashed)


def _prepare(src: str, prefix: str, strict: bool, hashed_only: bool, hand_in: _Handing) -> dict[str, SourceFile]:
    """Steps 1 to 4: read, resolve, order and rewrite; each output goes to ``hand_in`` once it is known."""
    # Everything that can fail on the sources is done before DEST is touched.
    files = {f.name: f for f in _read_tree(src, strict)}
    # A file that cannot hold references is final as it was read.
    for file in sorted(files.values(), key=lambda file: -len(file.data)):
        if not _scanned(file.name):
            _set_output(file, file.data)
            hand_in(file)
    if STATICWRAP_MANIFEST in files:
        raise BuildError(
            f"{files[STATICWRAP_MANIFEST].path}: a source file cannot be named {STATICWRAP_MANIFEST} at the top "
            "of SRC, as the build writes its manifest there; rename or move it"
        )
    for file in files.values():
        _find_links(file, files, prefix, strict)
        hand_in.encoder.poll()  # keep the workers fed while the references are scanned
    edges = {name: [link.target.name for link in file.links] for name, file in files.items()}
    try:
        # Cycles are looked for among the references that must be rewritten
        # (CSS, JavaScript, sourceMappingURL) before a map's sources join in:
        # those that would close a loop are left as written instead.
        order = dependency_order(files, edges)
    except StaticwrapError as error:
        raise BuildError(
            f"{src}: {error}; break the loop, as no order can give each file its dependencies' final names"
        ) from None
    soft = {name: [target.name for target in file.map_sources.values()] for name, file in files.items()}
    if any(soft.values()):
        kept = acyclic_soft_edges(edges, soft)
        for name, file in files.items():
            allowed = set(kept.get(name, ()))
            file.map_sources = {pos: target for pos, target in file.map_sources.items() if target.name in allowed}
            edges[name] = edges[name] + sorted(allowed)
        order = dependency_order(files, edges)
    for name in order:
        file = files[name]
        if _scanned(name):
            _rewrite(file, files)
            hand_in(file)
        hand_in.encoder.poll()
    _refuse_shared_outputs(files.values(), hashed_only)
    return files


def _commit(dest: str, write: Callable[[Transaction], BuildResult]) -> BuildResult:
    """Step 5, ``write(transaction)``, as one transaction: ``DEST`` changes all at once, or not at all."""
    created = not os.path.isdir(dest)
    os.makedirs(dest, exist_ok=True)
    try:
        with _locked(dest):
            transaction = Transaction(dest)
            try:
                result = write(transaction)
            except BaseException:
                # DEST goes back to exactly what it was: a running server and
                # the pages it sent still use it (see staticwrap.transaction).
                transaction.rollback()
                raise
            transaction.commit()
            return result
    except OSError as error:
        # Still an OSError (the machine's problem: a full disk, an unwritable
        # DEST), now saying that DEST is intact.
        raise OSError(error.errno, f"{error.strerror or error}; {dest} was left as it was", error.filename) from error
    finally:
        if created:
            with contextlib.suppress(OSError):  # not empty: the build succeeded
                os.rmdir(dest)


def _refuse_shared_outputs(files: Iterable[SourceFile], hashed_only: bool) -> None:
    """Refuse two files that would be written under one name: the bytes of one would be lost.

    It happens only when a source file is already named as another's hashed
    copy (``app.<its hash>.css`` beside ``app.css``), such as a build's
    output copied back into SRC.
    """
    owners: dict[str, str] = {}
    for file in files:
        for output in [file.hashed] if hashed_only else [file.hashed, file.name]:
            other = owners.setdefault(output, file.name)
            if other != file.name:
                raise BuildError(
                    f"{output}: both {other} and {file.name} would be written under this name, as one of them "
                    f"is named like the hashed copy of the other; rename or remove {output} in SRC "
                    "(is it the output of an earlier build?)"
                )


@contextlib.contextmanager
def _locked(dest: str) -> Iterator[None]:
    """Hold an exclusive lock on the DEST directory: two builds into one DEST would prune each other's files."""
    descriptor = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another staticwrap build is writing {dest}; wait for it to finish") from None
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _write_build(
    files: dict[str, SourceFile],
    dest: str,
    hashed_only: bool,
    written_codings: Sequence[str],
    min_saving: float,
    encoder: compress.Encoder,
    progress: Callable[[int, int, str], None] | None,
    started: float,
    transaction: Transaction,
    *,
    retention: Retention,
    now: float,
    dictionaries: bool = False,
) -> BuildResult:
    old = read_manifest(dest)
    done = iter(range(1, len(files) + 1))
    keep_ratio = compress.keep_ratio(min_saving)
    results: dict[str, compress.CompressResult] = {}
    reused: set[str] = set()
    written = 0
    outputs: set[str] = set()

    records: dict[str, FileRecord] = {}

    # The files of each content not written yet: once all are, its encoding
    # is released, so that the variants of the whole tree are never all in
    # memory at once (cold builds write as the workers encode).
    unwritten = collections.Counter(file.sha256 for file in files.values())

    def finish(file: SourceFile, result: compress.CompressResult) -> None:
        unwritten[file.sha256] -= 1
        if not unwritten[file.sha256]:
            encoder.release(file.sha256)
        results[file.name] = result
        records[file.name] = _record(file, result, old.files.get(file.name) if file.name in reused else None)
        if progress is not None:
            progress(next(done), len(files), os.path.relpath(result.path, dest))
        _prune_siblings(result.path, written_codings, transaction)
        if not hashed_only:
            _copy_siblings(result.path, os.path.join(dest, file.name), transaction, file.name in reused)

    def compress_file(file: SourceFile, encoding: compress.Encoding | None = None) -> None:
        path = os.path.join(dest, file.hashed)
        result = compress.compress_file(
            path, codings=written_codings, min_saving=min_saving, undo=transaction.undo, encoding=encoding
        )
        finish(file, result)

    # Outputs whose encoding is not done yet, by their SHA-256.
    waiting: dict[bytes, list[SourceFile]] = {}
    # Largest first, as the encoder works: the first encodings done are
    # likely those of the first files written.
    for file in sorted(files.values(), key=lambda file: -len(file.output)):
        names = [file.hashed] if hashed_only else [file.hashed, file.name]
        outputs.update(names)
        written += _write_copies([os.path.join(dest, name) for name in names], file.output, transaction)
        path = os.path.join(dest, file.hashed)
        # An output the previous build compressed, unchanged since: its
        # variants are taken from its manifest, with no worker and no decoding.
        result = _unchanged_variants(path, old.files.get(file.name), file.hashed, written_codings, keep_ratio)
        if result is not None:
            reused.add(file.name)
            finish(file, result)
            continue
        transaction.expect(path + suffix for _, suffix in SIBLING_SUFFIXES)
        if not _encodable(file):
            compress_file(file)  # skipped: only a stat
            continue
        # Handed in already, unless the manifest's hint was wrong.
        encoder.add(file.sha256, file.output, path)
        encoding = encoder.get(file.sha256)
        if encoding is None:
            waiting.setdefault(file.sha256, []).append(file)
        else:
            compress_file(file, encoding)
    for key, encoding in encoder.completed(list(waiting)):
        for file in waiting.pop(key):
            compress_file(file, encoding)
    manifest_path = os.path.join(dest, STATICWRAP_MANIFEST)
    transaction.expect([manifest_path])
    built, previous = _generations(old, records, retention, now)
    kept = outputs | {record.hashed for generation in previous for record in generation.files.values()}
    # Deltas against a dictionary no longer kept go, as do all of them in a
    # build without dictionaries; then the new outputs get theirs.
    records, previous = deltas.prune(records, previous, kept, dictionaries)
    if dictionaries:
        records = deltas.write_deltas(dest, records, previous, old, transaction)
    write_manifest(
        manifest_path,
        records,
        f"staticwrap {__version__}",
        HASH_LENGTH,
        built=built,
        previous=previous,
        undo=transaction.undo,
    )
    # Only now, with every new file and the new manifest in place, do the
    # files of the generations dropped go: a server or a page never meets a
    # manifest that names a file already removed.
    removed = _remove_stale(dest, old, kept, transaction)
    removed += _remove_stale_deltas(dest, old, records, previous, transaction)
    ordered = [results[name] for name in files]
    manifest = Manifest.of(records, built=built, previous=previous)
    return BuildResult(len(files), written, removed, ordered, time.monotonic() - started, manifest, encoder.encoded)


def _generations(
    old: Manifest, records: dict[str, FileRecord], retention: Retention, now: float
) -> tuple[int, tuple[Generation, ...]]:
    """When the new generation was built, and the earlier generations kept beside it.

    A build that lists exactly the names the newest generation listed is
    that generation again, not a new one: an unchanged rerun neither pushes
    an older generation out by count nor changes the manifest.
    """
    if old.built is not None and _listing(records) == _listing(old.files):
        return old.built, retention.kept(old.previous, old.built, now)
    built = int(now)
    return built, retention.kept(old.generations, built, now)


def _listing(files: Mapping[str, FileRecord]) -> dict[str, str]:
    return {name: record.hashed for name, record in files.items()}


def _check_directories(src: str, dest: str) -> None:
    if not os.path.isdir(src):
        raise BuildError(f"{src} is not a directory: give the directory of your source assets as SRC")
    # DEST is created with its missing parents: the nearest existing one must be a directory.
    existing = dest
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if existing == dest and not os.path.isdir(dest):
        raise BuildError(f"DEST {dest} is not a directory: remove that file, or choose another DEST")
    if not os.path.isdir(existing):
        raise BuildError(
            f"DEST {dest} cannot be created: {existing} is not a directory; remove that file, or choose another DEST"
        )
    # Compared as real paths: a DEST that is a symlink into SRC is inside it.
    src, dest = os.path.realpath(src), os.path.realpath(dest)
    if os.path.commonpath([src, dest]) == src:
        raise BuildError(f"DEST {dest} is inside SRC {src}: the build would read its own output; choose another DEST")
    if os.path.commonpath([src, dest]) == dest:
        raise BuildError(
            f"SRC {src} is inside DEST {dest}: the build could remove its own sources; choose another DEST"
        )


def _read_tree(src: str, strict: bool) -> list[SourceFile]:
    # The server's policy, so that the build publishes nothing the server
    # would hide: no dotfiles, no symlinks out of SRC or onto hidden names.
    # Old precompressed siblings are skipped too: the build writes them anew.
    # What cannot be read stops a strict build: skipped, it would be missing
    # from the deploy with nothing but a warning to say so.
    unreadable = _refuse_unreadable if strict else None
    found = []
    for directory in walk(source_root(src), unreadable=unreadable):
        skip = directory.siblings_to_skip()
        for name, entry in directory.files.items():
            if name in skip:
                continue
            try:
                with open(entry.path, "rb") as handle:
                    data = handle.read()
            except OSError as error:
                (unreadable or warn_unreadable)(entry.path, f"cannot be read ({error.strerror})")
                continue
            found.append(SourceFile(directory.relative + name, entry.path, data, int(entry.stat.st_mtime)))
    return found


def _refuse_unreadable(path: str, problem: str) -> None:
    raise BuildError(
        f"{path} {problem}: the build stops rather than leave it out (fix its permissions, remove it, "
        "or build with --no-strict to skip it with a warning)"
    )


def _find_links(file: SourceFile, files: dict[str, SourceFile], prefix: str, strict: bool) -> None:
    extension = posixpath.splitext(file.name)[1].lower()
    if extension in MAP_EXTENSIONS:
        _find_map_links(file, files, prefix)
        return
    if extension in CSS_EXTENSIONS:
        found, module = references.css_references(_text(file)), False
    elif extension in JS_EXTENSIONS:
        found, module = references.js_references(_text(file)), True
    else:
        return
    for reference in found:
        # Only import specifiers can name packages; a sourceMappingURL and the
        # argument of new URL(..., import.meta.url) are URLs: "x.js" is relative.
        is_specifier = module and reference.kind == references.JS_STRING
        resolution = resolve(reference.value, file.name, files, prefix=prefix, module=is_specifier)
        if isinstance(resolution, Target):
            if resolution.name != file.name:
                file.links.append(Link(reference, resolution))
        elif isinstance(resolution, Missing):
            message = (
                f"{file.path}:{reference.line}: {reference.value!r} refers to {resolution.name!r}, "
                "which is not in the source tree"
            )
            if strict:
                raise BuildError(message + " (fix the reference, add the file, or build with --no-strict)")
            warn(f"{message}; left as written")


def _find_map_links(file: SourceFile, files: dict[str, SourceFile], prefix: str) -> None:
    # Source maps from packages often name sources that were not shipped:
    # those, and anything else that does not resolve, are left alone.
    try:
        data = json.loads(file.data)
    except ValueError:
        warn(f"{file.path} is not valid JSON; copied as it is")
        return
    if not isinstance(data, dict):
        return
    file.sourcemap = data
    root = _source_root(data)
    sources = data.get("sources")
    if isinstance(sources, list):
        for position, source in enumerate(sources):
            if isinstance(source, str):
                resolution = resolve(root + source, file.name, files, prefix=prefix)
                if isinstance(resolution, Target) and resolution.name != file.name:
                    file.map_sources[position] = resolution


def _source_root(data: dict[str, Any]) -> str:
    # Source map format (ECMA-426): "sources" are resolved against
    # "sourceRoot", which gets a "/" appended when it has none.
    root = data.get("sourceRoot")
    if not isinstance(root, str) or not root:
        return ""
    return root if root.endswith("/") else root + "/"


def _text(file: SourceFile) -> str:
    # surrogateescape keeps bytes that are not UTF-8 through the round trip.
    return file.data.decode("utf-8", "surrogateescape")


def _rewrite(file: SourceFile, files: dict[str, SourceFile]) -> None:
    if file.sourcemap is not None:
        data = dict(file.sourcemap)
        if file.map_sources:
            sources = list(data["sources"])
            root = _source_root(data)
            for position, target in file.map_sources.items():
                new = rewritten_path(target, files[target.name].digest)
                sources[position] = new.removeprefix(root)
            data["sources"] = sources
        file.sourcemap = data
        output = _dump_map(data)
    elif file.links:
        replacements = [
            (link.reference, rewritten_path(link.target, files[link.target.name].digest)) for link in file.links
        ]
        output = references.rewrite(_text(file), replacements).encode("utf-8", "surrogateescape")
    else:
        output = file.data
    _set_output(file, output)


def _set_output(file: SourceFile, output: bytes) -> None:
    file.output = output
    file.sha256 = hashlib.sha256(output).digest()
    file.digest = file.sha256.hex()[:HASH_LENGTH]


def _scanned(name: str) -> bool:
    """Whether a file may hold references: only those are rewritten."""
    return posixpath.splitext(name)[1].lower() in (*CSS_EXTENSIONS, *JS_EXTENSIONS, *MAP_EXTENSIONS)


def _dump_map(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _write_copies(paths: list[str], data: bytes, transaction: Transaction) -> bool:
    """Write ``data`` at each path unless all already hold it; returns whether anything changed."""
    old_mtimes = []
    stale = []
    for path in paths:
        if os.path.islink(path):
            # Not a file this build wrote (collectstatic --link puts links to
            # the sources here): replace the link, never write through it.
            transaction.preserve(path)
            os.remove(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            stale.append(path)
            continue
        old_mtimes.append(int(st.st_mtime))
        if st.st_size != len(data) or _read(path) != data:
            stale.append(path)
    if not stale:
        return False
    mtime = max([int(time.time()), *(old + 1 for old in old_mtimes)])
    written: str | None = None
    for path in paths:
        transaction.preserve(path)
        if path in stale:
            transaction.makedirs(os.path.dirname(path))
            # The copy under the original name is a hard link to the hashed
            # one: the same bytes, written once (see _copy_siblings).
            if written is None or not link_atomic(written, path):
                write_atomic(path, data, mtime_ns=mtime * 1_000_000_000)
            written = written or path
        else:
            os.utime(path, (mtime, mtime))  # same bytes, but one version with its copy
    return True


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _remove_stale(dest: str, old: Manifest, kept: set[str], transaction: Transaction) -> int:
    """Remove what earlier builds wrote (per the old manifest's generations) and is not ``kept``.

    The logical names are the newest generation's alone; a hashed name goes
    when no kept generation lists it.
    """
    written = set(old.files) | {record.hashed for generation in old.generations for record in generation.files.values()}
    removed = 0
    for stale in sorted(written - kept):
        path = os.path.join(dest, stale)
        if os.path.isfile(path):
            transaction.preserve(path)
            os.remove(path)
            removed += 1
        for _, suffix in SIBLING_SUFFIXES:
            if os.path.isfile(path + suffix):
                transaction.preserve(path + suffix)
                os.remove(path + suffix)
    return removed


def _remove_stale_deltas(
    dest: str, old: Manifest, records: dict[str, FileRecord], previous: Sequence[Generation], transaction: Transaction
) -> int:
    """Remove the delta files the old manifest listed and the new one does not (target or dictionary gone)."""
    listed = deltas.delta_paths([records, *(generation.files for generation in previous)])
    removed = 0
    for stale in sorted(deltas.delta_paths(generation.files for generation in old.generations) - listed):
        path = os.path.join(dest, stale)
        if os.path.isfile(path):
            transaction.preserve(path)
            os.remove(path)
            removed += 1
    return removed


def _check_dictionaries(dictionaries: bool) -> None:
    if not isinstance(dictionaries, bool):
        raise ConfigurationError.bad_value("dictionaries", dictionaries, "give True or False")
    if dictionaries and not deltas.available():
        raise ConfigurationError(
            f"{OPTION} needs the zstandard package: pip install 'staticwrap[zstd]', or build without it",
            option="dictionaries",
            value=dictionaries,
        )


def _prune_siblings(path: str, codings: Sequence[str], transaction: Transaction) -> None:
    """Remove siblings of codings this build does not write: DEST holds exactly what the manifest lists."""
    for coding, suffix in SIBLING_SUFFIXES:
        if (coding not in codings or suffix != WRITTEN_SUFFIXES[coding]) and os.path.isfile(path + suffix):
            transaction.preserve(path + suffix)
            os.remove(path + suffix)


def _copy_siblings(hashed_path: str, logical_path: str, transaction: Transaction, trusted: bool) -> None:
    # The copy under the logical name has the same bytes as the hashed one:
    # its variants are hard links to the hashed one's (a copy where the file
    # system has no links), not a second (slow) compression; changed only
    # when they differ, and atomically, as a server may be reading them.
    # ``trusted``: the hashed variants are the ones the previous manifest
    # recorded, so a copy with their size and time is taken to be theirs
    # too, as that manifest is trusted, without reading either.
    for _, suffix in SIBLING_SUFFIXES:
        source, target = hashed_path + suffix, logical_path + suffix
        if os.path.isfile(source):
            st = os.stat(source)
            if trusted and _same_size_and_time(target, st):
                continue
            if not os.path.lexists(target):
                transaction.preserve(target)
                if link_atomic(source, target):
                    continue
            data = _read(source)
            if not os.path.isfile(target) or os.path.islink(target) or _read(target) != data:
                # os.replace swaps the directory entry: a link is replaced,
                # never written through, and readers see old or new bytes.
                transaction.preserve(target)
                if not link_atomic(source, target):
                    write_atomic(target, data, mtime_ns=st.st_mtime_ns)
            elif os.stat(target).st_mtime_ns != st.st_mtime_ns:
                transaction.preserve(target)
                os.utime(target, ns=(st.st_mtime_ns, st.st_mtime_ns))
        elif os.path.isfile(target):
            transaction.preserve(target)
            os.remove(target)


def _same_size_and_time(path: str, st: os.stat_result) -> bool:
    try:
        other = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(other.st_mode) and (other.st_size, other.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def _unchanged_variants(
    path: str, record: FileRecord | None, hashed: str, codings: Sequence[str], keep_ratio: Fraction
) -> compress.CompressResult | None:
    """The compression of ``path`` as the previous build recorded it, if nothing about it changed since.

    The record is trusted the way the server trusts a manifest: the output
    and each of its variants still have the size and modification time that
    build gave them (it writes variants with their original's time), the
    variants are those of the codings asked for now, and each still saves
    enough. Anything else is left to :func:`staticwrap.compress.compress_file`,
    which decodes what it reuses.
    """
    if record is None or record.mtime is None or record.size is None:
        return None
    if not _compressed_before(record, hashed, codings, keep_ratio):
        return None
    if trusted(record, os.stat(path)) is None:  # the output was just written: it exists
        return None
    expected = {WRITTEN_SUFFIXES[coding]: variant.size for coding, variant in record.variants.items()}
    for _, suffix in SIBLING_SUFFIXES:
        try:
            st = os.stat(path + suffix)
        except FileNotFoundError:
            if suffix in expected:
                return None
            continue  # a sibling the build did not write must not be there
        if suffix not in expected or trusted(record, st, expected[suffix]) is None:
            return None
    if any(variant.size > keep_ratio * record.size for variant in record.variants.values()):
        return None
    sizes = {coding: variant.size for coding, variant in record.variants.items()}
    tags = {coding: variant.etag for coding, variant in record.variants.items()}
    return compress.CompressResult(path, record.size, sizes, tuple(sizes), False, tags, dict(record.unkept))


def _compressed_before(record: FileRecord | None, hashed: str, codings: Sequence[str], keep_ratio: Fraction) -> bool:
    """Whether a manifest's record says its build tried exactly these codings on these bytes, judged as now.

    Each coding was kept, or found to save too little (recorded in
    ``unkept`` with the size it came to): such a coding is encoded again
    only if that size would now be kept.
    """
    if record is None or record.hashed != hashed:
        return False
    kept, unkept = set(record.variants), set(record.unkept)
    if kept | unkept != set(codings) or kept & unkept:
        return False
    return record.size is None or all(size > keep_ratio * record.size for size in record.unkept.values())


def _record(file: SourceFile, result: compress.CompressResult, reused: FileRecord | None = None) -> FileRecord:
    digest = Digest(file.sha256, b"")
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(file.output).digest()).decode("ascii")
    variants = {}
    for coding, size in result.sizes.items():
        if reused is not None:
            variants[coding] = reused.variants[coding]
        else:
            variants[coding] = VariantRecord(size, result.tags[coding])
    return FileRecord(
        hashed=file.hashed,
        size=len(file.output),
        mtime=int(os.stat(result.path).st_mtime),
        integrity=integrity,
        etag=digest.tag,
        source=hashlib.sha256(file.data).hexdigest(),
        variants=variants,
        unkept=dict(result.unkept),
    )
