"""Orchestration cost model: every cost column recomputes from counts and prices; profiles."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.experiment.api import simulate
from sim.model.costs import orchestration_price, with_orchestration_profile
from sim.model.scenario import (
    bundled_pricing_profiles,
    load_pricing_profile,
    load_scenario,
    scenario_from_dict,
)

ROOT = Path(__file__).resolve().parents[1]
RESEARCH = ROOT / "experiments" / "scenarios" / "research_paper.toml"

PIPELINE = """
name = "cost-check"
[pricing]
profile = "{profile}"
[pricing.models."m"]
input_per_mtok = 1.0
output_per_mtok = 4.0
{extra}
[[steps]]
name = "a"
kind = "llm"
model = "m"
input_tokens = 3000
duration = {{ dist = "lognormal", median = "20s", p95 = "40s" }}
[[steps]]
name = "b"
kind = "gpu"
price_per_hour = 3.0
duration = "2m"
[[steps]]
name = "c"
kind = "llm"
model = "m"
output_tokens = 900
duration = "30s"
[failures.rate_limit]
probability = 0.2
retry_after = "3s"
[failures.crash]
mtbf = "20m"
restart_time = "15s"
[strategies.restart]
[strategies.durable]
persist_latency = "25ms"
"""


def _scenario(tmp_path: Path, profile: str = "article-2026-04", extra: str = ""):
    path = tmp_path / "s.toml"
    path.write_text(PIPELINE.format(profile=profile, extra=extra))
    return load_scenario(path)


def _expected(df, price: dict) -> np.ndarray:
    """The cost model written out independently from docs/costs.md."""
    out = np.zeros(len(df))
    for i, row in enumerate(df.itertuples(index=False)):
        minutes = row.makespan_s / 60.0
        if row.strategy == "restart":
            out[i] = (row.pipeline_restarts + 1) * price.get("restart_per_run_usd", 0.0) \
                + minutes * price.get("restart_per_run_minute_usd", 0.0)
            continue
        attempts = row.orchestration_actions - 1
        billed = (row.orchestration_actions + price.get("heartbeats_per_activity_attempt", 0.0) * attempts
                  + price.get("timers_per_run", 0.0) + price.get("signals_per_run", 0.0))
        gb = row.history_events * price.get("bytes_per_history_event", 0.0) / 1e9
        # tiers without a monthly volume: the first paid tier's price (the test scenario gives none)
        per_million = price.get("per_million_actions_usd", 0.0) or next(
            (t["per_million_usd"] for t in price.get("unit_tiers", []) if t["per_million_usd"] > 0), 0.0)
        actions_usd = billed * per_million / 1e6
        active = gb * minutes / 60.0 * price.get("active_storage_per_gb_hour_usd", 0.0)
        retained = gb * price.get("retention_days", 0.0) * 24 * price.get("retained_storage_per_gb_hour_usd", 0.0)
        out[i] = (price.get("per_workflow_run_usd", 0.0) + actions_usd
                  + minutes * price.get("per_million_action_minutes_usd", 0.0) / 1e6 + active + retained
                  + price.get("usage_surcharge_fraction", 0.0) * (actions_usd + active + retained))
    return out


def _check_columns(df, price: dict) -> None:
    assert (df["orchestration_actions"] > 0).all()
    assert np.allclose(df["orchestration_cost_usd"].to_numpy(), _expected(df, price), rtol=1e-12, atol=0)
    assert np.allclose(df["total_cost_usd"], df["compute_cost_usd"] + df["orchestration_cost_usd"], rtol=1e-12, atol=0)
    dur = df[df["strategy"] == "durable"]
    # the engine's action count: workflow start + one per activity attempt (every retry is billed)
    assert (dur["orchestration_actions"] == 1 + dur["attempts"]).all()
    # 5 + 6 per activity, and more where a crash delayed a workflow task (docs/model.md, "After a crash")
    assert (dur["history_events"] >= 5 + 6 * 3).all()
    assert ((dur["history_events"] - (5 + 6 * 3)) != 1).all()  # 2 per sticky timeout, 3 per task timeout


def _profile_table(name: str) -> dict:
    with resources.as_file(resources.files("sim.data.pricing") / f"{name}.toml") as p:
        return tomllib.loads(Path(p).read_text())["orchestration"]


@pytest.mark.parametrize("profile", ["article-2026-04", "temporal-cloud-payg"])
def test_cost_columns_recompute_from_counts_and_prices(tmp_path: Path, profile: str) -> None:
    sc = _scenario(tmp_path, profile)
    df = simulate(sc, 300, seed=5)
    assert df["attempts"].max() > 3  # failures happened, so counts vary between runs
    price = _profile_table(profile)
    _check_columns(df, price)
    if profile == "temporal-cloud-payg":
        assert (df.loc[df["strategy"] == "durable", "orchestration_cost_usd"] > 0).all()


def test_scenario_overrides_every_orchestration_price(tmp_path: Path) -> None:
    extra = """
