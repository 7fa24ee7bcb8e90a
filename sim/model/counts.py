"""Fan-out counts: how many instances a workflow-graph step runs (docs/model.md, "Workflow graphs").

A count is a positive integer drawn once per replication (shared by every strategy: the
document to embed has the same number of chunks whatever the orchestrator) by the inverse CDF
of one uniform, so common random numbers carry over. Scenario syntax (the calibration writes it):

* ``count = 10``
* ``count = { dist = "poisson", mean = 8, min = 1 }`` (optional ``max``): Poisson conditioned on
  ``min <= N <= max`` (a truncated Poisson, not a clamped one);
* ``count = { dist = "uniform", low = 2, high = 12 }``: integers, both ends included;
* ``count = { dist = "empirical", values = [3, 5, 10], weights = [0.2, 0.5, 0.3] }`` (weights are
  normalised; they must be positive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MAX_COUNT = 65535  # instances per step: a (step, instance) pair names a random-number lane (sim.model.workflow)


@dataclass(frozen=True)
class CountDist:
    """A discrete distribution on {1, 2, …} given by its support and probabilities."""

    values: tuple[int, ...]
    probs: tuple[float, ...]
    label: str

    @property
    def is_random(self) -> bool:
        return len(self.values) > 1

    @property
    def fixed(self) -> int | None:
        return self.values[0] if len(self.values) == 1 else None

    def mean(self) -> float:
        return float(np.dot(self.values, self.probs))

    def ppf(self, u: np.ndarray) -> np.ndarray:
        cdf = np.cumsum(self.probs)
        cdf[-1] = 1.0
        idx = np.searchsorted(cdf, np.asarray(u, dtype=np.float64), side="right")
        return np.asarray(self.values, dtype=np.int64)[np.minimum(idx, len(self.values) - 1)]

    def draw(self, u: float) -> int:
        return int(self.ppf(np.array([u]))[0])


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _check_range(values: list[int], what: str) -> None:
    for v in values:
        if v <= 0:
            raise ValueError(f"{what} must be a positive integer (at least one instance), got {v}")
        if v > MAX_COUNT:
            raise ValueError(f"{what} must be at most {MAX_COUNT}, got {v}")


_KEYS = {"poisson": ({"mean"}, {"min", "max"}), "uniform": ({"low", "high"}, set()),
         "empirical": ({"values"}, {"weights"})}


def parse_count(value: object) -> CountDist:
    """A fan-out count from an integer or a ``{dist = ...}`` table (module docstring)."""
    if isinstance(value, CountDist):
        return value
    if not isinstance(value, dict):
        n = _int(value, "count")
        _check_range([n], "count")
        return CountDist((n,), (1.0,), str(n))
    table = dict(value)
    kind = table.pop("dist", None)
    if kind not in _KEYS:
        raise ValueError(f"count 'dist' must be one of {', '.join(sorted(_KEYS))}, got {kind!r}")
    required, optional = _KEYS[kind]
    unknown = set(table) - required - optional
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} for count dist '{kind}' (expected {sorted(required | optional)})")
    missing = required - set(table)
    if missing:
        raise ValueError(f"count dist '{kind}' needs {sorted(missing)}")
    if kind == "uniform":
        low, high = _int(table["low"], "low"), _int(table["high"], "high")
        _check_range([low, high], "count")
        if high < low:
            raise ValueError(f"uniform count needs high >= low, got low={low} high={high}")
        n = high - low + 1
        return CountDist(tuple(range(low, high + 1)), (1.0 / n,) * n, f"uniform {low}..{high}")
    if kind == "empirical":
        values = table["values"]
        if not isinstance(values, list) or not values:
            raise ValueError("empirical count needs a non-empty list 'values'")
        ints = [_int(v, "values") for v in values]
        _check_range(ints, "count value")
        weights = table.get("weights", [1.0] * len(ints))
        if not isinstance(weights, list) or len(weights) != len(ints):
            raise ValueError(f"'weights' must be a list as long as 'values' ({len(ints)})")
        if any(isinstance(w, bool) or not isinstance(w, int | float) or not w > 0 for w in weights):
            raise ValueError("'weights' must be positive numbers")
        merged: dict[int, float] = {}
        for v, w in zip(ints, weights, strict=True):
            merged[v] = merged.get(v, 0.0) + float(w)
        total = sum(merged.values())
        keys = sorted(merged)
        return CountDist(tuple(keys), tuple(merged[k] / total for k in keys), "empirical")
    mean = table["mean"]
    if isinstance(mean, bool) or not isinstance(mean, int | float) or not (mean > 0 and math.isfinite(mean)):
        raise ValueError(f"poisson count needs a positive 'mean', got {mean!r}")
    lo = _int(table.get("min", 1), "min")
    _check_range([lo], "min")
    hi = _int(table["max"], "max") if "max" in table else None
    if hi is not None and hi < lo:
        raise ValueError(f"poisson count needs max >= min, got min={lo} max={hi}")
    top = hi if hi is not None else int(stats.poisson.isf(1e-12, mean)) + 1
    top = max(top, lo)
    _check_range([top], "count (the Poisson tail)")
    ks = np.arange(lo, top + 1)
    pmf = stats.poisson.pmf(ks, mean)
    if pmf.sum() <= 0:
        raise ValueError(f"poisson count with mean {mean} has no mass in [{lo}, {top}]")
    pmf = pmf / pmf.sum()
    return CountDist(tuple(int(k) for k in ks), tuple(float(p) for p in pmf), f"poisson mean {mean}")
