"""The report's document: conclusions in words, figures, Markdown and HTML, and the files,
all from a ``ReportData`` computed by ``sim.analysis.report.analysis``."""


from __future__ import annotations

import html
import io
import json
import math
import multiprocessing
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim import shutdown, stats
from sim.analysis import plotdata as pdata
from sim.analysis import plots
from sim.analysis.report.analysis import (
    FIGURES,
    PER,
    Intensity,
    ReportData,
    ReportError,
    _dur_interval,
    _interval,
    _pct,
    duration_text,
    usd,
    usd_interval,
)
from sim.analysis.report.changes import changes_blocks, changes_figures
from sim.analysis.saving import advantages, saving_of, saving_points, sign_note
from sim.analysis.spot import pause_table, spot_table, uses_spot
from sim.experiment.io import atomic_write_bytes
from sim.experiment.runner import available_cores
from sim.model.scenario import (
    Scenario,
)
from sim.model.workflow import nominal_span_s

# --------------------------------------------------------------------------- conclusions


def price_assumption(scenario: Scenario) -> str:
    """The prices a verdict rests on, in words: "Temporal Cloud's list prices … (`temporal-cloud-payg`)"."""
    p = scenario.pricing
    orch = p.orchestration_profile.name or "the scenario's own orchestration prices"
    models = p.models_profile.name or "the scenario's own model and GPU prices"
    vol = p.orchestration.monthly_workflows
    volume = f" ({vol:,.0f} workflows a month)" if vol else ""
    return f"orchestration at `{orch}` prices{volume} and model and GPU prices from `{models}`"


def saving_sentence(a: str, b: str, mean_per_1000: float, lo: float, hi: float, confidence: float = 0.95,
                    rel: float | None = None, where: str = "At your current failure rates",
                    prices: str | None = None) -> str:
    """The headline verdict: the sign and interval of the saving of ``a`` over ``b`` (``b − a``,
    per 1,000 runs; ``sim.analysis.saving``) decide the wording; ``prices`` (e.g.
    :func:`price_assumption`) is named in the same sentence, since the verdict rests on them."""
    ci = f"{_interval(lo, hi)} ({confidence:.0%} CI)"
    share = f" ({_pct(abs(rel))} of {b}'s total cost)" if rel is not None and math.isfinite(rel) else ""
    where = f"With {prices}, {where[:1].lower()}{where[1:]}" if prices else where
    w = hi - lo
    if lo > 0:
        return f"{where}, **{a} saves {usd(mean_per_1000, w)} per 1,000 runs** {ci} compared with {b}{share}."
    if hi < 0:
        ci_more = f"{_interval(-hi, -lo)} ({confidence:.0%} CI)"
        return f"{where}, **{a} costs {usd(-mean_per_1000, w)} more per 1,000 runs** than {b} {ci_more}{share}."
    return (f"{where}, there is **no significant difference** in total cost between {a} and {b}: "
            f"the saving of {a} is {usd(mean_per_1000, w)} per 1,000 runs and its {confidence:.0%} CI "
            f"{_interval(lo, hi)} includes 0.")


def verdict(scenario: Scenario, paired: pd.DataFrame, a: str, b: str, confidence: float = 0.95,
            where: str = "At your current failure rates") -> str:
    """The report's headline for any paired table of ``a`` and ``b`` (``stats.paired_differences``,
    either order; metric ``total_cost_usd``): the saving of ``a`` over ``b`` per 1,000 runs with its
    interval, in words, naming the prices of ``scenario`` in the same sentence."""
    sv = saving_of(paired, a, b, "total_cost_usd")
    m, lo, hi = sv.scaled(PER)
    return saving_sentence(a, b, m, lo, hi, confidence, sv.rel, where=where, prices=price_assumption(scenario))


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def pricing_sentence(a: str, b: str, current: int, current_profile: str, alternatives: Sequence,
                     confidence: float = 0.95) -> str | None:
    """Whether the verdict (``current``: +1 ``a`` saves, −1 ``a`` costs more, 0 no significant
    difference) holds when the same runs are priced under each other bundled orchestration profile."""
    same, flips, cannot = [], [], []
    for profile, sv, why in alternatives:
        if profile == current_profile:
            continue
        if sv is None:
            cannot.append(f"`{profile}` {why}")
            continue
        m, lo, hi = sv.scaled(PER)
        if sv.direction == current:
            same.append(f"`{profile}`")
        elif sv.direction > 0:
            flips.append(f"under `{profile}` {a} saves {usd(m, hi - lo)} per 1,000 runs {_interval(lo, hi)}")
        elif sv.direction < 0:
            flips.append(f"under `{profile}` {a} costs {usd(-m, hi - lo)} more per 1,000 runs {_interval(-hi, -lo)}")
        else:
            flips.append(f"under `{profile}` the difference is not significant ({usd(m, hi - lo)} {_interval(lo, hi)})")
    if not (same or flips or cannot):
        return None
    parts = []
    if flips:
        parts.append("**The verdict flips with the orchestration price list**: " + "; ".join(flips)
                     + (f". It holds under {_and(same)}" if same else ""))
    else:
        parts.append(f"The verdict holds under every other bundled orchestration price list ({_and(same)})")
    text = ". ".join(parts) + ". " + ("; ".join(cannot) + ". " if cannot else "")
    return text + "The same runs were repriced from their counts (`sim compare` adds each list's break-even)."


def breakeven_sentence(be: stats.BreakEven, intensity: Intensity, a: str, b: str,
                       grid: Sequence[float]) -> str:
    """Where ``a`` stops (or starts) paying along the swept failure intensity, in rate words."""
    conf = f"{be.confidence:.0%} CI"
    lo_x, hi_x = min(grid), max(grid)
    if be.status == "crossing":
        # region where a is cheaper, in x; then translate to "more/fewer failures"
        a_cheaper_at_larger_x = be.a_lower == "above"
        a_pays_with_more_failures = a_cheaper_at_larger_x == intensity.more_failures_when_larger
        if intensity.path.endswith("probability"):
            ci = f"{conf} {intensity.rate_bound(be.ci_low)} – {intensity.rate_bound(be.ci_high)}"
            at = intensity.rate_text(be.estimate)
        else:  # rates are 1/x: the CI ends swap
            rl, rh = intensity.rate_bound(be.ci_high), intensity.rate_bound(be.ci_low)
            ci = f"{conf} {rl} – {rh} per day"
            at = intensity.rate_text(be.estimate)
        if a_pays_with_more_failures:
            return (f"{a} stops paying below **{at}** ({ci}): with fewer {intensity.noun} than that, "
                    f"{b} is cheaper.")
        return f"{a} is cheaper only below **{at}** ({ci}); with more {intensity.noun}, {b} is cheaper."
    span = f"{intensity.rate_text(lo_x)} to {intensity.rate_text(hi_x)}"
    if be.winner is None:
        return f"{a} and {b} tie at every swept value ({span})."
    pts = be.points
    sig = int(pts["significant"].sum())
    return (f"No break-even in the swept range: {be.winner} has the lower expected cost at every value from "
            f"{span} (significantly at {sig} of {len(pts)} points).")


