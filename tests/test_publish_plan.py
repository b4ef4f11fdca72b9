"""The publish plan (staticwrap.publish.plan), pure: objects and manifests in, uploads, skips and deletions out."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from staticwrap.generations import Retention
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


# -- the store's generations count as kept ones: a fresh checkout's build lists only its own --------------

IMMUTABLE = "public, max-age=31536000, immutable"
BUILT_A, BUILT_B, BUILT_C = 1_765_000_000, 1_765_100_000, 1_765_200_000


def generation_tree(
    built: int, hashed: str, previous: tuple[tuple[int, str], ...] = ()
) -> tuple[list[LocalObject], bytes]:
    """The objects and manifest of a tree listing ``app.js`` as ``hashed`` (and ``previous`` generations)."""
    data = hashed.encode()
    objects = [
        LocalObject(hashed, f"/tree/{hashed}", len(data), sha(data), [("Cache-Control", IMMUTABLE)], immutable=True),
        LocalObject("app.js", "/tree/app.js", len(data), sha(data), [("Cache-Control", "no-cache")], immutable=False),
    ]
    manifest = {
        "version": 2,
        "built": built,
        "files": {"app.js": {"hashed": hashed}},
        "previous": [{"built": when, "files": {"app.js": {"hashed": name}}} for when, name in previous],
    }
    return objects, json.dumps(manifest).encode()


def stored_after(plan: Plan) -> bytes:
    """The store's staticwrap.json once ``plan`` has run to its end."""
    final = plan.final_manifest or plan.manifest
    assert final is not None
    assert final.body is not None
    return final.body


def generations_of(body: bytes, tmp_path: Path) -> list[int]:
    (tmp_path / "staticwrap.json").write_bytes(body)
    return [generation.built for generation in read_manifest(str(tmp_path)).generations]


A_KEY, B_KEY, C_KEY = "app.aaaaaaaaaaaa.js", "app.bbbbbbbbbbbb.js", "app.cccccccccccc.js"


def store_holding_a() -> bytes:
    return stored_after(plan_publish(*generation_tree(BUILT_A, A_KEY), None))


def test_a_fresh_build_keeps_the_stores_current_generation_listed_and_recorded(tmp_path: Path) -> None:
    remote = store_holding_a()
    objects, manifest = generation_tree(BUILT_B, B_KEY)  # a fresh checkout: no trace of A in the tree
    plan = plan_publish(objects, manifest, remote, now=BUILT_B + 60)
    assert A_KEY not in plan.deletions
    assert plan.deletions == ()
    body = stored_after(plan)
    assert generations_of(body, tmp_path) == [BUILT_B, BUILT_A]
    record = published_record(body)
    assert record is not None
    assert record[A_KEY][0] == sha(A_KEY.encode())
    assert set(record) == {A_KEY, B_KEY, "app.js"}


@pytest.mark.parametrize(
    ("keep", "keep_for", "after", "kept"),
    [
        (3, "1d", 60, True),  # the defaults: kept by count and by time
        (1, "1h", 1800, True),  # beyond the count, within the time
        (2, "0", 7200, True),  # beyond the time, within the count
        (1, "1h", 7200, True),  # replaced at the publish, not at the build: within the time
        (1, "0", 0, False),
    ],
)
def test_a_store_generation_beyond_both_limits_is_dropped_and_its_keys_deleted(
    tmp_path: Path, keep: int, keep_for: str, after: int, kept: bool
) -> None:
    objects, manifest = generation_tree(BUILT_B, B_KEY)
    retention = Retention.of(keep, keep_for)
    plan = plan_publish(objects, manifest, store_holding_a(), retention=retention, now=BUILT_B + after)
    assert (A_KEY in plan.deletions) is not kept
    body = stored_after(plan)
    assert generations_of(body, tmp_path) == ([BUILT_B, BUILT_A] if kept else [BUILT_B])
    record = published_record(body)
    assert record is not None
    assert (A_KEY in record) is kept


def test_keys_left_by_no_prune_stay_recorded_and_a_later_pruning_publish_deletes_them() -> None:
    drop = Retention.of(1, "0")
    objects, manifest = generation_tree(BUILT_B, B_KEY)
    kept_back = plan_publish(objects, manifest, store_holding_a(), prune=False, retention=drop, now=BUILT_B)
    assert kept_back.deletions == ()
    assert kept_back.final_manifest is None
    body = stored_after(kept_back)
    record = published_record(body)
    assert record is not None
    assert A_KEY in record  # not deleted: still recorded, so not forgotten
    objects, manifest = generation_tree(BUILT_C, C_KEY)
    pruning = plan_publish(objects, manifest, body, retention=drop, now=BUILT_C)
    assert set(pruning.deletions) == {A_KEY, B_KEY}
    # Until they are deleted, the stored manifest still records them; then it no longer does.
    assert pruning.manifest is not None
    assert pruning.manifest.body is not None
    first = published_record(pruning.manifest.body)
    assert first is not None
    assert {A_KEY, B_KEY} <= set(first)
    final = published_record(stored_after(pruning))
    assert final is not None
    assert set(final) == {C_KEY, "app.js"}


@pytest.mark.parametrize("same", ["built", "listing"])
def test_a_store_generation_the_tree_holds_already_is_not_listed_twice(tmp_path: Path, same: str) -> None:
    remote = store_holding_a()
    if same == "built":  # a build into the DEST the last publish came from
        objects, manifest = generation_tree(BUILT_B, B_KEY, previous=((BUILT_A, A_KEY),))
        expected = [BUILT_B, BUILT_A]
    else:  # a fresh checkout built the same sources again
        objects, manifest = generation_tree(BUILT_B, A_KEY)
        expected = [BUILT_B]
    plan = plan_publish(objects, manifest, remote, now=BUILT_B)
    assert plan.deletions == ()
    assert generations_of(stored_after(plan), tmp_path) == expected


def test_a_key_the_trees_manifest_lists_but_the_tree_lacks_stays_recorded() -> None:
    remote = store_holding_a()
    objects, manifest = generation_tree(BUILT_B, B_KEY, previous=((BUILT_A, A_KEY),))
    plan = plan_publish(objects, manifest, remote, kept={A_KEY}, now=BUILT_B)
    record = published_record(stored_after(plan))
    assert plan.deletions == ()
    assert record is not None
    assert record[A_KEY][0] == sha(A_KEY.encode())


@pytest.mark.parametrize(
    ("publish", "message"),
    [
        ({"keep": 0}, "settings.STATICWRAP['publish']['keep'] = 0: give a number of generations >= 1"),
        ({"keep_for": "2 days"}, "settings.STATICWRAP['publish']['keep_for'] = '2 days': give a duration such as"),
    ],
)
def test_django_publish_retention_settings_name_the_key_and_the_fix(publish: object, message: str) -> None:
    pytest.importorskip("django")
    from staticwrap.django.conf import DjangoConfig
    from staticwrap.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as raised:
        DjangoConfig.from_settings(SimpleNamespace(STATICWRAP={"publish": publish}))
    assert str(raised.value).startswith(message)
