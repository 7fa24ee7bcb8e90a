"""The scenario schema: pipeline steps, failures, strategies, fleet and provider, and the frozen
``ScenarioSchema`` they make up (pydantic models that forbid unknown keys). Callers use
``sim.model.scenario.Scenario``, which adds changed copies (``sim.model.loading``)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, field_validator, model_validator

from sim.model.counts import parse_count
from sim.model.distributions import Distribution, Exponential, Fixed, Weibull
from sim.model.fields import ConfigModel as _Model
from sim.model.fields import (
    DurationDist,
    NonNegativeDuration,
    NonNegativeDurationDist,
    PositiveDuration,
)
from sim.model.pricing_schema import Pricing

Jitter = Literal["none", "full", "equal", "decorrelated"]
Capacity = Literal["spot", "on_demand"]


class RetryPolicy(_Model):
    """Temporal's retry policy fields and defaults, plus a jitter mode."""

    initial_interval_s: NonNegativeDuration = Field(1.0, alias="initial_interval")
    backoff_coefficient: float = Field(2.0, ge=1.0)
    maximum_interval_s: NonNegativeDuration | None = Field(None, alias="maximum_interval")
    maximum_attempts: int = Field(0, ge=0, description="0 = unlimited")
    jitter: Jitter = "none"
    schedule_to_close_s: PositiveDuration | None = Field(
        None, alias="schedule_to_close", description="give up once a retry would start this long after the unit was first scheduled (fleet engine)")

    @property
    def max_interval_s(self) -> float:
        """Temporal's default maximum interval is 100 × the initial interval."""
        if self.maximum_interval_s is None:
            return 100.0 * self.initial_interval_s
        return self.maximum_interval_s

    @model_validator(mode="after")
    def _check(self) -> RetryPolicy:
        if self.maximum_interval_s is not None and self.maximum_interval_s < self.initial_interval_s:
            raise ValueError("maximum_interval must be >= initial_interval")
        return self


Count = Annotated[Any, BeforeValidator(parse_count)]  # a CountDist


class Step(_Model):
    name: str = Field(min_length=1)
    kind: Literal["gpu", "llm", "wait"]
    duration: DurationDist
    gpu: str | None = None
    price_per_hour: float | None = Field(None, ge=0)
    model: str | None = None
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    retry: RetryPolicy = RetryPolicy()
    # ---- workflow graphs (docs/model.md, "Workflow graphs"): predecessors, fan-out, waits
    after: list[str] | None = Field(None, description="predecessor steps; default: the previous step")
    count: Count = Field(default_factory=lambda: parse_count(1), description="fan-out: instances of this step")
    max_concurrency: int | None = Field(None, ge=1, description="fan-out: instances running at once")
    wait: Literal["timer", "signal", "approval"] | None = None
    capacity: Capacity | None = Field(None, description="GPU steps: spot or on-demand capacity; default the worker's")

    @property
    def is_wait(self) -> bool:
        return self.kind == "wait"

    @property
    def is_plain(self) -> bool:
        """A chain step: one instance, not a wait, no concurrency limit."""
        return self.kind != "wait" and self.count.fixed == 1 and self.max_concurrency is None

    @model_validator(mode="after")
    def _check_wait(self) -> Step:
        if self.kind == "wait":
            if self.wait is None:
                raise ValueError('a wait step needs \'wait\' = "timer", "signal" or "approval"')
            for key in ("gpu", "price_per_hour", "model"):
                if getattr(self, key) is not None:
                    raise ValueError(f"a wait step has no compute: remove '{key}'")
            if self.input_tokens or self.output_tokens:
                raise ValueError("a wait step has no compute: remove the tokens")
            if self.count.fixed != 1 or self.max_concurrency is not None:
                raise ValueError("a wait step runs once: remove 'count'/'max_concurrency'")
        elif self.wait is not None:
            raise ValueError("'wait' is for kind = \"wait\"")
        return self

    @model_validator(mode="after")
    def _check_cost(self) -> Step:
        if self.kind == "wait":
            return self
        if self.kind == "gpu":
            if self.gpu is None and self.price_per_hour is None:
                raise ValueError("a gpu step needs 'gpu' (a kind in the pricing profile) or 'price_per_hour'")
            if self.model is not None or self.input_tokens or self.output_tokens:
                raise ValueError("a gpu step has no 'model' or tokens (use kind = \"llm\")")
        else:
            if self.model is None:
                raise ValueError("an llm step needs 'model' (a model in the pricing profile)")
            if self.gpu is not None or self.price_per_hour is not None:
                raise ValueError("an llm step is billed per token, not per GPU hour")
        return self


