"""A shared cache in front of staticwrap (nginx's proxy_cache, in a CDN's role) gives each client the right bytes.

Gunicorn serves a built tree with staticwrap; nginx, configured in a
temporary directory (its pid, logs and cache there, running as the current
user, on 127.0.0.1), caches what it answers. Clients asking for brotli, gzip
and no coding come in the order that exposes a cache keyed on the URL alone:
the brotli answer is cached first. ``Vary: Accept-Encoding`` keeps the
codings apart, each coding's own ETag makes revalidation exact, and the
immutable lifetime lets the cache answer hashed names without asking again.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest

from staticwrap.build import build
from tests.object_stores import require_binary, write_source
from tests.test_hardening import gunicorn
from tests.test_server import RawResponse, fetch, free_port, stop

pytestmark = pytest.mark.server

#: Bounds the wait for nginx to start.
STARTUP_DEADLINE = 30.0
CLIENTS = {"br": "br", "gzip": "gzip", "identity": "identity"}


def decode(response: RawResponse) -> bytes:
    coding = response.header("Content-Encoding")
    if coding == "br":
        return bytes(brotli.decompress(response.body))
    if coding == "gzip":
        return gzip.decompress(response.body)
    assert coding is None, coding
    return response.body


NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {here}/nginx.pid;
error_log {here}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {here}/client_body;
    proxy_temp_path {here}/proxy;
    fastcgi_temp_path {here}/fastcgi;
    uwsgi_temp_path {here}/uwsgi;
    scgi_temp_path {here}/scgi;
    proxy_cache_path {here}/cache keys_zone=static:1m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_cache static;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(directory: Path, upstream: int) -> Iterator[int]:
    """nginx caching what ``upstream`` answers, until the block ends; yields its port."""
    binary = require_binary("nginx")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # As root, nginx would run its worker as "nobody", which cannot write the
    # cache in this directory: the worker stays the current user.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    config = directory / "nginx.conf"
    config.write_text(NGINX_CONF.format(user=user, here=directory, port=port, upstream=upstream))
    process = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(directory), "-e", str(directory / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while True:
            try:
                fetch(port, "/static/probe.txt")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start:\n{(directory / 'error.log').read_text(errors='replace')}")
                time.sleep(0.05)
        yield port
    finally:
        stop(process)


@pytest.fixture(scope="module")
def cached_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    base = tmp_path_factory.mktemp("cdn")
    source, root = base / "source", base / "root"
    write_source(source, version=1)
    (source / "probe.txt").write_text("probe\n")
    build(source, root, codings=["br", "gzip"], jobs=1)
    with (
        gunicorn(root, base / "gunicorn", probe="/static/probe.txt") as server,
        nginx(base / "nginx", server.port) as port,
    ):
        yield port, root


def names(root: Path) -> list[tuple[str, str]]:
    """The URL of a logical name and of its hashed name, each with the file whose bytes it has."""
    hashed = json.loads((root / "staticwrap.json").read_text())["files"]["css/style0.css"]["hashed"]
    return [("/static/css/style0.css", "css/style0.css"), (f"/static/{hashed}", hashed)]


@pytest.mark.parametrize("which", [0, 1], ids=["logical name", "hashed name"])
def test_each_client_gets_its_own_coding_through_the_cache(cached_site: tuple[int, Path], which: int) -> None:
    port, root = cached_site
    url, name = names(root)[which]
    original = (root / name).read_bytes()
    seen: dict[str, list[RawResponse]] = {}
    for _round in range(2):
        for client, accept in CLIENTS.items():
            response = fetch(port, url, [("Accept-Encoding", accept)])
            assert response.status == 200
            assert decode(response) == original, f"{client} got another client's bytes"
            assert response.header("Content-Encoding") == (None if client == "identity" else client)
            assert response.header("Vary") == "Accept-Encoding"
            seen.setdefault(client, []).append(response)
    for client, (first, second) in seen.items():
        assert first.header("X-Cache-Status") == "MISS", client
        assert second.header("X-Cache-Status") == "HIT", client  # the cache kept each coding apart
        assert first.header("ETag") == second.header("ETag")
    etags = {client: responses[0].header("ETag") for client, responses in seen.items()}
    assert len(set(etags.values())) == 3, etags  # one ETag per coding
    if which == 1:
        assert seen["br"][0].header("Cache-Control") == "public, max-age=31536000, immutable"


def test_revalidation_through_the_cache_matches_only_the_codings_own_etag(cached_site: tuple[int, Path]) -> None:
    port, root = cached_site
    url, name = names(root)[1]
    tags = {
        client: fetch(port, url, [("Accept-Encoding", accept)]).header("ETag") for client, accept in CLIENTS.items()
    }
    for client, accept in CLIENTS.items():
        tag = tags[client]
        assert tag is not None
        same = fetch(port, url, [("Accept-Encoding", accept), ("If-None-Match", tag)])
        assert (same.status, same.body) == (304, b""), client
        assert same.header("ETag") == tag
        # Another coding's tag is another representation's: the full answer, in this client's coding.
        other = tags["identity" if client != "identity" else "br"]
        assert other is not None
        full = fetch(port, url, [("Accept-Encoding", accept), ("If-None-Match", other)])
        assert full.status == 200, client
        assert decode(full) == (root / name).read_bytes()
