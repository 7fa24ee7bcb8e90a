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
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.model.billing import ACTIONS_PER_UNIT, HEARTBEAT_ACTIONS
from sim.model.scenario import Meter, OrchestrationPrice, PriceTier, Step, load_pricing_profile

GB = 1e9
MB_PER_GB_AWS = 1024.0  # AWS bills memory in MB chunks and duration in GB-seconds of 1,024 MB
HOURS_PER_DAY = 24.0

COMPONENTS = ("per_run", "actions", "action_minutes", "active_storage", "retained_storage", "surcharge",
              "requests", "gb_seconds", "fixed_monthly", "event_storage", "meters")


@dataclass(frozen=True)
class OrchestrationUsage:
    """What one run consumed of the orchestrator (arrays broadcast)."""

    actions: np.ndarray
    history_events: np.ndarray
    open_time_s: np.ndarray
    pipeline_runs: np.ndarray


def durable_actions(unit_attempts: np.ndarray, heartbeats: np.ndarray | int = 0,
                    timers: np.ndarray | int = 0, signals: np.ndarray | int = 0) -> np.ndarray:
    """Billable actions of a durable run (``sim.model.billing``'s rule): the workflow start, one per
    activity attempt (its first is ``schedule_activity``, each retry ``retry_activity``), one per
    heartbeat, timer and signal."""
    return (ACTIONS_PER_UNIT["start_workflow"] + _weighted(ACTIONS_PER_UNIT["retry_activity"], unit_attempts)
            + _weighted(HEARTBEAT_ACTIONS, heartbeats) + _weighted(ACTIONS_PER_UNIT["start_timer"], timers)
            + _weighted(ACTIONS_PER_UNIT["signal_workflow"], signals))


def _weighted(actions_per_unit: int, count: np.ndarray | int) -> np.ndarray:
    """``count`` × actions per unit (no array work for a weight of 1: the engines' hot path)."""
    return np.asarray(count) if actions_per_unit == 1 else actions_per_unit * np.asarray(count)


def billable_actions(engine_actions: np.ndarray | float, activity_attempts: np.ndarray | float,
                     price: OrchestrationPrice) -> np.ndarray:
    """Actions Temporal bills for a durable run: what the engine counted (1 start + one per
    activity attempt, plus the heartbeats an engine models itself, as ``sim.engines.fleet`` does) plus
    the extras of ``price``: ``heartbeats_per_activity_attempt`` × activity attempts (for engines
    that do not model heartbeats; leave it 0 otherwise), ``timers_per_run``, ``signals_per_run``."""
    actions = np.asarray(engine_actions, dtype=np.float64)
    if not (price.heartbeats_per_activity_attempt or price.timers_per_run or price.signals_per_run):
        return actions  # (adding zeros to finite counts changes no bit: skipped)
    attempts = np.asarray(activity_attempts, dtype=np.float64)
    return (actions + HEARTBEAT_ACTIONS * price.heartbeats_per_activity_attempt * attempts
            + ACTIONS_PER_UNIT["start_timer"] * price.timers_per_run
            + ACTIONS_PER_UNIT["signal_workflow"] * price.signals_per_run)


def history_bytes(history_events: np.ndarray | float, price: OrchestrationPrice) -> np.ndarray:
    """Event-history size of a run: events × ``bytes_per_history_event``."""
    return np.asarray(history_events, dtype=np.float64) * price.bytes_per_history_event


def billable_units(engine_actions: np.ndarray | float, activity_attempts: np.ndarray | float,
                   price: OrchestrationPrice) -> np.ndarray:
    """The units ``per_million_actions_usd`` and ``unit_tiers`` price, per durable run: Temporal
    actions (``billable_actions``), or Step Functions state transitions (one per activity attempt,
    every retry included, plus ``state_transitions_per_run``; heartbeats, timers and signals are
    not transitions)."""
    if price.billable_unit == "state_transitions":
        return np.asarray(activity_attempts, dtype=np.float64) + price.state_transitions_per_run
    return billable_actions(engine_actions, activity_attempts, price)


