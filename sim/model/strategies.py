"""Recovery strategies as data: what survives a failure, what is recorded, which retry policy applies.

One engine loop serves every strategy; a strategy is described by
* ``checkpoint_every``: progress is recorded after every k-th step (1 = durable, 0 = never), or
  ``group_sizes``: explicit activities of consecutive steps (``is_checkpoint`` reads either, so
  every chain engine runs explicit groups unchanged); ``group_steps``: the same groups by step
  name, which the workflow model (``sim.model.workflow.activities``) runs on graphs too;
  between checkpoints it lives in the worker's memory and a worker shutdown loses it;
* ``retry_429_in_place``: a rate-limited call is retried inside the process (no rollback);
* ``records_history`` and ``persist_latency_s``: Temporal history events and their latency;
* ``heartbeat_intervals_s`` and ``heartbeat_costs_s``: progress saved inside long GPU steps,
  per step (0: none); ``heartbeat_every_s`` > 0 when some step saves.
Adding a strategy means adding a config model in ``sim.model.scenario`` and a case in ``behaviour``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sim.model.scenario import (
    CheckpointStrategy,
    DurableStrategy,
    HeartbeatStrategy,
    RestartStrategy,
    RetryInPlaceStrategy,
    RetryPolicy,
    Scenario,
    Step,
    StrategyConfig,
)

# Temporal history events: WorkflowExecutionStarted + WorkflowTask ×3 + ActivityTaskScheduled
EVENTS_AT_START = 5
# after each completed activity: ActivityTaskStarted, ActivityTaskCompleted, WorkflowTask ×3,
# then ActivityTaskScheduled (next) or WorkflowExecutionCompleted (last)
EVENTS_PER_ACTIVITY = 6


@dataclass(frozen=True)
class Behaviour:
    label: str
    kind: str
    checkpoint_every: int
    retry_429_in_place: bool
    records_history: bool
    persist_latency_s: float
    pipeline_retry: RetryPolicy | None  # policy for rolling back a multi-step unit; None: the step's
    heartbeat_every_s: float = 0.0  # > 0: some GPU step saves progress (the largest per-step interval)
    heartbeat_cost_s: float = 0.0  # worker time of one heartbeat checkpoint (the default of every step)
    group_sizes: tuple[int, ...] = ()  # explicit activities (steps per group, in order); () = every k
    group_steps: tuple[tuple[str, ...], ...] = ()  # the same groups by step name (the workflow model's view)
    # per step (the engines read these): save interval (0: no saves in that step) and save cost
    heartbeat_intervals_s: tuple[float, ...] = ()
    heartbeat_costs_s: tuple[float, ...] = ()
    # spot capacity (sim.model.spot): where GPU steps run ("" = the steps' own placement), the
    # fallback to on-demand, and whether a preemption notice triggers a save (heartbeat)
    capacity: str = ""
    capacity_by_step: tuple[tuple[str, str], ...] = ()
    fallback_after: int = 0
    fallback_rule: str = "none"
    save_on_notice: bool = False
    pause_for_off_peak: tuple[str, ...] = ()  # steps that wait for their cheapest hours (sim.model.time_prices)

    def is_checkpoint(self, step_index: int, n_steps: int) -> bool:
        """Is progress recorded once step ``step_index`` (0-based) completes?"""
        if self.group_sizes:
            return step_index + 1 in group_ends(self.group_sizes)
        k = self.checkpoint_every
        if k <= 0:
            return step_index == n_steps - 1
        return (step_index + 1) % k == 0 or step_index == n_steps - 1


def behaviours_of(scenario: Scenario, strategies: Sequence[str] | None = None) -> list[Behaviour]:
    """The engines' view of ``strategies`` (labels; default every strategy of ``scenario``), in
    that order; an unknown label is a ValueError naming the scenario's strategies."""
    labels = list(scenario.strategies) if strategies is None else list(strategies)
    unknown = [s for s in labels if s not in scenario.strategies]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; the scenario has {list(scenario.strategies)}")
    return [behaviour(label, scenario.strategies[label], scenario.steps) for label in labels]


def behaviour(label: str, config: StrategyConfig, steps: Sequence[Step] = ()) -> Behaviour:
    """The engine's view of a strategy config. ``steps`` (the scenario's) give a heartbeat
    strategy its per-step intervals and costs, which the engines read."""
    beh = _behaviour(label, config, steps)
    capacity, fallback_after, rule = config.capacity, config.fallback_after, config.fallback_rule
    save = isinstance(config, HeartbeatStrategy) and config.save_on_notice
    pause = tuple(config.pause_for_off_peak)
    if capacity is None and not fallback_after and rule == "none" and not save and not pause:
        return beh
    by_step = tuple(sorted(capacity.items())) if isinstance(capacity, dict) else ()
    return replace(beh, capacity=capacity if isinstance(capacity, str) else "", capacity_by_step=by_step,
                   fallback_after=fallback_after, fallback_rule=rule, save_on_notice=save, pause_for_off_peak=pause)


