"""``dcz`` files: each new hashed output compressed against the earlier versions a build keeps (RFC 9842).

With ``dictionaries=True``, ``staticwrap build`` writes, for each output
that an earlier kept generation listed under the same logical name with
other bytes, ``<hashed name>.<12 hex>.dcz``: the new bytes compressed with
zstd against the old ones as a raw dictionary, behind the 40-byte header
that names the old bytes' SHA-256 (whose first 12 hex digits end the file
name, so that the deltas of one output against several dictionaries live
side by side). A browser that holds the old version gets the delta
(:mod:`staticwrap.responder`).

A delta is kept only when it is at most :data:`MAX_DELTA_RATIO` of the
smallest ordinary response (identity, br, zstd or gzip): below that saving,
one more variant per version in every cache is not worth it. Each one is
checked to decode, with its dictionary, to the output before it is written
(:func:`staticwrap.codings.check_delta`), as every variant is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from fractions import Fraction

from .atomic import write_atomic
from .codings import Digest, check_delta, digest_bytes
from .compress import CODINGS, CompressError, should_compress
from .dictionaries import DCZ, dcz_header, delta_name, window_limit
from .facts import trusted
from .manifest import DeltaRecord, FileRecord, Generation, Manifest
from .transaction import Transaction

with contextlib.suppress(ImportError):  # the zstd extra; available() says whether it is there
    import zstandard

#: A delta is kept when it is at most this fraction of the smallest ordinary
#: response of its file (see the module documentation).
MAX_DELTA_RATIO = Fraction(3, 4)

#: zstd's level for deltas: the slowest and smallest, as for the plain variants.
LEVEL = 19


def available() -> bool:
    """Whether deltas can be written: they need the zstandard package."""
    return "zstd" in CODINGS


def encode_delta(data: bytes, dictionary: bytes) -> bytes:
    """``data`` as a ``dcz`` body against ``dictionary``: the header, then one zstd frame (RFC 9842 §5.2).

    The window covers the dictionary and the data when the RFC's limit for
    this dictionary allows (the larger of 8 MiB and 1.25 times the
    dictionary, at most 128 MiB); a larger file still compresses, the window
    then sliding past the start of the dictionary.
    """
    limit_log = window_limit(len(dictionary)).bit_length() - 1  # a power of two no larger than the limit
    needed_log = max(10, (len(dictionary) + len(data) - 1).bit_length())
    params = zstandard.ZstdCompressionParameters.from_level(
        LEVEL,
        source_size=len(data) + len(dictionary),
        window_log=min(limit_log, needed_log),
        write_checksum=1,
        write_content_size=1,
        write_dict_id=0,
    )
    raw = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    compressor = zstandard.ZstdCompressor(dict_data=raw, compression_params=params)
    frame: bytes = compressor.compress(data)
    return dcz_header(hashlib.sha256(dictionary).digest()) + frame


def write_deltas(
    dest: str,
    records: Mapping[str, FileRecord],
    previous: Sequence[Generation],
    old: Manifest,
    transaction: Transaction,
) -> dict[str, FileRecord]:
    """``records`` with the deltas of each output against the earlier versions of ``previous``, written in ``dest``.

    A delta the old manifest recorded for the same output and dictionary, with
    the size and mtime it was written with, is kept as it is.

    :raises CompressError: a delta does not decode to its output.
    """
    updated = dict(records)
    for name, record in records.items():
        if record.size is None or not should_compress(name):
            continue
        versions = _earlier_versions(name, record, previous)
        if not versions:
            continue
        target = os.path.join(dest, record.hashed)
        data = _read(target)
        best = min([len(data), *(variant.size for variant in record.variants.values())])
        found = {}
        st = os.stat(target)
        before = old.outputs.get(record.hashed)
        for version in versions:
            dictionary = _dictionary(dest, version)
            if dictionary is None:
                continue
            key = hashlib.sha256(dictionary).hexdigest()
            path = os.path.join(dest, delta_name(record.hashed, key))
            reused = _reusable(path, before, key, st)
            if reused is not None:
                found[key] = reused
                continue
            delta = encode_delta(data, dictionary)
            if len(delta) > MAX_DELTA_RATIO * best:
                continue
            transaction.preserve(path)
            etag = _write(path, delta, dictionary, digest_bytes(data), st)
            found[key] = DeltaRecord(version.hashed, len(delta), etag)
        if found:
            updated[name] = replace(record, dictionaries=found)
    return updated


def _earlier_versions(name: str, record: FileRecord, previous: Sequence[Generation]) -> list[FileRecord]:
    versions: dict[str, FileRecord] = {}
    for generation in previous:
        earlier = generation.files.get(name)
        if earlier is not None and earlier.hashed != record.hashed:
            versions.setdefault(earlier.hashed, earlier)
    return list(versions.values())


def _dictionary(dest: str, version: FileRecord) -> bytes | None:
    """The bytes of an earlier version, if its file is still the one its record describes."""
    path = os.path.join(dest, version.hashed)
    try:
        data = _read(path)
    except OSError:
        return None
    # Browsers hold the bytes the record describes: a file changed since
    # would make a delta no browser can decode.
    if version.etag is not None and digest_bytes(data).tag != version.etag:
        return None
    return data


def _reusable(path: str, before: FileRecord | None, key: str, target: os.stat_result) -> DeltaRecord | None:
    if before is None or key not in before.dictionaries:
        return None
    delta = before.dictionaries[key]
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    # Deltas are written with their output's mtime, as the plain variants are.
    if not stat.S_ISREG(st.st_mode) or st.st_mtime_ns != target.st_mtime_ns:
        return None
    return delta if trusted(before, st, delta.size) is not None else None


def _write(path: str, delta: bytes, dictionary: bytes, original: Digest, st: os.stat_result) -> str:
    checked: list[Digest] = []

    def refuse_if_wrong(temporary: str) -> None:
        check = check_delta(temporary, dictionary, original, st.st_size)
        if check.digest is None:
            raise CompressError(f"the {DCZ} delta {path} is wrong and was not written: {check.problem}")
        checked.append(check.digest)

    write_atomic(path, delta, mode=stat.S_IMODE(st.st_mode) & 0o666, mtime_ns=st.st_mtime_ns, check=refuse_if_wrong)
    return checked[0].tag


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def prune(
    records: Mapping[str, FileRecord], previous: Sequence[Generation], kept: set[str], enabled: bool
) -> tuple[dict[str, FileRecord], tuple[Generation, ...]]:
    """The records of every kept generation, each without the deltas whose dictionary is no longer kept.

    All of them go when ``enabled`` is false (a build without dictionaries).
    """

    def pruned(record: FileRecord) -> FileRecord:
        if not record.dictionaries:
            return record
        left = {k: d for k, d in record.dictionaries.items() if enabled and d.dictionary in kept}
        return record if len(left) == len(record.dictionaries) else replace(record, dictionaries=left)

    newest = {name: pruned(record) for name, record in records.items()}
    older = tuple(
        Generation(generation.built, {name: pruned(record) for name, record in generation.files.items()})
        for generation in previous
    )
    return newest, older


def delta_paths(generations: Iterable[Mapping[str, FileRecord]]) -> set[str]:
    """The names of the delta files the records of ``generations`` list."""
    return {
        delta_name(record.hashed, key)
        for files in generations
        for record in files.values()
        for key in record.dictionaries
    }
