"""The corpus: unmodified releases that Python web projects vendor, pinned, fetched and cached.

Each :class:`Package` is pinned by version and by the integrity the registry
publishes for its archive: npm's ``dist.integrity`` (SHA-512 of the tarball),
PyPI's SHA-256 of the exact wheel file. :func:`fetch` gets an archive with the
registry's own client (``npm pack``, ``pip download``), checks it against the
pin, and extracts it into a cache outside the repository
(``$STATICWRAP_CORPUS_CACHE``, else ``$XDG_CACHE_HOME/staticwrap-corpus``, else
``~/.cache/staticwrap-corpus``). A tree is put in place only after its archive
was verified, so a tree found in the cache is never fetched again.

``python -m tests.corpus --table`` builds every package with br and gzip and
prints the table of issue 12 (files, references rewritten, build seconds,
bytes saved by br).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from staticwrap import references

NPM = "npm"
PYPI = "pypi"

#: The codings the corpus test writes. brotli at quality 11 costs about 1 s per
#: MiB: the whole corpus with br takes over ten minutes on two cores, against
#: about two with gzip alone. Packages with ``all_codings`` also get br and zstd.
TEST_CODINGS = ("gzip",)
ALL_CODINGS = ("br", "zstd", "gzip")


class FetchError(Exception):
    """A registry client could not fetch a package (no network, no client, a registry error)."""


class IntegrityError(Exception):
    """A fetched archive does not match its pin: never a network problem, always a failure."""


@dataclass(frozen=True)
class Broken:
    """A reference that is genuinely broken in the released package, so that a strict build must stop on it."""

    #: The file, relative to the package's SRC.
    file: str
    #: The reference as written; ``""`` when the file itself is broken (a source map that is not JSON).
    reference: str
    why: str


@dataclass(frozen=True)
class Package:
    """A pinned release and the directory of it that people vendor."""

    registry: str
    name: str
    version: str
    #: npm: the registry's ``dist.integrity`` (``sha512-<base64>``); PyPI: ``<wheel file name> sha256:<hex>``.
    integrity: str
    #: The directory of the release that is vendored (the build's SRC), relative to the archive's root.
    src: str
    #: What the package brings to the corpus.
    covers: str
    broken: tuple[Broken, ...] = ()
    #: Build with br and zstd too (small packages only, for the test's time).
    all_codings: bool = False

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def codings(self) -> tuple[str, ...]:
        return ALL_CODINGS if self.all_codings else TEST_CODINGS


def _npm(name: str, version: str, integrity: str, src: str, covers: str, **options: object) -> Package:
    return Package(NPM, name, version, integrity, src, covers, **options)  # type: ignore[arg-type]


def _pypi(name: str, version: str, wheel: str, sha256: str, src: str, covers: str, **options: object) -> Package:
    return Package(PYPI, name, version, f"{wheel} sha256:{sha256}", src, covers, **options)  # type: ignore[arg-type]


_NO_MAP = (
    "its sourceMappingURL names a map the release does not ship: developer tools get a 404 for it, and no build "
    "can give it a hashed name"
)
_BOOTSWATCH_THEMES = (
    "brite",
    "cerulean",
    "cosmo",
    "cyborg",
    "darkly",
    "flatly",
    "journal",
    "litera",
    "lumen",
    "lux",
    "materia",
    "minty",
    "morph",
    "pulse",
    "quartz",
    "sandstone",
    "simplex",
    "sketchy",
    "slate",
    "solar",
    "spacelab",
    "superhero",
    "united",
    "vapor",
    "yeti",
    "zephyr",
)

PACKAGES: tuple[Package, ...] = (
    # CSS frameworks with fonts and images.
    _npm(
        "bootstrap",
        "5.3.8",
        "sha512-HP1SZDqaLDPwsNiqRqi5NcP0SSXciX2s9E+RyqJIIqGo+vJeN5AJVM98CXmW/Wux0nQ5L7jeWUdplCEf0Ee+tg==",
        "dist",
        "CSS framework; PostCSS maps that list their own stylesheet (issue 12's cycle); ESM and UMD bundles "
        "(br and zstd: built with every coding through the CLI)",
    ),
    _npm(
        "bootstrap",
        "3.4.1",
        "sha512-yN5oZVmRCwe5aKwzRj6736nSmKDX7pLYwsXiCj/EYmo16hODaBiT4En5btW/jhBF/seV+XMx3aYwukYC3A49DA==",
        "dist",
        "CSS framework with an icon font (Glyphicons: eot?#iefix, svg#fragment)",
        all_codings=True,
    ),
    _npm(
        "bulma",
        "1.0.4",
        "sha512-Ffb6YGXDiZYX3cqvSbHWqQ8+LkX6tVoTcZuVB3lm93sbAVXlO0D6QlOTMnV6g18gILpAXqkG2z9hf9z4hCjz2g==",
        "css",
        "CSS framework: large stylesheets, their maps and minified copies",
    ),
    _npm(
        "leaflet",
        "1.9.4",
        "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
        "dist",
        "map library: CSS with images, UMD and ESM bundles with maps",
    ),
    _npm(
        "jquery-ui-dist",
        "1.13.3",
        "sha512-qeTR3SOSQ0jgxaNXSFU6+JtxdzNUSJKgp8LCzVrVKntM25+2YBJW1Ea8B2AwjmmSHfPLy2dSlZxJQN06OfVFhg==",
        "",
        "widget library: theme CSS with sprite images",
    ),
    _npm(
        "katex",
        "0.16.22",
        "sha512-XCHRdUw4lf3SKBaJe4EvgqIuWwkPSo9XoeO8GjQW94Bp7TWv9hNhzZjZ+OH9yf1UmLygb7DIT5GSFQiyt16zYg==",
        "dist",
        "math typesetting: CSS with woff2/woff/ttf fonts, ESM contrib modules",
    ),
    # Icon fonts and SVG sprites.
    _npm(
        "bootstrap-icons",
        "1.13.2",
        "sha512-fAU1Ly3dH7hwRg+CB8EZ0Vl0fF80zgXHeUVJyfUOKzoURr+TbwISbCW5tKUoQLERaWYG2emTCybcPbD96hdD1A==",
        "",
        "icon font with a query string in its url()s, an SVG sprite, 2,000 SVG icons",
    ),
    _npm(
        "@fortawesome/fontawesome-free",
        "6.7.2",
        "sha512-JUOtgFW6k9u4Y+xeIaEiLr3+cjoUPiAuLXoyKOJSia6Duzb7pq+A76P9ZdPDoAoxHdHzq6gE9/jKBGXlZT8FbA==",
        "",
        "icon fonts (css/ -> ../webfonts/), SVG sprites, 2,000 SVG icons, JS loaders",
    ),
    _npm(
        "font-awesome",
        "4.7.0",
        "sha512-U6kGnykA/6bFmg1M/oT9EkFeIYv7JlX3bozwQJWiiLz6L0w3F5vBVPxHlwyX/vtNq1ckcpRKOB9f2Qal/VtFpg==",
        "",
        "icon font of the Bootstrap 3 era: url('../fonts/x.eot?#iefix&v=4.7.0')",
        all_codings=True,
    ),
    _npm(
        "feather-icons",
        "4.29.2",
        "sha512-0TaCFTnBTVCz6U+baY2UJNKne5ifGh7sMG4ZC2LoBWCZdIyPa+y6UiR4lEYGws1JOFWdee8KAsAIvu0VcXqiqA==",
        "dist",
        "an SVG sprite and single icons",
    ),
    # ES-module libraries that import each other.
    _npm(
        "lit",
        "3.3.3",
        "sha512-fycuvZg/hkpozL00lm1pEJH5nN/lr9ZXd6mJI2HSN4+Bzc+LDNdEApJ6HFbPkdFNHLvOplIIuJvxkS4XUxqirw==",
        "",
        "ES modules importing their siblings and bare packages; maps naming ../src sources not shipped",
    ),
    _npm(
        "lit-html",
        "3.3.3",
        "sha512-el8M6jK2o3RXBnrSHX3ZKrsN8zEV63pSExTO1wYJz7QndGYZ8353e2a5PPX+qHe2aGayfnchQmkAojaWAREOIA==",
        "",
        "ES modules: directives/ import ../lit-html.js; development/ and node/ builds",
    ),
    _npm(
        "@lit/reactive-element",
        "2.1.2",
        "sha512-pbCDiVMnne1lYUIaYNN5wrwQXDtHaYtg7YEFPeW+hws6U47WeFvISGUWekPGKWOP1ygrs0ef0o1VJMk1exos5A==",
        "",
        "ES modules: decorators/ import ../css-tag.js",
    ),
    _npm(
        "preact",
        "10.29.8",
        "sha512-ej2aVZ+vZ8WO7tvlQWRM9N63A0KzF9q4mWJfDUHgYaIofWY9hu74QdnQrjoPMmZi2/nZ5gN0bJCQF49xQqx09Q==",
        "dist",
        "ESM, UMD and CommonJS builds of one library",
        all_codings=True,
    ),
    _npm(
        "htm",
        "3.1.1",
        "sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFoNKcg5DGAvxNQ==",
        "",
        "ES modules in several directories, importing the bare 'preact' and 'htm' (left as written)",
    ),
    _npm(
        "@popperjs/core",
        "2.11.8",
        "sha512-P1st0aksCrn9sGZhp8GMYwBnQsbvAWsZAX44oXNNvLHGqAOcoVxmjZiohstwQ7SqKnbR47akdNi+uleWD8+g6A==",
        "dist",
        "ESM tree of ~90 modules importing each other, plus UMD and CJS",
    ),
    _npm(
        "@shoelace-style/shoelace",
        "2.20.1",
        "sha512-FSghU95jZPGbwr/mybVvk66qRZYpx5FkXL+vLNpy1Vp8UsdwSxXjIHE3fsvMbKWTKi9UFfewHTkc5e7jAqRYoQ==",
        "cdn",
        "web components: 2,900 ES modules and shared chunks importing each other, CSS themes, SVG icons",
    ),
    _npm(
        "chart.js",
        "4.6.2",
        "sha512-xachB+pPHjp0syJi7llUBA1w3kMYl6NF3o7eVrvjnWCT+IB2zMaF2pX5UYDiwbbfsioFEIRnAjreNOMsGj5TIA==",
        "dist",
        "ESM entry importing ./chunks/; UMD bundle; maps",
    ),
    _npm(
        "vue",
        "3.5.47",
        "sha512-eb2WX28Y895u9wSVVDXr5pvipHb3U8wSvYqoT5UUqG5idmNjT169BDnhigOfkEP+zI6nDVnhHqZgrERpJ90M0w==",
        "dist",
        "ESM browser builds, global builds, runtime-only builds",
    ),
    _npm(
        "d3",
        "7.9.2",
        "sha512-ZKb/mONPVKzaO5UlcWcwN8bS4ezvQaYu+bsou+XgNABdGC800kwH651ADTbbTxMPHW13UlvbQafdmJQDk1w7Mg==",
        "dist",
        "a large UMD bundle, minified",
    ),
    _npm(
        "@hotwired/turbo",
        "8.0.23",
        "sha512-GZ7cijxEZ6Ig71u7rD6LHaRv/wcE/hNsc+nEfiWOkLNqUgLOwo5MNGWOy5ZV9ZUDSiQx1no7YxjTNnT4O6//cQ==",
        "dist",
        "ES module and UMD builds (Rails/Django Hotwire)",
    ),
    # UMD/AMD bundles with runtime loaders.
    _npm(
        "jquery",
        "3.7.1",
        "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
        "dist",
        "UMD bundle, slim build, maps",
        all_codings=True,
    ),
    _npm(
        "requirejs",
        "2.3.8",
        "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
        "",
        "an AMD loader and the r.js optimizer (module names in strings, not references)",
    ),
    _npm(
        "select2",
        "4.1.0",
        "sha512-i9KalWOP4/LRRGc8+rj2krNm0ZqP14cV+j1TRCEBSsOhCPkKH8rYZ2MCRXcgvqIqN+llqGci0hj9aVkCMvL0+g==",
        "dist",
        "AMD-wrapped bundle with 60 i18n modules loaded at run time",
    ),
    _npm(
        "moment",
        "2.31.0",
        "sha512-0acOTfMiWOheYS4eoWb80yYMb/JLvVv9SHbs2PehaDzfUG0Bw855SKyk0IKTnPGa5+U2bmi3W68l1+sGLX/pvw==",
        "min",
        "UMD bundles with every locale, maps",
    ),
    _npm(
        "htmx.org",
        "2.0.11",
        "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        "dist",
        "UMD, AMD, CJS and ESM builds, extensions",
    ),
    _npm(
        "alpinejs",
        "3.17.5",
        "sha512-XewMqRC6zjy8iaUPn86dxjvooAsNai3hUtQbdn0A5H2w7Jt10xHGZ1SczN5+Dvp3UKkuSEt9moy/UaUWOwKdnQ==",
        "dist",
        "CDN and ESM builds",
    ),
    # Web workers and WebAssembly.
    _npm(
        "pdfjs-dist",
        "4.10.38",
        "sha512-/Y3fcFrXEAsMjJXeL9J8+ZG9U01LbuWaYypvDW2ycW1jL269L3js3DVBjDJ0Up9Np1uqDXsDrRihHANhZOlwdQ==",
        "",
        "a worker (pdf.worker.mjs), large maps, the viewer with images, cmaps and fonts",
    ),
    _npm(
        "sql.js",
        "1.17.0",
        "sha512-HNdo5+2eSTEm7iLcfXUd2mjZX3Oe+5mJ0uDgIpirS7gSLHhZIw9kWDWxNcDVeFGEIBxJlkgo525g0CZJoH8GgA==",
        "dist",
        "WebAssembly (sql-wasm.wasm) and worker builds",
    ),
    _npm(
        "swagger-ui-dist",
        "5.36.0",
        "sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A==",
        "",
        "multi-MiB bundles whose maps name webpack:// sources not shipped",
    ),
    # The static files of Django's admin and of Django and Flask packages.
    _pypi(
        "Django",
        "5.2.9",
        "django-5.2.9-py3-none-any.whl",
        "3a4ea88a70370557ab1930b332fd2887a9f48654261cdffda663fef5976bb00a",
        "django/contrib/admin/static",
        "Django's admin: CSS with SVG icons, vendored jQuery, Select2 with i18n, XRegExp",
        all_codings=True,
    ),
    _pypi(
        "djangorestframework",
        "3.18.3",
        "djangorestframework-3.18.3-py3-none-any.whl",
        "8544bb674846731b1e3c9b309236ee1dc412905a0aa725be2ec193ca950a7d12",
        "rest_framework/static",
        "the browsable API: Bootstrap 3 with Glyphicons, prettify, jQuery",
    ),
    _pypi(
        "django-debug-toolbar",
        "8.0.0",
        "django_debug_toolbar-8.0.0-py3-none-any.whl",
        "329dfd6e1c26d9b4501a5cc69294c8bb734206ccb1bd36e96afc4d14128b630a",
        "debug_toolbar/static",
        "ES modules importing ./utils.js",
    ),
    _pypi(
        "django-import-export",
        "4.4.6",
        "django_import_export-4.4.6-py3-none-any.whl",
        "cd847cb7db0cb76dcd5d129263b9a8630062c2f7d849183a7303ee1e1e0f9ab4",
        "import_export/static",
        "admin CSS and JS",
    ),
    _pypi(
        "django-silk",
        "5.6.0",
        "django_silk-5.6.0-py3-none-any.whl",
        "761300bde25b8ce3c381dc0710e82c792c099c0ee6558fad3165dc560a06dd48",
        "silk/static",
        "vendored libraries, fonts and images",
    ),
    _pypi(
        "django-jazzmin",
        "3.0.5",
        "django_jazzmin-3.0.5-py3-none-any.whl",
        "578fb1fc0a1b7e3b8472d2692ace60b1584ccd937c3828e2c9a89bdf94067f94",
        "jazzmin/static",
        "AdminLTE, Bootswatch themes, Font Awesome",
        broken=(
            Broken(
                "vendor/bootswatch/default/bootstrap.min.css.map",
                "",
                "the file is a saved 'Page not found · GitHub Pages' HTML page, not a source map (its "
                "bootstrap.min.css next to it is the same page)",
            ),
        ),
    ),
    _pypi(
        "drf-yasg",
        "1.21.18",
        "drf_yasg-1.21.18-py3-none-any.whl",
        "eb26c56bc7e71e7098a817660c7d8e83b858b16e372864218de29bb06d681611",
        "drf_yasg/static",
        "vendored swagger-ui and ReDoc bundles with maps",
    ),
    _pypi(
        "django-grappelli",
        "5.0.1",
        "django_grappelli-5.0.1-py3-none-any.whl",
        "299d301f109d2aec91027f9e40a0b254d2cfe9da0db18271a07a8c2e07173943",
        "grappelli/static",
        "admin skin: jQuery UI, TinyMCE with plugins, skins and languages loaded at run time",
    ),
    _pypi(
        "django-unfold",
        "0.91.0",
        "django_unfold-0.91.0-py3-none-any.whl",
        "486a468ec4788e0668a9e73686796b04450709171af4ac213b6d229a8015676a",
        "unfold/static",
        "Tailwind admin: fonts, Alpine.js, htmx, Chart.js",
    ),
    _pypi(
        "Flask-Admin",
        "2.2.1",
        "flask_admin-2.2.1-py3-none-any.whl",
        "a0533fd1968543fc621733316bb9c30774b501c119816f1e83d7dcedacb99895",
        "flask_admin/static",
        "Bootstrap 4 and its Bootswatch themes, Select2, Leaflet, 1,400 files",
        broken=(Broken("bootstrap/bootstrap4/swatch/default/bootstrap.min.css", "bootstrap.min.css.map", _NO_MAP),),
    ),
    _pypi(
        "Bootstrap-Flask",
        "2.6.0",
        "bootstrap_flask-2.6.0-py3-none-any.whl",
        "2a0ff1df295b143020743949419c955de23ffc3465518f4bf5bac32f90deaa52",
        "flask_bootstrap/static",
        "Bootstrap 4 and 5 with 26 Bootswatch themes",
        broken=tuple(
            Broken(f"bootstrap5/css/bootswatch/{theme}/bootstrap.min.css", "bootstrap.min.css.map", _NO_MAP)
            for theme in _BOOTSWATCH_THEMES
        ),
    ),
    _pypi(
        "Flask-DebugToolbar",
        "0.16.0",
        "flask_debugtoolbar-0.16.0-py3-none-any.whl",
        "2857a58ef20b88cf022a88bb7f0c6f6be1fb91a2e8b2d9fcc9079357a692083e",
        "flask_debugtoolbar/static",
        "vendored jQuery plugins, CSS with images",
    ),
)


def cache_root() -> Path:
    """Where archives and extracted trees are kept between runs (outside the repository)."""
    configured = os.environ.get("STATICWRAP_CORPUS_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "staticwrap-corpus"


def cache_key(package: Package) -> str:
    """The name of the package's tree in the cache."""
    # The pin is part of the key: a new pin never reuses a tree fetched for another.
    pin = hashlib.sha256(package.integrity.encode()).hexdigest()[:12]
    return f"{package.registry}-{package.name.replace('/', '+')}-{package.version}-{pin}"


