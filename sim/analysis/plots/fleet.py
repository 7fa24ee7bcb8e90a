"""The backlog of a fleet's activity task queue over time (``sim fleet``, docs/fleet.md)."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis import plotdata as pdata
from sim.analysis.plots.style import _figure, _legend_right, _set_title, strategy_styles


def plot_backlog(backlogs: dict[str, pd.DataFrame], ax: Axes | None = None, title: str | None = None) -> Figure | Axes:
    """Activity tasks waiting for a slot over time, one step line per strategy: each frame has
    ``time_s`` and ``backlog`` (tasks queued from that instant on), as ``fleet_queue`` gives it."""
    end = max((float(df["time_s"].max()) for df in backlogs.values() if len(df)), default=1.0)
    tunit = pdata.time_unit(end)
    styles = strategy_styles(list(backlogs))
    with _figure(ax, (7.5, 3.2)) as (fig, ax, own):
        handles, labels = [], []
        for label, df in backlogs.items():
            st = styles[label]
            (line,) = ax.step(df["time_s"].to_numpy() / tunit.factor, df["backlog"].to_numpy(), where="post",
                              color=st["color"], linestyle=st["linestyle"], linewidth=1.2)
            handles.append(line)
            labels.append(label)
        ax.set_xlabel(f"time ({tunit.label})")
        ax.set_ylabel("activity tasks waiting")
        peak = max((float(df["backlog"].max()) for df in backlogs.values() if len(df)), default=0.0)
        ax.set_ylim(0, max(1.0, 1.05 * peak))
        idle = [label for label, df in backlogs.items() if not len(df) or float(df["backlog"].max()) == 0.0]
        if idle:  # a line on the axis is easy to miss: say that no task waited
            ax.text(0.5, 0.5, f"{' and '.join(idle)}: no activity task waited for a slot (backlog 0 throughout)",
                    transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.35")
        ax.set_xlim(0, end / tunit.factor)
        _legend_right(ax, handles, labels, inside=not own)
        _set_title(ax, title or "Backlog of the activity task queue", inside=not own)
        return fig if own else ax
