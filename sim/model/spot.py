"""Spot capacity: preemptions with a notice, the wait to regain capacity, and the fallback rules.

A GPU step placed on spot capacity runs on a spot instance that the provider can take back
(docs/spot.md). One run's spot instance is a ``SpotClock``:

* **Lives.** Each spot instance lives a random time (exponential with the preemption ``mtbf``,
  capped at ``max_lifetime``, e.g. GCP preemptible's 24 h) from the instant it is ready; or the
  kill instants are a trace of wall-clock instants (``at``), and one that falls while no
  instance is up has no effect.
* **Notice.** A preemption is announced ``notice`` before the kill (AWS: 2 min, GCP Spot: 30 s).
  An attempt that ends before the kill completes; one still running at the kill is killed there.
  A strategy that saves on notice writes its progress in the last ``save`` seconds before the
  kill when ``save <= notice``: it loses only the save time.
* **Capacity.** After a kill (or a preemption while the instance is idle) the next spot instance
  is ready after ``capacity_wait``; with probability ``unavailable_probability`` no spot capacity
  is available and the wait is ``unavailable_wait`` instead.
* **Fallback.** A strategy may move the run to on-demand capacity for good, at a preemption:
  after ``fallback_after`` preemptions, or by a deadline rule (``fallback_rule``): ``greedy``
  switches when waiting for spot would leave less slack than an on-demand start needs, and
  ``uniform_progress`` when the run's progress falls behind the straight line from 0 at time 0
  to all the work at the deadline (the two families of Wu et al., "Can't Be Late", NSDI 2024).
  An on-demand instance is ready ``on_demand_start`` after the switch.

Every draw is a pure function of (seed, replication, source, index) (``sim.model.rng``): lane 0
of ``Source.PREEMPTION`` are the lives, lane 1 the capacity waits, lane 2 the uniforms that
decide whether capacity is unavailable, lane 3 the waits when it is. Every strategy of a
replication reads the same numbers (common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim.model.distributions import Distribution, Exponential

if TYPE_CHECKING:
    from sim.model.schema import PreemptionSource, Step
    from sim.model.schema import ScenarioSchema as Scenario

INF = math.inf
MONTH_S = 30.0 * 86400.0

FALLBACK_RULES = ("none", "greedy", "uniform_progress")


def mtbf_from_monthly_frequency_s(frequency: float) -> float:
    """The mean life of an instance whose probability of being interrupted within a month is
    ``frequency`` (AWS's Spot Instance Advisor bands: <5%, 5-10%, ..., >20%), under exponential
    lives: P(life < month) = 1 - exp(-month/mtbf) = frequency."""
    if not 0.0 < frequency < 1.0:
        raise ValueError(f"a monthly interruption frequency must be in (0, 1), got {frequency!r}")
    return MONTH_S / -math.log1p(-frequency)


@dataclass(frozen=True)
class PreemptionSpec:
    """The provider's side of spot capacity (``[failures.preemption]``), in engine units."""

    life: Distribution | None  # time from an instance's start to its preemption; None: a trace
    at_s: tuple[float, ...] | None  # a trace of kill instants (wall clock)
    notice_s: float
    capacity_wait: Distribution
    unavailable_probability: float
    unavailable_wait: Distribution
    max_lifetime_s: float  # inf: none
    on_demand_start_s: float

    @property
    def mean_wait_s(self) -> float:
        """The expected time to regain spot capacity after a preemption."""
        p = self.unavailable_probability
        return (1.0 - p) * self.capacity_wait.mean() + p * self.unavailable_wait.mean()


def preemption_spec(config: PreemptionSource | None) -> PreemptionSpec | None:
    """The engine's view of a ``[failures.preemption]`` table (None when there is none)."""
    if config is None:
        return None
    at = config.at_s
    if at is not None:
        life = None
    elif config.mtbf_s is not None:
        life = Exponential(config.mtbf_s)
    else:
        life = Exponential(mtbf_from_monthly_frequency_s(config.monthly_frequency))  # type: ignore[arg-type]
    return PreemptionSpec(
        life=life, at_s=tuple(at) if at is not None else None, notice_s=config.notice_s,
        capacity_wait=config.capacity_wait, unavailable_probability=config.unavailable_probability,
        unavailable_wait=config.unavailable_wait,
        max_lifetime_s=INF if config.max_lifetime_s is None else config.max_lifetime_s,
        on_demand_start_s=config.on_demand_start_s,
    )


@dataclass(frozen=True)
class SpotPlan:
    """One strategy's use of spot capacity on a chain (``sim.model.chain`` reads it).

    ``on_spot[i]``: step i starts on spot capacity; ``spot_rate_per_s[i]``: its spot price;
    ``notice_save_s[i]``: the save a notice triggers in step i (None: no save on notice)."""

    on_spot: tuple[bool, ...]
    spot_rate_per_s: tuple[float, ...]
    notice_save_s: tuple[float | None, ...]
    fallback_after: int  # preemptions; 0: never by count
    fallback_rule: str  # FALLBACK_RULES
    deadline_s: float  # inf: none
    work_s: tuple[float, ...]  # mean work of each step (the deadline rules' estimate of what is left)


def switch_to_on_demand(plan: SpotPlan, spec: PreemptionSpec, preemptions: int, at_s: float,
                        remaining_work_s: float) -> bool:
    """Does the run move to on-demand capacity at the preemption at ``at_s`` (its ``preemptions``-th)?

    ``remaining_work_s`` is the work still to do (mean durations of the steps not done, less what
    the current step saved). Greedy: waiting for spot then running the rest would leave less than
    an on-demand start of slack before the deadline. Uniform progress: the work done is behind the
    share of the deadline elapsed once spot capacity is back."""
    if plan.fallback_after and preemptions >= plan.fallback_after:
        return True
    rule = plan.fallback_rule
    if rule == "none" or not math.isfinite(plan.deadline_s):
        return False
    back_s = at_s + spec.mean_wait_s
    if rule == "greedy":
        return plan.deadline_s - back_s - remaining_work_s < spec.on_demand_start_s
    total = sum(plan.work_s)
    done = total - remaining_work_s
    return total > 0 and done / total < back_s / plan.deadline_s


class SpotClock:
    """One run's spot instance: when it is ready and when it is killed.

    ``draws`` are (lives, capacity waits, unavailability uniforms, unavailable waits): streams or
    fixed values with ``get(i)``-style access through ``_draw``."""

    __slots__ = ("spec", "ready", "kill", "_lives", "_waits", "_u", "_uwaits", "_j", "_k", "_m")

    def __init__(self, spec: PreemptionSpec, draws: tuple):
        self.spec = spec
        self._lives, self._waits, self._u, self._uwaits = draws
        self._j = 0  # lives drawn
        self._k = 0  # capacity waits drawn
        self._m = 0  # trace index
        self.ready = 0.0
        self.kill = self._next_kill(0.0)

    def _next_kill(self, ready: float) -> float:
        spec = self.spec
        if spec.at_s is not None:
            at = spec.at_s
            while self._m < len(at) and at[self._m] <= ready:
                self._m += 1  # a kill while no instance is up has no effect
            return at[self._m] if self._m < len(at) else INF
        life = _draw(self._lives, self._j)
        self._j += 1
        return ready + min(life, spec.max_lifetime_s)

    def _replace(self, lost_at: float) -> None:
        """The instance is gone at ``lost_at``: the next one is ready after the capacity wait."""
        k = self._k
        self._k = k + 1
        spec = self.spec
        if spec.unavailable_probability > 0.0 and _draw(self._u, k) < spec.unavailable_probability:
            wait = _draw(self._uwaits, k)
        else:
            wait = _draw(self._waits, k)
        self.ready = lost_at + wait
        self.kill = self._next_kill(self.ready)

    def start(self, t: float) -> float:
        """The earliest instant >= t at which an attempt can start on a live spot instance
        (instances preempted while idle are replaced on the way)."""
        while self.kill <= max(t, self.ready):
            self._replace(self.kill)
        return max(t, self.ready)

    def preempted(self, at: float) -> None:
        """The instance was killed at ``at`` while it ran an attempt."""
        self._replace(at)


def _draw(value: object, i: int) -> float:
    if isinstance(value, int | float):
        return float(value)
    return value.get(i)  # type: ignore[attr-defined]


def notice_save_progress_s(elapsed_s: float, save_s: float, every_s: float, cost_s: float, saves: int) -> float:
    """Work an attempt has done by the start of its notice save (``save_s`` before it stops after
    ``elapsed_s``), counting the attempt's own periodic saves (every ``every_s`` of work, each
    ``cost_s`` long, at most ``saves``; ``every_s = 0``: none)."""
    x = elapsed_s - save_s
    if x <= 0.0:
        return 0.0
    if every_s <= 0.0 or saves <= 0:
        return x
    full = min(int(x // (every_s + cost_s)), saves)
    rest = x - full * (every_s + cost_s)
    return full * every_s + (rest if full == saves else min(rest, every_s))


def spot_rate_per_s(scenario: Scenario, step: Step) -> float | None:
    """A GPU step's $ per second on spot capacity: ``[pricing.spot.gpu]`` for its GPU, else its
    on-demand price less ``[pricing.spot] discount``; None when the pricing has neither."""
    spot = scenario.pricing.spot
    if step.price_per_hour is None and step.gpu in spot.gpu:
        return spot.gpu[step.gpu] / 3600.0
    discount = spot.discount
    if discount is None:
        return None
    return scenario.step_price_per_s(step) * (1.0 - discount)


def step_capacities(scenario: Scenario, capacity: str = "", by_step: Mapping[str, str] | None = None) -> list[str]:
    """Each step's capacity ("spot" or "on_demand") under a strategy: the strategy's ``capacity``
    for every GPU step, else its ``by_step`` entry, else the step's own ``capacity``, else the
    worker's. Steps that are not GPU steps are always "on_demand" (spot is GPU capacity)."""
    default = scenario.worker.capacity
    out = []
    for step in scenario.steps:
        if step.kind != "gpu":
            out.append("on_demand")
        elif capacity:
            out.append(capacity)
        elif by_step and step.name in by_step:
            out.append(by_step[step.name])
        else:
            out.append(step.capacity or default)
    return out


def spot_plan(scenario: Scenario, beh: Any) -> SpotPlan | None:
    """Strategy ``beh``'s (a ``sim.model.strategies.Behaviour``) use of spot capacity (None when
    none of its steps runs on spot)."""
    placed = step_capacities(scenario, beh.capacity, dict(beh.capacity_by_step))
    if "spot" not in placed:
        return None
    on_spot = tuple(c == "spot" for c in placed)
    rates = []
    for step, spot in zip(scenario.steps, on_spot, strict=True):
        rate = spot_rate_per_s(scenario, step) if spot else None
        rates.append(rate if rate is not None else (scenario.step_price_per_s(step) if step.kind == "gpu" else 0.0))
    costs = beh.heartbeat_costs_s or (0.0,) * len(scenario.steps)
    saves = tuple(costs[i] if beh.save_on_notice and on_spot[i] else None for i in range(len(scenario.steps)))
    deadline = scenario.simulation.deadline_s
    return SpotPlan(on_spot, tuple(rates), saves, beh.fallback_after, beh.fallback_rule,
                    INF if deadline is None else deadline, tuple(s.duration.mean() for s in scenario.steps))


def spot_reason(scenario: Scenario) -> str | None:
    """Why an engine that knows only one price per GPU and no preemptions (the fast path, the
    fleet) cannot run ``scenario``: preemptions, or a step on spot capacity; None otherwise."""
    if scenario.failures.preemption is not None:
        return "the scenario has spot preemptions ([failures.preemption]): only the DES engine models them"
    if scenario.pricing.schedule or scenario.pricing.traces:
        return "the scenario's prices change with the time of day ([[pricing.schedule]]): only the DES engine models them"
    for label, config in scenario.strategies.items():
        if "spot" in step_capacities(scenario, *placement(config.capacity)):
            return f"strategy '{label}' runs steps on spot capacity (spot prices): only the DES engine models them"
    return None


def placement(capacity: str | Mapping[str, str] | None) -> tuple[str, dict[str, str]]:
    """A strategy's ``capacity`` key as (capacity of every GPU step or "", capacity by step)."""
    if isinstance(capacity, str):
        return capacity, {}
    return "", dict(capacity or {})
