"""Shared by every figure: the palette, the report style, saving, strategy styles and drawing helpers."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
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
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import FuncFormatter, Locator, NullLocator

from sim.analysis import plotdata as pdata
from sim.analysis.plotdata import Unit

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
    "preempted": {"marker": "D", "s": 90, "facecolor": "#000000", "edgecolor": "white",
                  "label": "spot instance preempted"},
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


def _legend_right(ax: Axes, handles: list[Any], labels: list[str], title: str | None = None,
                  inside: bool = False) -> Any:
    """The plot's legend: right of the axes on a figure of the plot's own; ``inside`` (drawn into a
    caller's axes) within the data area, at matplotlib's best spot, long labels wrapped, so that
    nothing spills into a neighbouring axes. Returns the Legend (also ``ax.get_legend()``: a caller may move it)."""
    if inside:
        wrapped = "\n".join(textwrap.fill(line, 44) for line in title.split("\n")) if title else None
        labels = ["\n".join(textwrap.fill(line, 34) for line in str(t).split("\n")) for t in labels]
        return ax.legend(handles, [_esc(t) for t in labels], loc="best", fontsize="small",
                         title=_esc(wrapped) if wrapped else None, title_fontsize="small", alignment="left",
                         framealpha=0.9)
    return ax.legend(handles, [_esc(t) for t in labels], loc="upper left", bbox_to_anchor=(1.02, 1.0),
                     borderaxespad=0.0, title=_esc(title) if title else None, alignment="left")


def _set_title(ax: Axes, text: str, inside: bool) -> None:
    """The axes title; in a caller's axes (``inside``) wrapped to lines of 40 characters, so that
    a long title does not widen its column of a grid."""
    ax.set_title(textwrap.fill(text, 40) if inside else text)


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


# round durations for a log axis whose ticks each carry their own unit ("30 min", "2 h", "1 d")
_NICE_DURATIONS_S = np.array([
    1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600,
    86400, 2 * 86400, 4 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 365 * 86400,
], dtype=float)


def _text_width_pt(text: str, size_pt: float) -> float:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    width, _h, _d = text_to_path.get_text_width_height_descent(text, FontProperties(size=size_pt), ismath=False)
    return float(width)


class _NonOverlappingLocator(Locator):
    """Ticks chosen at draw time from ``candidates`` (data values) so that their labels never
    overlap: from the left, a candidate is kept only if its label clears the previous kept one by
    a gap, measured with the axis's real size and the labels' real widths."""

    def __init__(self, candidates: Sequence[float], label: Any, size_pt: float):
        self.candidates = np.unique(np.asarray(candidates, dtype=float))
        self.label = label
        self.size_pt = size_pt

    def __call__(self) -> list[float]:
        lo, hi = sorted(self.axis.get_view_interval())
        ticks = [float(c) for c in self.candidates if lo <= c <= hi]
        if len(ticks) < 2:
            return ticks
        ax = self.axis.axes
        px = ax.transData.transform(np.column_stack([ticks, np.zeros(len(ticks))]))[:, 0]
        scale = ax.figure.dpi / 72.0
        half = [_text_width_pt(self.label(t), self.size_pt) * scale / 2 for t in ticks]
        gap = 0.8 * self.size_pt * scale
        kept = [0]
        for i in range(1, len(ticks)):
            j = kept[-1]
            if px[i] - half[i] >= px[j] + half[j] + gap:
                kept.append(i)
        return [ticks[i] for i in kept]

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        return [float(c) for c in self.candidates if min(vmin, vmax) <= c <= max(vmin, vmax)]


def _set_x_grid_ticks(ax: Axes, shown: np.ndarray, log: bool, unit: Unit | None = None) -> bool:
    """Log x axis with ticks whose labels never overlap (``_NonOverlappingLocator``): at the grid
    values, thinned where they would collide. A duration grid so wide that its smallest tick would
    read below 0.1 in the common unit (e.g. 30 min … 5 d in days: 0.0208) gets round durations
    instead, each in its own unit ("30 min", "2 h", "4 d"); returns True then (the axis label
    must not name a unit)."""
    own_units = False
    if log:
        ax.set_xscale("log")
        ticks = np.unique(shown)
        size_pt = FontProperties(size=mpl.rcParams["xtick.labelsize"]).get_size_in_points()
        if unit is not None and unit.kind == "time" and ticks.size and ticks.min() < 0.1:
            own_units = True
            factor = unit.factor

            def label(v: float) -> str:
                return _duration_tick(v * factor)

            lo, hi = ticks.min() * factor, ticks.max() * factor
            nice = _NICE_DURATIONS_S[(_NICE_DURATIONS_S >= lo * (1 - 1e-9)) & (_NICE_DURATIONS_S <= hi * (1 + 1e-9))]
            candidates = nice / factor if nice.size >= 2 else ticks
        else:
            def label(v: float) -> str:
                return _tick(v)

            candidates = ticks
        ax.xaxis.set_major_locator(_NonOverlappingLocator(candidates, label, size_pt))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: label(v)))
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
