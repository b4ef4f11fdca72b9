"""Django settings for staticwrap, read once into one typed record.

Everything staticwrap takes from ``settings`` is read here, by
:meth:`DjangoConfig.from_settings`: the ``STATICWRAP`` dict, ``DEBUG``,
``STATIC_ROOT``, ``STATIC_URL`` and ``FORCE_SCRIPT_NAME``. The other modules
of :mod:`staticwrap.django` only look at the resulting :class:`DjangoConfig`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.signals import setting_changed

from staticwrap import compress
from staticwrap.config import OPTION_NAMES, Config, suggest
from staticwrap.errors import ConfigurationError
from staticwrap.generations import DEFAULT_KEEP, DEFAULT_KEEP_FOR, Retention

#: Keys of ``STATICWRAP`` that only the Django integration reads.
DJANGO_KEYS = frozenset({"use_finders", "root", "manifest_strict", "build", "publish"})
#: Keys of ``STATICWRAP["build"]``: the keyword arguments of :func:`staticwrap.build.build` that a project may set.
BUILD_KEYS = frozenset({"strict", "hashed_only", "codings", "min_saving", "jobs", "keep", "keep_for", "dictionaries"})
#: Keys of ``STATICWRAP["publish"]``: the keyword arguments of :func:`staticwrap.publish.publish` a project may set.
PUBLISH_KEYS = frozenset({"url", "endpoint_url", "region", "checksum", "prune", "jobs", "keep", "keep_for"})
#: Settings a :class:`DjangoConfig` depends on: changing one (``override_settings``) drops the cached one.
SETTINGS_READ = frozenset({"STATICWRAP", "DEBUG", "STATIC_ROOT", "STATIC_URL", "FORCE_SCRIPT_NAME"})


@dataclass(frozen=True, slots=True)
class DjangoConfig:
    """What staticwrap takes from Django's settings, checked. Build it with :meth:`from_settings`."""

    debug: bool
    #: The options of the served roots, with the Django defaults applied.
    config: Config
    #: ``settings.STATIC_ROOT`` as an absolute path, or ``None`` when it is not set.
    static_root: str | None
    #: The URL path ``STATIC_ROOT`` is served at: the path of ``STATIC_URL`` without ``FORCE_SCRIPT_NAME``.
    static_prefix: str | None
    #: ``STATICWRAP["root"]``: a directory served at ``/``.
    root: str | None
    use_finders: bool
    manifest_strict: bool
    #: Keyword arguments for :func:`staticwrap.build.build` (a subset of :data:`BUILD_KEYS`).
    build: Mapping[str, Any]
    #: Keyword arguments for :func:`staticwrap.publish.publish` (a subset of :data:`PUBLISH_KEYS`).
    publish: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: object, **overrides: Any) -> DjangoConfig:
        """Read and check the settings; ``overrides`` take precedence over ``STATICWRAP``.

        :raises ConfigurationError: for an unknown key or a bad value; the message names it.
        """
        debug = bool(getattr(settings, "DEBUG", False))
        given = getattr(settings, "STATICWRAP", None)
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            raise ConfigurationError(f"settings.STATICWRAP = {given!r}: give a dict such as {{'max_age': 3600}}")
        merged = {**given, **overrides}
        _check_names(merged)
        options = {"max_age": 0 if debug else 60, "autorefresh": debug}
        options.update((key, value) for key, value in merged.items() if key not in DJANGO_KEYS)
        try:
            config = Config.from_keywords(options)
        except ConfigurationError as error:
            raise as_setting(error, "settings.STATICWRAP") from None
        use_finders = merged.get("use_finders", debug)
        manifest_strict = merged.get("manifest_strict", True)
        for name, value in (("use_finders", use_finders), ("manifest_strict", manifest_strict)):
            if not isinstance(value, bool):
                raise ConfigurationError(f"settings.STATICWRAP[{name!r}] = {value!r}: give True or False")
        static_root = getattr(settings, "STATIC_ROOT", None)
        static_url = getattr(settings, "STATIC_URL", None)
        return cls(
            debug=debug,
            config=config,
            static_root=os.path.abspath(os.fspath(static_root)) if static_root else None,
            static_prefix=static_prefix(static_url, getattr(settings, "FORCE_SCRIPT_NAME", None)),
            root=_root(merged.get("root")),
            use_finders=use_finders,
            manifest_strict=manifest_strict,
            build=_build_options(merged.get("build")),
            publish=_publish_options(merged.get("publish")),
        )


