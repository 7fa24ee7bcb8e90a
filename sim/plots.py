"""Report figures for design reviews (matplotlib object API, Agg-safe).

Every ``plot_*`` function takes result DataFrames (docs/model.md §3), draws on ``ax``
(or on a new figure in the report style), and returns the :class:`~matplotlib.figure.Figure`.
Nothing here calls ``plt.show()``. The numbers drawn come from :mod:`sim.plotdata`.

Conventions shared by all figures:

* Okabe–Ito colours; strategies also differ by marker (sweeps) or line style (CDFs), so
  the figures survive greyscale printing. ``restart`` is vermillion/circles/solid,
  ``durable`` blue/squares/dashed.
* Means are drawn with a shaded Student-t confidence band (95% by default).
* Legends sit outside the data area (right of the axes, or below for the timeline).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.style as mplstyle
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, PercentFormatter

from sim import plotdata as pdata
from sim.plotdata import Unit

__all__ = [
    "OKABE_ITO",
    "plot_breakeven",
    "plot_cost_breakdown",
    "plot_distributions",
    "plot_sensitivity",
    "plot_timeline",
    "plot_waste_vs_failure_rate",
    "report_style_path",
    "save_figure",
    "strategy_styles",
    "use_report_style",
]

#: The Okabe–Ito colour-blind-safe palette.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

_KNOWN_STYLES: dict[str, tuple[str, str, Any]] = {
    "restart": (OKABE_ITO["vermillion"], "o", "-"),
    "durable": (OKABE_ITO["blue"], "s", "--"),
}
_OTHER_STYLES: list[tuple[str, str, Any]] = [
    (OKABE_ITO["bluish_green"], "^", "-."),
    (OKABE_ITO["reddish_purple"], "D", ":"),
    (OKABE_ITO["orange"], "v", (0, (6, 2, 1, 2, 1, 2))),
    (OKABE_ITO["sky_blue"], "P", (0, (8, 3))),
    (OKABE_ITO["black"], "X", (0, (2, 2))),
]
_STEP_COLORS = [OKABE_ITO[k] for k in
                ("blue", "orange", "bluish_green", "reddish_purple", "sky_blue", "yellow", "vermillion")]
_OUTCOME_MARKERS: dict[str, dict[str, Any]] = {
    "crashed": {"marker": "X", "s": 130, "facecolor": "#000000", "edgecolor": "white",
                "label": "worker crashed"},
    "killed_by_deploy": {"marker": "v", "s": 110, "facecolor": "#000000",
                         "edgecolor": "white", "label": "killed by deployment"},
    "rate_limited": {"marker": "o", "s": 70, "facecolor": "white", "edgecolor": "#000000",
                     "label": "rate limited (HTTP 429)"},
}
_OTHER_OUTCOME: dict[str, Any] = {"marker": "*", "s": 130, "facecolor": "white", "edgecolor": "#000000"}


def _outcome_specs(outcomes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Marker specs of the failure outcomes present (unknown ones, e.g. an attempt cut at
    ``max_time``, get a star labelled with the outcome name)."""
    out = {o: spec for o, spec in _OUTCOME_MARKERS.items() if o in outcomes}
    for o in outcomes:
        if o != "completed" and o not in out:
            out[o] = {**_OTHER_OUTCOME, "label": str(o).replace("_", " ")}
    return out
_COST_STYLE = {
    "useful_cost_usd": ("useful compute", OKABE_ITO["bluish_green"], ""),
    "wasted_cost_usd": ("wasted compute", OKABE_ITO["vermillion"], "///"),
    "orchestration_cost_usd": ("orchestration", OKABE_ITO["sky_blue"], ".."),
}
_Q_MARKERS = ("o", "^", "s", "D", "v")
_BE_SHADE = OKABE_ITO["yellow"]


# ----------------------------------------------------------------------------- style


def report_style_path() -> Path:
    """Filesystem path of the bundled ``report.mplstyle`` (inside the installed package)."""
    return Path(str(resources.files("sim").joinpath("styles", "report.mplstyle")))


class use_report_style:  # noqa: N801 - reads as a function at call sites
    """Apply the report style.

    As a context manager (``with use_report_style(): ...``) the previous rcParams are
    restored on exit; called bare (``use_report_style()``) the style stays applied.
    """

    def __init__(self) -> None:
        self._saved = dict(mpl.rcParams.copy())
        self._saved.pop("backend", None)
        ref = resources.files("sim").joinpath("styles", "report.mplstyle")
        with resources.as_file(ref) as path:
            mplstyle.use(str(path))

    def __enter__(self) -> use_report_style:
        return self

    def __exit__(self, *exc: object) -> None:
        dict.update(mpl.rcParams, self._saved)


