"""The pages a newcomer follows, run as a reader runs them: in a shell, in a fresh virtual environment.

tests/test_docs.py runs the Python examples of every page in a prepared
namespace. This module runs the path of a new user instead: the pages of
:data:`READER_PATHS`, in order, each way through them in an empty directory
of its own, each page from that directory as if in a new terminal. Their
``console``, ``shell``, ``bash`` and ``sh`` blocks run as shell commands
(``$ `` prompts stripped). The quickstart's block that makes the virtual
environment runs once, so the environment is created once per test session
(the later ways through the pages find it as ``.venv``), and the ``pip
install`` commands install staticwrap from this checkout (the pages'
``/path/to/staticwrap``) with its real dependencies.

The pages' port, 8000, is replaced by a free one in every block (commands,
files saved, outputs); a server command that relies on its program's default
port is given the free one (:data:`PORT_FLAGS`).

What a console block shows after a command is compared with what the
command writes on standard output, after :func:`normalise` (dates, the
``Server`` header, timings and the port); a line ``...`` matches any lines.
A command followed by no output is not compared.

A reader keeps a terminal open: the ``. .venv/bin/activate``, ``cd`` and
``export`` commands run so far on a page are run again before each of its
later commands.

An rST comment right before a block (above its ``.. test:`` comment, if it
has one) says what else a reader does with it::

    .. reader: server /ten.txt

:data:`READER_WORDS` lists the words. Blocks of other languages without such
a comment are left to tests/test_docs.py.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The ways through the pages a newcomer follows, each in a directory of its
#: own: the documentation in order, and the README, the front page, alone.
READER_PATHS = (("docs/quickstart.rst", "docs/flask.rst", "docs/django.rst", "docs/cli.rst"), ("README.rst",))
READER_PAGES = tuple(page for path in READER_PATHS for page in path)
#: The placeholder the pages use for the checkout's directory.
CHECKOUT = "/path/to/staticwrap"
#: The port the pages show; each run uses a free one instead.
PAGE_PORT = "8000"

#: What an rST comment ``.. reader: WORDS`` before a block may say.
READER_WORDS = {
    "skip": "not run; say why after the word, in parentheses",
    "save": "save PATH: the reader saves the block as the file PATH",
    "settings": "settings PATH: lines the reader puts into the Django settings file PATH (see merge_settings)",
    "server": "server URL-PATH...: the last command serves until the next server or the end of the page; "
    "each URL path must answer 200 before the page goes on",
}
SHELLS = frozenset({"console", "shell", "bash", "sh"})
#: A hang guard for one command (pip installs included), not a limit on its cost.
COMMAND_TIMEOUT = 300
#: How a server command is given the run's port when the page relies on the program's default.
PORT_FLAGS = {
    "staticwrap serve": "--port {port}",
    "gunicorn": "--bind 127.0.0.1:{port}",
    "flask": "--port {port}",
    "runserver": "127.0.0.1:{port}",
}
#: Commands that change the state of the reader's terminal.
STATEFUL = re.compile(r"(?:\.|source|cd|export)\s")

_DIRECTIVE = re.compile(r"(?P<indent>[ ]*)\.\. (?:code-block|code|sourcecode)::[ ]*(?P<language>\S*)[ ]*")
_COMMENT = re.compile(r"[ ]*\.\. [\w-]+: ")
_READER = re.compile(r"[ ]*\.\. reader: (?P<words>.*)")
_OPTION = re.compile(r"[ ]*:[\w-]+:")


@dataclass(frozen=True)
class Command:
    """One command of a block, and the output the page shows for it (None: not shown)."""

    text: str
    output: str | None


@dataclass(frozen=True)
class ReaderBlock:
    """A block of a page with what a reader does with it."""

    page: str
    line: int
    language: str
    code: str
    action: str  # "", "skip", "save", "settings" or "server"
    arguments: tuple[str, ...] = ()
    marker: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.language in SHELLS

    def commands(self) -> list[Command]:
        """The commands of a shell block: ``$ `` lines in a console block, the whole block otherwise."""
        if self.language != "console":
            return [Command(self.code.rstrip("\n"), None)]
        commands: list[Command] = []
        text: list[str] = []
        output: list[str] = []
        lines = iter(self.code.splitlines())
        for line in lines:
            if line.startswith("$ "):
                if text:
                    commands.append(Command("\n".join(text), "\n".join(output) + "\n" if output else None))
                text, output = [line[2:]], []
                while text[-1].endswith("\\"):  # a command continued on the next line
                    text.append(next(lines))
            else:
                output.append(line)
        if text:
            commands.append(Command("\n".join(text), "\n".join(output).rstrip("\n") + "\n" if output else None))
        return commands


def _marker(lines: list[str], start: int) -> str:
    """The text of a ``.. reader:`` comment among the comments right before line ``start``."""
    index = start - 1
    while index >= 0 and (not lines[index].strip() or _COMMENT.match(lines[index])):
        reader = _READER.fullmatch(lines[index])
        if reader is not None:
            return reader.group("words")
        index -= 1
    return ""


def extract_reader_blocks(text: str, page: str) -> list[ReaderBlock]:
    """The code blocks of a page that a reader runs or saves, in order."""
    lines = text.splitlines()
    blocks: list[ReaderBlock] = []
    index = 0
    while index < len(lines):
        directive = _DIRECTIVE.fullmatch(lines[index])
        if directive is None:
            index += 1
            continue
        indent = len(directive.group("indent"))
        first = index + 1
        while first < len(lines) and (not lines[first].strip() or _OPTION.match(lines[first])):
            first += 1
        end = first
        while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
            end += 1
        code = textwrap.dedent("\n".join(lines[first:end])).strip("\n") + "\n"
        marker = _marker(lines, index)
        words = marker.split("(", 1)[0].split()
        language = directive.group("language").lower()
        if words or language in SHELLS:
            action, arguments = (words[0], tuple(words[1:])) if words else ("", ())
            blocks.append(ReaderBlock(page, first + 1, language, code, action, arguments, marker))
        index = max(end, index + 1)
    return blocks


def reader_blocks(page: str) -> list[ReaderBlock]:
    return extract_reader_blocks((REPO / page).read_text(encoding="utf-8"), page)


# -- comparing outputs -----------------------------------------------------------

#: What differs from one run to the next, and how it reads once normalised.
_VARYING = (
    (re.compile(r"^([ ]*(?:Date|Last-Modified|Server)): .*$", re.MULTILINE), r"\1: *"),
    (re.compile(r"\bin \d+\.\d+ s\b"), "in * s"),
)


def normalise(text: str, port: str) -> str:
    """Output as compared: CRLF as LF, varying values starred, the run's port as the page's."""
    text = text.replace("\r\n", "\n").replace(f":{port}/", f":{PAGE_PORT}/")
    for pattern, replacement in _VARYING:
        text = pattern.sub(replacement, text)
    return text


def matches(expected: str, actual: str) -> bool:
    """Whether the lines match, a line ``...`` (indented or not) standing for any lines, none included."""
    pattern = "".join(
        r"(?:.*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n"
        for line in expected.rstrip("\n").split("\n")
    )
    return re.fullmatch(pattern, actual.rstrip("\n") + "\n") is not None


# -- the Django settings a reader edits ------------------------------------------


def merge_settings(source: str, lines: str) -> str:
    """A settings module with ``lines`` put in as a reader does.

    An assignment replaces the assignment of the same name, where it is, or is
    added at the end. In a list, ``...`` stands for the entries the existing
    list has that the new one does not name. An import that the module does not
    have yet goes after its last import.
    """
    tree = ast.parse(source)
    existing = {
        node.targets[0].id: node
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    text = source.splitlines()
    replacements: dict[int, tuple[int, list[str]]] = {}  # first line -> (end line, new lines)
    added_imports: list[str] = []
    appended: list[str] = []
    for node in ast.parse(lines).body:
        segment = ast.get_source_segment(lines, node) or ""
        if isinstance(node, ast.Import | ast.ImportFrom):
            if segment not in source:
                added_imports.append(segment)
            continue
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in existing:
            old = existing[node.targets[0].id]
            new = _with_existing_entries(node, old, segment)
            replacements[old.lineno - 1] = (old.end_lineno or old.lineno, new.splitlines())
        else:
            appended.append(segment)
    result: list[str] = []
    index = 0
    after_imports = (imports[-1].end_lineno or 0) if imports else 0
    while index < len(text):
        if index == after_imports and added_imports:
            result.extend(added_imports)
        if index in replacements:
            end, new_lines = replacements[index]
            result.extend(new_lines)
            index = end
            continue
        result.append(text[index])
        index += 1
    return "\n".join([*result, "", *appended, ""])


def _with_existing_entries(node: ast.Assign, old: ast.Assign, segment: str) -> str:
    if not isinstance(node.value, ast.List) or not any(
        isinstance(item, ast.Constant) and item.value is Ellipsis for item in node.value.elts
    ):
        return segment
    named = [ast.literal_eval(item) for item in node.value.elts if not _is_ellipsis(item)]
    rest = [item for item in ast.literal_eval(old.value) if item not in named]
    entries: list[object] = []
    for item in node.value.elts:
        entries.extend(rest if _is_ellipsis(item) else [ast.literal_eval(item)])
    name = node.targets[0].id if isinstance(node.targets[0], ast.Name) else ""
    return f"{name} = [\n" + "".join(f"    {entry!r},\n" for entry in entries) + "]"


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


# -- running a page ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def reader_environment() -> dict[str, str]:
    """The environment of a new terminal: none of this test run's Python settings."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "PYTEST", "COV_CORE", "VIRTUAL_ENV", "DJANGO_", "FLASK_"))
    }
    own_bin = str(Path(sys.prefix) / "bin")
    environ["PATH"] = os.pathsep.join(entry for entry in environ.get("PATH", "").split(os.pathsep) if entry != own_bin)
    return environ


