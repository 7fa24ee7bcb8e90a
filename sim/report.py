"""Design-review report: everything ``python -m sim report`` computes, draws and writes.

Four stages, all on common random numbers (replication ``r`` faces the same failures in
every stage and for every strategy):

1. **baseline** — the scenario as written: run rows, summaries, the paired difference of the
   two compared strategies (durable vs restart), and the event log of a few replications for
   the timeline;
2. **sensitivity** — each input (failure rates, step durations, prices, orchestration
   overheads) at its low and high value (×1/2 and ×2 by default), one at a time, with the
   paired saving restart − durable per 1,000 runs and its interval (the tornado);
3. **sweep** — the scenario's main failure intensity (crash MTBF, deployment interval or
   429 probability; by default the failure source with the largest swing in stage 2) over a
   log range around its current value, for the waste chart and the break-even
   (``sim.stats.breakeven``, bootstrap interval), refined once around a crossing;
4. **closed forms** — ``sim.analytic`` curves for the waste chart and the break-even where the
   scenario fits their assumptions.

:func:`compute_report` does the work and returns a :class:`ReportData`;
:func:`report_files` turns it into the bytes of every output file (Markdown, HTML, figures,
CSV/JSON tables); :func:`write_report` writes them atomically. Nothing is written before
everything is computed.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim import analytic, plots, stats
from sim import plotdata as pdata
from sim.api import simulate_with_events
from sim.errors import ScenarioError, SimError
from sim.io import atomic_write_bytes
from sim.runner import SweepResult, run_sweep
from sim.scenario import (
    CheckpointStrategy,
    DurableStrategy,
    RestartStrategy,
    Scenario,
    scenario_from_dict,
)
from sim.sweep import SweepPoint, Vary, build_points, resolve_path, set_path
from sim.units import parse_duration_s

__all__ = [
    "DEFAULT_RUNS",
    "FIGURES",
    "QUICK_RUNS",
    "Intensity",
    "ReportData",
    "ReportError",
    "ReportOptions",
    "SensitivityInput",
    "analytic_waste",
    "breakeven_sentence",
    "compare_pair",
    "compute_report",
    "conclusions",
    "failure_intensities",
    "intensity_grid",
    "report_files",
    "run_sensitivity",
    "saving_sentence",
    "sensitivity_inputs",
    "write_report",
]

DEFAULT_RUNS = 10_000
QUICK_RUNS = 400
#: Figure file names (without suffix) in the order the report shows them.
FIGURES: tuple[str, ...] = ("breakeven", "waste", "sensitivity", "cost_breakdown", "distributions", "timeline")
SUMMARY_METRICS = ["total_cost_usd", "compute_cost_usd", "wasted_cost_usd", "orchestration_cost_usd",
                   "makespan_s", "wasted_compute_s", "attempts", "crashes", "deploy_kills", "rate_limited",
                   "pipeline_restarts"]
SWEEP_COLUMNS = ["wasted_compute_s", "total_cost_usd", "makespan_s"]
PER = 1000  # savings are quoted per 1,000 runs


class ReportError(SimError):
    """A scenario or option the report cannot work with."""


@dataclass(frozen=True)
class ReportOptions:
    """How much to simulate. ``quick``: 5 sweep points (×1/4 … ×4), no refinement, fewer
    bootstrap resamples and timeline replications (for tests and previews)."""

    runs: int = DEFAULT_RUNS
    seed: int = 0
    quick: bool = False
    sweep_path: str | None = None
    sensitivity_factor: float = 2.0
    workers: int | None = None
    engine: str = "auto"
    n_boot: int = 1000
    confidence: float = 0.95
    quiet: bool = True

    @property
    def sweep_factors(self) -> np.ndarray:
        return 2.0 ** np.arange(-2, 3) if self.quick else 2.0 ** np.arange(-4, 5)

    @property
    def boot(self) -> int:
        return min(self.n_boot, 200) if self.quick else self.n_boot

    @property
    def timeline_runs(self) -> int:
        return min(self.runs, 100 if self.quick else 300)


# --------------------------------------------------------------------------- formatting


def duration_text(seconds: float) -> str:
    """"4 h", "15 min", "2.67 d", "30 s", "10 ms" (three significant digits)."""
    s = float(seconds)
    if not math.isfinite(s):
        return "∞" if s > 0 else "n/a"
    a = abs(s)
    for factor, unit in ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s")):
        if a >= factor:
            return f"{s / factor:.3g} {unit}"
    return f"{s * 1000:.3g} ms" if a > 0 else "0 s"


def usd(value: float) -> str:
    """Dollars with about three significant digits: "$849", "$30.6", "$0.0306", "-$1.20"."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    a = abs(value)
    if a >= 100:
        text = f"{a:,.0f}"
    elif a >= 10:
        text = f"{a:.1f}"
    elif a >= 1:
        text = f"{a:.2f}"
    elif a == 0:
        text = "0"
    else:
        text = np.format_float_positional(a, precision=3, unique=False, fractional=False, trim="k")
    return f"{sign}${text}"


def _interval(lo: float, hi: float, fmt: Any = usd) -> str:
    return f"[{fmt(lo)}, {fmt(hi)}]"


def _dur_interval(lo: float, hi: float) -> str:
    """"[38.1, 43.7] s": both ends in one time unit."""
    unit = pdata.time_unit(max(abs(lo), abs(hi)))
    return f"[{lo / unit.factor:.3g}, {hi / unit.factor:.3g}] {unit.label}"


def _pct(v: float) -> str:
    return f"{100 * v:.3g}%" if math.isfinite(v) else "n/a"


