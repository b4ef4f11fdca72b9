"""Directory listings, made from the index alone: what a directory URL holds, as an HTML page.

Pure: the entries of a directory are read from the index's URLs (a directory
is a URL prefix of files the index serves), never from the file system, so a
listing shows exactly what a request can get: no dotfile, no refused
symlink, no precompressed sibling, and a subdirectory only when it holds
something servable.
"""

from __future__ import annotations

import bisect
import html
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

from ._syntax import SAFE_IN_PATH
from .asset import Asset

if TYPE_CHECKING:
    from .index import Entry

#: The headers of every listing: it changes with the files, so a cache must
#: ask again each time (RFC 9111 §5.2.2.4); it runs no script and loads
#: nothing but its own inline style, whatever a file name holds.
LISTING_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
)


class Listed(NamedTuple):
    """One line of a listing: a file, or a subdirectory (``size`` and ``modified`` ``None``)."""

    name: str
    directory: bool
    size: int | None = None
    #: Seconds since the epoch, as Last-Modified says; ``None`` if unknown.
    modified: int | None = None


def entries(files: Mapping[str, Entry], urls: Sequence[str], directory: str) -> list[Listed]:
    """The files and subdirectories the index serves right under ``directory`` (a URL ending in ``/``).

    ``urls`` are the keys of ``files`` in sorted order: the URLs under
    ``directory`` are one run of them, found by bisection, and each
    subdirectory's run is skipped in one step, so the cost grows with the
    entries listed, not with the whole index. Directories come first, then
    files, each in name order.
    """
    found: list[Listed] = []
    position = bisect.bisect_left(urls, directory)
    while position < len(urls) and urls[position].startswith(directory):
        url = urls[position]
        name, slash, _ = url[len(directory) :].partition("/")
        entry = files.get(url)
        if slash:
            found.append(listed(name, None))
            # "0" follows "/" in code point order: past every URL under name/.
            position = bisect.bisect_left(urls, f"{directory}{name}0", lo=position)
            continue
        if name and isinstance(entry, Asset):
            found.append(listed(name, entry))
        position += 1
    return ordered(found)


def listed(name: str, asset: Asset | None) -> Listed:
    """The line of the file ``asset``, or of the subdirectory ``name`` when ``asset`` is ``None``."""
    if asset is None:
        return Listed(name, directory=True)
    return Listed(name, False, asset.identity.file.size, asset.last_modified)


def ordered(found: Iterable[Listed]) -> list[Listed]:
    """Directories first, then files, each by name (ignoring case, then exactly)."""
    return sorted(found, key=lambda item: (not item.directory, item.name.casefold(), item.name))


def render(directory: str, listed: Sequence[Listed], *, parent: bool) -> bytes:
    """The HTML page listing ``listed`` under the URL path ``directory``.

    Links are relative (``name``, ``sub/``, ``../``), so they work wherever
    the directory is mounted (a prefix, a ``SCRIPT_NAME``). Every name is
    percent-encoded in the link and HTML-escaped in the text.
    """
    title = html.escape(f"Index of {directory}")
    rows = ['<tr><td><a href="../">../</a></td><td></td><td></td></tr>'] if parent else []
    rows += [_row(item) for item in listed]
    page = (
        "<!doctype html>\n"
        '<html lang="en">\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width">\n'
        f"<title>{title}</title>\n"
        "<style>body{font-family:sans-serif}td{padding:0 1em 0 0}td+td{text-align:right}</style>\n"
        f"<h1>{title}</h1>\n"
        "<table>\n<tr><th>Name</th><th>Size</th><th>Last modified (UTC)</th></tr>\n"
        + "".join(row + "\n" for row in rows)
        + "</table>\n"
    )
    return page.encode("utf-8")


def _row(item: Listed) -> str:
    name = item.name + "/" if item.directory else item.name
    href = quote(name, safe=SAFE_IN_PATH)
    if ":" in href.partition("/")[0]:
        href = "./" + href  # a name with a colon must not read as a scheme (RFC 3986 §4.2)
    size = "-" if item.size is None else f"{item.size:,}"
    modified = "-" if item.modified is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(item.modified))
    return (
        f'<tr><td><a href="{html.escape(href, quote=True)}">{html.escape(name)}</a></td>'
        f"<td>{size}</td><td>{modified}</td></tr>"
    )
