"""Issue 13, the library's part of a newcomer's path: warnings, an empty root, a 503 in the log, peers' options.

- Warnings name the user's call (the file and line that called StaticWrap, add_files or init_app),
  not a line of staticwrap, and say "staticwrap" once (the category says it).
- A root with nothing to serve (empty, or every entry refused) gets a warning naming it and why.
- A file that cannot be read any more when a request asks for it: a 503, and one line in the
  server's error log (``wsgi.errors``) naming the file and the error. Tested as root too: the
  server runs without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv), as tests/test_hardening.py does.
- ``add_package(package, folder)``: a directory inside an importable package (importlib.resources).
- ``autorefresh=True`` accepts a root that does not exist yet, with a warning, and serves it once created.
- ``immutable`` accepts WhiteNoise's ``f(path, url)`` as well as ``f(url)``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from staticwrap import ConfigurationError, StaticWrap, StaticwrapWarning
from staticwrap.flask import init_app
from tests.conftest import downstream, make_environ, write
from tests.test_hardening import APP_MODULE, DAC_CAPABILITIES, serve
from tests.test_server import STATICWRAP_HOME, fetch, free_port, stop, wait_until_serving

HERE = os.path.abspath(__file__)


@contextlib.contextmanager
def caught() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning raised inside (the suite otherwise turns warnings into errors)."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        yield records


def only_staticwrap(records: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [record for record in records if issubclass(record.category, StaticwrapWarning)]


def line_after_this() -> int:
    """The number of the line after the caller's: where the call under test is written."""
    return sys._getframe(1).f_lineno + 1


# -- 1. warnings name the user's call, once ------------------------------------------------------


def tree_with_a_link_out(tmp_path: Path) -> Path:
    """A root with a file to serve and a symlink leading out of it (skipped with a warning)."""
    root = tmp_path / "root"
    write(root, "ok.txt", b"ok")
    write(tmp_path, "outside.txt", b"secret")
    (root / "out.txt").symlink_to(tmp_path / "outside.txt")
    return root


def check_attributed(records: list[warnings.WarningMessage], line: int) -> None:
    ours = only_staticwrap(records)
    assert ours, "no StaticwrapWarning was raised"
    for record in ours:
        assert (record.filename, record.lineno) == (HERE, line), f"{record.filename}:{record.lineno}: {record.message}"
        assert not str(record.message).lower().startswith("staticwrap"), record.message


def test_warning_of_the_constructor_names_the_callers_line(tmp_path: Path) -> None:
    root = tree_with_a_link_out(tmp_path)
    with caught() as records:
        line = line_after_this()
        StaticWrap(downstream, root)
    check_attributed(records, line)


def test_warning_of_add_files_names_the_callers_line(tmp_path: Path) -> None:
    root = tree_with_a_link_out(tmp_path)
    app = StaticWrap(downstream)
    with caught() as records:
        line = line_after_this()
        app.add_files(root, "/static/")
    check_attributed(records, line)


def test_warning_of_flask_init_app_names_the_callers_line(tmp_path: Path) -> None:
    app = Flask("newcomer", static_folder=str(tmp_path / "no-such-folder"))
    with caught() as records:
        line = line_after_this()
        init_app(app)
    check_attributed(records, line)
    assert str(tmp_path / "no-such-folder") in str(only_staticwrap(records)[0].message)


# -- 2. a root with nothing to serve --------------------------------------------------------------


def test_empty_root_warns_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "public"
    (root / "empty-subdirectory").mkdir(parents=True)
    with caught() as records:
        app = StaticWrap(downstream, root, prefix="/static/")
    messages = [str(record.message) for record in only_staticwrap(records)]
    assert len(messages) == 1, messages
    assert str(root) in messages[0]
    assert "/static/" in messages[0]
    assert "no file" in messages[0]
    assert app.files == {}


