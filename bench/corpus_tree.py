"""The source tree of the collectstatic benchmark: packages of the corpus a Django project vendors.

The packages are those of ``tests/corpus.py``, fetched and verified against
their registry's integrity value, then cached (see ``tests/corpus.py`` for
where). Each is put in ``STATICFILES_DIRS`` under a prefix of its own, as a
project vendors them. Only packages that every contender can build are
chosen: Django's ``ManifestStaticFilesStorage`` (and WhiteNoise's, built on
it) stops on a reference its post-processing cannot find, and the
packages the corpus lists as broken are left out.
"""

from __future__ import annotations

from tests.corpus import PACKAGES, Package, source_of

#: What a Django project with an admin, an API and a Bootstrap front end vendors.
FULL = (
    "bootstrap@5.3.8",
    "bootstrap-icons@1.13.2",
    "jquery@3.7.1",
    "select2@4.1.0",
    "htmx.org@2.0.11",
    "alpinejs@3.17.5",
    "chart.js@4.6.2",
    "leaflet@1.9.4",
    "Django@5.2.9",  # its admin's static files
    "djangorestframework@3.18.3",
    "django-debug-toolbar@8.0.0",
)
#: The smoke run's: seconds, not minutes.
QUICK = ("jquery@3.7.1", "htmx.org@2.0.11")


def _package(package_id: str) -> Package:
    for package in PACKAGES:
        if package.id == package_id or package.id.startswith(package_id.split("@")[0] + "@"):
            return package
    raise LookupError(f"{package_id} is not in tests/corpus.py")


def source_dirs(*, quick: bool) -> tuple[list[tuple[str, str]], str]:
    """``STATICFILES_DIRS`` pairs (prefix, directory), and a sentence describing them for the report."""
    packages = [_package(package_id) for package_id in (QUICK if quick else FULL)]
    dirs = [(package.name.split("/")[-1].replace(" ", "-").lower(), str(source_of(package))) for package in packages]
    names = ", ".join(package.id for package in packages)
    return dirs, f"The same STATICFILES_DIRS for every storage: {names} (from tests/corpus.py, verified pins)."
