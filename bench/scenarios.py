"""The request scenarios, shared by the in-process and the wire sections, and their checks.

A scenario names the feature it needs; a contender without it is not
measured ("n/a (no support)"). Each response is checked once per contender
before it is timed: the status, and the header that shows the contender did
the work asked for (``Content-Encoding: br``, the ``Content-Range``, the
pass-through marker of the bare application).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .apps import APP_MARKER, BR, CHUNKED, CONDITIONAL, FILES, FLOOR, PASS, PREFIX, RANGE, Contender
from .trees import LARGE_SIZE, SMALL_SIZE

RANGE_START, RANGE_END = 1024 * 1024, 2 * 1024 * 1024 - 1
#: What a browser sends: the br sibling is the one to serve.
BROWSER_ACCEPT_ENCODING = "gzip, deflate, br"


@dataclass(frozen=True)
class Scenario:
    """One row: a request, the feature it needs, and the response expected."""

    key: str
    title: str
    path: str
    feature: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Response headers that must have these values (names in lower case).
    expect_headers: Mapping[str, str] = field(default_factory=dict)
    #: If-None-Match gets the contender's own ETag, read from a first response.
    conditional: bool = False
    #: Reported as MB/s on the wire rather than requests/s.
    bulk: bool = False

    def request_headers(self, etag: str | None) -> dict[str, str]:
        """The request's headers; ``etag`` is the contender's own, for a conditional scenario."""
        headers = dict(self.headers)
        if self.conditional:
            if etag is None:
                raise ValueError(f"{self.key}: the contender sent no ETag to revalidate with")
            headers["If-None-Match"] = etag
        return headers

    def applies_to(self, contender: Contender) -> bool:
        if self.feature in contender.features:
            return True
        return FLOOR in contender.features and self.key == HIT_1K.key

    def passes_through(self, contender: Contender) -> bool:
        """Whether the application, not the middleware, answers this scenario for ``contender``."""
        return self.feature == PASS or FLOOR in contender.features

    def check(self, contender: Contender, status: int, headers: Mapping[str, str]) -> str | None:
        """``None`` if the response is the one expected, else what is wrong with it."""
        passed = APP_MARKER.lower() in headers
        if self.passes_through(contender):
            if status != 200 or not passed:
                return f"expected the app's 200, got {status}{' from the middleware' if not passed else ''}"
            return None
        if passed:
            return f"expected the middleware to answer, but the app did ({status})"
        if status != self.status:
            return f"expected {self.status}, got {status}"
        for name, value in self.expect_headers.items():
            if name == "content-length" and CHUNKED in contender.features and name not in headers:
                continue  # its body's length is what wrk counts
            if headers.get(name) != value:
                return f"expected {name}: {value}, got {headers.get(name)!r}"
        return None


HIT_1K = Scenario(
    "hit_1k",
    "1 KiB file",
    PREFIX + "small.css",
    FILES,
    200,
    expect_headers={"content-length": str(SMALL_SIZE)},
)
BR_30K = Scenario(
    "br_30k",
    "30 KiB file as br",
    PREFIX + "app.js",
    BR,
    200,
    headers={"Accept-Encoding": BROWSER_ACCEPT_ENCODING},
    expect_headers={"content-encoding": "br"},
)
NOT_MODIFIED = Scenario(
    "not_modified",
    "304 (If-None-Match)",
    PREFIX + "small.css",
    CONDITIONAL,
    304,
    conditional=True,
)
RANGE_20M = Scenario(
    "range",
    "1 MiB range of 20 MiB",
    PREFIX + "large.bin",
    RANGE,
    206,
    headers={"Range": f"bytes={RANGE_START}-{RANGE_END}"},
    expect_headers={"content-range": f"bytes {RANGE_START}-{RANGE_END}/{LARGE_SIZE}"},
    bulk=True,
)
LARGE_20M = Scenario(
    "large",
    "20 MiB file",
    PREFIX + "large.bin",
    FILES,
    200,
    expect_headers={"content-length": str(LARGE_SIZE)},
    bulk=True,
)
MISS = Scenario("miss", "miss under the prefix (to app)", PREFIX + "no-such-file.js", PASS, 200)
NON_STATIC = Scenario("non_static", "non-static path (to app)", "/api/items", PASS, 200)

#: In-process rows, in table order.
IN_PROCESS = (HIT_1K, BR_30K, NOT_MODIFIED, RANGE_20M, MISS, NON_STATIC)
#: Wire rows, in table order.
WIRE = (HIT_1K, BR_30K, NOT_MODIFIED, MISS, NON_STATIC, LARGE_20M, RANGE_20M)
