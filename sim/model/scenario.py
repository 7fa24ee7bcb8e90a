"""Scenario files: TOML → validated, frozen ``Scenario``.

Validation is done once, here, with pydantic models that forbid unknown keys; every problem is
reported as ``file: key 'a.b.c': problem``. Durations in the file are human units ("45s",
"2m"); in the models they are float seconds in fields whose names end in ``_s``.
"""

from __future__ import annotations

import copy
import datetime
import difflib
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.errors import ScenarioError
from sim.model.bundled import resolve_scenario_path
from sim.model.counts import parse_count
from sim.model.distributions import (
    DIST_PARAMETERS,
    Distribution,
    Exponential,
    Fixed,
    LogNormal,
    Uniform,
    Weibull,
)
from sim.model.units import parse_duration_s

# --------------------------------------------------------------------------- field types


def _duration(value: object) -> float:
    seconds = parse_duration_s(value)
    if not math.isfinite(seconds):
        raise ValueError(f"duration must be finite, got {value!r}")
    return seconds


def _positive_duration(value: object) -> float:
    seconds = _duration(value)
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {value!r}")
    return seconds


def _non_negative_duration(value: object) -> float:
    seconds = _duration(value)
    if seconds < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return seconds


PositiveDuration = Annotated[float, BeforeValidator(_positive_duration)]
NonNegativeDuration = Annotated[float, BeforeValidator(_non_negative_duration)]

_DIST_KEYS = DIST_PARAMETERS


def parse_distribution(value: object, *, allow_zero: bool = False) -> Distribution:
    """A duration distribution from a number/string (fixed) or a table with ``dist``."""
    check = _non_negative_duration if allow_zero else _positive_duration
    if isinstance(value, Fixed | Exponential | LogNormal | Uniform | Weibull):
        return value
    if not isinstance(value, dict):
        return Fixed(check(value))
    table = dict(value)
    kind = table.pop("dist", None)
    if kind not in _DIST_KEYS:
        known = ", ".join(sorted(_DIST_KEYS))
        raise ValueError(f"'dist' must be one of {known}, got {kind!r}")
    expected = _DIST_KEYS[kind]
    unknown = set(table) - expected
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} for dist '{kind}' (expected {sorted(expected)})")
    missing = expected - set(table)
    if missing:
        raise ValueError(f"dist '{kind}' needs {sorted(missing)}")
    if kind == "fixed":
        return Fixed(check(table["value"]))
    if kind == "exponential":
        return Exponential(_positive_duration(table["mean"]))
    if kind == "lognormal":
        median, p95 = _positive_duration(table["median"]), _positive_duration(table["p95"])
        if p95 <= median:
            raise ValueError(f"lognormal needs p95 > median, got median={median}s p95={p95}s")
        return LogNormal(median, p95)
    if kind == "uniform":
        low, high = _non_negative_duration(table["low"]), _positive_duration(table["high"])
        if high < low:
            raise ValueError(f"uniform needs high >= low, got low={low}s high={high}s")
        return Uniform(low, high)
    shape = table["shape"]
    if not isinstance(shape, int | float) or isinstance(shape, bool) or shape <= 0:
        raise ValueError(f"weibull shape must be a positive number, got {shape!r}")
    return Weibull(float(shape), _positive_duration(table["scale"]))


