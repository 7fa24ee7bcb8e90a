"""Plots drawn into a caller's axes stay in that axes' part of the figure, return that Axes, and
log-duration axes never print overlapping tick labels."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from test_plots import MTBFS, P429, analytic_waste, breakeven_from_sweep, make_runs, make_sweep  # noqa: E402

from sim.analysis import plotdata as pdata  # noqa: E402
from sim.analysis import plots  # noqa: E402
from sim.analysis.plots.optimize import plot_cost_vs_activities, plot_heartbeat_curve  # noqa: E402


@pytest.fixture(scope="module")
def data() -> dict:
    runs, log = make_runs(300, mtbf=4 * 3600.0, p429=0.03, deploy_every=8 * 3600.0)
    mtbf = make_sweep("failures.crash.mtbf", MTBFS, n=100)
    p429 = make_sweep("failures.rate_limit.probability", P429, n=150)
    baseline = 120.0
    sens = pd.DataFrame({"input": ["worker MTBF", "worker MTBF", "GPU price", "GPU price"],
                         "level": ["low", "high", "low", "high"], "setting": ["2 h", "24 h", "$1.50/h", "$4/h"],
                         "value": [310.0, 40.0, 95.0, 180.0], "ci_low": [290.0, 30.0, 85.0, 170.0],
                         "ci_high": [330.0, 50.0, 105.0, 190.0]})
    # the optimiser's tables (sim.analysis.optimize): candidates by number of activities; a heartbeat curve
    table = pd.DataFrame({"candidate": ["restart", "A", "B", "C", "durable", "heartbeat"],
                          "kind": ["restart", "checkpoint", "checkpoint", "checkpoint", "durable", "heartbeat"],
                          "activities": [0, 1, 2, 2, 4, 4], "cost_usd": [1.0, 0.97, 0.95, 0.96, 0.955, 0.94]})
    table["cost_low_usd"], table["cost_high_usd"] = table["cost_usd"] - 0.01, table["cost_usd"] + 0.01
    every = np.geomspace(20, 3 * 3600, 15)
    value = 0.9 + 0.02 * (np.log(every / 600)) ** 2
    curve = pd.DataFrame({"every_s": every, "value": value, "diff_low": value - 0.905, "diff_high": value - 0.895})
    return {"runs": runs, "log": log, "mtbf": mtbf, "p429": p429, "tornado": pdata.tornado_table(baseline, sens),
            "activities": table, "heartbeat": curve}


DRAW = {
    "waste": lambda d, ax: plots.plot_waste_vs_failure_rate(d["mtbf"], "failures.crash.mtbf", ax=ax,
                                                            analytic=analytic_waste(MTBFS)),
    "breakeven": lambda d, ax: plots.plot_breakeven(d["p429"], "failures.rate_limit.probability", ax=ax,
                                                    breakeven=breakeven_from_sweep(d["p429"],
                                                                                   "failures.rate_limit.probability")),
    "costs": lambda d, ax: plots.plot_cost_breakdown(d["runs"], ax=ax),
    "cdf": lambda d, ax: plots.plot_distributions(d["runs"], metrics=("makespan_s",), ax=ax),
    "violin": lambda d, ax: plots.plot_distributions(d["runs"], metrics=("total_cost_usd",), kind="violin", ax=ax),
    "timeline": lambda d, ax: plots.plot_timeline(d["log"], ax=ax),
    "sensitivity": lambda d, ax: plots.plot_sensitivity(d["tornado"], ax=ax),
    "activities": lambda d, ax: plot_cost_vs_activities(d["activities"], ax=ax),
    "heartbeat": lambda d, ax: plot_heartbeat_curve(d["heartbeat"], 600.0, "mean total cost per run ($)",
                                                    interval_s=(400.0, 900.0), references_s={"Daly": 700.0}, ax=ax),
}


def _texts_and_legends(ax: Axes) -> list:
    """Every text-like artist that belongs to ``ax``: its title, axis labels, tick labels, texts and
    annotations, and its legend (as one box)."""
    out: list = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
    out += [t for t in ax.texts]
    out += [t for t in ax.get_xticklabels() + ax.get_yticklabels()]
    if ax.get_legend() is not None:
        out.append(ax.get_legend())
    return [a for a in out if a.get_visible() and (not isinstance(a, Text) or a.get_text())]


@pytest.mark.slow
@pytest.mark.parametrize("left, right", [("waste", "costs"), ("breakeven", "cdf"), ("timeline", "sensitivity"),
                                         ("violin", "waste"), ("costs", "breakeven"), ("waste", "breakeven"),
                                         ("activities", "heartbeat")])
def test_two_plots_in_a_constrained_grid_stay_in_their_own_half(data: dict, left: str, right: str) -> None:
    _check_pair(data, left, right)


@pytest.mark.slow
@pytest.mark.parametrize("left, right", [("timeline", "sensitivity"), ("costs", "violin")])
def test_the_same_under_the_report_style_with_its_larger_fonts(data: dict, left: str, right: str) -> None:
    with plots.use_report_style():
        _check_pair(data, left, right)


def _check_pair(data: dict, left: str, right: str) -> None:
    fig = Figure(figsize=(14, 5.5), layout="constrained")
    ax_l, ax_r = fig.subplots(1, 2)
    out_l, out_r = DRAW[left](data, ax_l), DRAW[right](data, ax_r)
    assert out_l is ax_l and out_r is ax_r  # drawn into a given Axes: that Axes is returned
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    assert len(fig.legends) == 0 and not fig.texts  # nothing at figure level
    # everything each axes draws: title, labels, visible tick labels, texts, annotations, legend
    whole_l, whole_r = ax_l.get_tightbbox(renderer), ax_r.get_tightbbox(renderer)
    # each plot keeps to its own side: the left one ends before the right one begins. (Constrained
    # layout gives both axes the same width, so with wider tick labels on one side the dividing
    # line is not exactly at the middle of the figure.)
    assert whole_l.x1 <= whole_r.x0 + 0.5, (left, right, whole_l, whole_r)
    middle = (whole_l.x1 + whole_r.x0) / 2
    for ax, whole, (lo, hi) in ((ax_l, whole_l, (0.0, middle)), (ax_r, whole_r, (middle, width))):
        assert ax.get_legend() is not None
        assert lo - 0.5 <= whole.x0 and whole.x1 <= hi + 0.5, (left, right, whole, lo, hi)
        assert -0.5 <= whole.y0 and whole.y1 <= height + 0.5, (left, right, whole)
        for artist in _texts_and_legends(ax):  # one by one, for a readable failure
            box = artist.get_window_extent(renderer)
            where = artist.get_text() if isinstance(artist, Text) else "legend"
            is_tick = isinstance(artist, Text) and artist in ax.get_xticklabels() + ax.get_yticklabels()
            if is_tick and not (whole.x0 - 0.5 <= box.x0 and box.x1 <= whole.x1 + 0.5):
                continue  # a tick label outside the view limits: not drawn
            assert lo - 0.5 <= box.x0 and box.x1 <= hi + 0.5, (left, right, where, box, lo, hi)
        # the legend sits inside the data area of its axes
        legend_box = ax.get_legend().get_window_extent(renderer)
        axes_box = ax.get_window_extent(renderer)
        assert axes_box.x0 - 0.5 <= legend_box.x0 and legend_box.x1 <= axes_box.x1 + 0.5, (left, right)
        assert axes_box.y0 - 0.5 <= legend_box.y0 and legend_box.y1 <= axes_box.y1 + 0.5, (left, right)


def test_two_sweep_plots_split_the_figure_at_its_middle(data: dict) -> None:
    fig = Figure(figsize=(14, 5.5), layout="constrained")
    ax_l, ax_r = fig.subplots(1, 2)
    DRAW["waste"](data, ax_l)
    DRAW["waste"](data, ax_r)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    half = fig.bbox.width / 2
    assert ax_l.get_tightbbox(renderer).x1 <= half + 0.5 <= ax_r.get_tightbbox(renderer).x0 + 1.0


def test_a_plot_of_its_own_returns_its_figure(data: dict) -> None:
    for name in ("waste", "costs", "timeline", "sensitivity", "activities", "heartbeat"):
        assert isinstance(DRAW[name](data, None), Figure), name


def test_several_axes_for_several_metrics_are_returned_as_given(data: dict) -> None:
    fig = Figure()
    axes = list(fig.subplots(1, 2))
    out = plots.plot_distributions(data["runs"], metrics=("makespan_s", "total_cost_usd"), ax=axes)
    assert out == axes


def _overlaps(labels: list, renderer) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels if t.get_visible() and t.get_text()]
    boxes.sort(key=lambda b: b[1].x0)
    return [(a[0], b[0]) for a, b in itertools.pairwise(boxes) if a[1].x1 > b[1].x0]


@pytest.mark.slow
@pytest.mark.parametrize("values_s, width", [
    (np.geomspace(1800, 5 * 86400, 12), 6.0),  # 30 min … 5 d: each tick in its own unit
    (np.geomspace(1800, 5 * 86400, 12), 3.0),  # the same, narrow
    (np.geomspace(1800, 3 * 3600, 9), 3.0),  # 30 min … 3 h: one unit, many close values
    (np.geomspace(1200, 14 * 86400, 12), 4.0),  # 20 min … 2 w
])
def test_log_duration_ticks_never_overlap(values_s: np.ndarray, width: float) -> None:
    sweep = make_sweep("failures.crash.mtbf", [float(v) for v in values_s], n=20)
    fig = Figure(figsize=(width, 3.5), layout="constrained")
    ax = fig.add_subplot()
    plots.plot_waste_vs_failure_rate(sweep, "failures.crash.mtbf", ax=ax)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 2, [t.get_text() for t in labels]
    assert not _overlaps(ax.get_xticklabels(), canvas.get_renderer())


@pytest.mark.parametrize("width", [3.5, 5.0, 8.0])
def test_heartbeat_interval_ticks_never_overlap(data: dict, width: float) -> None:
    fig = Figure(figsize=(width, 3.5), layout="constrained")
    ax = fig.add_subplot()
    DRAW["heartbeat"](data, ax)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    assert len([t for t in ax.get_xticklabels() if t.get_text()]) >= 2
    assert not _overlaps(ax.get_xticklabels(), canvas.get_renderer())


# --------------------------------------------------------------------------- every point inside, no overlaps, sizes


def _points_outside(ax: Axes) -> list[str]:
    """Data points drawn in data coordinates (line vertices, scatter points, bar ends) that lie
    outside the axes' view limits: what the reader does not see."""
    x0, x1 = sorted(ax.get_xlim())
    y0, y1 = sorted(ax.get_ylim())
    tol_x, tol_y = 1e-9 * max(1.0, abs(x1 - x0)), 1e-9 * max(1.0, abs(y1 - y0))

    def inside(x: float, y: float) -> bool:
        return x0 - tol_x <= x <= x1 + tol_x and y0 - tol_y <= y <= y1 + tol_y

    out = []
    for line in ax.lines:
        if line.get_transform() != ax.transData:  # axvline/axhline: drawn in axes coordinates
            continue
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        ok = np.isfinite(xs) & np.isfinite(ys)
        if line.get_marker() in (None, "", "None", " ") and len(xs) > 2:
            continue  # a curve may run off to its end; markers are the points
        out += [f"line {line.get_label()} at ({x:g}, {y:g})" for x, y in zip(xs[ok], ys[ok], strict=True)
                if not inside(x, y)]
    for coll in ax.collections:
        if coll.get_offset_transform() != ax.transData:
            continue
        off = np.asarray(coll.get_offsets(), float).reshape(-1, 2)
        out += [f"point at ({x:g}, {y:g})" for x, y in off if np.isfinite(x) and np.isfinite(y) and not inside(x, y)]
    for patch in ax.patches:
        if patch.get_data_transform() != ax.transData or not hasattr(patch, "get_height"):
            continue
        if patch.get_height() == 0 or patch.get_width() == 0:
            continue  # an empty bin: nothing drawn
        top, right = patch.get_y() + patch.get_height(), patch.get_x() + patch.get_width()
        if not (y0 - tol_y <= max(top, patch.get_y()) <= y1 + tol_y and x0 - tol_x <= right <= x1 + tol_x):
            out.append(f"bar ending at ({right:g}, {top:g})")
    return out


