"""Figures of ``sim optimize``: cost against the number of activities; the heartbeat-interval curve."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import FuncFormatter

from sim.analysis.plots.style import (
    OKABE_ITO,
    _duration_tick,
    _esc,
    _figure,
    _legend_right,
    _NonOverlappingLocator,
    _set_title,
)


def plot_cost_vs_activities(table: pd.DataFrame, exact_curve: pd.DataFrame | None = None,
                            ax: Axes | None = None, title: str | None = None) -> Figure | Axes:
    """Mean total cost per run of every candidate against its number of activities.

    ``table``: one row per candidate with ``candidate``, ``kind``, ``activities``, ``cost_usd``,
    ``cost_low_usd``, ``cost_high_usd`` (the ``Recommendation.table``). Groupings are dots with
    their 95% interval, the best of each count joined by a line; restart (no activities) is a
    horizontal band; a heartbeat candidate is a star; ``exact_curve`` (``activities``,
    ``exact_best_cost_usd``) adds the dynamic program's optimum per count as open diamonds.
    Returns the new Figure, or with ``ax`` that Axes (legend inside it, see ``sim.analysis.plots``).
    """
    with _figure(ax, figsize=(8.5, 5.4)) as (fig, ax_, owns):
        groups = table[table["kind"].isin(["checkpoint", "durable"])]
        err = np.vstack([groups["cost_usd"] - groups["cost_low_usd"], groups["cost_high_usd"] - groups["cost_usd"]])
        handles, labels = [], []
        h = ax_.errorbar(groups["activities"], groups["cost_usd"], yerr=err, fmt="o", color="#777777", ms=5,
                         capsize=3, lw=1, zorder=2)
        handles.append(h)
        labels.append("a grouping (95% CI of its mean)")
        best = groups.sort_values("cost_usd").groupby("activities", as_index=False).first()
        (line,) = ax_.plot(best["activities"], best["cost_usd"], "-s", color=OKABE_ITO["blue"], ms=7, zorder=3)
        handles.append(line)
        labels.append("best grouping per count (simulated)")
        if exact_curve is not None and len(exact_curve):
            (dp,) = ax_.plot(exact_curve["activities"], exact_curve["exact_best_cost_usd"], "D", mfc="none",
                             mec=OKABE_ITO["black"], ms=11, mew=1.4, zorder=4)
            handles.append(dp)
            labels.append("dynamic program's optimum (closed form)")
        restart = table[table["kind"] == "restart"]
        if len(restart):
            r = restart.iloc[0]
            ax_.axhspan(r["cost_low_usd"], r["cost_high_usd"], color=OKABE_ITO["vermillion"], alpha=0.15, lw=0)
            hr = ax_.axhline(r["cost_usd"], color=OKABE_ITO["vermillion"], ls="-", lw=1.6)
            handles.append(hr)
            labels.append("restart (no activities)")
        hb = table[table["kind"] == "heartbeat"]
        if len(hb):
            r = hb.iloc[0]
            hs = ax_.errorbar([r["activities"] + 0.12], [r["cost_usd"]],
                              yerr=[[r["cost_usd"] - r["cost_low_usd"]], [r["cost_high_usd"] - r["cost_usd"]]],
                              fmt="*", ms=15, color=OKABE_ITO["bluish_green"], capsize=3, zorder=5)
            handles.append(hs)
            labels.append("per-step + heartbeats")
        counts = sorted(groups["activities"].unique())
        ax_.set_xticks(counts)
        ax_.set_xlabel("activities (Temporal activities per workflow)")
        ax_.set_ylabel(_esc("mean total cost per run ($)"))
        _set_title(ax_, _esc(title or "Cost against the number of activities"), not owns)
        if owns:
            ax_.legend(handles, [_esc(lb) for lb in labels], loc="upper center", bbox_to_anchor=(0.5, -0.14),
                       frameon=False, ncol=2)
        else:
            _legend_right(ax_, handles, labels, inside=True)
    return fig if owns else ax_


_NICE_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def _nice_duration_ticks(low_s: float, high_s: float, most: int = 7) -> list[float]:
    """Round durations (1 s, 5 s, 1 min, 5 min, 1 h, ...) within [low, high], at most ``most``."""
    inside = [t for t in _NICE_S if low_s * 0.999 <= t <= high_s * 1.001]
    while len(inside) > most:
        inside = inside[::2]
    return [float(t) for t in inside] or [low_s, high_s]


def plot_heartbeat_curve(curve: pd.DataFrame, best_every_s: float, ylabel: str,
                         interval_s: tuple[float, float] | None = None,
                         references_s: Mapping[str, float] | None = None, ax: Axes | None = None,
                         title: str | None = None,
                         interval_label: str = "95% interval of the optimum") -> Figure | Axes:
    """The objective against the heartbeat interval (log axis), the optimum marked.

    ``curve``: ``every_s``, ``value``, ``diff_low``, ``diff_high`` (paired 95% interval of the
    difference to the optimum, drawn as a band around the curve). ``interval_s``: the interval
    of the optimum, shaded; ``references_s``: vertical lines (e.g. Daly's optimum). The interval
    axis has round durations as ticks, chosen when drawn so that their labels never overlap.
    Returns the new Figure, or with ``ax`` that Axes (legend inside it, see ``sim.analysis.plots``).
    """
    c = curve.sort_values("every_s")
    x = c["every_s"].to_numpy()
    y = c["value"].to_numpy()
    best_value = float(np.interp(best_every_s, x, y))
    with _figure(ax, figsize=(8.5, 5.4)) as (fig, ax_, owns):
        handles, labels = [], []
        if interval_s is not None and np.all(np.isfinite(interval_s)) and interval_s[1] > interval_s[0]:
            hspan = ax_.axvspan(interval_s[0], interval_s[1], color=OKABE_ITO["sky_blue"], alpha=0.25, lw=0)
            handles.append(hspan)
            labels.append(interval_label)
        ax_.fill_between(x, y - (c["diff_high"] - c["diff_low"]).to_numpy() / 2,
                         y + (c["diff_high"] - c["diff_low"]).to_numpy() / 2, color="#999999", alpha=0.3, lw=0)
        (line,) = ax_.plot(x, y, "-o", color=OKABE_ITO["blue"], ms=4)
        handles.append(line)
        labels.append("simulated (common random numbers; band: paired 95% CI vs optimum)")
        (opt,) = ax_.plot([best_every_s], [best_value], "*", ms=18, color=OKABE_ITO["vermillion"], zorder=5)
        handles.append(opt)
        labels.append(f"optimum (scipy minimize_scalar, then the grid): {_duration_tick(best_every_s)}")
        styles = ["--", ":", "-."]
        for k, (name, value) in enumerate((references_s or {}).items()):
            hv = ax_.axvline(value, color=OKABE_ITO["black"], ls=styles[k % 3], lw=1.3)
            handles.append(hv)
            labels.append(f"{name}: {_duration_tick(value)}")
        ax_.set_xscale("log")
        # every simulated point inside the axes (the optimum too), with a margin
        lo = min(float(np.nanmin(y)), best_value)
        hi = max(float(np.nanmax(y)), best_value)
        span = hi - lo
        if span > 0:
            ax_.set_ylim(lo - 0.08 * span, hi + 0.08 * span)
        ax_.set_xlabel("heartbeat interval (work between saves)")
        ticks = _nice_duration_ticks(float(x.min()), float(x.max()), most=len(_NICE_S))
        size_pt = FontProperties(size=mpl.rcParams["xtick.labelsize"]).get_size_in_points()
        ax_.xaxis.set_major_locator(_NonOverlappingLocator(ticks, _duration_tick, size_pt))
        ax_.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _duration_tick(v)))
        ax_.minorticks_off()
        ax_.set_ylabel(_esc(ylabel))
        _set_title(ax_, _esc(title or "Heartbeat interval"), not owns)
        if owns:
            ax_.legend(handles, [_esc(lb) for lb in labels], loc="upper center", bbox_to_anchor=(0.5, -0.16),
                       frameon=False)
        else:
            _legend_right(ax_, handles, labels, inside=True)
    return fig if owns else ax_
