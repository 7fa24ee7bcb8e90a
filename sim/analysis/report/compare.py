"""``sim compare``: the same runs priced under several orchestration profiles, side by side, each
with its cost per run, paired saving and break-even along a failure-intensity sweep (one
simulation; ``sim.analysis.reprice`` recomputes the costs from each run's counts)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim import stats
from sim.analysis.report.analysis import (
    analytic_breakeven_value,
    compare_pair,
    failure_intensities,
    intensity_grid,
    usd,
    usd_interval,
)
from sim.analysis.report.precision import DEFAULT_MAX_RUNS, replications_for
from sim.analysis.reprice import COUNT_COLUMNS, RepriceError, reprice, with_orchestration
from sim.analysis.saving import Saving, saving_of, sign_note
from sim.errors import ScenarioError
from sim.experiment.points import Vary, build_points
from sim.experiment.runner import run_sweep
from sim.model.costs import (
    activity_time_limit_problem,
    exceeds_duration_limit,
    orchestration_profiles,
)
from sim.model.scenario import Scenario


@dataclass(frozen=True)
class ProfileResult:
    """One orchestration profile's verdict on the same runs."""

    profile: str
    source_date: str
    cost_a: tuple[float, float, float]  # mean, ci_low, ci_high per run
    cost_b: tuple[float, float, float]
    saving: Saving | None  # of a over b; None when the service cannot run the pipeline
    breakeven: stats.BreakEven | None
    analytic_breakeven: float | None
    over_limit: float  # share of a's runs longer than the service allows (Express: 5 min)
    note: str = ""


@dataclass
class PricingComparison:
    scenario: Scenario
    a: str
    b: str
    runs: int
    seed: int
    path: str
    grid: tuple[float, ...]
    results: list[ProfileResult] = field(default_factory=list)
    confidence: float = 0.95
    runs_table: pd.DataFrame | None = None  # the baseline's runs (what every profile priced)
    #: the baseline's replications (more than ``runs`` when a precision target asked for them)
    headline_runs: int | None = None
    target: float | None = None  # the precision target (relative half-width of each saving)
    max_runs: int | None = None


def _mean_ci(x: np.ndarray, confidence: float) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean())
    h = stats.t_half_width(float(x.std(ddof=1)) / math.sqrt(len(x)), len(x), confidence) if len(x) > 1 else math.nan
    return m, m - h, m + h


