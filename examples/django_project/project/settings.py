"""Settings of the staticwrap example project.

``DJANGO_DEBUG=0`` switches to production: files are served from
``STATIC_ROOT``, which ``manage.py collectstatic`` fills with the staticwrap
build (hashed names, SRI, precompressed variants). ``DJANGO_STATIC_ROOT``
moves ``STATIC_ROOT`` elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]

INSTALLED_APPS = [
    # Before django.contrib.staticfiles: its runserver leaves static files to staticwrap.
    "staticwrap.django",
    "django.contrib.staticfiles",
    "pages",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES: dict[str, dict[str, str]] = {}  # the example needs no database
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "staticwrap.django.storage.StaticWrapStorage"},
}
STATICWRAP = {
    # robots.txt and favicon.svg at the top of the site.
    "root": BASE_DIR / "public",
}