def save_figure(
    fig: Figure,
    path_without_suffix: str | Path,
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 200,
) -> list[Path]:
    """Write ``fig`` as ``<path>.png`` (``dpi``) and ``<path>.svg`` (or the given formats);
    creates the parent directory; returns the written paths."""
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        p = base.with_name(f"{base.name}.{fmt.lstrip('.')}")
        fig.savefig(p, dpi=dpi, bbox_inches="tight", facecolor="white")
        out.append(p)
    return out


def strategy_styles(strategies: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Colour, marker and line style per strategy (stable for ``restart``/``durable``)."""
    out: dict[str, dict[str, Any]] = {}
    k = 0
    for s in pdata.strategy_order(strategies):
        if s in _KNOWN_STYLES:
            c, m, ls = _KNOWN_STYLES[s]
        else:
            c, m, ls = _OTHER_STYLES[k % len(_OTHER_STYLES)]
            k += 1
        out[s] = {"color": c, "marker": m, "linestyle": ls}
    return out


# --------------------------------------------------------------------------- helpers


@contextmanager
def _figure(
    ax: Axes | None, figsize: tuple[float, float] | None = None
) -> Iterator[tuple[Figure, Axes, bool]]:
    """Yield (figure, axes, owns_figure) with the report style active while drawing."""
    with use_report_style():
        if ax is None:
            fig = Figure(figsize=figsize) if figsize else Figure()
            yield fig, fig.add_subplot(), True
        else:
            yield _root_figure(ax), ax, False


def _root_figure(ax: Axes) -> Figure:
    fig: Any = ax.figure
    while not isinstance(fig, Figure):  # SubFigure -> parent
        fig = fig.figure
    return fig


def _resolve_unit(unit_scale: str | Unit, metric: str, values: object) -> Unit:
    if isinstance(unit_scale, Unit):
        return unit_scale
    if unit_scale == "auto":
        return pdata.metric_unit(metric, values)
    named = {"s": Unit(1.0, "s", "time"), "min": Unit(60.0, "min", "time"),
             "h": Unit(3600.0, "h", "time"), "d": Unit(86400.0, "d", "time"),
             "usd": Unit(1.0, "$ per run", "usd"),
             "usd_per_1000": Unit(1e-3, "$ per 1,000 runs", "usd")}
    if unit_scale not in named:
        raise ValueError(f"unit_scale must be 'auto', a Unit or one of {sorted(named)}")
    return named[unit_scale]


def _esc(text: str) -> str:
    """Escape dollar signs so that matplotlib never reads "$2 … $3" as mathtext."""
    return text.replace("\\$", "$").replace("$", "\\$")


def _axis_label(label: str, unit: Unit) -> str:
    return _esc(f"{label} ({unit.label})" if unit.label else label)


def _legend_right(ax: Axes, handles: list[Any], labels: list[str], title: str | None = None) -> None:
    """Legend outside the data area, right of the axes."""
    ax.legend(handles, [_esc(t) for t in labels], loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, title=_esc(title) if title else None, alignment="left")


def _tick(v: float) -> str:
    """Tick label without trailing zeros: 1, 2.5, 16, 1,000, 0.125."""
    if v == round(v):
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _duration_tick(seconds: float) -> str:
    """A tick in its own readable unit: "30 min", "2 h", "5.33 d"."""
    for factor, name in ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s")):
        if abs(seconds) >= factor or name == "s":
            return f"{_tick(float(f'{seconds / factor:.3g}'))} {name}"
    return ""  # pragma: no cover - the loop always returns


def _set_x_grid_ticks(ax: Axes, shown: np.ndarray, log: bool, unit: Unit | None = None) -> bool:
    """Log x axis with a tick at every grid value. A duration grid so wide that its smallest
    tick would read below 0.1 in the common unit (e.g. 30 min … 5 d in days: 0.0208) gets each
    tick in its own unit ("30 min", "2 h", "5.33 d"); returns True then (the axis label must
    not name a unit)."""
    own_units = False
    if log:
        ax.set_xscale("log")
        ticks = np.unique(shown)
        if ticks.size <= 12:
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            if unit is not None and unit.kind == "time" and ticks.size and ticks.min() < 0.1:
                own_units = True
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _duration_tick(v * unit.factor)))
            else:
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _tick(v)))
            ax.xaxis.set_minor_locator(NullLocator())
    return own_units


def _draw_sweep(
    ax: Axes,
    summary: pd.DataFrame,
    x: str,
    xunit: Unit,
    yunit: Unit,
) -> tuple[list[Any], list[str]]:
    styles = strategy_styles(list(summary["strategy"]))
    handles, labels = [], []
    for s, st in styles.items():
        d = summary[summary["strategy"] == s].sort_values(x)
        xs = xunit.scale(d[x])
        band = ax.fill_between(xs, yunit.scale(d["ci_low"]), yunit.scale(d["ci_high"]),
                               color=st["color"], alpha=0.22, linewidth=0, zorder=2)
        (line,) = ax.plot(xs, yunit.scale(d["mean"]), color=st["color"], marker=st["marker"],
                          linestyle="-", markeredgecolor="white", markeredgewidth=0.8, zorder=3)
        handles.append((band, line))
        labels.append(s)
    return handles, labels


def _n_text(summary: pd.DataFrame) -> str:
    lo, hi = int(summary["n"].min()), int(summary["n"].max())
    return f"n = {lo:,} runs per point" if lo == hi else f"n = {lo:,}–{hi:,} runs per point"


def _finish_y(ax: Axes, summary: pd.DataFrame, yunit: Unit) -> None:
    lows = yunit.scale(summary["ci_low"].fillna(summary["mean"]))
    if np.nanmin(lows) >= 0:
        ax.set_ylim(bottom=0)


# ------------------------------------------------------------------ 1. waste vs rate


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
) -> Figure:
    """Mean ``metric`` per run vs sweep parameter ``x``, one line per strategy with a
    Student-t confidence band; optional ``analytic`` curves (columns ``x`` or ``<x>``,
    strategy, value; same raw units as ``metric``) dashed on top. Log x axis when the grid
    is log-spaced. ``unit_scale``: ``"auto"`` (s/min/h/d by magnitude; $ per run or per
    1,000 runs), a :class:`Unit`, or ``"s"``, ``"min"``, ``"h"``, ``"d"``, ``"usd"``,
    ``"usd_per_1000"``."""
    summary = pdata.sweep_summary(sweep_df, x, metric, level=level)
    yunit = _resolve_unit(unit_scale, metric, summary[["mean", "ci_high"]].to_numpy())
    plabel, xunit = pdata.param_axis(x, summary[x])
    with _figure(ax) as (fig, ax_, _owns):
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
        ax_.set_title(_esc(title or f"{pdata.metric_label(metric).capitalize()} per run vs {plabel}"))
        _legend_right(ax_, handles, labels,
                      title=f"mean, shaded {level:.0%} CI\n{_n_text(summary)}")
    return fig


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
) -> Figure:
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
            labels.append(f"{order[0]} − {order[1]}\n(paired, same runs)")
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
            axd.set_ylabel(_esc(f"{order[0]} − {order[1]}\n({yunit.label})\n> 0: {order[1]} cheaper"),
                           fontsize=11)
        ax_.set_title(_esc(title or f"Expected {name} vs {plabel}"))
        _legend_right(ax_, handles, labels,
                      title=f"mean, shaded {level:.0%} CI\n{_n_text(summary)}")
    return fig


# ---------------------------------------------------------------- 3. distributions


def plot_distributions(
    runs_df: pd.DataFrame,
    metrics: Sequence[str] = ("makespan_s", "total_cost_usd"),
    kind: str = "cdf",
    ax: Axes | Sequence[Axes] | None = None,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    log_scale: bool | str = "auto",
    title: str | None = None,
) -> Figure:
    """Distribution of each metric over runs, one panel per metric, per strategy:
    ``kind="cdf"`` (empirical CDF, step) or ``"violin"``. The quantiles (p50/p95/p99) are
    marked on each curve/violin and their values written in the legend (CDF) or under the
    violins. ``log_scale="auto"`` uses a log value axis for positive, heavy-tailed data
    (max / median > 50). ``ax``: one Axes per metric (or one Axes for one metric)."""
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
                _draw_cdf(a, runs_df, metric, qt, unit, styles, log)
            else:
                _draw_violin(a, runs_df, metric, qt, unit, styles, log)
            a.set_title(pdata.metric_label(metric).capitalize())
        if ax is None:
            fig.suptitle(_esc(title or ("Distribution over runs" + (" (empirical CDF)" if kind == "cdf" else ""))))
    return fig


def _draw_cdf(ax: Axes, runs_df: pd.DataFrame, metric: str, qt: pd.DataFrame, unit: Unit,
              styles: dict[str, dict[str, Any]], log: bool) -> None:
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
        ax.annotate(r["label"], xy=(1.0, r["q"]), xycoords=("axes fraction", "data"),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=10,
                    color="#333333")
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
    ax.legend(handles, [_esc(t) for t in labels], loc="lower right", fontsize=9.5, handlelength=1.8)


def _fmt_unit(raw: float, unit: Unit) -> str:
    return pdata.format_value(raw, unit)


def _draw_violin(ax: Axes, runs_df: pd.DataFrame, metric: str, qt: pd.DataFrame, unit: Unit,
                 styles: dict[str, dict[str, Any]], log: bool) -> None:
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
    ax.legend(handles, list(qs["label"]), loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0, fontsize=10, title="quantile")


# ------------------------------------------------------------- 4. cost breakdown


def plot_cost_breakdown(
    runs_df: pd.DataFrame,
    ax: Axes | None = None,
    per_runs: int | str = "auto",
    title: str | None = None,
    level: float = 0.95,
) -> Figure:
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
        # small segments: label to the right of the bar, stacked upwards so labels never collide
        any_small = False
        for i in range(len(tab)):
            small = [(c, float(tab[c].iloc[i])) for c in pdata.COST_COMPONENTS
                     if 0 < float(tab[c].iloc[i]) <= 0.05 * top]
            any_small = any_small or bool(small)
            for k, (c, v) in enumerate(small):
                y0 = float(sum(tab[cc].iloc[i] for cc in pdata.COST_COMPONENTS[
                    : pdata.COST_COMPONENTS.index(c)])) + v / 2
                ax_.annotate(_esc(f"{_COST_STYLE[c][0]} {pdata.format_value(v, money)}"),
                             xy=(pos[i] + 0.28, y0), xytext=(8, 2 + 14 * k),
                             textcoords="offset points", fontsize=9.5, va="bottom",
                             color="#333333",
                             arrowprops={"arrowstyle": "-", "color": "#777777", "linewidth": 0.7})
        err = np.vstack([tab["total"] - tab["total_ci_low"], tab["total_ci_high"] - tab["total"]])
        ax_.errorbar(pos + 0.19, tab["total"], yerr=np.nan_to_num(err), fmt="none", ecolor="black",
                     elinewidth=1.2, capsize=5, zorder=4)
        for i, r in tab.iterrows():
            ci = (f"\n[{pdata.format_value(r['total_ci_low'], money)}, "
                  f"{pdata.format_value(r['total_ci_high'], money)}]"
                  if np.isfinite(r["total_ci_low"]) else "")
            y = r["total_ci_high"] if np.isfinite(r["total_ci_high"]) else r["total"]
            ax_.annotate(_esc(f"total {pdata.format_value(r['total'], money)}{ci}"), xy=(pos[i], y),
                         xytext=(0, 6), textcoords="offset points", ha="center", va="bottom",
                         fontsize=11.5, fontweight="bold")
        ax_.set_xticks(pos, [f"{s}\n(n = {n:,})" for s, n in zip(tab["strategy"], tab["n"], strict=True)])
        # room on the right of the last bar for the labels of thin segments
        ax_.set_xlim(-0.6, len(tab) - 0.4 + (0.55 if any_small else 0.0))
        ax_.grid(axis="x", visible=False)
        ax_.set_ylabel(_esc(f"mean cost ({unit_txt})"))
        ax_.set_title(_esc(title or f"Where the money goes: mean cost {unit_txt.removeprefix('$ ')}"))
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
                m, lo, hi = (pdata.format_value(d[k] * scale, money)
                             for k in ("mean", "ci_low", "ci_high"))
                note = (f"{a} − {b}, paired over {d['n']:,} runs: {m} [{lo}, {hi}] "
                        f"({unit_txt}, {level:.0%} CI)")
        if owns:
            fig.legend(leg_h, leg_l, loc="outside lower center", ncols=len(leg_h),
                       title=_esc(note) if note else None)
        else:
            _legend_right(ax_, leg_h[::-1], leg_l[::-1], title=note)
    return fig


# ------------------------------------------------------------------- 5. timeline


def _lighten(color: str, amount: float = 0.6) -> tuple[float, float, float]:
    r, g, b = mpl.colors.to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def plot_timeline(
    event_log_df: pd.DataFrame,
    run: int | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Gantt chart of one replication, one lane per strategy: every attempt is a bar from
    ``start_s`` to ``end_s`` coloured by step; attempts whose result was not used
    (``useful == False``: failed, or completed but lost with a restarted pipeline) are pale and
    hatched; failures are marked above the bar at the instant they happened (✕ crash,
    ▼ deployment kill, ○ HTTP 429). Lane labels give the finish time and the wasted compute.
    ``run`` defaults to :func:`sim.plotdata.pick_timeline_run`."""
    bars = pdata.timeline_bars(event_log_df, run)
    lanes = pdata.timeline_lanes(bars)
    run_id = int(bars["run"].iloc[0])
    tunit = pdata.time_unit(float(bars["end_s"].max()))
    steps = (bars.drop_duplicates("step_index").sort_values("step_index")[["step_index", "step"]])
    color = {r.step: _STEP_COLORS[i % len(_STEP_COLORS)] for i, r in enumerate(steps.itertuples())}
    height = 0.56
    n_lanes = int(lanes["lane"].max()) + 1
    with _figure(ax, figsize=(12, 2.3 + 1.35 * n_lanes)) as (fig, ax_, owns):
        for r in bars.itertuples():
            x0, w = tunit.scale(r.start_s), tunit.scale(r.duration_s)
            if r.useful:
                ax_.barh(r.lane, w, left=x0, height=height, color=color[r.step],
                         edgecolor="#222222", linewidth=0.7, zorder=2)
            else:
                ax_.barh(r.lane, w, left=x0, height=height, color=_lighten(color[r.step]),
                         edgecolor="#555555", hatch="////", linewidth=0.7, zorder=2)
        specs = _outcome_specs(list(dict.fromkeys(bars["outcome"])))
        for outcome, spec in specs.items():
            f = bars[bars["outcome"] == outcome]
            if len(f):
                ax_.scatter(tunit.scale(f["end_s"]), f["lane"] - height / 2 - 0.13,
                            marker=spec["marker"], s=spec["s"], facecolor=spec["facecolor"],
                            edgecolor=spec["edgecolor"], linewidth=1.0, zorder=5, clip_on=False)
        for r in lanes.itertuples():
            if np.isfinite(r.finish_s):
                ax_.plot([tunit.scale(r.finish_s)] * 2, [r.lane - height / 2 - 0.05, r.lane + height / 2 + 0.05],
                         color="black", linewidth=2.2, zorder=4)
        ylabels = []
        # one unit for every lane, so that the lanes' wasted compute can be compared at a glance
        wunit = pdata.time_unit(float(lanes["wasted_s"].max()))
        for r in lanes.itertuples():
            done = (f"done at {pdata.format_value(r.finish_s, tunit)}" if np.isfinite(r.finish_s)
                    else "not finished")
            wasted = pdata.format_value(r.wasted_s, wunit)
            ylabels.append(f"{r.strategy}\n{done}\nwasted compute {wasted}")
        ax_.set_yticks(lanes["lane"].to_numpy(), ylabels, fontsize=11.5)
        ax_.set_ylim(n_lanes - 0.45, -0.75)  # lane 0 on top, room for the failure markers
        ax_.set_xlim(left=0, right=tunit.scale(bars["end_s"].max()) * 1.02)
        ax_.grid(axis="y", visible=False)
        ax_.set_xlabel(f"time since the run started ({tunit.label})")
        ax_.set_title(_esc(title or f"One replication (run {run_id}): every attempt of every step"))
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
            ax_.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       borderaxespad=0.0, fontsize=10)
    return fig