class PageError(AssertionError):
    """A block of a page does not do what the page says."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    output: Path
    errors: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Reader:
    """One page followed in a terminal opened in ``root``."""

    root: Path
    port: str
    logs: Path  # the servers' output, out of the reader's directory
    prelude: list[str] = field(default_factory=list)
    server: Server | None = None

    def _script(self, command: str) -> str:
        return "\n".join(["set -eo pipefail", *self.prelude, command])

    def _text(self, text: str) -> str:
        return text.replace(CHECKOUT, str(REPO)).replace(PAGE_PORT, self.port)

    def cwd(self) -> Path:
        result = subprocess.run(
            ["bash", "-c", self._script("pwd")],
            cwd=self.root,
            env=reader_environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(result.stdout.strip())

    def run(self, block: ReaderBlock) -> None:
        if block.action == "skip":
            return
        if block.action == "save":
            (self.cwd() / block.arguments[0]).write_text(self._text(block.code), encoding="utf-8")
        elif block.action == "settings":
            path = self.cwd() / block.arguments[0]
            path.write_text(merge_settings(path.read_text(encoding="utf-8"), block.code), encoding="utf-8")
        elif block.is_shell:
            commands = block.commands()
            last = commands.pop() if block.action == "server" else None
            for command in commands:
                self._command(block, command)
            if last is not None:
                self._serve(block, last)

    def _command(self, block: ReaderBlock, command: Command) -> None:
        text = self._text(command.text)
        try:
            result = subprocess.run(
                ["bash", "-c", self._script(text)],
                cwd=self.root,
                env=reader_environment(),
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise PageError(
                f"{block.where}: `{command.text}` did not end; if it is a server, say so with '.. reader: server PATH'"
            ) from None
        stdout, stderr = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
        if result.returncode != 0:
            raise PageError(
                f"{block.where}: `{command.text}` exited with status {result.returncode}\n{stdout}\n{stderr[-3000:]}"
            )
        if STATEFUL.match(command.text):
            self.prelude.append(text)
        self._compare(block, command, stdout)

    def _compare(self, block: ReaderBlock, command: Command, actual: str) -> None:
        if command.output is None:
            return
        got = normalise(actual, self.port)
        if not matches(normalise(command.output, self.port), got):
            raise PageError(
                f"{block.where}: `{command.text}` does not print what the page shows\n"
                f"--- the page shows:\n{command.output}--- it prints:\n{got}"
            )

    def _serve(self, block: ReaderBlock, command: Command) -> None:
        self.stop()
        text = self._text(command.text)
        flag = next((flag for program, flag in PORT_FLAGS.items() if program in text), None)
        if flag is not None and self.port not in text:  # otherwise the port is in a file the page saved
            text = f"{text} {flag.format(port=self.port)}"
        output = self.logs / f"server-{block.line}.out"
        errors = output.with_suffix(".err")
        with output.open("wb") as sink, errors.open("wb") as error_sink:
            process = subprocess.Popen(
                ["bash", "-c", self._script(text)],
                cwd=self.root,
                env=reader_environment(),
                stdout=sink,
                stderr=error_sink,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        self.server = Server(process, output, errors)
        for path in block.arguments:
            self._probe(block, command, path)
        self._compare(block, command, output.read_text(errors="replace"))

    def _probe(self, block: ReaderBlock, command: Command, path: str) -> None:
        assert self.server is not None
        url = f"http://127.0.0.1:{self.port}{path}"
        deadline = time.monotonic() + 60  # a hang guard while the server starts
        while True:
            if self.server.process.poll() is not None:
                raise PageError(
                    f"{block.where}: `{command.text}` exited with status {self.server.process.returncode}\n"
                    + self.server.output.read_text(errors="replace")[-3000:]
                    + self.server.errors.read_text(errors="replace")[-3000:]
                )
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    response.read()
                    return
            except urllib.error.HTTPError as error:
                error.close()
                raise PageError(f"{block.where}: `{command.text}` answers GET {path} with {error.code}") from None
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise PageError(f"{block.where}: `{command.text}` does not answer at {url}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@contextlib.contextmanager
def reader(root: Path) -> Iterator[Reader]:
    """A reader in a new terminal opened in ``root``; the server it started is stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="reader-logs-") as logs:
        session = Reader(root, str(free_port()), Path(logs))
        try:
            yield session
        finally:
            session.stop()