def verify(package: Package, archive: Path) -> None:
    """Check ``archive`` against the package's pin.

    :raises IntegrityError: if it is not the pinned file.
    """
    data = archive.read_bytes()
    if package.registry == NPM:
        algorithm, _, expected = package.integrity.partition("-")
        actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    else:
        wheel, _, pin = package.integrity.partition(" ")
        algorithm, _, expected = pin.partition(":")
        if archive.name != wheel:
            raise IntegrityError(f"{package.id}: pip fetched {archive.name}, the pin is for {wheel}")
        actual = hashlib.new(algorithm, data).hexdigest()
    if actual != expected:
        raise IntegrityError(f"{package.id}: {archive.name} has {algorithm} {actual}, the pin is {expected}")


def fetch(package: Package) -> Path:
    """The root of the package's extracted release, fetched and verified on first use.

    :raises FetchError: when the registry client cannot fetch it.
    :raises IntegrityError: when what it fetched is not the pinned archive.
    """
    root = cache_root()
    tree = root / "trees" / cache_key(package)
    if tree.is_dir():
        return tree
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix="fetch-") as scratch:
        work = Path(scratch)
        archive = _download(package, work / "download")
        verify(package, archive)
        extracted = _extract(archive, work)
        (root / "trees").mkdir(exist_ok=True)
        try:
            extracted.rename(tree)
        except OSError:
            if not tree.is_dir():  # another run put the same verified tree in place first
                raise
        shutil.copyfile(archive, root / f"{cache_key(package)}{_suffix(archive)}")
    return tree


