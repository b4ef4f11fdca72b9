"""Security of the lookup and the index (issue 11, findings 2, 5, 8, 10, 11, 12 and the dot rule).

Real files, real processes and real Gunicorn; nothing is mocked, and no duration is asserted.

- A directory swapped for a symlink to an outside directory, again and again by another
  process, while requests run (in-process autorefresh, the static index's refresh path, and a
  gthread Gunicorn): no answer ever holds a byte of the outside file, none raises.
- A root reached through ``current``, re-pointed in a loop as ``ln -sfn`` does, under Gunicorn
  (static and autorefresh): every answer is a version's bytes, a miss or a 503; no traceback,
  no dropped connection.
- A tree 1,100 levels deep is indexed (both modes), built and compressed.
- A file appended to faster than it can be hashed costs one hash, not one or two per request
  (bytes read, from /proc/thread-self/io, against one hash of it measured in the same test).
- Rewriting a file does not grow the index's interning tables; files created and deleted under
  autorefresh do not stay in its table of built assets.
- Out of descriptors (a real RLIMIT_NOFILE, in a child process), a lookup on disk is a 503 with
  Retry-After, never a pass-through as "not found".
- With ``follow_symlinks``, a link cannot publish a hidden name outside the root; a file missing
  for a moment in static mode is served again once it is back (only URLs the index held).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from staticwrap import StaticWrap
from staticwrap.cli import main
from tests.conftest import downstream, write
from tests.test_hardening import WAIT_DEADLINE, gunicorn, serve
from tests.test_server import STATICWRAP_HOME, RawClient

PUBLIC = b"public bytes, inside the root\n"
SECRET = b"SECRET bytes, outside the root\n"

# Exchanges two names atomically, again and again, until killed: renameat2(2) with
# RENAME_EXCHANGE, so that the name is always there, a directory or a symlink by turns.
SWAPPER = textwrap.dedent(
    """
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    first, second = (os.fsencode(name) for name in sys.argv[1:3])
    print("swapping", flush=True)
    while True:
        if libc.renameat2(AT_FDCWD, first, AT_FDCWD, second, RENAME_EXCHANGE) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")
    """
)


def swap_tree(base: Path) -> tuple[Path, Path]:
    """``root/d/f.txt`` (public), ``outside/d/f.txt`` (secret), and ``swap -> outside/d`` to exchange with ``d``."""
    root = base / "root"
    write(root, "d/f.txt", PUBLIC)
    write(base, "outside/d/f.txt", SECRET)
    (base / "swap").symlink_to(base / "outside" / "d")
    return root, base / "swap"


@contextlib.contextmanager
def running(script: str, *args: str, ready: bytes) -> Iterator[None]:
    """``python -c SCRIPT ARGS`` in another process, from its ``ready`` line until the block ends."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == ready + b"\n"
        yield
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


@contextlib.contextmanager
def swapping(first: Path, second: Path) -> Iterator[None]:
    """Another process exchanging ``first`` and ``second`` until the block ends, then both put back."""
    with running(SWAPPER, str(first), str(second), ready=b"swapping"):
        yield
    if first.is_symlink():  # stopped between two exchanges: put the directory back
        tmp = first.with_name("tmp")
        first.rename(tmp)
        second.rename(first)
        tmp.rename(second)


#: Requests made while the directory is swapped; under Gunicorn, split among the clients.
SWAP_REQUESTS = 20_000


