"""Per-group summaries: mean, standard error, Student t interval and quantiles of each metric."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.stats.bounds import bounded_interval, metric_bounds
from sim.stats.common import (
    _as_tuple,
    _check_confidence,
    _grouped,
    _require_columns,
    default_metrics,
    t_half_width,
)


def summarize(
    df: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    by: str | Sequence[str] = ("strategy",),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per group × metric: n, mean, std, se, ci_low, ci_high, p50, p95, p99.

    ``n`` counts non-missing values; ``std`` uses ddof=1; the interval is
    ``mean ± t_{(1+c)/2, n-1} · std/√n`` (NaN when n < 2), or for a bounded metric (counts,
    times, costs ≥ 0; fractions in [0, 1]) where that would cross the bound, the transformed
    interval of ``sim.stats.bounds``. Percentiles interpolate linearly (exact).
    ``by`` may include sweep columns; ``by=()`` summarises the whole frame.
    """
    _check_confidence(confidence)
    by_t = _as_tuple(by)
    _require_columns(df, by_t, "summarize(by=...)")
    metric_list = list(metrics) if metrics is not None else default_metrics(df, exclude=by_t)
    _require_columns(df, metric_list, "summarize(metrics=...)")
    if not metric_list:
        raise ValueError("summarize: no metric columns to summarise")

    data = df[list(by_t) + metric_list].copy()
    data[metric_list] = data[metric_list].astype(float)
    keys = by_t if by_t else ("_all",)
    if not by_t:
        data["_all"] = 0

    grouped = _grouped(data, keys)[metric_list]
    parts = {
        "n": grouped.count(),
        "mean": grouped.mean(),
        "std": grouped.std(ddof=1),
    }
    quantiles = grouped.quantile([0.5, 0.95, 0.99])
    long = pd.concat({k: v.stack() for k, v in parts.items()}, axis=1)
    long.index = long.index.set_names([*keys, "metric"])
    for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        qf = quantiles.xs(q, level=-1)
        long[name] = qf.stack().reindex(long.index)

    long["n"] = long["n"].astype(int)
    long["se"] = long["std"] / np.sqrt(long["n"].where(long["n"] > 0))
    half = t_half_width(long["se"].to_numpy(), long["n"].to_numpy(), confidence)
    long["ci_low"] = long["mean"] - half
    long["ci_high"] = long["mean"] + half
    metric_of = long.index.get_level_values("metric")
    for metric in metric_list:
        bounds = metric_bounds(metric)
        if bounds == (-np.inf, np.inf):
            continue
        rows = metric_of == metric
        part = long.loc[rows]
        low, high = bounded_interval(part["mean"].to_numpy(), part["se"].to_numpy(), part["n"].to_numpy(),
                                     bounds, confidence)
        long.loc[rows, "ci_low"] = low
        long.loc[rows, "ci_high"] = high
    out = long.reset_index()
    if not by_t:
        out = out.drop(columns="_all")
    cols = [*by_t, "metric", "n", "mean", "std", "se", "ci_low", "ci_high", "p50", "p95", "p99"]
    return out[cols]