def follow(blocks: list[ReaderBlock], root: Path) -> None:
    """Follow one page in ``root``; the first block that fails is named."""
    with reader(root) as session:
        for block in blocks:
            session.run(block)


# -- the pages ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.server
def test_a_newcomer_follows_the_pages_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    first = tmp_path / "path-1"
    for number, path in enumerate(READER_PATHS, start=1):
        root = tmp_path / f"path-{number}"
        root.mkdir()
        if root != first:  # the virtual environment the quickstart made, made once
            (root / ".venv").symlink_to(first / ".venv", target_is_directory=True)
        for page in path:
            follow(reader_blocks(page), root)


# -- the harness itself -----------------------------------------------------------------


def test_reader_markers_are_known_words() -> None:
    for page in READER_PAGES:
        for block in reader_blocks(page):
            if not block.action:
                continue
            assert block.action in READER_WORDS, f"{block.where}: unknown word {block.action!r}; known: {READER_WORDS}"
            assert block.action != "skip" or "(" in block.marker, f"{block.where}: say why, as 'skip (why)'"
            needs = {"save": 1, "settings": 1}.get(block.action, 0)
            assert len(block.arguments) >= needs, f"{block.where}: '{block.action}' needs a path"
            assert block.action != "server" or block.arguments, f"{block.where}: say which URL paths the server serves"


