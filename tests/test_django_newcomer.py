"""A Django newcomer's mistakes get a message, never a traceback (issue 13).

Most tests run a real project, made by ``django-admin startproject`` and set
up as docs/django.rst says, in subprocesses: ``manage.py check``,
``collectstatic`` and ``runserver`` as a user types them. The checks'
variations and the DEBUG 404 run in this process, on the project of
tests/contrib/test_django.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("django")

from django.core.checks import run_checks
from webtest import TestApp

from staticwrap import ConfigurationError
from staticwrap.django import DjangoConfig
from tests.conftest import write
from tests.contrib import test_django
from tests.contrib.test_django import Overrides, application_for, settings_object
from tests.test_server import STARTUP_TIMEOUT, STATICWRAP_HOME, fetch, free_port, stop

# The fixtures of the in-process Django project.
overrides = test_django.overrides
mode = test_django.mode
app_package = test_django.app_package

#: What a Python traceback starts with: no command may print one.
TRACEBACK = "Traceback (most recent call last)"

#: Appended to a fresh project's settings.py: staticwrap set up as docs/django.rst says.
SETTINGS = """
INSTALLED_APPS.insert(0, "staticwrap.django")
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "staticwrap.django.storage.StaticWrapStorage"},
}
"""


class Project:
    """A project made by ``django-admin startproject mysite``, run as its user runs it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        base.mkdir()
        subprocess.run(
            [sys.executable, "-m", "django", "startproject", "mysite", str(base)],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.settings(SETTINGS)
        wsgi = base / "mysite" / "wsgi.py"
        wsgi.write_text(
            wsgi.read_text().replace(
                "from django.core.wsgi import get_wsgi_application",
                "from staticwrap.django import get_wsgi_application",
            )
        )

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(STATICWRAP_HOME)]))}
        env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets its own
        return env

    def settings(self, text: str) -> None:
        """Append ``text`` to settings.py."""
        path = self.base / "mysite" / "settings.py"
        path.write_text(path.read_text() + text)

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.base,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        """``manage.py ARGS`` in the background, its output in ``log``; stop it with ``stop``."""
        with log.open("wb") as output:
            return subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=self.base,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "site")