def conclusions(data: ReportData) -> list[str]:
    """Plain-language findings, each computed from the report's numbers."""
    a, b, it = data.a, data.b, data.intensity
    conf = data.options.confidence
    s = data.saving()
    out = [saving_sentence(a, b, s["mean"] * PER, s["ci_low"] * PER, s["ci_high"] * PER, conf, s["rel"],
                           prices=price_assumption(data.scenario))]
    if data.precision is not None:
        out.append(data.precision.sentence())
    current = 1 if s["ci_low"] > 0 else -1 if s["ci_high"] < 0 else 0
    flip = pricing_sentence(a, b, current, data.scenario.pricing.orchestration_profile.name, data.alternatives, conf)
    if flip:
        out.append(flip)
    if s["ci_low"] <= 0 <= s["ci_high"] and s["mean"] != 0 and math.isfinite(s["se"]) and s["se"] > 0:
        need = stats.replications_needed(s["se"], s["n"], abs(s["mean"]), conf)
        out.append(f"If the true saving were as large as this estimate, about {need:,} replications would be "
                   f"needed for an interval that excludes 0 (this report used {s['n']:,}).")
    be = data.breakeven
    out.append(breakeven_sentence(be, it, a, b, data.grid))
    if be.status != "crossing" and be.winner is not None:
        pts = be.points.sort_values(it.path)
        fewest, most = (pts.iloc[-1], pts.iloc[0]) if not it.more_failures_when_larger else (pts.iloc[0], pts.iloc[-1])
        # the end of the range nearest to where the other strategy would start to win
        end, word, side = (fewest, "lowest", "below") if be.winner == a else (most, "highest", "above")
        v, lo, hi = -end["mean_diff"] * PER, -end["ci_high"] * PER, -end["ci_low"] * PER
        verdict = "" if (lo > 0 or hi < 0) else " (not significant)"
        what = (f"the saving of {a} is {usd(v, hi - lo)} per 1,000 runs {_interval(lo, hi)}" if v >= 0 else
                f"{a} costs {usd(-v, hi - lo)} more per 1,000 runs {_interval(-hi, -lo)}")
        beyond = beyond_range_sentence(data.sweep, it, a, b, conf) if be.winner == a else None
        out.append(f"At the {word} failure intensity swept ({it.rate_text(end[it.path])}) {what}{verdict}"
                   + (f". {beyond}" if beyond else f"; a break-even, if any, lies {side} that."))
    if data.analytic_be is not None:
        where = closed_form_position(be, data.analytic_be, data.grid)
        out.append(f"The closed form ({data.analytic_be_formula}) puts the break-even at "
                   f"{it.rate_text(data.analytic_be)}, {where}."
                   + (" " + closed_form_gap(data) if where == "outside the simulated interval" else ""))
    m = data.saving("makespan_s")
    also = "also " if s["ci_low"] > 0 else ""
    if m["ci_low"] > 0:
        out.append(f"{a} {also}finishes sooner: {duration_text(m['mean'])} less makespan per run on average "
                   f"{_dur_interval(m['ci_low'], m['ci_high'])}.")
    elif m["ci_high"] < 0:
        out.append(f"{a} takes longer: {duration_text(-m['mean'])} more makespan per run on average "
                   f"{_dur_interval(-m['ci_high'], -m['ci_low'])}.")
    else:
        out.append(f"The makespans do not differ significantly ({a} − {b}: "
                   f"{_dur_interval(-m['ci_high'], -m['ci_low'])}).")
    sens = data.sensitivity
    if len(sens):
        base = data.setting_saving()["mean"] * PER
        tab = pdata.tornado_table(base, sens)
        top = tab.iloc[0]
        out.append(f"The saving is most sensitive to the **{top['input']}** "
                   f"({top['low_setting']} → {top['high_setting']}: {usd(top['low'])} to {usd(top['high'])} "
                   f"per 1,000 runs)" + (f", then the {tab.iloc[1]['input']}" if len(tab) > 1 else "") + ".")
        st = data.setting_saving()  # the settings are compared on the same replications as this baseline
        sign = 1 if st["ci_low"] > 0 else -1 if st["ci_high"] < 0 else 0
        flips = []
        for _, r in sens.iterrows():
            rs = 1 if r["ci_low"] > 0 else -1 if r["ci_high"] < 0 else 0
            if rs != sign:
                flips.append(f"{r['input']} at {r['setting']}")
        factor = data.options.sensitivity_factor
        if sign != 0 and not flips:
            out.append(f"The direction holds under every one-at-a-time change (each input ×{1 / factor:g} "
                       f"and ×{factor:g}): {a if sign > 0 else b} stays significantly cheaper.")
        elif sign != 0:
            out.append(f"The direction changes or becomes insignificant with: {'; '.join(flips)}.")
    for label in (a, b):
        frac = float(data.runs.loc[data.runs["strategy"] == label, "completed"].mean())
        if frac < 1:
            out.append(f"Only {frac:.2%} of {label}'s runs completed (retry limits or the time limit); "
                       "abandoned runs are included in the costs.")
    return out


def closed_form_position(be: stats.BreakEven, closed: float, grid: Sequence[float]) -> str:
    """Where a closed-form break-even lies against the simulated one, in words that are true when
    an end of the simulated interval is infinite (resamples that cross beyond the swept range):
    "inside" is then only "not contradicted", since half the line is inside."""
    in_range = min(grid) <= closed <= max(grid)
    if be.status != "crossing":
        return ("inside the swept range, where the simulation finds no crossing" if in_range
                else "outside the swept range, where the simulation finds no crossing either")
    if not (be.ci_low <= closed <= be.ci_high):
        return "outside the simulated interval" if in_range else "outside the swept range"
    if math.isfinite(be.ci_low) and math.isfinite(be.ci_high):
        return "inside the simulated interval"
    side = "below" if not math.isfinite(be.ci_low) else "above"
    return (f"which the simulation does not contradict, but cannot confirm either: its interval is open {side} "
            f"(some resamples cross {side} the swept range), so more replications or a wider sweep would settle it")


def breakeven_text(be: stats.BreakEven, fmt: Any = None) -> str:
    """A break-even in one line, an infinite interval end in words ("below the swept range"):
    ``fmt`` formats a value of the swept parameter (default: 4 significant digits)."""
    fmt = fmt or (lambda v: f"{v:.4g}")
    if be.status != "crossing":
        return (f"no break-even of {be.metric} along {be.x} in the swept range: "
                + (f"{be.winner} is lower at every point" if be.winner else f"{be.a} and {be.b} tie"))

    def end(v: float) -> str:
        if v == -math.inf:
            return "below the swept range"
        if v == math.inf:
            return "above the swept range"
        return fmt(v)
    below, above = (be.a, be.b) if be.a_lower == "below" else (be.b, be.a)
    return (f"break-even {be.x} ≈ {fmt(be.estimate)} ({be.confidence:.0%} CI {end(be.ci_low)} to "
            f"{end(be.ci_high)}); {below} has the lower {be.metric} below it, {above} above it")


