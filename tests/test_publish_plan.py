"""The publish plan (staticwrap.publish.plan), pure: objects and manifests in, uploads, skips and deletions out."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from staticwrap.manifest import read_manifest
from staticwrap.publish.plan import LocalObject, Plan, plan_publish, published_record, stored_fields

MANIFEST = json.dumps({"version": 2, "built": 1765140000, "files": {"app.js": {"hashed": "app.0123456789ab.js"}}})


def sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def item(key: str, data: bytes, *, cache: str = "public, max-age=60", coding: str | None = None) -> LocalObject:
    headers = [("Content-Type", "text/javascript; charset=utf-8"), ("Cache-Control", cache)]
    if coding:
        headers.append(("Content-Encoding", coding))
    headers += [("X-Content-Type-Options", "nosniff"), ("Content-Length", str(len(data))), ("ETag", '"x"')]
    return LocalObject(key, f"/tree/{key}", len(data), sha(data), headers, immutable=".0123" in key)


TREE = [
    item("app.0123456789ab.js", b"one", cache="public, max-age=31536000, immutable"),
    item("app.0123456789ab.js.br", b"br", cache="public, max-age=31536000, immutable", coding="br"),
    item("app.js", b"one"),
]


def first(objects: list[LocalObject] = TREE) -> Plan:
    return plan_publish(objects, MANIFEST.encode(), None)


def test_first_publish_uploads_every_object_new_hashed_keys_conditionally() -> None:
    plan = first()
    uploaded = {upload.key: upload.conditional for upload in plan.uploads}
    assert uploaded == {"app.0123456789ab.js": True, "app.0123456789ab.js.br": True, "app.js": False}
    assert plan.skipped == ()
    assert plan.deletions == ()
    assert plan.manifest is not None
    assert plan.manifest.key == "staticwrap.json"


def test_the_new_immutable_keys_come_before_any_key_replaced_in_place() -> None:
    first_phase, second_phase = first().phases
    assert {u.key for u in first_phase} == {"app.0123456789ab.js", "app.0123456789ab.js.br"}
    assert [u.key for u in second_phase] == ["app.js"]


def test_each_upload_carries_the_sha256_of_its_bytes() -> None:
    for upload in first().uploads:
        data = {"app.0123456789ab.js": b"one", "app.0123456789ab.js.br": b"br", "app.js": b"one"}[upload.key]
        assert base64.b64decode(upload.sha256) == hashlib.sha256(data).digest()
    manifest = first().manifest
    assert manifest is not None
    assert manifest.body is not None
    assert base64.b64decode(manifest.sha256) == hashlib.sha256(manifest.body).digest()


def test_an_unchanged_rerun_uploads_nothing_not_even_the_manifest() -> None:
    manifest = first().manifest
    assert manifest is not None
    again = plan_publish(list(reversed(TREE)), MANIFEST.encode(), manifest.body)
    assert again.uploads == ()
    assert again.manifest is None
    assert again.deletions == ()
    assert sorted(again.skipped) == sorted(o.key for o in TREE)


def test_changed_bytes_are_uploaded_again_without_a_condition() -> None:
    stored = first().manifest
    assert stored is not None
    changed = [TREE[0], TREE[1], item("app.js", b"two")]
    plan = plan_publish(changed, MANIFEST.encode(), stored.body)
    assert [(u.key, u.conditional) for u in plan.uploads] == [("app.js", False)]
    assert plan.manifest is not None


def test_changed_headers_alone_are_uploaded_again() -> None:
    stored = first().manifest
    assert stored is not None
    plan = plan_publish(
        [*TREE[:2], item("app.js", b"one", cache="public, max-age=600")], MANIFEST.encode(), stored.body
    )
    assert [u.key for u in plan.uploads] == ["app.js"]


def test_keys_the_new_tree_drops_are_deleted_after_and_only_when_pruning() -> None:
    older = [*TREE, item("old.fedcba987654.js", b"old", cache="public, max-age=31536000, immutable")]
    stored = plan_publish(older, MANIFEST.encode(), None).manifest
    assert stored is not None
    assert plan_publish(TREE, MANIFEST.encode(), stored.body).deletions == ("old.fedcba987654.js",)
    assert plan_publish(TREE, MANIFEST.encode(), stored.body, prune=False).deletions == ()


@pytest.mark.parametrize("remote", [b"not json", b'{"version": 2, "files": {}}', b'{"published": {"a": 3}}', b"[]"])
def test_a_store_manifest_without_a_record_trusts_nothing_and_deletes_nothing(remote: bytes) -> None:
    plan = plan_publish(TREE, MANIFEST.encode(), remote)
    assert {u.key for u in plan.uploads} == {o.key for o in TREE}
    assert plan.deletions == ()
    assert [u.conditional for u in plan.phases[0]] == [True, True]


def test_the_stored_manifest_is_still_a_manifest_staticwrap_reads(tmp_path: Path) -> None:
    manifest = first().manifest
    assert manifest is not None
    assert manifest.body is not None
    (tmp_path / "staticwrap.json").write_bytes(manifest.body)
    assert read_manifest(str(tmp_path)).files["app.js"].hashed == "app.0123456789ab.js"
    record = published_record(manifest.body)
    assert record is not None
    assert record["app.js"][0] == sha(b"one")


def test_stored_fields_keep_what_s3_stores_and_put_the_rest_in_metadata() -> None:
    fields = stored_fields(
        [
            ("Content-Type", "text/css; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            ("Content-Encoding", "gzip"),
            ("Vary", "Accept-Encoding"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Length", "12"),
            ("ETag", '"abc"'),
            ("Last-Modified", "Mon, 07 Dec 2026 00:00:00 GMT"),
            ("Accept-Ranges", "bytes"),
        ]
    )
    assert dict(fields.parameters) == {
        "ContentType": "text/css; charset=utf-8",
        "CacheControl": "no-cache",
        "ContentEncoding": "gzip",
    }
    assert dict(fields.metadata) == {"vary": "Accept-Encoding", "x-content-type-options": "nosniff"}


def test_the_dry_run_text_names_every_action_and_the_manifest_last() -> None:
    text = first().describe("s3://b/p/").splitlines()
    assert text[:3] == [
        "upload s3://b/p/app.0123456789ab.js (3 bytes)",
        "upload s3://b/p/app.0123456789ab.js.br (2 bytes)",
        "upload s3://b/p/app.js (3 bytes)",
    ]
    assert text[3] == "upload s3://b/p/staticwrap.json (last)"
    assert text[4].startswith("would upload 4 objects")


@pytest.mark.parametrize(
    ("publish", "message"),
    [
        ({"urll": "s3://b/"}, "settings.STATICWRAP['publish'] has an unknown key 'urll': did you mean 'url'?"),
        ({"prune": "no"}, "settings.STATICWRAP['publish']['prune'] = 'no': give True or False"),
        ({"jobs": 0}, "settings.STATICWRAP['publish']['jobs'] = 0: give a number of uploads at a time >= 1"),
        (
            "s3://b/",
            "settings.STATICWRAP['publish'] = 's3://b/': give a dict such as {'url': 's3://my-bucket/static/'}",
        ),
    ],
)
def test_django_publish_settings_name_the_key_and_the_fix(publish: object, message: str) -> None:
    pytest.importorskip("django")
    from staticwrap.django.conf import DjangoConfig
    from staticwrap.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as raised:
        DjangoConfig.from_settings(SimpleNamespace(STATICWRAP={"publish": publish}))
    assert str(raised.value) == message


@pytest.mark.parametrize("value", ["cdn.example.com", "ftp://cdn.example.com/", "https://cdn.example.com/?v=1", 3])
def test_a_base_url_that_is_not_an_http_url_is_refused(value: object) -> None:
    from staticwrap.config import Config
    from staticwrap.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"^base_url=.*: give the URL of the CDN that serves the static paths"):
        Config.from_options(base_url=value)  # type: ignore[arg-type]
    assert Config.from_options(base_url="https://cdn.example.com").base_url == "https://cdn.example.com/"