def tiered_bill_usd(units_per_month: np.ndarray | float, tiers: list[PriceTier]) -> np.ndarray:
    """The month's bill for ``units_per_month`` units under volume tiers (each tier's price
    applies to the units that fall in it)."""
    x = np.asarray(units_per_month, dtype=np.float64)
    lowest, highest = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    bill = None  # the sum of the tiers' parts, in tier order (0.0 + the first part is that part)
    low = 0.0
    for tier in tiers:
        if highest <= low:  # no unit reaches this tier (nor any later one): each would add 0.0
            break
        high = np.inf if tier.up_to_million is None else tier.up_to_million * 1e6
        rate = tier.per_million_usd / 1e6
        if lowest >= high:  # every month fills this tier: the same amount for all (rounding is monotone)
            part = (high - low) * rate
        elif lowest >= low and highest <= high:  # every month ends in this tier: nothing to clip
            part = (x - low) * rate
        else:
            part = np.clip(x - low, 0.0, high - low) * rate
        bill = part if bill is None else bill + part
        low = high
    if bill is None:
        return np.zeros_like(x)
    return bill if np.ndim(bill) == np.ndim(x) else np.zeros_like(x) + bill


def marginal_rate_usd(units_per_month: np.ndarray | float, tiers: list[PriceTier]) -> np.ndarray:
    """$ per unit of the tier the month's ``units_per_month``-th unit falls in."""
    x = np.asarray(units_per_month, dtype=np.float64)
    rate = np.full_like(x, tiers[-1].per_million_usd / 1e6)
    for tier in reversed(tiers[:-1]):
        rate = np.where(x <= tier.up_to_million * 1e6, tier.per_million_usd / 1e6, rate)
    return rate


def first_paid_rate_usd(tiers: list[PriceTier]) -> float:
    """$ per unit of the first tier with a price (free allowances skipped)."""
    return next((t.per_million_usd for t in tiers if t.per_million_usd > 0), 0.0) / 1e6


def units_usd(units: np.ndarray | float, price: OrchestrationPrice) -> np.ndarray:
    """$ of a durable run's billable units.

    * a flat ``per_million_actions_usd`` (or the ``region``'s price): units × price, less the
      run's share of ``included_million_units`` when the monthly volume is known;
    * ``unit_tiers`` with ``monthly_workflows`` = W: the month is taken to consist of W runs
      like this one (W × units in the month, less the plan's ``included_million_units``).
      ``tier_price = "average"`` bills the run its share of that month's bill, bill(W × units −
      included) / W, so the runs of a month add up to the bill; ``"marginal"`` bills units × the
      price of the tier the month ends in (0 within the allowance: what one more run costs an
      account of that volume);
    * ``unit_tiers`` without a monthly volume: units × the first paid tier's price (free
      allowances and included units are not applied).
    """
    u = np.asarray(units, dtype=np.float64)
    tiers = price.tiers
    w = price.monthly_workflows
    included = price.included_million_units * 1e6
    if not tiers:
        if included and w is not None:
            return np.maximum(w * u - included, 0.0) * price.flat_per_million_usd / 1e6 / w
        return u * price.flat_per_million_usd / 1e6
    if w is None:
        return u * first_paid_rate_usd(tiers)
    month = w * u
    if included:
        month = np.maximum(month - included, 0.0)
    if price.tier_price == "marginal":
        rate = marginal_rate_usd(month, tiers)
        return u * (np.where(month > 0, rate, 0.0) if included else rate)
    return tiered_bill_usd(month, tiers) / w


def meter_units(meter: Meter, usage: OrchestrationUsage) -> np.ndarray:
    """Units of ``meter`` a durable run uses: per run + per activity attempt + per history event."""
    units = np.asarray(meter.per_run, dtype=np.float64)
    if meter.per_activity_attempt:
        units = units + meter.per_activity_attempt * np.asarray(usage.pipeline_runs, dtype=np.float64)
    if meter.per_history_event:
        units = units + meter.per_history_event * np.asarray(usage.history_events, dtype=np.float64)
    return units


