"""Distributions of a metric per strategy: CDFs with quantile markers, or violins."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, PercentFormatter

from sim.analysis import plotdata as pdata
from sim.analysis.plotdata import Unit
from sim.analysis.plots.style import (
    _Q_MARKERS,
    _axis_label,
    _esc,
    _root_figure,
    _tick,
    strategy_styles,
    use_report_style,
)


def plot_distributions(
    runs_df: pd.DataFrame,
    metrics: Sequence[str] = ("makespan_s", "total_cost_usd"),
    kind: str = "cdf",
    ax: Axes | Sequence[Axes] | None = None,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    log_scale: bool | str = "auto",
    title: str | None = None,
    legend_below: bool | None = None,
) -> Figure | Axes | list[Axes]:
    """Distribution of each metric over runs, one panel per metric, per strategy:
    ``kind="cdf"`` (empirical CDF, step) or ``"violin"``. The quantiles (p50/p95/p99) are
    marked on each curve/violin and their values written in the legend (CDF) or under the
    violins. ``log_scale="auto"`` uses a log value axis for positive, heavy-tailed data
    (max / median > 50). ``ax``: one Axes per metric (or one Axes for one metric).

    Returns the new Figure when ``ax`` is None, else what was given (the Axes, or the list of
    Axes); drawn into given axes, the legends and labels stay inside each axes, unless
    ``legend_below`` (default: only for a figure of its own) puts each CDF legend under its panel,
    where it never covers a curve (for a caller whose layout leaves room there)."""
    if kind not in ("cdf", "violin"):
        raise ValueError("kind must be 'cdf' or 'violin'")
    metrics = list(metrics)
    if not metrics:
        raise ValueError("no metrics to plot")
    with use_report_style():
        if ax is None:
            fig = Figure(figsize=(max(6.5, 5.4 * len(metrics)), 5.8))
            axes = list(np.atleast_1d(fig.subplots(1, len(metrics), squeeze=False)[0]))
        else:
            axes = [ax] if isinstance(ax, Axes) else list(ax)
            if len(axes) != len(metrics):
                raise ValueError(f"need {len(metrics)} axes, got {len(axes)}")
            fig = _root_figure(axes[0])
        styles = strategy_styles(list(runs_df["strategy"]))
        for a, metric in zip(axes, metrics, strict=True):
            qt = pdata.quantile_table(runs_df, metric, quantiles)
            vals = pd.to_numeric(runs_df[metric], errors="coerce").to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            unit = pdata.metric_unit(metric, [np.quantile(vals, max(quantiles))] if vals.size else [],
                                     per_run=False)
            med = float(np.median(vals)) if vals.size else math.nan
            log = (log_scale is True) or (
                log_scale == "auto" and vals.size > 0 and vals.min() > 0 and vals.max() / med > 50)
            if kind == "cdf":
                below = (ax is None) if legend_below is None else legend_below
                _draw_cdf(a, runs_df, metric, qt, unit, styles, log, inside=ax is not None, below=below)
            else:
                _draw_violin(a, runs_df, metric, qt, unit, styles, log, inside=ax is not None)
            a.set_title(pdata.metric_label(metric).capitalize())
        if ax is None:
            fig.suptitle(_esc(title or ("Distribution over runs" + (" (empirical CDF)" if kind == "cdf" else ""))))
            return fig
    return ax


def _draw_cdf(ax: Axes, runs_df: pd.DataFrame, metric: str, qt: pd.DataFrame, unit: Unit,
              styles: dict[str, dict[str, Any]], log: bool, inside: bool = False, below: bool = True) -> None:
    handles, labels = [], []
    for k, (s, st) in enumerate(styles.items()):
        e = pdata.ecdf(runs_df.loc[runs_df["strategy"] == s, metric])
        if e.empty:
            continue
        xs = unit.scale(e["value"])
        ys = e["cdf"].to_numpy()
        # start the step at F = 0 at the smallest value
        (line,) = ax.step(np.r_[xs[0], xs], np.r_[0.0, ys], where="post", color=st["color"],
                          linestyle=st["linestyle"], linewidth=2.0, zorder=3)
        q = qt[qt["strategy"] == s]
        for i, (_, r) in enumerate(q.iterrows()):
            ax.scatter([unit.scale(r["value"])], [r["q"]], marker=_Q_MARKERS[i % len(_Q_MARKERS)],
                       s=max(90 - 35 * k, 30), facecolor=st["color"], edgecolor="black",
                       linewidth=0.8, zorder=4)
        handles.append(line)
        labels.append(f"{s} (n = {int(q['n'].iloc[0]):,})\n"
                      + ", ".join(f"{r['label']} {_fmt_unit(r['value'], unit)}" for _, r in q.iterrows()))
    qs = qt.drop_duplicates("q")
    for i, (_, r) in enumerate(qs.iterrows()):
        ax.axhline(r["q"], color="#777777", linestyle=":", linewidth=0.9, zorder=1)
        # inside a caller's axes: at the left end, where a CDF is still low and no curve runs
        ax.annotate(r["label"], xy=(0.0 if inside else 1.0, r["q"]), xycoords=("axes fraction", "data"),
                    xytext=(4, 2) if inside else (4, 0), textcoords="offset points",
                    va="bottom" if inside else "center", ha="left", fontsize=10, color="#333333")
        handles.append(Line2D([], [], linestyle="none", marker=_Q_MARKERS[i % len(_Q_MARKERS)],
                              markerfacecolor="white", markeredgecolor="black"))
        labels.append(f"{r['label']}" + (" (median)" if r["q"] == 0.5 else ""))
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _tick(v)))
    ax.set_ylim(0, 1.0)
    ax.yaxis.set_major_locator(FixedLocator([0, 0.25, 0.5, 0.75, 1.0]))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_ylabel("share of runs ≤ x")
    ax.set_xlabel(_axis_label(pdata.metric_label(metric), unit) + (", log scale" if log else ""))
    if below:  # under the panel, never over the curves
        ax.legend(handles, [_esc(t) for t in labels], loc="upper center", bbox_to_anchor=(0.5, -0.17),
                  fontsize=9.5, handlelength=1.8, ncols=2 if len(handles) > 4 else 1, frameon=False)
    else:
        ax.legend(handles, [_esc(t) for t in labels], loc="lower right", fontsize=9.5, handlelength=1.8)


def _fmt_unit(raw: float, unit: Unit) -> str:
    return pdata.format_value(raw, unit)


def _draw_violin(ax: Axes, runs_df: pd.DataFrame, metric: str, qt: pd.DataFrame, unit: Unit,
                 styles: dict[str, dict[str, Any]], log: bool, inside: bool = False) -> None:
    names = [s for s in styles if (runs_df["strategy"] == s).any()]
    data = []
    for s in names:
        v = unit.scale(pd.to_numeric(runs_df.loc[runs_df["strategy"] == s, metric], errors="coerce"))
        v = v[np.isfinite(v)]
        data.append(np.log10(v) if log else v)
    tr: Callable[[np.ndarray], np.ndarray] = np.log10 if log else (lambda z: z)
    pos = np.arange(1, len(names) + 1)
    parts = ax.violinplot(data, positions=pos, widths=0.75, showextrema=False)
    for body, s in zip(parts["bodies"], names, strict=True):
        body.set_facecolor(styles[s]["color"])
        body.set_edgecolor("black")
        body.set_alpha(0.45)
        body.set_linestyle(styles[s]["linestyle"])
    ticklabels = []
    for p, s in zip(pos, names, strict=True):
        q = qt[qt["strategy"] == s]
        for i, (_, r) in enumerate(q.iterrows()):
            y = float(tr(np.array([unit.scale(r["value"])]))[0])
            ax.plot([p - 0.22, p + 0.22], [y, y], color="black", linewidth=1.2, zorder=3)
            ax.scatter([p], [y], marker=_Q_MARKERS[i % len(_Q_MARKERS)], s=50,
                       facecolor=styles[s]["color"], edgecolor="black", zorder=4)
        ticklabels.append(s + "\n" + "\n".join(f"{r['label']} {_fmt_unit(r['value'], unit)}"
                                                for _, r in q.iterrows()))
    ax.set_xticks(pos, [_esc(t) for t in ticklabels], fontsize=10.5)
    ax.set_xlim(0.4, len(names) + 0.6)
    ax.grid(axis="x", visible=False)
    if log:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _tick(10 ** v)))
    ax.set_ylabel(_axis_label(pdata.metric_label(metric), unit) + (", log scale" if log else ""))
    qs = qt.drop_duplicates("q")
    handles = [Line2D([], [], linestyle="none", marker=_Q_MARKERS[i % len(_Q_MARKERS)],
                      markerfacecolor="white", markeredgecolor="black") for i in range(len(qs))]
    if inside:
        ax.legend(handles, list(qs["label"]), loc="best", fontsize="small", title="quantile", framealpha=0.9)
    else:
        ax.legend(handles, list(qs["label"]), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, fontsize=10, title="quantile")


def plot_saving_distribution(
    runs_df: pd.DataFrame,
    a: str,
    b: str,
    metric: str = "total_cost_usd",
    ax: Axes | None = None,
    level: float = 0.95,
    title: str | None = None,
) -> Figure | Axes:
    """Histogram of the per-run saving of ``a`` over ``b`` (``b − a`` of ``metric``, paired on
    the same failures; positive: ``a`` lower), with 0 and the mean saving (with its interval)
    marked and the shares of runs on each side. Counts on a log axis, so that the few runs with
    failures (a long tail of large savings) show beside the many without (a small overhead):
    where the CDFs of the two strategies are two near-vertical lines, this is what differs."""
    d = pdata.saving_per_run(runs_df, a, b, metric)
    unit = pdata.metric_unit(metric, [float(np.max(np.abs(d)))] if d.size else [], per_run=False)
    x = unit.scale(d)
    shares = pdata.saving_shares(d)
    diff = pdata.paired_difference(runs_df, metric, b, a, level)  # b − a: the saving
    with use_report_style():
        owns = ax is None
        fig = Figure(figsize=(7.5, 5.8)) if owns else _root_figure(ax)
        ax_ = fig.subplots() if owns else ax
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
        span = hi - lo if hi > lo else max(abs(hi), 1e-12)
        # 40 bins of one width, 0 on an edge: no bar mixes runs where a is lower with runs where b is
        width = span / 40
        k_lo = math.floor(min(lo, 0.0) / width - 1e-9)
        k_hi = math.ceil(max(hi, 0.0) / width + 1e-9)
        edges = width * np.arange(k_lo, k_hi + 1)
        counts, edges = np.histogram(x, bins=edges)
        centers = (edges[:-1] + edges[1:]) / 2
        styles = strategy_styles([a, b])
        colors = [styles[a]["color"] if c > 0 else styles[b]["color"] if c < 0 else "#999999" for c in centers]
        ax_.bar(centers, counts, width=np.diff(edges), color=colors, edgecolor="#333333", linewidth=0.5,
                zorder=2)
        ax_.set_yscale("log")
        ax_.set_ylim(0.7, max(float(counts.max()), 1.0) * 3)
        ax_.axvline(0, color="black", linewidth=1.0, zorder=3)
        mean_txt = ""
        if diff["n"] >= 1 and math.isfinite(diff["mean"]):
            ax_.axvline(unit.scale(diff["mean"]), color="black", linestyle="--", linewidth=1.4, zorder=3)
            w = diff["ci_high"] - diff["ci_low"]
            ci = (f" [{pdata.format_value(diff['ci_low'], unit, w)}, {pdata.format_value(diff['ci_high'], unit, w)}]"
                  if math.isfinite(w) else "")
            mean_txt = f"mean saving {pdata.format_value(diff['mean'], unit, w if ci else None)}{ci} ({level:.0%} CI)"
        ax_.set_xlabel(_esc(f"{pdata.metric_label(metric)} saved per run, {b} − {a} ({unit.label})"))
        ax_.set_ylabel("runs (log scale)")
        ax_.grid(axis="x", visible=False)
        handles = [Patch(facecolor=styles[a]["color"], edgecolor="#333333"),
                   Patch(facecolor=styles[b]["color"], edgecolor="#333333"),
                   Line2D([], [], color="black", linestyle="--", linewidth=1.4)]
        labels = [f"{a} lower: {shares['positive']:.1%} of runs", f"{b} lower: {shares['negative']:.1%} of runs",
                  mean_txt or "mean saving"]
        if shares["zero"] > 0:
            handles.insert(2, Patch(facecolor="#999999", edgecolor="#333333"))
            labels.insert(2, f"equal: {shares['zero']:.1%} of runs")
        ax_.set_title(_esc(title or f"Saving of {a} per run (paired, n = {d.size:,})"))
        ax_.legend(handles, [_esc(t) for t in labels], loc="upper center", bbox_to_anchor=(0.5, -0.16),
                   ncols=1, fontsize=10.5, frameon=False)
    return fig if owns else ax_
