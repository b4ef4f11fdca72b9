"""Sphinx configuration for the staticwrap documentation."""

from __future__ import annotations

import staticwrap

project = "staticwrap"
author = "The staticwrap developers"
copyright = "2026, The staticwrap developers"
release = staticwrap.__version__
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.viewcode"]
# No inventories: the build must not need the network.
intersphinx_mapping: dict[str, tuple[str, None]] = {}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
python_use_unqualified_type_names = True

nitpicky = False
exclude_patterns = ["_build"]
default_role = "literal"
highlight_language = "python"

html_theme = "furo"
html_title = f"staticwrap {release}"
