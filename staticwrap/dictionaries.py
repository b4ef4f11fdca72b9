"""Compression dictionary transport (RFC 9842): the header grammar and the ``dcz`` framing. Pure, no I/O.

A browser that received ``app.<old hash>.js`` with a ``Use-As-Dictionary``
header keeps its bytes; when it later asks for a URL the header's ``match``
pattern covers (``app.<new hash>.js``), it names them in
``Available-Dictionary`` (their SHA-256) and adds ``dcz`` to
``Accept-Encoding``. The server may then send the new file compressed with
zstd against the old one: a few bytes where the two versions differ.

The fields are RFC 8941 structured fields:

- ``Available-Dictionary`` (RFC 9842 §2.2) is an sf-binary Item,
  ``:<base64 of the 32-byte SHA-256>:``;
- ``Use-As-Dictionary`` (§2.1) is an sf-dictionary with ``match`` (an
  sf-string holding a URL pattern, required), ``match-dest`` (an inner list
  of sf-strings), ``id`` (an sf-string the browser echoes in
  ``Dictionary-ID``) and ``type`` (a token, ``raw`` by default).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from urllib.parse import quote

from ._syntax import SAFE_IN_PATH

#: The content coding of a response compressed with zstd against a dictionary (RFC 9842 §5.2).
DCZ = "dcz"

#: RFC 9842 §5.2: a ``dcz`` body starts with a zstd skippable frame (RFC 8878
#: §3.1.2) of magic 0x184D2A5E and length 32 (both little-endian), that is 8
#: bytes, holding the dictionary's 32-byte SHA-256: a 40-byte header in all.
#: (Early drafts had a 4-byte magic and a 36-byte header; the RFC has 40.)
DCZ_MAGIC = bytes((0x5E, 0x2A, 0x4D, 0x18, 0x20, 0x00, 0x00, 0x00))
DCZ_HEADER_SIZE = len(DCZ_MAGIC) + 32

#: RFC 9842 §6.2: a response that depends on Available-Dictionary must say so
#: to caches, with Accept-Encoding, which also decides whether dcz is acceptable.
VARY_FIELD = "Available-Dictionary"

#: RFC 9842 §5.2: a client accepting dcz decodes windows up to the larger of
#: 8 MiB and 1.25 times the dictionary, and never needs more than 128 MiB.
MIN_WINDOW = 8 * 1024 * 1024
MAX_WINDOW = 128 * 1024 * 1024

# sf-binary = ":" *(base64) ":" (RFC 8941 §3.3.5), with OWS allowed around a
# field value (§4.2: leading and trailing SP are discarded). A SHA-256 is 32
# bytes: exactly 43 base64 characters and one "=" of padding.
_AVAILABLE = re.compile(r":([A-Za-z0-9+/]{43}=):")

# The longest Available-Dictionary value read: 46 characters and a little
# white space. A longer one is not a SHA-256, and is refused before any
# pattern runs over it, whatever its length.
_MAX_AVAILABLE_LENGTH = 64


def parse_available_dictionary(value: str | None) -> bytes | None:
    """The 32-byte SHA-256 an ``Available-Dictionary`` field names, or ``None`` to ignore the field.

    Strict (RFC 8941 §4.2.7 lets a parser refuse bad padding): anything but
    one sf-binary of exactly 32 bytes, such as parameters, a list, base64url
    characters or a hash of another length, is ignored, and the request is
    answered as if it had no dictionary (RFC 9842 §6.1: the server may
    always send a response that uses none).
    """
    if value is None or len(value) > _MAX_AVAILABLE_LENGTH:
        return None
    match = _AVAILABLE.fullmatch(value.strip(" "))
    if match is None:
        return None
    try:
        return base64.b64decode(match.group(1), validate=True)
    except binascii.Error:  # pragma: no cover - the pattern admits only well-formed base64
        return None


def format_available_dictionary(sha256: bytes) -> str:
    """The ``Available-Dictionary`` value a client sends for a dictionary with this SHA-256."""
    return ":" + base64.b64encode(sha256).decode("ascii") + ":"


# sf-string: printable ASCII, "\" and DQUOTE escaped (RFC 8941 §3.3.3, §4.1.6).
_SF_STRING_CHARACTERS = re.compile(r"[\x20-\x7e]*")


def sf_string(text: str) -> str:
    """Serialize ``text`` as an RFC 8941 sf-string; :class:`ValueError` for characters it cannot hold."""
    if not _SF_STRING_CHARACTERS.fullmatch(text):
        raise ValueError(f"{text!r} has a character an sf-string cannot hold (printable ASCII only)")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_use_as_dictionary(match: str, match_dest: Sequence[str] = (), id: str | None = None) -> str:
    """The ``Use-As-Dictionary`` value (an sf-dictionary, RFC 9842 §2.1) for a URL pattern.

    ``type`` is left out: ``raw``, the only type, is its default.
    """
    members = [f"match={sf_string(match)}"]
    if match_dest:
        members.append("match-dest=(" + " ".join(sf_string(dest) for dest in match_dest) + ")")
    if id is not None:
        members.append(f"id={sf_string(id)}")
    return ", ".join(members)


# The characters that mean something in a URL pattern's pathname (WHATWG URL
# Pattern: "*" wildcard, ":name" groups, "(regexp)", "{...}" groups and the
# "?", "+" modifiers) and its escape character; a literal one is escaped.
_PATTERN_SYNTAX = re.compile(r"[\\*:(){}?+]")


def match_pattern(url: str, digest: str) -> str | None:
    """The ``match`` pattern of a content-hashed URL: its file name with the hash as a wildcard.

    ``/static/app.3f2a1b9c0d4e.js`` → ``app.*.js``. The pattern is relative:
    the browser parses it with the dictionary's own URL as the base (RFC
    9842 §2.1.1), so it means ``/static/app.*.js`` there, and stays right
    under any mount point (``SCRIPT_NAME``) or proxy prefix, which the
    server does not see. Every later version of the file matches, so the
    browser offers this one as their dictionary. ``digest`` is the hash in
    the name, as :func:`staticwrap.resolve.hashed_name` put it there (before
    the last extension, or at the end of a name without one). ``None`` when
    the name does not hold it there. The rest of the name is percent-encoded
    as in a request, and its pattern characters are escaped, so that it
    matches only itself.
    """
    base = url.rpartition("/")[2]
    hashed = "." + digest
    if base.endswith(hashed) and len(base) > len(hashed):
        before, after = base[: -len(hashed)], ""
    else:
        stem, dot, extension = base.rpartition(".")
        if not dot or not stem.endswith(hashed) or len(stem) == len(hashed):
            return None
        before, after = stem[: -len(hashed)], "." + extension
    # A file name holds no "/", and a ":" (which would read as a scheme) is
    # escaped with the pattern syntax: the pattern stays a relative file name.
    return _literal(before + ".") + "*" + _literal(after)


def _literal(path: str) -> str:
    return _PATTERN_SYNTAX.sub(lambda found: "\\" + found.group(), quote(path, safe=SAFE_IN_PATH))


def dcz_header(dictionary_sha256: bytes) -> bytes:
    """The 40 bytes a ``dcz`` body starts with, for a dictionary of this SHA-256 (RFC 9842 §5.2)."""
    if len(dictionary_sha256) != 32:
        raise ValueError("a dcz header holds a 32-byte SHA-256")
    return DCZ_MAGIC + dictionary_sha256


def window_limit(dictionary_size: int) -> int:
    """The largest zstd window a ``dcz`` client must decode with a dictionary of this size (RFC 9842 §5.2)."""
    return min(MAX_WINDOW, max(MIN_WINDOW, dictionary_size * 5 // 4))


def accepts_dcz(weights: dict[str, float]) -> bool:
    """Whether parsed Accept-Encoding weights name ``dcz`` with a non-zero qvalue.

    Named, not covered by ``*``: RFC 9842 §6.1 has the client announce the
    coding, and a client that only says ``*`` may not know it.
    """
    return weights.get(DCZ, 0.0) > 0


#: Hex digits of the dictionary's SHA-256 that end a delta file's name.
DELTA_KEY_LENGTH = 12
_DELTA_SUFFIX = re.compile(rf"\.[0-9a-f]{{{DELTA_KEY_LENGTH}}}\.{DCZ}\Z")


def delta_name(hashed: str, dictionary_sha256_hex: str) -> str:
    """The file name of ``hashed`` compressed against the dictionary of this hex SHA-256."""
    return f"{hashed}.{dictionary_sha256_hex[:DELTA_KEY_LENGTH]}.{DCZ}"


def delta_original(name: str) -> str:
    """The name a delta file's name (see :func:`delta_name`) was made from; ``name`` itself for other names."""
    found = _DELTA_SUFFIX.search(name)
    return name if found is None else name[: found.start()]
