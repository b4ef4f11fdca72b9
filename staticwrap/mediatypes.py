"""Media types for served files: a fixed table, a charset rule, and a libmagic fallback.

The table is staticwrap's own and does not read ``/etc/mime.types`` or the
:mod:`mimetypes` registry, so a file gets the same Content-Type on every
machine. python-magic is consulted only for names the table cannot place, at
index time, and only if libmagic can be loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .errors import warn

OCTET_STREAM = "application/octet-stream"

#: Extension (lower case, with the dot) or whole file name → media type.
DEFAULT_MEDIA_TYPES: Mapping[str, str] = {
    # Documents and code. JavaScript is text/javascript (RFC 9239), .mjs too.
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".geojson": "application/geo+json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".xml": "application/xml",
    ".xsl": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".ics": "text/calendar",
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".pdf": "application/pdf",
    ".rtf": "application/rtf",
    ".epub": "application/epub+zip",
    # Images.
    ".png": "image/png",
    ".apng": "image/apng",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".jxl": "image/jxl",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".svg": "image/svg+xml",
    ".ico": "image/vnd.microsoft.icon",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    # Fonts (RFC 8081).
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".ttc": "font/collection",
    ".eot": "application/vnd.ms-fontobject",
    # Audio and video.
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".oga": "audio/ogg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".weba": "audio/webm",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mov": "video/quicktime",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".ts": "video/mp2t",
    # Archives and binaries.
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".br": "application/x-brotli",
    ".zst": "application/zstd",
    ".tar": "application/x-tar",
    ".7z": "application/x-7z-compressed",
    ".bin": OCTET_STREAM,
    # Whole names that have no telling extension.
    "apple-app-site-association": "application/json",
    "crossdomain.xml": "text/x-cross-domain-policy",
}

# Types that carry a charset parameter: text/* (RFC 6838 §4.2.1) and the XML
# types (RFC 7303 §9.1). JSON has no charset parameter (RFC 8259 §11), and
# neither do the +json types.
_CHARSET_TYPES = frozenset(
    {"application/xml", "application/xhtml+xml", "application/rss+xml", "application/atom+xml", "image/svg+xml"}
)


def lookup_media_type(name: str, table: Mapping[str, str]) -> str | None:
    """The media type the table gives a file name, whole name first, then extension."""
    lowered = name.lower()
    if lowered in table:
        return table[lowered]
    _, dot, extension = lowered.rpartition(".")
    return table.get("." + extension) if dot else None


def with_charset(media_type: str, charset: str | None) -> str:
    """Add ``; charset=...`` (unquoted, a token) to the types that take one."""
    if "charset=" in media_type.lower():
        return media_type  # a type given with its own charset keeps it
    if charset and (media_type.startswith("text/") or media_type in _CHARSET_TYPES):
        return f"{media_type}; charset={charset}"
    return media_type


Sniffer = Callable[[bytes], str]
_sniffer: Sniffer | None = None
_sniffer_loaded = False


def sniff_media_type(head: bytes, name: str) -> str:
    """Ask libmagic for the media type of a file the table cannot place.

    ``head`` is the start of the file. Without python-magic or libmagic the
    answer is ``application/octet-stream``, with one warning that says how to
    install libmagic.
    """
    sniffer = _load_sniffer(name)
    if sniffer is None:
        return OCTET_STREAM
    media_type = sniffer(head)
    # libmagic calls text it cannot classify "text/plain", and empty input
    # "application/x-empty" / "inode/x-empty", which are not media types to send.
    if "/" not in media_type or media_type.startswith(("inode/", "application/x-empty")):
        return OCTET_STREAM
    return media_type


def _load_sniffer(name: str) -> Sniffer | None:
    global _sniffer, _sniffer_loaded
    if not _sniffer_loaded:
        _sniffer_loaded = True
        try:
            import magic  # python-magic raises ImportError when libmagic is missing
        except ImportError as error:
            warn(
                f"cannot load python-magic ({error}), so {name!r} and other files whose "
                "extension is not in the media type table are served as application/octet-stream. "
                "Install libmagic (Debian/Ubuntu: apt-get install libmagic1; macOS: brew install libmagic) "
                "or give their types with the mimetypes= option."
            )
        else:
            detector = magic.Magic(mime=True)
            _sniffer = detector.from_buffer
    return _sniffer