[pricing.orchestration]
unit_tiers = []                 # the profile's volume tiers replaced by a flat price
per_million_actions_usd = 7.0
per_million_action_minutes_usd = 3.0
active_storage_per_gb_hour_usd = 11.0
retained_storage_per_gb_hour_usd = 0.5
retention_days = 9
bytes_per_history_event = 2500
per_workflow_run_usd = 0.001
heartbeats_per_activity_attempt = 4
timers_per_run = 2
signals_per_run = 1
usage_surcharge_fraction = 0.25
restart_per_run_usd = 0.0007
restart_per_run_minute_usd = 0.0002
"""
    sc = _scenario(tmp_path, "temporal-cloud-payg", extra)
    assert sc.pricing.orchestration.per_million_actions_usd == 7.0
    price = sc.pricing.orchestration.model_dump()
    df = simulate(sc, 200, seed=9)
    _check_columns(df, price)
    restart = df[df["strategy"] == "restart"]
    assert (restart["orchestration_cost_usd"] >= 0.0007).all()
    # an override changes the cost: doubling the action price raises every durable run's cost
    raw = sc.raw
    raw["pricing"]["orchestration"]["per_million_actions_usd"] = 14.0
    df2 = simulate(scenario_from_dict(raw, base_dir=tmp_path), 200, seed=9)
    d1 = df[df["strategy"] == "durable"]["orchestration_cost_usd"].to_numpy()
    d2 = df2[df2["strategy"] == "durable"]["orchestration_cost_usd"].to_numpy()
    assert (d2 > d1).all()


def test_flat_per_run_price_of_the_article_per_paper_profile() -> None:
    base = load_scenario(RESEARCH)
    sc = scenario_from_dict(with_orchestration_profile(base.raw, "article-2026-04-per-paper"), file=str(RESEARCH),
                            base_dir=RESEARCH.parent)
    df = simulate(sc, 200, seed=1)
    dur = df[df["strategy"] == "durable"]
    assert np.allclose(dur["orchestration_cost_usd"], 0.0045, rtol=1e-12)
    assert (df[df["strategy"] == "restart"]["orchestration_cost_usd"] == 0).all()


def test_swapping_profiles_replaces_every_orchestration_field() -> None:
    sc = load_scenario(RESEARCH)  # Temporal's list prices, 100,000 papers a month
    raw = with_orchestration_profile(sc.raw, "article-2026-04-per-paper")
    swapped = scenario_from_dict(raw, file=str(RESEARCH), base_dir=RESEARCH.parent)
    o = swapped.pricing.orchestration
    assert o.per_workflow_run_usd == 0.0045
    assert o.unit_tiers == [] and o.active_storage_per_gb_hour_usd == 0.0  # no Temporal price leaks in
    assert o == orchestration_price("article-2026-04-per-paper").model_copy(update={"monthly_workflows": 100_000})
    assert swapped.pricing.models["gpt-5.4-mini"].output_per_mtok == 2.50  # AI prices unchanged
    assert swapped.pricing.orchestration_profile.name == "article-2026-04-per-paper"
    back = scenario_from_dict(with_orchestration_profile(raw, "temporal-cloud-payg"), file=str(RESEARCH),
                              base_dir=RESEARCH.parent)
    assert back.pricing == sc.pricing


def test_profiles_load_by_name_and_by_path(tmp_path: Path) -> None:
    assert {"article-2026-04", "temporal-cloud-payg"} <= set(bundled_pricing_profiles())
    article = orchestration_price("article-2026-04")
    assert (article.per_million_actions_usd, article.per_million_action_minutes_usd) == (0.50, 0.20)
    # a user copies the bundled file, edits one price and points a scenario at the copy
    with resources.as_file(resources.files("sim.data.pricing") / "temporal-cloud-payg.toml") as p:
        text = Path(p).read_text()
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "mine.toml").write_text(text.replace("per_million_actions_usd = 50.0",
                                                                "per_million_actions_usd = 42.0"))
    sc = _scenario(tmp_path, "prices/mine.toml")
    assert sc.pricing.orchestration.per_million_actions_usd == 42.0
    assert sc.pricing.orchestration.retained_storage_per_gb_hour_usd == 0.00105
    assert orchestration_price(str(tmp_path / "prices" / "mine.toml")).per_million_actions_usd == 42.0


@pytest.mark.parametrize(("body", "key", "words"), [
    ("[orchestration]\nper_milion_actions_usd = 1.0\n", "orchestration.per_milion_actions_usd", "per_million_actions_usd"),
    ("[orchestration]\nretention_days = -3\n", "orchestration.retention_days", "greater than or equal"),
    ("[models.x]\ninput_per_mtok = \"cheap\"\n", "models.x.input_per_mtok", "number"),
    ("profile = \"article-2026-04\"\n", "profile", "another profile"),
])
def test_bad_profile_names_its_file_and_key(tmp_path: Path, body: str, key: str, words: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \"bad\"\n" + body)
    with pytest.raises(ScenarioError) as err:
        _scenario(tmp_path, "bad.toml")
    assert err.value.file == str(bad)
    assert err.value.key == key
    assert words in str(err.value)


def test_missing_and_malformed_profiles(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not found") as err:
        _scenario(tmp_path, "nowhere.toml")
    # the scenario's file and key are named, and the profile file that is missing
    assert err.value.file.endswith("s.toml") and err.value.key == "pricing.profile"
    assert "nowhere.toml" in str(err.value)
    with pytest.raises(ScenarioError, match="unknown pricing profile 'temporal-clod'"):
        _scenario(tmp_path, "temporal-clod")
    (tmp_path / "broken.toml").write_text("[orchestration\n")
    with pytest.raises(ScenarioError, match="malformed TOML"):
        _scenario(tmp_path, "broken.toml")


def test_temporal_profiles_state_their_source_and_date() -> None:
    for name, commit, date in (("temporal-cloud-payg", "0217b718", "2026-09-17"),
                               ("temporal-cloud-business", "0217b718", "2026-09-17"),
                               ("temporal-cloud-essentials", "003cfc58", "2025-01")):
        table, _ = load_pricing_profile(name)
        assert commit in table["source"]  # the copy of the documentation the figures come from
        assert table["source_date"].startswith(date)


def test_tiered_bill_over_an_array_equals_the_bill_of_each_month_alone():
    """The tiered bill skips tiers no month reaches and adds a constant for tiers every month fills;
    both must give, bit for bit, what each month's bill computed alone gives (the plain formula)."""
    from sim.model.costs import tiered_bill_usd
    from sim.model.scenario import PriceTier

    tiers = [PriceTier(up_to_million=0.1, per_million_usd=0.0), PriceTier(up_to_million=5, per_million_usd=50.0),
             PriceTier(up_to_million=10, per_million_usd=45.0), PriceTier(up_to_million=None, per_million_usd=25.0)]

    def alone(x: float) -> float:
        bill, low = 0.0, 0.0
        for tier in tiers:
            high = np.inf if tier.up_to_million is None else tier.up_to_million * 1e6
            bill = bill + min(max(x - low, 0.0), high - low) * (tier.per_million_usd / 1e6)
            low = high
        return bill

    rng = np.random.default_rng(7)
    for lo, hi in ((0.0, 5e4), (2e5, 4e6), (6e6, 9e6), (1.2e7, 3e7), (0.0, 3e7), (5e6, 5e6)):
        months = rng.uniform(lo, hi, 1000)
        got = tiered_bill_usd(months, tiers)
        assert np.array_equal(got, np.array([alone(x) for x in months])), (lo, hi)


def test_costs_of_runs_that_share_their_usage_equal_costs_run_by_run(monkeypatch):
    """Where most runs used the orchestrator as the first did, their cost is computed once: every
    figure must be the one computed run by run, to the bit."""
    from sim.model import costs

    sc = load_scenario("video")
    shared = simulate(sc, 6000, seed=5, engine="fast")
    durable = shared[shared["strategy"] == "durable"]
    usage = costs.OrchestrationUsage(actions=durable["orchestration_actions"].to_numpy(),
                                     history_events=durable["history_events"].to_numpy(),
                                     open_time_s=durable["makespan_s"].to_numpy(),
                                     pipeline_runs=durable["orchestration_actions"].to_numpy() - 1)
    assert costs._shared_usage(usage) is not None  # most runs never fail: the shared path is taken
    assert (durable["crashes"] > 0).any() and durable["orchestration_cost_usd"].nunique() > 1
    monkeypatch.setattr(costs, "SHARED_USAGE_MIN_RUNS", 10**12)
    separate = simulate(sc, 6000, seed=5, engine="fast")
    for col in ("orchestration_cost_usd", "total_cost_usd"):
        assert np.array_equal(shared[col].to_numpy(), separate[col].to_numpy()), col