def _text_overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of texts (annotations and texts of every axes, tick labels excluded) whose boxes
    overlap, and texts that overlap a bar they are not inside of."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    found = []
    for ax in fig.axes:
        texts = [t for t in ax.texts if t.get_visible() and t.get_text()]
        boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts]
        for (ta, ba), (tb, bb) in itertools.combinations(boxes, 2):
            if ba.overlaps(bb):
                found.append((ta, tb))
        bars = [p.get_window_extent(r) for p in ax.patches if p.get_data_transform() == ax.transData]
        assert bars or not ax.patches
        for text, box in boxes:
            cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
            for bar in bars:
                if bar.overlaps(box) and not bar.contains(cx, cy):
                    found.append((text, "a bar"))
    return found


@pytest.fixture(scope="module")
def bundled_runs() -> dict:
    import sim

    return {name: sim.compare(name, runs=150, seed=0).runs
            for name in ("research_paper", "video", "graph_agentic_research")}


@pytest.mark.parametrize("name", ["research_paper", "video", "graph_agentic_research"])
def test_cost_breakdown_labels_never_cover_a_bar_or_each_other(bundled_runs: dict, name: str) -> None:
    fig = plots.plot_cost_breakdown(bundled_runs[name])
    assert not _text_overlaps(fig)
    for ax in fig.axes:
        assert not _points_outside(ax)