def _behaviour(label: str, config: StrategyConfig, steps: Sequence[Step] = ()) -> Behaviour:
    if isinstance(config, RestartStrategy):
        return Behaviour(label, "restart", 0, False, False, 0.0, config.retry)
    if isinstance(config, RetryInPlaceStrategy):
        return Behaviour(label, "retry_in_place", 0, True, False, 0.0, config.retry)
    if isinstance(config, DurableStrategy):
        return Behaviour(label, "durable", 1, False, True, config.persist_latency_s, None)
    if isinstance(config, CheckpointStrategy):
        sizes = config.group_sizes
        if sizes is None:
            return Behaviour(label, "checkpoint", config.every, False, True, config.persist_latency_s, None)
        # checkpoint_every = 1 exactly when every step is its own activity (the engines then
        # treat failures at step level, as for durable); otherwise the largest group
        return Behaviour(label, "checkpoint", max(sizes), False, True, config.persist_latency_s, None,
                         group_sizes=sizes, group_steps=tuple(tuple(g) for g in config.groups))
    if isinstance(config, HeartbeatStrategy):
        intervals = config.intervals_s(steps)
        largest = max(intervals, default=0.0) if steps else max([config.every_s or 0.0,
                                                                 *config.every_by_step.values()])
        return Behaviour(label, "heartbeat", 1, False, True, config.persist_latency_s, None,
                         largest, config.checkpoint_cost_s, heartbeat_intervals_s=intervals,
                         heartbeat_costs_s=config.costs_s(steps))
    raise TypeError(f"no behaviour for strategy config {config!r}")


def group_ends(group_sizes: tuple[int, ...]) -> frozenset[int]:
    """The 1-based indices of the steps that end an activity (cumulative group sizes)."""
    ends, total = set(), 0
    for size in group_sizes:
        total += size
        ends.add(total)
    return frozenset(ends)


def backoff_s(policy: RetryPolicy, failures: int, u: float, previous_s: float) -> float:
    """Wait before retry number ``failures`` (1-based) under ``policy``; ``u`` is a uniform draw.

    Temporal: min(initial · coefficient^(failures−1), maximum). Jitter (AWS naming): full =
    U(0, interval); equal = interval/2 + U(0, interval/2); decorrelated = min(cap, U(base,
    3·previous)).
    """
    base = policy.initial_interval_s
    cap = policy.max_interval_s
    exponent = failures - 1
    if policy.backoff_coefficient == 1.0 or base == 0.0:
        interval = base
    elif exponent * math.log(policy.backoff_coefficient) > math.log(max(cap, 1e-300) / base) + 1:
        interval = cap
    else:
        interval = min(base * policy.backoff_coefficient**exponent, cap)
    jitter = policy.jitter
    if jitter == "none":
        return interval
    if jitter == "full":
        return u * interval
    if jitter == "equal":
        return 0.5 * interval * (1.0 + u)
    upper = max(3.0 * previous_s, base)
    return min(cap, base + u * (upper - base))


def heartbeat_attempt(work_s: float, step_work_s: float, saved_s: float, every_s: float,
                      cost_s: float) -> tuple[float, int, float]:
    """A heartbeat step's attempt: (its length, the saves it makes, the step's work).

    The step's work is drawn at its first attempt (``step_work_s < 0``) and kept for its
    retries; an attempt with ``w`` work left runs ``w + m·cost`` with ``m = ceil(w/every) − 1``
    saves (the last segment needs none: the step's completion records it).
    """
    if step_work_s < 0.0:
        step_work_s = work_s
    left = step_work_s - saved_s
    saves = max(math.ceil(left / every_s) - 1, 0)
    return left + saves * cost_s, saves, step_work_s


def heartbeat_saves_done(elapsed_s: float, saves: int, every_s: float, cost_s: float) -> int:
    """Saves completed by a heartbeat attempt stopped after ``elapsed_s`` (at most its ``saves``).

    A save counts once its checkpoint write (``cost_s``) has finished.
    """
    return min(int(elapsed_s // (every_s + cost_s)), saves)


def heartbeat_settle(completed: bool, elapsed_s: float, cost_usd: float, saves: int, saved_s: float,
                     kept_s: float, kept_cost_usd: float, every_s: float, cost_s: float,
                     rate_per_s: float) -> tuple[int, float, float, float, float, float]:
    """The accounting of a heartbeat attempt once it stops, for both engines.

    Returns (heartbeats sent, compute and cost charged to the attempt now, the step's saved work,
    the compute and cost of the saved segments kept for later). Completed: every save was sent,
    and the segments kept from earlier attempts join the attempt's compute. Stopped by a failure:
    the saves finished before it survive with their compute; the rest of the attempt is lost.
    """
    if completed:
        return saves, elapsed_s + kept_s, cost_usd + kept_cost_usd, 0.0, 0.0, 0.0
    done = heartbeat_saves_done(elapsed_s, saves, every_s, cost_s)
    keep = done * (every_s + cost_s)
    return (done, elapsed_s - keep, cost_usd - keep * rate_per_s, saved_s + done * every_s, kept_s + keep,
            kept_cost_usd + keep * rate_per_s)
