"""Which earlier builds a build keeps: the retention rule of ``keep`` and ``keep_for``, and its options.

A *generation* is what one build listed: each logical name's hashed name and
record, and when it was built. A generation is *retired* when the next one
is built; until then, pages naming its hashed files may be rendered (by a
replica not yet updated) and cached (by browsers, by a CDN). Its hashed files
must then stay servable for a while, or a rolling deploy answers 404 for
``app.<old hash>.js``.

The rule: counting the new build as the first, a generation is kept while it
is among the newest ``keep``, **or** while it was retired less than
``keep_for`` ago. It is dropped only when beyond both limits. The count alone
fails a site that deploys ten times an hour (the pages of an hour ago are
still in caches); the time alone fails a site that deploys once a month (its
last generation would go a day after the deploy, while some browser tab may
stay open longer). Time counts from the retirement, not from the build: a
generation built a month ago and retired a minute ago was being served a
minute ago.

Pure: no I/O; the build gives the times.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .manifest import Generation

#: Generations kept by count, the new one included.
DEFAULT_KEEP = 3
#: How long a retired generation is kept, whatever the count: one day.
DEFAULT_KEEP_FOR = "1d"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A whole number and one unit ("90m", "12h", "2d"), or a lone "0": one
# spelling per duration, so that a typo ("2 days", "1.5h") is an error rather
# than a guess.
_DURATION = re.compile(r"(0|[1-9][0-9]{0,8})([smhd])?")


@dataclass(frozen=True, slots=True)
class Retention:
    """The checked retention options: ``keep`` generations by count, ``keep_for`` seconds after retirement."""

    keep: int
    keep_for: float

    @classmethod
    def of(cls, keep: int, keep_for: str | float | timedelta) -> Retention:
        """Check ``keep`` and ``keep_for``; :class:`ConfigurationError` names the bad one."""
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ConfigurationError.bad_value(
                "keep",
                keep,
                "give a number of generations >= 1 (with 1, only the new build's files stay once the time to keep "
                "has passed)",
            )
        return cls(keep, parse_duration(keep_for))

    def kept(self, previous: Sequence[Generation], newest_built: int, now: float) -> tuple[Generation, ...]:
        """The generations of ``previous`` (newest first) that stay beside the newest, built at ``newest_built``.

        What is kept is always a run of the newest: both the position and the
        retirement time only grow older down the list.
        """
        kept: list[Generation] = []
        retired = newest_built
        for position, generation in enumerate(previous, start=2):
            if position > self.keep and now - retired >= self.keep_for:
                break
            kept.append(generation)
            retired = generation.built
        return tuple(kept)


def parse_duration(value: str | float | timedelta) -> float:
    """Seconds in ``value``: ``"90m"``, ``"12h"``, ``"2d"``, ``"30s"``, ``"0"``, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())) is not None:
        number, unit = match.groups()
        if unit is None and number != "0":
            raise _bad_duration(value)  # "90": minutes? seconds? a unit is required
        seconds = float(int(number) * _UNITS[unit or "s"])
    else:
        raise _bad_duration(value)
    if not seconds >= 0:  # also refuses NaN
        raise _bad_duration(value)
    return seconds


def _bad_duration(value: object) -> ConfigurationError:
    return ConfigurationError.bad_value(
        "keep_for",
        value,
        "give a duration such as '90m', '12h' or '2d' (s, m, h, d), or '0' to keep by count alone",
    )