def monthly_tiered_usd(units: np.ndarray | float, tiers: list[PriceTier], monthly_workflows: float | None
                       ) -> np.ndarray:
    """$ per run of ``units`` per run under monthly volume ``tiers``: the run's share of a month of
    W runs like it, bill(W × units) / W; without W, units × the first paid tier's price."""
    u = np.asarray(units, dtype=np.float64)
    if monthly_workflows is None:
        return u * first_paid_rate_usd(tiers)
    return tiered_bill_usd(monthly_workflows * u, tiers) / monthly_workflows


def storage_usd(gb_hours: np.ndarray, included_gb: float, price_per_gb_hour: float,
                price: OrchestrationPrice) -> np.ndarray:
    """$ of a run's storage, GB-hours × price, less its share of the plan's included storage
    (``included_gb`` × ``gbh_per_included_gb`` GB-hours a month) when the monthly volume is known."""
    w = price.monthly_workflows
    if included_gb and w is not None:
        return np.maximum(w * gb_hours - included_gb * price.gbh_per_included_gb, 0.0) * price_per_gb_hour / w
    return gb_hours * price_per_gb_hour


def plan_fee_usd(usage_spend_usd: np.ndarray | float, price: OrchestrationPrice) -> np.ndarray:
    """The plan fee of a run: ``usage_surcharge_fraction`` × its usage spend, or its share of the
    plan's monthly minimum, ``plan_minimum_usd`` / W, whichever is greater (Temporal Cloud: "the
    greater of the minimum monthly price or a percent of your consumption spend")."""
    fee = price.usage_surcharge_fraction * np.asarray(usage_spend_usd, dtype=np.float64)
    if price.plan_minimum_usd:
        if price.monthly_workflows is None:
            raise ValueError("a plan minimum needs the monthly volume (monthly_workflows)")
        fee = np.maximum(fee, price.plan_minimum_usd / price.monthly_workflows)
    return fee


def express_gb_seconds(open_time_s: np.ndarray | float, price: OrchestrationPrice) -> np.ndarray:
    """Billed GB-seconds of an Express execution: duration rounded up to ``duration_increment_s``,
    memory rounded up to ``memory_increment_mb`` (MB of 1,024 per GB)."""
    t = np.asarray(open_time_s, dtype=np.float64)
    if price.duration_increment_s > 0:
        t = np.ceil(np.round(t / price.duration_increment_s, 9)) * price.duration_increment_s
    mem = price.memory_mb
    if price.memory_increment_mb > 0:
        mem = math.ceil(mem / price.memory_increment_mb) * price.memory_increment_mb
    return t * (mem / MB_PER_GB_AWS)


def exceeds_duration_limit(open_time_s: np.ndarray | float, price: OrchestrationPrice) -> np.ndarray:
    """Runs the service could not execute: open longer than ``max_duration_s`` (Express: 5 min)."""
    t = np.asarray(open_time_s, dtype=np.float64)
    if price.max_duration_s is None:
        return np.zeros(t.shape, dtype=bool)
    return t > price.max_duration_s