@pytest.mark.parametrize("autorefresh", [False, True], ids=["static-refresh", "autorefresh"])
def test_a_directory_swapped_for_an_outside_link_never_serves_outside_bytes(tmp_path: Path, autorefresh: bool) -> None:
    root, swap = swap_tree(tmp_path)
    app = StaticWrap(downstream, root, autorefresh=autorefresh, memory_budget=0)
    assert serve(app, "/d/f.txt").body == PUBLIC
    answers: Counter[str] = Counter()
    with warnings.catch_warnings(), swapping(root / "d", swap):
        warnings.simplefilter("ignore")  # the link is refused with a warning, by design
        for _ in range(SWAP_REQUESTS):
            try:
                reply = serve(app, "/d/f.txt")
            except OSError as error:  # a race must be a miss or a 503 (finding 5), counted to show it
                answers[f"raised {error.strerror}"] += 1
                continue
            kind = "passed on" if reply.passed_on else f"{reply.status} {reply.body[:6]!r}"
            answers["secret" if b"SECRET" in reply.body else kind] += 1
    assert answers["secret"] == 0, answers
    assert set(answers) <= {f"200 {PUBLIC[:6]!r}", "passed on", "503 b''"}, answers
    assert serve(app, "/d/f.txt").body == PUBLIC  # and served again once the swapping stops


@pytest.mark.server
def test_a_directory_swapped_for_an_outside_link_under_gthread_gunicorn(tmp_path: Path) -> None:
    root, swap = swap_tree(tmp_path)
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    clients = 8

    def client() -> None:
        with RawClient(server.port) as connection:
            for _ in range(SWAP_REQUESTS // clients):
                connection.send("GET", "/static/d/f.txt")
                try:
                    response = connection.read_response()
                except AssertionError:  # the connection dropped: the worker raised (finding 5)
                    with lock:
                        answers["dropped"] += 1
                    return
                kind = "secret" if b"SECRET" in response.body else str(response.status)
                with lock:
                    answers[kind] += 1

    with gunicorn(root, tmp_path / "server", worker="gthread", autorefresh=True, probe="/static/d/f.txt") as server:
        with swapping(root / "d", swap):
            threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 10 * WAIT_DEADLINE
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in threads)
    assert answers["secret"] == 0, answers
    assert set(answers) <= {"200", "404", "503"}, answers
    assert sum(answers.values()) == clients * (SWAP_REQUESTS // clients), answers


# -- finding 5: a root reached through a link that is re-pointed -----------------------------------

# Deploys version after version until killed, as a release script does: writes the new version
# (sub/real.txt, and sub/link.txt -> real.txt), re-points ``current`` to it the way ``ln -sfn``
# does (a new link under a temporary name, renamed over the old one), then deletes the version
# before. A lookup that was resolving a path through the old version meets links that vanish.
DEPLOYER = textwrap.dedent(
    """
    import os, shutil, sys
    base = sys.argv[1]
    current = os.path.join(base, "current")
    print("deploying", flush=True)
    number = 1
    while True:
        number += 1
        version = os.path.join(base, f"v{number}")
        os.makedirs(os.path.join(version, "sub"))
        with open(os.path.join(version, "sub", "real.txt"), "wb") as file:
            file.write(b"version %d" % number)
        for link in range(20):
            os.symlink("real.txt", os.path.join(version, "sub", f"link{link}.txt"))
        os.symlink(version, current + ".tmp")
        os.replace(current + ".tmp", current)
        shutil.rmtree(os.path.join(base, f"v{number - 1}"))
    """
)


def first_version(base: Path) -> Path:
    """``base/v1`` as DEPLOYER writes each version, and ``base/current`` -> it."""
    write(base, "v1/sub/real.txt", b"version 1")
    for link in range(20):
        (base / f"v1/sub/link{link}.txt").symlink_to("real.txt")
    (base / "current").symlink_to(base / "v1")
    return base / "current"


@contextlib.contextmanager
def deploying(base: Path) -> Iterator[None]:
    """DEPLOYER at work in ``base`` until the block ends."""
    with running(DEPLOYER, str(base), ready=b"deploying"):
        yield


def version_answer(status: int, body: bytes) -> str:
    if status == 200 and re.fullmatch(rb"version \d+", body):
        return "a version"
    return f"{status} {body[:20]!r}"


@pytest.mark.server
def test_a_root_link_repointed_in_a_loop_is_never_an_exception_under_gunicorn(tmp_path: Path) -> None:
    current = first_version(tmp_path / "site")
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    clients, per_client = 8, 2_500

    def client() -> None:
        with RawClient(server.port) as connection:
            for number in range(per_client):
                connection.send("GET", f"/static/sub/link{number % 20}.txt")
                try:
                    response = connection.read_response()
                except AssertionError:  # the connection dropped: the worker raised
                    with lock:
                        answers["dropped"] += 1
                    return
                with lock:
                    answers[version_answer(response.status, response.body)] += 1

    probe = "/static/sub/real.txt"
    with gunicorn(current, tmp_path / "server", worker="gthread", autorefresh=True, probe=probe) as server:
        with deploying(tmp_path / "site"):
            threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10 * WAIT_DEADLINE)
        log = server.log.read_text()
    assert not any(thread.is_alive() for thread in threads)
    # A version's bytes, a miss (the static-only app's 404) or a 503; never a dropped connection.
    assert set(answers) <= {"a version", "404 b'Not Found\\n'", "503 b''"}, answers
    assert sum(answers.values()) == clients * per_client, answers
    assert "Traceback" not in log, log[-3000:]