# ---------------------------------------------------------------- 6. sensitivity


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
) -> Figure:
    """Tornado chart: for each input (ranked by swing, largest on top) a bar from the
    baseline to the output at the input's low value and one to its high value; a vertical
    line at the baseline; values written at the bar ends, the input's low → high settings
    (column ``setting`` of the results, if given) under its name; CI whiskers
    when ``ci_low``/``ci_high`` were supplied. ``tornado_df`` is the output of
    :func:`sim.plotdata.tornado_table`, or the long (input, level, value) results together with
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
    with _figure(ax, figsize=(10, 1.6 + 0.75 * max(n, 2))) as (fig, ax_, _owns):
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
        ax_.set_title(_esc(title or "Sensitivity: one input at a time, ranked by swing"))
        handles: list[Any] = [Patch(facecolor=colors["low"], edgecolor="#333333"),
                              Patch(facecolor=colors["high"], hatch="//", edgecolor="#333333"),
                              Line2D([], [], color="black", linewidth=1.6)]
        labels = ["input at its low value", "input at its high value", f"baseline {fmt(b)}"]
        if any(c.endswith("_ci_low") for c in tab.columns):
            handles.append(Line2D([], [], color="black", marker="|", markersize=10, linewidth=1.1))
            labels.append(f"{level:.0%} CI")
        _legend_right(ax_, handles, labels)
    return fig
