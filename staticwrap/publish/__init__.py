"""Publish a built tree to S3-compatible object storage: :func:`publish`.

``staticwrap publish DEST s3://bucket/prefix/`` on the command line;
``manage.py staticwrap_publish`` in Django. Needs boto3 (``pip install
'staticwrap[s3]'``). The steps, each of which leaves the site working if it
is the last one done:

1. read the store's ``staticwrap.json`` (one request; :mod:`.plan` says what it records);
2. upload, on ``jobs`` threads, each object whose bytes or headers differ or
   that is missing, with the headers the middleware would send, its SHA-256
   for the store to check, and ``If-None-Match: *`` for a new hashed key;
3. upload the new ``staticwrap.json``, last: only now does anything name the new objects;
   it lists the store's earlier generations the retention rule keeps
   (``keep``, ``keep_for``, as the build's), so a build in a fresh checkout
   does not make the previous deploy's objects go;
4. delete the keys that the previous record lists and no kept generation does,
   then store the manifest again without them (until then it records them, so
   a deletion not done is done by a later publish).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from staticwrap.config import Config
from staticwrap.errors import ConfigurationError
from staticwrap.generations import DEFAULT_KEEP, DEFAULT_KEEP_FOR, Retention
from staticwrap.manifest import STATICWRAP_MANIFEST, read_manifest

from .local import read_tree
from .plan import Plan, Upload, kept_keys, plan_publish
from .store import PublishError, Store, make_client, parse_location

__all__ = ["PublishError", "PublishResult", "publish"]

#: Uploads at a time when ``jobs`` is not given.
DEFAULT_JOBS = 8


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a publish did (or, with ``dry_run``, would do)."""

    location: str
    plan: Plan
    #: Objects written (the manifest included).
    uploaded: int
    #: Objects the store had already: unchanged since the last publish, or
    #: found there, the same, by a conditional write.
    skipped: int
    deleted: int
    #: Bytes of the objects written.
    bytes: int
    seconds: float
    dry_run: bool = False

    def summary(self) -> str:
        """One line for people: counts, bytes and time."""
        if self.dry_run:
            return self.plan.describe(self.location)
        return (
            f"published to {self.location}: {self.uploaded} uploaded ({self.bytes:,} bytes), "
            f"{self.skipped} unchanged, {self.deleted} deleted, in {self.seconds:.2f} s"
        )


def publish(
    tree: str | os.PathLike[str],
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    checksum: bool = True,
    prune: bool = True,
    keep: int = DEFAULT_KEEP,
    keep_for: str | float | timedelta = DEFAULT_KEEP_FOR,
    now: float | None = None,
    dry_run: bool = False,
    jobs: int | None = None,
    client: Any = None,
    progress: Callable[[int, int, str], None] | None = None,
    config: Config | None = None,
    **options: Any,
) -> PublishResult:
    """Upload the built ``tree`` to ``url`` (``s3://bucket/prefix/``): what changed, then the manifest, then prune.

    :param endpoint_url: the store's URL, for a store other than AWS S3
        (``https://<account>.r2.cloudflarestorage.com``, ``http://127.0.0.1:8333``).
    :param region: the region, if the credentials' profile does not give it.
    :param checksum: send each object's SHA-256 for the store to verify
        (``x-amz-checksum-sha256``); ``False`` for a store that refuses it.
    :param prune: delete what the last publish stored and no kept generation lists.
    :param keep: the store's generations count as kept ones, with the rule
        of the build's option of the same name: one stays while it is among
        the newest ``keep``, the tree's included...
    :param keep_for: ...or was replaced less than ``keep_for`` ago (``"90m"``,
        ``"12h"``, ``"2d"``, ``"0"``, seconds, or a :class:`~datetime.timedelta`).
    :param now: the time the rule counts from, in seconds since the epoch
        (default: the clock's).
    :param dry_run: read the store's manifest, and change nothing: the
        result's :meth:`~PublishResult.summary` is the plan.
    :param jobs: uploads at a time (default 8).
    :param client: a boto3 S3 client to use instead of one made from the
        other arguments and boto3's credential chain.
    :param progress: called as ``progress(done, total, key)`` after each upload.
    :param options: :class:`~staticwrap.StaticWrap`'s options (``max_age``,
        ``immutable``, ``mimetypes``, ``headers``...): each object is stored
        with the headers the middleware would send with them.
    :param config: those options checked already, as a
        :class:`~staticwrap.config.Config` (Django's command gives the project's).
    :raises ConfigurationError: for a bad argument or a tree with no ``staticwrap.json``.
    :raises PublishError: when the store refuses or cannot be reached; the
        manifest is then not written, and the site stays as it was.
    """
    started = time.monotonic()
    retention = Retention.of(keep, keep_for)
    bucket, prefix = parse_location(url)
    jobs = DEFAULT_JOBS if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigurationError.bad_value("jobs", jobs, "give a number of uploads at a time >= 1")
    root = os.fspath(tree)
    if not os.path.isdir(root):
        raise ConfigurationError.bad_value("tree", root, "give the directory `staticwrap build` wrote (its DEST)")
    if client is None:  # first: without boto3, say so before reading the tree
        client = make_client(endpoint_url=endpoint_url, region=region, jobs=jobs)
    objects, manifest = read_tree(root, options, jobs=jobs, config=config)
    store = Store(client, bucket, prefix, checksum=checksum)
    kept = kept_keys(read_manifest(root))
    remote = store.read(STATICWRAP_MANIFEST)
    clock = time.time() if now is None else now
    plan = plan_publish(objects, manifest, remote, prune=prune, kept=kept, retention=retention, now=clock)
    if dry_run:
        return PublishResult(store.location, plan, 0, len(plan.skipped), 0, 0, time.monotonic() - started, True)
    written = _upload(store, plan, jobs, progress)
    if plan.manifest is not None:
        # Last: until it is stored, the previous manifest (and every object
        # it names) is what the store describes.
        store.put(plan.manifest)
        written.append(plan.manifest.size)
    _parallel(store.delete, plan.deletions, jobs)
    rewritten = 0
    if plan.final_manifest is not None:
        # Only once every deletion is done: a failed one stays recorded. The
        # same object again: its bytes count, not as one more object.
        store.put(plan.final_manifest)
        rewritten = plan.final_manifest.size
    return PublishResult(
        location=store.location,
        plan=plan,
        uploaded=len(written),
        skipped=len(plan.skipped) + len(plan.uploads) + (plan.manifest is not None) - len(written),
        deleted=len(plan.deletions),
        bytes=sum(written) + rewritten,
        seconds=time.monotonic() - started,
    )


def _upload(store: Store, plan: Plan, jobs: int, progress: Callable[[int, int, str], None] | None) -> list[int]:
    """Upload the plan's objects, phase by phase; the sizes of those written (a conditional write may find one)."""
    total = len(plan.uploads)
    written: list[int] = []
    lock = threading.Lock()
    done = [0]

    def one(upload: Upload) -> None:
        stored = store.put(upload)
        with lock:
            if stored:
                written.append(upload.size)
            done[0] += 1
            if progress is not None:
                progress(done[0], total, upload.key)

    first, second = plan.phases
    _parallel(one, first, jobs)
    _parallel(one, second, jobs)
    return written


def _parallel(function: Callable[[Any], None], items: Any, jobs: int) -> None:
    """``function`` on each item, ``jobs`` at a time; the first error stops what has not started, and is raised."""
    items = list(items)
    if not items:
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(function, item) for item in items]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [future for future in finished if future.exception() is not None]
        if failed:
            for future in futures:
                future.cancel()
            error = failed[0].exception()
            assert error is not None
            raise error
