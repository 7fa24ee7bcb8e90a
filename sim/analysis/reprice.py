"""The same simulated runs priced under other orchestration price lists (no new simulation).

Every orchestration cost is a pure function of a run's counts (``sim.model.costs``): billable
actions, history events, the time the workflow is open, activity attempts. :func:`reprice`
recomputes ``orchestration_cost_usd`` and ``total_cost_usd`` of a runs table from those
columns under another orchestration profile; :func:`price_alternatives` gives each profile's
saving on the same runs (the report's "does the verdict flip?"). The side-by-side comparison
with break-evens (``sim compare``) is ``sim.analysis.report.compare``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim import stats
from sim.analysis.saving import Saving, saving_of
from sim.errors import ScenarioError, SimError
from sim.model.costs import (
    OrchestrationUsage,
    activity_time_limit_problem,
    exceeds_duration_limit,
    orchestration_cost_usd,
    orchestration_profiles,
    with_orchestration_profile,
)
from sim.model.scenario import Scenario, scenario_from_dict
from sim.model.strategies import behaviour

#: columns a runs table needs for repricing
COUNT_COLUMNS = ("strategy", "makespan_s", "compute_cost_usd", "orchestration_actions", "history_events", "heartbeats")


class RepriceError(SimError):
    """Runs or a scenario that cannot be repriced."""


def with_orchestration(scenario: Scenario, profile: str) -> Scenario:
    """``scenario`` with its orchestration prices from ``profile`` (models, GPUs and the monthly
    volume unchanged)."""
    base = Path(scenario.path).parent if scenario.path else None
    return scenario_from_dict(with_orchestration_profile(scenario.raw, profile), file=scenario.path or "<scenario>",
                              base_dir=base)


def usage_of(runs: pd.DataFrame, records_history: bool) -> OrchestrationUsage:
    """A strategy's orchestrator usage recovered from its runs' columns: for a durable run the
    engines count ``orchestration_actions`` = 1 workflow start + activity attempts + heartbeats,
    so the activity attempts are ``orchestration_actions − 1 − heartbeats``; for restart the
    column holds the pipeline attempts."""
    actions = runs["orchestration_actions"].to_numpy(dtype=np.float64)
    attempts = actions - 1.0 - runs["heartbeats"].to_numpy(dtype=np.float64) if records_history else actions
    return OrchestrationUsage(actions=actions, history_events=runs["history_events"].to_numpy(dtype=np.float64),
                              open_time_s=runs["makespan_s"].to_numpy(dtype=np.float64), pipeline_runs=attempts)


def reprice(runs: pd.DataFrame, scenario: Scenario, profile: str | None = None) -> pd.DataFrame:
    """A copy of ``runs`` (simulated from ``scenario``) with ``orchestration_cost_usd`` and
    ``total_cost_usd`` recomputed under the orchestration profile ``profile`` (None: the
    scenario's own prices). Runs the service cannot execute (longer than its maximum duration)
    cost NaN."""
    missing = [c for c in COUNT_COLUMNS if c not in runs.columns]
    if missing:
        raise RepriceError(f"the runs table lacks {', '.join(missing)}: it cannot be repriced")
    priced = scenario if profile is None else with_orchestration(scenario, profile)
    price = priced.pricing.orchestration
    out = runs.copy()
    orch = np.zeros(len(out))
    labels = out["strategy"].astype(str).to_numpy()
    for label, cfg in scenario.strategies.items():
        mask = labels == label
        if mask.any():
            beh = behaviour(label, cfg)
            orch[mask] = orchestration_cost_usd(beh.records_history, usage_of(out.loc[mask], beh.records_history), price)
    out["orchestration_cost_usd"] = orch
    out["total_cost_usd"] = out["compute_cost_usd"].to_numpy(dtype=np.float64) + orch
    return out


def price_alternatives(runs: pd.DataFrame, scenario: Scenario, a: str, b: str,
                       profiles: Sequence[str] | None = None,
                       confidence: float = 0.95) -> list[tuple[str, Saving | None, str]]:
    """For each orchestration profile (default: every bundled one): (profile, saving of ``a``
    over ``b`` on these same runs, why not). The saving is None, with the reason, when the
    scenario cannot be priced under the profile (e.g. a fixed monthly cost and no monthly
    volume) or some of ``a``'s runs exceed the service's maximum duration (Express: 5 minutes)."""
    out: list[tuple[str, Saving | None, str]] = []
    for profile in (list(profiles) if profiles else orchestration_profiles()):
        try:
            var = with_orchestration(scenario, profile)
        except ScenarioError as exc:
            out.append((profile, None, f"cannot be priced: {exc.problem} (key {exc.key})"))
            continue
        too_long = activity_time_limit_problem(scenario.steps, var.pricing.orchestration)
        if too_long is not None:
            out.append((profile, None, f"cannot run this pipeline: {too_long}"))
            continue
        priced = reprice(runs, scenario, profile)
        is_a = priced["strategy"].astype(str) == a
        over = float(np.mean(exceeds_duration_limit(priced.loc[is_a, "makespan_s"], var.pricing.orchestration)))
        if over > 0:
            limit = var.pricing.orchestration.max_duration_s
            out.append((profile, None, f"cannot run this pipeline: {over:.2%} of {a}'s runs last longer than the "
                                       f"{limit:g} s it allows"))
            continue
        paired = stats.paired_differences(priced, a, b, metrics=["total_cost_usd"], confidence=confidence)
        out.append((profile, saving_of(paired.assign(a=a, b=b), a, b), ""))
    return out
