"""Pieces of the HTTP grammar shared by the header parsers (RFC 9110 §5.6)."""

from __future__ import annotations

import re

#: OWS = *( SP / HTAB ) (§5.6.3), as characters for str.strip.
OWS = " \t"

#: token = 1*tchar (§5.6.2).
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: Characters left as they are when a file name is put in a URL path:
#: unreserved, sub-delims, ":" and "@" (RFC 3986 §3.3); "%", "?" and "#" are
#: data in a file name, so they are escaped.
SAFE_IN_PATH = "/:@!$&'()*+,;=-._~"

#: The methods a static file answers (§9.3.1, §9.3.2); every other one gets a 405.
SAFE_METHODS = frozenset({"GET", "HEAD"})
