"""The report's computation: baseline runs, the failure-intensity sweep, one-at-a-time
sensitivity and closed forms, gathered in ``ReportData`` (no rendering here)."""


from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import stats
from sim.analysis import analytic
from sim.analysis import plotdata as pdata
from sim.analysis.monthly import minimum_thresholds, monthly_bills
from sim.analysis.report.precision import (
    DEFAULT_MAX_RUNS,
    DEFAULT_TARGET,
    Precision,
    replications_for,
)
from sim.analysis.reprice import price_alternatives
from sim.analysis.saving import saving_of, savings_table
from sim.errors import ScenarioError, SimError
from sim.experiment.api import simulate_with_events
from sim.experiment.points import SweepPoint, Vary, build_points, resolve_path, set_path
from sim.experiment.runner import SweepResult, run_sweep
from sim.model.scenario import (
    CheckpointStrategy,
    DurableStrategy,
    RestartStrategy,
    Scenario,
    scenario_from_dict,
)
from sim.model.strategies import behaviour
from sim.model.units import parse_duration_s
from sim.model.workflow import nominal_span_s

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
    #: the headline's precision target: 95% half-width at most this fraction of |saving| (None: off),
    #: reached with more baseline replications, up to ``max_runs`` (sim.analysis.report.precision)
    target: float | None = DEFAULT_TARGET
    max_runs: int = DEFAULT_MAX_RUNS

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


