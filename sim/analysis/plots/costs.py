"""The cost breakdown: useful, wasted and orchestration cost per strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.analysis import plotdata as pdata
from sim.analysis.plotdata import Unit
from sim.analysis.plots.style import (
    _COST_STYLE,
    _esc,
    _figure,
    _legend_right,
    _set_title,
)


def plot_cost_breakdown(
    runs_df: pd.DataFrame,
    ax: Axes | None = None,
    per_runs: int | str = "auto",
    title: str | None = None,
    level: float = 0.95,
) -> Figure | Axes:
    """Stacked bars per strategy of mean useful compute, wasted compute and orchestration
    cost, with the total (and its confidence interval, as an error bar) on top. In $ per run,
    or per 1,000 runs when totals are below $0.05 (``per_runs="auto"``) or as given."""
    tab = pdata.cost_breakdown_table(runs_df, per_runs=per_runs, level=level)
    scale = int(tab["per_runs"].iloc[0])
    unit_txt = "$ per run" if scale == 1 else f"$ per {scale:,} runs"
    money = Unit(1.0, "$", "usd")
    with _figure(ax, figsize=(8.5, 6.2)) as (fig, ax_, owns):
        pos = np.arange(len(tab))
        bottom = np.zeros(len(tab))
        top = float(np.nanmax(np.r_[tab["total_ci_high"].to_numpy(), tab["total"].to_numpy()]))
        ax_.set_ylim(0, top * 1.18 if top > 0 else 1)
        handles, labels = [], []
        for col in pdata.COST_COMPONENTS:
            name, color, hatch = _COST_STYLE[col]
            h = tab[col].to_numpy(dtype=float)
            bars = ax_.bar(pos, h, bottom=bottom, width=0.55, color=color, hatch=hatch,
                           edgecolor="#333333", linewidth=0.8, zorder=2)
            handles.append(bars[0])
            labels.append(name)
            for i, (b0, hi) in enumerate(zip(bottom, h, strict=True)):
                if hi > 0.05 * top:
                    ax_.text(pos[i] - 0.06, b0 + hi / 2, _esc(pdata.format_value(hi, money)), ha="center",
                             va="center", fontsize=11,
                             bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                   "edgecolor": "none", "alpha": 0.85})
            bottom = bottom + h
        # small segments (too thin to hold a label): named under the bar, with the strategy, where
        # no label can cover a bar or another label
        small_text = []
        for i in range(len(tab)):
            small = [(c, float(tab[c].iloc[i])) for c in pdata.COST_COMPONENTS
                     if 0 < float(tab[c].iloc[i]) <= 0.05 * top]
            small_text.append("".join(f"\n{_COST_STYLE[c][0]} {pdata.format_value(v, money)}" for c, v in small))
        err = np.vstack([tab["total"] - tab["total_ci_low"], tab["total_ci_high"] - tab["total"]])
        ax_.errorbar(pos + 0.19, tab["total"], yerr=np.nan_to_num(err), fmt="none", ecolor="black",
                     elinewidth=1.2, capsize=5, zorder=4)
        for i, r in tab.iterrows():
            w = r["total_ci_high"] - r["total_ci_low"]
            ci = (f"\n[{pdata.format_value(r['total_ci_low'], money, w)}, "
                  f"{pdata.format_value(r['total_ci_high'], money, w)}]"
                  if np.isfinite(r["total_ci_low"]) else "")
            if ci and 0 < w < 1e-3 * abs(r["total"]):
                # a total that hardly varies: its interval to the total's own digits (one notation, [low, high],
                # not ten digits of a width nobody reads)
                ci, w = (f"\n[{pdata.format_value(r['total_ci_low'], money)}, "
                         f"{pdata.format_value(r['total_ci_high'], money)}]"), None
            y = r["total_ci_high"] if np.isfinite(r["total_ci_high"]) else r["total"]
            ax_.annotate(_esc(f"total {pdata.format_value(r['total'], money, w if ci else None)}{ci}"),
                         xy=(pos[i], y),
                         xytext=(0, 6), textcoords="offset points", ha="center", va="bottom",
                         fontsize=11.5, fontweight="bold")
        ax_.set_xticks(pos, [_esc(f"{s}\n(n = {n:,}){extra}") for s, n, extra in
                             zip(tab["strategy"], tab["n"], small_text, strict=True)])
        ax_.set_xlim(-0.6, len(tab) - 0.4)
        ax_.grid(axis="x", visible=False)
        ax_.set_ylabel(_esc(f"mean cost ({unit_txt})"))
        _set_title(ax_, _esc(title or f"Where the money goes: mean cost {unit_txt.removeprefix('$ ')}"), not owns)
        err_handle = Line2D([], [], color="black", marker="_", markersize=12, linewidth=1.2)
        leg_h, leg_l = [*handles, err_handle], [*labels, f"total, {level:.0%} CI"]
        note = None
        if len(tab) >= 2:
            a, b = list(tab["strategy"])[:2]
            try:
                d = pdata.paired_difference(runs_df, "total_cost_usd", a, b, level)
            except (KeyError, ValueError):
                d = None
            if d is not None and d["n"] >= 2:
                m, lo, hi = (pdata.format_value(d[k] * scale, money, (d["ci_high"] - d["ci_low"]) * scale)
                             for k in ("mean", "ci_low", "ci_high"))
                note = (f"saving of {b} = {a} − {b}, paired over {d['n']:,} runs: {m} [{lo}, {hi}] "
                        f"({unit_txt}, {level:.0%} CI)")
        if owns:
            fig.legend(leg_h, leg_l, loc="outside lower center", ncols=len(leg_h),
                       title=_esc(note) if note else None)
        else:
            _legend_right(ax_, leg_h[::-1], leg_l[::-1], title=note, inside=True)
    return fig if owns else ax_
