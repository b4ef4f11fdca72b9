"""Every mistake on the command line gets a message in the CLI's own words: never a traceback.

Each row is run through the real command (``python -m staticwrap``) as a
subprocess, as a user runs it: the message must name the flag or argument as
typed on the command line, not the Python keyword behind it.
"""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from staticwrap import ConfigurationError, StaticWrap
from tests.conftest import TEN, write
from tests.test_cli import TIMEOUT, module_env

#: Python spellings a CLI user never typed: a keyword with its value, or the Python API.
PYTHON_WORDS = re.compile(
    r"\b(?:root|jobs|min_saving|max_age|index_file|prefix|cors|not_found|codings)=|StaticWrap|add_files"
)


class Mistake(NamedTuple):
    argv: tuple[str, ...]
    status: int
    #: Text the message must contain: the flag or argument as the user typed it, and the fix.
    says: tuple[str, ...]


MISTAKES = {
    "build DEST is a file": Mistake(("build", "src", "a-file"), 2, ("DEST", "a-file", "not a directory")),
    "build DEST under a file": Mistake(("build", "src", "a-file/out"), 2, ("DEST", "a-file", "not a directory")),
    "build --jobs 0": Mistake(("build", "src", "out", "--jobs", "0"), 2, ("--jobs 0", ">= 1")),
    "build --min-saving 2": Mistake(("build", "src", "out", "--min-saving", "2"), 2, ("--min-saving 2.0",)),
    "build --prefix with ..": Mistake(("build", "src", "out", "--prefix", "/a/../b"), 2, ("--prefix /a/../b",)),
    "build --jobs x": Mistake(("build", "src", "out", "--jobs", "x"), 2, ("--jobs", "'x'")),
    "compress a missing directory": Mistake(("compress", "nonexist"), 2, ("nonexist", "not a directory")),
    "compress a file": Mistake(("compress", "src/ten.txt"), 2, ("src/ten.txt", "not a directory")),
    "compress --jobs 0": Mistake(("compress", "src", "--jobs", "0"), 2, ("--jobs 0",)),
    "inspect a missing directory": Mistake(("inspect", "nonexist"), 2, ("nonexist", "not a directory")),
    "inspect --max-age -1": Mistake(("inspect", "src", "--max-age", "-1"), 2, ("--max-age -1",)),
    "inspect --index-file a/b": Mistake(("inspect", "src", "--index-file", "a/b"), 2, ("--index-file a/b",)),
    "inspect --cors bad": Mistake(("inspect", "src", "--cors", "bad"), 2, ("--cors bad", "https://")),
    "inspect --prefix a?b": Mistake(("inspect", "src", "--prefix", "a?b"), 2, ("--prefix 'a?b'",)),
    "inspect URL without /": Mistake(("inspect", "src", "ten.txt"), 1, ("ten.txt", "did you mean '/ten.txt'")),
    "serve --port -1": Mistake(("serve", "src", "--port", "-1"), 2, ("--port", "'-1' is not a port")),
    "serve a missing directory": Mistake(("serve", "nonexist", "--port", "0"), 2, ("nonexist", "not a directory")),
    "serve --not-found missing": Mistake(
        ("serve", "src", "--port", "0", "--not-found", "404.html"),
        2,
        ("--not-found 404.html", "no root has a file 404.html"),
    ),
    "serve two ports": Mistake(("serve", "src", "0", "--port", "0"), 2, ("two ports given", "--port 0")),
    "serve PORT out of range": Mistake(("serve", "src", "99999"), 2, ("PORT '99999' is not a port",)),
    "serve two directories": Mistake(("serve", "src", "src", "-d", "src"), 2, ("two directories given", "--directory")),
    "serve a lone number that is no port": Mistake(("serve", "70000"), 2, ("PORT '70000' is not a port",)),
    "serve --max-age -1": Mistake(("serve", "src", "--port", "0", "--max-age", "-1"), 2, ("--max-age -1",)),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``src/ten.txt`` and a plain file ``a-file``."""
    top = tmp_path_factory.mktemp("cli-errors")
    write(top, "src/ten.txt", TEN)
    write(top, "a-file", "not a directory")
    return top


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_cli_mistake_gets_a_message_naming_the_flag(workdir: Path, mistake: Mistake) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "staticwrap", *mistake.argv],
        cwd=workdir,
        env=module_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert "Traceback" not in result.stderr
    assert result.returncode == mistake.status, result.stderr
    message = result.stderr.strip()
    for text in mistake.says:
        assert text in message
    assert not PYTHON_WORDS.search(message), message
    assert "Errno" not in message
    assert not (workdir / "out").exists()


def test_cli_help_shows_the_default_of_every_option_that_takes_a_value() -> None:
    for command in ["serve", "build", "compress", "inspect"]:
        text = _help_of(command)
        # One block per option: its line, then its help text's lines.
        blocks = re.split(r"\n(?=  -)", text.partition("options:")[2])
        takes_value = [block for block in blocks if re.match(r"  -\S*(?:, -\S+)? [A-Z{]", block)]
        assert takes_value, text
        for block in takes_value:
            if block.lstrip().startswith(("-h", "--version")):
                continue
            assert "default" in block, f"{command}: {block}"


def _help_of(command: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "staticwrap", command, "--help"],
        env={**module_env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return result.stdout


def test_python_callers_read_the_keyword_and_the_error_survives_pickling(tmp_path: Path) -> None:
    # The same error, raised deep in the configuration, read by a Python caller.
    with pytest.raises(ConfigurationError) as raised:
        StaticWrap(None, tmp_path, max_age=-1)
    assert str(raised.value) == "max_age=-1: give a whole number of seconds >= 0, or None"
    # Sent between processes (compression workers), it keeps the option it names.
    copy = pickle.loads(pickle.dumps(raised.value))
    assert (str(copy), copy.option, copy.value) == (str(raised.value), "max_age", -1)


@pytest.mark.parametrize(
    ("arguments", "python_only"),
    [
        (["serve", "--max-age", "-1", "."], "or None"),
        (["serve", "--index-file", "../x", "."], "or None"),
        (["inspect", "/nonexistent-staticwrap-root"], "autorefresh=True"),
    ],
)
def test_cli_messages_leave_out_what_only_python_callers_can_do(arguments: list[str], python_only: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "staticwrap", *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("staticwrap: error: ")
    assert python_only not in done.stderr
