"""WSGI entry point: Django, with staticwrap serving the static files in front of it.

Gunicorn: ``gunicorn --chdir examples/django_project project.wsgi``.
"""

from __future__ import annotations

import os

from staticwrap.django import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_wsgi_application()
