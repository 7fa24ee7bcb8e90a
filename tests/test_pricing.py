"""Composable pricing profiles and the vendors' billing rules, each checked against a bill
computed by hand from the price list (never from the code under test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.experiment.api import simulate
from sim.model.costs import (
    OrchestrationUsage,
    orchestration_breakdown_usd,
    orchestration_cost_usd,
    orchestration_price,
    tiered_bill_usd,
)
from sim.model.scenario import load_scenario, profile_date_problem, scenario_from_dict

LLM_PIPELINE = """
name = "combo"
{pricing}
[[steps]]
name = "parse"
kind = "llm"
model = "deepseek-v4-pro"
input_tokens = 10000
duration = "60s"
[[steps]]
name = "summary"
kind = "llm"
model = "gpt-5.4-mini"
output_tokens = 1000
duration = "30s"
[failures.rate_limit]
probability = 0.3
steps = ["summary"]
retry_after = "2s"
[strategies.restart]
[strategies.durable]
persist_latency = "10ms"
"""


def _load(tmp_path: Path, pricing: str):
    path = tmp_path / "s.toml"
    path.write_text(LLM_PIPELINE.format(pricing=pricing))
    return load_scenario(path)


# --------------------------------------------------------------------------- composition


def test_parts_combine_field_by_field(tmp_path: Path) -> None:
    sc = _load(tmp_path, """
