"""Flask integration: serve an application's static folders, and its blueprints', through staticwrap.

One line, in the module that creates the application or in its factory::

    from staticwrap.flask import init_app

    init_app(app)

The static folders are found where Flask itself would serve them: from the
``static`` routes in ``app.url_map``, so a blueprint's URL (its
``url_prefix``, nesting, ``name=``) is the one Flask computed. Templates get
``static_url()`` and ``static_integrity()``.
"""

from __future__ import annotations

import datetime
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn
from urllib.parse import quote

from flask import Flask, abort, has_request_context, request, url_for
from flask.helpers import get_debug_flag

from ._syntax import SAFE_IN_PATH
from .errors import ConfigurationError, warn
from .middleware import StaticWrap
from .tree import Root, normalize_prefix

if TYPE_CHECKING:
    from ._types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["FlaskStatic", "StaticFolder", "configure", "init_app", "static_folders"]

#: The key of :attr:`flask.Flask.extensions` that holds the :class:`FlaskStatic` of an app.
EXTENSION_KEY = "staticwrap"

# The tail of every static rule Flask adds (App.__init__, Blueprint.register).
_FILENAME = "<path:filename>"


@dataclass(frozen=True, slots=True)
class StaticFolder:
    """A static folder of the app (``blueprint=None``) or of a blueprint, and its URL prefix."""

    #: The name the blueprint is registered under (dotted when nested), or ``None`` for the app.
    blueprint: str | None
    #: The absolute path of the folder.
    path: str
    #: The normalized URL prefix, such as ``"/admin/static/"``.
    prefix: str

    def describe(self) -> str:
        return "the app" if self.blueprint is None else f"blueprint {self.blueprint!r}"


def static_folders(app: Flask) -> list[StaticFolder]:
    """The static folders staticwrap can serve for ``app``, in the order they take precedence.

    Read from the app's URL map, where Flask put one ``static`` rule per app
    and per blueprint registration. Rules that depend on the host (a
    ``static_host``, a subdomain) or that have a variable in their prefix
    (``url_prefix="/<lang>"``) are left to Flask: a prefix of staticwrap
    matches every host and has no variables.
    """
    found: list[StaticFolder] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            name, folder = None, app.static_folder
        elif rule.endpoint.endswith(".static") and rule.endpoint[: -len(".static")] in app.blueprints:
            name = rule.endpoint[: -len(".static")]
            folder = app.blueprints[name].static_folder
        else:
            continue
        if folder is None or not rule.rule.endswith("/" + _FILENAME) or rule.host or rule.subdomain:
            continue
        prefix = rule.rule[: -len(_FILENAME)]
        if "<" in prefix:
            continue
        found.append(StaticFolder(name, os.path.abspath(folder), normalize_prefix(prefix)))
    # Werkzeug prefers the rule with more static parts (/static/admin/<path>
    # over /static/<path>), and among equal rules the first one added (the
    # app's rule over a blueprint's at the same URL). staticwrap serves a URL
    # from the first root that has it, so deeper prefixes go first; the sort
    # is stable, which keeps Flask's order among equal prefixes.
    return sorted(found, key=lambda folder: -folder.prefix.count("/"))


def configure(wrapper: StaticWrap, app: Flask) -> None:
    """Add the static folders of ``app`` and its blueprints to ``wrapper``.

    This is what makes ``StaticWrap(flask_app)`` serve them. Folders already
    served at the same prefix are not added twice, so calling it again is
    harmless. Blueprints registered afterwards are not seen: use
    :func:`init_app` for that. The app's templates get ``static_url()`` and
    ``static_integrity()`` for ``wrapper``, unless they already have them.
    """
    folders = static_folders(app)
    _add_folders(wrapper, app, folders)
    helpers = _Helpers(app, lambda: (wrapper, folders))
    app.jinja_env.globals.setdefault("static_url", helpers.url)
    app.jinja_env.globals.setdefault("static_integrity", helpers.integrity)


def init_app(app: Flask, **options: Any) -> FlaskStatic:
    """Serve the static files of ``app`` and of its blueprints with staticwrap.

    ``app.wsgi_app`` is wrapped, so ``app`` stays the Flask object (``flask
    run``, ``app.test_client()`` and factories keep working), and requests for
    static files no longer reach Flask's ``static`` views.

    Defaults taken from the app: in debug mode (``app.debug`` or
    ``FLASK_DEBUG``), ``autorefresh=True`` and ``max_age=0``, so edited and
    new files are served at once; ``max_age`` is Flask's
    ``SEND_FILE_MAX_AGE_DEFAULT`` when that is set. ``options`` override them.

    :param options: the options of :class:`~staticwrap.StaticWrap`.
    :raises ConfigurationError: for an unknown or bad option, or a second call for the same app.
    """
    if EXTENSION_KEY in app.extensions:
        raise ConfigurationError(f"init_app was already called for {app.name!r}; call it once per application")
    static = FlaskStatic(app, {**_defaults(app), **options})
    # Flask documents this way of adding middleware; mypy sees wsgi_app as a method.
    app.wsgi_app = static  # type: ignore[method-assign]
    app.extensions[EXTENSION_KEY] = static
    app.add_template_global(static.url, "static_url")
    app.add_template_global(static.integrity, "static_integrity")
    return static


