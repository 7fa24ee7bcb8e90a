"""Spot or on-demand, for which steps, with what fallback and which saves (docs/spot.md).

``recommend_spot`` simulates, on the same failures and preemptions (one run of every candidate
per replication), every combination of

* placement: every GPU step on demand (the reference), every GPU step on spot, or only the
  longest GPU step on spot;
* recovery: durable (a preempted step starts over), durable with a save on the notice, and the
  same with periodic saves every Young's interval sqrt(2 C M) (C the save time, M the mean life
  of a spot instance), which still help when the save does not fit in the notice;
* fallback to on-demand: never, after 1, 2 or 3 preemptions, and, with a deadline, the greedy and
  uniform-progress rules;

and recommends the cheapest candidate (mean total cost per run) whose share of runs missing the
deadline is at most ``max(reference's, max_missed)``; among candidates whose paired cost
difference with it is not significant (95%), the simplest (first in the order above).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.analysis.spot import with_deadline_misses
from sim.experiment.api import simulate
from sim.model.scenario import Scenario, scenario_from_dict
from sim.model.spot import preemption_spec
from sim.stats import paired_differences

DEFAULT_SAVE_S = 20.0


@dataclass(frozen=True)
class SpotCandidate:
    label: str
    placement: str  # "on_demand" | "spot" | "spot: STEP"
    recovery: str  # "durable" | "save on notice" | "save on notice + every X"
    fallback: str  # "never" | "after k" | "greedy" | "uniform_progress"
    table: dict  # the strategy's TOML table


@dataclass
class SpotRecommendation:
    table: pd.DataFrame  # one row per candidate
    best: str
    reference: str
    allowed_missed: float
    candidates: dict[str, SpotCandidate]
    runs: int
    persist_latency_s: float = 0.0

    def text(self) -> list[str]:
        rows = self.table.sort_values("total_cost_usd").head(8)
        best = self.candidates[self.best]
        ref = self.table.set_index("candidate").loc[self.reference]
        b = self.table.set_index("candidate").loc[self.best]
        lines = [f"spot: {len(self.table)} candidates (placement x recovery x fallback), {self.runs:,} replications "
                 "each, on the same failures and preemptions:"]
        for r in rows.itertuples():
            missed = "" if math.isnan(r.deadline_missed) else f", deadline missed {r.deadline_missed:.2%}"
            lines.append(f"  {r.candidate:<34} ${r.total_cost_usd:.4f} per run, makespan {r.makespan_s / 60:.2f} min"
                         f"{missed}, preemptions {r.preemptions:.3g}")
        lines += [
            f"spot recommended: {self.best}: capacity {best.placement}; recovery {best.recovery}; fallback to "
            f"on-demand {best.fallback}",
            f"  against {self.reference} (every step on demand): cost ${b.total_cost_usd:.4f} vs "
            f"${ref.total_cost_usd:.4f} per run ({1 - b.total_cost_usd / ref.total_cost_usd:.1%} less), makespan "
            f"{(b.makespan_s - ref.makespan_s):+.3g} s"
            + ("" if math.isnan(self.allowed_missed) else
               f"; deadline missed at most {self.allowed_missed:.2%} (the reference's, or 1%)"),
        ]
        return lines

    def scenario_raw(self, raw: dict) -> dict:
        """``raw`` (a scenario's table) with two strategies: the reference and the recommendation."""
        out = copy.deepcopy(raw)
        latency = {"persist_latency": self.persist_latency_s}
        out["strategies"] = {"on_demand": {**copy.deepcopy(self.candidates[self.reference].table), **latency},
                             "recommended": {**copy.deepcopy(self.candidates[self.best].table), **latency}}
        return out


def _candidates(scenario: Scenario, save_s: float) -> list[SpotCandidate]:
    gpu = [s for s in scenario.steps if s.kind == "gpu"]
    if not gpu:
        return []
    longest = max(gpu, key=lambda s: s.duration.mean())
    placements: list[tuple[str, object]] = [("spot", "spot")]
    if len(gpu) > 1:
        placements.append((f"spot: {longest.name}",
                           {s.name: ("spot" if s.name == longest.name else "on_demand") for s in gpu}))
    pre = scenario.failures.preemption
    life_s = math.nan
    if pre is not None and pre.at_s is None:
        life_s = preemption_spec(pre).life.mean()  # type: ignore[union-attr]
    recoveries: list[tuple[str, dict]] = [("durable", {"kind": "durable"})]
    timed = bool(scenario.pricing.schedule or scenario.pricing.traces)
    if not timed:  # (heartbeat saves are not modelled with prices that change with time)
        recoveries.append(("save on notice", {"kind": "heartbeat", "save_on_notice": True, "checkpoint_cost": save_s}))
    if math.isfinite(life_s) and save_s > 0 and not timed:
        every = math.sqrt(2.0 * save_s * life_s)
        if every < longest.duration.mean():
            recoveries.append((f"save on notice + every {every / 60:.3g} min",
                               {"kind": "heartbeat", "save_on_notice": True, "checkpoint_cost": save_s,
                                "every": every}))
    fallbacks: list[tuple[str, dict]] = [("never", {}), *((f"after {k}", {"fallback_after": k}) for k in (1, 2, 3))]
    if scenario.simulation.deadline_s is not None:
        fallbacks += [("greedy", {"fallback_rule": "greedy"}), ("uniform_progress", {"fallback_rule": "uniform_progress"})]
    out = [SpotCandidate("on_demand", "on_demand", "durable", "never", {"kind": "durable", "capacity": "on_demand"})]
    for p_name, capacity in placements:
        for r_name, r_table in recoveries:
            for f_name, f_table in fallbacks:
                label = f"{p_name} | {r_name} | {f_name}"
                out.append(SpotCandidate(label, p_name, r_name, f_name,
                                         {**r_table, "capacity": capacity, **f_table}))
    return out


def recommend_spot(scenario: Scenario, runs: int, seed: int = 0, save_s: float | None = None,
                   max_missed: float = 0.01) -> SpotRecommendation:
    """Simulate every candidate (module docstring) on ``runs`` replications and pick one."""
    if save_s is None:
        costs = [c.checkpoint_cost_s for c in scenario.strategies.values() if c.kind == "heartbeat"]
        save_s = max(costs) if costs else DEFAULT_SAVE_S
    cands = _candidates(scenario, save_s)
    if not cands:
        raise ValueError("no GPU step: spot capacity is for GPU steps")
    latency = max((getattr(c, "persist_latency_s", 0.0) for c in scenario.strategies.values()), default=0.0)
    raw = scenario.raw
    raw["strategies"] = {c.label: {**c.table, "persist_latency": latency} for c in cands}
    base = Path(scenario.path).parent if scenario.path else None
    trial = scenario_from_dict(raw, file=scenario.path or "<scenario>", base_dir=base)
    df = with_deadline_misses(trial, simulate(trial, runs, seed))
    has_deadline = "deadline_missed" in df.columns
    g = df.groupby("strategy", observed=True, sort=False)
    table = pd.DataFrame({
        "candidate": [c.label for c in cands],
        "placement": [c.placement for c in cands], "recovery": [c.recovery for c in cands],
        "fallback": [c.fallback for c in cands],
    })
    for col in ("total_cost_usd", "makespan_s", "wasted_compute_s", "preemptions", "on_demand_fallbacks"):
        table[col] = table["candidate"].map(g[col].mean())
    table["deadline_missed"] = table["candidate"].map(g["deadline_missed"].mean()) if has_deadline else math.nan
    reference = "on_demand"
    allowed = max(float(table.loc[table.candidate == reference, "deadline_missed"].iloc[0]), max_missed) \
        if has_deadline else math.nan
    ok = table if not has_deadline else table[table["deadline_missed"] <= allowed + 1e-12]
    cheapest = str(ok.sort_values("total_cost_usd")["candidate"].iloc[0])
    best = cheapest
    for c in cands:  # the simplest candidate not significantly dearer than the cheapest
        if c.label not in set(ok["candidate"]) or c.label == cheapest:
            if c.label == cheapest:
                break
            continue
        d = paired_differences(df, c.label, cheapest, metrics=["total_cost_usd"]).iloc[0]
        if d["ci_low"] <= 0.0:
            best = c.label
            break
    return SpotRecommendation(table, best, reference, allowed, {c.label: c for c in cands}, runs, latency)


@dataclass
class PauseRecommendation:
    """Which steps are worth waiting for their cheapest hours (``recommend_pauses``)."""

    table: pd.DataFrame  # one row per candidate: steps paused, saving and delay with intervals
    base: str
    runs: int

    @property
    def best(self) -> str | None:
        """The steps to pause: among the candidates whose saving is significant (interval above 0)
        and within 1% of the largest, the one with the least delay, then the fewest steps; None
        when no pause saves money."""
        ok = self.table[self.table["cost_saving_low_usd"] > 0]
        if ok.empty:
            return None
        top = ok[ok["cost_saving_usd"] >= 0.99 * ok["cost_saving_usd"].max()]
        top = top.assign(n=top["steps"].str.count(",")).sort_values(["delay_s", "n"], kind="stable")
        return str(top["steps"].iloc[0])

    def text(self) -> list[str]:
        lines = [f"off-peak: pausing each priced step for its cheapest hours, durable, {self.runs:,} replications, "
                 "against running it at once:"]
        for r in self.table.itertuples():
            per_h = r.cost_saving_usd / (r.delay_s / 3600.0) if r.delay_s > 0 else math.nan
            lines.append(f"  pause {r.steps:<40} saves ${r.cost_saving_usd:.4g} [${r.cost_saving_low_usd:.4g}, "
                         f"${r.cost_saving_high_usd:.4g}] per run ({r.cost_saving_share:+.1%}), finishes "
                         f"{r.delay_s / 3600:.3g} h later" + ("" if math.isnan(per_h) else f" (${per_h:.3g} per hour)"))
        best = self.best
        row = self.table.set_index("steps").loc[best] if best is not None else None
        lines.append("off-peak recommended: " + (
            f"pause {best} (saves ${row['cost_saving_usd']:.4g} per run, {row['delay_s'] / 3600:.3g} h later) if a "
            "run may finish that much later" if row is not None else "no step: waiting does not pay"))
        return lines


def recommend_pauses(scenario: Scenario, runs: int, seed: int = 0) -> PauseRecommendation:
    """Simulate durable execution pausing each step whose price changes with the time of day (and
    all of them), against durable running at once, on the same failures."""
    from sim.analysis.spot import paired_saving_and_delay
    from sim.model.time_prices import step_prices

    priced = [s.name for s, p in zip(scenario.steps, step_prices(scenario), strict=True) if p is not None]
    if not priced:
        raise ValueError("no step's price changes with time ([[pricing.schedule]] or [[pricing.traces]])")
    latency = max((getattr(c, "persist_latency_s", 0.0) for c in scenario.strategies.values()), default=0.0)
    sets = [[name] for name in priced] + ([priced] if len(priced) > 1 else [])
    strategies = {"at_once": {"kind": "durable", "persist_latency": latency}}
    for names in sets:
        strategies[", ".join(names)] = {"kind": "durable", "persist_latency": latency, "pause_for_off_peak": names}
    raw = scenario.raw
    raw["strategies"] = strategies
    base = Path(scenario.path).parent if scenario.path else None
    trial = scenario_from_dict(raw, file=scenario.path or "<scenario>", base_dir=base)
    df = simulate(trial, runs, seed)
    rows = [{"steps": ", ".join(names), **paired_saving_and_delay(df, ", ".join(names), "at_once")} for names in sets]
    return PauseRecommendation(pd.DataFrame(rows), "at_once", runs)