[pricing]
monthly_workflows = 1000
[pricing.orchestration]
profile = "temporal-cloud-payg"
retention_days = 7
[pricing.models]
profile = "article-2026-04"
[pricing.models."gpt-5.4-mini"]
output_per_mtok = 3.0
""")
    p = sc.pricing
    # models part: the article's, with one field overridden and the other kept
    assert p.models["gpt-5.4-mini"].output_per_mtok == 3.0
    assert p.models["gpt-5.4-mini"].input_per_mtok == 0.40
    assert p.models["deepseek-v4-pro"].input_per_mtok == 1.39
    assert p.gpu["h100"] == 2.50
    # orchestration part: Temporal's, one field overridden, none of the article's figures
    o = p.orchestration
    assert o.retention_days == 7 and o.retained_storage_per_gb_hour_usd == 0.00105
    assert o.per_million_actions_usd == 50.0 and o.per_million_action_minutes_usd == 0.0
    assert o.monthly_workflows == 1000
    assert p.models_profile.name == "article-2026-04 (this scenario overrides models.gpt-5.4-mini)"
    assert p.orchestration_profile.name.startswith("temporal-cloud-payg (this scenario overrides orchestration.retention_days")
    assert "orchestration: temporal-cloud-payg" in p.describe()


def test_the_old_single_profile_still_gives_both_parts(tmp_path: Path) -> None:
    sc = _load(tmp_path, '[pricing]\nprofile = "article-2026-04"\n')
    assert sc.pricing.orchestration.per_million_actions_usd == 0.50
    assert sc.pricing.models["gpt-5.4-mini"].output_per_mtok == 2.50
    assert sc.pricing.describe() == "models and GPUs: article-2026-04; orchestration: article-2026-04"


def test_an_orchestration_part_replaces_the_combined_profiles(tmp_path: Path) -> None:
    sc = _load(tmp_path, '[pricing]\nprofile = "article-2026-04"\norchestration = "aws-step-functions-standard"\n')
    o = sc.pricing.orchestration
    assert o.per_million_actions_usd == 0.0 and o.per_million_action_minutes_usd == 0.0
    assert o.billable_unit == "state_transitions"
    assert sc.pricing.models["deepseek-v4-pro"].input_per_mtok == 1.39


def test_a_model_no_profile_prices_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        _load(tmp_path, '[pricing]\norchestration = "temporal-cloud-payg"\n')
    msg = str(err.value)
    assert err.value.key == "steps[0](parse).model"
    assert "unknown model 'deepseek-v4-pro'" in msg and "no models profile" in msg
    assert '[pricing] models = "article-2026-04"' in msg
    with pytest.raises(ScenarioError) as err:
        _load(tmp_path, '[pricing]\nmodels = "article-2026-04"\n[pricing.models."gpt-5.4-mini"]\ninput_per_mtok = 1\n'
                        .replace('models = "article-2026-04"\n', 'orchestration = "temporal-cloud-payg"\n'))
    assert "unknown model 'deepseek-v4-pro'" in str(err.value) and "pricing has: gpt-5.4-mini" in str(err.value)


@pytest.mark.parametrize(("pricing", "key", "words"), [
    ('[pricing]\nmodels = "article-2026-04"\norchestration = "temporal-clod-payg"\n', "pricing.orchestration",
     "did you mean 'temporal-cloud-payg'"),
    ('[pricing]\nmodels = "temporal-cloud-payg"\norchestration = "temporal-cloud-payg"\n', "pricing.models",
     "has no [gpu] or [models] table"),
    ('[pricing]\nmodels = "article-2026-04"\norchestration = 3\n', "pricing.orchestration", "profile name or a table"),
    ('[pricing]\nmodels = "article-2026-04"\n[pricing.orchestration]\nprofile = "temporal-cloud-payg"\n'
     'per_milion_actions_usd = 1\n', "pricing.orchestration.per_milion_actions_usd", "did you mean"),
    ('[pricing]\nmodels = "article-2026-04"\norchestration = "temporal-cloud-payg"\n'
     '[pricing.orchestration]\n', None, None),  # TOML itself refuses a key that is a string and a table
    ('[pricing]\nmodels = "article-2026-04"\norchestration = "self-hosted-example"\n', "pricing.monthly_workflows",
     "fixed monthly cost"),
])
def test_bad_pricing_is_one_line_naming_the_key(tmp_path: Path, pricing: str, key: str | None, words: str | None) -> None:
    with pytest.raises(ScenarioError) as err:
        _load(tmp_path, pricing)
    if key is None:
        assert "malformed TOML" in str(err.value)
        return
    assert err.value.key == key, str(err.value)
    assert words in str(err.value)


# --------------------------------------------------------------------------- Temporal Cloud tiers


def _usage(actions, events=0.0, open_s=0.0):
    a = np.asarray(actions, dtype=float)
    return OrchestrationUsage(actions=a, history_events=np.full(a.shape, float(events)),
                              open_time_s=np.full(a.shape, float(open_s)), pipeline_runs=a - 1)


def test_temporal_tiers_by_hand_across_tier_edges() -> None:
    tiers = orchestration_price("temporal-cloud-business").unit_tiers
    # written out from the price list: 5M at $50, 5M at $45, 10M at $40, 30M at $35, 50M at $30, then $25
    by_hand = {
        4e6: 4 * 50.0,
        5e6: 5 * 50.0,
        6e6: 5 * 50.0 + 1 * 45.0,
        12e6: 5 * 50.0 + 5 * 45.0 + 2 * 40.0,
        20e6: 250.0 + 225.0 + 400.0,
        49e6: 250.0 + 225.0 + 400.0 + 29 * 35.0,
        100e6: 250.0 + 225.0 + 400.0 + 1050.0 + 1500.0,
        130e6: 250.0 + 225.0 + 400.0 + 1050.0 + 1500.0 + 30 * 25.0,
    }
    for actions, bill in by_hand.items():
        assert tiered_bill_usd(actions, tiers) == pytest.approx(bill, rel=1e-12), actions


def test_temporal_run_cost_average_and_marginal_by_hand() -> None:
    # the Business plan's tiers and 10% without its allowance and minimum (they have tests of their own)
    base = orchestration_price("temporal-cloud-business").model_copy(
        update={"active_storage_per_gb_hour_usd": 0.0, "retained_storage_per_gb_hour_usd": 0.0,
                "included_million_units": 0.0, "plan_minimum_usd": 0.0})
    # 2,000,000 workflows a month of 6 actions = 12 M actions: straddles the 5 M and 10 M edges
    avg = base.model_copy(update={"monthly_workflows": 2e6})
    cost = float(orchestration_cost_usd(True, _usage([6.0]), avg)[0])
    month_bill = 5 * 50.0 + 5 * 45.0 + 2 * 40.0  # $555 for 12 M actions
    assert cost == pytest.approx(month_bill / 2e6 * 1.10, rel=1e-12)  # + the 10% plan fee
    marginal = base.model_copy(update={"monthly_workflows": 2e6, "tier_price": "marginal"})
    cost_m = float(orchestration_cost_usd(True, _usage([6.0]), marginal)[0])
    assert cost_m == pytest.approx(6 * 40.0 / 1e6 * 1.10, rel=1e-12)  # the 12 M-th action is in the $40 tier
    # a run with a retry (7 actions): 14 M actions a month, still the $40 tier at the margin
    cost7 = float(orchestration_cost_usd(True, _usage([7.0]), avg)[0])
    assert cost7 == pytest.approx((250 + 225 + 4 * 40.0) / 2e6 * 1.10, rel=1e-12)
    # without a monthly volume: the first tier's $50 per million
    none = base.model_copy(update={"monthly_workflows": None})
    assert float(orchestration_cost_usd(True, _usage([6.0]), none)[0]) == pytest.approx(6 * 50e-6 * 1.1, rel=1e-12)


def test_temporal_storage_by_hand() -> None:
    price = orchestration_price("temporal-cloud-payg").model_copy(update={"monthly_workflows": 1000})
    parts = orchestration_breakdown_usd(True, _usage([5.0], events=29, open_s=1800.0), price)
    gb = 29 * 400 / 1e9
    assert parts["active_storage"][0] == pytest.approx(gb * 0.5 * 0.042, rel=1e-12)
    assert parts["retained_storage"][0] == pytest.approx(gb * 30 * 24 * 0.00105, rel=1e-12)
    assert parts["actions"][0] == pytest.approx(5 * 50e-6, rel=1e-12)  # 5,000 actions a month: first tier


# --------------------------------------------------------------------------- Step Functions


def test_step_functions_standard_transitions_of_a_chain_with_retries_by_hand(tmp_path: Path) -> None:
    sc = _load(tmp_path, '[pricing]\nmodels = "article-2026-04"\norchestration = "aws-step-functions-standard"\n'
                         'monthly_workflows = 10000\n')
    df = simulate(sc, 400, seed=3)
    dur = df[df["strategy"] == "durable"]
    assert dur["rate_limited"].max() >= 2  # some runs retried the summary more than once
    for row in dur.itertuples():
        # a chain of 2 Task states: one transition per attempt, each retry one more
        transitions = 2 + row.rate_limited
        assert row.attempts == transitions
        month = 10000 * transitions
        by_hand = (month - 4000) * 0.025 / 1000 / 10000  # 4,000 free a month, then $0.025 per 1,000
        assert row.orchestration_cost_usd == pytest.approx(by_hand, rel=1e-12)
    assert (df.loc[df["strategy"] == "restart", "orchestration_cost_usd"] == 0).all()


def test_step_functions_express_rounds_duration_and_memory_and_refuses_long_runs() -> None:
    price = orchestration_price("aws-step-functions-express").model_copy(update={"memory_mb": 100.0})
    usage = OrchestrationUsage(actions=np.array([3.0, 3.0, 3.0]), history_events=np.zeros(3),
                               open_time_s=np.array([180.01, 180.1, 301.0]), pipeline_runs=np.array([2.0, 2.0, 2.0]))
    cost = orchestration_cost_usd(True, usage, price)
    gb = 128 / 1024  # 100 MB billed as two 64 MB chunks
    assert cost[0] == pytest.approx(1.0 / 1e6 + 180.1 * gb * 0.00001667, rel=1e-12)  # 180.01 s → 180.1 s
    assert cost[1] == pytest.approx(1.0 / 1e6 + 180.1 * gb * 0.00001667, rel=1e-12)
    assert np.isnan(cost[2])  # over Express's 5 minutes: not priceable


def test_self_hosted_amortises_the_fixed_cost(tmp_path: Path) -> None:
    sc = _load(tmp_path, '[pricing]\nmodels = "article-2026-04"\nmonthly_workflows = 70000\n'
                         '[pricing.orchestration]\nprofile = "self-hosted-example"\nper_history_event_usd = 1e-7\n')
    df = simulate(sc, 50, seed=1)
    dur = df[df["strategy"] == "durable"]
    expected = 1400.0 / 70000 + dur["history_events"] * 1e-7
    np.testing.assert_allclose(dur["orchestration_cost_usd"], expected, rtol=1e-12)


def test_fleet_volume_comes_from_its_arrival_rate() -> None:
    root = Path(__file__).resolve().parents[1] / "experiments" / "scenarios"
    sc = load_scenario(root / "fleet_video.toml")
    assert sc.fleet.rate_per_hour == 30
    assert sc.pricing.orchestration.monthly_workflows == 30 * 730
    raw = sc.raw
    raw["pricing"]["monthly_workflows"] = 5
    assert scenario_from_dict(raw, base_dir=root).pricing.orchestration.monthly_workflows == 5


def test_every_profile_states_its_source_date_and_gaps_and_is_documented() -> None:
    from sim.model.scenario import bundled_pricing_profiles, load_pricing_profile

    costs_md = (Path(__file__).resolve().parents[1] / "docs" / "costs.md").read_text()
    for name in bundled_pricing_profiles():
        table, _ = load_pricing_profile(name)
        assert table["name"] == name
        for key in ("source", "source_date", "not_modelled", "retrieved", "plan", "unit"):
            assert str(table.get(key, "")).strip(), (name, key)
        assert f"| `{name}` |" in costs_md, name
        assert profile_date_problem(table) is None, (name, profile_date_problem(table))


@pytest.mark.parametrize(("source_date", "retrieved", "ok"), [
    ("2026-09-17 (the page's version)", "2026-12-07", True),
    ("2025-01 (the plan's start)", "2026-12-07", True),
    ("not known (the copy carries no date)", "2026-12-07", False),
    ("", "2026-12-07", False),
    ("2026-13-01", "2026-12-07", False),
    ("2026-02-30", "2026-12-07", False),
    ("2026-09-17", "", False),
    ("2026-12-08", "2026-12-07", False),  # a copy cannot be dated after it was read
])
def test_a_profile_without_a_real_date_is_refused(source_date: str, retrieved: str, ok: bool) -> None:
    problem = profile_date_problem({"source_date": source_date, "retrieved": retrieved})
    assert (problem is None) == ok, problem


# --------------------------------------------------------------------------- plans, allowances, more vendors
# Each bill written out by hand from the price list in the profile's comments, for a month of W
# runs like the one priced; the run's cost is that bill / W.

GB_PER_RUN = 29 * 400 / 1e9  # 29 history events of 400 bytes


def _run_cost(profile: str, w: float, actions: float = 5.0, events: float = 29.0, open_s: float = 180.0,
              **update: object) -> float:
    price = orchestration_price(profile).model_copy(update={"monthly_workflows": w, **update})
    return float(orchestration_cost_usd(True, _usage([actions], events=events, open_s=open_s), price)[0])


def test_business_minimum_decides_a_small_month_by_hand() -> None:
    # 10,000 runs of 5 actions: 50,000 actions, inside the 2.5 M included; storage inside its
    # 2.5 GB x 744 GBh active and 100 GB x 744 GBh retained: usage $0, so the fee is the $500 minimum
    assert 10_000 * GB_PER_RUN * 720 < 100 * 744
    assert _run_cost("temporal-cloud-business", 10_000) == pytest.approx(500.0 / 10_000, rel=1e-12)
    assert _run_cost("temporal-cloud-essentials", 10_000) == pytest.approx(100.0 / 10_000, rel=1e-12)


def test_business_and_essentials_tiers_decide_a_large_month_by_hand() -> None:
    w = 10_000_000
    retained_gbh = w * GB_PER_RUN * 30 * 24  # 83,520 GBh; active: w x GB x 0.05 h = 5.8 GBh, inside both plans
    # Business: 50 M - 2.5 M = 47.5 M actions: 5 M x 50 + 5 M x 45 + 10 M x 40 + 27.5 M x 35
    actions = 250 + 225 + 400 + 27.5 * 35
    usage = actions + (retained_gbh - 100 * 744) * 0.00105
    month = usage + max(500.0, 0.10 * usage)
    assert _run_cost("temporal-cloud-business", w) == pytest.approx(month / w, rel=1e-9)
    # Essentials: 49 M actions above its 1 M; 40 GB retained included; 5% or $100
    actions = 250 + 225 + 400 + 29 * 35
    usage = actions + (retained_gbh - 40 * 744) * 0.00105
    month = usage + max(100.0, 0.05 * usage)
    assert month - usage == 100.0  # 5% of $1,946 is $97: the minimum still sets the fee, the tiers the bill
    assert _run_cost("temporal-cloud-essentials", w) == pytest.approx(month / w, rel=1e-9)


def test_developer_plan_is_flat_with_a_tenth_on_top_by_hand() -> None:
    w = 10_000_000
    active_gbh, retained_gbh = w * GB_PER_RUN * 0.05, w * GB_PER_RUN * 720
    usage = 50e6 * 50 / 1e6 + active_gbh * 0.042 + retained_gbh * 0.00105
    assert _run_cost("temporal-cloud-payg", w) == pytest.approx(usage * 1.10 / w, rel=1e-9)


def test_a_month_of_runs_adds_up_to_the_months_bill() -> None:
    price = orchestration_price("temporal-cloud-essentials").model_copy(update={"monthly_workflows": 4.0e6})
    per_run = orchestration_breakdown_usd(True, _usage([6.0], events=35, open_s=240.0), price)
    month = {k: 4.0e6 * float(v[0]) for k, v in per_run.items()}
    assert month["actions"] == pytest.approx(250 + 225 + 400 + 3 * 35, rel=1e-9)  # 24 M - 1 M = 23 M actions
    assert month["surcharge"] == pytest.approx(max(100.0, 0.05 * (month["actions"] + month["active_storage"]
                                                                   + month["retained_storage"])), rel=1e-9)


def test_a_plan_minimum_needs_the_monthly_volume(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        _load(tmp_path, '[pricing]\nmodels = "article-2026-04"\norchestration = "temporal-cloud-business"\n')
    assert err.value.key == "pricing.monthly_workflows" and "plan minimum" in str(err.value)


def test_express_duration_tiers_by_hand() -> None:
    w = 1e6
    gbs = 180.1 * 64 / 1024  # 180.01 s billed as 180.1 s, 64 MB
    month_gbs = w * gbs  # 11.26 M GB-s: past the first 1,000 GB-hours (3.6 M GB-s)
    bill = 3.6e6 * 0.00001667 + (month_gbs - 3.6e6) * 0.00000833
    cost = _run_cost("aws-step-functions-express", w, actions=3.0, events=0.0, open_s=180.01)
    assert cost == pytest.approx(1.0 / 1e6 + bill / w, rel=1e-9)
    beyond = 2e6 * gbs  # 22.5 M GB-s: into the third tier (above 18 M)
    bill3 = 3.6e6 * 0.00001667 + 14.4e6 * 0.00000833 + (beyond - 18e6) * 0.00000456
    cost3 = _run_cost("aws-step-functions-express", 2e6, actions=3.0, events=0.0, open_s=180.01)
    assert cost3 == pytest.approx(1.0 / 1e6 + bill3 / 2e6, rel=1e-9)


def test_step_functions_standard_regional_price_by_hand() -> None:
    # 3 activity attempts = 3 transitions; 10,000 a month = 30,000, 4,000 free; Sao Paulo $0.0375 per 1,000
    cost = _run_cost("aws-step-functions-standard", 10_000, actions=4.0, region="sa-east-1")
    assert cost == pytest.approx(26_000 * 0.0375 / 1000 / 10_000, rel=1e-12)
    with pytest.raises(ValueError, match="region 'mars-1' has no price"):
        orchestration_price("aws-step-functions-standard").model_validate(
            {**orchestration_price("aws-step-functions-standard").model_dump(), "region": "mars-1"})


def test_azure_durable_functions_by_hand() -> None:
    # 5 activity attempts: 2 + 2 x 5 = 12 executions (starter, orchestrator start, each activity
    # and the replay on its result); 100,000 runs: 1.2 M executions, 1 M free, $0.20 per million.
    # GB-s: 200 s x 128 MB = 25 GB-s; 2.5 M GB-s a month, 400,000 free, $0.000016 each.
    w = 100_000
    bill = 0.2 * 0.20 + (2.5e6 - 0.4e6) * 0.000016
    assert _run_cost("azure-durable-functions", w, actions=6.0, open_s=200.0) == pytest.approx(bill / w, rel=1e-9)


def test_google_cloud_workflows_by_hand() -> None:
    # 5 activity attempts = 5 external steps (retries included) + 2 internal steps per run
    w = 100_000
    bill = (5 * w - 2_000) * 0.025 / 1000 + (2 * w - 5_000) * 0.01 / 1000
    assert _run_cost("google-cloud-workflows", w, actions=6.0) == pytest.approx(bill / w, rel=1e-9)
    # below the free tier: nothing to pay
    assert _run_cost("google-cloud-workflows", 300, actions=6.0) == 0.0


def test_prices_command_lists_every_profile_with_its_dates(tmp_path: Path, capsys) -> None:
    from sim.cli import main
    from sim.model.scenario import bundled_pricing_profiles, load_pricing_profile

    assert main(["prices"]) == 0
    out = capsys.readouterr().out
    for name in bundled_pricing_profiles():
        table, _ = load_pricing_profile(name)
        assert f"\n{name}  [" in "\n" + out, name
        assert table["source_date"][:10] in out and table["plan"][:20] in out
    assert "WARNING" not in out
    assert "plan minimum: $100 a month" in out and "plan minimum: $500 a month" in out
    # a user's profile without a date is shown with a warning; an unknown name is one line, exit 2
    mine = tmp_path / "mine.toml"
    mine.write_text('name = "mine"\nsource = "my notes"\nsource_date = "not known"\n[orchestration]\n'
                    'per_million_actions_usd = 40.0\n')
    assert main(["prices", str(mine)]) == 0
    assert "WARNING: source_date 'not known' does not start with a date" in capsys.readouterr().out
    assert main(["prices", "temporal-clod"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'temporal-cloud-payg'" in err and len(err.strip().splitlines()) == 1


def test_the_current_model_prices_by_hand(tmp_path: Path) -> None:
    # a pipeline without failures: each call billed once, tokens x the profile's price
    sc = _load(tmp_path, '[pricing]\nmodels = "models-2026-06"\norchestration = "temporal-cloud-payg"\n'
                         'monthly_workflows = 1000\n').model_copy()
    assert sc.pricing.models_profile.name == "models-2026-06"
    assert "models and GPUs: models-2026-06" in sc.pricing.describe()
    raw = sc.raw
    raw["failures"] = {}
    df = simulate(scenario_from_dict(raw, base_dir=tmp_path), 20, seed=1)
    by_hand = 10_000 * 0.435 / 1e6 + 1000 * 4.50 / 1e6  # DeepSeek-V4-Pro input, GPT-5.4-mini output
    np.testing.assert_allclose(df["compute_cost_usd"], by_hand, rtol=1e-12)


def test_a_step_longer_than_an_azure_execution_cannot_run_there(tmp_path: Path) -> None:
    from sim.analysis.reprice import price_alternatives
    from sim.model.costs import activity_time_limit_problem

    azure = orchestration_price("azure-durable-functions")
    assert azure.max_activity_duration_s == 600.0  # the Consumption plan's 10 minutes
    long_gpu = """
name = "long"
[pricing]
profile = "article-2026-04"
[[steps]]
name = "render"
kind = "gpu"
gpu = "h100"
duration = "15m"
[failures.crash]
mtbf = "2h"
[strategies.restart]
[strategies.durable]
"""
    path = tmp_path / "long.toml"
    path.write_text(long_gpu)
    sc = load_scenario(path)
    problem = activity_time_limit_problem(sc.steps, azure)
    assert problem is not None and "step 'render'" in problem and "100% of its draws" in problem
    runs = simulate(sc, 50, seed=1)
    alternatives = {p: (sv, why) for p, sv, why in price_alternatives(runs, sc, "durable", "restart",
                                                                      ["azure-durable-functions", "temporal-cloud-payg"])}
    assert alternatives["azure-durable-functions"][0] is None
    assert "cannot run this pipeline: step 'render'" in alternatives["azure-durable-functions"][1]
    assert alternatives["temporal-cloud-payg"][0] is not None
    # a step of 20 s median (95th percentile 40 s) never reaches 10 minutes
    short = _load(tmp_path, '[pricing]\nprofile = "article-2026-04"\n')
    assert activity_time_limit_problem(short.steps, azure) is None
