"""Closed-form break-evens for a scenario, where the model has one (beside the simulated ones).

``analytic_breakeven(scenario, path, metric, a, b)`` reads the scenario and calls the formulas of
``sim.analysis.analytic``; the ``breakeven`` command and the report show its value next to the
simulated break-even.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.analysis import analytic
from sim.model.costs import durable_overhead_usd
from sim.model.scenario import DurableStrategy, RestartStrategy, Scenario
from sim.model.strategies import EVENTS_AT_START, EVENTS_PER_ACTIVITY


@dataclass(frozen=True)
class AnalyticValue:
    value: float | None
    formula: str
    note: str = ""


def _unlimited_retries(scenario: Scenario) -> bool:
    steps_ok = all(s.retry.maximum_attempts == 0 for s in scenario.steps)
    restart_ok = all(c.retry.maximum_attempts == 0 for c in scenario.strategies.values()
                     if isinstance(c, RestartStrategy))
    return steps_ok and restart_ok


def _durable_overhead_terms(scenario: Scenario, label: str) -> tuple[float, float, bool]:
    """(fixed $ per run, $ per activity attempt, approximate?) of the durable strategy's
    orchestration bill, from the cost model at the failure-free run: the per-attempt price is the
    bill's increase for one more attempt (actions or state transitions, tiers and plan fee
    included), the fixed part the rest (it can be negative: a bill with no workflow-start unit)."""
    price = scenario.pricing.orchestration
    n = len(scenario.steps)
    events = EVENTS_AT_START + EVENTS_PER_ACTIVITY * n
    latency = getattr(scenario.strategies[label], "persist_latency_s", 0.0)
    open_s = sum(s.duration.mean() for s in scenario.steps) + events * latency
    base = durable_overhead_usd(price, n, open_s, events)
    per_attempt = durable_overhead_usd(price, n + 1, open_s, events) - base
    approx = bool(price.per_million_action_minutes_usd or price.active_storage_per_gb_hour_usd
                  or price.retained_storage_per_gb_hour_usd or price.per_gb_second_usd or price.per_history_event_usd
                  or (price.unit_tiers and price.monthly_workflows) or price.meters or price.gb_second_tiers
                  or price.included_million_units or price.plan_minimum_usd)
    return base - per_attempt * (1 + n), per_attempt, approx


def analytic_breakeven(scenario: Scenario, path: str, metric: str, a: str, b: str) -> AnalyticValue | None:
    """The closed-form break-even of ``path`` for this scenario, or None (no closed form here).

    * ``failures.rate_limit.probability``: 429s only (no crashes, no deployments), unlimited
      retries: restart's expected cost Σ c_k Q_k/Q_n against durable's Σ c_k + overhead
      (+ per-action price × expected actions), ``analytic.breakeven_failure_probability``.
    * ``failures.crash.mtbf``: exponential crashes only, GPU steps of fixed duration, cost
      linear in compute, ``analytic.breakeven_crash_rate_per_s`` (MTBF = 1/λ). The durable
      overhead is flat only when actions, action-minutes and storage are free; otherwise it is
      evaluated without failures and the value is marked approximate.
    Only for ``total_cost_usd`` and a durable/restart pair.
    """
    if metric != "total_cost_usd":
        return None
    kinds = {type(scenario.strategies[a]), type(scenario.strategies[b])}
    if kinds != {DurableStrategy, RestartStrategy}:
        return None
    if not _unlimited_retries(scenario) or scenario.is_graph:  # the formulas are for chains
        return None
    price = scenario.pricing.orchestration
    if price.restart_per_run_usd:
        return None
    f = scenario.failures
    time_priced = bool(price.per_million_action_minutes_usd or price.active_storage_per_gb_hour_usd
                       or price.retained_storage_per_gb_hour_usd)
    if path == "failures.rate_limit.probability":
        if f.crash is not None or f.deploy is not None or f.rate_limit is None:
            return None
        costs = [scenario.step_attempt_cost_usd(s) if s.kind == "llm" else scenario.step_price_per_s(s) * s.duration.mean()
                 for s in scenario.steps]
        rl = f.rate_limit
        mask = [s.name in set(rl.steps) for s in scenario.steps] if rl.steps is not None else \
            [s.kind == "llm" for s in scenario.steps]
        fixed, per_attempt, approx = _durable_overhead_terms(scenario, a)
        try:
            value = analytic.breakeven_failure_probability(costs, fixed, mask, per_attempt)
        except ValueError:
            return AnalyticValue(None, "per-call failure probability", "no break-even in closed form")
        failing = [s.name for s, m in zip(scenario.steps, mask, strict=True) if m]
        before = sum(c for c, m in zip(costs, mask, strict=True) if not m)
        formula = "restart Σc_k·Q_k/Q_n = durable Σc_k + overhead + per-attempt price × E[attempts]"
        if len(failing) == 1 and mask[-1] and not per_attempt:
            formula = (f"c·p/(1−p) = overhead, c = ${before:.4g} (steps before {failing[0]}), "
                       f"overhead = ${fixed:.4g}: p = overhead/(c + overhead)")
        note = ("approximate: storage, run time and volume tiers are priced at the failure-free run "
                "(retries add waiting time and history the closed form leaves out)") if approx else ""
        return AnalyticValue(value, formula, note)
    if path == "failures.crash.mtbf":
        if f.crash is None or f.crash.distribution != "exponential" or f.deploy is not None:
            return None
        if f.rate_limit is not None and f.rate_limit.probability > 0:
            return None
        if any(s.kind != "gpu" or s.duration.is_random for s in scenario.steps):
            return None
        work = [s.duration.mean() for s in scenario.steps]
        prices = [scenario.step_price_per_s(s) for s in scenario.steps]
        n = len(work)
        approx = bool(price.per_million_actions_usd) or time_priced
        overhead = price.per_workflow_run_usd + (1 + n) * price.per_million_actions_usd / 1e6
        if time_priced:
            open_min = sum(work) / 60.0
            overhead += open_min * price.per_million_action_minutes_usd / 1e6
        if overhead <= 0:
            return AnalyticValue(None, "exponential crashes", "durable has no overhead: it never costs more")
        try:
            lam = analytic.breakeven_crash_rate_per_s(work, prices, overhead)
        except ValueError:
            return AnalyticValue(None, "exponential crashes", "no break-even in closed form")
        note = "approximate: the orchestration overhead is taken without failures" if approx else ""
        return AnalyticValue(1.0 / lam, "exponential crashes, compute cost linear in busy time "
                             f"(overhead ${overhead:.4g} per run): MTBF = 1/λ*", note)
    return None
