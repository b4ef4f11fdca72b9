"""S3-compatible servers for the publish tests: moto's server and SeaweedFS on 127.0.0.1, started and stopped here.

Also: a boto3 client that counts its requests (through boto3's own event
hooks), trees built twice for a second publish, and the rule for a missing
server binary (a failure, unless ``STATICWRAP_ALLOW_SKIP=1``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.test_server import free_port, stop

#: Bounds the wait for a server to start: generous, as a loaded machine is slow.
STARTUP_DEADLINE = 60.0
ACCESS_KEY = "staticwrap-test"
SECRET_KEY = "staticwrap-test-secret"
REGION = "us-east-1"


def require_binary(name: str) -> str:
    """The path of the program ``name``; a missing one fails the test, unless ``STATICWRAP_ALLOW_SKIP=1``.

    scripts/setup installs every program these tests run: CI must not pass
    by skipping them.
    """
    found = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    if found is None:
        for directory in ("/usr/sbin", "/sbin"):
            candidate = os.path.join(directory, name)
            if os.access(candidate, os.X_OK):
                return candidate
        message = f"{name} is not installed: run scripts/setup"
        if os.environ.get("STATICWRAP_ALLOW_SKIP") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return found


@dataclass
class Requests:
    """The requests a client sent, by operation (``PutObject``...), counted by boto3's ``before-send`` event."""

    counts: Counter[str] = field(default_factory=Counter)
    keys: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, request: Any = None, **kwargs: Any) -> None:
        # The event is named before-send.s3.<Operation>.
        operation = kwargs["event_name"].rsplit(".", 1)[-1]
        self.counts[operation] += 1
        self.keys.append((operation, request.url))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        self.counts.clear()
        self.keys.clear()


def client(endpoint: str, *, key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> tuple[Any, Requests]:
    """A boto3 S3 client of ``endpoint``, and the counter of the requests it sends."""
    made = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 2},
        ),
    )
    requests = Requests()
    made.meta.events.register("before-send.s3.*", requests)
    return made, requests


def credentials_environment(key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> dict[str, str]:
    """The environment of a ``staticwrap publish`` subprocess: these credentials and no AWS profile."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return {
        **environment,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _wait_for_http(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the store exited with {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/")
            connection.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            connection.close()
    pytest.fail(f"the store did not answer on port {port} within {STARTUP_DEADLINE} s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def moto_server(directory: Path) -> Iterator[str]:
    """moto's S3 emulator in server mode on 127.0.0.1 until the block ends; yields its endpoint URL."""
    port = free_port()
    log = directory / "moto.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_http(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def _ports(count: int) -> list[int]:
    """``count`` free ports, all below 55536: SeaweedFS puts a gRPC port at port + 10000 unless told."""
    ports: set[int] = set()
    while len(ports) < count:
        port = free_port()
        if port < 55536:
            ports.add(port)
    return sorted(ports)


@contextlib.contextmanager
def seaweedfs(directory: Path, buckets: tuple[str, ...] = ("site",)) -> Iterator[str]:
    """SeaweedFS (``weed mini``: master, volume, filer and S3 gateway) on 127.0.0.1; yields the S3 endpoint.

    One identity, :data:`ACCESS_KEY`, may do everything; anonymous requests
    may read, as from a public bucket behind a CDN.
    """
    weed = require_binary("weed")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "publisher",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    },
                    {"name": "anonymous", "actions": ["Read"]},
                ]
            }
        )
    )
    s3, master, volume, filer, *grpc = _ports(8)
    command = [
        weed, "mini", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={s3}", f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
        f"-s3.port.grpc={grpc[0]}", f"-master.port.grpc={grpc[1]}", f"-volume.port.grpc={grpc[2]}",
        f"-filer.port.grpc={grpc[3]}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-admin.ui=false", "-webdav=false", "-s3.iam=false", "-master.telemetry=false",
        f"-s3.config={config}", f"-bucket={','.join(buckets)}",
    ]  # fmt: skip
    log = directory / "weed.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_http(process, s3, log)
        endpoint = f"http://127.0.0.1:{s3}"
        _wait_for_buckets(endpoint, buckets, process, log)
        yield endpoint
    finally:
        stop(process)


def _wait_for_buckets(endpoint: str, buckets: tuple[str, ...], process: subprocess.Popen[bytes], log: Path) -> None:
    """The gateway answers before its filer has made the buckets: wait until each takes a write."""
    made, _ = client(endpoint)
    deadline = time.monotonic() + STARTUP_DEADLINE
    for bucket in buckets:
        while True:
            try:
                made.put_object(Bucket=bucket, Key="ready", Body=b"")
                made.delete_object(Bucket=bucket, Key="ready")
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"bucket {bucket} never took a write:\n{log.read_text(errors='replace')[-4000:]}")
                time.sleep(0.2)


# -- trees to publish ----------------------------------------------------------------------------


def write_source(source: Path, *, version: int, files: int = 6, changing: int = 1) -> None:
    """A source tree: an HTML page, ``files`` style sheets (the first ``changing`` change with ``version``), a script.

    The page names the first sheet and the script, which the build rewrites
    to their hashed names; the sheets are large enough to be precompressed.
    """
    (source / "css").mkdir(parents=True, exist_ok=True)
    (source / "js").mkdir(exist_ok=True)
    for number in range(files):
        mark = version if number < changing else 0
        rule = f".rule{number} {{ color: #{number:06x}; margin: {mark}px; }}\n"
        (source / "css" / f"style{number}.css").write_text(rule * 80)
    (source / "js" / "app.js").write_text('document.title = "published";\n' * 40)
    (source / "index.html").write_text(
        '<!doctype html><link rel="stylesheet" href="css/style0.css"><script src="js/app.js"></script>\n'
    )


def snapshot(tree: Path) -> dict[str, bytes]:
    """Every file of ``tree`` by its ``/``-separated relative path, with its bytes."""
    return {path.relative_to(tree).as_posix(): path.read_bytes() for path in sorted(tree.rglob("*")) if path.is_file()}
