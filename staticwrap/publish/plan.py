"""What a publish does, decided without I/O: the uploads, the skips, the deletions, and the manifest last.

Input: the objects of the built tree (:class:`LocalObject`, with the headers
the middleware would send and the SHA-256 of the bytes), the tree's
``staticwrap.json``, and the bytes of the ``staticwrap.json`` the last publish
left in the store (``None`` when there is none). Output: a :class:`Plan`.

The store's ``staticwrap.json`` is the tree's, with one more key, ``published``:
for each object key (relative to the prefix), the SHA-256 of its bytes and a
fingerprint of the headers it was stored with::

    "published": {"css/app.3f2a1b9c0d4e.css": ["<base64 SHA-256>", "<16 hex digits>"], ...}

It is written last, once every object it lists is in the store; so it
describes what the store holds, and the next publish reads it (one request)
instead of asking the store about each object. An object is uploaded when it
is missing from that record or its bytes or headers differ; an unchanged tree
uploads nothing, not even the manifest. Keys no publish recorded are never
touched.

The store's generations count as kept ones. A build in a fresh checkout (most
CI) lists only its own generation, yet pages of the deploy before it are
still being rendered and cached: the manifest stored lists, beside the tree's
generations, the store manifest's generations the tree does not hold (one
listing the same hashed names is the same generation), as long as the
build's rule (:class:`~staticwrap.generations.Retention`) keeps them, and its
record carries their keys over. A recorded key that no kept generation lists
and the tree does not hold is deleted, after the new manifest is up (a page of
the previous deploy may be rendered until then); that manifest still records
it, and once the deletions are done a second write drops it from the record.
A key not deleted (``prune=False``, a deletion that failed) thus stays
recorded, and a later publish deletes it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from staticwrap._types import HeaderList
from staticwrap.codings import WRITTEN_SUFFIXES
from staticwrap.dictionaries import delta_name
from staticwrap.generations import DEFAULT_KEEP, DEFAULT_KEEP_FOR, Retention
from staticwrap.manifest import (
    STATICWRAP_MANIFEST,
    Generation,
    Manifest,
    parse_generations,
    previous_json,
    relative_name,
)

#: The key of the record in the store's ``staticwrap.json``.
RECORD_KEY = "published"

# Response fields S3 stores as the object's own and sends back as they were
# given (PutObject's parameters of the same names). Content-Length, ETag and
# Last-Modified the store makes itself, and Accept-Ranges it always sends.
_STORED_FIELDS = {
    "content-type": "ContentType",
    "cache-control": "CacheControl",
    "content-encoding": "ContentEncoding",
    "content-disposition": "ContentDisposition",
    "content-language": "ContentLanguage",
}
_STORE_MAKES = frozenset({"content-length", "etag", "last-modified", "accept-ranges"})

#: The fields of the manifest object: read by the next publish (and by
#: nothing that caches it), and always current.
MANIFEST_FIELDS: HeaderList = [("Content-Type", "application/json"), ("Cache-Control", "no-cache")]


@dataclass(frozen=True, slots=True)
class LocalObject:
    """A file of the built tree to publish, as the middleware would serve it."""

    #: The path relative to the tree (and to the store's prefix), ``/``-separated.
    key: str
    #: The file on disk.
    path: str
    size: int
    #: The SHA-256 of the bytes, base64 (the form of S3's ``ChecksumSHA256``).
    sha256: str
    #: The fields of the middleware's 200 for this file (and coding).
    headers: HeaderList
    #: A content-hashed name, or a coding of one: its bytes never change under its key.
    immutable: bool


@dataclass(frozen=True, slots=True)
class StoredFields:
    """The fields of one object as the store keeps them: PutObject parameters, and user metadata."""

    #: PutObject's parameters (``ContentType``, ``CacheControl``...).
    parameters: Mapping[str, str]
    #: ``x-amz-meta-<name>`` values, for the fields a store cannot send as themselves.
    metadata: Mapping[str, str]

    @property
    def fingerprint(self) -> str:
        """16 hex digits that change when any field does."""
        text = json.dumps([sorted(self.parameters.items()), sorted(self.metadata.items())])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Upload:
    """One PutObject: a key, its bytes (a file, or the manifest's text), and its fields."""

    key: str
    size: int
    sha256: str
    fields: StoredFields
    #: ``If-None-Match: *``: a new content-hashed key, written only if the store has none.
    conditional: bool
    path: str | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do, in order: :attr:`uploads`, :attr:`manifest`, :attr:`deletions`, then :attr:`final_manifest`.

    The uploads come in two phases (:attr:`phases`): the immutable keys, all
    new, then the keys whose bytes are replaced in place (logical names,
    HTML). Stopped in the first phase, a publish has changed nothing any
    page can reach; in the second, each replaced page or file names hashed
    objects that are all there already.
    """

    uploads: tuple[Upload, ...]
    #: The new ``staticwrap.json``; ``None`` when the store's is the same already.
    manifest: Upload | None
    #: Keys the store holds already with these bytes and fields.
    skipped: tuple[str, ...]
    #: Keys the last publish recorded that no kept generation lists any more.
    deletions: tuple[str, ...]
    #: Whether the store's ``staticwrap.json`` had a record of what it holds.
    recorded: bool = field(default=True)
    #: The ``staticwrap.json`` again, without the deleted keys in its record:
    #: written once every deletion succeeded (``None``: nothing to delete).
    final_manifest: Upload | None = None

    @property
    def phases(self) -> tuple[tuple[Upload, ...], tuple[Upload, ...]]:
        """The uploads of new immutable keys, then the others: each phase may run in any order."""
        first = tuple(upload for upload in self.uploads if upload.conditional)
        return first, tuple(upload for upload in self.uploads if not upload.conditional)

    @property
    def upload_bytes(self) -> int:
        """The bytes :attr:`uploads` and :attr:`manifest` send."""
        manifests = [upload.size for upload in (self.manifest, self.final_manifest) if upload is not None]
        return sum(upload.size for upload in self.uploads) + sum(manifests)

    def describe(self, location: str) -> str:
        """The plan as lines of text, for ``--dry-run``: one per action, then a count."""
        lines = [f"upload {location}{upload.key} ({upload.size:,} bytes)" for upload in self.uploads]
        if self.manifest is not None:
            lines.append(f"upload {location}{self.manifest.key} (last)")
        lines += [f"delete {location}{key}" for key in self.deletions]
        if self.final_manifest is not None:
            lines.append(f"upload {location}{self.final_manifest.key} (again, without the deleted keys)")
        lines.append(
            f"would upload {len(self.uploads) + (self.manifest is not None)} objects ({self.upload_bytes:,} bytes), "
            f"skip {len(self.skipped)} unchanged, delete {len(self.deletions)}"
        )
        return "\n".join(lines)


def stored_fields(headers: HeaderList) -> StoredFields:
    """The middleware's header fields split into what S3 stores as fields and as ``x-amz-meta-`` metadata.

    A store sends its metadata back as ``x-amz-meta-<name>``, which no browser
    reads: ``X-Content-Type-Options: nosniff``, ``Vary`` and the CORS fields
    are kept there so that a CDN can copy them (the CDN recipes do), not
    because they take effect from there.
    """
    parameters: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _STORED_FIELDS:
            parameters[_STORED_FIELDS[lower]] = value
        elif lower not in _STORE_MAKES:
            metadata[lower] = value
    return StoredFields(parameters, metadata)


def published_record(manifest: bytes | None) -> dict[str, tuple[str, str]] | None:
    """The record of the store's ``staticwrap.json``: key → (SHA-256, fingerprint); ``None`` if it has none.

    A manifest that cannot be read, or that no publish wrote, is not trusted
    for anything: every object is then uploaded (new hashed keys still only
    if absent), and nothing is deleted.
    """
    if manifest is None:
        return None
    try:
        data = json.loads(manifest)
        record = data[RECORD_KEY]
        return {
            key: (str(entry[0]), str(entry[1]))
            for key, entry in record.items()
            if isinstance(entry, list) and _publishable(key)
        }
    # RecursionError: json.loads on a deeply nested text.
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        return None


def _publishable(key: object) -> bool:
    """Whether a recorded key is one a publish could have written: a normalised path inside the prefix.

    A publish writes only the tree's own relative paths. Any other key in
    the store's record (``../x``, ``/x``, ``a//b``...) was put there by
    someone else, and deleting ``prefix + key`` could reach outside the
    prefix on a store or proxy that resolves dot segments: it is ignored.
    """
    try:
        relative_name(key)
    except ValueError:
        return False
    return True


#: A record entry: the SHA-256 of the object's bytes (base64) and the fingerprint of its fields.
Entry = tuple[str, str]

#: Beyond this many seconds, a float (``time.time()``) no longer holds every whole second.
_LARGEST_TIME = 2**53

#: The build's retention, the default of a publish too.
DEFAULT_RETENTION = Retention.of(DEFAULT_KEEP, DEFAULT_KEEP_FOR)


def published_manifest(
    manifest: bytes, record: Mapping[str, Entry], previous: Sequence[Mapping[str, Any]] | None = None
) -> bytes:
    """The ``staticwrap.json`` to store: the tree's, with ``record`` added (and ``previous`` instead of its own).

    One line per object, sorted: the same tree gives the same bytes, so an
    unchanged rerun finds the store's manifest identical and uploads nothing.
    """
    data: dict[str, Any] = json.loads(manifest)
    data.pop(RECORD_KEY, None)
    if previous is not None:
        data["previous"] = list(previous)
    encoder = json.JSONEncoder(ensure_ascii=False)
    header = ",\n".join(f" {encoder.encode(key)}: {encoder.encode(value)}" for key, value in data.items())
    entries = ",\n".join(f"  {encoder.encode(key)}: {encoder.encode(list(record[key]))}" for key in sorted(record))
    return ("{\n" + header + f',\n "{RECORD_KEY}": {{\n' + entries + "\n }\n}\n").encode("utf-8")


def store_generations(tree: Manifest, store: Manifest, retention: Retention, now: float) -> tuple[Generation, ...]:
    """The store's generations that stay beside the tree's, newest first: those the tree lacks and the rule keeps.

    A store generation listing the same hashed names as one of the tree's
    is that generation (the tree was built in the DEST the last publish came
    from, or a fresh checkout built the same sources again), as the build
    decides. Not the build time: two checkouts may build in the same second.
    The rest are counted with the tree's earlier ones, by build time, as the
    build would have counted them had DEST carried over.
    """
    if tree.built is None:
        return ()
    listings = [_listing(generation) for generation in tree.generations]
    # A "built" no float holds (a corrupt or hostile manifest) is no build
    # time: counted against time.time(), it would end the publish with an
    # OverflowError. That generation is not kept.
    others = [
        generation
        for generation in store.generations
        if abs(generation.built) < _LARGEST_TIME and _listing(generation) not in listings
    ]
    if not others:
        return ()
    merged = sorted([*tree.previous, *others], key=lambda generation: generation.built, reverse=True)
    # The generation newest before the tree's was live until this publish:
    # it is replaced now, not when the tree was built (a build published
    # days later, or on a machine whose clock is behind).
    replaced = max(tree.built, int(now))
    kept = {id(generation) for generation in retention.kept(merged, replaced, now)}
    return tuple(generation for generation in others if id(generation) in kept)


def _listing(generation: Generation) -> dict[str, str]:
    return {name: record.hashed for name, record in generation.files.items()}


def plan_publish(
    objects: Sequence[LocalObject],
    manifest: bytes,
    remote: bytes | None,
    *,
    prune: bool = True,
    kept: Collection[str] = (),
    retention: Retention = DEFAULT_RETENTION,
    now: float | None = None,
) -> Plan:
    """The plan that makes the store hold ``objects`` and the tree's ``manifest``, and keep the store's generations.

    ``remote`` is the store's ``staticwrap.json`` as read (``None``: there is
    none). ``prune=False`` deletes nothing. ``kept``: the keys a generation
    of the tree's manifest lists (:func:`kept_keys`), never deleted, even
    when the tree did not give their file this time. ``retention`` decides
    which of the store's generations stay (:func:`store_generations`), at
    ``now`` (seconds since the epoch; default: the tree's build time).
    """
    record = published_record(remote)
    known = record or {}
    uploads: list[Upload] = []
    skipped: list[str] = []
    current: dict[str, Entry] = {}
    for item in sorted(objects, key=lambda item: (not item.immutable, item.key)):
        fields = stored_fields(item.headers)
        current[item.key] = (item.sha256, fields.fingerprint)
        if known.get(item.key) == current[item.key]:
            skipped.append(item.key)
            continue
        # A content-hashed key the store may hold already (written by an
        # interrupted publish, or by another one running now): written only if
        # absent, as its bytes can only be these.
        conditional = item.immutable and item.key not in known
        uploads.append(Upload(item.key, item.size, item.sha256, fields, conditional, path=item.path))
    previous = None
    listed = set(kept)
    tree = parse_generations(_json(manifest))
    if tree is not None:
        listed |= kept_keys(tree)
    if tree is not None and record is not None and (store := parse_generations(_json(remote))) is not None:
        added = store_generations(tree, store, retention, (tree.built or 0) if now is None else now)
        if added:
            merged = sorted([*tree.previous, *added], key=lambda generation: generation.built, reverse=True)
            previous = previous_json(tree.files, merged)
            listed |= kept_keys(Manifest.of({}, previous=added))
    # A kept generation's key stays, and stays recorded, while its pages may
    # be in use, even if its file was not read from this copy of the tree
    # (a fresh checkout, a file gone or unreadable).
    carried = {key: entry for key, entry in known.items() if key in listed and key not in current}
    # Recorded until deleted: a key not deleted now is deleted by a later publish.
    dropped = {
        key: entry
        for key, entry in known.items()
        if key not in listed and key not in current and key != STATICWRAP_MANIFEST
    }
    text = published_manifest(manifest, current | carried | dropped, previous)
    deletions = sorted(dropped) if prune else []
    final = published_manifest(manifest, current | carried, previous) if deletions else None
    return Plan(
        tuple(uploads),
        _manifest_upload(text) if text != remote else None,
        tuple(skipped),
        tuple(deletions),
        recorded=record is not None,
        final_manifest=_manifest_upload(final) if final is not None else None,
    )


def _json(text: bytes | None) -> Any:
    """``text`` as JSON data; ``None`` when it is none (the planner then trusts it for nothing)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _manifest_upload(text: bytes) -> Upload:
    return Upload(
        STATICWRAP_MANIFEST,
        len(text),
        checksum(hashlib.sha256(text).digest()),
        stored_fields(MANIFEST_FIELDS),
        conditional=False,
        body=text,
    )


def kept_keys(manifest: Manifest) -> set[str]:
    """Every key the generations of a manifest list: each output (hashed or logical name), its codings and dcz files."""
    keys: set[str] = set()
    for name, record in manifest.outputs.items():
        keys.add(name)
        keys.update(name + WRITTEN_SUFFIXES[coding] for coding in record.variants if coding in WRITTEN_SUFFIXES)
        if name == record.hashed:
            # The dcz files a kept generation's record lists are served while it is kept (RFC 9842).
            keys.update(delta_name(name, key) for key in record.dictionaries)
    return keys


def checksum(sha256: bytes) -> str:
    """A SHA-256 digest as S3's ``ChecksumSHA256`` writes it: base64."""
    return base64.b64encode(sha256).decode("ascii")
