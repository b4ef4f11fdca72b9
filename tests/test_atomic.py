"""staticwrap.atomic on real files: a reader finds the old file or the new one, never neither."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from staticwrap.atomic import link_atomic
from staticwrap.build import build
from staticwrap.manifest import read_manifest
from tests.conftest import write


def names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_link_atomic_creates_a_new_name_for_the_same_file(tmp_path: Path) -> None:
    source = write(tmp_path, "app.3f2a1b9c0d4e.css", b"a{}")
    assert link_atomic(str(source), str(tmp_path / "app.css"))
    assert os.path.samefile(source, tmp_path / "app.css")
    assert names(tmp_path) == ["app.3f2a1b9c0d4e.css", "app.css"]


def test_link_atomic_replaces_an_existing_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    source = write(tmp_path, "app.3f2a1b9c0d4e.css", b"new")
    old = write(tmp_path, "app.css", b"old")
    held = old.open("rb")  # a reader that opened the old file keeps reading it
    try:
        assert link_atomic(str(source), str(old))
        assert old.read_bytes() == b"new"
        assert held.read() == b"old"
    finally:
        held.close()
    assert names(tmp_path) == ["app.3f2a1b9c0d4e.css", "app.css"]


def test_link_atomic_to_a_name_already_linked_leaves_no_temporary(tmp_path: Path) -> None:
    # rename(2) does nothing when both names are links to one file: the
    # temporary link would stay behind if nobody removed it.
    source = write(tmp_path, "app.3f2a1b9c0d4e.css", b"a{}")
    os.link(source, tmp_path / "app.css")
    assert link_atomic(str(source), str(tmp_path / "app.css"))
    assert names(tmp_path) == ["app.3f2a1b9c0d4e.css", "app.css"]


def test_link_atomic_across_file_systems_changes_nothing_and_says_so(tmp_path: Path) -> None:
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the temporary directory")
    source = write(tmp_path, "app.css", b"a{}")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        target = Path(other) / "app.css"
        write(Path(other), "app.css", b"old")
        assert not link_atomic(str(source), str(target))  # EXDEV: the caller copies instead
        assert target.read_bytes() == b"old"
        assert names(Path(other)) == ["app.css"]


def test_build_writes_each_file_once_under_both_names(tmp_path: Path) -> None:
    write(tmp_path / "src", "css/app.css", "a { background: url(../img/logo.svg) }\n" * 50)
    write(tmp_path / "src", "img/logo.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>\n" * 50)
    build(tmp_path / "src", tmp_path / "dest", jobs=1)
    dest = tmp_path / "dest"
    manifest = read_manifest(str(dest))
    for name, record in manifest.files.items():
        assert os.path.samefile(dest / name, dest / record.hashed)
        for suffix in (".br", ".gz"):
            assert os.path.samefile(dest / (name + suffix), dest / (record.hashed + suffix))
    # Dot-named temporaries never outlive the build.
    assert not list(dest.rglob(".*"))
