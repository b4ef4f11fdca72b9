"""Sphinx configuration for the staticwrap documentation."""

from __future__ import annotations

import staticwrap

project = "staticwrap"
author = "The staticwrap developers"
copyright = "2026, The staticwrap developers"
release = staticwrap.__version__
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.viewcode"]
intersphinx_mapping: dict[str, tuple[str, None]] = {}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"staticwrap {release}"