def test_root_whose_every_entry_is_refused_warns_saying_why(tmp_path: Path) -> None:
    root = tmp_path / "public"
    write(root, ".env", b"SECRET=1")
    write(root, ".git/config", b"[core]")
    write(tmp_path, "elsewhere.txt", b"outside")
    (root / "link.txt").symlink_to(tmp_path / "elsewhere.txt")
    with caught() as records:
        StaticWrap(downstream, root)
    summaries = [str(r.message) for r in only_staticwrap(records) if str(r.message).startswith(str(root) + " ")]
    assert len(summaries) == 1, [str(record.message) for record in records]
    summary = summaries[0]
    assert "allow_hidden=True" in summary  # the two hidden entries, and how to serve them
    assert "2 hidden" in summary
    assert "follow_symlinks=True" in summary  # the link out, and how to follow it


def test_root_with_a_file_to_serve_gets_no_such_warning(tmp_path: Path) -> None:
    root = tmp_path / "public"
    write(root, "site.css", b"body {}")
    write(root, ".env", b"SECRET=1")
    with caught() as records:
        StaticWrap(downstream, root)
    assert only_staticwrap(records) == []


# -- 3. a file unreadable while served: a 503 and a line in the server's error log ----------------

#: Run without the capabilities that let root read anything: serves argv[1], asks /big.bin, makes
#: it unreadable (mode 000), asks twice more, each time with its own wsgi.errors; a JSON report.
UNREADABLE_LATER = textwrap.dedent(
    """
    import io, json, os, sys
    from staticwrap import StaticWrap
    from tests.conftest import downstream, make_environ

    root = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else "big.bin"
    app = StaticWrap(downstream, root)

    def ask():
        errors = io.StringIO()
        started = []
        environ = make_environ("/" + name, environ={"wsgi.errors": errors})
        body = app(environ, lambda status, headers, exc_info=None: started.append(status))
        b"".join(body)
        getattr(body, "close", lambda: None)()
        return [int(started[0].split()[0]), errors.getvalue()]

    report = {"before": ask()}
    os.chmod(os.path.join(root, name), 0)
    report["after"] = [ask(), ask()]
    print(json.dumps(report))
    """
)

#: Larger than the memory cache's largest file: every request opens it on disk.
BIG = 512 * 1024


def without_dac(command: list[str]) -> list[str]:
    """``command`` run so that mode 000 keeps it out even as root (setpriv drops the DAC capabilities)."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv(1) is not installed (util-linux): root would read every file")
    return [setpriv, f"--inh-caps={DAC_CAPABILITIES}", f"--bounding-set={DAC_CAPABILITIES}", *command]


def python_path(*first: Path) -> str:
    return os.pathsep.join(filter(None, [*map(str, first), str(STATICWRAP_HOME), os.environ.get("PYTHONPATH")]))


def unreadable_later(root: Path, name: str, script: str = UNREADABLE_LATER) -> dict[str, Any]:
    """Run ``script`` (UNREADABLE_LATER or a twin) on ``root/name``, made unreadable there; its JSON report."""
    target = write(root, name, b"x" * BIG)
    try:
        result = subprocess.run(
            without_dac([sys.executable, "-c", script, str(root), name]),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": python_path()},
        )
    finally:
        target.chmod(0o644)
    if result.returncode != 0 and result.stderr.startswith("setpriv"):
        pytest.skip(f"setpriv cannot drop capabilities here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_unreadable_file_in_process_answers_503_and_writes_one_line_to_wsgi_errors(tmp_path: Path) -> None:
    report = unreadable_later(tmp_path / "root", "big.bin")
    assert report["before"] == [200, ""]
    for status, errors in report["after"]:
        assert status == 503
        lines = errors.splitlines()
        assert len(lines) == 1, errors  # one line per request
        assert str(tmp_path / "root" / "big.bin") in lines[0]
        assert os.strerror(13) in lines[0]  # EACCES: the error as the system names it


def test_the_log_line_of_an_unreadable_file_is_one_line_whatever_its_name(tmp_path: Path) -> None:
    # A name with a line break would otherwise write a line of its choosing
    # into the server's error log.
    report = unreadable_later(tmp_path / "root", "forged\n[CRITICAL] admin password reset\n.bin")
    for status, errors in report["after"]:
        assert status == 503
        assert errors.count("\n") == 1, errors
        assert errors.startswith("staticwrap: ")
        assert "forged\\n[CRITICAL]" in errors  # the name, with its line break escaped


@pytest.mark.server
def test_unreadable_file_under_gunicorn_answers_503_and_the_error_log_says_why(tmp_path: Path) -> None:
    root = tmp_path / "root"
    big = write(root, "big.bin", b"y" * BIG)
    server = tmp_path / "server"
    server.mkdir()
    (server / "hardening_app.py").write_text(APP_MODULE)
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--no-control-socket", "hardening_app:application",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": python_path(server), "HARDENING_ROOT": str(root), "HARDENING_AUTOREFRESH": "0"}
    log = server / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            without_dac(command), cwd=server, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_serving(process, port, log, "/static/big.bin")
        before = log.read_text(errors="replace")
        big.chmod(0)
        statuses = [fetch(port, "/static/big.bin").status for _ in range(2)]
    finally:
        big.chmod(0o644)
        stop(process)
    assert statuses == [503, 503]
    added = log.read_text(errors="replace")[len(before) :]
    lines = [line for line in added.splitlines() if str(big) in line]
    assert len(lines) == 2, added  # one line per request
    assert all(os.strerror(13) in line for line in lines), added


# -- 4. add_package --------------------------------------------------------------------------------


def make_package(base: Path, name: str) -> Path:
    """An importable package ``name`` under ``base`` with static/app.css."""
    write(base, f"{name}/__init__.py", b"")
    write(base, f"{name}/static/app.css", b"body { color: red }")
    return base / name


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory put on sys.path for this test; the modules imported from it are forgotten after."""
    base = tmp_path / "site-packages"
    base.mkdir()
    monkeypatch.syspath_prepend(str(base))
    before = set(sys.modules)
    yield base
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_add_package_serves_a_folder_of_a_package_on_disk(on_path: Path) -> None:
    make_package(on_path, "newcomer_pkg")
    app = StaticWrap(None)
    app.add_package("newcomer_pkg", "static", prefix="/static/")
    reply = serve(app, "/static/app.css")
    assert (reply.status, reply.body) == (200, b"body { color: red }")