# --------------------------------------------------------------------------- the failure intensity


@dataclass(frozen=True)
class Intensity:
    """A failure source's intensity parameter: its sweep path, current value and wording."""

    path: str
    current: float
    source: str  # crash | deploy | rate_limit
    shape: float | None = None  # Weibull shape, for crashes per day
    #: the most failures a sweep may ask for: the smallest interval, or the largest probability,
    #: at which restart still completes in reasonable time (see :func:`failure_intensities`)
    limit: float | None = None

    @property
    def more_failures_when_larger(self) -> bool:
        return self.path.endswith("probability")

    @property
    def noun(self) -> str:
        return {"crash": "crashes", "deploy": "deployments", "rate_limit": "rate-limited calls"}[self.source]

    def per_day(self, x: float) -> float:
        if self.path.endswith("probability") or x <= 0:
            return math.nan
        mean = x * math.gamma(1 + 1 / self.shape) if self.shape else x
        return 86400.0 / mean

    def short(self, x: float) -> str:
        """"MTBF 4 h", "every 2 h", "2%"."""
        if not math.isfinite(x):
            return "∞" if x > 0 else "0"
        if self.path.endswith("probability"):
            return _pct(x)
        if self.path.endswith("mtbf"):
            return f"MTBF {duration_text(x)}"
        if self.path.endswith("scale"):
            return f"Weibull scale {duration_text(x)}"
        return f"every {duration_text(x)}"

    def rate_text(self, x: float) -> str:
        """"6 crashes per day (MTBF 4 h)", "2% of calls rate limited"."""
        if self.path.endswith("probability"):
            return f"{_pct(x)} of calls rate limited"
        if not math.isfinite(x):
            return f"no {self.noun}"
        return f"{self.per_day(x):.3g} {self.noun} per day ({self.short(x)})"

    def rate_bound(self, x: float) -> str:
        """A CI end in rate words (an infinite end means beyond the swept range)."""
        if self.path.endswith("probability"):
            return _pct(x) if math.isfinite(x) else ("beyond the range" if x > 0 else "below the range")
        if x == math.inf:
            return "below the swept range"
        if x == -math.inf:
            return "above the swept range"
        return f"{self.per_day(x):.3g}"


MAX_PIPELINE_ATTEMPTS = 50


def failure_intensities(scenario: Scenario) -> list[Intensity]:
    """The sweepable intensity of each failure source the scenario has (crash, deploy, 429).

    Each carries a ``limit`` beyond which restart-from-scratch would (almost) never finish:
    intervals at least ``T / ln 50`` (T = failure-free work, so e^{T/M} ≤ 50 pipeline attempts
    with exponential failures), periodic deployments at least 1.5 × (T + drain + restart time)
    apart (closer, no pipeline fits between two of them), and 429 probabilities with at most 50
    expected pipeline attempts ((1 − p)^{−k} ≤ 50 for k rate-limited steps), and at most 0.8."""
    f = scenario.failures
    work = sum(s.duration.mean() for s in scenario.steps)
    min_interval = work / math.log(MAX_PIPELINE_ATTEMPTS)
    out = []
    if f.crash is not None:
        if f.crash.distribution == "exponential":
            out.append(Intensity("failures.crash.mtbf", float(f.crash.mtbf_s), "crash", limit=min_interval))
        else:
            out.append(Intensity("failures.crash.scale", float(f.crash.scale_s), "crash", float(f.crash.shape),
                                 limit=min_interval))
    if f.deploy is not None and f.deploy.mode in ("periodic", "poisson"):
        d = f.deploy
        limit = 1.5 * (work + d.drain_s + d.restart_time_s) if d.mode == "periodic" else min_interval
        out.append(Intensity("failures.deploy.every", float(d.every_s), "deploy", limit=limit))
    if f.rate_limit is not None and 0 < f.rate_limit.probability < 1:
        k = max(1, sum(scenario.rate_limited_steps()))
        cap = min(0.8, 1 - MAX_PIPELINE_ATTEMPTS ** (-1 / k))
        out.append(Intensity("failures.rate_limit.probability", float(f.rate_limit.probability), "rate_limit",
                             limit=cap))
    return out


def _bounded(intensity: Intensity, value: float) -> float:
    """``value`` moved back inside the intensity's limit (fewer failures), if needed."""
    if intensity.limit is None:
        return value
    if intensity.more_failures_when_larger:
        return min(value, intensity.limit)
    return max(value, intensity.limit)


def intensity_grid(intensity: Intensity, factors: Sequence[float]) -> tuple[float, ...]:
    """The current value times each factor (a geometric grid), shifted by whole grid steps
    towards fewer failures while its failure-heavy end is beyond the intensity's ``limit``."""
    f = np.sort(np.asarray(factors, dtype=float))
    values = intensity.current * f
    if intensity.limit is not None:
        # shift the whole grid by whole steps (keeping round multiples of the current value)
        step = f[1] / f[0] if f.size > 1 else 2.0
        for _ in range(64):
            edge = values.max() if intensity.more_failures_when_larger else values.min()
            if edge == _bounded(intensity, edge):
                break
            values = values / step if intensity.more_failures_when_larger else values * step
    return tuple(float(v) for v in values)


# --------------------------------------------------------------------------- strategies


def compare_pair(scenario: Scenario) -> tuple[str, str]:
    """(a, b): the durable-style strategy a against the restart-style b (saving = b − a)."""
    labels = list(scenario.strategies)
    if len(labels) < 2:
        raise ReportError(f"{scenario.path or scenario.name}: the report compares two strategies; "
                          f"the scenario has only {labels}")
    if "durable" in labels and "restart" in labels:
        return "durable", "restart"
    durable = [k for k, c in scenario.strategies.items() if isinstance(c, DurableStrategy | CheckpointStrategy)]
    restart = [k for k, c in scenario.strategies.items() if isinstance(c, RestartStrategy)]
    if durable and restart:
        return durable[0], restart[0]
    return labels[1], labels[0]