def output_of(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


# -- a missing root ---------------------------------------------------------------------------------


def test_check_reports_a_root_that_is_not_a_directory(project: Project) -> None:
    project.settings('STATICWRAP = {"root": BASE_DIR / "public"}\n')
    done = project.manage("check")
    assert done.returncode == 1, output_of(done)
    assert "staticwrap.E001" in done.stderr
    assert f"{project.base / 'public'}' is not a directory" in done.stderr
    assert TRACEBACK not in output_of(done)


def test_check_suggests_the_directory_the_root_meant(project: Project) -> None:
    (project.base / "public").mkdir()
    project.settings('STATICWRAP = {"root": BASE_DIR / "pubilc"}\n')
    done = project.manage("check")
    assert done.returncode == 1, output_of(done)
    assert f"did you mean '{project.base / 'public'}'?" in done.stderr


@pytest.mark.parametrize("options", [("--noreload",), ("--noreload", "--skip-checks")], ids=["checks", "skip-checks"])
def test_runserver_reports_a_missing_root_without_a_traceback(project: Project, options: tuple[str, ...]) -> None:
    project.settings('STATICWRAP = {"root": BASE_DIR / "public"}\n')
    done = project.manage("runserver", f"127.0.0.1:{free_port()}", *options)
    assert done.returncode == 1, output_of(done)
    assert f"{project.base / 'public'}' is not a directory" in done.stderr
    assert TRACEBACK not in output_of(done)


def test_runserver_with_its_reloader_reports_without_a_traceback_and_restarts_once_fixed(
    project: Project, tmp_path: Path
) -> None:
    # The reloader runs the server in a thread, whose exception Python
    # would print with its traceback; the reloader goes on watching files.
    project.settings('STATICWRAP = {"max_agee": 10}\n')
    log = tmp_path / "runserver.log"
    port = free_port()
    process = project.start("runserver", f"127.0.0.1:{port}", log=log)
    try:
        wait_for(log, "did you mean 'max_age'?", process)
        assert process.poll() is None, log.read_text()
        (project.base / "public").mkdir()
        write(project.base / "public", "hello.txt", "hello\n")
        path = project.base / "mysite" / "settings.py"
        fixed = path.read_text().replace('{"max_agee": 10}', '{"max_age": 10, "root": BASE_DIR / "public"}')
        # Saved until the reloader sees it: it may not have read the files' times yet.
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "changed, reloading" not in log.read_text() and time.monotonic() < deadline:
            path.write_text(fixed)
            time.sleep(0.2)
        wait_for(log, "Starting development server", process)
        response = wait_for_answer(port, "/hello.txt")
    finally:
        stop(process)
    assert (response.status, response.body) == (200, b"hello\n")
    assert TRACEBACK not in log.read_text()


def wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    """Wait (bounded) until ``text`` is in ``log``."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while text not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no {text!r} in the output:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)


def wait_for_answer(port: int, path: str) -> test_django.Fetched:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            return test_django.http_get(port, path)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- a misspelt key -----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["first", "last"])
def test_collectstatic_reports_a_misspelt_key_as_a_command_error(project: Project, order: str) -> None:
    if order == "last":  # a newcomer appends the app: staticfiles' collectstatic runs (W004 says so)
        project.settings('INSTALLED_APPS.remove("staticwrap.django")\nINSTALLED_APPS.append("staticwrap.django")\n')
    project.settings('STATICWRAP = {"max_agee": 10}\n')
    done = project.manage("collectstatic", "--noinput")
    assert done.returncode == 1, output_of(done)
    assert "CommandError: settings.STATICWRAP has an unknown key 'max_agee': did you mean 'max_age'?" in done.stderr
    assert TRACEBACK not in output_of(done)
    if order == "first":  # staticwrap's collectstatic checks the settings before it copies anything
        assert not (project.base / "staticfiles").exists()


def test_other_commands_report_a_misspelt_key_through_the_checks(project: Project) -> None:
    project.settings('STATICWRAP = {"max_agee": 10}\n')
    done = project.manage("migrate")
    assert done.returncode == 1, output_of(done)
    assert "staticwrap.E001" in done.stderr
    assert "did you mean 'max_age'?" in done.stderr
    assert TRACEBACK not in output_of(done)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"charset": 5}, "settings.STATICWRAP['charset'] = 5: give a charset name"),
        ({"immutable": "("}, "settings.STATICWRAP['immutable'] = '(' is not a valid regular expression"),
        ({"build": {"codings": ["zip"]}}, "settings.STATICWRAP['build']: codings: unknown coding 'zip'"),
    ],
)
def test_bad_values_are_named_as_settings_keys(given: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DjangoConfig.from_settings(settings_object(STATICWRAP=given))
    assert str(raised.value).startswith(message)


# -- a setting one edit away from STATICWRAP ----------------------------------------------------------


@pytest.mark.parametrize("name", ["STATICWARP", "STATIC_WRAP", "STATICWRAPS", "STATICWRA", "STATICWRAB"])
def test_check_warns_of_a_setting_one_edit_from_staticwrap(overrides: Overrides, name: str) -> None:
    overrides(**{name: {"max_age": 10}})
    warnings = [message for message in run_checks(tags=["staticwrap"]) if message.id == "staticwrap.W005"]
    assert len(warnings) == 1
    assert f"settings.{name}" in warnings[0].msg
    assert "STATICWRAP" in (warnings[0].hint or "")


@pytest.mark.parametrize("name", ["STATIC_URL", "STATICFILES_DIRS", "STATIC_WRAPS", "STATICWRAP_X"])
def test_check_leaves_settings_further_away_alone(overrides: Overrides, name: str) -> None:
    overrides(**{name: "static/"})
    assert [message.id for message in run_checks(tags=["staticwrap"]) if message.id == "staticwrap.W005"] == []


def test_check_warns_of_a_near_miss_in_a_real_project(project: Project) -> None:
    project.settings('STATICWARP = {"max_age": 10}\n')
    done = project.manage("check")
    assert done.returncode == 0, output_of(done)
    assert "staticwrap.W005" in done.stderr
    assert "settings.STATICWARP" in done.stderr


# -- DEBUG: a 404 under STATIC_URL says where staticwrap looked ------------------------------------


def test_debug_404_names_the_finders_and_directories_searched(
    mode: str, app_package: tuple[str, Path], overrides: Overrides, tmp_path: Path
) -> None:
    name, static = app_package
    extra = tmp_path / "assets"
    extra.mkdir()
    overrides(STATICFILES_DIRS=[str(extra), str(tmp_path / "absent")])
    response = TestApp(application_for(mode, overrides)).get(f"/static/{name}/missing.css", status=404)
    assert response.content_type == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = response.text
    assert "django.contrib.staticfiles.finders.FileSystemFinder" in text
    assert "django.contrib.staticfiles.finders.AppDirectoriesFinder" in text
    assert str(extra / name / "missing.css") in text
    assert str(static / "missing.css") in text
    assert f"{tmp_path / 'absent'} is not a directory" in text
    # The order searched: STATICFILES_DIRS first, then the apps' directories.
    assert text.index(str(extra / name)) < text.index(str(static / "missing.css"))


def test_debug_404_escapes_the_path_it_echoes(mode: str, app_package: tuple[str, Path], overrides: Overrides) -> None:
    response = TestApp(application_for(mode, overrides)).get("/static/<b>x</b>%0D%0AX-Bad:%201", status=404)
    assert "<b>" not in response.text
    assert "\r" not in response.text
    assert "%3Cb%3Ex%3C/b%3E%0D%0AX-Bad:%201" in response.text


def test_debug_404_names_the_file_looked_for_by_its_name_not_its_url_encoding(
    mode: str, app_package: tuple[str, Path], overrides: Overrides
) -> None:
    name, static = app_package
    text = TestApp(application_for(mode, overrides)).get(f"/static/{name}/a%20b%C3%A9.css", status=404).text
    assert str(static / "a bé.css") in text
    assert "a%20b" not in text.split("Looked for", 1)[1]


def test_debug_404_looks_for_no_file_outside_a_directory(
    mode: str, app_package: tuple[str, Path], overrides: Overrides
) -> None:
    name, _ = app_package
    text = TestApp(application_for(mode, overrides)).get(f"/static/{name}/../../etc/passwd", status=404).text
    assert "passwd" not in text.split("\n", 1)[1]  # only the URL echoed on the first line names it
    assert "findstatic" not in text
    assert "not a file name" in text


def test_debug_404_answers_head_without_a_body(mode: str, app_package: tuple[str, Path], overrides: Overrides) -> None:
    name, _ = app_package
    response = TestApp(application_for(mode, overrides)).head(f"/static/{name}/missing.css", status=404)
    assert response.body == b""


def test_no_debug_404_leaks_nothing(mode: str, app_package: tuple[str, Path], overrides: Overrides) -> None:
    name, static = app_package
    overrides(DEBUG=False, STATIC_ROOT=str(static.parent))
    response = TestApp(application_for(mode, overrides)).get(f"/static/{name}/missing.css", status=404)
    assert "Finder" not in response.text
    assert str(static) not in response.text


def test_debug_404_leaves_other_paths_to_django(mode: str, app_package: tuple[str, Path], overrides: Overrides) -> None:
    response = TestApp(application_for(mode, overrides)).get("/page/")
    assert response.text == "view:GET /page/"


def test_runserver_debug_404_in_a_real_project(project: Project, tmp_path: Path) -> None:
    log = tmp_path / "runserver.log"
    port = free_port()
    process = project.start("runserver", f"127.0.0.1:{port}", "--noreload", log=log)
    try:
        wait_for(log, "Starting development server", process)
        response = fetch(port, "/static/css/missing.css")
    finally:
        stop(process)
    assert response.status == 404
    body = response.body.decode()
    assert "django.contrib.staticfiles.finders.AppDirectoriesFinder" in body
    assert "django/contrib/admin/static/css/missing.css" in body