DurationDist = Annotated[Any, BeforeValidator(parse_distribution)]
NonNegativeDurationDist = Annotated[Any, BeforeValidator(lambda v: parse_distribution(v, allow_zero=True))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- pricing
#
# A scenario's prices combine two parts, each from a profile (a bundled name or a TOML path):
# model and GPU prices (``[pricing] models = "…"``) and orchestration prices
# (``[pricing] orchestration = "…"``); ``[pricing] profile = "…"`` takes both parts from one
# file. The scenario's own ``[pricing.gpu]``, ``[pricing.models]`` and
# ``[pricing.orchestration]`` keys then override field by field (``_resolve_pricing``). How
# the orchestration prices are billed lives in sim/model/costs.py; docs/costs.md lists the profiles.


class ModelPrice(_Model):
    input_per_mtok: float = Field(0.0, ge=0, description="$ per million input tokens")
    output_per_mtok: float = Field(0.0, ge=0, description="$ per million output tokens")


class PriceTier(_Model):
    """One tier of a volume-tiered price: ``per_million_usd`` for the units of a month beyond the
    previous tier, up to ``up_to_million`` units a month (None: no upper end)."""

    up_to_million: float | None = Field(None, gt=0, description="upper end of the tier, millions of units a month")
    per_million_usd: float = Field(ge=0)


class Meter(_Model):
    """A billed quantity counted per run (``per_run + per_activity_attempt × attempts +
    per_history_event × events``), priced by monthly volume ``tiers`` (a free grant is a first
    tier at 0): Azure Functions executions, Google Cloud Workflows steps."""

    name: str = Field(min_length=1, description="what is counted, e.g. 'executions' or 'external steps'")
    per_run: float = Field(0.0, ge=0, description="units per durable run")
    per_activity_attempt: float = Field(0.0, ge=0, description="units per activity attempt (every retry included)")
    per_history_event: float = Field(0.0, ge=0, description="units per history event")
    tiers: list[PriceTier] = Field(min_length=1, description="monthly volume tiers of the units")

    @model_validator(mode="after")
    def _check_tiers(self) -> Meter:
        _check_tier_ends(self.tiers, f"meter '{self.name}' tiers")
        return self


def _check_tier_ends(tiers: list[PriceTier], what: str) -> None:
    ends = [t.up_to_million for t in tiers]
    if ends[-1] is not None or any(e is None for e in ends[:-1]):
        raise ValueError(f"{what}: every tier but the last needs up_to_million; the last has none")
    if any(b <= a for a, b in zip(ends[:-2], ends[1:-1], strict=False)):
        raise ValueError(f"{what}: up_to_million must increase from tier to tier")


class OrchestrationPrice(_Model):
    """Orchestration prices; see sim/model/costs.py for how they are applied."""

    per_million_actions_usd: float = Field(0.0, ge=0)
    per_million_action_minutes_usd: float = Field(0.0, ge=0)
    active_storage_per_gb_hour_usd: float = Field(0.0, ge=0)
    retained_storage_per_gb_hour_usd: float = Field(0.0, ge=0)
    retention_days: float = Field(0.0, ge=0)
    bytes_per_history_event: float = Field(0.0, ge=0)
    per_workflow_run_usd: float = Field(0.0, ge=0, description="flat $ per durable workflow run (to reproduce a quoted per-run figure)")
    restart_per_run_usd: float = Field(0.0, ge=0, description="classic orchestrator: $ per pipeline run")
    # billable actions beyond workflow start + activity attempts (Temporal bills each one)
    heartbeats_per_activity_attempt: float = Field(0.0, ge=0, description="activity heartbeats that reach the server, per activity attempt")
    timers_per_run: float = Field(0.0, ge=0, description="timers started per durable workflow run")
    signals_per_run: float = Field(0.0, ge=0, description="signals sent per durable workflow run")
    usage_surcharge_fraction: float = Field(0.0, ge=0, description="plan fee as a fraction of usage spend (e.g. 0.10)")
    restart_per_run_minute_usd: float = Field(0.0, ge=0, description="classic orchestrator: $ per minute a pipeline is open")
    # --- billed units and volume tiers (Temporal Cloud, Step Functions Standard)
    billable_unit: Literal["actions", "state_transitions"] = Field(
        "actions", description="what per_million_actions_usd and unit_tiers price: Temporal actions, or "
        "Step Functions state transitions (one per activity attempt, retries included, plus state_transitions_per_run)")
    state_transitions_per_run: float = Field(0.0, ge=0, description="state transitions per run beyond one per activity attempt")
    unit_tiers: list[PriceTier] = Field(default_factory=list, description="volume tiers of the billed unit (monthly)")
    tier_price: Literal["average", "marginal"] = Field(
        "average", description="bill a run at the month's average tier price or at the marginal tier's price")
    monthly_workflows: float | None = Field(None, gt=0, description="durable workflows a month (tiers, free allowances, fixed costs)")
    # --- Step Functions Express
    per_million_requests_usd: float = Field(0.0, ge=0, description="$ per million workflow executions started")
    per_gb_second_usd: float = Field(0.0, ge=0, description="$ per GB-second of execution duration x memory")
    duration_increment_s: float = Field(0.0, ge=0, description="billed duration is rounded up to a multiple of this")
    memory_mb: float = Field(0.0, ge=0, description="memory the execution uses (MB)")
    memory_increment_mb: float = Field(0.0, ge=0, description="memory is billed in chunks of this many MB")
    max_duration_s: float | None = Field(None, gt=0, description="longest execution the service allows (Express: 300 s)")
    max_activity_duration_s: float | None = Field(
        None, gt=0, description="longest an activity may run (Azure Functions Consumption plan: 600 s per execution)")
    gb_second_tiers: list[PriceTier] = Field(
        default_factory=list, description="monthly volume tiers of the GB-seconds, in millions of GB-s (instead of "
        "per_gb_second_usd; a free grant is a first tier at 0)")
    price_factor: float = Field(1.0, ge=0, description="multiplies the whole orchestration bill (sensitivity analyses)")
    # --- plans: a monthly minimum, included allowances (Temporal Cloud)
    plan_minimum_usd: float = Field(0.0, ge=0, description="the plan fee is the greater of this (a month) and "
                                    "usage_surcharge_fraction x the month's usage (needs monthly_workflows)")
    included_million_units: float = Field(0.0, ge=0, description="billed units a month included in the plan "
                                          "(the tiers price the units above it)")
    included_active_storage_gb: float = Field(0.0, ge=0, description="active storage included a month, GB "
                                              "(x gbh_per_included_gb GB-hours)")
    included_retained_storage_gb: float = Field(0.0, ge=0, description="retained storage included a month, GB "
                                                "(x gbh_per_included_gb GB-hours)")
    gbh_per_included_gb: float = Field(744.0, gt=0, description="GB-hours a month per included GB (Temporal: 744)")
    # --- other meters (Azure Functions executions, Google Cloud Workflows steps)
    meters: list[Meter] = Field(default_factory=list)
    # --- regional prices (Step Functions Standard): the last tier's price for the chosen region
    region: str | None = Field(None, description="a key of regional_per_million_usd: its price replaces the last tier's")
    regional_per_million_usd: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="price per million billed units by region")
    # --- self-hosted
    monthly_fixed_usd: float = Field(0.0, ge=0, description="fixed monthly cost (cluster, database), amortised over monthly_workflows")
    per_history_event_usd: float = Field(0.0, ge=0, description="$ per history event stored")

    @model_validator(mode="after")
    def _check_billing(self) -> OrchestrationPrice:
        if self.unit_tiers:
            if self.per_million_actions_usd:
                raise ValueError("give either per_million_actions_usd or unit_tiers, not both (to replace a "
                                 "profile's tiers by a flat price, also set unit_tiers = [])")
            _check_tier_ends(self.unit_tiers, "unit_tiers")
        if self.gb_second_tiers:
            if self.per_gb_second_usd:
                raise ValueError("give either per_gb_second_usd or gb_second_tiers, not both")
            _check_tier_ends(self.gb_second_tiers, "gb_second_tiers")
        if self.region is not None:
            if self.region not in self.regional_per_million_usd:
                known = ", ".join(sorted(self.regional_per_million_usd)) or "none"
                raise ValueError(f"region '{self.region}' has no price in regional_per_million_usd (it has: {known})")
            if not self.unit_tiers and not self.per_million_actions_usd:
                raise ValueError("region: the profile has no unit price to replace (unit_tiers or per_million_actions_usd)")
        return self

    @property
    def tiers(self) -> list[PriceTier]:
        """``unit_tiers`` with the chosen region's price in the last tier."""
        if self.region is None or not self.unit_tiers:
            return self.unit_tiers
        last = self.unit_tiers[-1].model_copy(update={"per_million_usd": self.regional_per_million_usd[self.region]})
        return [*self.unit_tiers[:-1], last]

    @property
    def flat_per_million_usd(self) -> float:
        """``per_million_actions_usd``, or the chosen region's price."""
        if self.region is not None and not self.unit_tiers:
            return self.regional_per_million_usd[self.region]
        return self.per_million_actions_usd

    @property
    def needs_monthly_volume(self) -> bool:
        """Prices that mean nothing without ``monthly_workflows``: a fixed monthly cost, a plan minimum."""
        return bool(self.monthly_fixed_usd or self.plan_minimum_usd)