# --------------------------------------------------------------------------- sensitivity


@dataclass(frozen=True)
class SensitivityInput:
    """One input of the tornado: the scenario with the input at its low and high value."""

    name: str
    group: str  # failure rate | step duration | price | overhead
    low_setting: str
    high_setting: str
    low: Scenario = field(repr=False)
    high: Scenario = field(repr=False)
    path: str = ""  # the intensity path for failure-rate inputs


def _variant(scenario: Scenario, edits: Sequence[tuple[str, float]]) -> Scenario:
    raw = scenario.raw
    for text, value in edits:
        p = resolve_path(scenario, text)
        raw = set_path(raw, p, int(round(value)) if p.kind == "int" else float(value), scenario)
    base = Path(scenario.path).parent if scenario.path else None
    return scenario_from_dict(raw, file=scenario.path or "<scenario>", base_dir=base)


def _step_duration_edits(scenario: Scenario, index: int, factor: float) -> list[tuple[str, float]]:
    step = scenario.steps[index]
    node = scenario.raw["steps"][index].get("duration")
    if isinstance(node, dict):
        return [(f"steps.{step.name}.duration.{k}", parse_duration_s(node[k]) * factor)
                for k in ("value", "mean", "median", "p95", "low", "high", "scale") if k in node]
    return [(f"steps.{step.name}.duration", step.duration.mean() * factor)]


_ORCHESTRATION_INPUTS = (
    ("per_million_actions_usd", "price per million actions", "$/M actions"),
    ("per_million_action_minutes_usd", "price per million action-minutes", "$/M action-min"),
    ("per_workflow_run_usd", "price per durable workflow run", "$/run"),
    ("active_storage_per_gb_hour_usd", "active history storage price", "$/GB-h"),
    ("retained_storage_per_gb_hour_usd", "retained history storage price", "$/GB-h"),
    ("restart_per_run_usd", "classic orchestrator price per run", "$/run"),
)


def sensitivity_inputs(scenario: Scenario, factor: float = 2.0, a: str | None = None) -> list[SensitivityInput]:
    """The inputs of the tornado, each at ×1/factor (low) and ×factor (high).

    Failure rates are varied as rates (low = fewer failures: MTBF or deployment interval
    ×factor; a 429 probability ×1/factor, and ×factor capped below 1); step durations (every
    parameter of a duration distribution scaled together), GPU and token prices, and the
    durable overheads (persist latency, orchestration prices) as values. Inputs at zero are
    left out (scaling cannot move them)."""
    if factor <= 1:
        raise ReportError("the sensitivity factor must be greater than 1")
    lo_f, hi_f = 1.0 / factor, factor
    out: list[SensitivityInput] = []

    def add(name: str, group: str, lo_edits: list, hi_edits: list, lo_set: str, hi_set: str, path: str = "") -> None:
        try:
            low, high = _variant(scenario, lo_edits), _variant(scenario, hi_edits)
        except ScenarioError:  # a value the scenario cannot take (e.g. below a lower bound): leave it out
            return
        out.append(SensitivityInput(name, group, lo_set, hi_set, low, high, path))

    for it in failure_intensities(scenario):
        if it.path.endswith("probability"):
            p = it.current
            lo, hi = p * lo_f, _bounded(it, min(p * hi_f, (1 + p) / 2))
            add("429 probability per call", "failure rate", [(it.path, lo)], [(it.path, hi)], _pct(lo), _pct(hi), it.path)
        else:
            lo, hi = it.current * factor, _bounded(it, it.current / factor)  # low rate = long interval
            if hi >= it.current:
                continue  # already at the limit: no higher rate to try
            name = {"crash": "crash rate", "deploy": "deployment frequency"}[it.source]
            add(name, "failure rate", [(it.path, lo)], [(it.path, hi)], it.short(lo), it.short(hi), it.path)
    for i, step in enumerate(scenario.steps):
        mean = step.duration.mean()
        if mean <= 0:
            continue
        word = "" if not step.duration.is_random else "mean "
        add(f"duration of {step.name}", "step duration", _step_duration_edits(scenario, i, lo_f),
            _step_duration_edits(scenario, i, hi_f), f"{word}{duration_text(mean * lo_f)}",
            duration_text(mean * hi_f))
    for kind in sorted({s.gpu for s in scenario.steps if s.kind == "gpu" and s.price_per_hour is None and s.gpu}):
        price = scenario.pricing.gpu[kind]
        if price > 0:
            path = f"pricing.gpu.{kind}"
            add(f"{kind} GPU price", "price", [(path, price * lo_f)], [(path, price * hi_f)],
                f"{usd(price * lo_f)}/h", f"{usd(price * hi_f)}/h")
    for step in scenario.steps:
        if step.kind == "gpu" and step.price_per_hour:
            path = f"steps.{step.name}.price_per_hour"
            add(f"GPU price of {step.name}", "price", [(path, step.price_per_hour * lo_f)],
                [(path, step.price_per_hour * hi_f)], f"{usd(step.price_per_hour * lo_f)}/h",
                f"{usd(step.price_per_hour * hi_f)}/h")
    for model in dict.fromkeys(s.model for s in scenario.steps if s.kind == "llm"):
        price = scenario.pricing.models[model]
        keys = [k for k in ("input_per_mtok", "output_per_mtok") if getattr(price, k) > 0]
        if not keys:
            continue
        edits = {f: [(f"pricing.models.{model}.{k}", getattr(price, k) * f) for k in keys] for f in (lo_f, hi_f)}
        text = {f: "/".join(usd(getattr(price, k) * f) for k in keys) for f in (lo_f, hi_f)}
        which = "/".join(k.split("_")[0] for k in keys)
        add(f"{model} token prices ({which})", "price", edits[lo_f], edits[hi_f], f"{text[lo_f]} per M",
            f"{text[hi_f]} per M")
    labels = [a] if a is not None else list(scenario.strategies)
    for label in labels:
        cfg = scenario.strategies[label]
        latency = getattr(cfg, "persist_latency_s", 0.0)
        if isinstance(cfg, DurableStrategy | CheckpointStrategy) and latency > 0:
            path = f"strategies.{label}.persist_latency"
            add(f"persist latency ({label})", "overhead", [(path, latency * lo_f)], [(path, latency * hi_f)],
                duration_text(latency * lo_f), duration_text(latency * hi_f))
    orch = scenario.pricing.orchestration
    for key, name, unit in _ORCHESTRATION_INPUTS:
        value = getattr(orch, key)
        if value > 0:
            path = f"pricing.orchestration.{key}"
            add(name, "overhead", [(path, value * lo_f)], [(path, value * hi_f)],
                f"{usd(value * lo_f)} {unit.removeprefix('$')}".replace(" /", "/"),
                f"{usd(value * hi_f)} {unit.removeprefix('$')}".replace(" /", "/"))
    return out