def test_no_page_installs_staticwrap_from_pypi_before_a_release() -> None:
    blocks = [block for page in READER_PAGES for block in reader_blocks(page) if block.is_shell]
    assert len(blocks) >= 15, "the extractor finds too few shell blocks: has the markup changed?"
    for block in blocks:
        for command in block.commands():
            assert "pip install staticwrap" not in command.text or block.action == "skip", (
                f"{block.where}: there is no release of staticwrap to install yet"
            )


def test_console_blocks_are_split_into_commands_and_outputs() -> None:
    text = ".. code-block:: console\n\n   $ echo a \\\n   b\n   a b\n   $ true\n   $ printf 'c\\n'\n   c\n"
    [block] = extract_reader_blocks(text, "probe.rst")
    assert block.commands() == [
        Command("echo a \\\nb", "a b\n"),
        Command("true", None),
        Command("printf 'c\\n'", "c\n"),
    ]


def test_a_stale_output_fails(tmp_path: Path) -> None:
    text = ".. code-block:: console\n\n   $ printf 'hash: 1234\\n'\n   hash: 9999\n"
    with pytest.raises(PageError, match=r"probe\.rst:3: `printf 'hash: 1234\\n'` does not print what the page shows"):
        follow(extract_reader_blocks(text, "probe.rst"), tmp_path)


def test_an_output_elided_with_dots_matches(tmp_path: Path) -> None:
    text = ".. code-block:: console\n\n   $ printf 'a\\nb\\nc\\nd\\n'\n   a\n   ...\n   d\n"
    follow(extract_reader_blocks(text, "probe.rst"), tmp_path)