def test_a_root_link_repointed_in_a_loop_is_never_an_exception_in_process(tmp_path: Path) -> None:
    current = first_version(tmp_path / "site")
    apps = {
        "static": StaticWrap(downstream, current, memory_budget=0),
        "autorefresh": StaticWrap(downstream, current, autorefresh=True),
    }
    answers: Counter[str] = Counter()
    with warnings.catch_warnings(), deploying(tmp_path / "site"):
        warnings.simplefilter("ignore")  # links met half-deleted are skipped with a warning
        for number in range(20_000):
            name = "static" if number % 2 else "autorefresh"
            try:
                reply = serve(apps[name], f"/sub/link{number % 20}.txt")
            except OSError as error:
                answers[f"{name} raised {error.strerror}"] += 1
                continue
            answers[f"{name} passed on" if reply.passed_on else version_answer(reply.status, reply.body)] += 1
    assert set(answers) <= {"a version", "static passed on", "autorefresh passed on", "503 b''"}, answers


# -- finding 8: a tree deeper than Python's recursion limit -----------------------------------------

DEPTH = 1_100


def test_a_tree_deeper_than_the_recursion_limit_is_indexed_built_and_compressed(tmp_path: Path) -> None:
    try:
        check_a_deep_tree(tmp_path)
    finally:
        # rm(1) walks iteratively; shutil.rmtree, and pytest's own clean-up of old temporary
        # directories (in every later session on this machine), would hit the recursion limit.
        subprocess.run(["rm", "-rf", *(str(tmp_path / name) for name in ("src", "dest"))], check=True)


def check_a_deep_tree(tmp_path: Path) -> None:
    assert sys.getrecursionlimit() < DEPTH
    relative = "/".join(["d"] * DEPTH) + "/deep.css"
    deep_css = b"body { color: red }\n" * 200
    directory = tmp_path / "src"
    directory.mkdir()
    for _ in range(DEPTH):  # level by level: Path.mkdir(parents=True) recurses too
        directory = directory / "d"
        directory.mkdir()
    (directory / "deep.css").write_bytes(deep_css)
    write(tmp_path / "src", "top.txt", b"top")
    app = StaticWrap(None, tmp_path / "src")
    assert serve(app, "/" + relative).body == deep_css
    assert serve(app, "/top.txt").body == b"top"
    autorefresh = StaticWrap(None, tmp_path / "src", autorefresh=True)
    assert serve(autorefresh, "/" + relative).body == deep_css

    assert main(["build", str(tmp_path / "src"), str(tmp_path / "dest"), "--quiet"]) == 0
    manifest = json.loads((tmp_path / "dest" / "staticwrap.json").read_text())
    assert relative in manifest["files"], sorted(manifest["files"])[:5]
    built = tmp_path / "dest" / manifest["files"][relative]["hashed"]
    assert built.read_bytes() == deep_css

    assert main(["compress", str(tmp_path / "src"), "--quiet"]) == 0
    assert gzip.decompress((tmp_path / "src" / (relative + ".gz")).read_bytes()) == deep_css