class ProfileInfo(_Model):
    """Where one part of the prices comes from (shown in every command's header)."""

    name: str = ""
    source: str = ""
    source_date: str = ""
    not_modelled: str = ""
    retrieved: str = ""
    plan: str = ""
    unit: str = ""


class Pricing(_Model):
    name: str = "custom"
    source: str = ""
    source_date: str = Field("", description="date of the copy of the source the figures come from")
    not_modelled: str = Field("", description="what the profile leaves out")
    retrieved: str = Field("", description="date the copy of the source was read")
    plan: str = Field("", description="the vendor's plan or product these prices are for")
    unit: str = Field("", description="what the vendor bills, in words")
    monthly_workflows: float | None = Field(None, gt=0, description="workflows a month (orchestration volume tiers)")
    gpu: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    models: dict[str, ModelPrice] = Field(default_factory=dict)
    orchestration: OrchestrationPrice = OrchestrationPrice()
    #: which profile each part came from (filled in by the loader; "" = the scenario's own figures)
    models_profile: ProfileInfo = ProfileInfo()
    orchestration_profile: ProfileInfo = ProfileInfo()

    def describe(self) -> str:
        """One line for output headers: where the model/GPU and the orchestration prices come from."""
        m = self.models_profile.name or "the scenario's own prices"
        o = self.orchestration_profile.name or "the scenario's own prices"
        vol = self.orchestration.monthly_workflows
        return f"models and GPUs: {m}; orchestration: {o}" + (f"; {vol:,.0f} workflows a month" if vol else "")


# --------------------------------------------------------------------------- pipeline

Jitter = Literal["none", "full", "equal", "decorrelated"]


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


class Failures(_Model):
    crash: CrashSource | None = None
    deploy: DeploySource | None = None
    rate_limit: RateLimitSource | None = None


# --------------------------------------------------------------------------- strategies


class RestartStrategy(_Model):
    """Classic orchestration: any failure restarts the pipeline from the first step."""

    kind: Literal["restart"] = "restart"
    retry: RetryPolicy = RetryPolicy()


class RetryInPlaceStrategy(_Model):
    """In-process retries around each call: 429s are retried in place, a crash or a
    deployment loses the whole pipeline (as with restart)."""

    kind: Literal["retry_in_place"] = "retry_in_place"
    retry: RetryPolicy = RetryPolicy()


class DurableStrategy(_Model):
    """Temporal-style durable execution: every completed step is recorded."""

    kind: Literal["durable"] = "durable"
    persist_latency_s: NonNegativeDuration = Field(0.0, alias="persist_latency")


class CheckpointStrategy(_Model):
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


class HeartbeatStrategy(_Model):
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
    ``workflows`` arrivals. A deployment restarts ``rolling_fraction`` of the workers at a time."""

    workers: int = Field(1, ge=1)
    arrival: Literal["batch", "poisson"] = "batch"
    rate_per_hour: float | None = Field(None, gt=0)
    workflows: int | None = Field(None, ge=1)
    horizon_s: PositiveDuration | None = Field(None, alias="horizon")
    rolling_fraction: float = Field(1.0, gt=0.0, le=1.0)

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


class TemporalModel(_Model):
    """Temporal's own timeouts that shape recovery after a worker crash (docs/model.md, "After a
    crash: Temporal's workflow tasks"); read by the strategies that record history. Defaults are
    Temporal's: a worker's ``sticky_queue_schedule_to_start_timeout`` and a workflow's task timeout."""

    sticky_schedule_to_start_timeout_s: NonNegativeDuration = Field(10.0, alias="sticky_schedule_to_start_timeout")
    workflow_task_timeout_s: NonNegativeDuration = Field(10.0, alias="workflow_task_timeout")