def _suffix(archive: Path) -> str:
    return ".whl" if archive.name.endswith(".whl") else ".tgz"


def _download(package: Package, directory: Path) -> Path:
    directory.mkdir()
    if package.registry == NPM:
        command = ["npm", "pack", f"{package.name}@{package.version}", "--json", "--ignore-scripts"]
        command += ["--pack-destination", str(directory)]
    else:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
        command += ["--disable-pip-version-check", "-d", str(directory), f"{package.name}=={package.version}"]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FetchError(f"{package.id}: {' '.join(command[:3])} failed: {error}") from None
    found = sorted(directory.iterdir())
    if completed.returncode != 0 or len(found) != 1:
        detail = completed.stderr.strip().splitlines()[-3:]
        raise FetchError(f"{package.id}: {' '.join(command[:3])} exited {completed.returncode}: {detail}")
    return found[0]


def _extract(archive: Path, work: Path) -> Path:
    """Extract ``archive`` under ``work``; returns the root of the release."""
    destination = work / "extracted"
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as wheel:
            wheel.extractall(destination)
        return destination
    # An npm tarball holds one top directory ("package/" nearly always): the release is its content.
    with tarfile.open(archive, "r:gz") as tarball:
        tarball.extractall(destination, filter="data")
    (top,) = destination.iterdir()
    return top