def _savings(paired: pd.DataFrame, a: str, b: str, metric: str = "total_cost_usd") -> pd.DataFrame:
    """Per point: saving b − a per 1,000 runs with its interval, from a runner ``paired`` table."""
    p = paired[paired["metric"] == metric]
    fwd = p[(p["a"] == b) & (p["b"] == a)]  # b − a directly
    if len(fwd):
        out = fwd.assign(value=fwd["mean_diff"] * PER, lo=fwd["ci_low"] * PER, hi=fwd["ci_high"] * PER)
    else:
        rev = p[(p["a"] == a) & (p["b"] == b)]
        if not len(rev):
            raise ReportError(f"no paired difference of {a} and {b} in the results")
        out = rev.assign(value=-rev["mean_diff"] * PER, lo=-rev["ci_high"] * PER, hi=-rev["ci_low"] * PER)
    return out[["point", "n", "value", "lo", "hi"]].sort_values("point").reset_index(drop=True)


def run_sensitivity(inputs: Sequence[SensitivityInput], a: str, b: str, runs: int, seed: int, *,
                    engine: str = "auto", workers: int | None = None, quiet: bool = True,
                    confidence: float = 0.95) -> pd.DataFrame:
    """Simulate every input at its low and high value (one chunked sweep, the same replications
    everywhere); one row per (input, level): input, group, level, setting, value, ci_low,
    ci_high, n — ``value`` is the mean paired saving b − a of total cost per 1,000 runs."""
    if not inputs:
        return pd.DataFrame(columns=["input", "group", "level", "setting", "value", "ci_low", "ci_high", "n"])
    scenarios = [sc for it in inputs for sc in (it.low, it.high)]
    points = [SweepPoint(i, {}, sc) for i, sc in enumerate(scenarios)]
    result = run_sweep(points, runs, seed, engine=engine, workers=workers, quiet=quiet, keep_runs=False,
                       confidence=confidence)
    sav = _savings(result.paired, a, b)
    rows = []
    for i, it in enumerate(inputs):
        for j, (level, setting) in enumerate((("low", it.low_setting), ("high", it.high_setting))):
            r = sav.iloc[2 * i + j]
            rows.append({"input": it.name, "group": it.group, "level": level, "setting": setting,
                         "value": r["value"], "ci_low": r["lo"], "ci_high": r["hi"], "n": int(r["n"])})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- closed forms


def _unlimited(scenario: Scenario) -> bool:
    return all(s.retry.maximum_attempts == 0 for s in scenario.steps) and all(
        c.retry.maximum_attempts == 0 for c in scenario.strategies.values() if isinstance(c, RestartStrategy))


def analytic_waste(scenario: Scenario, path: str, values: Sequence[float]) -> pd.DataFrame | None:
    """Closed-form mean wasted compute per run (``sim.analytic``) along ``path``, or None.

    * ``failures.crash.mtbf``: exponential crashes only (no deployments or 429s), steps of
      fixed duration: restart ``(e^{λT} − 1)/λ − T``, durable ``Σ (e^{λt_i} − 1)/λ − t_i``.
    * ``failures.rate_limit.probability``: 429s only, failing fast (``response_time = 0``):
      restart ``Σ_k t_k Q_k/Q_n − Σ t_k`` (mean durations), durable 0.
    Only for strategies of kind restart and durable, with unlimited retries."""
    f = scenario.failures
    kinds = {label: ("restart" if isinstance(c, RestartStrategy) else "durable" if isinstance(c, DurableStrategy)
                     else None) for label, c in scenario.strategies.items()}
    kinds = {k: v for k, v in kinds.items() if v is not None}
    if not kinds or not _unlimited(scenario):
        return None
    xs = np.geomspace(min(values), max(values), 80) if min(values) > 0 else np.linspace(min(values), max(values), 80)
    work = [s.duration.mean() for s in scenario.steps]
    rows = []
    if path == "failures.crash.mtbf":
        if f.crash is None or f.crash.distribution != "exponential" or f.deploy is not None:
            return None
        if (f.rate_limit is not None and f.rate_limit.probability > 0) or any(s.duration.is_random for s in scenario.steps):
            return None
        for x in xs:
            lam = 1.0 / x
            for label, kind in kinds.items():
                v = (analytic.restart_wasted_compute_exponential_s(sum(work), lam) if kind == "restart"
                     else analytic.durable_wasted_compute_exponential_s(work, lam))
                rows.append((x, label, v))
    elif path == "failures.rate_limit.probability":
        rl = f.rate_limit
        if f.crash is not None or f.deploy is not None or rl is None or rl.response_time_s != 0:
            return None
        mask = [s.name in set(rl.steps) for s in scenario.steps] if rl.steps is not None else \
            [s.kind == "llm" for s in scenario.steps]
        for x in xs:
            if x >= 1:
                continue
            p = [x if m else 0.0 for m in mask]
            for label, kind in kinds.items():
                v = analytic.restart_wasted_cost_usd(work, p) if kind == "restart" else 0.0
                rows.append((x, label, v))
    else:
        return None
    return pd.DataFrame(rows, columns=["x", "strategy", "value"])