class Simulation(_Model):
    max_time_s: PositiveDuration = Field(30 * 86400.0, alias="max_time")


class Defaults(_Model):
    retry: dict[str, Any] = Field(default_factory=dict)


class Scenario(_Model):
    """A validated, frozen scenario. ``raw`` keeps the file's table for sweeps and copies."""

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

    # ----------------------------------------------------------------- changed copies (see "replace" below)

    def replace(self, changes: Mapping[str, object]) -> Scenario:
        """A new validated scenario with ``changes`` applied: ``{"failures.crash.mtbf": "30m"}``.

        Paths and values are those of ``--vary`` (``sim.model.paths``): a value is a number, or a
        string such as ``"30m"``, ``"2%"``, ``"0.05"``. Raises ScenarioError naming the path."""
        return replace_values(self, changes)


# --------------------------------------------------------------------------- loading

BUNDLED_PRICING = "sim.data.pricing"


def bundled_pricing_profiles() -> list[str]:
    folder = resources.files(BUNDLED_PRICING)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_toml(path: Path, what: str) -> dict:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{what} file not found", file=str(path)) from None
    except IsADirectoryError:
        raise ScenarioError(f"{what} path is a folder, not a TOML file", file=str(path)) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read {what} file: {exc.strerror}", file=str(path)) from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError("not a UTF-8 text file", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"malformed TOML: {exc}", file=str(path)) from None


def load_pricing_profile(name_or_path: str, base_dir: Path | None = None) -> tuple[dict, str]:
    """The raw table of a pricing profile: a bundled name, or a TOML path (relative to base_dir)."""
    if name_or_path in bundled_pricing_profiles():
        ref = resources.files(BUNDLED_PRICING) / f"{name_or_path}.toml"
        with resources.as_file(ref) as p:
            table = _read_toml(Path(p), "pricing profile")
            _check_pricing_profile(table, str(p))
            return table, str(p)
    candidate = Path(name_or_path)
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if candidate.suffix != ".toml" and not candidate.exists():
        names = bundled_pricing_profiles()
        hint = difflib.get_close_matches(name_or_path, names, n=1)
        extra = f"did you mean '{hint[0]}'? " if hint else ""
        raise ScenarioError(f"unknown pricing profile '{name_or_path}' ({extra}bundled: {', '.join(names)}; "
                            "or give a .toml path)", key="pricing.profile")
    table = _read_toml(candidate, "pricing profile")
    _check_pricing_profile(table, str(candidate))
    return table, str(candidate)


def _check_pricing_profile(table: dict, file: str) -> None:
    """Validate a profile on its own, so a bad key is reported in the profile's file."""
    if "profile" in table:
        raise ScenarioError("a pricing profile cannot name another profile", file=file, key="profile")
    try:
        Pricing.model_validate(table)
    except ValidationError as exc:
        err = exc.errors()[0]
        key, msg = _explain({**err, "loc": ("pricing", *err["loc"])}, {"pricing": table})
        raise ScenarioError(msg, file=file, key=key.removeprefix("pricing.")) from None


def _deep_update(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _format_loc(loc: tuple, data: dict) -> str:
    loc = _without_strategy_tag(loc)
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            name = None
            if isinstance(node, list) and 0 <= item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]" + (f"({name})" if name else "")]
        else:
            parts.append(str(item))
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
        else:
            node = None
    return ".".join(parts).replace(".[", "[")


def _known_fields(loc: tuple) -> list[str]:
    model: Any = Scenario
    tagged = _strategy_model(loc)
    if tagged is not None:
        model, loc = tagged
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = getattr(model, "model_fields", {}).get(item)
        if field is None:
            for cand in getattr(model, "model_fields", {}).values():
                if cand.alias == item:
                    field = cand
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        nxt = None
        for a in (ann, *args):
            if isinstance(a, type) and issubclass(a, BaseModel):
                nxt = a
                break
            for b in getattr(a, "__args__", ()):
                if isinstance(b, type) and issubclass(b, BaseModel):
                    nxt = b
        if nxt is None:
            return []
        model = nxt
    return [f.alias or n for n, f in model.model_fields.items()]


