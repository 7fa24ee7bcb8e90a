"""Human units: durations such as "45s", "2m", "1.5h", "1h30m", "2 hours", "90 minutes", "PT2H".

The grammar, in one place (every duration of a scenario file, ``--vary`` and ``Scenario.replace``):

* a plain number is seconds: ``90``, ``2.5``, ``"10"``;
* a number and a unit, or several of them added up: ``"45s"``, ``"1.5h"``, ``"250ms"``,
  ``"17m30s"``, ``"1h 30m"``, ``"2 hours"``, ``"1 hour, 30 minutes"``. Units, in any letter
  case: ``ms`` (millisecond), ``s`` (sec, second), ``m`` (min, minute), ``h`` (hr, hour),
  ``d`` (day), ``w`` (wk, week), singular or plural;
* an ISO 8601 duration: ``"PT2H"``, ``"PT1H30M"``, ``"P1DT12H"``, ``"P1W"`` (read by the
  ``isodate`` library).

Rejected with a message saying why: ``"5M"`` (a capital M alone is minutes in some tools and
months in ISO 8601 and others: write ``5m``/``5min``, or ``PT5M``), and months or years in any
spelling (``"2 months"``, ``"P1M"``, ``"1y"``: they have no fixed length in seconds; give days).
"""

from __future__ import annotations

import re

import isodate

_SECONDS_PER_UNIT = {
    "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "wk": 604800.0, "wks": 604800.0, "week": 604800.0, "weeks": 604800.0,
}
_NO_FIXED_LENGTH = {"mo", "mos", "month", "months", "y", "yr", "yrs", "year", "years"}
_EXAMPLES = '"45s", "2m", "1.5h", "1h30m", "2 hours", "90 minutes", "250ms" or ISO 8601 "PT2H"'
_PART_RE = re.compile(r"([0-9]*\.?[0-9]+)\s*([a-zA-Z]+)")
_COMPOUND_RE = re.compile(r"(?:\s*[0-9]*\.?[0-9]+\s*[a-zA-Z]+\s*,?)+\s*")
_DURATION_RE = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]+)?\s*$")
_ISO_RE = re.compile(r"^\s*[-+]?P", re.IGNORECASE)


def parse_duration_s(value: object) -> float:
    """Return a duration in seconds from a number (seconds) or a string (grammar above).

    Raises ValueError with a readable message on anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as {_EXAMPLES}, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as {_EXAMPLES}, got {value!r}")
    if _ISO_RE.match(value):
        return _iso_seconds(value)
    match = _DURATION_RE.match(value)
    if not match:
        compound = _COMPOUND_RE.fullmatch(value.strip())
        if compound and value.strip() and not value.strip().endswith(","):
            return sum(_scaled(n, u, value) for n, u in _PART_RE.findall(value))
        raise ValueError(f"cannot read duration {value!r} (use e.g. {_EXAMPLES})")
    number, unit = match.groups()
    if unit is None:
        return float(number)
    return _scaled(number, unit, value)


def _iso_seconds(value: str) -> float:
    text = value.strip()
    try:
        parsed = isodate.parse_duration(text.upper())
    except (isodate.ISO8601Error, ValueError):
        raise ValueError(f"cannot read ISO 8601 duration {value!r} (e.g. \"PT2H\", \"PT1H30M\", \"P1DT12H\")") from None
    if isinstance(parsed, isodate.Duration):  # has months or years
        raise ValueError(f"{value!r}: months and years have no fixed length in seconds; give days "
                         "(e.g. \"P30D\") or hours")
    return parsed.total_seconds()


def _scaled(number: str, unit: str, value: str) -> float:
    if unit == "M":
        raise ValueError(f"{value!r} is ambiguous: a capital 'M' means minutes to some tools and months "
                         "to others (ISO 8601); write \"m\" or \"min\" for minutes, e.g. \"5m\"")
    factor = _SECONDS_PER_UNIT.get(unit.lower())
    if factor is None:
        if unit.lower() in _NO_FIXED_LENGTH:
            raise ValueError(f"{value!r}: months and years have no fixed length in seconds; give days (e.g. \"30d\")")
        known = "ms, s, m/min, h/hr, d, w (or the words: seconds, minutes, hours, days, weeks)"
        raise ValueError(f"unknown time unit {unit!r} in {value!r} (known: {known})")
    return float(number) * factor


def format_duration(seconds: float) -> str:
    """Format seconds the way a person reads them: "45s", "2.5m", "1.2h", "3.0d"."""
    s = float(seconds)
    if s != s:  # NaN
        return "nan"
    a = abs(s)
    if a < 1:
        return f"{s * 1000:.0f}ms"
    if a < 120:
        return f"{s:.3g}s"
    if a < 7200:
        return f"{s / 60:.3g}m"
    if a < 172800:
        return f"{s / 3600:.3g}h"
    return f"{s / 86400:.3g}d"
