"""Orchestration cost model: billable actions, history storage and run time → dollars.

Temporal bills *actions*: a workflow start, each activity task scheduled or retried (every
attempt), each heartbeat that reaches the server, timers, signals. History is stored while the
workflow is open (active storage) and for the retention period after it closes (retained
storage). The article also quotes a price per million "action-minutes" for workflow run time;
we bill it per minute the workflow is open. A classic orchestrator (restart, retry-in-place)
pays its own per-run and per-minute prices instead. Every orchestration cost column comes from
here; docs/costs.md explains each price.

Contract with the engines (``sim.experiment.api``, ``sim.engines.fleet.metrics``): ``OrchestrationUsage.actions``
is what the engine counted — for a durable run ``durable_actions(unit_attempts)`` = 1 workflow
start + 1 per activity attempt; ``pipeline_runs`` is the number of units attempted (activity
attempts for durable, pipeline attempts for restart); ``open_time_s`` is the time the workflow
is open (the makespan). Heartbeats, timers and signals configured in the pricing table are
added by ``billable_actions`` from those counts, so the cost is a pure function of the result
columns ``orchestration_actions``, ``history_events``, ``makespan_s``, the activity attempts
(``orchestration_actions − 1`` for the single-pipeline engine) and the prices.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from sim.model.scenario import OrchestrationPrice, load_pricing_profile

GB = 1e9
HOURS_PER_DAY = 24.0

COMPONENTS = ("per_run", "actions", "action_minutes", "active_storage", "retained_storage", "surcharge")


@dataclass(frozen=True)
class OrchestrationUsage:
    """What one run consumed of the orchestrator (arrays broadcast)."""

    actions: np.ndarray
    history_events: np.ndarray
    open_time_s: np.ndarray
    pipeline_runs: np.ndarray


def durable_actions(unit_attempts: np.ndarray, heartbeats: np.ndarray | int = 0,
                    timers: np.ndarray | int = 0, signals: np.ndarray | int = 0) -> np.ndarray:
    """Billable actions of a durable run: 1 workflow start + one per activity attempt + extras."""
    return 1 + np.asarray(unit_attempts) + np.asarray(heartbeats) + np.asarray(timers) + np.asarray(signals)


def billable_actions(engine_actions: np.ndarray | float, activity_attempts: np.ndarray | float,
                     price: OrchestrationPrice) -> np.ndarray:
    """Actions Temporal bills for a durable run: what the engine counted (1 start + one per
    activity attempt, plus the heartbeats an engine models itself, as ``sim.engines.fleet`` does) plus
    the extras of ``price``: ``heartbeats_per_activity_attempt`` × activity attempts (for engines
    that do not model heartbeats; leave it 0 otherwise), ``timers_per_run``, ``signals_per_run``."""
    actions = np.asarray(engine_actions, dtype=np.float64)
    attempts = np.asarray(activity_attempts, dtype=np.float64)
    return (actions + price.heartbeats_per_activity_attempt * attempts
            + price.timers_per_run + price.signals_per_run)


def history_bytes(history_events: np.ndarray | float, price: OrchestrationPrice) -> np.ndarray:
    """Event-history size of a run: events × ``bytes_per_history_event``."""
    return np.asarray(history_events, dtype=np.float64) * price.bytes_per_history_event


def _shape(usage: OrchestrationUsage) -> tuple[int, ...]:
    return np.broadcast_shapes(*(np.shape(np.asarray(v)) for v in
                                 (usage.actions, usage.history_events, usage.open_time_s, usage.pipeline_runs)))


def _charged(price: float, amount):
    """``amount()`` dollars, or 0 without computing it when the price is 0 (not charged)."""
    return amount() if price else 0.0


def _components_usd(records_history: bool, usage: OrchestrationUsage,
                    price: OrchestrationPrice) -> dict[str, np.ndarray | float]:
    """The components of ``orchestration_breakdown_usd``: a scalar 0 for a price not charged, and
    a scalar wherever the value does not vary by run, so no array work is spent on them."""
    p = price

    def open_min() -> np.ndarray:
        return np.asarray(usage.open_time_s, dtype=np.float64) / 60.0

    if not records_history:
        return {
            "per_run": _charged(p.restart_per_run_usd,
                                lambda: np.asarray(usage.pipeline_runs, dtype=np.float64) * p.restart_per_run_usd),
            "actions": 0.0,
            "action_minutes": _charged(p.restart_per_run_minute_usd, lambda: open_min() * p.restart_per_run_minute_usd),
            "active_storage": 0.0, "retained_storage": 0.0, "surcharge": 0.0,
        }

    def history_gb() -> np.ndarray:
        return history_bytes(usage.history_events, p) / GB

    parts = {
        "per_run": p.per_workflow_run_usd,
        "actions": _charged(p.per_million_actions_usd, lambda: billable_actions(usage.actions, usage.pipeline_runs, p)
                            * p.per_million_actions_usd / 1e6),
        "action_minutes": _charged(p.per_million_action_minutes_usd,
                                   lambda: open_min() * p.per_million_action_minutes_usd / 1e6),
        "active_storage": _charged(p.active_storage_per_gb_hour_usd,
                                   lambda: history_gb() * (open_min() / 60.0) * p.active_storage_per_gb_hour_usd),
        "retained_storage": _charged(p.retained_storage_per_gb_hour_usd, lambda: history_gb() * p.retention_days
                                     * HOURS_PER_DAY * p.retained_storage_per_gb_hour_usd),
    }
    spend = parts["actions"] + parts["active_storage"] + parts["retained_storage"]
    parts["surcharge"] = _charged(p.usage_surcharge_fraction, lambda: p.usage_surcharge_fraction * spend)
    return parts


def orchestration_breakdown_usd(records_history: bool, usage: OrchestrationUsage,
                                price: OrchestrationPrice) -> dict[str, np.ndarray]:
    """Dollars of orchestration per run, by component (keys ``COMPONENTS``; they sum to the total).

    Durable (``records_history``):
    * ``per_run``: ``per_workflow_run_usd`` (a flat quoted figure);
    * ``actions``: ``billable_actions × per_million_actions_usd / 1e6``;
    * ``action_minutes``: minutes open × ``per_million_action_minutes_usd / 1e6``;
    * ``active_storage``: history GB × hours open × ``active_storage_per_gb_hour_usd`` (the final
      history size over the whole open time: an upper bound, the history grows while open);
    * ``retained_storage``: history GB × ``retention_days`` × 24 h × ``retained_storage_per_gb_hour_usd``;
    * ``surcharge``: ``usage_surcharge_fraction`` × (actions + storage), a plan fee charged as a
      share of usage spend.
    Restart / retry-in-place: ``per_run`` = pipeline runs × ``restart_per_run_usd`` and
    ``action_minutes`` = minutes open × ``restart_per_run_minute_usd``; nothing else.
    """
    shape = _shape(usage)
    return {name: np.broadcast_to(value, shape).astype(np.float64)
            for name, value in _components_usd(records_history, usage, price).items()}


def orchestration_cost_usd(records_history: bool, usage: OrchestrationUsage, price: OrchestrationPrice) -> np.ndarray:
    """Dollars of orchestration for each run: the sum of ``orchestration_breakdown_usd``."""
    total = np.zeros(_shape(usage))
    for value in _components_usd(records_history, usage, price).values():
        if np.ndim(value) or value:  # adding 0.0 changes nothing
            total += value  # in COMPONENTS order, as the breakdown lists them
    return total


def durable_overhead_usd(price: OrchestrationPrice, activity_attempts: float, open_time_s: float,
                         history_events: float) -> float:
    """Orchestration cost of one durable run with the given usage (for tables and closed forms)."""
    usage = OrchestrationUsage(actions=np.asarray(1.0 + activity_attempts), history_events=np.asarray(float(history_events)),
                               open_time_s=np.asarray(float(open_time_s)), pipeline_runs=np.asarray(float(activity_attempts)))
    return float(orchestration_cost_usd(True, usage, price))


def per_action_usd(price: OrchestrationPrice) -> float:
    """Marginal $ of one more activity attempt (its action, its heartbeats, the surcharge)."""
    return ((1.0 + price.heartbeats_per_activity_attempt) * price.per_million_actions_usd / 1e6
            * (1.0 + price.usage_surcharge_fraction))


# --------------------------------------------------------------------------- profiles


def orchestration_price(profile: str) -> OrchestrationPrice:
    """The ``[orchestration]`` table of a pricing profile (bundled name or TOML path)."""
    table, _ = load_pricing_profile(profile)
    return OrchestrationPrice.model_validate(table.get("orchestration", {}))


def with_orchestration_profile(raw: dict, profile: str) -> dict:
    """A copy of a scenario table whose ``[pricing.orchestration]`` is replaced by ``profile``'s.

    AI prices (models, GPUs) stay those of the scenario; only the orchestrator changes. Used to
    compare the same pipeline under several orchestration price lists.
    """
    out = copy.deepcopy(raw)
    pricing = dict(out.get("pricing", {}))
    # every field spelled out: the scenario's own profile must not leak prices into this one
    pricing["orchestration"] = orchestration_price(profile).model_dump()
    out["pricing"] = pricing
    return out
