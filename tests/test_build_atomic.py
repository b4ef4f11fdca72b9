"""A build that fails leaves DEST exactly as it was (staticwrap/transaction.py).

Each test builds a first version into DEST, then makes a second build fail
in one of its phases with a real failure (a missing reference, a file larger
than the process may write, a full file system, an interruption), and
compares every entry of DEST, bytes, mode and times, with what it was.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from staticwrap.build import BuildError, build
from staticwrap.transaction import UNDO_PREFIX, Transaction, save_before_change
from tests.conftest import write

CSS_V1 = "body { background: url(../img/logo.png) }\n" + "p { margin: 0 }\n" * 400
CSS_V2 = "body { background: url(../img/logo.png) }\n" + "p { padding: 1px }\n" * 400


class Entry(NamedTuple):
    kind: str
    data: bytes
    mode: int
    mtime_ns: int
    inode: int


def snapshot(root: Path) -> dict[str, Entry]:
    """Every entry under ``root``, with what a reader or a server could notice of it."""
    found: dict[str, Entry] = {}
    for directory, names, files in os.walk(root):
        for name in names + files:
            path = Path(directory, name)
            st = path.lstat()
            if stat.S_ISDIR(st.st_mode):
                kind, data = "dir", b""
            elif stat.S_ISLNK(st.st_mode):
                kind, data = "link", os.readlink(path).encode()
            else:
                kind, data = "file", path.read_bytes()
            found[path.relative_to(root).as_posix()] = Entry(kind, data, st.st_mode, st.st_mtime_ns, st.st_ino)
    return found


def tree(root: Path, css: str, *, extra: dict[str, bytes] | None = None) -> Path:
    write(root, "img/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    write(root, "css/site.css", css)
    write(root, "js/app.js", "export const answer = 42;\n" * 300)
    for name, data in (extra or {}).items():
        write(root, name, data)
    return root


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path, dict[str, Entry]]:
    """SRC at version 2 (not built yet), and DEST holding version 1 and its snapshot."""
    dest = tmp_path / "dest"
    build(tree(tmp_path / "v1", CSS_V1), dest, jobs=1)
    # A stale file of an older deploy and an unrelated file: both must stay.
    write(dest, "unrelated.txt", "kept")
    return tree(tmp_path / "v2", CSS_V2), dest, snapshot(dest)


def run_cli(
    args: list[str],
    *,
    file_size_limit: int | None = None,
    module: str = "staticwrap",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS``, allowed to write files of at most ``file_size_limit`` bytes."""

    def limit() -> None:  # pragma: no cover - runs in the child
        if file_size_limit is not None:
            # Past the limit, write(2) fails with EFBIG instead of killing the process.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
        check=False,
    )


def test_a_missing_reference_leaves_dest_unchanged(built: tuple[Path, Path, dict[str, Entry]]) -> None:
    src, dest, before = built
    write(src, "css/site.css", CSS_V2 + "a { background: url(gone.png) }\n")
    with pytest.raises(BuildError, match=r"gone\.png"):
        build(src, dest, jobs=1)
    assert snapshot(dest) == before


def test_a_write_failing_half_way_leaves_dest_unchanged(built: tuple[Path, Path, dict[str, Entry]]) -> None:
    # Outputs are written in name order: css/ and img/ first, then zz/big.bin
    # is larger than the process may write.
    src, dest, before = built
    write(src, "zz/big.bin", os.urandom(300_000))
    completed = run_cli(["build", "--quiet", "--jobs", "1", str(src), str(dest)], file_size_limit=200_000)
    assert completed.returncode == 1, completed.stderr
    assert "File too large" in completed.stderr
    assert f"{dest} was left as it was" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert snapshot(dest) == before


def test_a_manifest_that_cannot_be_written_leaves_dest_unchanged(built: tuple[Path, Path, dict[str, Entry]]) -> None:
    # Every file fits under the limit, the manifest listing 300 of them does not:
    # the failure comes last, after every output and variant was written.
    src, dest, before = built
    for number in range(300):
        write(src, f"icons/icon-{number:03d}.svg", f"<svg><title>{number}</title></svg>")
    completed = run_cli(["build", "--quiet", "--jobs", "1", str(src), str(dest)], file_size_limit=40_000)
    assert completed.returncode == 1, completed.stderr
    assert "staticwrap.json" in completed.stderr
    assert snapshot(dest) == before