def source_of(package: Package) -> Path:
    """The package's SRC directory, fetched if needed."""
    return fetch(package) / package.src


def reference_values(name: str, data: bytes) -> list[tuple[str, str]] | None:
    """(kind, value) of each reference in a CSS, JavaScript or source map file; ``None`` for other files."""
    extension = name.rsplit(".", 1)[-1].lower()
    text = data.decode("utf-8", "surrogateescape")
    if extension == "css":
        return [(r.kind, r.value) for r in references.css_references(text)]
    if extension in ("js", "mjs", "cjs"):
        return [(r.kind, r.value) for r in references.js_references(text)]
    if extension == "map":
        try:
            source_map = json.loads(data)
        except ValueError:
            return []
        if not isinstance(source_map, dict) or not isinstance(source_map.get("sources"), list):
            return []
        root = source_map.get("sourceRoot") or ""
        root = root if not root or root.endswith("/") else root + "/"
        return [("source", root + s) for s in source_map["sources"] if isinstance(s, str)]
    return None


def rewritten_references(src: Path, dest: Path, records: dict[str, Any]) -> int:
    """How many references the build changed: those whose value differs between a source file and its build."""
    count = 0
    for name in records:
        before = reference_values(name, (src / name).read_bytes())
        after = reference_values(name, (dest / name).read_bytes())
        if before is not None and after is not None:
            count += sum(old != new for old, new in zip(before, after, strict=True))
    return count