def static_prefix(static_url: str | None, force_script_name: str | None) -> str | None:
    """The URL path of ``STATIC_URL`` as the WSGI application sees it (in ``PATH_INFO``).

    Django puts the script prefix in front of a relative ``STATIC_URL``, and
    ``FORCE_SCRIPT_NAME`` is the part of the URL the server does not pass in
    ``PATH_INFO``: it is removed. A full URL (a CDN in front of this server)
    keeps only its path. The result is percent-decoded, as index keys are.
    """
    if not static_url:
        return None
    path = unquote(urlsplit(str(static_url)).path)
    script = (force_script_name or "").rstrip("/")
    if script and (path == script or path.startswith(script + "/")):
        path = path[len(script) :]
    stripped = path.strip("/")
    return f"/{stripped}/" if stripped else "/"


def _check_names(merged: Mapping[str, Any]) -> None:
    known = OPTION_NAMES | DJANGO_KEYS
    for name in sorted(merged, key=str):
        if name not in known:
            raise ConfigurationError(f"settings.STATICWRAP has an unknown key {name!r}: {suggest(name, known, 'keys')}")


def _root(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigurationError(f"settings.STATICWRAP['root'] = {value!r}: give the path of a directory, or None")
    return os.path.abspath(os.fspath(value))


def _build_options(value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"settings.STATICWRAP['build'] = {value!r}: give a dict such as {{'strict': False}}")
    for name in value:
        if name not in BUILD_KEYS:
            raise ConfigurationError(
                f"settings.STATICWRAP['build'] has an unknown key {name!r}: {suggest(name, BUILD_KEYS, 'keys')}"
            )
    for name in ("strict", "hashed_only", "dictionaries"):
        if name in value and not isinstance(value[name], bool):
            raise ConfigurationError(f"settings.STATICWRAP['build'][{name!r}] = {value[name]!r}: give True or False")
    # Checked now, not when collectstatic reaches the end of its copying.
    try:
        compress.check_options(
            value.get("codings", compress.CODINGS),
            value.get("min_saving", compress.DEFAULT_MIN_SAVING),
            value.get("jobs"),
        )
        Retention.of(value.get("keep", DEFAULT_KEEP), value.get("keep_for", DEFAULT_KEEP_FOR))
    except ConfigurationError as error:
        raise as_setting(error, "settings.STATICWRAP['build']") from None
    return dict(value)


def _publish_options(value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    setting = "settings.STATICWRAP['publish']"
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{setting} = {value!r}: give a dict such as {{'url': 's3://my-bucket/static/'}}")
    for name in value:
        if name not in PUBLISH_KEYS:
            raise ConfigurationError(f"{setting} has an unknown key {name!r}: {suggest(name, PUBLISH_KEYS, 'keys')}")
    for name in ("checksum", "prune"):
        if name in value and not isinstance(value[name], bool):
            raise ConfigurationError(f"{setting}[{name!r}] = {value[name]!r}: give True or False")
    for name in ("url", "endpoint_url", "region"):
        if value.get(name) is not None and not isinstance(value[name], str):
            raise ConfigurationError(f"{setting}[{name!r}] = {value[name]!r}: give a string")
    jobs = value.get("jobs", 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigurationError(f"{setting}['jobs'] = {jobs!r}: give a number of uploads at a time >= 1")
    try:
        Retention.of(value.get("keep", DEFAULT_KEEP), value.get("keep_for", DEFAULT_KEEP_FOR))
    except ConfigurationError as error:
        raise as_setting(error, setting) from None
    return dict(value)


def as_setting(error: ConfigurationError, setting: str) -> ConfigurationError:
    """``error``, about a keyword argument, told of the key of ``setting`` a Django user wrote.

    The options' messages start with the keyword as Python code writes it
    (``max_age=-1: give ...``); a Django user wrote ``STATICWRAP = {"max_age": -1}``,
    so the message names ``settings.STATICWRAP['max_age'] = -1``.
    """
    message = str(error)
    name, equals, rest = message.partition("=")
    if equals and name.isidentifier():
        return ConfigurationError(f"{setting}[{name!r}] = {rest}")
    return ConfigurationError(f"{setting}: {message}")


@functools.cache
def get_config() -> DjangoConfig:
    """The :class:`DjangoConfig` of ``django.conf.settings``, read on first use and kept.

    ``override_settings`` on one of :data:`SETTINGS_READ` drops it, so tests see their settings.
    """
    from django.conf import settings

    return DjangoConfig.from_settings(settings)


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in SETTINGS_READ:
        get_config.cache_clear()


setting_changed.connect(_settings_changed, dispatch_uid="staticwrap.django.conf")