def test_an_interrupted_compression_leaves_dest_unchanged(built: tuple[Path, Path, dict[str, Entry]]) -> None:
    src, dest, before = built
    # Enough files that compression is still going on when the test sees the
    # first variant, however loaded the machine (about 10 s on 2 cores).
    for number in range(150):
        write(src, f"js/chunk-{number:03d}.js", f"export const n{number} = '{os.urandom(60_000).hex()}';\n")
    with subprocess.Popen(
        [sys.executable, "-m", "staticwrap", "build", "--quiet", "--jobs", "2", str(src), str(dest)],
        stderr=subprocess.PIPE,
        text=True,
        # A shell runs a background job with SIGINT ignored, and a child
        # inherits that: Python then installs no KeyboardInterrupt handler.
        # The build must get Ctrl-C as a terminal gives it.
        preexec_fn=_default_sigint,
    ) as process:
        # Interrupt once the first compressed variant of version 2 is in DEST.
        deadline = time.monotonic() + 60
        while not list(dest.glob("js/chunk-*.js.*")):
            assert process.poll() is None, f"the build ended before compressing: {process.stderr}"
            assert time.monotonic() < deadline, "no variant written in 60 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=120)
    assert process.returncode != 0, errors
    assert snapshot(dest) == before


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def small_file_system(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode(errors='replace').strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_full_disk_while_compressing_leaves_dest_unchanged(small_file_system: Path, tmp_path: Path) -> None:
    dest = small_file_system / "dest"
    build(tree(tmp_path / "v1", CSS_V1), dest, jobs=1)
    before = snapshot(dest)
    # Version 2 adds a file that fits in what is left of the 4 MiB (its copy
    # under its name is a hard link to its hashed copy), and whose compressed
    # variants (text: about half its size) do not. The build writes and
    # compresses the largest file first.
    free = os.statvfs(small_file_system).f_bavail * os.statvfs(small_file_system).f_frsize
    words = b"".join(b"%x " % (number * 2654435761 % 2**32) for number in range(400_000))
    each = free - 64 * 1024
    src = tree(tmp_path / "v2", CSS_V2, extra={"data/a.txt": words[:each]})
    with pytest.raises(OSError, match="No space left on device") as raised:
        build(src, dest, jobs=1)
    assert f"{dest} was left as it was" in str(raised.value)
    assert str(raised.value.filename).endswith((".br", ".zst", ".gz")), "the disk was full before compression"
    assert snapshot(dest) == before


def test_a_failed_build_into_a_new_dest_leaves_nothing(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", CSS_V1, extra={"zz/big.bin": os.urandom(300_000)})
    dest = tmp_path / "new" / "dest"
    dest.parent.mkdir()
    completed = run_cli(["build", "--quiet", "--jobs", "1", str(src), str(dest)], file_size_limit=200_000)
    assert completed.returncode == 1
    assert not dest.exists()


# -- Transaction on its own ----------------------------------------------------------------


def test_rollback_restores_replaced_removed_touched_and_created_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "replaced.txt", "old")
    write(root, "removed.txt", "gone")
    write(root, "touched.txt", "same")
    os.symlink("replaced.txt", root / "link")
    before = snapshot(root)
    transaction = Transaction(str(root))
    transaction.preserve(str(root / "replaced.txt"))
    (root / "replaced.txt.new").write_text("new")
    os.replace(root / "replaced.txt.new", root / "replaced.txt")
    transaction.preserve(str(root / "removed.txt"))
    os.remove(root / "removed.txt")
    transaction.preserve(str(root / "touched.txt"))
    os.utime(root / "touched.txt", (1, 1))
    transaction.preserve(str(root / "link"))
    os.remove(root / "link")
    transaction.makedirs(str(root / "new" / "deeper"))
    transaction.preserve(str(root / "new" / "deeper" / "created.txt"))
    (root / "new" / "deeper" / "created.txt").write_text("created")
    # A worker process saves a file by the undo directory's name alone.
    transaction.expect([str(root / "by-worker.txt"), str(root / "touched.txt")])
    transaction.rollback()
    assert snapshot(root) == before


def test_commit_keeps_the_changes_and_leaves_no_undo_directory(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "a.txt", "old")
    transaction = Transaction(str(root))
    transaction.expect([str(root / "a.txt")])
    save_before_change(transaction.undo, str(root / "a.txt"))
    (root / "a.txt.new").write_text("new")
    os.replace(root / "a.txt.new", root / "a.txt")
    transaction.commit()
    assert (root / "a.txt").read_text() == "new"
    assert not [name for name in os.listdir(root) if name.startswith(UNDO_PREFIX)]


def test_an_unchanged_rebuild_creates_no_link_to_any_file(built: tuple[Path, Path, dict[str, Entry]]) -> None:
    # Saving a file costs a hard link, which changes its ctime and link
    # count: a rebuild that changes nothing must not save anything.
    src, dest, _ = built
    build(tmp_path_v1 := src.parent / "v1", dest, jobs=1)
    counts = {path: path.stat().st_nlink for path in dest.rglob("*") if path.is_file()}
    build(tmp_path_v1, dest, jobs=1)
    assert {path: path.stat().st_nlink for path in dest.rglob("*") if path.is_file()} == counts
    # Two names per file at most: a hashed copy and the copy under its name are one file.
    assert set(counts.values()) == {1, 2}
