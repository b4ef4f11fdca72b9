"""HTTP-date parsing and formatting (RFC 9110 §5.6.7). Pure functions, no I/O.

Timestamps are whole seconds since the epoch (``int``): HTTP dates have a
resolution of one second, and every comparison staticwrap makes
(If-Modified-Since, If-Unmodified-Since, If-Range) is between such values.
"""

from __future__ import annotations

import calendar
import re
import time

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}

_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"

# The three forms a recipient MUST accept (§5.6.7). Names are case-sensitive
# (%s"..." in the ABNF) and digits are ASCII only, so no re.IGNORECASE and no \d.
#   IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT
#                  ; Sun, 06 Nov 1994 08:49:37 GMT
_IMF_FIXDATE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) " + _MONTH + r" ([0-9]{4}) " + _TIME + " GMT")
#   rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT
#                  ; Sunday, 06-Nov-94 08:49:37 GMT
_RFC850_DATE = re.compile(
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), ([0-9]{2})-"
    + _MONTH
    + r"-([0-9]{2}) "
    + _TIME
    + " GMT"
)
#   asctime-date = day-name SP date3 SP time-of-day SP year
#                  ; Sun Nov  6 08:49:37 1994   (date3 = month SP ( 2DIGIT / ( SP DIGIT ) ))
_ASCTIME_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) " + _MONTH + r" ([0-9]{2}| [0-9]) " + _TIME + r" ([0-9]{4})"
)

# An HTTP-date is 29 characters in IMF-fixdate and at most 33 in rfc850-date;
# anything much longer is not a date, and need not be matched at all.
_MAX_DATE_LENGTH = 40


def parse_http_date(value: str | None, *, now: float | None = None) -> int | None:
    """Parse an HTTP-date in any of its three formats; ``None`` if it is not one.

    A list of dates, trailing text, a time zone other than GMT or an impossible
    calendar date (``31 Feb``) all make the value invalid, which the callers
    treat as "ignore this header" (RFC 9110 §13.1.3, §13.1.4).
    """
    if value is None:
        return None
    value = value.strip(" \t")
    if len(value) > _MAX_DATE_LENGTH:
        return None
    if match := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(int(year), month, int(day), hour, minute, second)
    if match := _RFC850_DATE.fullmatch(value):
        day, month, short_year, hour, minute, second = match.groups()
        current = time.gmtime(time.time() if now is None else now)
        year = current.tm_year - current.tm_year % 100 + int(short_year)
        # §5.6.7: a date that would be more than 50 years in the future means
        # the most recent past year with the same last two digits. Compared
        # as dates, not years: 31 Dec 2075 is more than 50 years after 1 Jan 2025.
        moment = (year, _MONTH_NUMBER[month], int(day), int(hour), int(minute), int(second))
        fifty_years_on = (current.tm_year + 50, *current[1:6])
        if moment > fifty_years_on:
            year -= 100
        return _timestamp(year, month, int(day), hour, minute, second)
    if match := _ASCTIME_DATE.fullmatch(value):
        month, day, hour, minute, second, year = match.groups()
        return _timestamp(int(year), month, int(day.strip()), hour, minute, second)
    return None


def _timestamp(year: int, month: str, day: int, hour: str, minute: str, second: str) -> int | None:
    month_number = _MONTH_NUMBER[month]
    hours, minutes, seconds = int(hour), int(minute), int(second)
    # second may be 60 (a leap second, §5.6.7 allows it); timegm rolls it over.
    if year < 1 or hours > 23 or minutes > 59 or seconds > 60:
        return None
    if not 1 <= day <= calendar.monthrange(year, month_number)[1]:
        return None
    return calendar.timegm((year, month_number, day, hours, minutes, seconds, 0, 0, 0))


def format_http_date(timestamp: int) -> str:
    """Format a timestamp as an IMF-fixdate, the one form a sender generates (§5.6.7)."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