def compare_pricing(scenario: Scenario, profiles: Sequence[str] | None = None, *, runs: int = 10_000,
                    seed: int = 0, path: str | None = None, factors: Sequence[float] | None = None,
                    engine: str = "auto", workers: int | None = None, quiet: bool = True,
                    n_boot: int = 1000, confidence: float = 0.95, target: float | None = None,
                    max_runs: int = DEFAULT_MAX_RUNS) -> PricingComparison:
    """Simulate ``scenario`` once (the baseline and a sweep of one failure intensity), then price
    the same runs under each orchestration profile (default: every bundled one): cost per run of
    each strategy, the paired saving of the durable-style strategy over the restart-style one,
    and the break-even along the sweep, with intervals, plus the closed form where one applies.

    ``target``: a precision target for the savings (``sim.analysis.report.precision``): the
    baseline is run again with as many replications as the least precise saving needs, up to
    ``max_runs``; the sweep keeps ``runs`` per point."""
    profiles = list(profiles) if profiles else orchestration_profiles()
    variants = {}
    unpriced = {}
    for p in profiles:  # bad names fail before simulating
        try:
            variants[p] = with_orchestration(scenario, p)
        except ScenarioError as exc:
            if "unknown pricing profile" in exc.problem or exc.file not in (None, scenario.path):
                raise
            unpriced[p] = f"cannot be priced: {exc.problem} (key {exc.key})"
    a, b = compare_pair(scenario)
    intensities = failure_intensities(scenario)
    if not intensities:
        raise RepriceError(f"{scenario.path or scenario.name}: no failure intensity to sweep for a break-even")
    if path is None:
        intensity = intensities[0]
    else:
        found = [i for i in intensities if i.path == path]
        if not found:
            raise RepriceError(f"--sweep {path}: not a failure intensity of this scenario; choose one of "
                               f"{', '.join(i.path for i in intensities)}")
        intensity = found[0]
    factors = factors if factors is not None else 2.0 ** np.arange(-4.0, 4.01, 0.5)
    grid = intensity_grid(intensity, factors)
    columns = ["point", intensity.path, "run", *COUNT_COLUMNS, "orchestration_cost_usd", "total_cost_usd"]
    base = run_sweep(build_points(scenario, []), runs, seed, engine=engine, workers=workers, quiet=quiet,
                     collect_runs=True, collect_columns=[c for c in columns if c != intensity.path])
    if target is not None:
        need = _replications_needed(base.runs, scenario, [p for p in profiles if p not in unpriced], a, b, target,
                                    confidence)
        if math.isfinite(need) and need > runs and max_runs > runs:
            base = run_sweep(build_points(scenario, []), int(min(need, max_runs)), seed, engine=engine,
                             workers=workers, quiet=quiet, collect_runs=True,
                             collect_columns=[c for c in columns if c != intensity.path])
    sweep = run_sweep(build_points(scenario, [Vary(intensity.path, grid)]), runs, seed, engine=engine,
                      workers=workers, quiet=quiet, collect_runs=True, collect_columns=columns)
    out = PricingComparison(scenario, a, b, runs, seed, intensity.path, tuple(grid), confidence=confidence,
                            runs_table=base.runs, headline_runs=int(base.runs["run"].nunique()), target=target,
                            max_runs=max_runs)
    for profile in profiles:
        if profile in unpriced:
            out.results.append(ProfileResult(profile, "", (math.nan,) * 3, (math.nan,) * 3, None, None, None, 0.0,
                                             unpriced[profile]))
            continue
        var = variants[profile]
        priced = reprice(base.runs, scenario, profile)
        is_a = priced["strategy"].astype(str) == a
        over = float(np.mean(exceeds_duration_limit(priced.loc[is_a, "makespan_s"], var.pricing.orchestration)))
        info = var.pricing.orchestration_profile
        too_long = activity_time_limit_problem(scenario.steps, var.pricing.orchestration)
        if too_long is not None:
            out.results.append(ProfileResult(profile, info.source_date, (math.nan,) * 3, (math.nan,) * 3, None, None,
                                             None, 1.0, f"{too_long}: it cannot run this pipeline"))
            continue
        if over > 0:
            limit = var.pricing.orchestration.max_duration_s
            out.results.append(ProfileResult(profile, info.source_date, (math.nan,) * 3, (math.nan,) * 3, None, None,
                                             None, over, f"{over:.2%} of {a}'s runs last longer than the "
                                             f"{limit:g} s this service allows: it cannot run this pipeline"))
            continue
        cost_a = _mean_ci(priced.loc[is_a, "total_cost_usd"], confidence)
        cost_b = _mean_ci(priced.loc[priced["strategy"].astype(str) == b, "total_cost_usd"], confidence)
        paired = stats.paired_differences(priced, a, b, metrics=["total_cost_usd"], confidence=confidence)
        sav = saving_of(paired.assign(a=a, b=b), a, b)
        sw = reprice(sweep.runs, scenario, profile)
        note = ""
        be = None
        if sw["total_cost_usd"].isna().any():
            note = "some swept runs exceed the service's maximum duration: no break-even"
        else:
            be = stats.breakeven(sw, intensity.path, "total_cost_usd", a, b, confidence=confidence, n_boot=n_boot,
                                 seed=seed)
        analytic, _ = analytic_breakeven_value(var, intensity.path, a, b)
        out.results.append(ProfileResult(profile, info.source_date, cost_a, cost_b, sav, be, analytic, over, note))
    return out


def _replications_needed(base: pd.DataFrame, scenario: Scenario, profiles: Sequence[str], a: str, b: str,
                         target: float, confidence: float) -> float:
    """The most replications any profile's saving needs for ``target`` (finite ones only: a
    saving of exactly 0 has no relative target)."""
    needs = []
    for profile in profiles:
        priced = reprice(base, scenario, profile)
        paired = stats.paired_differences(priced, a, b, metrics=["total_cost_usd"], confidence=confidence)
        sv = saving_of(paired.assign(a=a, b=b), a, b)
        needs.append(replications_for(sv.mean, (sv.ci_high - sv.ci_low) / 2, sv.n, target))
    finite = [n for n in needs if math.isfinite(n)]
    return max(finite) if finite else math.inf


def precision_text(cmp: PricingComparison, s: Saving) -> str:
    """The saving's half-width as a share of it: "8.1%", and whether the target was reached."""
    half = (s.ci_high - s.ci_low) / 2
    if not s.mean or not math.isfinite(half):
        return "n/a"
    rel = half / abs(s.mean)
    digits = max(0, 1 - math.floor(math.log10(100 * rel))) if rel > 0 else 0  # two significant digits: 8.0%
    text = f"{100 * rel:.{digits}f}%"
    if cmp.target is not None and rel > cmp.target:
        text += f" (target {100 * cmp.target:g}% not reached)"
    return text


# --------------------------------------------------------------------------- text