class _State(NamedTuple):
    fingerprint: tuple[int, str | None]
    wrapper: StaticWrap
    folders: tuple[StaticFolder, ...]


class FlaskStatic:
    """The WSGI middleware :func:`init_app` installs as ``app.wsgi_app``.

    Blueprints registered after :func:`init_app` are served too. The folders
    are indexed at once, so a bad option, manifest or folder shows at startup
    (and with ``gunicorn --preload`` the scan is done once, before forking);
    each request then compares the number of registered blueprints and the
    app's static folder with those indexed, which costs two lookups. A
    change (a registration, which Flask only allows before its first request)
    adds the new folders, or indexes everything again when a new prefix
    would have to take precedence over one already served.
    """

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.app = app
        #: The application behind staticwrap: Flask's own ``wsgi_app`` (or the middleware already around it).
        self.wsgi_app: WSGIApplication = app.wsgi_app
        self.options = options
        self._lock = threading.Lock()
        self._helpers = _Helpers(app, self._current)
        self._state = self._index(_fingerprint(app), static_folders(app))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wrapper(environ, start_response)

    @property
    def wrapper(self) -> StaticWrap:
        """The :class:`~staticwrap.StaticWrap` serving the static folders now."""
        return self._current()[0]

    @property
    def folders(self) -> Sequence[StaticFolder]:
        """The static folders served, in order of precedence (missing folders included)."""
        return self._current()[1]

    def url(self, filename: str, blueprint: str | None = None) -> str:
        """The URL of a static file for a page: hashed when a manifest lists it.

        This is ``static_url()`` in templates. ``filename`` is relative to the
        static folder; ``"admin:css/a.css"`` (or ``blueprint="admin"``) names a
        file of the blueprint registered as ``admin``. The URL starts with the
        request's ``SCRIPT_NAME`` (``APPLICATION_ROOT`` outside a request).

        :raises LookupError: when the folder has no such file.
        """
        return self._helpers.url(filename, blueprint)

    def integrity(self, filename: str, blueprint: str | None = None) -> str | None:
        """The Subresource Integrity value of a static file from ``staticwrap.json``, or ``None``.

        This is ``static_integrity()`` in templates; the arguments are those of :meth:`url`.

        :raises LookupError: when the folder has no such file.
        """
        return self._helpers.integrity(filename, blueprint)

    def _current(self) -> tuple[StaticWrap, Sequence[StaticFolder]]:
        state = self._state
        if state.fingerprint != _fingerprint(self.app):
            with self._lock:
                state = self._state
                fingerprint = _fingerprint(self.app)
                if state.fingerprint != fingerprint:
                    state = self._state = self._update(state, fingerprint)
        return state.wrapper, state.folders

    def _update(self, state: _State, fingerprint: tuple[int, str | None]) -> _State:
        wanted = static_folders(self.app)
        added = [folder for folder in wanted if folder not in state.folders]
        # Appending keeps the precedence unless a folder already served has a
        # prefix above a new one's (/static/ before a new /static/admin/).
        shadowed = any(
            old.prefix != new.prefix and new.prefix.startswith(old.prefix) for old in state.folders for new in added
        )
        if shadowed or not set(state.folders) <= set(wanted):
            return self._index(fingerprint, wanted)
        _add_folders(state.wrapper, self.app, added)
        return _State(fingerprint, state.wrapper, (*state.folders, *added))

    def _index(self, fingerprint: tuple[int, str | None], folders: Sequence[StaticFolder]) -> _State:
        wrapper = StaticWrap(self.wsgi_app, **self.options)
        _add_folders(wrapper, self.app, folders)
        return _State(fingerprint, wrapper, tuple(folders))


def _take_over_static_view(app: Flask, folder: StaticFolder) -> None:
    # Under a prefix staticwrap serves, a file it does not serve does not
    # exist: Flask's own view would otherwise send what staticwrap declines on
    # purpose (dotfiles, symlinks leaving the folder, precompressed siblings
    # on their own URL). url_for() keeps working: it reads the URL map.
    endpoint = "static" if folder.blueprint is None else f"{folder.blueprint}.static"
    if endpoint in app.view_functions:
        app.view_functions[endpoint] = _not_served