def test_add_package_of_a_subpackage(on_path: Path) -> None:
    make_package(on_path / "newcomer_outer", "inner")
    write(on_path, "newcomer_outer/__init__.py", b"")
    app = StaticWrap(None)
    app.add_package("newcomer_outer.inner", "static")
    assert serve(app, "/app.css").status == 200


def test_add_package_of_a_missing_package_names_it_and_the_fix(on_path: Path) -> None:
    app = StaticWrap(None)
    with pytest.raises(ConfigurationError) as raised:
        app.add_package("newcomer_missing", "static")
    message = str(raised.value)
    assert "'newcomer_missing'" in message
    assert "install" in message


def test_add_package_of_a_missing_folder_names_package_folder_and_fix(on_path: Path) -> None:
    package = make_package(on_path, "newcomer_nofolder")
    app = StaticWrap(None)
    with pytest.raises(ConfigurationError) as raised:
        app.add_package("newcomer_nofolder", "assets")
    message = str(raised.value)
    assert "'newcomer_nofolder'" in message
    assert "'assets'" in message
    assert str(package / "assets") in message


def make_wheel(directory: Path, name: str) -> Path:
    """A wheel of the package ``name`` with static/app.css (PEP 427: a zip file with a .dist-info)."""
    files = {
        f"{name}/__init__.py": b"",
        f"{name}/static/app.css": b"body { color: blue }",
        f"{name}-1.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1\n".encode(),
        f"{name}-1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{name}-1.dist-info/RECORD,,"]
    wheel = directory / f"{name}-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{member},sha256={digest},{len(data)}")
        archive.writestr(f"{name}-1.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def test_add_package_installed_by_pip(tmp_path: Path, on_path: Path) -> None:
    wheel = make_wheel(tmp_path, "newcomer_installed")
    # --target: installed as pip installs into site-packages, into the directory on sys.path.
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(on_path)]
    subprocess.run([*command, str(wheel)], check=True, capture_output=True, timeout=120)
    app = StaticWrap(None)
    app.add_package("newcomer_installed", "static", prefix="/static/")
    reply = serve(app, "/static/app.css")
    assert (reply.status, reply.body) == (200, b"body { color: blue }")