# --------------------------------------------------------------------------- failures


class CrashSource(_Model):
    distribution: Literal["exponential", "weibull"] = "exponential"
    mtbf_s: PositiveDuration | None = Field(None, alias="mtbf")
    shape: float | None = Field(None, gt=0)
    scale_s: PositiveDuration | None = Field(None, alias="scale")
    renew_on_restart: bool = True
    detection_delay_s: NonNegativeDuration = Field(0.0, alias="detection_delay")
    restart_time_s: NonNegativeDuration = Field(0.0, alias="restart_time")

    @model_validator(mode="after")
    def _check(self) -> CrashSource:
        if self.distribution == "exponential":
            if self.mtbf_s is None:
                raise ValueError("exponential crashes need 'mtbf' (mean time between failures)")
            if self.shape is not None or self.scale_s is not None:
                raise ValueError("'shape'/'scale' are for distribution = \"weibull\"")
        else:
            if self.shape is None or self.scale_s is None:
                raise ValueError("weibull crashes need 'shape' and 'scale'")
            if self.mtbf_s is not None:
                raise ValueError("'mtbf' is for distribution = \"exponential\"")
        return self

    @property
    def time_to_failure(self) -> Distribution:
        if self.distribution == "exponential":
            return Exponential(self.mtbf_s)
        return Weibull(self.shape, self.scale_s)


class DeploySource(_Model):
    """Periodic (every X, uniform random phase), Poisson (mean interval X) or scheduled (at given instants)."""

    mode: Literal["periodic", "poisson", "scheduled"] = "periodic"
    every_s: PositiveDuration | None = Field(None, alias="every")
    at_s: list[NonNegativeDuration] | None = Field(None, alias="at")
    drain_s: NonNegativeDuration = Field(0.0, alias="drain")
    restart_time_s: NonNegativeDuration = Field(0.0, alias="restart_time")

    @model_validator(mode="after")
    def _check(self) -> DeploySource:
        if self.mode == "scheduled":
            if not self.at_s:
                raise ValueError("scheduled deployments need 'at' (a list of instants, e.g. [\"17m30s\"])")
            if self.every_s is not None:
                raise ValueError("'every' is for mode = \"periodic\" or \"poisson\"")
            if any(b < a for a, b in zip(self.at_s, self.at_s[1:], strict=False)):
                raise ValueError("'at' must be in increasing order")
        else:
            if self.every_s is None:
                raise ValueError(f"{self.mode} deployments need 'every'")
            if self.at_s is not None:
                raise ValueError("'at' is for mode = \"scheduled\"")
        return self


class RateLimitSource(_Model):
    probability: float = Field(ge=0.0, le=1.0)

    @field_validator("probability")
    @classmethod
    def _can_succeed(cls, p: float) -> float:
        if p >= 1.0:
            raise ValueError("with probability 1 every call is rate limited and no pipeline can finish; use a value below 1")
        return p

    steps: list[str] | None = None
    retry_after: NonNegativeDurationDist = Fixed(0.0)
    response_time_s: NonNegativeDuration = Field(0.0, alias="response_time")


