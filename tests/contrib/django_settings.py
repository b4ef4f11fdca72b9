"""Settings of the Django project of tests/contrib/test_django.py.

A plain settings module (the django-stubs mypy plugin can load it too). The
directories are per test: the tests set ``STATIC_ROOT``, ``STATICFILES_DIRS``
and the rest with ``override_settings``. Django settings can be configured
once per process, so everything else a test needs is set here.
"""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = "staticwrap-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
INSTALLED_APPS = ["staticwrap.django", "django.contrib.staticfiles"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "staticwrap.django.middleware.StaticWrapMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "tests.contrib.django_urls"
TEMPLATES: list[dict[str, Any]] = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": []}]
DATABASES: dict[str, Any] = {}
USE_TZ = True
STATIC_URL = "/static/"
# Set per test; a server started in a subprocess gets it from the environment.
STATIC_ROOT: str | None = os.environ.get("STATICWRAP_TEST_STATIC_ROOT")
STATICFILES_DIRS = [path for path in os.environ.get("STATICWRAP_TEST_STATICFILES_DIRS", "").split(os.pathsep) if path]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "staticwrap.django.storage.StaticWrapStorage"},
}
# One process: the test files are small, and worker processes only add startup time.
STATICWRAP = {"build": {"jobs": 1}}
