"""The month's orchestration bill under each price list and plan, by monthly volume (``sim compare
--monthly-workflows``, the report's "Which price list?").

A run's orchestration cost is its share of a month of ``W`` runs like it (``sim.model.costs``), so
``W`` × the mean cost per run of the durable-style strategy is the month's bill: plan minimums,
included allowances, free grants and volume tiers included. For each profile and volume this
module gives that bill with its interval, the part that is the plan fee, what decides the bill
(the plan's minimum, the volume tiers, usage at a flat price, a free allowance, a fixed cost), the
paired saving per run at that volume, and the volume below which a plan's minimum is at least
half the bill.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim import stats
from sim.analysis.reprice import reprice, usage_of, with_orchestration
from sim.analysis.saving import Saving, saving_of
from sim.errors import ScenarioError
from sim.model.costs import (
    OrchestrationUsage,
    activity_time_limit_problem,
    billable_units,
    exceeds_duration_limit,
    express_gb_seconds,
    first_paid_rate_usd,
    marginal_rate_usd,
    orchestration_breakdown_usd,
)
from sim.model.scenario import OrchestrationPrice, Scenario, scenario_from_dict
from sim.model.strategies import behaviour

DECIDERS = ("minimum", "tiers", "usage", "free allowance", "fixed cost", "per-run price", "cannot run", "cannot price")


@dataclass(frozen=True)
class MonthlyBill:
    """One profile's month at one volume."""

    profile: str
    plan: str
    workflows: float
    bill_usd: tuple[float, float, float]  # the durable-style strategy's month: mean, ci_low, ci_high
    plan_fee_usd: float  # the part of the bill that is the plan fee (minimum or percentage)
    minimum_usd: float  # the plan's monthly minimum (0: none)
    decided_by: str  # one of DECIDERS
    saving: Saving | None  # per run, of a over b, at this volume
    note: str = ""


def with_volume(scenario: Scenario, workflows: float) -> Scenario:
    """``scenario`` with ``[pricing] monthly_workflows`` = ``workflows``."""
    raw = dict(scenario.raw)
    raw["pricing"] = {**raw.get("pricing", {}), "monthly_workflows": float(workflows)}
    orch = raw["pricing"].get("orchestration")
    if isinstance(orch, dict) and "monthly_workflows" in orch:
        raw["pricing"]["orchestration"] = {k: v for k, v in orch.items() if k != "monthly_workflows"}
    base = Path(scenario.path).parent if scenario.path else None
    return scenario_from_dict(raw, file=scenario.path or "<scenario>", base_dir=base)


def _month_parts(runs: pd.DataFrame, label: str, scenario: Scenario, price: OrchestrationPrice
                 ) -> dict[str, float]:
    """Mean orchestration dollars per run of ``label``'s runs, by component."""
    beh = behaviour(label, scenario.strategies[label])
    usage = usage_of(runs[runs["strategy"].astype(str) == label], beh.records_history)
    return {k: float(np.mean(v)) for k, v in orchestration_breakdown_usd(beh.records_history, usage, price).items()}


def _in_lower_tier(month_units: float, tiers: list) -> bool:
    """Whether a month of ``month_units`` reaches a tier cheaper than the first paid one."""
    return bool(tiers) and month_units > 0 and float(marginal_rate_usd(month_units, tiers)) < first_paid_rate_usd(tiers)


def _decided_by(parts: dict[str, float], price: OrchestrationPrice, usage: OrchestrationUsage) -> str:
    """What decides the month's bill: the plan's minimum (when it is the fee and at least half the
    bill), a fixed monthly cost or a flat per-run price (at least half), nothing to pay (a free
    allowance covers the month), the volume tiers (the month reaches a cheaper tier), or usage."""
    w = price.monthly_workflows
    total = sum(parts.values())
    fee = parts["surcharge"]
    if price.plan_minimum_usd and fee >= total - fee and fee <= price.plan_minimum_usd / w * (1 + 1e-9):
        return "minimum"
    if price.monthly_fixed_usd and parts["fixed_monthly"] >= total / 2:
        return "fixed cost"
    if price.per_workflow_run_usd and parts["per_run"] >= total / 2:
        return "per-run price"
    if total == 0:
        return "free allowance"
    units = float(np.mean(billable_units(usage.actions, usage.pipeline_runs, price))) * w - price.included_million_units * 1e6
    gbs = float(np.mean(express_gb_seconds(usage.open_time_s, price))) * w
    if _in_lower_tier(units, price.tiers) or _in_lower_tier(gbs, price.gb_second_tiers):
        return "tiers"
    return "usage"