def analytic_breakeven_value(scenario: Scenario, path: str, a: str, b: str) -> tuple[float | None, str]:
    """The closed-form break-even of ``path`` (``sim.commands.breakeven.analytic_breakeven``)."""
    from sim.commands.breakeven import analytic_breakeven

    res = analytic_breakeven(scenario, path, "total_cost_usd", a, b)
    if res is None:
        return None, ""
    return res.value, (res.formula + (f"; {res.note}" if res.note else ""))


# --------------------------------------------------------------------------- the computation


@dataclass
class ReportData:
    """Everything the report shows; every number in the text comes from here."""

    scenario: Scenario
    options: ReportOptions
    a: str
    b: str
    runs: pd.DataFrame
    events: pd.DataFrame
    summary: pd.DataFrame
    paired: pd.DataFrame
    intensity: Intensity
    intensity_reason: str
    sweep: pd.DataFrame
    grid: tuple[float, ...]
    breakeven: stats.BreakEven
    coarse_breakeven: stats.BreakEven
    refined_grid: tuple[float, ...] | None
    analytic_curve: pd.DataFrame | None
    analytic_be: float | None
    analytic_be_formula: str
    sensitivity: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    def saving(self, metric: str = "total_cost_usd") -> dict[str, float]:
        """Paired b − a at the baseline (per run): mean, ci_low, ci_high, rel (of b), rel_lo, rel_hi, n."""
        r = self.paired[self.paired["metric"] == metric].iloc[0]
        return {"mean": -r["mean_diff"], "ci_low": -r["ci_high"], "ci_high": -r["ci_low"],
                "rel": -r["rel_diff"], "rel_lo": -r["rel_ci_high"], "rel_hi": -r["rel_ci_low"],
                "n": int(r["n"]), "se": r["se"]}


def _progress(options: ReportOptions, text: str) -> None:
    if not options.quiet and sys.stderr.isatty():
        print(f"report: {text}", file=sys.stderr, flush=True)


def _sweep(scenario: Scenario, path: str, values: Sequence[float], options: ReportOptions) -> SweepResult:
    points = build_points(scenario, [Vary(path, tuple(values))])
    return run_sweep(points, options.runs, options.seed, engine=options.engine, workers=options.workers,
                     quiet=options.quiet, collect_runs=True,
                     collect_columns=["point", path, "strategy", "run", *SWEEP_COLUMNS],
                     confidence=options.confidence)


