"""Sweep figures: waste against the failure rate, and the break-even chart."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.analysis import plotdata as pdata
from sim.analysis.plotdata import Unit
from sim.analysis.plots.style import (
    _BE_SHADE,
    _axis_label,
    _draw_sweep,
    _esc,
    _figure,
    _finish_y,
    _legend_right,
    _n_text,
    _resolve_unit,
    _root_figure,
    _set_title,
    _set_x_grid_ticks,
    strategy_styles,
    use_report_style,
)


def plot_waste_vs_failure_rate(
    sweep_df: pd.DataFrame,
    x: str,
    metric: str = "wasted_compute_s",
    ax: Axes | None = None,
    analytic: pd.DataFrame | None = None,
    x_label: str | None = None,
    unit_scale: str | Unit = "auto",
    title: str | None = None,
    level: float = 0.95,
) -> Figure | Axes:
    """Mean ``metric`` per run vs sweep parameter ``x``, one line per strategy with a
    Student-t confidence band; optional ``analytic`` curves (columns ``x`` or ``<x>``,
    strategy, value; same raw units as ``metric``) dashed on top. Log x axis when the grid
    is log-spaced. ``unit_scale``: ``"auto"`` (s/min/h/d by magnitude; $ per run or per
    1,000 runs), a :class:`Unit`, or ``"s"``, ``"min"``, ``"h"``, ``"d"``, ``"usd"``,
    ``"usd_per_1000"``."""
    summary = pdata.sweep_summary(sweep_df, x, metric, level=level)
    yunit = _resolve_unit(unit_scale, metric, summary[["mean", "ci_high"]].to_numpy())
    plabel, xunit = pdata.param_axis(x, summary[x])
    with _figure(ax) as (fig, ax_, owns):
        handles, labels = _draw_sweep(ax_, summary, x, xunit, yunit)
        if analytic is not None and len(analytic):
            xcol = x if x in analytic.columns else "x"
            styles = strategy_styles(list(summary["strategy"]) + list(analytic["strategy"]))
            for s in pdata.strategy_order(analytic["strategy"]):
                d = analytic[analytic["strategy"] == s].sort_values(xcol)
                ax_.plot(xunit.scale(d[xcol]), yunit.scale(d["value"]), color=styles[s]["color"],
                         linestyle="--", linewidth=1.6, zorder=4)
            handles.append(Line2D([], [], color="#444444", linestyle="--", linewidth=1.6))
            labels.append("analytic model")
        own = _set_x_grid_ticks(ax_, xunit.scale(summary[x]), pdata.is_log_spaced(summary[x]), xunit)
        _finish_y(ax_, summary, yunit)
        ax_.set_xlabel(_esc(x_label) if x_label else _esc(plabel) if own else _axis_label(plabel, xunit))
        ax_.set_ylabel(_axis_label(f"mean {pdata.metric_label(metric)}", yunit))
        _set_title(ax_, _esc(title or f"{pdata.metric_label(metric).capitalize()} per run vs {plabel}"), not owns)
        _legend_right(ax_, handles, labels,
                      title=f"mean, shaded {level:.0%} CI\n{_n_text(summary)}", inside=not owns)
    return fig if owns else ax_


# ------------------------------------------------------------------- 2. break-even


def _breakeven_values(breakeven: Any) -> tuple[float, float, float]:
    def f(name: str) -> float:
        v = getattr(breakeven, name, None)
        try:
            return float(v) if v is not None else math.nan
        except (TypeError, ValueError):
            return math.nan

    return f("estimate"), f("ci_low"), f("ci_high")


def plot_breakeven(
    sweep_df: pd.DataFrame,
    x: str,
    metric: str = "total_cost_usd",
    breakeven: Any = None,
    ax: Axes | None = None,
    x_label: str | None = None,
    unit_scale: str | Unit = "auto",
    title: str | None = None,
    level: float = 0.95,
    show_difference: bool = True,
) -> Figure | Axes:
    """Expected ``metric`` (cost per run) of each strategy vs ``x`` with confidence bands,
    and the break-even point: a vertical line at ``breakeven.estimate`` and a shaded
    ``[ci_low, ci_high]`` (infinite ends = beyond the swept range, as in
    :class:`sim.stats.BreakEven`), labelled in the legend. When ``breakeven`` is given but its
    estimate is None/NaN the legend says "no crossing in range"; when ``breakeven`` is None
    the crossing of the two means (linear interpolation, no interval) is marked dotted and
    labelled as such, or "no crossing in range" if the means do not cross.

    The cost curves of the strategies are often close compared with their level, so on a
    figure of its own (``ax=None``) and with ``show_difference`` a lower panel shows the
    paired difference (first − second strategy, e.g. restart − durable, matched on ``run``)
    with its confidence band and the zero line: the crossing is where that band crosses 0.
    The upper panel's y axis is zoomed to the data (it does not start at 0)."""
    summary = pdata.sweep_summary(sweep_df, x, metric, level=level)
    order = pdata.strategy_order(summary["strategy"])
    diff = None
    if ax is None and show_difference and len(order) >= 2:
        try:
            diff = pdata.paired_sweep_summary(sweep_df, x, metric, order[0], order[1], level)
        except ValueError:
            diff = None
    yunit = _resolve_unit(unit_scale, metric, summary[["mean", "ci_high"]].to_numpy())
    plabel, xunit = pdata.param_axis(x, summary[x])
    with use_report_style():
        if ax is None:
            fig = Figure(figsize=(10, 7.2) if diff is not None else None)
            if diff is not None:
                ax_, axd = fig.subplots(2, 1, sharex=True, height_ratios=[1.7, 1.0])
            else:
                ax_, axd = fig.add_subplot(), None
        else:
            fig, ax_, axd = _root_figure(ax), ax, None
        axes = [a for a in (ax_, axd) if a is not None]
        handles, labels = _draw_sweep(ax_, summary, x, xunit, yunit)
        if axd is not None and diff is not None:
            xs = xunit.scale(diff[x])
            band = axd.fill_between(xs, yunit.scale(diff["ci_low"]), yunit.scale(diff["ci_high"]),
                                    color="#555555", alpha=0.25, linewidth=0, zorder=2)
            (dl,) = axd.plot(xs, yunit.scale(diff["mean"]), color="black", marker="D",
                             markersize=5, linestyle="-", linewidth=1.8, zorder=3)
            axd.axhline(0, color="#333333", linewidth=1.0, zorder=1)
            handles.append((band, dl))
            labels.append(f"saving of {order[1]} = {order[0]} − {order[1]}\n(paired, same runs; > 0: {order[1]} cheaper)")
        est, lo, hi = _breakeven_values(breakeven)
        if breakeven is not None and np.isfinite(est):
            # an infinite CI end means "beyond the swept range" (sim.stats.BreakEven)
            xmin, xmax = float(summary[x].min()), float(summary[x].max())
            if not (np.isnan(lo) or np.isnan(hi)):
                for a in axes:
                    a.axvspan(xunit.scale(max(lo, xmin)), xunit.scale(min(hi, xmax)),
                              color=_BE_SHADE, alpha=0.35, linewidth=0, zorder=1)
                lo_txt = xunit.fmt(lo) if np.isfinite(lo) else f"< {xunit.fmt(xmin)}"
                hi_txt = xunit.fmt(hi) if np.isfinite(hi) else f"> {xunit.fmt(xmax)}"
                conf = float(getattr(breakeven, "confidence", level))
                ci_txt = f"[{lo_txt}, {hi_txt}] ({conf:.0%} CI)"
            else:
                ci_txt = "(CI not available)"
            for a in axes:
                line = a.axvline(xunit.scale(est), color="#000000", linewidth=1.6, zorder=5)
            handles.append((Patch(color=_BE_SHADE, alpha=0.35, linewidth=0), line))
            labels.append(f"break-even {xunit.fmt(est)}\n{ci_txt}")
        elif breakeven is None and len(order) >= 2:
            cross = pdata.crossing_points(summary, x, order[0], order[1])
            for c in cross:
                for a in axes:
                    line = a.axvline(xunit.scale(c), color="#000000", linewidth=1.4,
                                     linestyle=":", zorder=5)
            if cross:
                handles.append(line)
                labels.append("means cross at ≈ " + ", ".join(xunit.fmt(c) for c in cross)
                              + "\n(no CI supplied)")
            else:
                handles.append(Line2D([], [], linestyle="none"))
                labels.append("no crossing in range")
        else:
            handles.append(Line2D([], [], linestyle="none"))
            labels.append("no crossing in range")
        own = _set_x_grid_ticks(axes[-1], xunit.scale(summary[x]), pdata.is_log_spaced(summary[x]), xunit)
        axes[-1].set_xlabel(_esc(x_label) if x_label else _esc(plabel) if own else _axis_label(plabel, xunit))
        name = pdata.metric_label(metric)
        ax_.set_ylabel(_axis_label(f"expected {name}", yunit))
        if axd is not None:
            axd.set_ylabel(_esc(f"saving of {order[1]}\n{order[0]} − {order[1]} ({yunit.label})\n> 0: {order[1]} cheaper"),
                           fontsize=11)
        _set_title(ax_, _esc(title or f"Expected {name} vs {plabel}"), ax is not None)
        _legend_right(ax_, handles, labels,
                      title=f"mean, shaded {level:.0%} CI\n{_n_text(summary)}", inside=ax is not None)
    return fig if ax is None else ax_