def test_the_heartbeat_curve_shows_every_point() -> None:
    """A curve whose short intervals cost far more than the rest (saves that dominate): the axis
    used to be zoomed to the 75th percentile, cutting the costliest points off above it."""
    every = np.geomspace(10, 3 * 3600, 11)
    value = 0.9 + 0.02 * (np.log(every / 600)) ** 2 + 5.0 / every
    curve = pd.DataFrame({"every_s": every, "value": value, "diff_low": value - 0.905, "diff_high": value - 0.895})
    fig = plot_heartbeat_curve(curve, 600.0, "mean total cost per run ($)", interval_s=(400.0, 900.0))
    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    assert not _points_outside(ax)
    y0, y1 = ax.get_ylim()
    assert y0 < value.min() and value.max() < y1


@pytest.mark.parametrize("name", ["video", "graph_agentic_research"])
def test_the_timeline_is_sized_to_its_content(name: str) -> None:
    """One lane per strategy; a graph's fan-out puts many rows in a lane, which used to make the
    figure 18.6 in (3,716 px) tall and mostly empty. At most 8 in tall, every bar and marker inside."""
    import sim
    from sim.analysis.plots.timeline import timeline_height_in
    from sim.analysis.report import figure_bytes
    from sim.experiment.api import simulate_with_events

    _, events = simulate_with_events(sim.load_scenario(name), 150, 0, event_log=True)
    fig = plots.plot_timeline(events)
    width_in, height_in = fig.get_size_inches()
    assert height_in <= 8.0 and width_in <= 12.0
    lanes, rows = 3, 30
    assert timeline_height_in(lanes, rows) == pytest.approx(2.3 + 0.16 * 30)
    assert not _points_outside(fig.axes[0])
    png = figure_bytes(fig, "png")
    import io

    from PIL import Image

    w, h = Image.open(io.BytesIO(png)).size
    assert w <= 2600 and h <= 1700, (w, h)


