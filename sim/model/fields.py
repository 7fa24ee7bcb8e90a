"""Field types of scenario files: durations in human units ("45s", "2m") → float seconds, and
duration distributions (a number or string for a fixed duration, or a table with ``dist``)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from sim.model.distributions import (
    DIST_PARAMETERS,
    Distribution,
    Exponential,
    Fixed,
    LogNormal,
    Uniform,
    Weibull,
)
from sim.model.units import parse_duration_s


def _duration(value: object) -> float:
    seconds = parse_duration_s(value)
    if not math.isfinite(seconds):
        raise ValueError(f"duration must be finite, got {value!r}")
    return seconds


def _positive_duration(value: object) -> float:
    seconds = _duration(value)
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {value!r}")
    return seconds


def _non_negative_duration(value: object) -> float:
    seconds = _duration(value)
    if seconds < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return seconds


PositiveDuration = Annotated[float, BeforeValidator(_positive_duration)]
NonNegativeDuration = Annotated[float, BeforeValidator(_non_negative_duration)]

_DIST_KEYS = DIST_PARAMETERS


def parse_distribution(value: object, *, allow_zero: bool = False) -> Distribution:
    """A duration distribution from a number/string (fixed) or a table with ``dist``."""
    check = _non_negative_duration if allow_zero else _positive_duration
    if isinstance(value, Fixed | Exponential | LogNormal | Uniform | Weibull):
        return value
    if not isinstance(value, dict):
        return Fixed(check(value))
    table = dict(value)
    kind = table.pop("dist", None)
    if kind not in _DIST_KEYS:
        known = ", ".join(sorted(_DIST_KEYS))
        raise ValueError(f"'dist' must be one of {known}, got {kind!r}")
    expected = _DIST_KEYS[kind]
    unknown = set(table) - expected
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} for dist '{kind}' (expected {sorted(expected)})")
    missing = expected - set(table)
    if missing:
        raise ValueError(f"dist '{kind}' needs {sorted(missing)}")
    if kind == "fixed":
        return Fixed(check(table["value"]))
    if kind == "exponential":
        return Exponential(_positive_duration(table["mean"]))
    if kind == "lognormal":
        median, p95 = _positive_duration(table["median"]), _positive_duration(table["p95"])
        if p95 <= median:
            raise ValueError(f"lognormal needs p95 > median, got median={median}s p95={p95}s")
        return LogNormal(median, p95)
    if kind == "uniform":
        low, high = _non_negative_duration(table["low"]), _positive_duration(table["high"])
        if high < low:
            raise ValueError(f"uniform needs high >= low, got low={low}s high={high}s")
        return Uniform(low, high)
    shape = table["shape"]
    if not isinstance(shape, int | float) or isinstance(shape, bool) or shape <= 0:
        raise ValueError(f"weibull shape must be a positive number, got {shape!r}")
    return Weibull(float(shape), _positive_duration(table["scale"]))


DurationDist = Annotated[Any, BeforeValidator(parse_distribution)]
NonNegativeDurationDist = Annotated[Any, BeforeValidator(lambda v: parse_distribution(v, allow_zero=True))]


class ConfigModel(BaseModel):
    """A table of a scenario file: unknown keys are errors, values are frozen, keys may be aliases."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
