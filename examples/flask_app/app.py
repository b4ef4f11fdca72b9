"""A small Flask application whose static files staticwrap serves; README.md says how to run it.

By default the sources in ``static/`` are served as they are. With
``FLASK_STATIC_BUILD=build`` (or ``create_app({"STATIC_BUILD": ...})``) the
app serves the tree ``staticwrap build static build`` wrote instead: hashed
names cached for a year, and Subresource Integrity values in the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template

from staticwrap.flask import init_app


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The application factory ``flask --app`` and ``gunicorn 'app:create_app()'`` call."""
    app = Flask(__name__)
    # Every FLASK_* environment variable lands in app.config without the
    # prefix: FLASK_STATIC_BUILD=build sets STATIC_BUILD.
    app.config.from_prefixed_env()
    if config is not None:
        app.config.update(config)
    built = app.config.get("STATIC_BUILD")
    if built:
        # Set before init_app, so the built tree is what gets indexed; a path
        # relative to this folder, as Flask's own static_folder is.
        app.static_folder = str(built)
    init_app(app)

    @app.get("/")
    def index() -> str:
        return render_template("index.html", built=bool(built))

    return app
