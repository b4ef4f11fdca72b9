"""Review of the build's early compression (session 5): a SIGTERM mid-build.

``kill PID``, a container stop, a CI job cancelled: SIGTERM, not SIGINT, is
how a build is usually stopped. It must leave DEST as it was and no worker
process behind, as an interruption with Ctrl-C does.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from staticwrap.build import build
from staticwrap.compress import Encoder
from tests.conftest import write
from tests.test_build_atomic import snapshot

# Run in a child, in a session of its own, so that its worker processes can be
# found by process group once it is gone. The progress callback sends the
# SIGTERM from inside the build: under the lock, with DEST half written and
# the workers still encoding the other files.
_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from staticwrap.build import build

    def progress(done, total, name):
        os.kill(os.getpid(), signal.SIGTERM)

    if __name__ == "__main__":
        build(sys.argv[1], sys.argv[2], jobs=2, codings=("gzip", "br"), progress=progress)
    """
)


def _group_alive(group: int) -> list[str]:
    """The processes of the process group ``group`` that are still running (not zombies)."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat_line = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after it.
        fields = stat_line.rsplit(")", 1)[1].split()
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(entry)
    return alive


def test_a_sigterm_mid_build_leaves_dest_unchanged_and_no_worker(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    for number in range(3):
        write(tmp_path / "v1", f"js/part-{number}.js", f"export const v = {number};\n" * 400)
    build(tmp_path / "v1", dest, jobs=1)
    write(dest, "unrelated.txt", "kept")
    before = snapshot(dest)
    src = tmp_path / "v2"
    # Several files that take the workers a while, so that some are still
    # being encoded when the first one is written.
    for number in range(8):
        write(src, f"js/part-{number}.js", f"export const v = '{os.urandom(150_000).hex()}';\n")
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr:
        # Not a pipe: an orphaned worker would hold it open, and reading it to
        # the end would wait for that worker.
        process = subprocess.Popen(
            [sys.executable, str(script), str(src), str(dest)], env=env, stderr=stderr, start_new_session=True
        )
    try:
        process.wait(timeout=120)
        assert process.returncode == -signal.SIGTERM, log.read_text()
        assert snapshot(dest) == before
        # An orphaned worker never ends: it waits forever to hand in a result.
        # Those stopped by the build may take a moment to be gone.
        deadline = time.monotonic() + 30
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group_alive(process.pid) == []
    finally:
        for pid in _group_alive(process.pid):  # stop what this test started
            os.kill(int(pid), signal.SIGKILL)


_COMPRESS_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from staticwrap.compress import compress_tree

    def progress(result):
        os.kill(os.getpid(), signal.SIGTERM)

    if __name__ == "__main__":
        compress_tree(sys.argv[1], jobs=2, codings=("gzip", "br"), progress=progress)
    """
)


def test_a_sigterm_mid_compress_leaves_no_worker(tmp_path: Path) -> None:
    # staticwrap compress: each file's variants are written atomically (no
    # transaction), but its workers must not outlive it either.
    root = tmp_path / "root"
    for number in range(8):
        write(root, f"js/part-{number}.js", f"export const v = '{os.urandom(150_000).hex()}';\n")
    script = tmp_path / "child.py"
    script.write_text(_COMPRESS_CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(root)], env=env, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        process.wait(timeout=120)
        assert process.returncode == -signal.SIGTERM
        deadline = time.monotonic() + 30
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group_alive(process.pid) == []
        assert not [path for path in root.rglob("*") if path.name.endswith(".tmp")]
    finally:
        for pid in _group_alive(process.pid):  # stop what this test started
            os.kill(int(pid), signal.SIGKILL)


# -- Memory: the encodings of a tree are not all held until the build ends --


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_encoding_released_is_no_longer_held(jobs: int) -> None:
    # The build releases each encoding once every file with its content is
    # written: without that, every variant of every file of the tree (about
    # as many bytes as the text files themselves, with br, zstd and gzip)
    # stayed in memory until the build ended.
    data = b"body { margin: 0 }\n" * 5_000
    key = hashlib.sha256(data).digest()
    with Encoder(codings=["gzip"], jobs=jobs) as encoder:
        encoder.add(key, data, "a.css")
        assert dict(encoder.completed([key]))[key].variants
        encoder.release(key)
        assert encoder.get(key) is None
        # Handed in again (a caller that miscounted), it is encoded again rather than waited for in vain.
        encoder.add(key, data, "a.css")
        assert dict(encoder.completed([key]))[key].variants
    assert encoder.encoded == 2