def failure_rate(it: Intensity, x: float) -> float:
    """The failure rate a sweep value stands for, 0 meaning no failures of that source: the
    probability itself, or failures per day for an interval (MTBF, Weibull scale, every)."""
    return float(x) if it.more_failures_when_larger else it.per_day(float(x))


def beyond_range_sentence(sweep: pd.DataFrame, it: Intensity, a: str, b: str, confidence: float = 0.95,
                          metric: str = "total_cost_usd") -> str | None:
    """Where ``a`` is cheaper at every swept value: what lies toward fewer failures than the
    range holds, from the two sweep points with the fewest failures, extrapolated linearly in the
    failure rate to no failures of that source at all (per replication, the same replications at
    every point, with a t interval). The sentence says which of three cases the interval shows:
    the saving stays positive (no break-even on that trend: it levels off, carried by the other
    failure sources or by what ``a`` saves without failures), turns negative (a break-even below
    the range), or cannot tell. None when the sweep has fewer than two points or replications."""
    if sweep is None or it.path not in sweep.columns:
        return None
    xs = np.sort(sweep[it.path].unique())
    rates = np.array([failure_rate(it, x) for x in xs])
    if len(xs) < 2 or not np.all(np.isfinite(rates)):
        return None
    order = np.argsort(rates)
    (x1, r1), (x2, r2) = (xs[order[0]], rates[order[0]]), (xs[order[1]], rates[order[1]])
    if not r2 > r1 > 0:
        return None

    def saving_per_run(x: float) -> pd.Series:
        part = sweep[sweep[it.path] == x]
        wide = part.pivot_table(index="run", columns="strategy", values=metric, aggfunc="first")
        return (wide[b] - wide[a]) * PER

    s1, s2 = saving_per_run(x1), saving_per_run(x2)
    s1, s2 = s1.align(s2, join="inner")
    n = len(s1)
    if n < 2:
        return None
    s0 = s1 - (s2 - s1) * r1 / (r2 - r1)  # the line through both points, at rate 0
    mean, se = float(s0.mean()), float(s0.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t_half_width(np.array([se]), np.array([n]), confidence)[0])
    lo, hi = mean - half, mean + half
    w = hi - lo
    head = (f"Extrapolated linearly in the rate from the two sweep values with the fewest {it.noun}, the saving "
            f"with no {it.noun} at all would be {usd(mean, w)} per 1,000 runs {_interval(lo, hi)}")
    if lo > 0:
        return (f"{head}: the saving stays above 0 as {it.noun} become rare (the other failure sources, or what "
                f"{a} saves without failures, carry it), so this trend shows no break-even below the swept range.")
    if hi < 0:
        return f"{head}: on this trend the saving reaches 0, so a break-even lies below the swept range."
    return f"{head}, which includes 0: whether a break-even lies below the swept range stays open."


def closed_form_gap(data: ReportData) -> str:
    """Why the closed form and the simulated break-even can differ: the assumptions each makes,
    and for 429 sweeps the failures these replications actually drew where the two disagree."""
    it, a = data.intensity, data.a
    text = ("The two differ in what they assume: the closed form takes the expected number of failures, mean "
            "step durations and (where marked approximate) the orchestration bill of a failure-free run; the "
            "simulation counts the failures its replications drew, with common random numbers, so every sweep "
            "point shares the same draws and a sampling deficit or excess shifts the whole simulated curve.")
    sw = data.sweep
    if it.path.endswith("probability") and "rate_limited" in sw.columns and data.analytic_be is not None:
        xs = np.sort(sw[it.path].unique())
        x = float(xs[np.argmin(np.abs(np.log(xs) - math.log(data.analytic_be)))])
        rows = sw[(sw[it.path] == x) & (sw["strategy"] == a)]
        k = max(1, sum(data.scenario.rate_limited_steps()))
        n = len(rows)
        seen = float(rows["rate_limited"].sum())
        expected = n * k * x / (1 - x)
        z = (seen - expected) / math.sqrt(expected) if expected > 0 else math.nan
        text += (f" Here, at the swept {_pct(x)}, {a}'s {n:,} runs drew {seen:,.0f} rate-limited calls where "
                 f"{expected:,.0f} are expected ({z:+.1f} standard deviations)")
        text += (": the gap is sampling, which more replications (`--runs`) or another `--seed` settle." if abs(z) >= 1.5
                 else "; the gap is within sampling error of the failure count, so it comes from the assumptions above.")
    else:
        text += " More replications (`--runs`) narrow the simulated interval and settle which one it is."
    return text


# --------------------------------------------------------------------------- figures


def _mark_current(fig: Figure, intensity: Intensity, x_values: Sequence[float]) -> None:
    """A dotted vertical line at the scenario's current value on every panel of a sweep figure."""
    _, unit = pdata.param_axis(intensity.path, x_values)
    x = float(unit.scale(intensity.current))
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.has_data()]
    for k, ax in enumerate(axes):
        ax.axvline(x, color="#555555", linestyle=(0, (1, 2)), linewidth=1.5, zorder=1.5)
        if k == 0:
            ax.annotate(f"current\n{intensity.short(intensity.current)}", xy=(x, 1.0),
                        xycoords=("data", "axes fraction"), xytext=(4, -4), textcoords="offset points",
                        ha="left", va="top", fontsize=9.5, color="#333333")


def _tail_scale(fig: Figure, runs: pd.DataFrame, metrics: Sequence[str]) -> bool:
    """Logit y axis on CDF panels when most runs share one value (no failure: the same makespan
    and cost), which would squeeze the whole tail into the top few percent of a linear axis.
    Returns whether it was applied."""
    atoms = []
    for m in metrics:
        for _, v in runs.groupby("strategy")[m]:
            vals = v.to_numpy(dtype=float)
            atoms.append(float(np.mean(np.isclose(vals, vals.min(), rtol=1e-9, atol=0))))
    if not atoms or min(atoms) < 0.5:
        return False
    n = int(runs.groupby("strategy").size().min())
    top = 1 - 0.5 / n
    ticks = [t for t in (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999) if t < top]
    for ax in fig.axes[: len(metrics)]:
        ax.set_yscale("logit", nonpositive="clip")
        ax.set_ylim(0.2, top)
        ax.yaxis.set_major_locator(mpl.ticker.FixedLocator(ticks))
        ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _p: f"{100 * v:g}%"))
        ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())
        ax.set_ylabel("share of runs ≤ x (logit scale)")
    return True


def _extended(data: ReportData) -> bool:
    return int(data.runs["run"].nunique()) > data.options.runs