def usd(value: float, width: float | None = None) -> str:
    """Dollars with about three significant digits: "$849", "$30.6", "$0.0306", "-$1.20"; with
    ``width`` (of the interval the value belongs to), at least two significant digits of the
    width, so that an interval's ends and its mean never print alike ("$0.8214 [$0.8196, $0.8232]")."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    a = abs(value)
    if width is not None and math.isfinite(width) and width > 1e-9 * a:  # below: rounding noise of a constant
        need = max(0, 1 - math.floor(math.log10(width)))  # decimals for 2 significant digits of the width
        return f"{sign}${a:,.{max(need, _usd_decimals(a))}f}"
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


def _usd_decimals(a: float) -> int:
    """Decimals ``usd`` shows for |value| = a (three significant digits)."""
    if a >= 100:
        return 0
    if a >= 10:
        return 1
    if a >= 1:
        return 2
    if a == 0:
        return 0
    return 2 - math.floor(math.log10(a))


def usd_interval(mean: float, lo: float, hi: float) -> str:
    """"$0.8214 [$0.8196, $0.8232]": mean and interval with the digits the interval needs."""
    w = hi - lo if math.isfinite(hi - lo) else None
    return f"{usd(mean, w)} {_interval(lo, hi)}"


def _interval(lo: float, hi: float, fmt: Any = usd) -> str:
    if fmt is usd:
        w = hi - lo if math.isfinite(hi - lo) else None
        return f"[{usd(lo, w)}, {usd(hi, w)}]"
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

    @property
    def singular(self) -> str:
        return {"crash": "crash", "deploy": "deployment", "rate_limit": "rate-limited call"}[self.source]

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
        count = f"{self.per_day(x):.3g}"
        return f"{count} {self.singular if count == '1' else self.noun} per day ({self.short(x)})"

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
    work = nominal_span_s(scenario)
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


#: the orchestration prices of OrchestrationPrice (a list with any of them > 0 is in the tornado)
_ORCHESTRATION_PRICES = (
    "per_million_actions_usd", "per_million_action_minutes_usd", "per_workflow_run_usd",
    "active_storage_per_gb_hour_usd", "retained_storage_per_gb_hour_usd", "restart_per_run_usd",
    "restart_per_run_minute_usd", "per_million_requests_usd", "per_gb_second_usd", "monthly_fixed_usd",
    "per_history_event_usd",
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
    if any(getattr(orch, key) > 0 for key in _ORCHESTRATION_PRICES) or orch.unit_tiers or orch.meters \
            or orch.gb_second_tiers:
        # the whole price list scaled at once (tiers, storage, plan fee, per-run prices alike)
        path = "pricing.orchestration.price_factor"
        name = scenario.pricing.orchestration_profile.name.split(" (")[0] or "the scenario's"
        f0 = orch.price_factor
        add(f"orchestration prices ({name})", "price", [(path, f0 * lo_f)], [(path, f0 * hi_f)],
            f"×{f0 * lo_f:g} of the list", f"×{f0 * hi_f:g} of the list")
    return out


def _savings(paired: pd.DataFrame, a: str, b: str, metric: str = "total_cost_usd") -> pd.DataFrame:
    """Per point: saving of a over b (b − a) per 1,000 runs with its interval, from a runner ``paired`` table."""
    try:
        return savings_table(paired, a, b, metric, per=PER)
    except ValueError as exc:
        raise ReportError(str(exc)) from None


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
    """Closed-form mean wasted compute per run (``sim.analysis.analytic``) along ``path``, or None.

    * ``failures.crash.mtbf``: exponential crashes only (no deployments or 429s), steps of
      fixed duration: restart ``(e^{λT} − 1)/λ − T``, durable ``Σ (e^{λt_i} − 1)/λ − t_i``.
    * ``failures.rate_limit.probability``: 429s only, failing fast (``response_time = 0``):
      restart ``Σ_k t_k Q_k/Q_n − Σ t_k`` (mean durations), durable 0.
    Only for strategies of kind restart and durable, with unlimited retries."""
    f = scenario.failures
    kinds = {label: ("restart" if isinstance(c, RestartStrategy) else "durable" if isinstance(c, DurableStrategy)
                     else None) for label, c in scenario.strategies.items()}
    kinds = {k: v for k, v in kinds.items() if v is not None}
    if not kinds or not _unlimited(scenario) or scenario.is_graph:  # the formulas are for chains
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
    """The closed-form break-even of ``path`` (``sim.analysis.closed_form.analytic_breakeven``)."""
    from sim.analysis.closed_form import analytic_breakeven

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
    changes: Any = None  # sim.analysis.optimize.recommend.Recommendation, or None (section "What we would change")
    #: the same baseline runs priced under each bundled orchestration profile:
    #: (profile, saving of a over b or None if the service cannot run them, share of runs over its limit)
    alternatives: list = field(default_factory=list)
    #: the month's orchestration bill of ``a`` under each profile at a few monthly volumes
    #: (sim.analysis.monthly.MonthlyBill), and the volume below which each plan's minimum decides it
    monthly: list = field(default_factory=list)
    minimum_below: dict = field(default_factory=dict)
    #: how precise the headline is, and on how many replications it rests (None: no target)
    precision: Precision | None = None

    def setting_saving(self, metric: str = "total_cost_usd") -> dict[str, float]:
        """:meth:`saving` on the replications every other setting (sweep point, sensitivity level)
        uses, the first ``options.runs``: the baseline those settings are compared with. The same
        as :meth:`saving` unless the precision target ran more for the headline."""
        n = self.options.runs
        if int(self.runs["run"].nunique()) <= n:
            return self.saving(metric)
        sub = self.runs[self.runs["run"] < n]
        paired = stats.paired_differences(sub, self.a, self.b, metrics=[metric], confidence=self.options.confidence)
        sv = saving_of(paired.assign(a=self.a, b=self.b), self.a, self.b, metric)
        return {"mean": sv.mean, "ci_low": sv.ci_low, "ci_high": sv.ci_high, "rel": sv.rel, "rel_lo": sv.rel_low,
                "rel_hi": sv.rel_high, "n": sv.n, "se": sv.se}

    def saving(self, metric: str = "total_cost_usd") -> dict[str, float]:
        """The saving of a over b (b − a, ``sim.analysis.saving``) at the baseline, per run: mean,
        ci_low, ci_high, rel (of b), rel_lo, rel_hi, n, se."""
        sv = saving_of(self.paired.assign(a=self.a, b=self.b), self.a, self.b, metric)
        return {"mean": sv.mean, "ci_low": sv.ci_low, "ci_high": sv.ci_high, "rel": sv.rel, "rel_lo": sv.rel_low,
                "rel_hi": sv.rel_high, "n": sv.n, "se": sv.se}


def _progress(options: ReportOptions, text: str) -> None:
    if not options.quiet and sys.stderr.isatty():
        print(f"report: {text}", file=sys.stderr, flush=True)


def _sweep(scenario: Scenario, path: str, values: Sequence[float], options: ReportOptions) -> SweepResult:
    points = build_points(scenario, [Vary(path, tuple(values))])
    return run_sweep(points, options.runs, options.seed, engine=options.engine, workers=options.workers,
                     quiet=options.quiet, collect_runs=True,
                     collect_columns=["point", path, "strategy", "run", *SWEEP_COLUMNS, "rate_limited"],
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
    paired = stats.paired_differences(runs_df, a, b, metrics=SUMMARY_METRICS, confidence=options.confidence)
    precision = None
    if options.target is not None:
        runs_df, paired, precision = _headline_runs(scenario, options, a, b, runs_df, paired)
    summary = stats.summarize(runs_df, metrics=SUMMARY_METRICS, by=("strategy",), confidence=options.confidence)
    _, events = simulate_with_events(scenario, options.timeline_runs, options.seed, event_log=True)
    alternatives = price_alternatives(runs_df, scenario, a, b, confidence=options.confidence)
    if any(sv is not None for _p, sv, _w in alternatives) and behaviour(a, scenario.strategies[a]).records_history:
        profiles = [p for p, _sv, _w in alternatives]
        monthly = monthly_bills(runs_df, scenario, a, b, profiles, report_volumes(scenario), options.confidence)
        minimum_below = minimum_thresholds(runs_df, scenario, a, profiles)
    else:
        monthly, minimum_below = [], {}
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
            # the refined grid is narrow: keep it only if its interval lies inside it (an infinite
            # end would only mean "beyond the refined grid", which the coarse grid covers)
            if fbe.status == "crossing" and math.isfinite(fbe.ci_low) and math.isfinite(fbe.ci_high):
                be, refined_grid = fbe, values
    curve = analytic_waste(scenario, intensity.path, grid)
    a_value, a_formula = analytic_breakeven_value(scenario, intensity.path, a, b)
    seconds["sweep"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _progress(options, "optimiser: activity groupings and heartbeat interval")
    from sim.analysis.report.changes import compute_changes

    changes = compute_changes(scenario, options.runs, options.seed)
    seconds["optimize"] = time.perf_counter() - t0
    return ReportData(changes=changes, scenario=scenario, options=options, a=a, b=b, runs=runs_df, events=events, summary=summary,
                      paired=paired, intensity=intensity, intensity_reason=reason, sweep=sweep_df, grid=grid,
                      breakeven=be, coarse_breakeven=coarse, refined_grid=refined_grid, analytic_curve=curve,
                      analytic_be=a_value, analytic_be_formula=a_formula, sensitivity=sens, seconds=seconds,
                      alternatives=alternatives, monthly=monthly, minimum_below=minimum_below,
                      precision=precision)


def report_volumes(scenario: Scenario) -> list[float]:
    """The monthly volumes of the report's monthly bills: 10,000, 1 M and 100 M workflows, and the
    scenario's own volume."""
    volumes = {1e4, 1e6, 1e8}
    own = scenario.pricing.orchestration.monthly_workflows
    if own is not None:
        volumes.add(float(own))
    return sorted(volumes)


