"""Every Python example in the documentation runs, as a reader would run it.

The examples are the ``.. code-block:: python`` blocks (also ``.. code::``
and ``.. sourcecode::``), the literal blocks introduced by ``::`` (Python is
the docs' ``highlight_language``), and the ``.. code-block:: pycon``
sessions, which run under :mod:`doctest` with their output compared. They
are read from every ``docs/*.rst`` file and from ``README.rst``.

Each page is one session, as a reader works down it: its blocks run in
order, in one namespace, with a small project as the current directory
(``static/``, ``public/`` built by the pipeline, ``dist/``, a ``myproject``
package whose ``wsgi.py`` has an ``application``...; see :data:`FILES`).
The namespace starts with ``application``, a WSGI application, as in "wrap
the application your server loads". After each block, every object it bound
that serves files (a :class:`~staticwrap.StaticWrap`, or a Flask app given
``init_app``) is asked for one of its files, which must come back byte for
byte. A renamed option, a moved import or a wrong path therefore fails here.

tests/test_docs_shell.py follows the pages a newcomer reads as a reader does
instead: in a shell, in a fresh virtual environment, commands and servers
included.

An rST comment right before a block says what else the block needs::

    .. test: flask

:data:`WORDS` lists the words. Blocks of pages owned elsewhere, which
cannot carry such a comment, take their words and a line of set-up code
from :data:`EXTERNAL` instead.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import os
import re
import shutil
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("flask")
pytest.importorskip("django")

import django
from django.conf import settings as django_settings
from django.test import override_settings
from django.utils.module_loading import import_string
from flask import Flask

from staticwrap import StaticWrap
from staticwrap.asset import Asset
from staticwrap.build import build
from staticwrap.django import DjangoConfig
from tests.conftest import call, downstream

REPO = Path(__file__).resolve().parents[1]
PAGES = [*sorted((REPO / "docs").glob("*.rst")), REPO / "README.rst"]

#: What an rST comment ``.. test: WORDS`` before a block may say.
WORDS = {
    "skip": "not run; say why after the word, in parentheses",
    "fresh": "a new namespace, holding only ``application``, as on a new page",
    "flask": "a new Flask app as ``app`` (its static folder exists, no init_app yet), and ``create_app()``",
    "settings": "lines of settings.py: run with BASE_DIR, then every setting they define is checked",
    "django": "Django set up with the page's settings so far (STATIC_ROOT holds a build): wsgi.py code",
    "package": "the __init__.py of a package that has a views module; its create_app() is called and checked",
    "main": "run as the main module (``if __name__ == '__main__':``)",
    "any-output": "pycon whose output depends on files the page does not show: run it, do not compare the output",
}

#: Blocks of pages owned elsewhere, which cannot carry a ``.. test:`` comment:
#: (page, a piece of the block's code) -> (words, set-up code run before it).
EXTERNAL: dict[tuple[str, str], tuple[str, str]] = {
    # The signature of the constructor, written as a call.
    ("docs/options.rst", 'root=None, prefix="/", **options)'): (
        "",
        "from staticwrap import StaticWrap\noptions = {}\n",
    ),
    # "For a directory that holds index.html, css/site.css and docs/index.html, served at /".
    ("docs/options.rst", "sorted(application.files)"): ("", "application = StaticWrap(application, 'docroot/')\n"),
}

_DIRECTIVE = re.compile(r"(?P<indent>[ ]*)\.\. (?:code-block|code|sourcecode)::[ ]*(?P<language>\S*)[ ]*")
_MARKER = re.compile(r"[ ]*\.\. test: (?P<words>.*)")
_OPTION = re.compile(r"[ ]*:[\w-]+:")
PYTHON = frozenset({"", "python", "python3", "py"})  # "": highlight_language
PYCON = frozenset({"pycon"})


@dataclass(frozen=True)
class Block:
    """One example: where it is, what it is, and what it needs."""

    page: str  # relative to the repository, such as "docs/flask.rst"
    line: int  # the line of the page where the code starts (1-based)
    kind: str  # "python" or "pycon"
    code: str
    words: frozenset[str]
    marker: str = ""  # the text of its ``.. test:`` comment
    setup: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _body(lines: list[str], start: int, indent: int) -> tuple[int, int]:
    """The lines of the block after line ``start``: (first, end), its options and blank lines left out."""
    first = start + 1
    while first < len(lines) and (not lines[first].strip() or _OPTION.match(lines[first])):
        first += 1
    end = first
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    return first, end


def _marker(lines: list[str], start: int) -> str:
    """The text of a ``.. test:`` comment right before line ``start`` (blank lines between allowed)."""
    index = start - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    marker = _MARKER.fullmatch(lines[index]) if index >= 0 else None
    return marker.group("words") if marker is not None else ""


def extract_text(text: str, page: str) -> list[Block]:
    """The Python and pycon blocks of a page, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.fullmatch(line)
        if directive is not None:
            language = directive.group("language").lower()
            kind = "python" if language in PYTHON else "pycon" if language in PYCON else ""
            indent = len(directive.group("indent"))
        elif line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            kind, indent = "python", _indent(line)  # a literal block: highlight_language is python
        else:
            index += 1
            continue
        first, end = _body(lines, index, indent)
        code = textwrap.dedent("\n".join(lines[first:end])).strip("\n") + "\n"
        if kind and code.strip():
            marker, setup = _marker(lines, index), ""
            for (external_page, piece), (external_words, external_setup) in EXTERNAL.items():
                if external_page == page and piece in code:
                    marker, setup = f"{marker} {external_words}", external_setup
            words = frozenset(marker.split("(", 1)[0].split())
            blocks.append(Block(page, first + 1, kind, code, words, marker, setup))
        index = max(end, index + 1)  # never look for blocks inside a block
    return blocks


