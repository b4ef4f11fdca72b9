"""``staticwrap publish`` end to end against SeaweedFS, a real distributed object store, on 127.0.0.1.

The store is started once for the module (``weed mini``: master, volume
server, filer and S3 gateway) and stopped at its end. Objects are read back
as a CDN reads them: plain, anonymous HTTP GETs to the store.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from staticwrap.build import build
from staticwrap.publish import publish
from staticwrap.publish.plan import published_record
from tests.object_stores import client, credentials_environment, seaweedfs, snapshot, write_source
from tests.test_publish import expected_fields

# About 20 s: a store of four servers starts, and one publish is killed midway.
pytestmark = [pytest.mark.server, pytest.mark.slow]

BUCKETS = ("site", "interrupted", "refused")
DECODERS = {"br": brotli.decompress, "gzip": gzip.decompress, "zstd": zstandard.ZstdDecompressor().decompressobj}
#: Bounds the wait for the killed publish to have written some objects.
DEADLINE = 60.0


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs"), BUCKETS) as url:
        yield url


def get(endpoint: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """A plain GET of ``path`` from the store, with no credentials: status, headers (lower-cased), body."""
    host, port = endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def decoded(coding: str, data: bytes) -> bytes:
    if coding == "zstd":
        decompressor: Any = DECODERS["zstd"]()
        return bytes(decompressor.decompress(data))
    return bytes(DECODERS[coding](data))


def run(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "staticwrap", "publish", *arguments],
        capture_output=True,
        text=True,
        env=credentials_environment(**environment),
        timeout=120,
    )


def test_publish_then_a_second_build_over_plain_http(tmp_path: Path, endpoint: str) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    write_source(source, version=1)
    build(source, dest, keep=1, keep_for="0", jobs=1)
    done = run(str(dest), "s3://site/static/", "--endpoint-url", endpoint)
    assert done.returncode == 0, done.stderr
    files = snapshot(dest)
    for key, data in files.items():
        status, headers, body = get(endpoint, f"/site/static/{key}")
        assert status == 200, key
        if key == "staticwrap.json":
            # The tree's manifest, and the record of what was published.
            stored = json.loads(body)
            assert stored.pop("published").keys() == set(files) - {key}
            assert stored == json.loads(data)
            continue
        assert body == data, key
        media, cache, coding = expected_fields(key)
        assert (headers["content-type"], headers["cache-control"]) == (media, cache), key
        assert headers.get("content-encoding") == coding, key
        assert headers["x-amz-meta-x-content-type-options"] == "nosniff"
        if coding is not None:
            # A coded object holds its original's bytes, in that coding.
            assert decoded(coding, body) == files[key.rsplit(".", 1)[0]], key
    # The second build: only what changed is sent, and the first build's hashed files go.
    write_source(source, version=2)
    build(source, dest, keep=1, keep_for="0", jobs=1)
    after = snapshot(dest)
    made, requests = client(endpoint)
    result = publish(dest, "s3://site/static/", endpoint_url=endpoint, client=made, keep=1, keep_for="0")
    changed = {key for key, data in after.items() if files.get(key) != data}
    # One more write: the manifest again, its record without the deleted keys.
    assert requests.counts["PutObject"] - 1 == len(changed) == result.uploaded
    gone = set(files) - set(after)
    assert gone
    assert result.deleted == len(gone)
    for key in gone:
        assert get(endpoint, f"/site/static/{key}")[0] == 404, key
    for key, data in after.items():
        assert key == "staticwrap.json" or get(endpoint, f"/site/static/{key}")[2] == data, key
    requests.reset()
    publish(dest, "s3://site/static/", client=made)
    assert dict(requests.counts) == {"GetObject": 1}


def test_a_publish_killed_midway_leaves_the_previous_site_whole(tmp_path: Path, endpoint: str) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    write_source(source, version=1, files=60, changing=60)
    build(source, dest, codings=["gzip"], jobs=1)
    made, _ = client(endpoint)
    publish(dest, "s3://interrupted/static/", client=made)
    before = {key: get(endpoint, f"/interrupted/static/{key}")[2] for key in snapshot(dest)}
    write_source(source, version=2, files=60, changing=60)
    build(source, dest, codings=["gzip"], jobs=1)
    command = [
        sys.executable, "-m", "staticwrap", "publish", str(dest), "s3://interrupted/static/",
        "--endpoint-url", endpoint, "--jobs", "1", "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=credentials_environment(), stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + DEADLINE
        while len(listed(made, "interrupted")) < len(before) + 10:
            assert process.poll() is None, "the publish ended before it could be stopped"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
        assert process.stderr is not None
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    written = len(listed(made, "interrupted")) - len(before)
    assert 10 <= written < 120  # stopped among the 120 new hashed objects, far from their end
    # The store's manifest is the first publish's, and every object it records is there, unchanged.
    manifest = get(endpoint, "/interrupted/static/staticwrap.json")[2]
    assert manifest == before["staticwrap.json"]
    record = published_record(manifest)
    assert record is not None
    for key, (sha256, _) in record.items():
        status, _, body = get(endpoint, f"/interrupted/static/{key}")
        assert status == 200, key
        assert base64.b64encode(hashlib.sha256(body).digest()).decode() == sha256, key
        assert body == before[key], key
    # Run again, it completes: what the killed run wrote is found there and not sent again.
    result = publish(dest, "s3://interrupted/static/", client=made)
    assert result.skipped >= written
    for key, data in snapshot(dest).items():
        assert key == "staticwrap.json" or get(endpoint, f"/interrupted/static/{key}")[2] == data, key


def listed(made: Any, bucket: str) -> list[str]:
    keys: list[str] = []
    for page in made.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
    return keys


@pytest.mark.parametrize(
    ("url", "environment", "message"),
    [
        (
            "s3://refused/static/",
            {"secret": "not-the-secret"},
            "refused the credentials (SignatureDoesNotMatch) for s3://refused/static/staticwrap.json: check "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and --region",
        ),
        ("s3://missing-bucket/static/", {}, "there is no bucket 'missing-bucket' at http://127.0.0.1:"),
    ],
)
def test_bad_credentials_and_a_missing_bucket_name_the_fix(
    tmp_path: Path, endpoint: str, url: str, environment: dict[str, str], message: str
) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    write_source(source, version=1)
    build(source, dest, jobs=1)
    done = run(str(dest), url, "--endpoint-url", endpoint, **environment)
    assert done.returncode == 1
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert get(endpoint, "/refused/static/staticwrap.json")[0] == 404
