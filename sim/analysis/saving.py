"""The one sign convention of every output (CLI, tables, files, figures, report text).

Positive always means that strategy ``a`` (durable, say) is better than strategy ``b`` (restart):

* the **saving** of ``a`` over ``b`` is ``b − a`` per run, for metrics where less is better (costs,
  times, waste, counts of failures): positive when ``a`` is cheaper, faster or wastes less;
* the **gain** of ``a`` over ``b`` is ``a − b`` per run, for metrics where more is better
  (:data:`MORE_IS_BETTER`: completed workflows, throughput).

Paired tables computed by ``sim.stats.paired_differences`` hold ``a − b`` for the pair
they name; nothing publishes them as they are. :func:`advantages` turns one into the published
table (columns ``kind``, ``definition``, ``advantage``, ...), :func:`saving_of` and
:func:`advantage_of` read one pair and metric, and :func:`sign_note` is the sentence each output
states once.

One interval per quantity: where one strategy's value is 0 in every replication (durable wastes
no compute), the paired difference *is* the other strategy's value, and it gets that value's own
interval (bounded at 0, ``sim.stats.bounded_interval``), not a second, different one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sim.stats import bounded_interval, metric_bounds

#: metrics where more is better: their paired difference is published as a gain, a − b
MORE_IS_BETTER = frozenset({"completed", "throughput_per_h", "completed_rate"})


def kind_of(metric: str) -> str:
    """"gain" for a metric where more is better, else "saving"."""
    return "gain" if metric in MORE_IS_BETTER else "saving"


def definition(a: str, b: str, metric: str) -> str:
    """The published difference of ``metric`` in words: "b - a" for a saving, "a - b" for a gain."""
    return f"{a} - {b}" if kind_of(metric) == "gain" else f"{b} - {a}"


@dataclass(frozen=True)
class Saving:
    """Paired saving of ``a`` over ``b`` (``b − a`` per run) with its interval, and relative to ``b``."""

    a: str
    b: str
    metric: str
    mean: float
    ci_low: float
    ci_high: float
    rel: float
    rel_low: float
    rel_high: float
    n: int
    se: float
    kind: str = "saving"
    #: the difference is one strategy's own value (the other's is 0 in every replication)
    one_sided: str | None = None

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def direction(self) -> int:
        """+1: ``a`` significantly lower; −1: ``b`` significantly lower; 0: the interval holds 0."""
        return 1 if self.ci_low > 0 else -1 if self.ci_high < 0 else 0

    def scaled(self, factor: float) -> tuple[float, float, float]:
        """(mean, ci_low, ci_high) × factor (e.g. per 1,000 runs)."""
        return self.mean * factor, self.ci_low * factor, self.ci_high * factor


def sign_note(a: str, b: str, what: str = "cost", gains: bool = False) -> str:
    """The convention in words, stated once in each output; ``gains``: the output also shows
    metrics where more is better."""
    text = f"saving of {a} over {b} = {b} − {a} (positive: {a} has the lower {what})"
    if gains:
        text += f"; gain of {a} over {b} = {a} − {b} where more is better (positive: {a} has more)"
    return text


def saving_of(paired: pd.DataFrame, a: str, b: str, metric: str = "total_cost_usd") -> Saving:
    """The saving of ``a`` over ``b`` (``b − a``, whatever the metric) from a ``paired_differences``
    table holding the pair in either order (columns a, b, metric, n, mean_a, mean_b, mean_diff,
    se, ci_low, ci_high, rel_diff, rel_ci_low, rel_ci_high; a table without a/b columns is taken
    as a − b). Where one side is 0 in every replication, the interval is the other side's own
    (bounded) interval."""
    sav, mean_a, mean_b = _raw_saving_of(paired, a, b, metric)
    return _one_interval(sav, mean_a, mean_b)


def advantage_of(paired: pd.DataFrame, a: str, b: str, metric: str = "total_cost_usd") -> Saving:
    """Like :func:`saving_of`, but a gain (``a − b``) for a metric where more is better: positive
    always means ``a`` is better."""
    sav = saving_of(paired, a, b, metric)
    if kind_of(metric) == "saving":
        return sav
    def neg(x: float) -> float:
        return 0.0 - x

    return replace(sav, mean=neg(sav.mean), ci_low=neg(sav.ci_high), ci_high=neg(sav.ci_low), rel=neg(sav.rel),
                   rel_low=neg(sav.rel_high), rel_high=neg(sav.rel_low), kind="gain")


def _one_interval(sav: Saving, mean_a: float, mean_b: float) -> Saving:
    """One interval per quantity: b − a where a (or b) is 0 in every replication of a metric that
    cannot be negative is b's (or −a's) own value, with its bounded interval."""
    low_bound, _ = metric_bounds(sav.metric)
    if low_bound != 0.0 or sav.n < 2 or not (math.isfinite(sav.se)):
        return sav
    if mean_a == 0.0 and mean_b > 0:
        lo, hi = bounded_interval(mean_b, sav.se, sav.n, metric_bounds(sav.metric))
        return replace(sav, ci_low=float(lo), ci_high=float(hi), one_sided=sav.b)
    if mean_b == 0.0 and mean_a > 0:
        lo, hi = bounded_interval(mean_a, sav.se, sav.n, metric_bounds(sav.metric))
        return replace(sav, ci_low=0.0 - float(hi), ci_high=0.0 - float(lo), one_sided=sav.a)
    return sav


def _raw_saving_of(paired: pd.DataFrame, a: str, b: str, metric: str) -> tuple[Saving, float, float]:
    """The b − a saving with its t interval, and the means of a and b."""
    p = paired[paired["metric"] == metric]
    if "a" in p.columns:
        fwd = p[(p["a"] == b) & (p["b"] == a)]  # already b − a
        if len(fwd):
            r = fwd.iloc[0]
            rel_from = _relative_of_first(r, flip=True)
            return (Saving(a, b, metric, float(r["mean_diff"]), float(r["ci_low"]), float(r["ci_high"]), *rel_from,
                           int(r["n"]), float(r["se"])), _get(r, "mean_b"), _get(r, "mean_a"))
        p = p[(p["a"] == a) & (p["b"] == b)]
    if not len(p):
        raise ValueError(f"no paired difference of {a!r} and {b!r} for {metric!r}")
    r = p.iloc[0]
    def neg(x: object) -> float:
        return 0.0 - float(x)  # 0.0 - 0.0 is +0.0: no "-0" in the outputs

    return (Saving(a, b, metric, neg(r["mean_diff"]), neg(r["ci_high"]), neg(r["ci_low"]),
                   neg(r["rel_diff"]), neg(r["rel_ci_high"]), neg(r["rel_ci_low"]), int(r["n"]), float(r["se"])),
            _get(r, "mean_a"), _get(r, "mean_b"))


def _get(r: pd.Series, key: str) -> float:
    return float(r[key]) if key in r.index else math.nan


def _relative_of_first(r: pd.Series, flip: bool) -> tuple[float, float, float]:
    """Relative saving (b − a)/b from a b − a row whose rel_diff is b/a − 1: (b − a)/b = 1 − a/b."""
    rel = float(r["rel_diff"])
    lo, hi = float(r["rel_ci_low"]), float(r["rel_ci_high"])

    def conv(x: float) -> float:
        return 1.0 - 1.0 / (1.0 + x) if math.isfinite(x) and x != -1 else math.nan
    return conv(rel), conv(lo), conv(hi)


def savings_table(paired: pd.DataFrame, a: str, b: str, metric: str = "total_cost_usd",
                  per: float = 1.0) -> pd.DataFrame:
    """Per sweep point: the saving of ``a`` over ``b`` (× ``per``) with its interval, from a runner
    ``paired`` table (columns point, a, b, metric, n, mean_diff, ci_low, ci_high)."""
    p = paired[paired["metric"] == metric]
    fwd = p[(p["a"] == b) & (p["b"] == a)]  # b − a directly
    if len(fwd):
        out = fwd.assign(value=fwd["mean_diff"] * per, lo=fwd["ci_low"] * per, hi=fwd["ci_high"] * per)
    else:
        rev = p[(p["a"] == a) & (p["b"] == b)]
        if not len(rev):
            raise ValueError(f"no paired difference of {a} and {b} in the results")
        out = rev.assign(value=-rev["mean_diff"] * per, lo=-rev["ci_high"] * per, hi=-rev["ci_low"] * per)
    return out[["point", "n", "value", "lo", "hi"]].sort_values("point").reset_index(drop=True)


#: the columns of the published paired table (:func:`advantages`), after any grouping columns
ADVANTAGE_COLUMNS = ["a", "b", "metric", "kind", "definition", "n", "mean_a", "mean_b", "advantage", "se",
                     "ci_low", "ci_high", "rel_advantage", "rel_ci_low", "rel_ci_high", "interval"]


def advantages(paired: pd.DataFrame) -> pd.DataFrame:
    """The published form of a ``paired_differences`` table (``a − b`` per row): one row per pair
    and metric with ``kind`` ("saving" or "gain"), ``definition`` (e.g. "restart - durable"),
    ``advantage`` (the saving b − a, or the gain a − b: positive when a is better) with its
    interval ``ci_low``/``ci_high`` and its value relative to b (``rel_advantage``). ``interval``
    says which interval: "paired t", or "b's own" / "a's own" where the other side is 0 in every
    replication (see the module docstring). Grouping columns (e.g. ``point``) come first."""
    if paired.empty:
        return pd.DataFrame(columns=ADVANTAGE_COLUMNS)
    keys = [c for c in paired.columns if c not in ("a", "b", "metric", "n", "mean_a", "mean_b", "mean_diff",
                                                   "std_diff", "se", "ci_low", "ci_high", "rel_diff",
                                                   "rel_ci_low", "rel_ci_high")]
    p = paired.reset_index(drop=True)
    gain = p["metric"].map(lambda m: kind_of(str(m)) == "gain").to_numpy(dtype=bool)

    def signed(col: str) -> np.ndarray:
        x = p[col].to_numpy(dtype=float)
        return np.where(gain, x, 0.0 - x)  # 0.0 - x: no "-0"

    out = p[keys].copy()
    out["a"], out["b"], out["metric"] = p["a"].astype(str), p["b"].astype(str), p["metric"].astype(str)
    out["kind"] = np.where(gain, "gain", "saving")
    out["definition"] = [definition(a, b, m) for a, b, m in zip(out["a"], out["b"], out["metric"], strict=True)]
    out["n"] = p["n"].astype(int)
    out["mean_a"], out["mean_b"] = p["mean_a"].astype(float), p["mean_b"].astype(float)
    out["advantage"], out["se"] = signed("mean_diff"), p["se"].astype(float)
    out["ci_low"] = np.where(gain, p["ci_low"], 0.0 - p["ci_high"].to_numpy(dtype=float))
    out["ci_high"] = np.where(gain, p["ci_high"], 0.0 - p["ci_low"].to_numpy(dtype=float))
    out["rel_advantage"] = signed("rel_diff")
    out["rel_ci_low"] = np.where(gain, p["rel_ci_low"], 0.0 - p["rel_ci_high"].to_numpy(dtype=float))
    out["rel_ci_high"] = np.where(gain, p["rel_ci_high"], 0.0 - p["rel_ci_low"].to_numpy(dtype=float))
    out["interval"] = "paired t"
    # one interval per quantity: rows where one side is 0 in every replication (few) get that value's own
    one_side = (p["mean_a"] == 0) | (p["mean_b"] == 0)
    for i in np.flatnonzero(one_side.to_numpy()):
        r = p.iloc[[i]]
        adv = advantage_of(r, str(r["a"].iloc[0]), str(r["b"].iloc[0]), str(r["metric"].iloc[0]))
        if adv.one_sided is not None:
            out.loc[i, ["ci_low", "ci_high"]] = [adv.ci_low, adv.ci_high]
            out.loc[i, "interval"] = f"{adv.one_sided}'s own"
    return out[[*keys, *ADVANTAGE_COLUMNS]]


def saving_points(points: pd.DataFrame, a: str, b: str, metric: str = "total_cost_usd") -> pd.DataFrame:
    """A break-even's per-point table (``stats.BreakEven.points``: mean_diff = a − b) in the
    published sign: the mean difference becomes ``saving_<b>_minus_<a>`` (or ``gain_<a>_minus_<b>``
    for a metric where more is better) with its interval."""
    gain = kind_of(metric) == "gain"
    name = f"gain_{a}_minus_{b}" if gain else f"saving_{b}_minus_{a}"
    out = points.copy()
    d, lo, hi = out.pop("mean_diff"), out.pop("ci_low"), out.pop("ci_high")
    if gain:
        out[name], out[f"{name}_ci_low"], out[f"{name}_ci_high"] = d, lo, hi
    else:
        out[name], out[f"{name}_ci_low"], out[f"{name}_ci_high"] = 0.0 - d, 0.0 - hi, 0.0 - lo
    order = [c for c in points.columns if c not in ("mean_diff", "ci_low", "ci_high", "se", "lower", "significant")]
    rest = [c for c in ("se", "lower", "significant") if c in out.columns]
    return out[[*order, name, f"{name}_ci_low", f"{name}_ci_high", *rest]]