def extract(path: Path) -> list[Block]:
    return extract_text(path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix())


# -- the project a page runs in ------------------------------------------------

_CSS = "body {\n  margin: 0 auto;\n  font-family: system-ui, sans-serif;\n}\n" * 8
_LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><circle cx="24" cy="24" r="20"/></svg>\n'
_APP_CSS = ".logo {\n  width: 48px;\n  height: 48px;\n  background: url(../img/logo.svg) no-repeat;\n}\n"
_PAGE = (
    '<!doctype html>\n<link rel="stylesheet" href="css/app.css">\n<script type="module" src="js/main.js"></script>\n'
)
_WSGI = """\
def application(environ, start_response):
    body = b"Hello from myproject\\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

#: The files of the project every page runs in. ``site/`` is the worked
#: example of the pipeline page; ``assets/`` is a copy of it, and the
#: directories of :data:`BUILT` are builds of it.
FILES: dict[str, str | bytes] = {
    "static/css/site.css": _CSS,
    "static/js/app.js": 'console.log("app");\n',
    "static/img/logo.svg": _LOGO,
    "static/fonts/a.woff2": b"wOF2\x00\x01\x00\x00" + bytes(range(256)),
    "site/index.html": _PAGE,
    "site/css/app.css": _APP_CSS,
    "site/img/logo.svg": _LOGO,
    "site/js/main.js": 'import { greeting } from "./util.js";\n\ndocument.body.append(greeting);\n',
    "site/js/util.js": 'export const greeting = "Hello";\n',
    "dist/index.html": "<!doctype html>\n<title>dist</title>\n",
    "dist/assets/index-BxK3_a9Z.js": 'console.log("vite");\n',
    "dist/app-5XJ2VQ7M.js": 'console.log("esbuild");\n',
    "docroot/index.html": "<!doctype html>\n<title>home</title>\n",
    "docroot/css/site.css": _CSS,
    "docroot/docs/index.html": "<!doctype html>\n<title>docs</title>\n",
    "myproject/__init__.py": "",
    "myproject/wsgi.py": _WSGI,
    "snippetpkg/__init__.py": "",
    "snippetpkg/views.py": 'from flask import Blueprint\n\nbp = Blueprint("views", __name__)\n',
    "snippetpkg/static/css/site.css": _CSS,
}
#: Directories built from ``site/`` with ``staticwrap build``: what the pages serve
#: as a built tree (``staticfiles/`` is Django's STATIC_ROOT after collectstatic).
BUILT = ("public", "build/static", "staticfiles")
#: Top-level modules of the project, forgotten after each page.
PROJECT_MODULES = ("myproject", "snippetpkg")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project, built once; each page gets a copy."""
    root = tmp_path_factory.mktemp("project")
    for relative, content in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    for destination in BUILT:
        build(root / "site", root / destination, jobs=1)
    shutil.copytree(root / "site", root / "assets")
    (root / "public" / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the project (modification times kept, so manifests hold) as the current directory."""
    root = tmp_path / "project"
    shutil.copytree(template, root)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    environ = dict(os.environ)
    try:
        with warnings.catch_warnings():  # api.rst turns StaticwrapWarning into an error
            yield root
    finally:
        os.environ.clear()
        os.environ.update(environ)
        for name in list(sys.modules):
            if name.split(".", 1)[0] in PROJECT_MODULES:
                del sys.modules[name]


# -- checks --------------------------------------------------------------------


def _sample_urls(wrapper: StaticWrap) -> list[str]:
    """One file of each directory the wrapper serves (the first in the index with its prefix)."""
    prefixes = sorted({root.prefix for root in wrapper.index.roots}, key=len, reverse=True)
    samples: dict[str, str] = {}
    for url, entry in wrapper.files.items():
        if isinstance(entry, Asset) and url == entry.url and url.isascii():
            prefix = next((prefix for prefix in prefixes if url.startswith(prefix)), "/")
            samples.setdefault(prefix, url)
    return list(samples.values())


def _file_bytes(wrapper: StaticWrap, url: str) -> bytes:
    entry = wrapper.files[url]
    assert isinstance(entry, Asset)
    return Path(entry.identity.file.path).read_bytes()


def check_wrapper(wrapper: StaticWrap, where: str) -> None:
    """The files the wrapper indexed are served, byte for byte."""
    for url in _sample_urls(wrapper):
        result = call(wrapper, url)
        assert result.code == 200, f"{where}: GET {url} gave {result.status}"
        assert result.body == _file_bytes(wrapper, url), f"{where}: GET {url} sent other bytes than the file's"


def check_flask(app: Flask, where: str) -> None:
    """A Flask app given init_app serves its static files through staticwrap."""
    static = app.extensions.get("staticwrap")
    if static is None:
        return
    wrapper = static.wrapper
    client = app.test_client()
    for url in _sample_urls(wrapper):
        response = client.get(url)
        try:
            assert response.status_code == 200, f"{where}: GET {url} gave {response.status}"
            assert response.data == _file_bytes(wrapper, url), f"{where}: GET {url} sent other bytes than the file's"
        finally:
            response.close()


def _fingerprint(value: object) -> tuple[int, int]:
    # A Flask app changes what it serves in place (init_app), keeping its identity.
    static = value.extensions.get("staticwrap") if isinstance(value, Flask) else None
    return id(value), id(static)


def check_bound(value: object, where: str) -> None:
    if isinstance(value, StaticWrap):
        check_wrapper(value, where)
    elif isinstance(value, Flask):
        check_flask(value, where)


def check_settings(settings: Mapping[str, Any], where: str) -> None:
    """What a settings.py fragment names exists, and STATICWRAP passes staticwrap's checks."""
    ensure_django()
    for app in settings.get("INSTALLED_APPS", ()):
        if isinstance(app, str):
            importlib.import_module(app)
    for middleware in settings.get("MIDDLEWARE", ()):
        if isinstance(middleware, str):
            import_string(middleware)
    for storage in settings.get("STORAGES", {}).values():
        import_string(storage["BACKEND"])
    # Raises ConfigurationError, naming the key, for an unknown or bad one.
    config = DjangoConfig.from_settings(SimpleNamespace(**settings))
    if config.root is not None:
        assert os.path.isdir(config.root), f"{where}: STATICWRAP['root'] is not a directory of the project"


def ensure_django() -> None:
    """Django's settings, configured once per process: the same as tests/contrib/test_django.py's."""
    if not django_settings.configured:
        from tests.contrib import django_settings as module

        django_settings.configure(**{name: getattr(module, name) for name in dir(module) if name.isupper()})
        django.setup()


#: Settings of a page's settings.py fragments that a ``django`` block uses.
CARRIED = ("DEBUG", "STATIC_URL", "STATIC_ROOT", "STATICWRAP", "STORAGES", "STATICFILES_DIRS", "MIDDLEWARE")


@contextlib.contextmanager
def django_project(settings: Mapping[str, Any], root: Path) -> Iterator[None]:
    """Django set up as the page's settings say, with STATIC_ROOT as collectstatic left it."""
    ensure_django()
    overrides: dict[str, Any] = {"DEBUG": False, "STATIC_URL": "static/", "STATIC_ROOT": str(root / "staticfiles")}
    overrides.update((name, settings[name]) for name in CARRIED if name in settings)
    with override_settings(**overrides):
        yield


# -- running a page ------------------------------------------------------------


class _AnyOutput(doctest.OutputChecker):
    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return True


class Session:
    """The namespaces of one page, and the blocks run in them so far."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.namespace = self._namespace()
        self.settings: dict[str, Any] = {"BASE_DIR": root}

    def _namespace(self) -> dict[str, Any]:
        return {"__name__": "docs_example", "__file__": str(self.root / "app.py"), "application": downstream}

    @staticmethod
    def _flask() -> Flask:
        # A name no module has: Flask takes the current directory as the
        # app's root, so its static folder is the project's static/.
        return Flask("docs_example")

    def run(self, block: Block) -> None:
        if "skip" in block.words:
            return
        if "fresh" in block.words:
            self.namespace = self._namespace()
        if "flask" in block.words:
            self.namespace.update(app=self._flask(), create_app=self._flask)
        if "settings" in block.words:
            exec(_compile(block), self.settings)
            check_settings({key: value for key, value in self.settings.items() if key.isupper()}, block.where)
            return
        if "package" in block.words:
            # The package's own module namespace: its functions import from it later.
            package = self.root / "snippetpkg" / "__init__.py"
            module: dict[str, Any] = {"__name__": "snippetpkg", "__package__": "snippetpkg", "__file__": str(package)}
            exec(_compile(block), module)
            create_app: Callable[[], Flask] = module["create_app"]
            check_flask(create_app(), block.where)
            return
        namespace = self.namespace
        if block.setup:
            exec(block.setup, namespace)
        before = {key: _fingerprint(value) for key, value in namespace.items()}
        if "main" in block.words:
            namespace["__name__"] = "__main__"
        with django_project(self.settings, self.root) if "django" in block.words else contextlib.nullcontext():
            try:
                if block.kind == "pycon":
                    self._doctest(block)
                else:
                    exec(_compile(block), namespace)
            finally:
                namespace["__name__"] = "docs_example"
            for key, value in namespace.items():
                if before.get(key) != _fingerprint(value):
                    check_bound(value, block.where)

    def _doctest(self, block: Block) -> None:
        examples = doctest.DocTestParser().get_examples(block.code)
        test = doctest.DocTest(examples, self.namespace, block.where, block.page, block.line - 1, None)
        checker = _AnyOutput() if "any-output" in block.words else None
        runner = doctest.DocTestRunner(checker=checker, optionflags=doctest.ELLIPSIS, verbose=False)
        report: list[str] = []
        runner.run(test, out=report.append, clear_globs=False)
        self.namespace.update(test.globs)  # DocTest ran on a copy
        if runner.failures:
            raise AssertionError(f"the pycon session does not give what the page shows\n{''.join(report)}")


def _compile(block: Block) -> Any:
    # Padded so that a traceback gives the line of the page.
    return compile("\n" * (block.line - 1) + block.code, block.page, "exec")


def run_page(blocks: list[Block], root: Path) -> None:
    """Run the blocks of one page in order; the first that fails is named."""
    session = Session(root)
    for block in blocks:
        try:
            session.run(block)
        except Exception as error:
            raise AssertionError(f"the example at {block.where} fails: {type(error).__name__}: {error}") from error


@pytest.mark.parametrize("page", PAGES, ids=[page.relative_to(REPO).as_posix() for page in PAGES])
def test_examples_run(page: Path, project: Path) -> None:
    run_page(extract(page), project)


# -- the harness itself ----------------------------------------------------------


def test_every_page_is_read() -> None:
    blocks = [block for page in PAGES for block in extract(page)]
    assert len(blocks) >= 35, "the extractor finds too few blocks: has the markup changed?"
    pages = {block.page for block in blocks}
    assert pages >= {"README.rst", "docs/quickstart.rst", "docs/migrating.rst", "docs/deployment.rst"}


def test_markers_are_known_words() -> None:
    for page in PAGES:
        for block in extract(page):
            unknown = block.words - set(WORDS)
            assert not unknown, f"{block.where}: unknown word in '.. test:': {sorted(unknown)}; known: {sorted(WORDS)}"
            assert "skip" not in block.words or "(" in block.marker, f"{block.where}: say why, as 'skip (why)'"


def test_external_entries_match_one_block() -> None:
    for page, piece in EXTERNAL:
        matching = [block for block in extract(REPO / page) if piece in block.code]
        assert len(matching) == 1, f"EXTERNAL entry {(page, piece)} matches {len(matching)} blocks of {page}"


def test_a_renamed_option_fails(project: Path) -> None:
    text = (
        "Title\n=====\n\n.. code-block:: python\n\n"
        '   from staticwrap import StaticWrap\n\n   application = StaticWrap(application, "static/", max_agee=60)\n'
    )
    blocks = extract_text(text, "probe.rst")
    assert [block.line for block in blocks] == [6]
    with pytest.raises(AssertionError, match=r"probe\.rst:6 fails: ConfigurationError: unknown option 'max_agee'"):
        run_page(blocks, project)


def test_a_wrong_path_fails(project: Path) -> None:
    text = "Literal::\n\n    from staticwrap import StaticWrap\n    application = StaticWrap(application, 'nowhere/')\n"
    with pytest.raises(AssertionError, match="is not a directory"):
        run_page(extract_text(text, "probe.rst"), project)


def test_a_wrong_pycon_output_fails(project: Path) -> None:
    with pytest.raises(AssertionError, match="does not give what the page shows"):
        run_page(extract_text(".. code-block:: pycon\n\n   >>> 1 + 1\n   3\n", "probe.rst"), project)


def test_a_bad_setting_fails(project: Path) -> None:
    text = '.. test: settings\n\n.. code-block:: python\n\n   STATICWRAP = {"max_agee": 60}\n'
    with pytest.raises(AssertionError, match="unknown key 'max_agee'"):
        run_page(extract_text(text, "probe.rst"), project)


def test_a_missing_import_fails(project: Path) -> None:
    text = ".. test: flask\n\n.. code-block:: python\n\n   bp = Blueprint('admin', __name__)\n"
    with pytest.raises(AssertionError, match="NameError"):
        run_page(extract_text(text, "probe.rst"), project)


def test_readme_renders_without_warnings() -> None:
    # README.rst is the package's long description: PyPI renders it with plain docutils, not Sphinx.
    core = pytest.importorskip("docutils.core")
    text = (REPO / "README.rst").read_text(encoding="utf-8")
    overrides = {"halt_level": 2, "report_level": 2, "warning_stream": False, "syntax_highlight": "none"}
    core.publish_doctree(text, settings_overrides=overrides)
