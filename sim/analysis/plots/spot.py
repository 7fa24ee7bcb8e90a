"""Spot or on-demand? Each spot strategy's paired cost saving against its delay."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.analysis.plots.style import _esc, _figure, _legend_right, _set_title, strategy_styles


def plot_spot(table: pd.DataFrame, ax: Axes | None = None, title: str | None = None) -> Figure | Axes:
    """One point per spot strategy (``sim.analysis.spot.spot_table``): the delay against the
    on-demand reference (x, minutes: how much later a run finishes) and the cost saving per run
    (y, $), each with its confidence interval as an error bar. Up and left is better."""
    styles = strategy_styles(list(table["strategy"]))
    ref = str(table["reference"].iloc[0]) if len(table) else "on demand"
    with _figure(ax, figsize=(8.5, 5.6)) as (fig, ax_, owns):
        handles, labels = [], []
        for r in table.itertuples():
            st = styles[r.strategy]
            x = r.delay_s / 60.0
            xerr = np.array([[x - r.delay_low_s / 60.0], [r.delay_high_s / 60.0 - x]]).clip(min=0)
            yerr = np.array([[r.cost_saving_usd - r.cost_saving_low_usd],
                             [r.cost_saving_high_usd - r.cost_saving_usd]]).clip(min=0)
            ax_.errorbar([x], [r.cost_saving_usd], xerr=xerr, yerr=yerr, color=st["color"], marker=st["marker"],
                         linestyle="none", capsize=3, markersize=7)
            handles.append(Line2D([], [], color=st["color"], marker=st["marker"], linestyle="none"))
            labels.append(f"{r.strategy} (saves {r.cost_saving_share:.0%})")
        ax_.axhline(0.0, color="0.5", linewidth=0.8)
        ax_.axvline(0.0, color="0.5", linewidth=0.8)
        ax_.set_xlabel(_esc(f"delay against {ref}: later finish per run (minutes)"))
        ax_.set_ylabel(_esc(f"cost saving against {ref} ($ per run)"))
        _set_title(ax_, title or "Spot or on-demand? saving against delay (95% intervals)", not owns)
        if handles:
            _legend_right(ax_, handles, labels, title="strategy on spot", inside=not owns)
        return fig if owns else ax_