def _not_served(filename: str) -> NoReturn:
    abort(404)


def _fingerprint(app: Flask) -> tuple[int, str | None]:
    # Every registration adds a name to app.blueprints (Flask refuses a name
    # twice), so its length tells whether a blueprint was registered since.
    return len(app.blueprints), app.static_folder


def _defaults(app: Flask) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    # FLASK_DEBUG counts too: `flask run --debug` sets it before loading the
    # app, and only sets app.debug after a factory has returned.
    if app.debug or get_debug_flag():
        # max_age=0: browsers revalidate (a cheap 304) instead of showing a
        # copy cached before the edit.
        defaults.update(autorefresh=True, max_age=0)
    max_age = app.config.get("SEND_FILE_MAX_AGE_DEFAULT")
    if isinstance(max_age, datetime.timedelta):
        max_age = int(max_age.total_seconds())
    if max_age is not None:
        defaults["max_age"] = max_age
    return defaults


def _add_folders(wrapper: StaticWrap, app: Flask, folders: Iterable[StaticFolder]) -> None:
    for folder in folders:
        _take_over_static_view(app, folder)
        if _root_of(wrapper, folder) is not None:
            continue
        if not os.path.isdir(folder.path):
            warn(
                f"the static folder of {folder.describe()}, {folder.path}, is not a directory, "
                f"so nothing is served at {folder.prefix}; create it, or pass static_folder=None to "
                f"{'Flask' if folder.blueprint is None else 'Blueprint'}(...) if there are no static files"
            )
            continue
        wrapper.add_files(folder.path, folder.prefix)


def _root_of(wrapper: StaticWrap, folder: StaticFolder) -> Root | None:
    for root in wrapper.index.roots:
        if root.path == folder.path and root.prefix == folder.prefix:
            return root
    return None


class _Helpers:
    """``static_url()`` and ``static_integrity()`` over the folders of one StaticWrap."""

    def __init__(self, app: Flask, current: Callable[[], tuple[StaticWrap, Sequence[StaticFolder]]]) -> None:
        self.app = app
        self.current = current

    def url(self, filename: str, blueprint: str | None = None) -> str:
        wrapper, folders = self.current()
        scope, name = self._scope(filename, blueprint)
        folder = next((folder for folder in folders if folder.blueprint == scope), None)
        if folder is None:
            return url_for(self._flask_endpoint(scope, name), filename=name)
        _require_root(wrapper, folder, name)
        url = wrapper.url(name, prefix=folder.prefix)
        # On a CDN (base_url), the URL is whole already: the CDN's paths are the roots' prefixes.
        return url if wrapper.config.base_url is not None else self._script_root() + url

    def integrity(self, filename: str, blueprint: str | None = None) -> str | None:
        wrapper, folders = self.current()
        scope, name = self._scope(filename, blueprint)
        folder = next((folder for folder in folders if folder.blueprint == scope), None)
        if folder is None:
            self._flask_endpoint(scope, name)  # a LookupError when there is no such folder at all
            return None
        _require_root(wrapper, folder, name)
        return wrapper.integrity(name, prefix=folder.prefix)

    def _scope(self, filename: str, blueprint: str | None) -> tuple[str | None, str]:
        if blueprint is None:
            head, colon, tail = filename.partition(":")
            # "admin:css/a.css" when "admin" is a blueprint; otherwise the
            # colon belongs to the file name.
            if colon and head in self.app.blueprints:
                return head, tail.lstrip("/")
        return blueprint, filename.lstrip("/")

    def _flask_endpoint(self, scope: str | None, name: str) -> str:
        # A static folder staticwrap does not serve (host or subdomain rules,
        # a variable url_prefix) is still Flask's: its URL comes from url_for.
        endpoint = "static" if scope is None else f"{scope}.static"
        if endpoint not in self.app.view_functions:
            owner = "the app" if scope is None else f"blueprint {scope!r}"
            raise LookupError(f"{owner} has no static folder, so there is no static file {name!r}")
        return endpoint

    def _script_root(self) -> str:
        # request.script_root is the decoded SCRIPT_NAME; outside a request,
        # APPLICATION_ROOT is where Flask's url_for puts the app too.
        root = request.script_root if has_request_context() else str(self.app.config.get("APPLICATION_ROOT") or "")
        return quote(root.rstrip("/"), safe=SAFE_IN_PATH)


def _require_root(wrapper: StaticWrap, folder: StaticFolder, name: str) -> None:
    if _root_of(wrapper, folder) is None:
        raise LookupError(
            f"no static file {name!r}: the static folder of {folder.describe()}, {folder.path}, is not a directory"
        )