def activity_time_limit_problem(steps: Sequence[Step], price: OrchestrationPrice) -> str | None:
    """Why the service cannot run these steps as activities, or None: a step (not a wait) whose
    attempts can last longer than ``max_activity_duration_s`` (each such attempt is killed at the
    limit, and so is every retry of a fixed-length step). The share of draws over the limit is
    read from the duration's inverse CDF on a grid of 10,000 quantiles."""
    limit = price.max_activity_duration_s
    if limit is None:
        return None
    u = (np.arange(10_000) + 0.5) / 10_000
    for step in steps:
        if step.is_wait:
            continue
        share = float(np.mean(np.asarray(step.duration.ppf(u), dtype=np.float64) > limit))
        if share > 0:
            return (f"step '{step.name}' lasts longer than the {limit:g} s an activity may run on this service in "
                    f"{share:.0%} of its draws (mean {step.duration.mean():.4g} s)")
    return None


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
        parts = {
            "per_run": _charged(p.restart_per_run_usd,
                                lambda: np.asarray(usage.pipeline_runs, dtype=np.float64) * p.restart_per_run_usd),
            "actions": 0.0,
            "action_minutes": _charged(p.restart_per_run_minute_usd, lambda: open_min() * p.restart_per_run_minute_usd),
            "active_storage": 0.0, "retained_storage": 0.0, "surcharge": 0.0,
            "requests": 0.0, "gb_seconds": 0.0, "fixed_monthly": 0.0, "event_storage": 0.0, "meters": 0.0,
        }
        return {k: v * p.price_factor for k, v in parts.items()} if p.price_factor != 1.0 else parts

    history: list[np.ndarray] = []

    def history_gb() -> np.ndarray:  # (computed once: two components read it)
        if not history:
            history.append(history_bytes(usage.history_events, p) / GB)
        return history[0]

    def gb_seconds_usd() -> np.ndarray:
        over = exceeds_duration_limit(usage.open_time_s, p)
        gbs = express_gb_seconds(usage.open_time_s, p)
        usd = monthly_tiered_usd(gbs, p.gb_second_tiers, p.monthly_workflows) if p.gb_second_tiers \
            else gbs * p.per_gb_second_usd
        return np.where(over, np.nan, usd)  # not priceable: the service cannot run it

    def meters_usd() -> np.ndarray:
        return sum(monthly_tiered_usd(meter_units(m, usage), m.tiers, p.monthly_workflows) for m in p.meters)

    parts = {
        "per_run": p.per_workflow_run_usd,
        "actions": _charged(p.flat_per_million_usd or bool(p.unit_tiers),
                            lambda: units_usd(billable_units(usage.actions, usage.pipeline_runs, p), p)),
        "action_minutes": _charged(p.per_million_action_minutes_usd,
                                   lambda: open_min() * p.per_million_action_minutes_usd / 1e6),
        "active_storage": _charged(p.active_storage_per_gb_hour_usd, lambda: storage_usd(
            history_gb() * (open_min() / 60.0), p.included_active_storage_gb, p.active_storage_per_gb_hour_usd, p)),
        "retained_storage": _charged(p.retained_storage_per_gb_hour_usd, lambda: storage_usd(
            history_gb() * p.retention_days * HOURS_PER_DAY, p.included_retained_storage_gb,
            p.retained_storage_per_gb_hour_usd, p)),
    }
    spend = parts["actions"] + parts["active_storage"] + parts["retained_storage"]
    parts["surcharge"] = _charged(p.usage_surcharge_fraction or p.plan_minimum_usd, lambda: plan_fee_usd(spend, p))
    parts["requests"] = p.per_million_requests_usd / 1e6
    parts["gb_seconds"] = _charged(p.per_gb_second_usd or p.max_duration_s or bool(p.gb_second_tiers), gb_seconds_usd)
    parts["fixed_monthly"] = p.monthly_fixed_usd / p.monthly_workflows if p.monthly_fixed_usd else 0.0
    parts["event_storage"] = _charged(p.per_history_event_usd, lambda: np.asarray(usage.history_events, dtype=np.float64)
                                      * p.per_history_event_usd)
    parts["meters"] = _charged(bool(p.meters), meters_usd)
    if p.price_factor != 1.0:
        parts = {k: v * p.price_factor for k, v in parts.items()}
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


SHARED_USAGE_MIN_RUNS = 4096  # fewer runs: the costs are computed run by run, whatever they share


def orchestration_cost_usd(records_history: bool, usage: OrchestrationUsage, price: OrchestrationPrice,
                           out: np.ndarray | None = None) -> np.ndarray:
    """Dollars of orchestration for each run: the sum of ``orchestration_breakdown_usd``.
    ``out``: a zero-filled array of the runs' shape to add them up in (left untouched if nothing is
    charged).

    Where most runs used the orchestrator exactly as the first did (the failure-free runs of a
    pipeline with fixed durations all do), their cost is computed once and copied, and the others'
    computed run by run: the arithmetic is element by element, so every figure is the same to the
    bit as computing all of them together."""
    total = np.zeros(_shape(usage)) if out is None else out
    shared = _shared_usage(usage)
    if shared is None:
        return _add_components(records_history, usage, price, total)
    first = _add_components(records_history, _usage_of(usage, slice(0, 1)), price, np.zeros(1))
    others = np.flatnonzero(~shared)
    if first[0] != 0.0 or first[0] != first[0]:  # (zeros stay untouched; NaN: not priceable)
        np.copyto(total, first[0], where=shared)
    if others.size:
        total[others] = _add_components(records_history, _usage_of(usage, others), price, np.zeros(others.size))
    return total


