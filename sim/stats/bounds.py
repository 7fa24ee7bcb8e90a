"""Intervals that respect what they measure: counts, times and costs are ≥ 0, fractions in [0, 1].

The interval of a mean is the Student t interval ``mean ± t_{(1+c)/2, n−1}·se``. When it would
cross the metric's bound (few replications, skewed data), it is replaced by the delta-method
interval on a transformed scale, mapped back: on the log scale for a non-negative metric,
``mean·exp(±t·se/mean)``, and on the logit scale for a fraction,
``expit(logit(mean) ± t·se/(mean·(1 − mean)))``. Both have the same first-order coverage as
the t interval and lie strictly inside the bounds. A mean on the bound itself (every value 0)
has se = 0 and the interval [0, 0].

``MIN_REPLICATIONS``: below this many replications a t interval rests on the normality of very
few values; the commands print a warning.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

__all__ = ["MIN_REPLICATIONS", "bounded_interval", "few_replications_warning", "mean_interval", "metric_bounds",
           "proportion_interval"]

MIN_REPLICATIONS = 10

_COUNTS = frozenset({
    "attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts", "heartbeats", "preemptions",
    "on_demand_fallbacks",
    "orchestration_actions", "history_events", "calls", "wasted_calls", "provider_429s",
    "outage_errors", "workflows", "completed", "abandoned", "unfinished", "events", "workers",
})
_FRACTION_WORDS = ("utilisation", "utilization", "fraction", "probability", "share", "completed_rate")


def metric_bounds(metric: str) -> tuple[float, float]:
    """(lower, upper) bound of a metric's values, from its name: fractions [0, 1]; counts, times
    (``_s``), money (``_usd``) and rates (``_per_h``) [0, ∞); anything else unbounded."""
    name = str(metric)
    if any(word in name for word in _FRACTION_WORDS):
        return 0.0, 1.0
    if name in _COUNTS or name.endswith(("_s", "_usd", "_per_h", "_count")):
        return 0.0, math.inf
    return -math.inf, math.inf


def bounded_interval(mean: np.ndarray | float, se: np.ndarray | float, n: np.ndarray | float,
                     bounds: tuple[float, float], confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the t interval, or of the transformed interval where the t interval
    crosses ``bounds`` (see the module docstring); NaN where n < 2."""
    mean_a = np.asarray(mean, dtype=float)
    se_a = np.asarray(se, dtype=float)
    n_a = np.asarray(n, dtype=float)
    dof = np.where(n_a >= 2, n_a - 1, np.nan)
    tq = sps.t.ppf(0.5 + confidence / 2, dof)
    half = tq * se_a
    low, high = mean_a - half, mean_a + half
    lo_b, hi_b = bounds
    crosses = (low < lo_b) | (high > hi_b)
    if np.any(crosses):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if lo_b == 0.0 and hi_b == 1.0:
                inside = (mean_a > 0) & (mean_a < 1)
                z = np.log(mean_a / (1 - mean_a))
                w = tq * se_a / (mean_a * (1 - mean_a))
                t_low, t_high = 1 / (1 + np.exp(-(z - w))), 1 / (1 + np.exp(-(z + w)))
            elif lo_b == 0.0 and math.isinf(hi_b):
                inside = mean_a > 0
                w = tq * se_a / mean_a
                t_low, t_high = mean_a * np.exp(-w), mean_a * np.exp(w)
            else:  # pragma: no cover - no other bounds are defined
                inside = np.zeros_like(crosses)
                t_low, t_high = low, high
        use = crosses & inside  # values outside the bounds (not this metric's kind): the t interval stays
        low = np.where(use, t_low, low)
        high = np.where(use, t_high, high)
    if np.ndim(low) == 0:
        return float(low), float(high)
    return low, high


def few_replications_warning(n: int, what: str = "replications") -> str | None:
    """A one-line warning when ``n`` is below ``MIN_REPLICATIONS`` (None otherwise)."""
    if n >= MIN_REPLICATIONS:
        return None
    what = what[:-1] if n == 1 and what.endswith("s") else what
    return (f"warning: only {n} {what}: the 95% intervals rest on very few values (at least "
            f"{MIN_REPLICATIONS} recommended)" + ("; with 1 there is no interval" if n < 2 else ""))


def mean_interval(values: np.ndarray, metric: str, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the values of one metric: ``bounded_interval`` with the metric's bounds;
    low and high are NaN with fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    se = float(x.std(ddof=1)) / math.sqrt(n) if n >= 2 else math.nan
    low, high = bounded_interval(mean, se, n, metric_bounds(metric), confidence)
    return mean, float(low), float(high)


def proportion_interval(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """(share, low, high) of ``hits`` events in ``n`` independent runs, with Wilson's score
    interval: unlike a t interval on 0/1 values, it does not shrink to [0, 0] when no run had the
    event (0 of n gives [0, z²/(n + z²)]). NaN for n = 0."""
    if n <= 0:
        return math.nan, math.nan, math.nan
    ci = sps.binomtest(int(hits), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return hits / n, float(ci.low), float(ci.high)