def table_rows(packages: Iterable[Package]) -> list[dict[str, Any]]:
    """Build each package with br and gzip in a scratch DEST (not strict), and measure it; prints as it goes."""
    import warnings

    from staticwrap.build import build

    rows = []
    print("| package | version | files | references rewritten | build s (br+gzip) | bytes | saved by br |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for package in packages:
        src = source_of(package)
        with tempfile.TemporaryDirectory(prefix="staticwrap-corpus-") as scratch:
            dest = Path(scratch)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the broken references are listed in the corpus
                result = build(src, dest, strict=not package.broken, codings=("br", "gzip"))
            records: dict[str, Any] = json.loads((dest / "staticwrap.json").read_text("utf-8"))["files"]
            total = sum(record["size"] for record in records.values())
            saved = sum(
                record["size"] - record["variants"]["br"]["size"]
                for record in records.values()
                if "br" in record.get("variants", {})
            )
            row = {
                "package": package.name,
                "version": package.version,
                "files": result.files,
                "rewritten": rewritten_references(src, dest, records),
                "seconds": round(result.seconds, 2),
                "bytes": total,
                "saved_by_br": saved,
            }
        rows.append(row)
        print(
            f"| {row['package']} | {row['version']} | {row['files']} | {row['rewritten']} | {row['seconds']:.1f} "
            f"| {total:,} | {saved:,} ({saved / total:.0%}) |",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.corpus --table``: build each package with br and gzip; print the table."""
    parser = argparse.ArgumentParser(prog="python -m tests.corpus", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--table", action="store_true", help="build every package and print the table")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("names", nargs="*", help="only these packages (name or name@version)")
    args = parser.parse_args(argv)
    chosen = [p for p in PACKAGES if not args.names or p.name in args.names or p.id in args.names]
    if not args.table:
        for package in chosen:
            print(f"{package.id:40} {package.registry:5} {package.src or '.':30} {package.covers}")
        return 0
    rows = table_rows(chosen)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
