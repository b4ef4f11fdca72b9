"""``manage.py staticwrap_publish``: upload ``STATIC_ROOT`` to S3-compatible storage, after ``collectstatic``.

The destination and the store come from ``STATICWRAP["publish"]`` (``url``,
``endpoint_url``, ``region``, ``checksum``, ``prune``, ``jobs``, ``keep``,
``keep_for``), or from the command's options, which take precedence. The
objects are stored with the headers staticwrap's middleware would send under
the project's ``STATICWRAP`` options. Failures are one-line ``CommandError`` messages that
name the fix.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError

from staticwrap.django.conf import get_config
from staticwrap.django.management import reported_as_command_error
from staticwrap.errors import StaticwrapError
from staticwrap.progress import Progress


class Command(BaseCommand):
    help = "Upload STATIC_ROOT, as collectstatic built it, to S3-compatible storage (STATICWRAP['publish'])."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("url", nargs="?", help="s3://BUCKET/PREFIX/ (default: STATICWRAP['publish']['url'])")
        parser.add_argument("--endpoint-url", help="the store's URL, for a store other than AWS S3")
        parser.add_argument("--region", help="the store's region")
        parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
        parser.add_argument("--no-prune", action="store_true", help="keep the objects of dropped generations")
        parser.add_argument("--keep", type=int, help="generations kept by count (default: STATICWRAP['publish'])")
        parser.add_argument("--keep-for", help="and by time since replaced: 90m, 12h, 2d, 0")

    def handle(self, *args: Any, **options: Any) -> None:
        from staticwrap.publish import publish

        with reported_as_command_error():
            config = get_config()
        settings_given = dict(config.publish)
        url = options["url"] or settings_given.pop("url", None)
        settings_given.pop("url", None)
        if not url:
            raise CommandError(
                "no destination: give one, as in 'manage.py staticwrap_publish s3://my-bucket/static/', "
                "or set STATICWRAP = {'publish': {'url': 's3://my-bucket/static/'}}"
            )
        if config.static_root is None:
            raise CommandError("STATIC_ROOT is not set: set it, run 'manage.py collectstatic', then publish")
        for name in ("endpoint_url", "region", "keep", "keep_for"):
            if options[name] is not None:
                settings_given[name] = options[name]
        if options["no_prune"]:
            settings_given["prune"] = False
        # The wrapper passes write, flush and isatty through to the stream.
        try:
            with Progress(label="publish", stream=cast(TextIO, self.stderr), enabled=not options["dry_run"]) as bar:
                result = publish(
                    config.static_root,
                    url,
                    dry_run=options["dry_run"],
                    config=config.config,
                    progress=bar.step,
                    **settings_given,
                )
        except StaticwrapError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(result.summary())