# -- finding 10: a file that grows faster than it can be hashed ---------------------------------------

GROWING = 32 * 1024 * 1024
APPENDER = textwrap.dedent(
    """
    import sys, time
    print("appending", flush=True)
    with open(sys.argv[1], "ab", buffering=0) as file:
        while True:
            file.write(b"x" * 1024)
            time.sleep(0.0005)
    """
)


def bytes_read() -> int:
    """What this process has read with read(2) and the like, page cache hits included (proc(5): rchar)."""
    for line in Path("/proc/thread-self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/thread-self/io")


@pytest.mark.parametrize("autorefresh", [False, True], ids=["static", "autorefresh"])
def test_a_growing_file_is_not_hashed_again_on_every_request(tmp_path: Path, autorefresh: bool) -> None:
    path = tmp_path / "root" / "growing.log"
    path.parent.mkdir()
    path.write_bytes(os.urandom(GROWING))
    before = bytes_read()
    app = StaticWrap(downstream, path.parent, autorefresh=autorefresh, memory_budget=0)
    assert serve(app, "/growing.log", method="HEAD").status == 200  # reads the file whole, once
    one_hash = bytes_read() - before
    assert one_hash >= GROWING
    requests = 30
    process = subprocess.Popen([sys.executable, "-c", APPENDER, str(path)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"appending\n"
        time.sleep(0.01)  # the file has changed since it was indexed
        before = bytes_read()
        statuses = Counter(serve(app, "/growing.log", method="HEAD").status for _ in range(requests))
        read = bytes_read() - before
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
    # A hash or two while it keeps growing (not one or two per request), and never a 500.
    assert read <= 3 * one_hash, f"{read / one_hash:.1f} hashes of the file for {requests} requests"
    assert set(statuses) <= {200, 404}, statuses


# -- finding 11: the index's tables do not grow with every rewrite ----------------------------------


def test_rewriting_a_file_does_not_grow_the_index_tables(tmp_path: Path) -> None:
    root = tmp_path / "root"
    path = write(root, "a.txt", b"first")
    app = StaticWrap(downstream, root, memory_budget=0)
    assert serve(app, "/a.txt").body == b"first"
    index = app.index
    sizes = (len(index._shared), len(index._numbers))
    for number in range(300):
        data = b"version %d" % number + b"." * number  # a new Content-Length each time
        path.write_bytes(data)
        os.utime(path, (1_600_000_000 + number, 1_600_000_000 + number))  # a new Last-Modified, mtime
        assert serve(app, "/a.txt").body == data
    assert (len(index._shared), len(index._numbers)) <= sizes


def test_files_created_and_deleted_under_autorefresh_do_not_stay_in_the_index(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "kept.txt", b"kept")
    app = StaticWrap(downstream, root, autorefresh=True)
    churn = 4_000
    for number in range(churn):
        path = write(root, f"f{number}.txt", b"%d" % number)
        assert serve(app, f"/f{number}.txt").body == b"%d" % number
        path.unlink()
    assert serve(app, "/kept.txt").body == b"kept"
    # Not one entry per file ever served.
    assert len(app.index._built) < churn // 2, len(app.index._built)


# -- finding 12: out of descriptors in autorefresh mode -----------------------------------------------

DESCRIPTOR_CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, warnings
    from staticwrap import StaticWrap
    from tests.conftest import downstream
    from tests.test_hardening import serve

    warnings.simplefilter("ignore")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
    root = sys.argv[1]
    apps = {"static": StaticWrap(downstream, root, memory_budget=0),
            "autorefresh": StaticWrap(downstream, root, autorefresh=True)}
    for app in apps.values():
        assert serve(app, "/sub/a.txt").status == 200
    with open(os.path.join(root, "sub", "a.txt"), "ab") as file:
        file.write(b" changed")  # the static index must look it up again
    answers = {}
    for free in (0, 1, 2):
        hoard = []
        try:
            while True:
                hoard.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
        for descriptor in hoard[len(hoard) - free:]:
            os.close(descriptor)
        try:
            for name, app in apps.items():
                reply = serve(app, "/sub/a.txt")
                answer = "passed on" if reply.passed_on else dict(reply.headers).get("Retry-After")
                answers[f"{name}, {free} free"] = [reply.status, answer]
        finally:
            for descriptor in hoard[: len(hoard) - free]:
                os.close(descriptor)
    for name, app in apps.items():
        answers[f"{name}, after"] = [serve(app, "/sub/a.txt").status, serve(app, "/sub/a.txt").body.decode()]
    print(json.dumps(answers))
    """
)


def test_out_of_descriptors_during_a_lookup_is_a_503(tmp_path: Path) -> None:
    write(tmp_path / "root", "sub/a.txt", b"a")
    python_path = os.pathsep.join(filter(None, [str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", DESCRIPTOR_CHILD, str(tmp_path / "root")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": python_path},
        cwd=STATICWRAP_HOME,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    for key, answer in answers.items():
        if key.endswith("after"):
            assert answer == [200, "a changed"], (key, answers)
        else:  # never "not found" (a pass-through) because a descriptor was missing: served, or a 503
            assert answer in ([503, "1"], [200, None]), (key, answers)
    assert answers["autorefresh, 0 free"] == [503, "1"], answers


# -- hidden names behind a followed link; files missing for a moment --------------------------------


@pytest.mark.parametrize("autorefresh", [False, True], ids=["static", "autorefresh"])
def test_a_followed_link_cannot_publish_a_hidden_name_outside_the_root(tmp_path: Path, autorefresh: bool) -> None:
    # The root lives under a dot-directory: what lies above the directory the target shares with
    # the root does not hide it; a hidden name below it does.
    site = tmp_path / ".local" / "site"
    write(site, ".git/config", b"[remote] token = secret")
    write(site, "shared/ok.txt", b"shared, not hidden")
    write(site, "shared/.env", b"SECRET=1")
    root = site / "public"
    write(root, "index.txt", b"public")
    (root / "cfg").symlink_to("../.git/config")
    (root / "gitdir").symlink_to("../.git")
    (root / "env").symlink_to("../shared/.env")
    (root / "ok.txt").symlink_to("../shared/ok.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = StaticWrap(downstream, root, follow_symlinks=True, autorefresh=autorefresh)
        assert serve(app, "/ok.txt").body == b"shared, not hidden"
        for url in ["/cfg", "/gitdir/config", "/env"]:
            assert serve(app, url).passed_on, url


def test_a_file_missing_for_a_moment_is_served_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    path = write(root, "a.txt", b"old")
    app = StaticWrap(downstream, root)
    assert serve(app, "/a.txt").body == b"old"
    path.unlink()  # a replacement that unlinks, then writes
    assert serve(app, "/a.txt").passed_on
    assert "/a.txt" not in app.files
    path.write_bytes(b"new, after a moment")
    assert serve(app, "/a.txt").body == b"new, after a moment"
    assert "/a.txt" in app.files
    # Only URLs the index held are looked up again: a file created since is not seen.
    write(root, "b.txt", b"created after startup")
    assert serve(app, "/b.txt").passed_on


def test_a_file_caught_growing_by_the_scan_is_served_once_it_is_still(tmp_path: Path) -> None:
    path = tmp_path / "root" / "growing.log"
    path.parent.mkdir()
    path.write_bytes(os.urandom(GROWING))
    process = subprocess.Popen([sys.executable, "-c", APPENDER, str(path)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"appending\n"
        app = StaticWrap(downstream, path.parent, memory_budget=0)  # its hash is overtaken
        assert serve(app, "/growing.log", method="HEAD").passed_on
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
    deadline = time.monotonic() + WAIT_DEADLINE
    while (reply := serve(app, "/growing.log")).passed_on and time.monotonic() < deadline:
        time.sleep(0.05)  # lookups must see it still for as long as a hash of it takes
    assert reply.body == path.read_bytes()
