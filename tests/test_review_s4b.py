"""Adversarial review of the late session-4 publish code (store generations): each test failed before its fix."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from staticwrap.generations import Retention
from staticwrap.publish.plan import LocalObject, plan_publish, published_record
from tests.test_publish_plan import IMMUTABLE, sha, stored_after

A_KEY, B_KEY, Z_KEY = "app.aaaaaaaaaaaa.js", "app.bbbbbbbbbbbb.js", "app.zzzzzzzzzzzz.js"
BUILT_Z, BUILT_A, BUILT_B = 1_765_000_000, 1_765_100_000, 1_765_200_000


def _object(key: str, immutable: bool = True) -> LocalObject:
    data = key.encode()
    control = IMMUTABLE if immutable else "no-cache"
    return LocalObject(key, f"/tree/{key}", len(data), sha(data), [("Cache-Control", control)], immutable=immutable)


def _tree(built: int, files: dict[str, Any], keys: list[str]) -> tuple[list[LocalObject], bytes]:
    objects = [_object(key) for key in keys] + [_object("app.js", immutable=False)]
    return objects, json.dumps({"version": 2, "built": built, "files": files, "previous": []}).encode()


def test_the_dcz_file_of_a_kept_store_generation_is_not_deleted() -> None:
    # The store holds generation A, built with dictionaries=True in a DEST
    # that held Z: A's record lists its dcz file (A compressed against Z), and
    # the last publish uploaded and recorded it. A fresh checkout builds B (no
    # A in its DEST, so no dcz). A stays (kept by the default rule), and so
    # must every file its record lists: the manifest stored still tells the
    # server that A.<z>.dcz exists.
    z_hex = hashlib.sha256(Z_KEY.encode()).hexdigest()
    dcz = f"{A_KEY}.{z_hex[:12]}.dcz"
    delta = {"dictionary": Z_KEY, "size": 10, "etag": '"d"'}
    a_files = {"app.js": {"hashed": A_KEY, "dictionaries": {z_hex: delta}}}
    remote = stored_after(plan_publish(*_tree(BUILT_A, a_files, [A_KEY, dcz]), None))
    before = published_record(remote)
    assert before is not None
    assert dcz in before
    objects, manifest = _tree(BUILT_B, {"app.js": {"hashed": B_KEY}}, [B_KEY])
    plan = plan_publish(objects, manifest, remote, now=BUILT_B + 60)
    assert A_KEY not in plan.deletions
    assert dcz not in plan.deletions
    after = published_record(stored_after(plan))
    assert after is not None
    assert dcz in after


def test_a_store_generation_built_beyond_any_float_is_no_traceback() -> None:
    # A hostile or corrupt store manifest: one generation's "built" is an
    # int no float holds. Publish compares times as floats (time.time()):
    # that generation must not end the publish with an OverflowError.
    z_files = {"app.js": {"hashed": Z_KEY}}
    remote = stored_after(plan_publish(*_tree(BUILT_Z, z_files, [Z_KEY]), None))
    data = json.loads(remote)
    data["previous"] = [
        {"built": 10**400, "files": {"app.js": {"hashed": A_KEY}}},
        {"built": BUILT_Z - 10, "files": {"app.js": {"hashed": "app.yyyyyyyyyyyy.js"}}},
    ]
    hostile = json.dumps(data).encode()
    objects, manifest = _tree(BUILT_B, {"app.js": {"hashed": B_KEY}}, [B_KEY])
    plan = plan_publish(objects, manifest, hostile, retention=Retention.of(2, "1h"), now=float(BUILT_B + 7200))
    # Whatever it keeps, the tree's own keys are never deleted.
    assert B_KEY not in plan.deletions
    assert "app.js" not in plan.deletions


def test_the_deploy_a_publish_replaces_is_kept_for_keep_for_after_the_publish_not_the_build() -> None:
    # The store's newest generation (A) is the deploy live until this
    # publish: it is replaced now, not when the tree was built. A tree built
    # two days before it is published (a build promoted from staging, or a
    # build machine whose clock is behind) must not make A go at once under
    # keep=1, keep_for="1d": pages of A are still rendered and cached.
    a_files = {"app.js": {"hashed": A_KEY}}
    remote = stored_after(plan_publish(*_tree(BUILT_A, a_files, [A_KEY]), None))
    objects, manifest = _tree(BUILT_B, {"app.js": {"hashed": B_KEY}}, [B_KEY])
    two_days = 2 * 86400
    plan = plan_publish(objects, manifest, remote, retention=Retention.of(1, "1d"), now=float(BUILT_B + two_days))
    assert A_KEY not in plan.deletions
    after = published_record(stored_after(plan))
    assert after is not None
    assert A_KEY in after
    # keep_for="0" keeps by count alone: then A goes, as the rule says.
    dropped = plan_publish(objects, manifest, remote, retention=Retention.of(1, "0"), now=float(BUILT_B + two_days))
    assert A_KEY in dropped.deletions
