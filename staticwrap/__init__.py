"""staticwrap: serve static files from any WSGI application, correctly and fast."""

from __future__ import annotations

from .config import ESBUILD, VITE, Config
from .errors import ConfigurationError, StaticwrapError, StaticwrapWarning
from .middleware import StaticWrap

__version__ = "0.1.0"

__all__ = [
    "ESBUILD",
    "VITE",
    "Config",
    "ConfigurationError",
    "StaticWrap",
    "StaticwrapError",
    "StaticwrapWarning",
    "__version__",
]