def compute_report(scenario: Scenario, options: ReportOptions | None = None) -> ReportData:
    """Run every stage and return the numbers, tables and logs the report is made of."""
    import time

    options = options or ReportOptions()
    if options.runs < 10:
        raise ReportError("the report needs at least 10 replications (--runs)")
    a, b = compare_pair(scenario)
    intensities = failure_intensities(scenario)
    if not intensities:
        raise ReportError(f"{scenario.path or scenario.name}: no failure source to sweep; the report needs "
                          "[failures.crash], [failures.deploy] (periodic or poisson) or [failures.rate_limit]")
    if options.sweep_path is not None and options.sweep_path not in [i.path for i in intensities]:
        raise ReportError(f"--sweep {options.sweep_path}: not a failure intensity of this scenario; "
                          f"choose one of {', '.join(i.path for i in intensities)}")
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    _progress(options, f"1/3 baseline: {options.runs:,} replications of {', '.join(scenario.strategies)}")
    base = run_sweep(build_points(scenario, []), options.runs, options.seed, engine=options.engine,
                     workers=options.workers, quiet=options.quiet, collect_runs=True,
                     confidence=options.confidence)
    runs_df = base.runs.drop(columns=["point"])
    summary = stats.summarize(runs_df, metrics=SUMMARY_METRICS, by=("strategy",), confidence=options.confidence)
    paired = stats.paired_differences(runs_df, a, b, metrics=SUMMARY_METRICS, confidence=options.confidence)
    _, events = simulate_with_events(scenario, options.timeline_runs, options.seed, event_log=True)
    seconds["baseline"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    inputs = sensitivity_inputs(scenario, options.sensitivity_factor, a)
    _progress(options, f"2/3 sensitivity: {len(inputs)} inputs x 2 levels")
    sens = run_sensitivity(inputs, a, b, options.runs, options.seed, engine=options.engine,
                           workers=options.workers, quiet=options.quiet, confidence=options.confidence)
    seconds["sensitivity"] = time.perf_counter() - t0

    if options.sweep_path is not None:
        intensity = next(i for i in intensities if i.path == options.sweep_path)
        reason = "chosen with --sweep"
    else:
        swings = {}
        for it in inputs:
            if it.path:
                s = sens[sens["input"] == it.name].set_index("level")["value"]
                swings[it.path] = abs(float(s["high"] - s["low"]))
        by_path = {i.path: i for i in intensities}
        best = max(swings, key=lambda p: swings[p]) if swings else intensities[0].path
        intensity = by_path[best]
        reason = ("the only failure source" if len(intensities) == 1 else
                  "the failure source whose rate moves the saving most in the sensitivity analysis")

    t0 = time.perf_counter()
    grid = intensity_grid(intensity, options.sweep_factors)
    _progress(options, f"3/3 sweep of {intensity.path}: {len(grid)} points")
    res = _sweep(scenario, intensity.path, grid, options)
    sweep_df = res.runs
    be = stats.breakeven(sweep_df, intensity.path, "total_cost_usd", a, b, confidence=options.confidence,
                         n_boot=options.boot, seed=options.seed)
    coarse = be
    refined_grid = None
    if be.status == "crossing" and not options.quick and be.bracket is not None:
        lo, hi = be.bracket
        lo = max(min(lo, be.ci_low) if math.isfinite(be.ci_low) else lo, min(grid))
        hi = min(max(hi, be.ci_high) if math.isfinite(be.ci_high) else hi, max(grid))
        values = tuple(float(v) for v in np.geomspace(lo, hi, 7))
        if values[0] < values[-1]:
            _progress(options, f"3/3 refined sweep around the crossing: {len(values)} points")
            fine = _sweep(scenario, intensity.path, values, options)
            fbe = stats.breakeven(fine.runs, intensity.path, "total_cost_usd", a, b, confidence=options.confidence,
                                  n_boot=options.boot, seed=options.seed)
            if fbe.status == "crossing":
                be, refined_grid = fbe, values
    curve = analytic_waste(scenario, intensity.path, grid)
    a_value, a_formula = analytic_breakeven_value(scenario, intensity.path, a, b)
    seconds["sweep"] = time.perf_counter() - t0
    return ReportData(scenario=scenario, options=options, a=a, b=b, runs=runs_df, events=events, summary=summary,
                      paired=paired, intensity=intensity, intensity_reason=reason, sweep=sweep_df, grid=grid,
                      breakeven=be, coarse_breakeven=coarse, refined_grid=refined_grid, analytic_curve=curve,
                      analytic_be=a_value, analytic_be_formula=a_formula, sensitivity=sens, seconds=seconds)


# --------------------------------------------------------------------------- conclusions


def saving_sentence(a: str, b: str, mean_per_1000: float, lo: float, hi: float, confidence: float = 0.95,
                    rel: float | None = None, where: str = "At your current failure rates") -> str:
    """The headline: the sign and interval of the paired saving b − a decide the wording."""
    ci = f"{_interval(lo, hi)} ({confidence:.0%} CI)"
    share = f" ({_pct(abs(rel))} of {b}'s total cost)" if rel is not None and math.isfinite(rel) else ""
    if lo > 0:
        return f"{where}, **{a} saves {usd(mean_per_1000)} per 1,000 runs** {ci} compared with {b}{share}."
    if hi < 0:
        ci_more = f"{_interval(-hi, -lo)} ({confidence:.0%} CI)"
        return f"{where}, **{a} costs {usd(-mean_per_1000)} more per 1,000 runs** than {b} {ci_more}{share}."
    return (f"{where}, there is **no significant difference** in total cost between {a} and {b}: "
            f"the saving of {a} is {usd(mean_per_1000)} per 1,000 runs and its {ci} includes 0.")


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
    out = [saving_sentence(a, b, s["mean"] * PER, s["ci_low"] * PER, s["ci_high"] * PER, conf, s["rel"])]
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
        what = f"the saving of {a} is {usd(v)}" if v >= 0 else f"{a} costs {usd(-v)} more"
        out.append(f"At the {word} failure intensity swept ({it.rate_text(end[it.path])}) {what} per 1,000 runs "
                   f"{_interval(lo, hi)}{verdict}; a break-even, if any, lies {side} that.")
    if data.analytic_be is not None:
        inside = (be.status == "crossing" and be.ci_low <= data.analytic_be <= be.ci_high)
        where = ("inside the simulated interval" if inside else
                 "outside the swept range" if not (min(data.grid) <= data.analytic_be <= max(data.grid))
                 else "outside the simulated interval")
        out.append(f"The closed form ({data.analytic_be_formula}) puts the break-even at "
                   f"{it.rate_text(data.analytic_be)}, {where}.")
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
        base = s["mean"] * PER
        tab = pdata.tornado_table(base, sens)
        top = tab.iloc[0]
        out.append(f"The saving is most sensitive to the **{top['input']}** "
                   f"({top['low_setting']} → {top['high_setting']}: {usd(top['low'])} to {usd(top['high'])} "
                   f"per 1,000 runs)" + (f", then the {tab.iloc[1]['input']}" if len(tab) > 1 else "") + ".")
        sign = 1 if s["ci_low"] > 0 else -1 if s["ci_high"] < 0 else 0
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


def build_figures(data: ReportData) -> dict[str, Figure]:
    """The six report figures (matplotlib Figures, not yet saved)."""
    it, a, b = data.intensity, data.a, data.b
    figs: dict[str, Figure] = {}
    curve = data.analytic_curve
    figs["waste"] = plots.plot_waste_vs_failure_rate(data.sweep, it.path, metric="wasted_compute_s", analytic=curve)
    _mark_current(figs["waste"], it, data.grid)
    figs["breakeven"] = plots.plot_breakeven(data.sweep, it.path, metric="total_cost_usd", breakeven=data.breakeven,
                                             level=data.options.confidence)
    _mark_current(figs["breakeven"], it, data.grid)
    figs["distributions"] = plots.plot_distributions(data.runs, metrics=("makespan_s", "total_cost_usd"))
    _tail_scale(figs["distributions"], data.runs, ("makespan_s", "total_cost_usd"))
    figs["cost_breakdown"] = plots.plot_cost_breakdown(data.runs, level=data.options.confidence)
    figs["timeline"] = plots.plot_timeline(data.events)
    s = data.saving()
    factor = data.options.sensitivity_factor
    tab = pdata.tornado_table(s["mean"] * PER, data.sensitivity)
    figs["sensitivity"] = plots.plot_sensitivity(
        tab, value_label=f"saving of {a} over {b} ($ per 1,000 runs; > 0: {a} cheaper)",
        title=f"Sensitivity: each input ×{1 / factor:g} and ×{factor:g}, one at a time",
        level=data.options.confidence)
    return figs


def figure_bytes(fig: Figure, fmt: str, dpi: int = 200) -> bytes:
    """The figure as PNG/SVG bytes (the settings of ``sim.plots.save_figure``; SVG without a date
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
        return f"{usd(mean)} {_interval(lo, hi)}"
    if metric.endswith("_s"):
        unit = pdata.time_unit(max(abs(mean), abs(lo), abs(hi)))
        f = unit.factor
        return f"{mean / f:.3g} [{lo / f:.3g}, {hi / f:.3g}] {unit.label}"
    return f"{mean:.3g} [{lo:.3g}, {hi:.3g}]"


def _table_rows(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """The summary table: metrics × (strategies, paired difference a − b)."""
    labels = pdata.strategy_order(data.scenario.strategies)
    a, b = data.a, data.b
    sm = data.summary.set_index(["strategy", "metric"])
    pr = data.paired.set_index("metric")
    header = ["per run", *labels, f"{a} − {b} (paired)"]
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
        d = pr.loc[metric]
        rel = float(d["rel_diff"])
        rel_txt = f" ({rel:+.1%})" if math.isfinite(rel) and metric.endswith(("_usd", "_s")) else ""
        cells.append(_cell(metric, float(d["mean_diff"]), float(d["ci_low"]), float(d["ci_high"])) + rel_txt)
        rows.append([name, *cells])
    for q in ("p50", "p95", "p99"):
        rows.append([f"makespan {q}", *[duration_text(float(sm.loc[(s, "makespan_s"), q])) for s in labels], ""])
    done = [float(data.runs.loc[data.runs["strategy"] == s, "completed"].mean()) for s in labels]
    rows.append(["completed", *[f"{d:.2%}" for d in done], ""])
    return header, rows


def _scenario_blocks(sc: Scenario, a: str, b: str) -> list[Block]:
    rows = []
    for s in sc.steps:
        dur = (f"mean {duration_text(s.duration.mean())} (random)" if s.duration.is_random
               else duration_text(s.duration.mean()))
        if s.kind == "gpu":
            price = f"{usd(sc.step_price_per_s(s) * 3600)}/h ({s.gpu or 'price_per_hour'})"
        else:
            price = f"{usd(sc.step_attempt_cost_usd(s))} per call ({s.model})"
        rows.append([s.name, s.kind, dur, price])
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
        ("p", f"{len(sc.steps)} steps, {duration_text(sum(s.duration.mean() for s in sc.steps))} of work and "
              f"{usd(sc.useful_cost_usd())} of compute per failure-free run; pricing profile "
              f"`{sc.pricing.name}`. Strategies: {', '.join(strat)}; the comparison is `{a}` against `{b}`."),
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
    blocks.append(("p", f"{o.runs:,} replications per setting, root seed {o.seed}, engine {engines}"
                        f"{', quick mode' if o.quick else ''}; generated with `{command}`."))
    blocks += [("h", 2, "Conclusion"), ("ul", conclusions(data))]
    blocks += _scenario_blocks(sc, a, b)

    header, rows = _table_rows(data)
    blocks += [
        ("h", 2, "Results at the current settings"),
        ("p", f"Means per run with {conf} Student-t intervals over {o.runs:,} replications; the last column is the "
              f"paired difference {a} − {b} (both strategies face the same failures in each replication, "
              f"so the shared noise cancels) and, in brackets, relative to {b}."),
        ("table", header, rows),
        ("img", "figures/cost_breakdown.png", "Cost breakdown",
         f"Where the money goes: useful compute, wasted compute and orchestration, mean per run "
         f"(or per 1,000 runs), with the {conf} interval of the total."),
        ("img", "figures/distributions.png", "Distributions of makespan and total cost",
         "Distribution over runs (empirical CDF) of makespan and total cost, p50/p95/p99 marked."),
        ("img", "figures/timeline.png", "Timeline of one replication",
         "One representative replication (the median number of failed attempts among runs with failures): "
         "every attempt of every step, wasted work hatched, failures marked."),
    ]

    grid_txt = f"{it.short(min(data.grid))} to {it.short(max(data.grid))}"
    be_rows = []
    for _, r in be.points.sort_values(it.path).iterrows():
        v, lo, hi = -r["mean_diff"] * PER, -r["ci_high"] * PER, -r["ci_low"] * PER
        be_rows.append([it.short(r[it.path]),
                        f"{it.per_day(r[it.path]):.3g}" if not it.more_failures_when_larger else _pct(r[it.path]),
                        f"{usd(v)} {_interval(lo, hi)}", r["lower"] + ("" if r["significant"] else " (n.s.)")])
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
              f"{o.runs:,} replications each, every other input as in the scenario."),
        ("img", "figures/breakeven.png", "Break-even chart",
         f"Expected total cost per run of each strategy (top) and the paired difference {b} − {a} (bottom) "
         f"against {pdata.param_axis(it.path, data.grid)[0]}; the break-even and its interval are marked where "
         "the difference crosses zero."),
        ("p", be_txt),
        ("table", [it.path.rsplit(".", 1)[-1], rate_head, f"saving of {a} per 1,000 runs [{conf} CI]", "cheaper"],
         be_rows),
        ("img", "figures/waste.png", "Wasted compute vs failure rate",
         "Mean wasted compute per run (killed attempts, and for restart every step of a lost pipeline attempt)"
         + (" with the closed form of sim.analytic dashed." if data.analytic_curve is not None else
            "; no closed form applies to this scenario (it needs a single failure source of the analysed kind).")),
    ]

    sens = data.sensitivity
    if len(sens):
        tab = pdata.tornado_table(data.saving()["mean"] * PER, sens)
        s_rows = []
        for _, r in tab.iterrows():
            s_rows.append([r["input"], f"{r['low_setting']} → {r['high_setting']}",
                           f"{usd(r['low'])} {_interval(r['low_ci_low'], r['low_ci_high'])}",
                           f"{usd(r['high'])} {_interval(r['high_ci_low'], r['high_ci_high'])}",
                           usd(r["swing"])])
        blocks += [
            ("h", 2, "Sensitivity"),
            ("p", f"Each input set to ×{1 / o.sensitivity_factor:g} (low) and ×{o.sensitivity_factor:g} (high) of its "
                  f"value, one at a time; the output is the paired saving of {a} over {b} in $ per 1,000 runs "
                  f"(baseline {usd(data.saving()['mean'] * PER)}), with {conf} intervals. Failure rates are varied "
                  "as rates (low = fewer failures); inputs at zero are left out."),
            ("img", "figures/sensitivity.png", "Tornado chart", "Inputs ranked by swing (largest on top)."),
            ("table", ["input", "low → high", "saving at low", "saving at high", "swing"], s_rows),
        ]
    blocks += [
        ("h", 2, "Method"),
        ("ul", [
            "Common random numbers: every random draw is a function of (seed, replication, source, index), so "
            "both strategies face the same crashes, deployments and 429s in each replication, and replication r "
            "is the same at every sweep point and sensitivity setting. Differences are paired per replication.",
            f"Intervals: Student t on the replication means ({conf}); the break-even interval is a percentile "
            "bootstrap over whole replications (the same resample at every sweep point).",
            "Costs follow docs/model.md: GPU time of every attempt (finished or killed), tokens of completed calls "
            "(killed calls pro rata), durable orchestration per billable action, action-minute and storage.",
            ("Files: figures/*.png (and the same figures as .svg for slides, unless --no-svg); data/*.csv and "
             "data/report.json hold every number shown."),
        ]),
    ]
    return blocks


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


def _html_inline(text: str) -> str:
    out = []
    for part in _INLINE.split(text):
        if part.startswith("**") and part.endswith("**") and len(part) > 4:
            out.append(f"<strong>{html.escape(part[2:-2])}</strong>")
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        elif part.startswith("*") and part.endswith("*") and len(part) > 2:
            out.append(f"<em>{html.escape(part[1:-1])}</em>")
        else:
            out.append(html.escape(part))
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


def render_html(blocks: Sequence[Block], title: str) -> str:
    body: list[str] = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h":
            body.append(f"<h{blk[1]}>{_html_inline(blk[2])}</h{blk[1]}>")
        elif kind == "p":
            body.append(f"<p>{_html_inline(blk[1])}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in blk[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_html_inline(h)}</th>" for h in blk[1])
            rows = "".join("<tr>" + "".join(f"<td>{_html_inline(str(c))}</td>" for c in row) + "</tr>"
                           for row in blk[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            body.append(f'<figure><img src="{html.escape(blk[1])}" alt="{html.escape(blk[2])}">'
                        f"<figcaption>{_html_inline(blk[3])}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# --------------------------------------------------------------------------- files


def _json_default(v: Any) -> Any:
    if isinstance(v, np.integer | np.floating):
        return v.item()
    return str(v)


def _finite(v: float) -> float | str:
    return float(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")


def report_files(data: ReportData, command: str, formats: Sequence[str] = ("png", "svg")) -> dict[str, bytes]:
    """Every output file (relative path → bytes): report.md, report.html, figures, data tables."""
    figs = build_figures(data)
    files: dict[str, bytes] = {}
    for name in FIGURES:
        for fmt in formats:
            files[f"figures/{name}.{fmt}"] = figure_bytes(figs[name], fmt)
    blocks = document_blocks(data, command)
    files["report.md"] = render_markdown(blocks).encode()
    files["report.html"] = render_html(blocks, f"Design review: {data.scenario.name}").encode()
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
        "conclusions": conclusions(data),
        "seconds": data.seconds,
    }
    files["data/report.json"] = (json.dumps(record, indent=1, default=_json_default) + "\n").encode()
    files["data/summary.csv"] = data.summary.to_csv(index=False, float_format="%.10g").encode()
    files["data/paired.csv"] = data.paired.to_csv(index=False, float_format="%.10g").encode()
    files["data/breakeven_points.csv"] = be.points.to_csv(index=False, float_format="%.10g").encode()
    files["data/sensitivity.csv"] = data.sensitivity.to_csv(index=False, float_format="%.10g").encode()
    return files


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

