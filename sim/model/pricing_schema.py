"""The price tables of a scenario (``[pricing]``) and of pricing profiles: token prices per model,
GPU prices, and the orchestration's meters and plans."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from sim.model.fields import ConfigModel as _Model

#
# A scenario's prices combine two parts, each from a profile (a bundled name or a TOML path):
# model and GPU prices (``[pricing] models = "…"``) and orchestration prices
# (``[pricing] orchestration = "…"``); ``[pricing] profile = "…"`` takes both parts from one
# file. The scenario's own ``[pricing.gpu]``, ``[pricing.models]`` and
# ``[pricing.orchestration]`` keys then override field by field (``sim.model.profiles.resolve_pricing``). How
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