class PreemptionSource(_Model):
    """Spot capacity taken back by the provider (docs/spot.md): each spot instance lives an
    exponential time (``mtbf``, or the ``monthly_frequency`` of interruption the providers publish)
    or dies at the instants of a trace (``at``); ``notice`` before the kill; the next instance is
    ready after ``capacity_wait`` (``unavailable_wait`` with probability ``unavailable_probability``);
    ``max_lifetime`` ends any instance (GCP preemptible: 24 h); ``on_demand_start`` is the start of
    an on-demand instance after a fallback."""

    mtbf_s: PositiveDuration | None = Field(None, alias="mtbf")
    monthly_frequency: float | None = Field(None, gt=0.0, lt=1.0)
    at_s: list[NonNegativeDuration] | None = Field(None, alias="at")
    notice_s: NonNegativeDuration = Field(0.0, alias="notice")
    capacity_wait: NonNegativeDurationDist = Fixed(0.0)
    unavailable_probability: float = Field(0.0, ge=0.0, lt=1.0)
    unavailable_wait: NonNegativeDurationDist = Fixed(0.0)
    max_lifetime_s: PositiveDuration | None = Field(None, alias="max_lifetime")
    on_demand_start_s: NonNegativeDuration = Field(0.0, alias="on_demand_start")

    @model_validator(mode="after")
    def _check(self) -> PreemptionSource:
        given = [k for k, v in (("mtbf", self.mtbf_s), ("monthly_frequency", self.monthly_frequency),
                                ("at", self.at_s)) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'mtbf', 'monthly_frequency' (e.g. 0.125 for AWS's 10-15% band) "
                             f"or 'at' (a trace of instants); got {given or 'none'}")
        if self.at_s is not None and any(b < a for a, b in zip(self.at_s, self.at_s[1:], strict=False)):
            raise ValueError("'at' must be in increasing order")
        if self.at_s is not None and self.max_lifetime_s is not None:
            raise ValueError("'max_lifetime' is for random lives ('mtbf' or 'monthly_frequency'), not a trace")
        return self


class Failures(_Model):
    crash: CrashSource | None = None
    deploy: DeploySource | None = None
    rate_limit: RateLimitSource | None = None
    preemption: PreemptionSource | None = None


# --------------------------------------------------------------------------- strategies


FallbackRule = Literal["none", "greedy", "uniform_progress"]


class SpotChoices(_Model):
    """What every strategy may say about spot capacity (docs/spot.md): ``capacity`` for every GPU
    step ("spot" or "on_demand") or per step (a table of step names), and the move to on-demand for
    good at a preemption: after ``fallback_after`` preemptions, or by a deadline rule
    (``fallback_rule``: "greedy" or "uniform_progress", against ``[simulation] deadline``); and
    the steps that wait for their cheapest hours (``pause_for_off_peak``, sim.model.time_prices)."""

    capacity: Capacity | dict[str, Capacity] | None = None
    fallback_after: int = Field(0, ge=0, description="move to on-demand after this many preemptions (0: never)")
    fallback_rule: FallbackRule = "none"
    pause_for_off_peak: list[str] = Field(default_factory=list, description="steps that wait for their cheapest hours")


class RestartStrategy(SpotChoices):
    """Classic orchestration: any failure restarts the pipeline from the first step."""

    kind: Literal["restart"] = "restart"
    retry: RetryPolicy = RetryPolicy()


class RetryInPlaceStrategy(SpotChoices):
    """In-process retries around each call: 429s are retried in place, a crash or a
    deployment loses the whole pipeline (as with restart)."""

    kind: Literal["retry_in_place"] = "retry_in_place"
    retry: RetryPolicy = RetryPolicy()


class DurableStrategy(SpotChoices):
    """Temporal-style durable execution: every completed step is recorded."""

    kind: Literal["durable"] = "durable"
    persist_latency_s: NonNegativeDuration = Field(0.0, alias="persist_latency")


class CheckpointStrategy(SpotChoices):
    """Durable execution with one activity per group of steps: progress is recorded when a group
    completes, and a failure re-runs the group. The groups are either every ``every`` steps (a
    chain only), or explicit: ``groups`` lists the step names of each activity, covering every
    step once; on a chain in pipeline order, on a workflow graph connected groups that do not
    run after each other, a wait step alone (``check_groups``, ``check_graph_groups``; checked
    when the scenario loads)."""

    kind: Literal["checkpoint"] = "checkpoint"
    every: int = Field(2, ge=1)
    groups: list[list[str]] | None = None
    persist_latency_s: NonNegativeDuration = Field(0.0, alias="persist_latency")

    @property
    def group_sizes(self) -> tuple[int, ...] | None:
        """Steps per activity, in order (None: every ``every`` steps)."""
        return None if self.groups is None else tuple(len(g) for g in self.groups)


class HeartbeatStrategy(SpotChoices):
    """Durable execution with heartbeat checkpoints inside long steps: a GPU step saves its
    progress after every ``every`` of work (each save takes ``checkpoint_cost`` of worker time and
    is a billable action); a retried step resumes from its last save.

    Per step (optional): ``every_by_step = { render = "5m", upscale = "0s" }`` sets a GPU step's
    own interval (0: that step makes no saves), ``checkpoint_cost_by_step`` its own save cost;
    the other GPU steps use ``every`` (none when ``every`` is not given) and ``checkpoint_cost``.
    The names must be GPU steps of the scenario (checked when it loads)."""

    kind: Literal["heartbeat"] = "heartbeat"
    every_s: PositiveDuration | None = Field(None, alias="every")
    every_by_step: dict[str, NonNegativeDuration] = Field(default_factory=dict)
    checkpoint_cost_s: NonNegativeDuration = Field(0.0, alias="checkpoint_cost")
    checkpoint_cost_by_step: dict[str, NonNegativeDuration] = Field(default_factory=dict)
    persist_latency_s: NonNegativeDuration = Field(0.0, alias="persist_latency")
    save_on_notice: bool = Field(False, description="a spot preemption's notice triggers a save (of checkpoint_cost)")

    def intervals_s(self, steps: Sequence[Step]) -> tuple[float, ...]:
        """Each step's save interval (0: no saves; non-GPU steps never save)."""
        return tuple(self.every_by_step.get(s.name, self.every_s or 0.0) if s.kind == "gpu" else 0.0 for s in steps)

    def costs_s(self, steps: Sequence[Step]) -> tuple[float, ...]:
        """Each step's worker time of one save."""
        return tuple(self.checkpoint_cost_by_step.get(s.name, self.checkpoint_cost_s) for s in steps)


StrategyConfig = Annotated[
    RestartStrategy | DurableStrategy | RetryInPlaceStrategy | CheckpointStrategy | HeartbeatStrategy,
    Field(discriminator="kind"),
]
STRATEGY_KINDS = ("restart", "durable", "retry_in_place", "checkpoint", "heartbeat")


# --------------------------------------------------------------------------- fleet and shared provider (sim.engines.fleet)


class Fleet(_Model):
    """Many workflows sharing ``workers`` workers (docs/fleet.md). Arrivals: a batch of
    ``workflows`` at time 0, or Poisson at ``rate_per_hour`` until ``horizon`` and/or
    ``workflows`` arrivals. A deployment restarts ``rolling_fraction`` of the workers at a time.
    A worker of a workflow-graph fleet runs ``max_concurrent_activities`` activity attempts and
    ``max_concurrent_workflow_tasks`` workflow tasks at once (Temporal's worker options)."""

    workers: int = Field(1, ge=1)
    arrival: Literal["batch", "poisson"] = "batch"
    rate_per_hour: float | None = Field(None, gt=0)
    workflows: int | None = Field(None, ge=1)
    horizon_s: PositiveDuration | None = Field(None, alias="horizon")
    rolling_fraction: float = Field(1.0, gt=0.0, le=1.0)
    max_concurrent_activities: int | None = Field(
        None, ge=1, description="activity slots per worker (workflow graphs); default [worker] activity_slots")
    max_concurrent_workflow_tasks: int | None = Field(
        None, ge=1, description="workflow-task slots per worker (workflow graphs); default unlimited")

    @model_validator(mode="after")
    def _check(self) -> Fleet:
        if self.arrival == "batch":
            if self.workflows is None:
                raise ValueError("a batch fleet needs 'workflows' (how many start at time 0)")
            if self.rate_per_hour is not None or self.horizon_s is not None:
                raise ValueError("'rate_per_hour'/'horizon' are for arrival = \"poisson\"")
        else:
            if self.rate_per_hour is None:
                raise ValueError("poisson arrivals need 'rate_per_hour'")
            if self.workflows is None and self.horizon_s is None:
                raise ValueError("poisson arrivals need a horizon: 'horizon' (a duration) and/or 'workflows'")
        return self


class ProviderOutage(_Model):
    """Alternating up and down periods of the provider; every call fails while it is down."""

    up: DurationDist
    down: DurationDist


class Provider(_Model):
    """A shared LLM provider: token buckets for requests and tokens per minute (refilling
    continuously, capacity = ``burst`` worth of refill), optional outages."""

    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    burst_s: PositiveDuration = Field(60.0, alias="burst")
    steps: list[str] | None = None
    response_time_s: NonNegativeDuration = Field(0.0, alias="response_time")
    honor_retry_after: bool = True
    outage: ProviderOutage | None = None


# --------------------------------------------------------------------------- scenario


class WorkerModel(_Model):
    """The worker that runs a workflow's activities (docs/model.md, "Workflow graphs")."""

    activity_slots: int | None = Field(None, ge=1, description="activity attempts at once on the worker; default unlimited")
    capacity: Capacity = Field("on_demand", description="where GPU steps run unless they say otherwise")


class TemporalModel(_Model):
    """Temporal's own timeouts that shape recovery after a worker crash (docs/model.md, "After a
    crash: Temporal's workflow tasks"); read by the strategies that record history. Defaults are
    Temporal's: a worker's ``sticky_queue_schedule_to_start_timeout`` and a workflow's task timeout."""

    sticky_schedule_to_start_timeout_s: NonNegativeDuration = Field(10.0, alias="sticky_schedule_to_start_timeout")
    workflow_task_timeout_s: NonNegativeDuration = Field(10.0, alias="workflow_task_timeout")


class Simulation(_Model):
    max_time_s: PositiveDuration = Field(30 * 86400.0, alias="max_time")
    deadline_s: PositiveDuration | None = Field(None, alias="deadline", description="a run should finish by then (spot fallback rules, deadline misses)")
    start_time_of_day_s: NonNegativeDuration = Field(0.0, alias="start_time_of_day", description="UTC time of day at time 0 (prices by time of day)")

    @field_validator("start_time_of_day_s")
    @classmethod
    def _in_a_day(cls, value: float) -> float:
        if value >= 86400.0:
            raise ValueError(f"a time of day is below 24h, got {value:g} s")
        return value


class Defaults(_Model):
    retry: dict[str, Any] = Field(default_factory=dict)


class ScenarioSchema(_Model):
    """The tables of a scenario file; ``sim.model.loading.Scenario`` adds changed copies. ``raw`` keeps the
    file's table for sweeps and copies."""

    name: str = Field(min_length=1)
    description: str = ""
    pricing: Pricing = Pricing()
    simulation: Simulation = Simulation()
    defaults: Defaults = Defaults()
    steps: list[Step] = Field(min_length=1)
    failures: Failures = Failures()
    strategies: dict[str, StrategyConfig] = Field(min_length=1)
    fleet: Fleet | None = None
    provider: Provider | None = None
    worker: WorkerModel = WorkerModel()
    temporal: TemporalModel = TemporalModel()

    _raw: dict = PrivateAttr(default_factory=dict)
    _path: str | None = PrivateAttr(default=None)

    @property
    def raw(self) -> dict:
        """A deep copy of the table the scenario was built from (before pricing resolution)."""
        return copy.deepcopy(self._raw)

    @property
    def path(self) -> str | None:
        return self._path

    @field_validator("steps")
    @classmethod
    def _unique_names(cls, steps: list[Step]) -> list[Step]:
        seen: set[str] = set()
        for step in steps:
            if step.name in seen:
                raise ValueError(f"two steps are named '{step.name}'")
            seen.add(step.name)
        return steps

    @property
    def is_graph(self) -> bool:
        """A workflow graph (not a plain chain): a step with other predecessors than the previous
        one, a fan-out, a concurrency limit or a wait. Chains run on the chain engines."""
        for i, step in enumerate(self.steps):
            if not step.is_plain:
                return True
            if step.after is not None and step.after != ([self.steps[i - 1].name] if i else []):
                return True
        return False

    def predecessors(self) -> list[list[int]]:
        """Indices of each step's predecessors (``after``, or the previous step)."""
        index = {s.name: i for i, s in enumerate(self.steps)}
        out: list[list[int]] = []
        for i, step in enumerate(self.steps):
            if step.after is None:
                out.append([i - 1] if i else [])
            else:
                out.append([index[a] for a in step.after])
        return out

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def rate_limited_steps(self) -> list[bool]:
        rl = self.failures.rate_limit
        if rl is None or rl.probability == 0:
            return [False] * len(self.steps)
        if rl.steps is None:
            return [s.kind == "llm" for s in self.steps]
        wanted = set(rl.steps)
        return [s.name in wanted for s in self.steps]

    def step_price_per_s(self, step: Step) -> float:
        """GPU steps: $ per second of attempt time."""
        if step.price_per_hour is not None:
            return step.price_per_hour / 3600.0
        return self.pricing.gpu[step.gpu] / 3600.0

    def step_attempt_cost_usd(self, step: Step) -> float:
        """LLM steps: $ of one completed call."""
        price = self.pricing.models[step.model]
        return (step.input_tokens * price.input_per_mtok + step.output_tokens * price.output_per_mtok) / 1e6

    def useful_cost_usd(self) -> float:
        """$ of one failure-free pass through the pipeline at mean durations (and mean fan-out counts)."""
        total = 0.0
        for step in self.steps:
            if step.kind == "wait":
                continue
            if step.kind == "gpu":
                cost = self.step_price_per_s(step) * step.duration.mean()
            else:
                cost = self.step_attempt_cost_usd(step)
            total += cost if step.count.fixed == 1 else cost * step.count.mean()  # fan-out: mean count instances
        return total
