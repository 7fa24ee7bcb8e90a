"""Human units: durations such as "45s", "2m", "1.5h", "250ms", "3d"; plain numbers are seconds."""

from __future__ import annotations

import re

_SECONDS_PER_UNIT = {
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "w": 604800.0,
}
_PART_RE = re.compile(r"([0-9]*\.?[0-9]+)\s*([a-zA-Z]+)")
_COMPOUND_RE = re.compile(r"(?:\s*[0-9]*\.?[0-9]+\s*[a-zA-Z]+)+\s*")
_DURATION_RE = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]+)?\s*$")


def parse_duration_s(value: object) -> float:
    """Return a duration in seconds from a number (seconds) or a string such as "1.5h".

    Raises ValueError with a readable message on anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as \"45s\" or \"2m\", got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as \"45s\" or \"2m\", got {value!r}")
    match = _DURATION_RE.match(value)
    if not match:
        compound = _COMPOUND_RE.fullmatch(value.strip())
        if compound and value.strip():
            return sum(_scaled(n, u, value) for n, u in _PART_RE.findall(value))
        raise ValueError(f"cannot read duration {value!r} (use e.g. \"45s\", \"2m\", \"1.5h\", \"17m30s\", \"250ms\")")
    number, unit = match.groups()
    if unit is None:
        return float(number)
    return _scaled(number, unit, value)


def _scaled(number: str, unit: str, value: str) -> float:
    factor = _SECONDS_PER_UNIT.get(unit.lower())
    if factor is None:
        known = ", ".join(sorted(_SECONDS_PER_UNIT))
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