def test_add_package_of_a_wheel_not_extracted_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(tmp_path, "newcomer_zipped")
    monkeypatch.syspath_prepend(str(wheel))  # zipimport: the package is imported from the archive
    app = StaticWrap(None)
    try:
        with pytest.raises(ConfigurationError) as raised:
            app.add_package("newcomer_zipped", "static")
    finally:
        sys.modules.pop("newcomer_zipped", None)
    message = str(raised.value)
    assert "'newcomer_zipped'" in message
    assert str(wheel) in message
    assert "zip" in message


def test_add_package_of_a_module_says_it_is_not_a_package() -> None:
    with pytest.raises(ConfigurationError, match=r"'json\.decoder' is a module, not a package"):
        StaticWrap(None).add_package("json.decoder", "static")


# -- 5. autorefresh and a root that does not exist yet ----------------------------------------------


def test_autorefresh_accepts_a_missing_root_and_serves_it_once_created(tmp_path: Path) -> None:
    root = tmp_path / "dist"
    with caught() as records:
        app = StaticWrap(downstream, root, prefix="/static/", autorefresh=True)
    messages = [str(record.message) for record in only_staticwrap(records)]
    assert len(messages) == 1, messages
    assert str(root) in messages[0]
    assert serve(app, "/static/app.js").passed_on
    write(root, "app.js", b"console.log(1)")  # the build tool runs
    reply = serve(app, "/static/app.js")
    assert (reply.status, reply.body) == (200, b"console.log(1)")


def test_without_autorefresh_a_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="autorefresh=True"):
        StaticWrap(downstream, tmp_path / "dist")


def test_autorefresh_still_refuses_a_root_that_is_a_file(tmp_path: Path) -> None:
    root = write(tmp_path, "dist", b"a file, not a directory")
    with pytest.raises(ConfigurationError, match="is not a directory") as raised:
        StaticWrap(downstream, root, autorefresh=True)
    assert "autorefresh=True" not in str(raised.value)


# -- 6. immutable with WhiteNoise's signature ---------------------------------------------------------


def cache_control(app: StaticWrap, url: str) -> str | None:
    return serve(app, url).header("Cache-Control")


def test_immutable_accepts_whitenoises_path_and_url_function(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "vendor/lib.js", b"lib")
    write(root, "app.js", b"app")
    calls: list[tuple[str, str]] = []

    def immutable_file_test(path: str, url: str) -> bool:
        calls.append((path, url))
        return path.endswith(os.sep + "lib.js")

    app = StaticWrap(downstream, root, prefix="/static/", immutable=immutable_file_test)
    assert sorted(calls) == [
        (str(root / "app.js"), "/static/app.js"),
        (str(root / "vendor/lib.js"), "/static/vendor/lib.js"),
    ]
    assert cache_control(app, "/static/vendor/lib.js") == "public, max-age=31536000, immutable"
    assert cache_control(app, "/static/app.js") == "public, max-age=60"


def test_immutable_still_accepts_a_function_of_the_url(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "app.js", b"app")
    app = StaticWrap(downstream, root, immutable=lambda url: url == "/app.js")
    assert cache_control(app, "/app.js") == "public, max-age=31536000, immutable"


def test_immutable_function_of_another_arity_is_refused(tmp_path: Path) -> None:
    def three(path: str, url: str, extra: str) -> bool:
        return False

    with pytest.raises(ConfigurationError, match=r"immutable=.*f\(url\).*f\(path, url\)"):
        StaticWrap(downstream, immutable=three)


def test_wsgi_errors_is_untouched_by_a_served_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "a.txt", b"a")
    app = StaticWrap(downstream, root)
    errors = io.StringIO()
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Callable[[bytes], None]:
        statuses.append(status)
        return lambda data: None

    body = app(make_environ("/a.txt", environ={"wsgi.errors": errors}), start_response)
    assert (statuses, b"".join(body)) == (["200 OK"], b"a")
    assert errors.getvalue() == ""
