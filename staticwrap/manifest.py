"""Asset manifests: which names are content-hashed, and what the build already knows of each file.

Two formats are read from the top of a root:

- ``staticwrap.json``, written by ``staticwrap build`` (format below);
- ``staticfiles.json``, written by Django's ``ManifestStaticFilesStorage``:
  ``{"version": "1.1", "paths": {"app.css": "app.3f2a1b9c0d4e.css"}}``.

``staticwrap.json``, version 2::

    {
      "version": 2,
      "generator": "staticwrap 0.1.0",
      "hash": {"algorithm": "sha256", "length": 12, "alphabet": "0123456789abcdef"},
      "built": 1765140000,
      "files": {
        "css/app.css": {
          "hashed": "css/app.3f2a1b9c0d4e.css",
          "size": 1234,
          "mtime": 1700000000,
          "integrity": "sha384-<base64 of the SHA-384 of the bytes>",
          "etag": "<128 bits of the SHA-256 of the bytes, base64url>",
          "source": "<hex SHA-256 of the source file, before references were rewritten>",
          "variants": {"br": {"size": 301, "etag": "..."}, "gzip": {"size": 377, "etag": "..."}},
          "dictionaries": {"<hex SHA-256 of an earlier version>": {
            "dictionary": "css/app.0b1c2d3e4f5a.css", "size": 41, "etag": "..."}}
        }
      },
      "previous": [
        {"built": 1765130000, "files": {
          "css/app.css": {"hashed": "css/app.0b1c2d3e4f5a.css", "size": 1230, "...": "..."},
          "img/logo.png": "img/logo.9a8b7c6d5e4f.png"
        }}
      ]
    }

Keys of ``files`` are the logical names (paths relative to the source tree,
``/``-separated). ``size``, ``mtime`` and ``etag`` describe the output file
(the hashed copy, and the copy under the logical name when it was kept, which
has the same bytes); ``variants`` its precompressed siblings; ``unkept`` the
codings tried that saved too little, with the size each came to (a rebuild
judges them again from it instead of encoding again);
``dictionaries`` (only with ``dictionaries=True``) its ``dcz`` files, each
compressed against an earlier version of the file (:mod:`staticwrap.deltas`),
keyed by that version's SHA-256. ``built`` is
when the newest build was made (seconds since the epoch).

``previous`` holds the earlier generations the build keeps
(:mod:`staticwrap.generations`), newest first, each with when it was built
and what it listed. A hashed name's record is written once, in the newest
generation that lists it; an older one gives only the hashed name. Every
hashed name of every generation is served as immutable; the logical names are
the newest generation's.

Version 1 has no ``built`` and no ``previous``: it is read as a single
generation, built when the file was last modified.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .atomic import write_atomic
from .errors import ConfigurationError
from .transaction import save_before_change

STATICWRAP_MANIFEST = "staticwrap.json"
DJANGO_MANIFEST = "staticfiles.json"
MANIFEST_VERSION = 2
#: Earlier versions :func:`read_manifest` still reads.
_READABLE_VERSIONS = frozenset({1, MANIFEST_VERSION})


@dataclass(frozen=True, slots=True)
class VariantRecord:
    """A precompressed sibling as the build wrote it."""

    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class DeltaRecord:
    """A ``dcz`` file: the output compressed against an earlier version, its dictionary (RFC 9842)."""

    #: The dictionary's hashed name, in the same directory tree.
    dictionary: str
    size: int
    etag: str

    def to_json(self) -> dict[str, Any]:
        return {"dictionary": self.dictionary, "size": self.size, "etag": self.etag}

    @classmethod
    def from_json(cls, data: Any) -> DeltaRecord:
        return cls(relative_name(data["dictionary"]), int(data["size"]), str(data["etag"]))


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One logical file of a staticwrap manifest. Only ``hashed`` is required when reading."""

    hashed: str
    size: int | None = None
    mtime: int | None = None
    integrity: str | None = None
    etag: str | None = None
    source: str | None = None
    variants: Mapping[str, VariantRecord] = field(default_factory=dict)
    #: The ``dcz`` files of the output, by the hex SHA-256 of their dictionary.
    dictionaries: Mapping[str, DeltaRecord] = field(default_factory=dict)
    #: The size each coding the build tried but did not keep came to, by coding.
    unkept: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"hashed": self.hashed}
        for name in ("size", "mtime", "integrity", "etag", "source"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.variants:
            data["variants"] = {coding: {"size": v.size, "etag": v.etag} for coding, v in sorted(self.variants.items())}
        if self.dictionaries:
            data["dictionaries"] = {key: delta.to_json() for key, delta in sorted(self.dictionaries.items())}
        if self.unkept:
            data["unkept"] = dict(sorted(self.unkept.items()))
        return data

    @classmethod
    def from_json(cls, data: Any) -> FileRecord:
        variants = {str(c): VariantRecord(int(v["size"]), str(v["etag"])) for c, v in data.get("variants", {}).items()}
        return cls(
            hashed=relative_name(data["hashed"]),
            size=_optional(data, "size", int),
            mtime=_optional(data, "mtime", int),
            integrity=_optional(data, "integrity", str),
            etag=_optional(data, "etag", str),
            source=_optional(data, "source", str),
            variants=variants,
            dictionaries={
                _sha256_hex(key): DeltaRecord.from_json(d) for key, d in data.get("dictionaries", {}).items()
            },
            unkept=_unkept(data.get("unkept", {})),
        )


def _unkept(data: Any) -> dict[str, int]:
    unkept = {str(coding): size for coding, size in data.items()}
    for coding, size in unkept.items():
        # bool is an int: refused, like any other size that is not a count of bytes.
        if type(size) is not int or size < 0:
            raise TypeError(f"unkept size of {coding!r} must be a non-negative int, not {size!r}")
    return unkept


def _sha256_hex(key: Any) -> str:
    if not isinstance(key, str) or len(key) != 64 or key.strip("0123456789abcdef"):
        raise ValueError(f"{key!r} is not the hex SHA-256 of a dictionary")
    return key


def relative_name(name: Any) -> str:
    """A manifest name: a relative, normalised, ``/``-separated path inside its directory.

    Anything else ("../x", "/etc/x", "a\\b", "a//b") is refused: a build
    removes the files an earlier manifest names, and must never be led
    outside DEST.
    """
    if (
        not isinstance(name, str)
        or not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or posixpath.normpath(name) != name
        or name.split("/", 1)[0] == ".."
    ):
        raise ValueError(f"{name!r} is not a relative path inside the directory")
    return name


def _optional(data: Any, name: str, kind: type[Any]) -> Any:
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{name!r} must be {kind.__name__}, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Generation:
    """What one build listed (logical name → record), and when it was built (seconds since the epoch)."""

    built: int
    files: Mapping[str, FileRecord]


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a root's manifests say: logical name → record, and the set of hashed names."""

    files: Mapping[str, FileRecord] = field(default_factory=dict)
    hashed_names: frozenset[str] = frozenset()
    #: Output path (hashed or logical name) → the record describing its bytes.
    outputs: Mapping[str, FileRecord] = field(default_factory=dict)
    #: Django's staticfiles.json: logical name → hashed name.
    django_names: Mapping[str, str] = field(default_factory=dict)
    #: When the newest generation (``files``) was built; ``None`` when nothing was.
    built: int | None = None
    #: The earlier generations kept, newest first.
    previous: tuple[Generation, ...] = ()

    @classmethod
    def of(
        cls,
        files: Mapping[str, FileRecord],
        django_names: Mapping[str, str] | None = None,
        *,
        built: int | None = None,
        previous: Sequence[Generation] = (),
    ) -> Manifest:
        django_names = dict(django_names or {})
        outputs: dict[str, FileRecord] = {}
        # Oldest first: a hashed name listed again later gets its newest record.
        for generation in reversed(previous):
            outputs.update((record.hashed, record) for record in generation.files.values())
        outputs.update(files)
        outputs.update((record.hashed, record) for record in files.values())
        hashed = {
            record.hashed for generation in (*previous, Generation(0, files)) for record in generation.files.values()
        }
        return cls(files, frozenset(hashed | set(django_names.values())), outputs, django_names, built, tuple(previous))

    @property
    def generations(self) -> tuple[Generation, ...]:
        """Every generation, newest first; none for a manifest no build wrote."""
        if self.built is None:
            return ()
        return (Generation(self.built, self.files), *self.previous)

    def for_serving(self) -> Manifest:
        """What a server needs once its index is built: each name's hashed name and integrity.

        The sizes, mtimes and ETags only spare the startup scan from reading
        files; an index entry rebuilt later (a file changed) hashes its file
        anew, as it must. The earlier generations' hashed names stay (they
        are immutable), their records go.
        """
        files = {name: FileRecord(record.hashed, integrity=record.integrity) for name, record in self.files.items()}
        return Manifest(files, self.hashed_names, {}, self.django_names, self.built)


def read_manifest(root: str) -> Manifest:
    """Read the manifests at the top of ``root``; an empty :class:`Manifest` when there are none."""
    manifest = Manifest()
    path = os.path.join(root, STATICWRAP_MANIFEST)
    data = _load(path)
    if data is not None:
        try:
            manifest = _staticwrap_manifest(data, path)
        except (TypeError, AttributeError, KeyError, ValueError) as error:
            raise _not_a_manifest(path, error) from None
    django: dict[str, str] = {}
    path = os.path.join(root, DJANGO_MANIFEST)
    data = _load(path)
    if data is not None:
        try:
            django.update((str(name), str(hashed)) for name, hashed in data["paths"].items())
        except (TypeError, AttributeError, KeyError) as error:
            raise _not_a_manifest(path, error) from None
    return Manifest.of(manifest.files, django, built=manifest.built, previous=manifest.previous)


def _staticwrap_manifest(data: Any, path: str) -> Manifest:
    version = data.get("version")
    if version not in _READABLE_VERSIONS or isinstance(version, bool):
        raise ValueError(f"unsupported version {version!r}, expected {MANIFEST_VERSION}")
    files = {relative_name(name): FileRecord.from_json(entry) for name, entry in data["files"].items()}
    if version == 1:
        # No build time recorded: the file's own is when that build ended.
        return Manifest.of(files, built=int(os.stat(path).st_mtime))
    built = _required(data, "built", int)
    records = {record.hashed: record for record in files.values()}
    previous = []
    for generation in data.get("previous", []):
        listed = {relative_name(name): _listed(entry, records) for name, entry in generation["files"].items()}
        previous.append(Generation(_required(generation, "built", int), listed))
    return Manifest.of(files, built=built, previous=previous)


def _listed(entry: Any, records: dict[str, FileRecord]) -> FileRecord:
    """A record of an earlier generation: in full, or the hashed name of one a newer generation wrote."""
    if isinstance(entry, str):
        return records[relative_name(entry)]
    record = FileRecord.from_json(entry)
    records.setdefault(record.hashed, record)
    return record


def write_manifest(
    path: str,
    files: Mapping[str, FileRecord],
    generator: str,
    hash_length: int,
    *,
    built: int,
    previous: Sequence[Generation] = (),
    undo: str | None = None,
) -> bool:
    """Write a staticwrap.json atomically (a reader never sees half a file).

    ``files`` is the newest generation, built at ``built``; ``previous`` the
    earlier ones kept, newest first. Returns whether the file changed: an
    identical manifest is left untouched. ``undo``: the directory of a
    :class:`~staticwrap.transaction.Transaction` that keeps the old manifest
    before it is replaced.
    """
    header = {
        "version": MANIFEST_VERSION,
        "generator": generator,
        "hash": {"algorithm": "sha256", "length": hash_length, "alphabet": "0123456789abcdef"},
        "built": built,
    }
    older = [(generation["built"], generation["files"]) for generation in previous_json(files, previous)]
    text = _manifest_text(header, {name: files[name].to_json() for name in sorted(files)}, older)
    try:
        with open(path, encoding="utf-8") as existing:
            if existing.read() == text:
                return False
    except (OSError, ValueError):
        pass
    save_before_change(undo, path)
    write_atomic(path, text.encode("utf-8"))
    return True


def previous_json(files: Mapping[str, FileRecord], previous: Sequence[Generation]) -> list[dict[str, Any]]:
    """The ``previous`` list of a manifest whose newest generation is ``files``: JSON data, newest first.

    A hashed name's record is written in full once, in the newest generation
    that lists it; an older generation gives only the hashed name.
    """
    written = {record.hashed for record in files.values()}
    older: list[dict[str, Any]] = []
    for generation in previous:
        listed: dict[str, Any] = {}
        for name in sorted(generation.files):
            record = generation.files[name]
            listed[name] = record.hashed if record.hashed in written else record.to_json()
            written.add(record.hashed)
        older.append({"built": generation.built, "files": listed})
    return older


def parse_generations(data: Any) -> Manifest | None:
    """The generations of a version 2 ``staticwrap.json`` given as JSON data; ``None`` if it is not one.

    Pure: for a manifest read from elsewhere than a root (the copy in an
    object store). A version 1 manifest has no build time of its own (it
    is its file's), so it is ``None`` here too.
    """
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        return None
    try:
        return _staticwrap_manifest(data, STATICWRAP_MANIFEST)
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError):
        return None


