"""``staticwrap publish`` against moto's S3 server (a subprocess on 127.0.0.1), and a proxy that makes it refuse.

Expected values come from the files on disk (hashlib, their names), never
from the publish's own plan. The requests are counted with boto3's event
hooks on the client the publish uses.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from staticwrap import StaticWrap
from staticwrap.build import build
from staticwrap.cli import main
from staticwrap.manifest import read_manifest
from staticwrap.publish import PublishError, publish
from staticwrap.publish.plan import published_record
from tests.conftest import call
from tests.object_stores import (
    client,
    credentials_environment,
    moto_server,
    snapshot,
    write_source,
)

pytestmark = pytest.mark.server

HASHED = re.compile(r"\.[0-9a-f]{12}\.")
CODING_SUFFIXES = {".br": "br", ".gz": "gzip", ".zst": "zstd"}
MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
MEDIA_TYPES[".html"] = "text/html; charset=utf-8"
MEDIA_TYPES[".json"] = "application/json"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def bucket(endpoint: str, request: pytest.FixtureRequest) -> str:
    """A new, empty bucket for each test."""
    name = "site-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    made, _ = client(endpoint)
    made.create_bucket(Bucket=name)
    return name


def built(tmp_path: Path, version: int, **options: Any) -> Path:
    source, dest = tmp_path / "source", tmp_path / "dest"
    write_source(source, version=version)
    build(source, dest, jobs=1, **options)  # a few small files: worker processes would only add their startup
    return dest


def stored(endpoint: str, bucket: str, prefix: str = "static/") -> dict[str, Any]:
    """Every object under ``prefix``: key (relative) → the GetObject response, with its bytes read."""
    made, _ = client(endpoint)
    found: dict[str, Any] = {}
    for page in made.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            response = made.get_object(Bucket=bucket, Key=entry["Key"])
            response["data"] = response["Body"].read()
            found[entry["Key"][len(prefix) :]] = response
    return found


def expected_fields(key: str) -> tuple[str, str, str | None]:
    """Content-Type, Cache-Control and Content-Encoding of ``key``, from its name alone."""
    coding = CODING_SUFFIXES.get(Path(key).suffix)
    name = key[: -len(Path(key).suffix)] if coding else key
    media = MEDIA_TYPES[Path(name).suffix]
    if HASHED.search(name):
        cache = "public, max-age=31536000, immutable"
    elif media.startswith("text/html") or name == "staticwrap.json":
        cache = "no-cache"
    else:
        cache = "public, max-age=60"
    return media, cache, coding


def test_publish_stores_every_file_with_its_bytes_and_the_middlewares_headers(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    dest = built(tmp_path, 1)
    made, _ = client(endpoint)
    result = publish(dest, f"s3://{bucket}/static/", client=made)
    files = snapshot(dest)
    objects = stored(endpoint, bucket)
    assert set(objects) == set(files)
    assert result.uploaded == len(files)
    for key, response in objects.items():
        if key == "staticwrap.json":
            continue
        assert response["data"] == files[key], key
        media, cache, coding = expected_fields(key)
        assert (response["ContentType"], response["CacheControl"]) == (media, cache), key
        assert response.get("ContentEncoding") == coding, key
        assert response["Metadata"]["x-content-type-options"] == "nosniff"
    # The stored manifest records each object's SHA-256, as hashlib computes it.
    record = published_record(objects["staticwrap.json"]["data"])
    assert record is not None
    assert {key: value[0] for key, value in record.items()} == {
        key: base64.b64encode(hashlib.sha256(data).digest()).decode()
        for key, data in files.items()
        if key != "staticwrap.json"
    }


def test_an_unchanged_rerun_uploads_nothing_in_one_request(tmp_path: Path, endpoint: str, bucket: str) -> None:
    dest = built(tmp_path, 1)
    made, requests = client(endpoint)
    publish(dest, f"s3://{bucket}/static/", client=made)
    requests.reset()
    result = publish(dest, f"s3://{bucket}/static/", client=made)
    assert dict(requests.counts) == {"GetObject": 1}
    assert (result.uploaded, result.deleted) == (0, 0)
    assert result.skipped == len(snapshot(dest)) - 1


def test_a_second_build_uploads_only_the_objects_whose_bytes_changed(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    dest = built(tmp_path, 1)
    made, requests = client(endpoint)
    publish(dest, f"s3://{bucket}/static/", client=made)
    before = snapshot(dest)
    built(tmp_path, 2)
    after = snapshot(dest)
    changed = {key for key, data in after.items() if before.get(key) != data}
    requests.reset()
    publish(dest, f"s3://{bucket}/static/", client=made)
    put = {urlsplit(url).path.split("/static/", 1)[1] for operation, url in requests.keys if operation == "PutObject"}
    assert put == changed
    assert "staticwrap.json" in changed
    assert len(changed) < len(after) / 2
    assert requests.counts["PutObject"] == len(changed)


def test_pruning_deletes_only_what_no_kept_generation_lists(tmp_path: Path, endpoint: str, bucket: str) -> None:
    made, _ = client(endpoint)
    made.put_object(Bucket=bucket, Key="static/not-ours.txt", Body=b"put here by someone else")
    dest = built(tmp_path, 1, keep=1, keep_for="0")
    publish(dest, f"s3://{bucket}/static/", client=made)
    first = snapshot(dest)
    for version in (2, 3):
        built(tmp_path, version, keep=1, keep_for="0")
        result = publish(dest, f"s3://{bucket}/static/", client=made, keep=1, keep_for="0")
    final = snapshot(dest)
    gone = set(first) - set(final)
    assert gone
    assert all(HASHED.search(key) for key in gone)
    assert set(stored(endpoint, bucket)) == set(final) | {"not-ours.txt"}
    assert result.deleted > 0


def test_no_prune_keeps_the_dropped_generations(tmp_path: Path, endpoint: str, bucket: str) -> None:
    made, _ = client(endpoint)
    dest = built(tmp_path, 1, keep=1, keep_for="0")
    publish(dest, f"s3://{bucket}/static/", client=made)
    first = snapshot(dest)
    built(tmp_path, 2, keep=1, keep_for="0")
    publish(dest, f"s3://{bucket}/static/", client=made, prune=False)
    assert set(first) | set(snapshot(dest)) == set(stored(endpoint, bucket))


def test_a_dry_run_reads_the_manifest_and_changes_nothing(tmp_path: Path, endpoint: str, bucket: str) -> None:
    dest = built(tmp_path, 1)
    made, requests = client(endpoint)
    publish(dest, f"s3://{bucket}/static/", client=made)
    before = {key: response["data"] for key, response in stored(endpoint, bucket).items()}
    built(tmp_path, 2)
    requests.reset()
    result = publish(dest, f"s3://{bucket}/static/", client=made, dry_run=True)
    assert dict(requests.counts) == {"GetObject": 1}
    assert {key: response["data"] for key, response in stored(endpoint, bucket).items()} == before
    assert f"upload s3://{bucket}/static/staticwrap.json (last)" in result.summary()


# -- a store that refuses: a proxy in front of moto --------------------------------------------


class Refusing:
    """A proxy on 127.0.0.1 in front of ``endpoint`` that answers some requests itself, as ``refuse`` decides."""

    def __init__(self, endpoint: str, refuse: Callable[[str, str, dict[str, str]], tuple[int, str] | None]) -> None:
        self.refused: list[tuple[str, int]] = []
        target = urlsplit(endpoint)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1: boto3 sends its uploads with Expect: 100-continue, which
            # an HTTP/1.0 server leaves unanswered (the client waits a second).
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                answer = refuse(self.command, self.path, {name.lower(): value for name, value in headers.items()})
                if answer is not None:
                    status, code = answer
                    outer.refused.append((self.path, status))
                    reply = f"<Error><Code>{code}</Code><Message>refused by the test</Message></Error>".encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                finally:
                    connection.close()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = relay  # noqa: N815 (http.server's names)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Refusing:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_an_interrupted_publish_leaves_the_previous_manifest_resolving_completely(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    dest = built(tmp_path, 1)
    made, _ = client(endpoint)
    publish(dest, f"s3://{bucket}/static/", client=made)
    v1 = stored(endpoint, bucket)
    built(tmp_path, 2)
    writes = [0]
    lock = threading.Lock()

    def after_two_writes(method: str, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        if method != "PUT":
            return None
        with lock:
            writes[0] += 1
            return (403, "AccessDenied") if writes[0] > 2 else None

    with Refusing(endpoint, after_two_writes) as proxy:
        refusing, _ = client(proxy.endpoint)
        with pytest.raises(PublishError, match=r"permission refused for s3:PutObject .* grant s3:GetObject"):
            publish(dest, f"s3://{bucket}/static/", client=refusing, jobs=1)
    # The manifest is the old one, and every object it records has the bytes it records.
    now = stored(endpoint, bucket)
    assert now["staticwrap.json"]["data"] == v1["staticwrap.json"]["data"]
    record = published_record(now["staticwrap.json"]["data"])
    assert record is not None
    for key, (sha256, _) in record.items():
        assert base64.b64encode(hashlib.sha256(now[key]["data"]).digest()).decode() == sha256, key
    # The next publish completes: the two objects written already are found there, not written again.
    again = publish(dest, f"s3://{bucket}/static/", client=made)
    changed = {key for key, data in snapshot(dest).items() if v1.get(key, {}).get("data") != data}
    assert again.uploaded == len(changed) - 2
    assert {key: r["data"] for key, r in stored(endpoint, bucket).items() if key != "staticwrap.json"} == {
        key: data for key, data in snapshot(dest).items() if key != "staticwrap.json"
    } | {key: r["data"] for key, r in v1.items() if key not in snapshot(dest)}


def test_a_store_without_conditional_writes_gets_plain_ones(tmp_path: Path, endpoint: str, bucket: str) -> None:
    dest = built(tmp_path, 1)

    def not_implemented(method: str, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        return (501, "NotImplemented") if "if-none-match" in headers else None

    with Refusing(endpoint, not_implemented) as proxy:
        refusing, _ = client(proxy.endpoint)
        publish(dest, f"s3://{bucket}/static/", client=refusing, jobs=1)
        assert len(proxy.refused) == 1  # asked once, then never again in this publish
    files = snapshot(dest)
    assert {key: r["data"] for key, r in stored(endpoint, bucket).items() if key != "staticwrap.json"} == {
        key: data for key, data in files.items() if key != "staticwrap.json"
    }


def test_a_hashed_key_found_there_is_kept_if_the_same_and_replaced_if_not(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    dest = built(tmp_path, 1)
    files = snapshot(dest)
    hashed = sorted(key for key in files if HASHED.search(key) and Path(key).suffix != ".br")
    made, requests = client(endpoint)
    # One copy damaged, one as a publish would have written it (an earlier, interrupted one).
    made.put_object(Bucket=bucket, Key=f"static/{hashed[0]}", Body=b"damaged")
    first = publish(dest, f"s3://{bucket}/static/", client=made)
    assert stored(endpoint, bucket)[hashed[0]]["data"] == files[hashed[0]]
    assert first.uploaded == len(files)
    made.delete_object(Bucket=bucket, Key="static/staticwrap.json")  # the record is lost: all is new again
    requests.reset()
    second = publish(dest, f"s3://{bucket}/static/", client=made)
    hashed_count = sum(1 for key in files if HASHED.search(key))
    assert second.uploaded == len(files) - hashed_count  # the hashed ones were found there, the same


# -- the command line --------------------------------------------------------------------------


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "staticwrap", *arguments],
        capture_output=True,
        text=True,
        env=credentials_environment(),
        timeout=120,
    )


def test_the_command_publishes_and_prints_a_summary(tmp_path: Path, endpoint: str, bucket: str) -> None:
    dest = built(tmp_path, 1)
    done = run("publish", str(dest), f"s3://{bucket}/static/", "--endpoint-url", endpoint)
    assert done.returncode == 0, done.stderr
    count = len(snapshot(dest))
    assert re.fullmatch(
        rf"published to s3://{bucket}/static/: {count} uploaded \([0-9,]+ bytes\), 0 unchanged, 0 deleted, "
        r"in [0-9.]+ s\n",
        done.stdout,
    )
    again = run("publish", str(dest), f"s3://{bucket}/static/", "--endpoint-url", endpoint, "--dry-run")
    assert again.returncode == 0
    assert again.stdout.splitlines()[-1] == f"would upload 0 objects (0 bytes), skip {count - 1} unchanged, delete 0"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["s3://no-such-bucket-here/"], "there is no bucket 'no-such-bucket-here' at http://127.0.0.1:"),
        (["https://example.com/"], "https://example.com/: give the destination as s3://BUCKET/PREFIX/"),
        (["s3://site/", "--jobs", "0"], "--jobs 0: give a number of uploads at a time >= 1"),
    ],
)
def test_the_command_names_the_fix_without_a_traceback(
    tmp_path: Path, endpoint: str, arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = built(tmp_path, 1)
    with pytest.MonkeyPatch.context() as environment:
        for name, value in credentials_environment().items():
            environment.setenv(name, value)
        status = main(["publish", str(dest), *arguments, "--endpoint-url", endpoint])
    error = capsys.readouterr().err
    assert status == (1 if "bucket" in message else 2)
    assert message in error, error
    assert "Traceback" not in error


def test_the_command_names_the_tree_without_a_manifest(
    tmp_path: Path, endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.txt").write_text("a")
    assert main(["publish", str(tmp_path / "plain"), "s3://site/", "--endpoint-url", endpoint]) == 2
    expected = f"{tmp_path / 'plain' / 'staticwrap.json'} does not exist: publish a tree that `staticwrap build"
    assert expected in capsys.readouterr().err


def test_without_boto3_the_error_says_what_to_install(tmp_path: Path) -> None:
    dest = built(tmp_path, 1)
    code = (
        "import sys; sys.modules['boto3'] = None\n"  # as if it were not installed: its import fails
        "from staticwrap.cli import main\n"
        f"sys.exit(main(['publish', {str(dest)!r}, 's3://site/']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "publishing needs boto3, which is not installed: pip install 'staticwrap[s3]'" in done.stderr


# -- pages point at the CDN ----------------------------------------------------------------------


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def test_urls_for_pages_point_at_the_cdn_and_the_store_holds_them(tmp_path: Path, endpoint: str, bucket: str) -> None:
    # The "CDN" here is the bucket itself: its path after the CDN's URL is the object's key.
    from flask import Flask

    from staticwrap import StaticWrap
    from staticwrap.flask import init_app

    dest = built(tmp_path, 1)
    made, _ = client(endpoint)
    publish(dest, f"s3://{bucket}/static/", client=made)
    hashed = json.loads((dest / "staticwrap.json").read_text())["files"]["css/style0.css"]["hashed"]
    expected = f"https://cdn.example.com/static/{hashed}"
    app = StaticWrap(None, dest, prefix="/static/", base_url="https://cdn.example.com")
    flask_app = Flask(__name__, static_folder=str(dest), static_url_path="/static")
    helpers = init_app(flask_app, base_url="https://cdn.example.com/")
    with flask_app.test_request_context("/", environ_base={"SCRIPT_NAME": "/mounted"}):
        assert helpers.url("css/style0.css") == expected
        assert helpers.integrity("css/style0.css") == sri((dest / hashed).read_bytes())
    assert app.url("css/style0.css") == expected
    key = expected.removeprefix("https://cdn.example.com/")
    data = made.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert data == (dest / hashed).read_bytes()
    assert app.integrity("css/style0.css") == sri(data)


def test_django_publishes_static_root_and_static_gives_the_cdn_url(tmp_path: Path, endpoint: str, bucket: str) -> None:
    sources = tmp_path / "assets"
    write_source(sources, version=1)
    (tmp_path / "cdn_settings.py").write_text(
        "from tests.contrib.django_settings import *  # noqa: F403\n"
        "STATICWRAP = {'build': {'jobs': 1}, 'base_url': 'https://cdn.example.com/',\n"
        f"              'publish': {{'url': 's3://{bucket}/static/', 'endpoint_url': {endpoint!r}}}}}\n"
    )
    script = (
        "import django\n"
        "from django.core.management import call_command\n"
        "from django.template import Context, Template\n"
        "django.setup()\n"
        "call_command('collectstatic', interactive=False, verbosity=0)\n"
        "call_command('staticwrap_publish')\n"
        "print(Template(\"{% load static staticwrap %}{% static 'js/app.js' %} {% script 'js/app.js' %}\")"
        ".render(Context()))\n"
    )
    environment = {
        **credentials_environment(),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent.parent)]),
        "DJANGO_SETTINGS_MODULE": "cdn_settings",
        "STATICWRAP_TEST_STATIC_ROOT": str(tmp_path / "static_root"),
        "STATICWRAP_TEST_STATICFILES_DIRS": str(sources),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    summary, rendered = done.stdout.splitlines()[-2:]
    root = tmp_path / "static_root"
    assert summary.startswith(f"published to s3://{bucket}/static/: {len(snapshot(root))} uploaded")
    hashed = json.loads((root / "staticwrap.json").read_text())["files"]["js/app.js"]["hashed"]
    url = f"https://cdn.example.com/static/{hashed}"
    data = (root / hashed).read_bytes()
    assert rendered == (f'{url} <script src="{url}" integrity="{sri(data)}" crossorigin="anonymous"></script>')
    made, _ = client(endpoint)
    assert made.get_object(Bucket=bucket, Key=f"static/{hashed}")["Body"].read() == data


# -- a build in a fresh checkout (most CI): DEST does not carry over, the store's generations do --------

T1, T2, T3 = 1_765_000_000, 1_765_003_600, 1_765_007_200


def test_a_publish_from_a_fresh_checkout_keeps_the_previous_deploys_objects(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    made, _ = client(endpoint)
    url = f"s3://{bucket}/static/"
    dest1 = built(tmp_path / "ci1", 1, now=T1)
    publish(dest1, url, client=made, now=T1)
    first = snapshot(dest1)
    dest2 = built(tmp_path / "ci2", 2, now=T2)  # a new checkout: nothing of v1 on disk
    second = snapshot(dest2)
    publish(dest2, url, client=made, now=T2 + 60)
    objects = stored(endpoint, bucket)
    # Every object a page of v1 names still answers, with v1's bytes.
    v1_hashed = {key for key in first if HASHED.search(key)}
    assert v1_hashed - set(second)  # v2 dropped some of v1's hashed objects
    for key in v1_hashed:
        assert objects[key]["data"] == first[key], key
    # The stored manifest is still one staticwrap reads, with v1 as a kept generation.
    store_copy = tmp_path / "store-copy"
    store_copy.mkdir()
    (store_copy / "staticwrap.json").write_bytes(objects["staticwrap.json"]["data"])
    generations = read_manifest(str(store_copy)).generations
    assert [generation.built for generation in generations] == [T2, T1]
    record = published_record(objects["staticwrap.json"]["data"])
    assert record is not None
    assert v1_hashed <= set(record)
    # The middleware serves a tree whose manifest lists a generation it has no files of.
    (dest2 / "staticwrap.json").write_bytes(objects["staticwrap.json"]["data"])
    app = StaticWrap(None, dest2, prefix="/static/")
    originals = {key for key in second if Path(key).suffix not in CODING_SUFFIXES} - {"staticwrap.json"}
    for key in sorted(originals):
        assert call(app, "/static/" + key).body == second[key], key
    for key in sorted(v1_hashed - set(second)):
        assert call(app, "/static/" + key).code == 404, key
    # A third fresh build, kept alone by both the build and the publish: v1 and v2's dropped objects go.
    dest3 = built(tmp_path / "ci3", 3, now=T3, keep=1, keep_for="0")
    result = publish(dest3, url, client=made, now=T3, keep=1, keep_for="0")
    assert set(stored(endpoint, bucket)) == set(snapshot(dest3))
    assert result.deleted == len((set(first) | set(second)) - set(snapshot(dest3)))
    record = published_record(stored(endpoint, bucket)["staticwrap.json"]["data"])
    assert record is not None
    assert set(record) == set(snapshot(dest3)) - {"staticwrap.json"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--keep", "0"], "staticwrap: error: --keep 0: give a number of generations >= 1"),
        (["--keep-for", "2 days"], "staticwrap: error: --keep-for '2 days': give a duration such as '90m'"),
    ],
)
def test_the_commands_retention_flags_are_checked_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["publish", str(tmp_path), "s3://bucket/static/", *flags]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_keys_whose_deletion_failed_stay_recorded_and_the_next_publish_deletes_them(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    made, _ = client(endpoint)
    url = f"s3://{bucket}/static/"
    dest = built(tmp_path, 1, keep=1, keep_for="0")
    publish(dest, url, client=made)
    first = snapshot(dest)
    built(tmp_path, 2, keep=1, keep_for="0")
    second = snapshot(dest)
    gone = set(first) - set(second)
    assert gone

    def deletions(method: str, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        return (403, "AccessDenied") if method == "DELETE" else None

    with Refusing(endpoint, deletions) as proxy:
        refusing, _ = client(proxy.endpoint)
        with pytest.raises(PublishError, match=r"permission refused for s3:DeleteObject"):
            publish(dest, url, client=refusing, jobs=1, keep=1, keep_for="0")
    # The new manifest is up, and still records the keys not deleted: none is forgotten.
    objects = stored(endpoint, bucket)
    assert set(objects) == set(first) | set(second)
    record = published_record(objects["staticwrap.json"]["data"])
    assert record is not None
    assert gone <= set(record)
    result = publish(dest, url, client=made, keep=1, keep_for="0")
    assert result.deleted == len(gone)
    objects = stored(endpoint, bucket)
    assert set(objects) == set(second)
    record = published_record(objects["staticwrap.json"]["data"])
    assert record is not None
    assert set(record) == set(second) - {"staticwrap.json"}