def _add_components(records_history: bool, usage: OrchestrationUsage, price: OrchestrationPrice,
                    total: np.ndarray) -> np.ndarray:
    for value in _components_usd(records_history, usage, price).values():
        if np.ndim(value) or value:  # adding 0.0 changes nothing
            total += value  # in COMPONENTS order, as the breakdown lists them
    return total


def _usage_of(usage: OrchestrationUsage, runs: slice | np.ndarray) -> OrchestrationUsage:
    return OrchestrationUsage(*(np.asarray(v)[runs] for v in (usage.actions, usage.history_events,
                                                               usage.open_time_s, usage.pipeline_runs)))


def _shared_usage(usage: OrchestrationUsage) -> np.ndarray | None:
    """A mask of the runs whose usage equals the first run's, if they are most runs (else None).
    A sample of the first runs is checked first, so that tables where few runs share it cost
    little more than the check."""
    fields = [np.asarray(v) for v in (usage.actions, usage.history_events, usage.open_time_s, usage.pipeline_runs)]
    size = fields[0].size
    if size < SHARED_USAGE_MIN_RUNS or any(f.ndim != 1 or f.size != size for f in fields):
        return None
    sample = np.ones(64, dtype=bool)
    for f in fields:
        sample &= f[:64] == f[0]
    if 2 * np.count_nonzero(sample) < sample.size:
        return None
    mask = fields[0] == fields[0][0]
    for f in fields[1:]:
        mask &= f == f[0]
    return mask if 2 * np.count_nonzero(mask) >= size else None


def durable_overhead_usd(price: OrchestrationPrice, activity_attempts: float, open_time_s: float,
                         history_events: float) -> float:
    """Orchestration cost of one durable run with the given usage (for tables and closed forms)."""
    usage = OrchestrationUsage(actions=np.asarray(1.0 + activity_attempts), history_events=np.asarray(float(history_events)),
                               open_time_s=np.asarray(float(open_time_s)), pipeline_runs=np.asarray(float(activity_attempts)))
    return float(orchestration_cost_usd(True, usage, price))


def per_action_usd(price: OrchestrationPrice) -> float:
    """Marginal $ of one more activity attempt (its action, its heartbeats, the surcharge); with
    volume tiers, at the first paid tier's price."""
    rate = first_paid_rate_usd(price.unit_tiers) if price.unit_tiers else price.per_million_actions_usd / 1e6
    per_attempt = 1.0 if price.billable_unit == "state_transitions" else 1.0 + price.heartbeats_per_activity_attempt
    return per_attempt * rate * (1.0 + price.usage_surcharge_fraction)


# --------------------------------------------------------------------------- profiles


def orchestration_price(profile: str) -> OrchestrationPrice:
    """The ``[orchestration]`` table of a pricing profile (bundled name or TOML path)."""
    table, _ = load_pricing_profile(profile)
    return OrchestrationPrice.model_validate(table.get("orchestration", {}))


def with_orchestration_profile(raw: dict, profile: str) -> dict:
    """A copy of a scenario table whose orchestration prices come from ``profile`` alone.

    AI prices (models, GPUs) and the monthly volume stay those of the scenario; the scenario's
    own ``[pricing.orchestration]`` overrides are dropped, so no price of its profile leaks into
    this one. Used to compare the same pipeline under several orchestration price lists.
    """
    from sim.model.scenario import bundled_pricing_profiles

    out = copy.deepcopy(raw)
    pricing = dict(out.get("pricing", {}))
    is_path = profile not in bundled_pricing_profiles() and (profile.endswith(".toml") or Path(profile).exists())
    pricing["orchestration"] = str(Path(profile).resolve()) if is_path else profile
    out["pricing"] = pricing
    return out


def orchestration_profiles() -> list[str]:
    """The bundled profiles that price orchestration (have an ``[orchestration]`` table)."""
    from sim.model.scenario import bundled_pricing_profiles

    return [name for name in bundled_pricing_profiles() if "orchestration" in load_pricing_profile(name)[0]]