def test_a_failing_command_fails(tmp_path: Path) -> None:
    text = ".. code-block:: sh\n\n   ls does-not-exist\n"
    with pytest.raises(PageError, match=r"probe\.rst:3: `ls does-not-exist` exited with status 2"):
        follow(extract_reader_blocks(text, "probe.rst"), tmp_path)


def test_a_terminal_keeps_its_directory_and_variables(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    commands = ["$ cd sub", "$ export WORD=kept", "$ printf '%s %s\\n' $WORD $(basename $PWD)", "kept sub"]
    text = ".. code-block:: console\n\n" + "".join(f"   {line}\n" for line in commands)
    follow(extract_reader_blocks(text, "probe.rst"), tmp_path)


@pytest.mark.server
def test_a_server_that_does_not_serve_the_page_s_file_fails(tmp_path: Path) -> None:
    (tmp_path / "here.txt").write_text("here\n")
    served = (
        ".. reader: server /here.txt\n\n.. code-block:: console\n\n   $ python3 -m http.server --bind 127.0.0.1 8000\n"
    )
    follow(extract_reader_blocks(served, "probe.rst"), tmp_path)
    missing = served.replace("/here.txt", "/gone.txt")
    with pytest.raises(PageError, match=r"probe\.rst:5: .* answers GET /gone\.txt with 404"):
        follow(extract_reader_blocks(missing, "probe.rst"), tmp_path)


def test_a_saved_file_is_written_with_the_run_s_port(tmp_path: Path) -> None:
    text = ".. reader: save app.py\n\n.. code-block:: python\n\n   PORT = 8000\n"
    with reader(tmp_path) as session:
        for block in extract_reader_blocks(text, "probe.rst"):
            session.run(block)
        assert (tmp_path / "app.py").read_text() == f"PORT = {session.port}\n"


def test_settings_are_merged_as_a_reader_edits_them() -> None:
    source = textwrap.dedent("""\
        from pathlib import Path

        BASE_DIR = Path(".")
        DEBUG = True
        INSTALLED_APPS = [
            "a",
            "b.staticfiles",
            "c",
        ]
        """)
    lines = textwrap.dedent("""\
        import os

        DEBUG = os.environ.get("X") == "1"
        INSTALLED_APPS = ["w", "b.staticfiles", ...]
        STATIC_ROOT = BASE_DIR / "s"
        """)
    namespace: dict[str, object] = {}
    exec(merge_settings(source, lines), namespace)
    assert namespace["INSTALLED_APPS"] == ["w", "b.staticfiles", "a", "c"]
    assert namespace["DEBUG"] is False
    assert namespace["STATIC_ROOT"] == Path("s")


# -- scripts/setup, the first command of the README ------------------------------------


def _executable(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)


def test_setup_tries_the_candidate_pythons_quietly(tmp_path: Path) -> None:
    # pyenv puts a shim for every version it knows on PATH; a shim of a version
    # that is not selected exits 127 with a note on standard error.
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "setup", checkout / "scripts" / "setup")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for version in ("3.13", "3.12"):
        _executable(
            bin_dir / f"python{version}",
            f"#!/bin/sh\necho 'pyenv: python{version}: command not found' >&2\nexit 127\n",
        )
    # The first candidate that works: it checks its version for real, and makes
    # a .venv whose python accepts every pip command.
    _executable(
        bin_dir / "python3.11",
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = venv ]; then\n'
        '  mkdir -p "$3/bin" && printf "#!/bin/sh\\nexit 0\\n" > "$3/bin/python" && chmod +x "$3/bin/python"\n'
        '  echo python3.11 > "$3/made-by"; exit 0\n'
        "fi\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n',
    )
    for tool in ("strace", "npm"):  # present, so setup installs no system package
        _executable(bin_dir / tool, "#!/bin/sh\nexit 0\n")
    _executable(bin_dir / "ldconfig", "#!/bin/sh\necho 'libmagic.so.1 (libc6,x86-64) => /lib/libmagic.so.1'\n")
    environ = reader_environment()
    environ.pop("PYTHON", None)
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ['PATH']}"
    result = subprocess.run(
        [str(checkout / "scripts" / "setup")], cwd=checkout, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (checkout / ".venv" / "made-by").read_text() == "python3.11\n"
    assert result.stderr == "", "scripts/setup prints the candidates' complaints"