def _manifest_text(
    header: Mapping[str, Any], records: Mapping[str, Any], previous: Sequence[tuple[int, Mapping[str, Any]]] = ()
) -> str:
    """The JSON text of a manifest, one line per file record (and per generation's start).

    A diff of two builds then shows one line per file changed. It is also
    written by the json module's C encoder, which ``indent=`` turns off:
    several times faster on a large tree.
    """
    encoder = json.JSONEncoder(ensure_ascii=False)
    lines = [f" {encoder.encode(key)}: {encoder.encode(value)}," for key, value in header.items()]
    text = "{\n" + "\n".join(lines) + '\n "files":' + _records_text(encoder, records, "  ")
    if previous:
        generations = [
            f'  {{"built": {encoder.encode(built)}, "files":' + _records_text(encoder, listed, "   ") + "}"
            for built, listed in previous
        ]
        text += ',\n "previous": [\n' + ",\n".join(generations) + "\n ]"
    return text + "\n}\n"


def _records_text(encoder: json.JSONEncoder, records: Mapping[str, Any], indent: str) -> str:
    entries = [f"{indent}{encoder.encode(name)}: {encoder.encode(record)}" for name, record in records.items()]
    return " {\n" + ",\n".join(entries) + "\n" + indent[:-1] + "}" if entries else " {}"


def _load(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ConfigurationError(
            f"{path} cannot be read as a JSON manifest ({error}): rebuild it, or remove it from the directory"
        ) from None


def _required(data: Any, name: str, kind: type[Any]) -> Any:
    value = _optional(data, name, kind)
    if value is None or isinstance(value, bool):
        raise KeyError(name)
    return value


def _not_a_manifest(path: str, error: Exception) -> ConfigurationError:
    return ConfigurationError(
        f"{path} is not a manifest staticwrap knows ({error!r}): rebuild it, or remove it from the directory"
    )
