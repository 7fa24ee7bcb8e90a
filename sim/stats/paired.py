"""Paired differences between strategies over the same replications (common random numbers)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from sim.stats.common import (
    _as_tuple,
    _check_confidence,
    _require_columns,
    default_metrics,
    mean_interval_of,
)


def paired_frame(
    df: pd.DataFrame,
    a: str,
    b: str,
    metrics: Sequence[str],
    by: str | Sequence[str] = (),
) -> pd.DataFrame:
    """Wide frame of paired rows: index (by..., run), columns ``(metric, a|b)``.

    Raises ValueError when a (by, run) key is duplicated or present for one strategy only.
    """
    by_t = _as_tuple(by)
    metrics = list(metrics)
    _require_columns(df, ["strategy", "run", *by_t, *metrics], "paired rows")
    if a == b:
        raise ValueError(f"paired differences need two different strategies, got {a!r} twice")
    keys = [*by_t, "run"]
    sides = {}
    for label in (a, b):
        part = df.loc[df["strategy"] == label, keys + metrics]
        if part.empty:
            present = sorted(map(str, df["strategy"].unique()))
            raise ValueError(f"no rows for strategy {label!r} (strategies present: {present})")
        dup = part.duplicated(subset=keys)
        if dup.any():
            example = part.loc[dup, keys].iloc[0].to_dict()
            raise ValueError(
                f"strategy {label!r} has {int(dup.sum())} duplicated (by, run) keys, e.g. {example}; "
                f"add the distinguishing column(s) to `by`"
            )
        sides[label] = part.set_index(keys)
    idx_a, idx_b = sides[a].index, sides[b].index
    only_a = idx_a.difference(idx_b)
    only_b = idx_b.difference(idx_a)
    if len(only_a) or len(only_b):
        raise ValueError(
            f"runs do not pair: {len(only_a)} (by, run) key(s) only in {a!r} "
            f"(e.g. {list(only_a[:3])}), {len(only_b)} only in {b!r} (e.g. {list(only_b[:3])})"
        )
    joined = pd.concat({a: sides[a], b: sides[b].reindex(idx_a)}, axis=1)
    joined = joined.swaplevel(0, 1, axis=1).sort_index(axis=1).sort_index()
    return joined.astype(float)


def paired_differences(
    df: pd.DataFrame,
    a: str,
    b: str,
    metrics: Sequence[str] | None = None,
    by: str | Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean of the per-replication difference a − b, one row per group × metric.

    Rows are paired on ``run`` and the ``by`` columns (common random numbers make the pairs
    share their failure environment). Columns: n, mean_a, mean_b, mean_diff, std_diff, se,
    ci_low, ci_high (t interval), rel_diff = mean_a/mean_b − 1 with a delta-method t interval
    (rel_se = std(a − r·b)/(√n·|mean_b|), r = mean_a/mean_b). Pairs with a missing value are
    dropped per metric.
    """
    _check_confidence(confidence)
    by_t = _as_tuple(by)
    metric_list = (
        list(metrics) if metrics is not None else default_metrics(df, exclude=(*by_t, "strategy"))
    )
    if not metric_list:
        raise ValueError("paired_differences: no metric columns")
    wide = paired_frame(df, a, b, metric_list, by_t)
    q = sps.t.ppf  # local alias
    rows = []
    groups = wide.groupby(level=list(by_t), sort=True, dropna=False) if by_t else [((), wide)]
    for key, part in groups:
        key_t = key if isinstance(key, tuple) else (key,)
        for metric in metric_list:
            xa = part[(metric, a)].to_numpy()
            xb = part[(metric, b)].to_numpy()
            ok = ~(np.isnan(xa) | np.isnan(xb))
            xa, xb = xa[ok], xb[ok]
            n = xa.size
            mean_a = float(xa.mean()) if n else math.nan
            mean_b = float(xb.mean()) if n else math.nan
            mean_d, std_d, se, half = (float(v) for v in mean_interval_of(xa - xb, confidence))
            tq = float(q(0.5 + confidence / 2, n - 1)) if n >= 2 else math.nan  # for the relative interval
            if n and mean_b != 0:
                ratio = mean_a / mean_b
                rel = ratio - 1.0
                rel_se = (
                    float((xa - ratio * xb).std(ddof=1)) / (math.sqrt(n) * abs(mean_b))
                    if n >= 2
                    else math.nan
                )
            else:
                rel, rel_se = math.nan, math.nan
            rows.append(
                (
                    *key_t,
                    metric,
                    n,
                    mean_a,
                    mean_b,
                    mean_d,
                    std_d,
                    se,
                    mean_d - half,
                    mean_d + half,
                    rel,
                    rel - tq * rel_se,
                    rel + tq * rel_se,
                )
            )
    cols = [
        *by_t,
        "metric",
        "n",
        "mean_a",
        "mean_b",
        "mean_diff",
        "std_diff",
        "se",
        "ci_low",
        "ci_high",
        "rel_diff",
        "rel_ci_low",
        "rel_ci_high",
    ]
    out = pd.DataFrame(rows, columns=cols)
    out.insert(len(by_t), "a", a)
    out.insert(len(by_t) + 1, "b", b)
    return out