@pytest.mark.parametrize("name", ["research_paper", "video"])
def test_the_report_distribution_figure_shows_the_saving(bundled_runs: dict, name: str) -> None:
    """The cost CDFs of the research paper are two near-vertical lines; the report shows the
    makespan's CDF beside the histogram of the per-run saving, whose shares and mean are those of
    the runs (independent: counted here)."""
    from sim.analysis.report.document import distribution_figure

    runs = bundled_runs[name]
    fig = distribution_figure(runs, "durable", "restart")
    left, right = fig.axes[:2]
    assert not _points_outside(left) and not _points_outside(right)
    wide = runs.pivot_table(index="run", columns="strategy", values="total_cost_usd")
    d = (wide["restart"] - wide["durable"]).to_numpy()
    counts = sum(p.get_height() for p in right.patches if p.get_data_transform() == right.transData)
    assert counts == len(d)
    legend = " ".join(t.get_text() for t in right.get_legend().get_texts())
    tol = 1e-9 * np.abs(d).max()
    assert f"durable lower: {np.mean(d > tol):.1%} of runs" in legend
    assert f"restart lower: {np.mean(d < -tol):.1%} of runs" in legend
    # the legends sit under their panels, not over the curves
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    for ax in (left, right):
        assert ax.get_legend().get_window_extent(r).y1 <= ax.get_window_extent(r).y0 + 1
