"""The timeline of attempts of a few replications: one lane per strategy and replication."""

from __future__ import annotations

import math
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.analysis import plotdata as pdata
from sim.analysis.plots.style import (
    _STEP_COLORS,
    _esc,
    _figure,
    _outcome_specs,
    _set_title,
)


def _lighten(color: str, amount: float = 0.6) -> tuple[float, float, float]:
    r, g, b = mpl.colors.to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def timeline_height_in(lanes: int, rows: int) -> float:
    """The timeline's height in inches: 1.35 in per lane (strategy), and no more than 0.16 in per
    row where a lane has a row per attempt in flight at once (a graph's fan-out), plus the title,
    axis and legend; a 3-lane graph of 30 rows is 7.1 in, not 18."""
    return 2.3 + max(1.35 * lanes, 0.16 * rows)


def plot_timeline(
    event_log_df: pd.DataFrame,
    run: int | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure | Axes:
    """Gantt chart of one replication, one lane per strategy: every attempt is a bar from
    ``start_s`` to ``end_s`` coloured by step; attempts whose result was not used
    (``useful == False``: failed, or completed but lost with a restarted pipeline) are pale and
    hatched; failures are marked above the bar at the instant they happened (✕ crash,
    ▼ deployment kill, ○ HTTP 429). Lane labels give the finish time and the wasted compute.
    ``run`` defaults to :func:`sim.analysis.plotdata.pick_timeline_run`."""
    bars = pdata.timeline_bars(event_log_df, run)
    lanes = pdata.timeline_lanes(bars)
    run_id = int(bars["run"].iloc[0])
    tunit = pdata.time_unit(float(bars["end_s"].max()))
    steps = (bars.drop_duplicates("step_index").sort_values("step_index")[["step_index", "step"]])
    color = {r.step: _STEP_COLORS[i % len(_STEP_COLORS)] for i, r in enumerate(steps.itertuples())}
    height = 0.56
    n_rows = int(bars["row"].max()) + 1  # a lane has a row per attempt in flight at once (graphs)
    rows_in = timeline_height_in(len(lanes), n_rows) - 2.3
    # markers as large as a row allows (a graph's fan-out packs many rows into a lane)
    marker_scale = min(1.0, rows_in / n_rows / 0.45)
    with _figure(ax, figsize=(12, timeline_height_in(len(lanes), n_rows))) as (fig, ax_, owns):
        for r in bars.itertuples():
            x0, w = tunit.scale(r.start_s), tunit.scale(r.duration_s)
            if r.useful:
                ax_.barh(r.row, w, left=x0, height=height, color=color[r.step],
                         edgecolor="#222222", linewidth=0.7, zorder=2)
            else:
                ax_.barh(r.row, w, left=x0, height=height, color=_lighten(color[r.step]),
                         edgecolor="#555555", hatch="////", linewidth=0.7, zorder=2)
        specs = _outcome_specs(list(dict.fromkeys(bars["outcome"])))
        for outcome, spec in specs.items():
            f = bars[bars["outcome"] == outcome]
            if len(f):
                ax_.scatter(tunit.scale(f["end_s"]), f["row"] - height / 2 - 0.13,
                            marker=spec["marker"], s=spec["s"] * marker_scale, facecolor=spec["facecolor"],
                            edgecolor=spec["edgecolor"], linewidth=1.0, zorder=5, clip_on=False)
        for r in lanes.itertuples():
            if np.isfinite(r.finish_s):
                ax_.plot([tunit.scale(r.finish_s)] * 2, [r.row_top - height / 2 - 0.05, r.row_bottom + height / 2 + 0.05],
                         color="black", linewidth=2.2, zorder=4)
        ylabels = []
        # one unit for every lane, so that the lanes' wasted compute can be compared at a glance
        wunit = pdata.time_unit(float(lanes["wasted_s"].max()))
        for r in lanes.itertuples():
            done = (f"done at {pdata.format_value(r.finish_s, tunit)}" if np.isfinite(r.finish_s)
                    else "not finished")
            wasted = pdata.format_value(r.wasted_s, wunit)
            ylabels.append(f"{r.strategy}\n{done}\nwasted compute {wasted}")
        ax_.set_yticks(((lanes["row_top"] + lanes["row_bottom"]) / 2).to_numpy(), ylabels, fontsize=11.5)
        for r in lanes.itertuples():
            if r.row_top > 0 and n_rows > len(lanes):  # separate the lanes of a graph
                ax_.axhline(r.row_top - 0.5, color="#bbbbbb", linewidth=0.8, zorder=1)
        ax_.set_ylim(n_rows - 0.45, -0.75)  # lane 0 on top, room for the failure markers
        ax_.set_xlim(left=0, right=tunit.scale(bars["end_s"].max()) * 1.02)
        ax_.grid(axis="y", visible=False)
        ax_.set_xlabel(f"time since the run started ({tunit.label})")
        _set_title(ax_, _esc(title or f"One replication (run {run_id}): every attempt of every step"), not owns)
        handles: list[Any] = [Patch(facecolor=color[s], edgecolor="#222222", label=s)
                              for s in steps["step"]]
        handles.append(Patch(facecolor=_lighten("#888888"), edgecolor="#555555", hatch="////",
                             label="wasted: failed, or result lost"))
        handles.append(Line2D([], [], color="black", linewidth=2.2, label="pipeline finished"))
        for spec in specs.values():
            edge = "#000000" if spec["edgecolor"] == "white" else spec["edgecolor"]
            handles.append(Line2D([], [], linestyle="none", marker=spec["marker"],
                                  markersize=math.sqrt(spec["s"]), markerfacecolor=spec["facecolor"],
                                  markeredgecolor=edge, label=spec["label"]))
        if owns:
            fig.legend(handles=handles, loc="outside lower center",
                       ncols=min(len(handles), 4), fontsize=11)
        else:
            # in a caller's axes: a band of free space under the lanes, the legend in it
            ncols = min(len(handles), 2)
            rows = math.ceil(len(handles) / ncols)
            ax_.set_ylim(n_rows - 0.45 + 0.28 * rows * max(n_rows, 2) / 2, -0.75)
            ax_.legend(handles=handles, loc="lower center", ncols=ncols, fontsize="x-small", framealpha=0.9)
    return fig if owns else ax_
