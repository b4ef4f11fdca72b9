"""The Django settings of the collectstatic benchmark (:mod:`bench.collect`), read from the environment.

``BENCH_STORAGE`` is the staticfiles storage's dotted path, ``BENCH_STATIC_ROOT``
the output directory, and ``BENCH_DIRS`` a JSON list of ``[prefix, directory]``
pairs: the same source tree for every contender.
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "staticwrap-bench-only"
DEBUG = False
USE_TZ = True
DATABASES: dict[str, object] = {}
STATIC_URL = "/static/"
STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
STATICFILES_DIRS = [tuple(pair) for pair in json.loads(os.environ["BENCH_DIRS"])]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": os.environ["BENCH_STORAGE"]},
}
# staticwrap's app first, so that its collectstatic command is the one run;
# the other storages run Django's own command.
INSTALLED_APPS = (
    ["staticwrap.django", "django.contrib.staticfiles"]
    if os.environ["BENCH_STORAGE"].startswith("staticwrap.")
    else ["django.contrib.staticfiles"]
)
# The codings WhiteNoise writes (brotli and gzip): the same work for both.
STATICWRAP = {"build": {"codings": ["br", "gzip"]}}
