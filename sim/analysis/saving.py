"""The one sign convention of every output (CLI, tables, figures, report text).

The **saving** of strategy ``a`` over strategy ``b`` is ``b − a``, per run: positive when ``a``
is cheaper (or faster, or wastes less). Paired tables (``sim.stats.paired_differences``)
hold ``a − b`` for the pair they name; :func:`saving_of` turns either orientation into a saving,
and :func:`sign_note` is the sentence each output states once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


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


def sign_note(a: str, b: str, what: str = "cost") -> str:
    """The convention in words, stated once in each output."""
    return f"saving of {a} over {b} = {b} − {a} (positive: {a} has the lower {what})"


def saving_of(paired: pd.DataFrame, a: str, b: str, metric: str = "total_cost_usd") -> Saving:
    """The saving of ``a`` over ``b`` from a ``paired_differences`` table holding the pair in
    either order (columns a, b, metric, n, mean_diff, se, ci_low, ci_high, rel_diff, rel_ci_low,
    rel_ci_high; a table without a/b columns is taken as a − b)."""
    p = paired[paired["metric"] == metric]
    if "a" in p.columns:
        fwd = p[(p["a"] == b) & (p["b"] == a)]  # already b − a
        if len(fwd):
            r = fwd.iloc[0]
            rel_from = _relative_of_first(r, flip=True)
            return Saving(a, b, metric, float(r["mean_diff"]), float(r["ci_low"]), float(r["ci_high"]), *rel_from,
                          int(r["n"]), float(r["se"]))
        p = p[(p["a"] == a) & (p["b"] == b)]
    if not len(p):
        raise ValueError(f"no paired difference of {a!r} and {b!r} for {metric!r}")
    r = p.iloc[0]
    def neg(x: object) -> float:
        return 0.0 - float(x)  # 0.0 - 0.0 is +0.0: no "-0" in the outputs

    return Saving(a, b, metric, neg(r["mean_diff"]), neg(r["ci_high"]), neg(r["ci_low"]),
                  neg(r["rel_diff"]), neg(r["rel_ci_high"]), neg(r["rel_ci_low"]), int(r["n"]), float(r["se"]))


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
