"""The same runs priced under other orchestration profiles: recomputed from each run's counts,
checked against a bill written out by hand, against the engine's own columns, and end to end
through `sim compare`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.analysis.report.compare import compare_pricing
from sim.analysis.reprice import reprice, with_orchestration
from sim.cli import main
from sim.experiment.api import simulate
from sim.model.scenario import load_scenario

SCENARIO = """
name = "reprice"
[pricing]
profile = "article-2026-04"
orchestration = "temporal-cloud-payg"
monthly_workflows = 2000
[[steps]]
name = "parse"
kind = "llm"
model = "deepseek-v4-pro"
input_tokens = 10000
duration = { dist = "lognormal", median = "40s", p95 = "70s" }
[[steps]]
name = "render"
kind = "gpu"
gpu = "h100"
duration = "90s"
[[steps]]
name = "summary"
kind = "llm"
model = "gpt-5.4-mini"
output_tokens = 1000
duration = "30s"
[failures.rate_limit]
probability = 0.25
steps = ["summary"]
retry_after = "2s"
[failures.crash]
mtbf = "30m"
restart_time = "10s"
[strategies.restart]
[strategies.durable]
persist_latency = "10ms"
"""


@pytest.fixture
def scenario(tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    return load_scenario(path)


def test_two_profiles_equal_a_hand_recomputation_from_the_counts(scenario) -> None:
    runs = simulate(scenario, 400, seed=11)
    assert runs["attempts"].max() > 4  # retries happened: the counts vary from run to run
    durable = (runs["strategy"] == "durable").to_numpy()

    std = reprice(runs, scenario, "aws-step-functions-standard")
    # Step Functions Standard, by hand: a transition per activity attempt (orchestration_actions
    # counts the workflow start too), 2,000 runs a month, 4,000 free, then $0.025 per 1,000
    transitions = runs["orchestration_actions"].to_numpy() - 1
    month = 2000 * transitions
    by_hand = np.where(durable, np.maximum(month - 4000, 0) * 0.025 / 1000 / 2000, 0.0)
    np.testing.assert_allclose(std["orchestration_cost_usd"], by_hand, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(std["total_cost_usd"], runs["compute_cost_usd"] + by_hand, rtol=1e-12)

    art = reprice(runs, scenario, "article-2026-04")
    # the article's figures, by hand: $0.50 per million actions + $0.20 per million minutes open
    minutes = runs["makespan_s"].to_numpy() / 60
    by_hand = np.where(durable, runs["orchestration_actions"].to_numpy() * 0.50 / 1e6 + minutes * 0.20 / 1e6, 0.0)
    np.testing.assert_allclose(art["orchestration_cost_usd"], by_hand, rtol=1e-12, atol=1e-15)
    # nothing else changes
    untouched = [c for c in runs.columns if c not in ("orchestration_cost_usd", "total_cost_usd")]
    pd.testing.assert_frame_equal(std[untouched], runs[untouched])


def test_repricing_equals_simulating_under_the_profile(scenario) -> None:
    runs = simulate(scenario, 300, seed=4)
    own = reprice(runs, scenario)
    np.testing.assert_array_equal(own["orchestration_cost_usd"], runs["orchestration_cost_usd"])
    for profile in ("aws-step-functions-express", "self-hosted-example", "article-2026-04-per-paper"):
        direct = simulate(with_orchestration(scenario, profile), 300, seed=4)
        again = reprice(runs, scenario, profile)
        np.testing.assert_allclose(again["total_cost_usd"], direct["total_cost_usd"], rtol=1e-12, atol=0)


def test_compare_gives_each_profile_its_verdict(scenario) -> None:
    cmp = compare_pricing(scenario, ["article-2026-04-per-paper", "temporal-cloud-payg"], runs=300, seed=2,
                          factors=(0.25, 0.5, 1.0, 2.0), n_boot=200)
    assert [r.profile for r in cmp.results] == ["article-2026-04-per-paper", "temporal-cloud-payg"]
    flat, tc = cmp.results
    # same runs: restart's cost does not depend on the durable orchestrator's price list
    assert flat.cost_b == tc.cost_b
    # paired on the same runs: the savings differ by exactly the difference of durable's costs
    assert tc.saving.mean - flat.saving.mean == pytest.approx(flat.cost_a[0] - tc.cost_a[0], rel=1e-9)
    runs = simulate(scenario, 300, seed=2)
    compute = runs.loc[runs["strategy"] == "durable", "compute_cost_usd"].mean()
    assert flat.cost_a[0] - compute == pytest.approx(0.0045, rel=1e-9)  # the article's flat price per paper


def test_compare_command(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    out = tmp_path / "cmp"
    assert main(["compare", str(path), "--pricing", "temporal-cloud-payg,aws-step-functions-standard", "--runs", "200",
                 "--boot", "100", "--out", str(out), "--quiet", "--max-runs", "1000"]) == 0
    text = capsys.readouterr().out
    assert "saving of durable over restart = restart − durable" in text
    assert "temporal-cloud-payg" in text and "aws-step-functions-standard" in text
    assert "models and GPUs: article-2026-04" in text
    table = pd.read_csv(out / "compare.csv")
    assert list(table["profile"]) == ["temporal-cloud-payg", "aws-step-functions-standard"]
    assert (out / "compare.md").read_text().count("\n|") >= 3


def test_compare_bad_profile_is_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    assert main(["compare", str(path), "--pricing", "temporal-cloud", "--runs", "20", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--pricing: unknown pricing profile 'temporal-cloud'" in err
    assert "did you mean 'temporal-cloud-payg'" in err
    assert not (tmp_path / "o").exists()
