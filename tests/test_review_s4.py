"""Adversarial review of session 4 (ASGI, compression dictionaries, publish): each test failed before its fix."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path

import pytest

from staticwrap.asgi import StaticWrapASGI
from staticwrap.publish.plan import LocalObject, plan_publish
from tests.test_asgi import downstream_asgi, drive, make_scope

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