def monthly_bills(runs: pd.DataFrame, scenario: Scenario, a: str, b: str, profiles: Sequence[str],
                  volumes: Sequence[float], confidence: float = 0.95) -> list[MonthlyBill]:
    """For each profile and monthly volume: the month's bill of ``a`` (the durable-style strategy)
    on these runs, its plan fee, what decides it, and the saving of ``a`` over ``b`` per run."""
    out: list[MonthlyBill] = []
    is_a = runs["strategy"].astype(str) == a
    for w in volumes:
        scenario_w = with_volume(scenario, w)
        for profile in profiles:
            try:
                var = with_orchestration(scenario_w, profile)
            except ScenarioError as exc:
                out.append(MonthlyBill(profile, "", w, (math.nan,) * 3, math.nan, 0.0, "cannot price", None,
                                       f"cannot be priced: {exc.problem}"))
                continue
            price = var.pricing.orchestration
            plan = var.pricing.orchestration_profile.plan
            too_long = activity_time_limit_problem(scenario.steps, price)
            if too_long is not None:
                out.append(MonthlyBill(profile, plan, w, (math.nan,) * 3, math.nan, price.plan_minimum_usd,
                                       "cannot run", None, too_long))
                continue
            over = float(np.mean(exceeds_duration_limit(runs.loc[is_a, "makespan_s"], price)))
            if over > 0:
                out.append(MonthlyBill(profile, plan, w, (math.nan,) * 3, math.nan, price.plan_minimum_usd,
                                       "cannot run", None, f"{over:.2%} of {a}'s runs last longer than the "
                                       f"{price.max_duration_s:g} s the service allows"))
                continue
            priced = reprice(runs, scenario_w, profile)
            cost = priced.loc[is_a, "orchestration_cost_usd"].to_numpy(dtype=np.float64)
            m = float(cost.mean())
            half = stats.t_half_width(float(cost.std(ddof=1)) / math.sqrt(len(cost)), len(cost), confidence) \
                if len(cost) > 1 else math.nan
            parts = _month_parts(runs, a, scenario, price)
            usage = usage_of(runs[is_a], behaviour(a, scenario.strategies[a]).records_history)
            paired = stats.paired_differences(priced, a, b, metrics=["total_cost_usd"], confidence=confidence)
            out.append(MonthlyBill(profile, plan, w, (m * w, (m - half) * w, (m + half) * w), parts["surcharge"] * w,
                                   price.plan_minimum_usd, _decided_by(parts, price, usage),
                                   saving_of(paired.assign(a=a, b=b), a, b)))
    return out


def minimum_decides_below(runs: pd.DataFrame, scenario: Scenario, a: str, profile: str) -> float | None:
    """The monthly volume below which the plan's minimum is at least half of ``a``'s month's bill
    (the minimum is at least the usage it comes on top of), or None for a profile without a
    minimum. Found by bisection on the volume: the month's usage grows with it."""
    price0 = with_orchestration(with_volume(scenario, 1.0), profile).pricing.orchestration
    if not price0.plan_minimum_usd:
        return None

    def usage_minus_minimum(w: float) -> float:
        price = price0.model_copy(update={"monthly_workflows": w})
        parts = _month_parts(runs, a, scenario, price)
        usage = (sum(parts.values()) - parts["surcharge"]) * w
        return usage - price.plan_minimum_usd

    lo, hi = 1.0, 1e13
    if usage_minus_minimum(hi) < 0:
        return math.inf
    if usage_minus_minimum(lo) >= 0:
        return lo
    for _ in range(200):  # geometric bisection to 1e-9 relative
        mid = math.sqrt(lo * hi)
        if usage_minus_minimum(mid) < 0:
            lo = mid
        else:
            hi = mid
        if hi / lo - 1 < 1e-9:
            break
    return hi


def volume_text(w: float) -> str:
    """"10,000", "2.5 M", "10 M", "1.2 B" workflows."""
    if not math.isfinite(w):
        return "any volume"
    if w >= 1e9:
        return f"{w / 1e9:.3g} B"
    if w >= 1e6:
        return f"{w / 1e6:.3g} M"
    return f"{float(f'{w:.3g}'):,.0f}"



def minimum_thresholds(runs: pd.DataFrame, scenario: Scenario, a: str, profiles: Sequence[str]) -> dict[str, float]:
    """``minimum_decides_below`` of each profile that has a plan minimum and can price the scenario."""
    out = {}
    for profile in profiles:
        try:
            below = minimum_decides_below(runs, scenario, a, profile)
        except ScenarioError:
            continue
        if below is not None:
            out[profile] = below
    return out
