"""Scenario files: TOML → validated, frozen ``Scenario``; the one place callers import them from.

Durations in the file are human units ("45s", "2m"); in the models they are float seconds in
fields whose names end in ``_s``. The parts live in their own modules:

- ``sim.model.fields``: duration and distribution field types;
- ``sim.model.pricing_schema`` and ``sim.model.schema``: the tables of a scenario file;
- ``sim.model.profiles``: pricing profiles and the resolution of ``[pricing]``;
- ``sim.model.explain``: pydantic's errors as ``file: key 'a.b.c': problem``;
- ``sim.model.checks``: checks across tables (groups, graphs, prices for every step);
- ``sim.model.loading``: reading and validating a file or a table, and changed copies by dotted path.
"""

from sim.model.checks import check_graph_groups, check_groups, check_heartbeat_steps, find_cycle
from sim.model.fields import (
    DurationDist,
    NonNegativeDuration,
    NonNegativeDurationDist,
    PositiveDuration,
    parse_distribution,
)
from sim.model.loading import Scenario, load_scenario, replace_values, scenario_from_dict
from sim.model.pricing_schema import (
    Meter,
    ModelPrice,
    OrchestrationPrice,
    PriceTier,
    Pricing,
    ProfileInfo,
)
from sim.model.profiles import (
    BUNDLED_PRICING,
    HOURS_PER_MONTH,
    PRICING_PARTS,
    bundled_pricing_profiles,
    deep_update,
    load_pricing_profile,
    profile_date_problem,
)
from sim.model.schema import (
    STRATEGY_KINDS,
    CheckpointStrategy,
    CrashSource,
    Defaults,
    DeploySource,
    DurableStrategy,
    Failures,
    Fleet,
    HeartbeatStrategy,
    Provider,
    ProviderOutage,
    RateLimitSource,
    RestartStrategy,
    RetryInPlaceStrategy,
    RetryPolicy,
    ScenarioSchema,
    Simulation,
    Step,
    StrategyConfig,
    TemporalModel,
    WorkerModel,
)

__all__ = [
    "BUNDLED_PRICING", "HOURS_PER_MONTH", "PRICING_PARTS", "STRATEGY_KINDS", "CheckpointStrategy", "CrashSource",
    "Defaults", "DeploySource", "DurableStrategy", "DurationDist", "Failures", "Fleet", "HeartbeatStrategy", "Meter",
    "ModelPrice", "NonNegativeDuration", "NonNegativeDurationDist", "OrchestrationPrice", "PositiveDuration",
    "PriceTier", "Pricing", "ProfileInfo", "Provider", "ProviderOutage", "RateLimitSource", "RestartStrategy",
    "RetryInPlaceStrategy", "RetryPolicy", "Scenario", "ScenarioSchema", "Simulation", "Step", "StrategyConfig", "TemporalModel",
    "WorkerModel", "bundled_pricing_profiles", "check_graph_groups", "check_groups", "check_heartbeat_steps",
    "deep_update", "find_cycle", "load_pricing_profile", "load_scenario", "parse_distribution", "profile_date_problem",
    "replace_values", "scenario_from_dict",
]