def _setting_baseline(data: ReportData) -> str:
    """The saving at the current settings on the replications every setting uses, and, where the
    headline rests on more, that it does (their intervals differ: different replications)."""
    st = data.setting_saving()
    text = f"{usd_interval(st['mean'] * PER, st['ci_low'] * PER, st['ci_high'] * PER)} on these {st['n']:,} replications"
    if _extended(data):
        h = data.saving()
        text += (f"; the headline's {h['n']:,} replications give "
                 f"{usd_interval(h['mean'] * PER, h['ci_low'] * PER, h['ci_high'] * PER)}")
    return text


def distribution_figure(runs: pd.DataFrame, a: str, b: str) -> Figure:
    """The makespan's distribution per strategy (empirical CDF) beside the histogram of the
    per-run saving of total cost of ``a`` over ``b``: where the two strategies' cost CDFs would
    be two near-vertical lines (most runs without a failure), the saving's histogram shows the
    small overhead on most runs against the large saving on the few with failures."""
    with plots.use_report_style():
        fig = Figure(figsize=(14, 6.6))
        left, right = fig.subplots(1, 2)
        fig.suptitle("Distribution over runs")
    plots.plot_distributions(runs, metrics=("makespan_s",), ax=left, legend_below=True)
    plots.plot_saving_distribution(runs, a, b, ax=right)
    return fig


def _sweep_figure(data: ReportData, name: str) -> Figure:
    it = data.intensity
    if name == "waste":
        fig = plots.plot_waste_vs_failure_rate(data.sweep, it.path, metric="wasted_compute_s", analytic=data.analytic_curve)
    else:
        fig = plots.plot_breakeven(data.sweep, it.path, metric="total_cost_usd", breakeven=data.breakeven,
                                   level=data.options.confidence)
    _mark_current(fig, it, data.grid)
    return fig


def _distributions(data: ReportData) -> Figure:
    fig = distribution_figure(data.runs, data.a, data.b)
    _tail_scale(fig, data.runs, ("makespan_s",))
    return fig


def _sensitivity(data: ReportData) -> Figure:
    a, b, factor = data.a, data.b, data.options.sensitivity_factor
    tab = pdata.tornado_table(data.setting_saving()["mean"] * PER, data.sensitivity)
    return plots.plot_sensitivity(
        tab, value_label=f"saving of {a} over {b} ($ per 1,000 runs; > 0: {a} cheaper)",
        title=f"Sensitivity: each input ×{1 / factor:g} and ×{factor:g}, one at a time",
        level=data.options.confidence)


_BUILDERS = {
    "waste": lambda data: _sweep_figure(data, "waste"),
    "breakeven": lambda data: _sweep_figure(data, "breakeven"),
    "distributions": _distributions,
    "cost_breakdown": lambda data: plots.plot_cost_breakdown(data.runs, level=data.options.confidence),
    "timeline": lambda data: plots.plot_timeline(data.events),
    "sensitivity": _sensitivity,
}


def build_figures(data: ReportData, names: Sequence[str] = FIGURES) -> dict[str, Figure]:
    """The report figures ``names`` (all six by default; matplotlib Figures, not yet saved)."""
    return {name: _BUILDERS[name](data) for name in names}


#: The figures drawn by a second process while this one draws the others (about half the drawing
#: time each: the distributions are the slowest figure, the cost breakdown the quickest).
_FORKED_FIGURES = ("distributions", "breakeven", "timeline")
_SHARED: ReportData | None = None  # (the report's data, seen by the forked process)


def _rendered(names: Sequence[str], formats: Sequence[str], data: ReportData | None = None) -> dict[str, bytes]:
    figs = build_figures(_SHARED if data is None else data, names)
    return {f"figures/{name}.{fmt}": figure_bytes(figs[name], fmt) for name in names for fmt in formats}


def render_figures(data: ReportData, formats: Sequence[str], workers: int | None = None) -> dict[str, bytes]:
    """The six report figures in each of ``formats`` (path → bytes, in ``FIGURES`` order). With
    two or more cores (``workers``: None = every core) and ``fork``, a second process draws
    ``_FORKED_FIGURES`` meanwhile: matplotlib draws in one thread, a dozen renders take seconds.
    The bytes are the same either way."""
    global _SHARED
    workers = available_cores() if workers is None else workers
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return _rendered(FIGURES, formats, data)
    _SHARED = data
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
            with shutdown.sigint_blocked():  # (the forked process never sees the terminal's Ctrl-C)
                forked = pool.submit(_rendered, _FORKED_FIGURES, formats)
            files = _rendered([n for n in FIGURES if n not in _FORKED_FIGURES], formats, data)
            files.update(forked.result())
    finally:
        _SHARED = None
    return {f"figures/{name}.{fmt}": files[f"figures/{name}.{fmt}"] for name in FIGURES for fmt in formats}


def figure_bytes(fig: Figure, fmt: str, dpi: int = 200) -> bytes:
    """The figure as PNG/SVG bytes (the settings of ``sim.analysis.plots.save_figure``; SVG without a date
    and with a fixed id salt, so an unchanged figure gives identical bytes)."""
    buf = io.BytesIO()
    with mpl.rc_context({"svg.hashsalt": "sim-report"}):
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", facecolor="white",
                    metadata={"Date": None} if fmt == "svg" else {"Software": None})
    return buf.getvalue()


# --------------------------------------------------------------------------- document


Block = tuple  # ("h", level, text) | ("p", text) | ("ul", items) | ("table", header, rows) | ("img", src, alt, caption)


def _cell(metric: str, mean: float, lo: float, hi: float) -> str:
    """"mean [lo, hi]" in the metric's unit: dollars, a time unit shared by the three numbers, a count."""
    if metric.endswith("_usd"):
        return usd_interval(mean, lo, hi)
    if metric.endswith("_s"):
        unit = pdata.time_unit(max(abs(mean), abs(lo), abs(hi)))
        f = unit.factor
        return _fixed(mean / f, lo / f, hi / f) + f" {unit.label}"
    return _fixed(mean, lo, hi)


def _fixed(mean: float, lo: float, hi: float) -> str:
    """"3.132 [3.084, 3.180]": one number of decimals for the three, enough for 3 significant
    digits of the largest and 2 of the interval's width (a constant: 3 significant digits)."""
    top = max(abs(mean), abs(lo), abs(hi))
    if top == 0 or not math.isfinite(top):
        return f"{mean + 0.0:.3g} [{lo + 0.0:.3g}, {hi + 0.0:.3g}]"
    decimals = 2 - math.floor(math.log10(top))
    width = hi - lo
    if math.isfinite(width) and width > 1e-9 * top:
        decimals = max(decimals, 1 - math.floor(math.log10(width)))
    decimals = max(0, decimals)
    return f"{mean + 0.0:.{decimals}f} [{lo + 0.0:.{decimals}f}, {hi + 0.0:.{decimals}f}]"


