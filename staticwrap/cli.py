"""The ``staticwrap`` command: ``build``, ``compress``, ``serve`` and ``inspect`` a directory, ``publish`` a build."""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from . import __version__, compress
from .asset import Asset, Redirect
from .errors import ConfigurationError, StaticwrapError, keyword
from .generations import DEFAULT_KEEP, DEFAULT_KEEP_FOR
from .middleware import StaticWrap
from .negotiation import SERVER_ORDER
from .progress import Progress
from .publish.store import PublishError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 on success; 1 when a file could not be read or written (the message
    says which), or ``inspect`` was given a URL not in the index; 2 on bad
    input (options, a directory, a reference the build cannot resolve).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    # Warnings (a skipped file, a missing reference with --no-strict) read as
    # messages, not as Python source locations; restored for in-process callers.
    saved, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        result: int = args.run(args)
    except ConfigurationError as error:
        print(f"staticwrap: error: {error.spelled(_as_typed, python=False)}", file=sys.stderr)
        return 2
    except PublishError as error:  # the store's answer, not the input's: as an unwritable file
        print(f"staticwrap: error: {error}", file=sys.stderr)
        return 1
    except StaticwrapError as error:
        print(f"staticwrap: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly, and
        # keep the interpreter from failing again when it flushes stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # the machine's problem, not the input's: an unwritable DEST, a full disk
        print(f"staticwrap: error: {error}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = saved
    return result


#: The port of ``serve`` when none is given, as with ``python -m http.server``.
DEFAULT_PORT = 8000

#: The flag that sets each keyword option of the Python API: an error about
#: an option names the flag the user typed. ``None``: a positional argument,
#: named by its value alone.
FLAGS: dict[str, str | None] = {
    "root": None,
    "prefix": "--prefix",
    "max_age": "--max-age",
    "index_file": "--index-file",
    "cors": "--cors",
    "not_found": "--not-found",
    "codings": "--coding",
    "min_saving": "--min-saving",
    "jobs": "--jobs",
    "keep": "--keep",
    "keep_for": "--keep-for",
    "dictionaries": "--dictionaries",
    "tree": None,
    "url": None,
    "endpoint_url": "--endpoint-url",
    "region": "--region",
}


def _as_typed(option: str, value: object) -> str:
    """An option and its value as written on the command line (``--jobs 0``), for error messages."""
    if option not in FLAGS:
        return keyword(option, value)  # an option no flag sets: named as the Python API does
    flag = FLAGS[option]
    typed = shlex.quote(str(value))
    return typed if flag is None else f"{flag} {typed}"


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    return f"staticwrap: warning: {str(message).removeprefix('staticwrap: ')}\n"


class _HelpWithDefaults(argparse.HelpFormatter):
    """Help that ends each option's text with its default, unless the text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        # No default to show: a flag (it is off unless given), or an option the help explains.
        if "default" in text or action.nargs == 0 or action.default in (None, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)r)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="staticwrap", description="Build, compress, serve, inspect and publish static files."
    )
    parser.add_argument("--version", action="version", version=f"staticwrap {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", formatter_class=_HelpWithDefaults, help="serve a directory over HTTP (development and demos)"
    )
    # The arguments of python -m http.server where they overlap: [DIRECTORY] [PORT], -d, -b.
    serve.add_argument(
        "directory", nargs="?", help="the directory to serve; a lone number is the PORT (default: the current one)"
    )
    serve.add_argument("port_argument", nargs="?", metavar="PORT", help="as --port")
    serve.add_argument(
        "-d",
        "--directory",
        dest="directory_option",
        metavar="DIRECTORY",
        help="as DIRECTORY (default: the current one)",
    )
    _add_index_options(serve, positional=False)
    serve.add_argument(
        "-b", "--bind", "--host", dest="host", metavar="ADDRESS", default="127.0.0.1", help="address to listen on"
    )
    serve.add_argument("--port", type=_port, help=f"port to listen on, 0 for any free one (default: {DEFAULT_PORT})")
    serve.add_argument("--autorefresh", action="store_true", help="see files added or changed after startup")
    serve.add_argument(
        "--dictionaries", action="store_true", help="offer hashed files as compression dictionaries, send dcz deltas"
    )
    serve.add_argument(
        "--no-listing", dest="listing", action="store_false", help="answer 404, not a listing, for a directory URL"
    )
    serve.add_argument(
        "--not-found", metavar="FILE", help="page sent with the 404 of a missing path (default: a plain-text 404)"
    )
    serve.set_defaults(run=_serve)

    build = commands.add_parser(
        "build",
        formatter_class=_HelpWithDefaults,
        help="hash names, rewrite references, write a manifest with SRI, precompress (SRC -> DEST)",
    )
    build.add_argument("source", metavar="SRC", help="the directory of source assets")
    build.add_argument("destination", metavar="DEST", help="the directory to write (created if needed)")
    build.add_argument("--prefix", default="/", help="URL prefix DEST is served at, for absolute references")
    build.add_argument("--hashed-only", action="store_true", help="write only the hashed names, not the originals")
    strictness = build.add_mutually_exclusive_group()
    strictness.add_argument("--strict", dest="strict", action="store_true", default=True, help=argparse.SUPPRESS)
    strictness.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="warn about missing references and unreadable files instead of failing",
    )
    build.add_argument(
        "--keep",
        type=int,
        default=DEFAULT_KEEP,
        metavar="N",
        help="keep the files of the newest N builds, this one included (default: %(default)s)",
    )
    build.add_argument(
        "--keep-for",
        default=DEFAULT_KEEP_FOR,
        metavar="DURATION",
        help="and of any build replaced less than DURATION ago: 90m, 12h, 2d, 0 (default: %(default)s)",
    )
    build.add_argument(
        "--dictionaries",
        action="store_true",
        help="also write dcz deltas of each file against its kept earlier versions (RFC 9842)",
    )
    _add_compress_options(build)
    build.set_defaults(run=_build_command)

    compress_command = commands.add_parser(
        "compress", formatter_class=_HelpWithDefaults, help="write .br/.zst/.gz siblings for a built directory"
    )
    compress_command.add_argument("directory", help="the directory to compress in place")
    _add_compress_options(compress_command)
    compress_command.set_defaults(run=_compress_command)

    inspect = commands.add_parser(
        "inspect", formatter_class=_HelpWithDefaults, help="list what the index holds and the headers each file gets"
    )
    _add_index_options(inspect)
    inspect.add_argument("urls", nargs="*", metavar="URL", help="show the full response headers of these URLs")
    inspect.set_defaults(run=_inspect)

    publish = commands.add_parser(
        "publish",
        formatter_class=_HelpWithDefaults,
        help="upload a built directory to S3-compatible storage, incrementally, the manifest last",
    )
    publish.add_argument("tree", metavar="DEST", help="the directory `staticwrap build` wrote")
    publish.add_argument("url", metavar="URL", help="where to publish it: s3://BUCKET/PREFIX/")
    publish.add_argument("--endpoint-url", help="the store's URL, for a store other than AWS S3 (default: AWS)")
    publish.add_argument("--region", help="the store's region (default: from the AWS profile or environment)")
    publish.add_argument(
        "--dry-run", action="store_true", help="print what would be uploaded and deleted; change nothing"
    )
    publish.add_argument(
        "--no-prune",
        dest="prune",
        action="store_false",
        help="delete nothing: the objects of generations dropped stay, recorded for a later publish to delete",
    )
    publish.add_argument(
        "--no-checksum",
        dest="checksum",
        action="store_false",
        help="send no x-amz-checksum-sha256 (for a store that refuses it)",
    )
    publish.add_argument(
        "--keep",
        type=int,
        default=DEFAULT_KEEP,
        metavar="N",
        help="keep the objects of the newest N generations, the store's counted, this one included "
        "(default: %(default)s)",
    )
    publish.add_argument(
        "--keep-for",
        default=DEFAULT_KEEP_FOR,
        metavar="DURATION",
        help="and of any generation replaced less than DURATION ago: 90m, 12h, 2d, 0 (default: %(default)s)",
    )
    publish.add_argument("--max-age", type=int, default=60, help="max-age of files without a content hash")
    publish.add_argument("--jobs", type=int, default=8, help="uploads at a time")
    publish.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    publish.set_defaults(run=_publish_command)
    return parser


def _add_index_options(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        parser.add_argument("directory", help="the directory to serve")
    parser.add_argument("--prefix", default="/", help="URL prefix of the directory (default: %(default)s)")
    parser.add_argument("--max-age", type=int, default=60, help="max-age of files without a content hash")
    parser.add_argument("--index-file", default="index.html", help="file served for a directory URL ('' for none)")
    parser.add_argument(
        "--cors",
        metavar="ORIGIN",
        action="append",
        help="allow this origin ('*' for any; repeat for several; default: none)",
    )
    parser.add_argument("--allow-hidden", action="store_true", help="serve dotfiles and dot-directories")
    parser.add_argument("--follow-symlinks", action="store_true", help="serve symlinks that leave the directory")


def _add_compress_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-saving",
        type=float,
        default=compress.DEFAULT_MIN_SAVING,
        help="keep a variant only if it is this fraction smaller (default: %(default)s)",
    )
    parser.add_argument(
        "--coding",
        dest="codings",
        action="append",
        choices=SERVER_ORDER,
        help="a coding to write (repeat; default: all available)",
    )
    parser.add_argument("--jobs", type=int, default=None, help="processes to use (default: one per CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def _build_command(args: argparse.Namespace) -> int:
    from .build import build

    with Progress(label="build", enabled=not args.quiet) as bar:
        result = build(
            args.source,
            args.destination,
            prefix=args.prefix,
            strict=args.strict,
            hashed_only=args.hashed_only,
            codings=args.codings,
            min_saving=args.min_saving,
            jobs=args.jobs,
            keep=args.keep,
            keep_for=args.keep_for,
            dictionaries=args.dictionaries,
            progress=bar.step,
        )
    if not args.quiet:
        print(result.summary())
    return 0


def _publish_command(args: argparse.Namespace) -> int:
    from .publish import publish

    with Progress(label="publish", enabled=not args.quiet and not args.dry_run) as bar:
        result = publish(
            args.tree,
            args.url,
            endpoint_url=args.endpoint_url,
            region=args.region,
            checksum=args.checksum,
            prune=args.prune,
            keep=args.keep,
            keep_for=args.keep_for,
            dry_run=args.dry_run,
            jobs=args.jobs,
            max_age=args.max_age,
            progress=bar.step,
        )
    if not args.quiet or args.dry_run:
        print(result.summary())
    return 0


def _compress_command(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with Progress(label="compress", enabled=not args.quiet) as bar:
        results = compress.compress_tree(
            args.directory,
            codings=args.codings or compress.CODINGS,
            min_saving=args.min_saving,
            jobs=args.jobs,
            progress=lambda result: bar.advance(os.path.relpath(result.path, args.directory)),
        )
    if not args.quiet:
        print(compress.format_summary(results, time.monotonic() - started))
    return 0


def _build(args: argparse.Namespace, **extra: Any) -> StaticWrap:
    cors: str | list[str] | None = args.cors
    if cors is not None and "*" in cors:
        cors = "*"
    return StaticWrap(
        None,
        args.directory,
        prefix=args.prefix,
        max_age=args.max_age,
        index_file=args.index_file or None,
        cors=cors,
        allow_hidden=args.allow_hidden,
        follow_symlinks=args.follow_symlinks,
        **extra,
    )


def _port(text: str) -> int:
    """A TCP port number (0 asks the system for a free one), for ``--port``."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: give a number from 1 to 65535, or 0 for any free one"
        )
    return port


def _listening(host: str, port: int) -> socket.socket:
    """A socket listening on ``host`` and ``port``; a :class:`StaticwrapError` that says what to change if it cannot."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as error:
        # create_server appends the address to strerror: say the cause alone.
        gai = isinstance(error, socket.gaierror)
        reason = os.strerror(error.errno) if error.errno and not gai else error.strerror or str(error)
        raise StaticwrapError(
            f"cannot listen on {host} port {port} ({reason}): choose another "
            "--port (0 for any free one; below 1024 needs privileges) or --host"
        ) from None


def _serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    args.directory, args.port = _serve_arguments(args)
    # Show skipped files once at startup, not as errors.
    warnings.simplefilter("default")
    app = _build(
        args,
        autorefresh=args.autorefresh,
        listing=args.listing,
        not_found=args.not_found,
        dictionaries=args.dictionaries,
    )
    # Bound here, not by werkzeug, which prints its own text and exits when
    # it cannot bind: a busy, privileged or unknown address gets our message.
    with _listening(args.host, args.port) as listening:
        server = make_server(args.host, args.port, app, threaded=True, fd=listening.fileno())
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"staticwrap {__version__}: serving {args.directory} at http://{host}:{server.socket.getsockname()[1]}{app.index.roots[0].prefix}"
    )
    print("Press Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _serve_arguments(args: argparse.Namespace) -> tuple[str, int]:
    """The directory and port of ``serve``, from its arguments as ``python -m http.server`` takes them too.

    ``serve public``, ``serve public 8080``, ``serve 8080`` (a number that is
    not a directory here), ``serve -d public 8080``, and ``--port``.
    """
    given = [value for value in (args.directory, args.port_argument) if value is not None]
    directory = args.directory_option
    if (
        directory is None
        and given
        and not (len(given) == 1 and given[0].isascii() and given[0].isdigit() and not os.path.isdir(given[0]))
    ):
        directory = given.pop(0)
    if given and args.port is not None:
        raise StaticwrapError(f"two ports given, {given[0]} and --port {args.port}: give one")
    if len(given) > 1:
        raise StaticwrapError(f"two directories given, {args.directory} and --directory {directory}: give one")
    try:
        port = _port(given[0]) if given else args.port
    except argparse.ArgumentTypeError as error:
        raise StaticwrapError(f"PORT {error}") from None
    return directory or os.curdir, DEFAULT_PORT if port is None else port


def _inspect(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    app = _build(args)
    if not args.urls:
        for url, entry in sorted(app.files.items()):
            if isinstance(entry, Asset):
                codings = ",".join(entry.codings) or "-"
                cache = dict(entry.identity.ok_headers).get("Cache-Control", "-")
                print(f"{url}\t{entry.identity.size}\t{entry.content_type}\t{codings}\t{cache}", file=out)
            else:
                print(f"{url}\t->\t{entry.url}", file=out)
        return 0
    status = 0
    for url in args.urls:
        found = app.files.get(url)
        if not isinstance(found, Asset):
            print(f"{url}: not a file in the index{_url_hint(url, app)}", file=sys.stderr)
            status = 1
            continue
        for variant in (found.identity, *found.coded.values()):
            print(f"{url} ({variant.coding})", file=out)
            for name, value in variant.ok_headers:
                print(f"  {name}: {value}", file=out)
    return status


def _url_hint(url: str, app: StaticWrap) -> str:
    """The end of the message for a URL ``inspect`` did not find: the URL meant, if one is near."""
    entry = app.files.get(url)
    if isinstance(entry, Redirect):
        return f" (a redirect to {entry.url})"
    # The leading "/" or the prefix left out (ten.txt for /static/ten.txt).
    relative = url.lstrip("/")
    for candidate in ["/" + relative, *(root.prefix + relative for root in app.index.roots)]:
        if isinstance(app.files.get(candidate), Asset):
            return f"; did you mean {candidate!r}?"
    if not url.startswith("/"):
        return "; a URL starts with '/' and includes the --prefix"
    return ""