def _explain(error: dict, data: dict) -> tuple[str, str]:
    loc = tuple(error["loc"])
    key = _format_loc(loc, data)
    kind = error["type"]
    msg = error["msg"]
    if kind == "extra_forbidden":
        known = _known_fields(loc)
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else (f" (known keys: {', '.join(known)})" if known else "")
        return key, f"unknown key{extra}"
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        hint = difflib.get_close_matches(str(tag), STRATEGY_KINDS, n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else ""
        return key, f"unknown strategy kind '{tag}'{extra}; known: {', '.join(STRATEGY_KINDS)}"
    if kind == "missing":
        return key, "required key is missing"
    if kind == "too_short" and key == "steps":
        return key, "the pipeline has no steps: add at least one [[steps]] table"
    if kind == "too_short" and key == "strategies":
        return key, "no strategies to compare: add e.g. [strategies.restart] and [strategies.durable]"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return key, msg


#: the parts of a price list a profile can supply, and the tables each part is made of
PRICING_PARTS: dict[str, tuple[str, ...]] = {"models": ("gpu", "models"), "orchestration": ("orchestration",)}
HOURS_PER_MONTH = 730.0  # 365 d × 24 h / 12: a fleet's Poisson rate → a monthly volume


def _load_part(ref: object, key: str, base_dir: Path | None, file: str) -> dict:
    if not isinstance(ref, str):
        raise ScenarioError("must be a profile name or a path", file=file, key=key)
    try:
        table, _ = load_pricing_profile(ref, base_dir)
    except ScenarioError as exc:
        raise ScenarioError(exc.problem, file=exc.file or file, key=exc.key if exc.file else key) from None
    return table


def _profile_info(table: dict, ref: str, overridden: list[str]) -> dict:
    name = str(table.get("name", ref))
    if overridden:
        name += f" (this scenario overrides {', '.join(overridden)})"
    return {"name": name, **{k: str(table.get(k, "")) for k in ("source", "source_date", "not_modelled", "retrieved",
                                                                  "plan", "unit")}}


def _overridden(own: dict, part: str) -> list[str]:
    keys = []
    for table in PRICING_PARTS[part]:
        value = own.get(table)
        if isinstance(value, dict):
            keys += [f"{table}.{k}" for k in value]
    return keys


def _resolve_pricing(raw_pricing: object, data: dict, base_dir: Path | None, file: str) -> dict:
    """The scenario's ``[pricing]`` table with its profiles resolved: the combined profile
    (``profile``), then each part's profile (``models``, ``orchestration``: a name, or a table
    with a ``profile`` key next to overrides) replacing that part whole, then the scenario's own
    keys field by field. Records where each part came from, and copies the monthly volume
    (``monthly_workflows``, or a Poisson fleet's ``rate_per_hour`` × 730 h) into the
    orchestration prices, which bill by it."""
    if not isinstance(raw_pricing, dict):
        raise ScenarioError("must be a table", file=file, key="pricing")
    own = copy.deepcopy(raw_pricing)
    combined = own.pop("profile", None)
    named: dict[str, object] = {}
    for part in PRICING_PARTS:
        value = own.get(part)
        if isinstance(value, str):
            named[part] = own.pop(part)
        elif isinstance(value, dict) and "profile" in value:
            value = dict(value)
            named[part] = value.pop("profile")
            own[part] = value
        elif value is not None and not isinstance(value, dict):
            raise ScenarioError("must be a profile name or a table of prices", file=file, key=f"pricing.{part}")
    out: dict = {}
    info: dict[str, dict] = {}
    if combined is not None:
        table = _load_part(combined, "pricing.profile", base_dir, file)
        out = copy.deepcopy(table)
        for part in PRICING_PARTS:
            info[part] = _profile_info(table, str(combined), _overridden(own, part) if part not in named else [])
    for part, ref in named.items():
        key = f"pricing.{part}" if isinstance(raw_pricing.get(part), str) else f"pricing.{part}.profile"
        table = _load_part(ref, key, base_dir, file)
        tables = PRICING_PARTS[part]
        if not any(t in table for t in tables):
            has = ", ".join(f"[{t}]" for t in ("gpu", "models", "orchestration") if t in table) or "no prices"
            raise ScenarioError(f"profile '{ref}' has no {' or '.join(f'[{t}]' for t in tables)} table "
                                f"(it has {has})", file=file, key=key)
        for t in tables:
            out[t] = copy.deepcopy(table.get(t, {}))
        info[part] = _profile_info(table, str(ref), _overridden(own, part))
    out = _deep_update(out, own)
    volume = out.get("monthly_workflows")
    fleet = data.get("fleet")
    if volume is None and isinstance(fleet, dict) and isinstance(fleet.get("rate_per_hour"), int | float) \
            and not isinstance(fleet.get("rate_per_hour"), bool) and fleet.get("arrival") == "poisson":
        volume = float(fleet["rate_per_hour"]) * HOURS_PER_MONTH
    orch = out.get("orchestration", {})
    if volume is not None and isinstance(orch, dict) and "monthly_workflows" not in orch:
        out["orchestration"] = {**orch, "monthly_workflows": volume}
    out["models_profile"] = info.get("models", {})
    out["orchestration_profile"] = info.get("orchestration", {})
    return out


def _prepare(raw: dict, base_dir: Path | None, file: str) -> dict:
    """Resolve the pricing profile and merge default retry policies, on a copy of raw."""
    data = copy.deepcopy(raw)
    data["pricing"] = _resolve_pricing(data.get("pricing", {}), data, base_dir, file)
    defaults = data.get("defaults", {})
    default_retry = defaults.get("retry", {}) if isinstance(defaults, dict) else {}
    if isinstance(default_retry, dict) and default_retry:
        try:
            RetryPolicy.model_validate(default_retry)
        except ValidationError as exc:
            err = exc.errors()[0]
            key, msg = _explain({**err, "loc": ("defaults", "retry", *err["loc"])}, data)
            raise ScenarioError(msg, file=file, key=key) from None
    steps = data.get("steps")
    if isinstance(steps, list) and default_retry:
        for step in steps:
            if isinstance(step, dict):
                step["retry"] = {**default_retry, **(step.get("retry") or {})}
    strategies = data.setdefault("strategies", {"restart": {}, "durable": {}})
    if isinstance(strategies, dict):
        for label, table in strategies.items():
            if isinstance(table, dict) and "kind" not in table:
                table["kind"] = label
        _apply_default_retry_to_strategies(strategies, default_retry)
    return data


def _check_partition(groups: list[list[str]], step_names: list[str]) -> str | None:
    """Why ``groups`` does not list every step exactly once, or None."""
    if not groups:
        return "'groups' is empty: list the steps of each activity, e.g. [[\"a\", \"b\"], [\"c\"]]"
    for j, group in enumerate(groups):
        if not group:
            return f"group {j} is empty: every activity needs at least one step"
    flat = [name for group in groups for name in group]
    for name in flat:
        if name not in step_names:
            hint = difflib.get_close_matches(name, step_names, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            return f"no step named '{name}'{extra}; steps: {', '.join(step_names)}"
    seen: set[str] = set()
    for name in flat:
        if name in seen:
            return f"step '{name}' is in more than one place: each step belongs to exactly one group"
        seen.add(name)
    missing = [name for name in step_names if name not in seen]
    if missing:
        return f"step(s) {', '.join(repr(m) for m in missing)} in no group: the groups must cover every step"
    return None


def check_groups(groups: list[list[str]], step_names: list[str]) -> str | None:
    """Why ``groups`` (step names per activity) is not a partition of the pipeline into runs of
    consecutive steps in order, or None if it is."""
    problem = _check_partition(groups, step_names)
    if problem is not None:
        return problem
    flat = [name for group in groups for name in group]
    if flat != step_names:
        return (f"the groups must list the steps in pipeline order ({', '.join(step_names)}), "
                f"got {', '.join(flat)}")
    return None


def check_heartbeat_steps(config: HeartbeatStrategy, steps: Sequence[Step]) -> tuple[str, str] | None:
    """(key, problem) of a per-step heartbeat table naming no step or a step that is not a GPU
    step, or None."""
    kinds = {s.name: s.kind for s in steps}
    names = [s.name for s in steps]
    for table in ("every_by_step", "checkpoint_cost_by_step"):
        for name in getattr(config, table):
            if name not in kinds:
                hint = difflib.get_close_matches(name, names, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                return f"{table}.{name}", f"no step named '{name}'{extra}; steps: {', '.join(names)}"
            if kinds[name] != "gpu":
                gpu = [n for n, k in kinds.items() if k == "gpu"]
                article = "an" if kinds[name][0] in "aeiou" else "a"
                return (f"{table}.{name}", f"step '{name}' is {article} {kinds[name]} step: only GPU steps save progress "
                        f"(GPU steps: {', '.join(gpu) or 'none'})")
    return None


def find_cycle(n: int, neighbours: Callable[[int], Iterable[int]]) -> list[int] | None:
    """A cycle of the directed graph on nodes 0…n−1 (edges i → ``neighbours(i)``), as its nodes
    in path order from the first one met again, or None. Depth-first, iterative."""
    state = [0] * n  # 0 new, 1 on the path, 2 done
    for root in range(n):
        if state[root]:
            continue
        stack = [(root, iter(neighbours(root)))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state[nxt] == 1:
                path = [m for m, _ in stack]
                return path[path.index(nxt):]
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(neighbours(nxt))))
    return None


def check_graph_groups(groups: list[list[str]], step_names: list[str], preds: list[list[int]],
                       is_wait: list[bool]) -> str | None:
    """Why ``groups`` are not activities of a workflow graph (docs/model.md, "Activities on
    graphs"), or None: every step in exactly one group; a wait step alone (a durable timer or
    signal, not work in a process); and no groups running after each other (so every group is
    convex: a path that leaves a group does not come back into it, and an activity can start
    once the activities before it are recorded). A group need not be connected: one activity
    may run independent branches in its process (the one activity of ``restart`` does)."""
    problem = _check_partition(groups, step_names)
    if problem is not None:
        return problem
    index = {name: i for i, name in enumerate(step_names)}
    of = {index[name]: j for j, group in enumerate(groups) for name in group}
    for group in groups:
        if len(group) > 1:
            for name in group:
                if is_wait[index[name]]:
                    return (f"step '{name}' is a wait (a durable timer or signal), which cannot share an activity: "
                            f"give it a group of its own")
    # groups as nodes: an edge h → j when a step of j runs after a step of h; it must have no cycle
    edges: dict[int, dict[int, tuple[int, int]]] = {j: {} for j in range(len(groups))}
    for i, ps in enumerate(preds):
        for p in ps:
            if of[p] != of[i]:
                edges[of[p]].setdefault(of[i], (p, i))
    found = find_cycle(len(groups), lambda g: sorted(edges[g]))
    if found is not None:
        cycle = [*found, found[0]]
        hops = ", ".join(f"{step_names[edges[a][b][0]]} → {step_names[edges[a][b][1]]}"
                         for a, b in zip(cycle, cycle[1:], strict=False))
        which = " and ".join(f"group {g} ({', '.join(groups[g])})" for g in found)
        return (f"{which} run after each other ({hops}): "
                f"an activity must be able to start once the activities before it are recorded "
                f"(a path that leaves a group must not come back into it)")
    return None


# --------------------------------------------------------------------------- strategy tables: key paths, hints, defaults
# (issue 15) pydantic reports an error inside a tagged strategy table as
# ("strategies", label, kind, key, ...): the kind is the discriminator's tag, not a key of the
# file. These helpers drop it from key paths and resolve the strategy's model for hints; and
# [defaults.retry] is the retry policy of every restart / retry_in_place strategy that gives none.

_RETRYING_KINDS = ("restart", "retry_in_place")


def _without_strategy_tag(loc: tuple) -> tuple:
    """``("strategies", "durable", "durable", "x")`` → ``("strategies", "durable", "x")``."""
    if len(loc) >= 3 and loc[0] == "strategies" and loc[2] in STRATEGY_KINDS:
        return loc[:2] + loc[3:]
    return loc


def _strategy_model(loc: tuple) -> tuple[Any, tuple] | None:
    """(strategy model, remaining loc) of an error inside a tagged strategy table, else None."""
    if len(loc) >= 4 and loc[0] == "strategies" and loc[2] in STRATEGY_KINDS:
        models = {m.model_fields["kind"].default: m for m in (
            RestartStrategy, DurableStrategy, RetryInPlaceStrategy, CheckpointStrategy, HeartbeatStrategy)}
        return models[loc[2]], loc[3:]
    return None


def _apply_default_retry_to_strategies(strategies: dict, default_retry: object) -> None:
    """Merge ``[defaults.retry]`` under the ``retry`` table of every restart and retry_in_place
    strategy (keys the strategy gives win), as it is merged under every step's."""
    if not isinstance(default_retry, dict) or not default_retry:
        return
    for table in strategies.values():
        if isinstance(table, dict) and table.get("kind") in _RETRYING_KINDS:
            own = table.get("retry")
            table["retry"] = {**default_retry, **own} if isinstance(own, dict) else (
                own if own is not None else dict(default_retry))


def _cross_check(sc: Scenario, file: str) -> None:
    for i, step in enumerate(sc.steps):
        key = f"steps[{i}]({step.name})"
        if step.kind == "gpu" and step.price_per_hour is None and step.gpu not in sc.pricing.gpu:
            known = ", ".join(sorted(sc.pricing.gpu)) or "none"
            raise ScenarioError(f"unknown GPU kind '{step.gpu}' (pricing has: {known})", file=file, key=f"{key}.gpu")
        if step.kind == "llm" and step.model not in sc.pricing.models:
            known = sorted(sc.pricing.models)
            hint = difflib.get_close_matches(step.model or "", known, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            src = sc.pricing.models_profile.name
            where = (f"models profile {src}" if src else "no models profile: add [pricing] models = \"article-2026-04\" "
                     f"or [pricing.models.\"{step.model}\"]")
            raise ScenarioError(
                f"unknown model '{step.model}'{extra}; pricing has: {', '.join(known) or 'none'} ({where})",
                file=file,
                key=f"{key}.model",
            )
    for label, config in sc.strategies.items():
        if isinstance(config, CheckpointStrategy) and config.groups is not None:
            if "every" in config.model_fields_set:
                raise ScenarioError("give either 'every' or 'groups', not both", file=file, key=f"strategies.{label}")
            if sc.is_graph:
                continue  # graph groups are checked once the graph is (_check_graph)
            problem = check_groups(config.groups, sc.step_names)
            if problem is not None:
                raise ScenarioError(problem, file=file, key=f"strategies.{label}.groups")
        if isinstance(config, HeartbeatStrategy):
            if config.every_s is None and not config.every_by_step:
                raise ScenarioError("missing: give 'every' (the save interval of every GPU step) or 'every_by_step' "
                                    "(e.g. every_by_step = { render = \"5m\" })", file=file,
                                    key=f"strategies.{label}.every")
            problem = check_heartbeat_steps(config, sc.steps)
            if problem is not None:
                key, message = problem
                raise ScenarioError(message, file=file, key=f"strategies.{label}.{key}")
    orch = sc.pricing.orchestration
    if orch.needs_monthly_volume and orch.monthly_workflows is None:
        what = "a fixed monthly cost to amortise" if orch.monthly_fixed_usd else "a monthly plan minimum"
        raise ScenarioError(f"the orchestration profile ({sc.pricing.orchestration_profile.name or 'this scenario'}) "
                            f"has {what}: give the monthly volume", file=file, key="pricing.monthly_workflows")
    rl = sc.failures.rate_limit
    if rl is not None and rl.steps is not None:
        for j, name in enumerate(rl.steps):
            if name not in sc.step_names:
                raise ScenarioError(
                    f"no step named '{name}' (steps: {', '.join(sc.step_names)})",
                    file=file,
                    key=f"failures.rate_limit.steps[{j}]",
                )


# ---- workflow graph validation (issue 12): predecessors exist, no cycle, strategies defined on graphs


def _check_graph(sc: Scenario, file: str) -> None:
    names = sc.step_names
    for i, step in enumerate(sc.steps):
        for j, name in enumerate(step.after or []):
            if name not in names:
                hint = difflib.get_close_matches(name, names, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ScenarioError(f"unknown predecessor '{name}'{extra}; steps: {', '.join(names)}",
                                    file=file, key=f"steps[{i}]({step.name}).after[{j}]")
            if name == step.name:
                raise ScenarioError("a step cannot run after itself", file=file, key=f"steps[{i}]({step.name}).after[{j}]")
    preds = sc.predecessors()
    found = find_cycle(len(preds), lambda i: preds[i])
    if found is not None:
        cycle = [sc.steps[n].name for n in found]
        node = found[-1]
        raise ScenarioError(f"the steps form a cycle: {' runs after '.join([*reversed(cycle), cycle[-1]])}",
                            file=file, key=f"steps[{node}]({sc.steps[node].name}).after")
    if not sc.is_graph:
        return
    for label, config in sc.strategies.items():
        if isinstance(config, CheckpointStrategy):
            if config.groups is None:
                raise ScenarioError("'every' k consecutive steps is defined on chains only; on a workflow graph give "
                                    "explicit activities, e.g. groups = [[\"a\", \"b\"], [\"c\"]]",
                                    file=file, key=f"strategies.{label}")
            problem = check_graph_groups(config.groups, names, preds, [s.kind == "wait" for s in sc.steps])
            if problem is not None:
                raise ScenarioError(problem, file=file, key=f"strategies.{label}.groups")
    if sc.provider is not None:
        raise ScenarioError("a shared provider is modelled for chains only (not yet for workflow graphs)",
                            file=file, key="provider")


def scenario_from_dict(raw: dict, *, file: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Validate a scenario table (as read from TOML). Raises ScenarioError."""
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario must be a table", file=file)
    data = _prepare(raw, base_dir, file)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key, msg = _explain(error, data)
            lines.append((key, msg))
        key, msg = lines[0]
        more = "".join(f"\n  also: key '{k}': {m}" for k, m in lines[1:6])
        raise ScenarioError(msg + more, file=file, key=key) from None
    _cross_check(scenario, file)
    _check_graph(scenario, file)
    scenario._raw = copy.deepcopy(raw)
    scenario._path = None if file.startswith("<") else file
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file, or a bundled scenario by name (``"video"``; see
    ``sim.model.bundled``). Raises ScenarioError naming file, key and problem."""
    path = resolve_scenario_path(path)
    raw = _read_toml(path, "scenario")
    return scenario_from_dict(raw, file=str(path), base_dir=path.parent)


# --------------------------------------------------------------------------- replace: changed copies by dotted path


def replace_values(scenario: Scenario, changes: Mapping[str, object]) -> Scenario:
    """``scenario.replace(changes)``: set each dotted path (``--vary`` paths and value syntax) in a
    copy of the scenario's table and validate the result once."""
    from sim.model.paths import ValueSyntaxError, parse_value, resolve_path, set_path

    if not isinstance(changes, Mapping):
        raise ScenarioError(f"replace() takes a mapping of dotted paths to values, got {type(changes).__name__}",
                            file=scenario.path)
    raw = scenario.raw
    seen: dict[tuple, str] = {}
    for text, value in changes.items():
        path = resolve_path(scenario, str(text))
        if path.keys in seen:
            raise ScenarioError(f"'{text}' sets the same parameter as '{seen[path.keys]}'", file=scenario.path)
        seen[path.keys] = str(text)
        where = f"replace {text}={value!r}"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ScenarioError(f"{where}: expected a number or a string such as \"30m\" or \"2%\"",
                                file=scenario.path, key=str(text))
        if isinstance(value, str):
            try:
                number = parse_value(value, where)
            except ValueSyntaxError as exc:
                raise ScenarioError(str(exc), file=scenario.path, key=str(text)) from None
            if path.kind != "duration" and any(ch.isalpha() and ch not in "eE" for ch in value):
                raise ScenarioError(f"{where}: not a duration; give a plain number", file=scenario.path,
                                    key=str(text))
        else:
            number = float(value)
        if path.kind == "int":
            if number != round(number):
                raise ScenarioError(f"{where}: takes an integer", file=scenario.path, key=str(text))
            raw = set_path(raw, path, int(round(number)), scenario)
        else:
            raw = set_path(raw, path, float(number), scenario)
    base_dir = Path(scenario.path).parent if scenario.path else None
    return scenario_from_dict(raw, file=scenario.path or "<scenario>", base_dir=base_dir)


_PROFILE_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?\b")


def _iso_date(text: str) -> tuple[datetime.date, bool] | None:
    """The date a profile's date field starts with (YYYY-MM-DD or YYYY-MM), and whether it has a day."""
    m = _PROFILE_DATE.match(text.strip())
    if not m:
        return None
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    try:
        return datetime.date(year, month, day), m.group(3) is not None
    except ValueError:
        return None


def profile_date_problem(table: dict) -> str | None:
    """Why a pricing profile's dates are not evidence, or None: ``source_date`` must start with a
    real date (YYYY-MM-DD, or YYYY-MM where the source gives only a month) and ``retrieved`` with
    a day no earlier than it."""
    source = _iso_date(str(table.get("source_date", "")))
    if source is None:
        return f"source_date {table.get('source_date', '')!r} does not start with a date (YYYY-MM-DD or YYYY-MM)"
    read = _iso_date(str(table.get("retrieved", "")))
    if read is None or not read[1]:
        return f"retrieved {table.get('retrieved', '')!r} does not start with a date (YYYY-MM-DD)"
    if source[0] > read[0]:
        return f"source_date {source[0]} is after retrieved {read[0]}"
    return None