def _table_rows(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """The summary table: metrics × (strategies, paired difference a − b)."""
    labels = pdata.strategy_order(data.scenario.strategies)
    a, b = data.a, data.b
    sm = data.summary.set_index(["strategy", "metric"])
    header = ["per run", *labels, f"saving of {a} ({b} − {a}, paired)"]
    rows = []
    spec = [("total_cost_usd", "total cost"), ("compute_cost_usd", "compute cost"),
            ("wasted_cost_usd", "wasted compute cost"), ("orchestration_cost_usd", "orchestration cost"),
            ("makespan_s", "makespan"), ("wasted_compute_s", "wasted compute time"), ("attempts", "step attempts"),
            ("crashes", "crashes"), ("deploy_kills", "deployment kills"), ("rate_limited", "429 responses"),
            ("pipeline_restarts", "pipeline restarts")]
    for metric, name in spec:
        means = [float(sm.loc[(s, metric), "mean"]) for s in labels]
        if metric in ("crashes", "deploy_kills", "rate_limited", "pipeline_restarts") and not any(means):
            continue
        cells = [_cell(metric, *(float(sm.loc[(s, metric), k]) for k in ("mean", "ci_low", "ci_high")))
                 for s in labels]
        sv = saving_of(data.paired.assign(a=a, b=b), a, b, metric)
        rel_txt = f" ({sv.rel:+.1%})" if math.isfinite(sv.rel) and metric.endswith(("_usd", "_s")) else ""
        cells.append(_cell(metric, sv.mean, sv.ci_low, sv.ci_high) + rel_txt)
        rows.append([name, *cells])
    for q in ("p50", "p95", "p99"):
        rows.append([f"makespan {q}", *[duration_text(float(sm.loc[(s, "makespan_s"), q])) for s in labels], ""])
    done = [float(data.runs.loc[data.runs["strategy"] == s, "completed"].mean()) for s in labels]
    rows.append(["completed", *[f"{d:.2%}" for d in done], ""])
    return header, rows


def _scenario_blocks(sc: Scenario, a: str, b: str) -> list[Block]:
    rows = []
    for i, s in enumerate(sc.steps):
        dur = (f"mean {duration_text(s.duration.mean())} (random)" if s.duration.is_random
               else duration_text(s.duration.mean()))
        if s.kind == "gpu":
            price = f"{usd(sc.step_price_per_s(s) * 3600)}/h ({s.gpu or 'price_per_hour'})"
        elif s.kind == "wait":
            price = f"no compute ({s.wait})"
        else:
            price = f"{usd(sc.step_attempt_cost_usd(s))} per call ({s.model})"
        kind = s.kind
        if sc.is_graph:  # a workflow graph: say how the step fans out and what it waits for
            count = s.count.label if s.count.is_random else str(s.count.fixed)
            kind += (f" ×{count}" if count != "1" else "") + (f", {s.max_concurrency} at a time" if s.max_concurrency else "")
            kind += f" (after {', '.join(sc.steps[p].name for p in sc.predecessors()[i])})" if sc.predecessors()[i] else ""
        rows.append([s.name, kind, dur, price])
    f = sc.failures
    items = []
    if f.crash is not None:
        c = f.crash
        life = (f"exponential, MTBF {duration_text(c.mtbf_s)}" if c.distribution == "exponential"
                else f"Weibull shape {c.shape:g}, scale {duration_text(c.scale_s)}")
        items.append(f"worker crashes: {life}; detected after {duration_text(c.detection_delay_s)}, "
                     f"restart {duration_text(c.restart_time_s)}")
    if f.deploy is not None:
        d = f.deploy
        when = (f"{d.mode}, every {duration_text(d.every_s)}" if d.every_s else f"scheduled at {len(d.at_s)} instants")
        items.append(f"deployments: {when}; drain {duration_text(d.drain_s)}, restart {duration_text(d.restart_time_s)}")
    if f.rate_limit is not None:
        rl = f.rate_limit
        on = ", ".join(rl.steps) if rl.steps is not None else "every llm step"
        items.append(f"HTTP 429: probability {_pct(rl.probability)} per call on {on}")
    if not items:
        items.append("no failure sources")
    strat = [f"`{k}` ({c.kind})" for k, c in sc.strategies.items()]
    return [
        ("h", 2, "The scenario"),
        ("p", (f"{len(sc.steps)} steps, {duration_text(sum(s.duration.mean() for s in sc.steps))} of work and "
               if not sc.is_graph else f"a workflow graph of {len(sc.steps)} steps, about "
               f"{duration_text(nominal_span_s(sc))} from start to end at mean durations (critical path), and ")
              +
              f"{usd(sc.useful_cost_usd())} of compute per failure-free run; prices: "
              f"{sc.pricing.describe()}. Strategies: {', '.join(strat)}; the comparison is `{a}` against `{b}`."),
        ("table", ["step", "kind", "duration", "price"], rows),
        ("ul", items),
    ]


def document_blocks(data: ReportData, command: str) -> list[Block]:
    """The report as a list of blocks, rendered to Markdown and to HTML."""
    sc, a, b, it, o = data.scenario, data.a, data.b, data.intensity, data.options
    conf = f"{o.confidence:.0%}"
    be = data.breakeven
    blocks: list[Block] = [("h", 1, f"Design review: {sc.name}")]
    if sc.description:
        blocks.append(("p", f"*{sc.description}*"))
    engines = ",".join(sorted(data.runs["engine"].unique()))
    n_base = int(data.runs["run"].nunique())
    base_note = (f" ({n_base:,} at the current settings, for the headline's precision target)"
                 if n_base != o.runs else "")
    blocks.append(("p", f"{o.runs:,} replications per setting{base_note}, root seed {o.seed}, engine {engines}"
                        f"{', quick mode' if o.quick else ''}; generated with `{command}`."))
    blocks.append(("p", f"**Prices:** {sc.pricing.describe()} (sources and dates: docs/costs.md). "
                        f"**Sign convention:** {sign_note(a, b)}; every saving in this report, its tables and "
                        "figures follows it" + (" (the optimiser's table in \"What we would change\" gives the "
                        "saving of each candidate against a reference, reference − candidate, as its column heads "
                        "say)" if data.changes is not None else "") + "."))
    blocks += [("h", 2, "Conclusion"), ("ul", conclusions(data))]
    blocks += _scenario_blocks(sc, a, b)

    header, rows = _table_rows(data)
    blocks += [
        ("h", 2, "Results at the current settings"),
        ("p", f"Means per run with {conf} Student-t intervals over {n_base:,} replications; the last column is the "
              f"paired saving of {a}, {b} − {a} (positive: {a} lower; both strategies face the same failures in each "
              f"replication, so the shared noise cancels) and, in brackets, relative to {b}."),
        ("table", header, rows),
        ("img", "figures/cost_breakdown.png", "Cost breakdown",
         f"Where the money goes: useful compute, wasted compute and orchestration, mean per run "
         f"(or per 1,000 runs), with the {conf} interval of the total."),
        ("img", "figures/distributions.png", "Distributions of makespan and of the saving",
         f"Left: distribution over runs (empirical CDF) of the makespan, p50/p95/p99 marked. Right: the "
         f"paired saving of total cost per run, {b} − {a}, as a histogram (counts on a log scale), with 0 and "
         f"the mean saving marked and the shares of runs where each strategy is cheaper."),
        ("img", "figures/timeline.png", "Timeline of one replication",
         "One representative replication (the median number of failed attempts among runs with failures): "
         "every attempt of every step, wasted work hatched, failures marked."),
    ]

    blocks += spot_blocks(data)
    blocks += pause_blocks(data)
    blocks += _pricing_blocks(data)

    grid_txt = f"{it.short(min(data.grid))} to {it.short(max(data.grid))}"
    be_rows = []
    for _, r in be.points.sort_values(it.path).iterrows():
        v, lo, hi = -r["mean_diff"] * PER, -r["ci_high"] * PER, -r["ci_low"] * PER
        be_rows.append([it.short(r[it.path]),
                        f"{it.per_day(r[it.path]):.3g}" if not it.more_failures_when_larger else _pct(r[it.path]),
                        usd_interval(v, lo, hi), r["lower"] + ("" if r["significant"] else " (n.s.)")])
    rate_head = f"{it.noun} per day" if not it.more_failures_when_larger else "429 probability"
    if be.status == "crossing":
        be_txt = (f"Break-even {it.path} ≈ **{it.short(be.estimate)}** ({conf} bootstrap CI "
                  f"{it.short(be.ci_low)} – {it.short(be.ci_high)}, {be.n_boot:,} resamples of whole replications, "
                  f"interpolated in {be.scale} x).")
        if data.refined_grid is not None:
            be_txt += (f" Refined on {len(data.refined_grid)} points from {it.short(data.refined_grid[0])} to "
                       f"{it.short(data.refined_grid[-1])}; the coarse grid gave {it.short(data.coarse_breakeven.estimate)}.")
    else:
        winner = be.winner or "neither strategy"
        share = 1 - be.fraction_no_crossing
        be_txt = (f"No break-even in the swept range: {winner} has the lower mean total cost at every swept point, "
                  f"and {share:.1%} of the {be.n_boot:,} bootstrap resamples show a sign change.")
    blocks += [
        ("h", 2, "Failure rate sweep and break-even"),
        ("p", f"Swept: `{it.path}` ({pdata.param_axis(it.path, data.grid)[0]}), {reason_text(data)}, on "
              f"{len(data.grid)} log-spaced values from {grid_txt} (current: {it.short(it.current)}), "
              f"{o.runs:,} replications each, every other input as in the scenario"
              + (f" (at the current value: {_setting_baseline(data)})" if _extended(data) else "") + "."),
        ("img", "figures/breakeven.png", "Break-even chart",
         f"Expected total cost per run of each strategy (top) and the paired saving of {a}, {b} − {a} (bottom) "
         f"against {pdata.param_axis(it.path, data.grid)[0]}; the break-even and its interval are marked where "
         "the difference crosses zero."),
        ("p", be_txt),
        ("table", [it.path.rsplit(".", 1)[-1], rate_head, f"saving of {a} per 1,000 runs [{conf} CI]", "cheaper"],
         be_rows),
        ("img", "figures/waste.png", "Wasted compute vs failure rate",
         "Mean wasted compute per run (killed attempts, and for restart every step of a lost pipeline attempt)"
         + (" with the closed form of sim.analysis.analytic dashed." if data.analytic_curve is not None else
            "; no closed form applies to this scenario (it needs a single failure source of the analysed kind).")),
    ]

    sens = data.sensitivity
    if len(sens):
        tab = pdata.tornado_table(data.setting_saving()["mean"] * PER, sens)
        s_rows = []
        for _, r in tab.iterrows():
            s_rows.append([r["input"], f"{r['low_setting']} → {r['high_setting']}",
                           usd_interval(r["low"], r["low_ci_low"], r["low_ci_high"]),
                           usd_interval(r["high"], r["high_ci_low"], r["high_ci_high"]),
                           usd(r["swing"])])
        blocks += [
            ("h", 2, "Sensitivity"),
            ("p", f"Each input set to ×{1 / o.sensitivity_factor:g} (low) and ×{o.sensitivity_factor:g} (high) of its "
                  f"value, one at a time; the output is the paired saving of {a} over {b} in $ per 1,000 runs "
                  f"(baseline {_setting_baseline(data)}), with {conf} intervals. Failure rates are varied "
                  "as rates (low = fewer failures); inputs at zero are left out."),
            ("img", "figures/sensitivity.png", "Tornado chart", "Inputs ranked by swing (largest on top)."),
            ("table", ["input", "low → high", "saving at low", "saving at high", "swing"], s_rows),
        ]
    blocks += changes_blocks(data.changes)
    blocks += [
        ("h", 2, "Method"),
        ("ul", [
            "Common random numbers: every random draw is a function of (seed, replication, source, index), so "
            "both strategies face the same crashes, deployments and 429s in each replication, and replication r "
            "is the same at every sweep point and sensitivity setting. Differences are paired per replication.",
            f"Intervals: Student t on the replication means ({conf}); the break-even interval is a percentile "
            "bootstrap over whole replications (the same resample at every sweep point).",
            "Costs follow docs/model.md and docs/costs.md: GPU time of every attempt (finished or killed), tokens of "
            "completed calls (killed calls pro rata), and the orchestrator's bill as its price list defines it "
            "(Temporal: billable actions, with a plan's allowance, volume tiers and minimum, and storage; Azure: "
            "executions including orchestrator replays, and GB-seconds; Google: workflow steps; Step Functions: state "
            "transitions, or requests and GB-seconds; self-hosted: a fixed monthly cost amortised over the monthly "
            "volume).",
            ("Files: `figures/*.png` (and the same figures as `.svg` for slides, unless `--no-svg`); `data/*.csv` "
             "and `data/report.json` hold every number shown. report.html is self-contained (figures embedded)."),
        ]),
    ]
    return blocks


def spot_blocks(data: ReportData) -> list[Block]:
    """Section "Spot or on-demand?": each strategy on spot against the on-demand reference."""
    sc = data.scenario
    if not uses_spot(sc):
        return []
    table = spot_table(sc, data.runs)
    if table.empty:
        return [("h", 2, "Spot or on-demand?"),
                ("p", "Every strategy runs some step on spot capacity: add one on demand (`capacity = \"on_demand\"`) "
                      "to compare with (docs/spot.md).")]
    conf = f"{data.options.confidence:.0%}"
    ref = str(table["reference"].iloc[0])
    rows = []
    for r in table.itertuples():
        missed = "–" if math.isnan(r.deadline_missed) else (
            f"{r.deadline_missed:.3%} [{r.deadline_missed_low:.3%}, {r.deadline_missed_high:.3%}]")
        rows.append([r.strategy, usd_interval(r.cost_saving_usd, r.cost_saving_low_usd, r.cost_saving_high_usd)
                     + f" ({r.cost_saving_share:+.1%})",
                     f"{r.delay_s + 0.0:.3g} s [{r.delay_low_s + 0.0:.3g}, {r.delay_high_s + 0.0:.3g}]", missed,
                     f"{r.wasted_compute_s:.3g} s", f"{r.preemptions:.3g}", f"{r.on_demand_share:.1%}"])
    deadline = sc.simulation.deadline_s
    ref_missed = float(table["reference_deadline_missed"].iloc[0])
    return [
        ("h", 2, "Spot or on-demand?"),
        ("p", f"Each strategy that runs steps on spot capacity against `{ref}` (every step on demand), on the same "
              f"failures and preemptions in each replication: the paired cost saving per run ({ref} − strategy) and "
              f"delay (how much later a run finishes), with {conf} intervals; the share of runs that miss the "
              + (f"{deadline / 60:g}-minute deadline ({ref}: {ref_missed:.3%})" if deadline else "deadline (none set)")
              + "; wasted compute, preemptions and the share of runs moved to on-demand. Model: docs/spot.md."),
        ("table", ["strategy", "cost saving per run", "delay", "deadline missed", "wasted compute", "preemptions",
                   "moved to on-demand"], rows),
        ("img", "figures/spot.png", "Spot or on-demand?",
         f"Cost saving per run against delay, each strategy on spot against {ref}, with {conf} intervals: up and "
         "to the left is better."),
    ]


def pause_blocks(data: ReportData) -> list[Block]:
    """Section "Waiting for the cheaper hours": each strategy that pauses against the same kind run at once."""
    table = pause_table(data.scenario, data.runs)
    if table.empty:
        return []
    conf = f"{data.options.confidence:.0%}"
    rows = [[r.strategy, r.reference,
             usd_interval(r.cost_saving_usd, r.cost_saving_low_usd, r.cost_saving_high_usd)
             + f" ({r.cost_saving_share:+.1%})",
             f"{r.delay_s / 3600 + 0.0:.3g} h [{r.delay_low_s / 3600 + 0.0:.3g}, {r.delay_high_s / 3600 + 0.0:.3g}]",
             f"{r.wasted_compute_s:.3g} s vs {r.reference_wasted_compute_s:.3g} s"] for r in table.itertuples()]
    return [
        ("h", 2, "Waiting for the cheaper hours"),
        ("p", f"Each strategy that pauses steps until their prices' cheapest hours (`pause_for_off_peak`) against the "
              f"same kind of strategy run at once, on the same failures: the paired cost saving per run and how much "
              f"later a run finishes, with {conf} intervals. A durable workflow waits on a timer; a restart-style "
              "pipeline holds its progress in memory, where a crash or a deployment can take it. Model: docs/spot.md."),
        ("table", ["strategy", "against", "cost saving per run", "delay", "wasted compute"], rows),
    ]


def _pricing_blocks(data: ReportData) -> list[Block]:
    """The same runs under each bundled orchestration price list (no new simulation)."""
    if not data.alternatives:
        return []
    a, b = data.a, data.b
    current = data.scenario.pricing.orchestration_profile.name
    rows = []
    for profile, sv, why in data.alternatives:
        name = f"`{profile}`" + (" (this report)" if profile == current else "")
        if sv is None:
            rows.append([name, "n/a", why])
            continue
        m, lo, hi = sv.scaled(PER)
        verdict = {1: f"{a} saves", -1: f"{a} costs more", 0: "no significant difference"}[sv.direction]
        rows.append([name, usd_interval(m, lo, hi), verdict])
    return [
        ("h", 2, "Under other orchestration price lists"),
        ("p", f"The baseline runs above, priced under each bundled orchestration profile (costs recomputed from each "
              f"run's counts of actions, transitions, history events and time open; model and GPU prices unchanged). "
              f"Saving of {a} = {b} − {a}, per 1,000 runs, {data.options.confidence:.0%} CI. Sources and dates of "
              "every list: docs/costs.md; break-evens under each: `python -m sim compare SCENARIO`."),
        ("table", ["orchestration profile", f"saving of {a} per 1,000 runs", "verdict"], rows),
        *_monthly_blocks(data),
    ]


def _monthly_blocks(data: ReportData) -> list[Block]:
    """The month's bill under each profile and plan at a few volumes, what decides it, the volume
    below which a plan's minimum decides it and how the verdict changes with volume."""
    from sim.analysis.monthly import volume_text
    from sim.analysis.report.volumes import decider_text, monthly_notes, usd0

    if not data.monthly:
        return []
    a = data.a
    volumes = list(dict.fromkeys(m.workflows for m in data.monthly))
    profiles = list(dict.fromkeys(m.profile for m in data.monthly))
    rows = []
    for profile in profiles:
        cells = [f"`{profile}`"]
        for w in volumes:
            m = next(x for x in data.monthly if x.profile == profile and x.workflows == w)
            cells.append("n/a" if m.saving is None else f"{usd0(m.bill_usd[0])} ({decider_text(m)})")
        rows.append(cells)
    notes = monthly_notes(data.monthly, data.minimum_below, a, data.b)
    return [
        ("p", f"The month's orchestration bill of {a} under each profile at {len(volumes)} monthly volumes: the mean "
              f"bill of those runs × the volume, with each plan's monthly minimum, included allowances, free grants "
              f"and volume tiers, and in brackets what decides it (docs/costs.md; `python -m sim compare SCENARIO "
              f"--monthly-workflows N1,N2` for intervals and the saving at each volume)."),
        ("table", ["orchestration profile", *[f"{volume_text(w)} a month" for w in volumes]], rows),
        *([("ul", notes)] if notes else []),
    ]


def reason_text(data: ReportData) -> str:
    return data.intensity_reason


_INLINE = re.compile(r"(\*\*[^*]+\*\*|`[^`]+`|\*[^*]+\*)")


def _md_inline(text: str, cell: bool = False) -> str:
    parts = _INLINE.split(text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(part)
        else:
            esc = part.replace("$", "\\$")
            out.append(esc.replace("|", "\\|") if cell else esc)
    return "".join(out)


def render_markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h":
            lines += ["#" * blk[1] + " " + _md_inline(blk[2]), ""]
        elif kind == "p":
            lines += [_md_inline(blk[1]), ""]
        elif kind == "ul":
            lines += [f"- {_md_inline(item)}" for item in blk[1]] + [""]
        elif kind == "table":
            header, rows = blk[1], blk[2]
            lines.append("| " + " | ".join(_md_inline(h, True) for h in header) + " |")
            lines.append("|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|")
            lines += ["| " + " | ".join(_md_inline(str(c), True) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img":
            lines += [f"![{blk[2]}]({blk[1]})", "", f"*{_md_inline(blk[3])}*", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;line-height:1.5;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-style:italic;color:#444}code{background:#f5f5f5;padding:0 .2em}"""


def render_html(markdown_text: str, title: str, images: dict[str, bytes] | None = None) -> str:
    """A self-contained HTML page from the report's Markdown, rendered by markdown-it-py
    (CommonMark with tables); each image whose path is in ``images`` is embedded as a data URI."""
    import base64

    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = md.render(markdown_text)
    for path, data in (images or {}).items():
        mime = "image/svg+xml" if path.endswith(".svg") else "image/png"
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        body = body.replace(f'src="{html.escape(path)}"', f'src="{uri}"')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + body + "</body>\n</html>\n")


# --------------------------------------------------------------------------- files


def _json_default(v: Any) -> Any:
    if isinstance(v, np.integer | np.floating):
        return v.item()
    return str(v)


def _finite(v: float) -> float | str:
    return float(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")


def report_files(data: ReportData, command: str, formats: Sequence[str] = ("png", "svg"),
                 docs_url: str | None = None) -> dict[str, bytes]:
    """Every output file (relative path → bytes): report.md, report.html, figures, data tables."""
    files = render_figures(data, formats, data.options.workers)
    for name, fig in changes_figures(data.changes).items():  # section "What we would change"
        for fmt in formats:
            files[f"figures/{name}.{fmt}"] = figure_bytes(fig, fmt)
    spot = spot_table(data.scenario, data.runs) if uses_spot(data.scenario) else None
    if spot is not None and len(spot):  # section "Spot or on-demand?"
        for fmt in formats:
            files[f"figures/spot.{fmt}"] = figure_bytes(plots.plot_spot(spot), fmt)
        files["data/spot.csv"] = spot.to_csv(index=False, float_format="%.10g").encode()
    if data.changes is not None:
        files["data/optimize_candidates.csv"] = data.changes.table.to_csv(index=False, float_format="%.10g").encode()
    blocks = document_blocks(data, command)
    markdown_text, docs = link_docs(render_markdown(blocks), docs_url)
    files.update({f"docs/{name}.md": text for name, text in docs.items()})
    files["report.md"] = markdown_text.encode()
    pngs = {path: data_ for path, data_ in files.items() if path.startswith("figures/") and path.endswith(".png")}
    files["report.html"] = render_html(markdown_text, f"Design review: {data.scenario.name}", pngs).encode()
    it, be, s = data.intensity, data.breakeven, data.saving()
    record = {
        "scenario": data.scenario.name, "command": command, "runs": data.options.runs, "seed": data.options.seed,
        "quick": data.options.quick, "a": data.a, "b": data.b, "confidence": data.options.confidence,
        "saving_per_1000_runs": {"mean": s["mean"] * PER, "ci_low": s["ci_low"] * PER, "ci_high": s["ci_high"] * PER,
                                 "relative": s["rel"]},
        "sweep": {"path": it.path, "current": it.current, "values": list(data.grid), "reason": data.intensity_reason,
                  "refined_values": list(data.refined_grid) if data.refined_grid else None},
        "breakeven": {"status": be.status, "estimate": _finite(be.estimate), "ci_low": _finite(be.ci_low),
                      "ci_high": _finite(be.ci_high), "a_lower": be.a_lower, "winner": be.winner,
                      "analytic": data.analytic_be, "analytic_formula": data.analytic_be_formula or None},
        "prices": data.scenario.pricing.describe(),
        "sign_convention": sign_note(data.a, data.b),
        "precision": None if data.precision is None else {
            "target_relative_half_width": data.precision.target, "runs": data.precision.runs,
            "relative_half_width": _finite(data.precision.relative), "met": data.precision.met,
            "replications_needed": _finite(data.precision.needed), "max_runs": data.precision.max_runs},
        "conclusions": conclusions(data),
        "other_orchestration_prices": [
            {"profile": p, "saving_per_1000_runs": None if sv is None else dict(zip(("mean", "ci_low", "ci_high"),
                                                                                  sv.scaled(PER), strict=True)),
             "not_priced_because": why or None} for p, sv, why in data.alternatives],
        "monthly_bills": [
            {"profile": m.profile, "plan": m.plan, "workflows_per_month": m.workflows,
             "bill_usd": None if m.saving is None else dict(zip(("mean", "ci_low", "ci_high"), m.bill_usd, strict=True)),
             "plan_fee_usd": None if m.saving is None else m.plan_fee_usd, "decided_by": m.decided_by,
             "note": m.note or None} for m in data.monthly],
        "plan_minimum_decides_below_workflows": data.minimum_below,
        "seconds": data.seconds,
    }
    files["data/report.json"] = (json.dumps(record, indent=1, default=_json_default) + "\n").encode()
    files["data/summary.csv"] = data.summary.to_csv(index=False, float_format="%.10g").encode()
    files["data/paired.csv"] = advantages(data.paired).to_csv(index=False, float_format="%.10g").encode()
    files["data/breakeven_points.csv"] = saving_points(be.points, data.a, data.b).to_csv(
        index=False, float_format="%.10g").encode()
    per_1000 = f"saving_{data.b}_minus_{data.a}_per_1000_runs"
    files["data/sensitivity.csv"] = data.sensitivity.rename(columns={
        "value": per_1000, "ci_low": f"{per_1000}_ci_low", "ci_high": f"{per_1000}_ci_high"}).to_csv(
        index=False, float_format="%.10g").encode()
    return files


_DOC_MENTION = re.compile(r"(?<!\]\()(?<![\[/`\w])docs/([a-z_-]+)\.md(?![\w`\]])")


def installed_doc(name: str) -> bytes | None:
    """The text of ``docs/NAME.md`` as installed with the package (None if it is not there)."""
    from importlib import resources

    ref = resources.files("sim").joinpath("data", "docs", f"{name}.md")
    return ref.read_bytes() if ref.is_file() else None


def link_docs(markdown_text: str, docs_url: str | None = None) -> tuple[str, dict[str, bytes]]:
    """Every mention of ``docs/NAME.md`` in the report becomes a link to a copy of that page in the
    report's own folder (the installed docs travel with the report, so the links work wherever the
    folder is opened); returns the text and the pages to write. A page that is not installed stays
    plain text. With ``docs_url`` (the project's published docs, or a relative path such as ``..``
    for a report kept beside them) the links point there and nothing is copied."""
    docs: dict[str, bytes] = {}

    def link(m: re.Match) -> str:
        text = installed_doc(m.group(1))
        if text is None:
            return m.group(0)
        if docs_url is not None:
            return f"[docs/{m.group(1)}.md]({docs_url.rstrip('/')}/{m.group(1)}.md)"
        docs[m.group(1)] = text
        return f"[docs/{m.group(1)}.md](docs/{m.group(1)}.md)"

    return _DOC_MENTION.sub(link, markdown_text), docs


def write_report(out: str | Path, files: dict[str, bytes], formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``files`` under ``out`` (each atomically); remove this report's figures in formats
    no longer written, so the folder never mixes two runs. Returns the written paths."""
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ReportError(f"--out {root} exists and is not a folder")
    written = []
    for rel, data in files.items():
        path = root / rel
        atomic_write_bytes(path, data)
        path.chmod(0o644)  # an ordinary readable file (the temporary file was private)
        written.append(path)
    for name in FIGURES:
        for fmt in ("png", "svg", "pdf"):
            if fmt not in formats:
                (root / "figures" / f"{name}.{fmt}").unlink(missing_ok=True)
    return written

