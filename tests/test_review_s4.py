"""Adversarial review of session 4 (ASGI, compression dictionaries, publish): each test failed before its fix."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import brotli
import pytest

from staticwrap import StaticWrap
from staticwrap.asgi import StaticWrapASGI
from staticwrap.errors import StaticwrapWarning
from staticwrap.publish import publish
from staticwrap.publish.plan import LocalObject, plan_publish
from staticwrap.publish.store import describe
from tests.conftest import call
from tests.object_stores import client, moto_server
from tests.test_asgi import downstream_asgi, drive, make_scope
from tests.test_dictionaries import DCZ_ACCEPT, Deployed, _decode
from tests.test_publish import built, stored

# -- ASGI: a scope path the index cannot hold ---------------------------------------------------------


@pytest.mark.parametrize("autorefresh", [False, True])
@pytest.mark.parametrize("path", ["/static/\udcff.txt", "/static/\ud800", "/\udce9"])
def test_a_scope_path_with_a_lone_surrogate_goes_to_the_application(
    tmp_path: Path, path: str, autorefresh: bool
) -> None:
    # A str that is not UTF-8 text (an ASGI middleware or server that decoded
    # the path with surrogateescape) names no file: the application answers,
    # never a UnicodeEncodeError (a 500).
    (tmp_path / "a.txt").write_bytes(b"hello")
    app = StaticWrapASGI(downstream_asgi, tmp_path, prefix="/static/", autorefresh=autorefresh)
    scope = make_scope("GET", "/elsewhere", [], None)
    scope["path"] = path
    response = asyncio.run(drive(app, scope))
    assert (response.status, response.body) == (200, b"app:GET /elsewhere")


# -- publish: a store manifest whose record names keys no publish could have written ------------------


def _sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.mark.parametrize(
    "hostile",
    ["../outside.js", "/outside.js", "a/../../outside.js", "./app.js", "a//b.js", "a\\..\\..\\x.js", "", "a\x00b"],
)
def test_a_hostile_store_record_never_makes_publish_delete_a_key_it_could_not_have_written(hostile: str) -> None:
    # The store's staticwrap.json is data anyone with write access to the
    # bucket may have edited. A publish only ever writes normalised relative
    # keys (the tree's own paths): a recorded key of another shape is not one
    # it wrote, and deleting prefix + "../outside.js" is outside the prefix
    # on a store or proxy that resolves dot segments.
    data = b"console.log(1)\n"
    headers = [("Content-Type", "text/javascript; charset=utf-8"), ("Cache-Control", "public, max-age=60")]
    objects = [LocalObject("app.js", "/tree/app.js", len(data), _sha(data), headers, immutable=False)]
    manifest = json.dumps({"version": 2, "files": {}}).encode()
    remote = json.dumps({"version": 2, "files": {}, "published": {hostile: ["x", "y"], "old.js": ["x", "y"]}})
    plan = plan_publish(objects, manifest, remote.encode())
    assert plan.deletions == ("old.js",)


# -- dictionaries under autorefresh: a delta file that changed after it was served -------------------


@pytest.mark.parametrize("change", ["removed", "rewritten", "touched"])
def test_autorefresh_serves_a_file_whose_delta_changed_on_disk(tmp_path: Path, change: str) -> None:
    # Autorefresh reused the asset while its identity and coded siblings were
    # unchanged, never looking at its dcz files: once one changed, each
    # request found the delta stale, could not refresh, and passed the
    # request on (a 404 here) for as long as the process ran.
    site = Deployed(tmp_path)
    app = StaticWrap(None, site.dest, prefix="/static/", dictionaries=True, autorefresh=True)
    offer = {"Accept-Encoding": DCZ_ACCEPT, "Available-Dictionary": site.offer}
    assert call(app, site.new_url, offer).header("Content-Encoding") == "dcz"
    if change == "removed":
        site.delta_path.unlink()
    elif change == "rewritten":
        site.delta_path.write_bytes(site.delta[:40] + bytes(len(site.delta) - 40))
    else:
        os.utime(site.delta_path, (1_000, 1_000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StaticwrapWarning)  # "not served as the dcz delta" for the rewritten one
        for _ in range(2):
            result = call(app, site.new_url, offer)
            assert result.code == 200
            coding = result.header("Content-Encoding")
            decoded = decoded_body(result.body, coding, site)
            assert decoded == site.new


def decoded_body(body: bytes, coding: str | None, site: Deployed) -> bytes:
    """The bytes a client gets from ``body`` sent with ``coding``: the delta with the old file, or brotli."""
    if coding == "dcz":
        return _decode(body, site.old)
    assert coding == "br"
    decoded: bytes = brotli.decompress(body)
    return decoded


@pytest.mark.parametrize("hostile", [b"[" * 100_000, b'{"published": ' + b"[" * 100_000])
def test_a_deeply_nested_store_manifest_is_an_unreadable_one(hostile: bytes) -> None:
    # json.loads raises RecursionError (not a ValueError) on deep nesting: the
    # publish crashed with a traceback instead of treating the manifest as
    # unreadable (upload everything, delete nothing).
    data = b"console.log(1)\n"
    objects = [LocalObject("app.js", "/tree/app.js", len(data), _sha(data), [], immutable=False)]
    plan = plan_publish(objects, json.dumps({"version": 2, "files": {}}).encode(), hostile)
    assert (plan.recorded, [upload.key for upload in plan.uploads], plan.deletions) == (False, ["app.js"], ())


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


def test_publish_never_deletes_an_object_a_kept_generation_of_the_tree_lists(tmp_path: Path, moto: str) -> None:
    # The deletions were "recorded minus read from the tree": a file of a
    # kept generation that the tree's index did not serve this time (removed
    # from a restored DEST, unreadable, replaced by a special file) had its
    # object deleted, though the manifest stored just before lists it and the
    # pages of that generation still name it.
    endpoint, bucket = moto, "kept-generation"
    made, _ = client(endpoint)
    made.create_bucket(Bucket=bucket)
    dest = built(tmp_path, 1)
    first = json.loads((dest / "staticwrap.json").read_text())["files"]["css/style0.css"]["hashed"]
    publish(dest, f"s3://{bucket}/static/", client=made)
    built(tmp_path, 2)  # keeps the first generation (keep=3 by default)
    manifest = json.loads((dest / "staticwrap.json").read_text())
    # An earlier generation lists a record in full, or the hashed name of one a newer generation wrote.
    listed = {
        entry if isinstance(entry, str) else entry["hashed"]
        for generation in manifest["previous"]
        for entry in generation["files"].values()
    }
    assert first in listed
    for path in dest.glob(first + "*"):
        path.unlink()  # the old generation's file is gone from this copy of DEST
    result = publish(dest, f"s3://{bucket}/static/", client=made)
    assert first in stored(endpoint, bucket), result.plan.deletions


def test_a_refused_read_of_the_store_manifest_names_s3_list_bucket() -> None:
    # AWS S3 answers GetObject of a missing key with 403 AccessDenied, not 404,
    # when the credentials lack s3:ListBucket on the bucket (GetObject API
    # reference). The first publish to a prefix reads a staticwrap.json that
    # is not there yet: with exactly the policy the message recommended, it
    # failed with that same advice.
    error = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject"
    )
    message = describe(error, "s3:GetObject", "my-site", "static/staticwrap.json", None)
    assert "s3:ListBucket on arn:aws:s3:::my-site" in message
