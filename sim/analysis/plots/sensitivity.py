"""The sensitivity (tornado) chart: how the paired difference moves with each parameter."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.analysis import plotdata as pdata
from sim.analysis.plots.style import (
    OKABE_ITO,
    _esc,
    _figure,
    _legend_right,
    _set_title,
)


def _tornado_ticklabels(tab: pd.DataFrame) -> list[str]:
    def ok(v: object) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    out = []
    for _, r in tab.iterrows():
        lo, hi = r.get("low_setting"), r.get("high_setting")
        if ok(lo) or ok(hi):
            out.append(f"{r['input']}\n{lo if ok(lo) else '–'} → {hi if ok(hi) else '–'}")
        else:
            out.append(str(r["input"]))
    return out


def _consistent_formatter(values: np.ndarray, money: bool) -> Callable[[float], str]:
    """Same number of decimals for every value of a chart, chosen from the largest magnitude."""
    m = float(np.max(np.abs(values))) if values.size else 0.0
    dec = 0 if m >= 100 else 1 if m >= 10 else 2 if m >= 0.1 else 4
    prefix = "$" if money else ""

    def f(v: float) -> str:
        sign = "-" if v < 0 else ""
        return f"{sign}{prefix}{abs(v):,.{dec}f}"

    return f


def plot_sensitivity(
    tornado_df: pd.DataFrame,
    ax: Axes | None = None,
    baseline: float | None = None,
    value_label: str = "saving of durable over restart ($ per 1,000 runs)",
    title: str | None = None,
    value_fmt: Callable[[float], str] | None = None,
    level: float = 0.95,
) -> Figure | Axes:
    """Tornado chart: for each input (ranked by swing, largest on top) a bar from the
    baseline to the output at the input's low value and one to its high value; a vertical
    line at the baseline; values written at the bar ends, the input's low → high settings
    (column ``setting`` of the results, if given) under its name; CI whiskers
    when ``ci_low``/``ci_high`` were supplied. ``tornado_df`` is the output of
    :func:`sim.analysis.plotdata.tornado_table`, or the long (input, level, value) results together with
    ``baseline``."""
    if "level" in tornado_df.columns:
        if baseline is None:
            raise ValueError("long-format tornado results need baseline=")
        tab = pdata.tornado_table(baseline, tornado_df)
    else:
        tab = tornado_df.sort_values("swing", ascending=False).reset_index(drop=True)
        if baseline is None:
            baseline = float(tab["baseline"].iloc[0])
    b = float(baseline)
    if value_fmt is None:
        vals = tab[["low", "high"]].to_numpy(dtype=float)
        fmt = _consistent_formatter(np.r_[vals[np.isfinite(vals)], b], money="$" in value_label)
    else:
        fmt = value_fmt
    colors = {"low": OKABE_ITO["sky_blue"], "high": OKABE_ITO["orange"]}
    hatches = {"low": "", "high": "//"}
    offs = {"low": -0.2, "high": 0.2}
    n = len(tab)
    with _figure(ax, figsize=(10, 1.6 + 0.75 * max(n, 2))) as (fig, ax_, owns):
        extent = [b]
        for lev in ("low", "high"):
            vals = tab[lev].to_numpy(dtype=float)
            ys = np.arange(n) + offs[lev]
            ok = np.isfinite(vals)
            ax_.barh(ys[ok], vals[ok] - b, left=b, height=0.38, color=colors[lev],
                     hatch=hatches[lev], edgecolor="#333333", linewidth=0.8, zorder=2)
            lo_c, hi_c = f"{lev}_ci_low", f"{lev}_ci_high"
            has_ci = lo_c in tab.columns and hi_c in tab.columns
            for i in np.flatnonzero(ok):
                v = vals[i]
                end = v
                if has_ci and np.isfinite(tab[lo_c].iloc[i]) and np.isfinite(tab[hi_c].iloc[i]):
                    cl, ch = float(tab[lo_c].iloc[i]), float(tab[hi_c].iloc[i])
                    ax_.errorbar([v], [ys[i]], xerr=[[v - cl], [ch - v]], fmt="none",
                                 ecolor="black", elinewidth=1.1, capsize=4, zorder=3)
                    end = ch if v >= b else cl
                    extent += [cl, ch]
                extent.append(v)
                txt = fmt(v)
                right = v >= b
                ax_.annotate(_esc(txt), xy=(end, ys[i]), xytext=(5 if right else -5, 0),
                             textcoords="offset points", ha="left" if right else "right",
                             va="center", fontsize=10.5)
        ax_.axvline(b, color="black", linewidth=1.6, zorder=4)
        span = max(extent) - min(extent) or max(abs(b), 1.0)
        ax_.set_xlim(min(extent) - 0.3 * span, max(extent) + 0.3 * span)
        ax_.set_yticks(np.arange(n), [_esc(t) for t in _tornado_ticklabels(tab)])
        ax_.set_ylim(n - 0.5, -0.5)
        ax_.grid(axis="y", visible=False)
        ax_.set_xlabel(_esc(value_label))
        _set_title(ax_, _esc(title or "Sensitivity: one input at a time, ranked by swing"), not owns)
        handles: list[Any] = [Patch(facecolor=colors["low"], edgecolor="#333333"),
                              Patch(facecolor=colors["high"], hatch="//", edgecolor="#333333"),
                              Line2D([], [], color="black", linewidth=1.6)]
        labels = ["input at its low value", "input at its high value", f"baseline {fmt(b)}"]
        if any(c.endswith("_ci_low") for c in tab.columns):
            handles.append(Line2D([], [], color="black", marker="|", markersize=10, linewidth=1.1))
            labels.append(f"{level:.0%} CI")
        _legend_right(ax_, handles, labels, inside=not owns)
    return fig if owns else ax_