def breakeven_text(cmp: PricingComparison, r: ProfileResult) -> str:
    """"1.05% [0.92%, 1.16%]" (bootstrap interval), or why there is none."""
    it = next(i for i in failure_intensities(cmp.scenario) if i.path == cmp.path)
    be = r.breakeven
    if be is None:
        return "n/a"
    if be.status == "crossing":
        def end(x: float) -> str:
            return it.short(x) if math.isfinite(x) else ("beyond the range" if x > 0 else "below the range")
        return f"{it.short(be.estimate)} [{end(be.ci_low)}, {end(be.ci_high)}]"
    lo, hi = it.short(min(cmp.grid)), it.short(max(cmp.grid))
    return f"none in {lo}–{hi} ({be.winner} cheaper throughout)" if be.winner else f"none in {lo}–{hi} (tie)"


def _cost_cell(mean: float, lo: float, hi: float) -> str:
    """A cost per run with its interval, in the one notation ``mean [low, high]``; an interval
    narrower than 0.01% of the mean (a cost that hardly varies between runs) is shown to the
    mean's three significant digits, so its ends print like the mean instead of in ten digits."""
    half = (hi - lo) / 2
    if math.isfinite(half) and 0 < half < 1e-4 * abs(mean):
        return f"{usd(mean)} [{usd(lo)}, {usd(hi)}]"
    return usd_interval(mean, lo, hi)


def verdict_word(a: str, b: str, s: Saving | None) -> str:
    """Plain words for the sign of the saving of ``a`` over ``b`` at the scenario's settings."""
    if s is None:
        return "cannot run"
    return {1: f"{a} saves", -1: f"{a} costs more", 0: "no significant difference"}[s.direction]


def comparison_rows(cmp: PricingComparison, per: int = 1000) -> list[dict[str, str]]:
    """One row of text cells per profile (the CLI table, compare.md and the README)."""
    it = next(i for i in failure_intensities(cmp.scenario) if i.path == cmp.path)
    rows = []
    for r in cmp.results:
        if r.saving is None:
            rows.append({"profile": r.profile, f"{cmp.b} $/run": "n/a", f"{cmp.a} $/run": "n/a",
                         f"saving per {per:,} runs": "n/a", "half-width / saving": "n/a", "verdict": "cannot run",
                         "break-even": "n/a",
                         "closed form": "n/a", "note": r.note})
            continue
        sm, slo, shi = r.saving.scaled(per)
        rows.append({
            "profile": r.profile,
            f"{cmp.b} $/run": _cost_cell(*r.cost_b),
            f"{cmp.a} $/run": _cost_cell(*r.cost_a),
            f"saving per {per:,} runs": usd_interval(sm, slo, shi),
            "half-width / saving": precision_text(cmp, r.saving),
            "verdict": verdict_word(cmp.a, cmp.b, r.saving),
            "break-even": breakeven_text(cmp, r),
            "closed form": it.short(r.analytic_breakeven) if r.analytic_breakeven is not None else "—",
            "note": r.note,
        })
    return rows


def comparison_markdown(cmp: PricingComparison, per: int = 1000) -> str:
    """The comparison as a Markdown table with its header lines."""
    it = next(i for i in failure_intensities(cmp.scenario) if i.path == cmp.path)
    rows = comparison_rows(cmp, per)
    cols = [c for c in rows[0] if c != "note"] if rows else []
    conf = f"{cmp.confidence:.0%}"
    more = (f" ({cmp.headline_runs:,} at the scenario's settings, for the precision target: each saving's 95% "
            f"half-width within {100 * cmp.target:g}% of it, up to {cmp.max_runs:,})"
            if cmp.headline_runs and cmp.headline_runs != cmp.runs and cmp.target is not None else "")
    out = [f"{cmp.scenario.name}: {cmp.runs:,} replications per point{more}, seed {cmp.seed}; the same runs priced under "
           f"each orchestration profile (no new simulation). Models and GPUs: "
           f"{cmp.scenario.pricing.models_profile.name or 'the scenario’s own prices'}. "
           f"{sign_note(cmp.a, cmp.b).capitalize()}; {conf} intervals (t for means, bootstrap for break-evens). "
           f"Break-even along `{cmp.path}` ({len(cmp.grid)} points, {it.short(min(cmp.grid))} to "
           f"{it.short(max(cmp.grid))}; the scenario has {it.short(it.current)}).", "",
           "| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["--:"] * (len(cols) - 1)) + "|"]
    out += ["| " + " | ".join(r[c].replace("|", "\\|") for c in cols) + " |" for r in rows]
    notes = [f"- `{r['profile']}`: {r['note']}" for r in rows if r["note"]]
    # "$" escaped: Markdown renderers with math support would read "$…$" as a formula
    return "\n".join(out + ([""] + notes if notes else [])).replace("$", "\\$") + "\n"