def _headline_runs(scenario: Scenario, options: ReportOptions, a: str, b: str, runs_df: pd.DataFrame,
                   paired: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, Precision]:
    """The baseline with as many replications as the headline's precision target needs (up to
    ``options.max_runs``; none added with ``quick``), its paired table, and the precision reached."""
    target = float(options.target)  # type: ignore[arg-type]
    sv = saving_of(paired.assign(a=a, b=b), a, b)
    half = (sv.ci_high - sv.ci_low) / 2
    need = replications_for(sv.mean, half, sv.n, target)
    n_first = sv.n
    extended = False
    if not options.quick and math.isfinite(need) and need > sv.n and options.max_runs > sv.n:
        n_new = int(min(need, options.max_runs))
        _progress(options, f"1/3 baseline: {n_new:,} replications for the headline's precision target")
        more = run_sweep(build_points(scenario, []), n_new, options.seed, engine=options.engine,
                         workers=options.workers, quiet=options.quiet, collect_runs=True,
                         confidence=options.confidence)
        runs_df = more.runs.drop(columns=["point"])
        paired = stats.paired_differences(runs_df, a, b, metrics=SUMMARY_METRICS, confidence=options.confidence)
        sv = saving_of(paired.assign(a=a, b=b), a, b)
        half = (sv.ci_high - sv.ci_low) / 2
        need = replications_for(sv.mean, half, sv.n, target)
        extended = True
    return runs_df, paired, Precision(target=target, max_runs=options.max_runs, first_runs=n_first, runs=sv.n,
                                      mean=sv.mean, half_width=half, needed=need, extended=extended,
                                      quick=options.quick)


