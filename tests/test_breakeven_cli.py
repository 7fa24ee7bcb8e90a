"""`sim sweep` and `sim breakeven` from the command line, and the research-paper break-even."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy.optimize import brentq

import sim
from sim.analysis.closed_form import analytic_breakeven
from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "experiments" / "scenarios" / "research_paper.toml"


@pytest.fixture
def paper_flat(tmp_path):
    """The research-paper scenario under the article's flat $0.0045 per paper (the bundled file
    is on Temporal's list prices)."""
    path = tmp_path / "research_paper_flat.toml"
    path.write_text(PAPER.read_text().replace('orchestration = "temporal-cloud-payg"',
                                              'orchestration = "article-2026-04-per-paper"'))
    return path
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"

# Hand numbers: steps 1–3 of the research-paper pipeline at the article's prices
# (15000·1.39 + 8000·0.40 + 5000·1.39)/1e6 = $0.031; durable overhead $0.0045 per paper.
C_BEFORE = (15000 * 1.39 + 8000 * 0.40 + 5000 * 1.39) / 1e6
OVERHEAD = 0.0045
P_STAR = OVERHEAD / (C_BEFORE + OVERHEAD)  # c·p/(1−p) = overhead
P_ARTICLE = OVERHEAD / (0.0307 + OVERHEAD)


def test_hand_numbers():
    assert C_BEFORE == pytest.approx(0.031)
    assert P_STAR == pytest.approx(0.1268, abs=1e-4)
    assert P_ARTICLE == pytest.approx(0.1279, abs=1e-4)


@pytest.mark.slow
def test_research_paper_breakeven_agrees_with_the_closed_form(tmp_path, capsys, paper_flat):
    out = tmp_path / "be"
    rc = main(["breakeven", str(paper_flat), "--vary", "failures.rate_limit.probability=lin:0.02:0.3:8",
               "--runs", "3000", "--seed", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    record = json.loads((out / "breakeven.json").read_text())
    assert record["status"] == "crossing"
    assert [s["stage"] for s in record["stages"]] == ["coarse", "refine-1"]
    lo, hi = record["ci_low"], record["ci_high"]
    assert lo < record["estimate"] < hi
    assert lo <= P_STAR <= hi and lo <= P_ARTICLE <= hi
    assert hi - lo < 0.05  # an informative interval
    assert record["analytic"]["value"] == pytest.approx(P_STAR, rel=1e-9)
    assert record["analytic"]["inside_ci"] is True
    # the refined grid lies inside the coarse bracket [0.1, 0.14] widened to the coarse CI
    fine = record["stages"][1]["values"]
    assert 0.06 <= fine[0] <= 0.1 + 1e-12 and 0.14 - 1e-12 <= fine[-1] <= 0.18
    assert "analytic: failures.rate_limit.probability = 12.68%" in text
    assert "inside the 95% confidence interval" in text
    assert "restart has the lower total cost below it, durable above it" in text
    assert (out / "coarse" / "summary.parquet").exists() and (out / "refine-1" / "summary.parquet").exists()


def test_closed_form_for_the_research_paper(paper_flat):
    value = analytic_breakeven(sim.load_scenario(paper_flat), "failures.rate_limit.probability", "total_cost_usd",
                               "durable", "restart")
    assert value.value == pytest.approx(P_STAR, rel=1e-9)
    assert "c = $0.031" in value.formula
    assert analytic_breakeven(sim.load_scenario(PAPER), "failures.rate_limit.probability", "makespan_s",
                              "durable", "restart") is None
    # the video pipeline has deployments: no closed form
    assert analytic_breakeven(sim.load_scenario(VIDEO), "failures.crash.mtbf", "total_cost_usd",
                              "durable", "restart") is None


def test_closed_form_for_crashes_on_gpu_steps():
    raw = sim.load_scenario(VIDEO).raw
    del raw["failures"]["deploy"]
    raw["pricing"]["orchestration"] = {"per_workflow_run_usd": 0.01, "per_million_actions_usd": 0.0,
                                       "per_million_action_minutes_usd": 0.0}
    scenario = sim.scenario_from_dict(raw, file=str(VIDEO), base_dir=VIDEO.parent)
    value = analytic_breakeven(scenario, "failures.crash.mtbf", "total_cost_usd", "durable", "restart")
    # independent: restart − durable compute cost = overhead, price $2.50/h, steps 120, 30, 900, 45 s
    t = [120.0, 30.0, 900.0, 45.0]
    price = 2.5 / 3600

    def gap(lam):
        restart = sum(price * math.exp(lam * sum(t[k + 1:])) * math.expm1(lam * t[k]) / lam for k in range(4))
        durable = sum(price * math.expm1(lam * tk) / lam for tk in t)
        return restart - durable - 0.01

    lam = brentq(gap, 1e-9, 1e-2, xtol=1e-15)
    assert value.value == pytest.approx(1 / lam, rel=1e-6)
    assert value.note == ""


def test_sweep_command_prints_a_table_writes_files_and_resumes(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["sweep", str(VIDEO), "--vary", "failures.crash.mtbf=1h,4h", "--runs", "200", "--seed", "3",
            "--chunk-size", "100", "--workers", "1", "--out", str(out)]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "2 point(s) x 2 strategies x 200 replications" in first
    assert "4 chunks run, 0 reused" in first
    assert "failures.crash.mtbf" in first and "60m (3600 s)" in first and "4h (14400 s)" in first
    assert "paired saving of durable over restart = restart − durable" in first
    for name in ("summary", "paired", "points"):
        assert (out / f"{name}.parquet").exists()
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "0 chunks run, 4 reused" in second
    assert second.split("\n")[2:] == first.split("\n")[2:]  # same table


def test_sweep_command_with_a_stopping_rule(tmp_path, capsys):
    args = ["sweep", str(PAPER), "--runs", "200", "--chunk-size", "200", "--workers", "1", "--out",
            str(tmp_path / "t"), "--target-half-width", "0.0002", "--paired", "durable-restart", "--quiet"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "stopping rule: half-width of mean durable - restart total_cost_usd <= 0.0002: reached with" in text
    stopping = json.loads((tmp_path / "t" / "stopping.json").read_text())
    assert stopping["met"] and stopping["runs"] % 200 == 0 and stopping["runs"] > 200


@pytest.mark.parametrize(("argv", "message"), [
    (["sweep", str(VIDEO), "--vary", "failures.crash.mtbff=1h"], "did you mean 'mtbf'"),
    (["sweep", str(VIDEO), "--vary", "failures.crash.mtbf=lin:1h:2h"], "lin:START:STOP:N"),
    (["sweep", str(VIDEO), "--runs", "0"], "--runs must be at least 1"),
    (["sweep", str(VIDEO), "--metric", "cost"], "not a result column"),
    (["sweep", str(VIDEO), "--paired", "durable-restart"], "--paired needs --target-half-width"),
    (["sweep", str(ROOT / "nope.toml")], "not found"),
    (["breakeven", str(VIDEO), "--vary", "failures.crash.mtbf=1h"], "at least 2 values"),
    (["breakeven", str(VIDEO), "--vary", "failures.crash.mtbf=1h,2h", "--a", "durabel"], "unknown strategy"),
])
def test_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    assert main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert message in captured.err
    assert not out.exists()


def test_a_different_sweep_in_the_same_folder_is_refused(tmp_path, capsys):
    base = ["sweep", str(VIDEO), "--vary", "failures.crash.mtbf=1h,4h", "--runs", "50", "--workers", "1",
            "--out", str(tmp_path / "s")]
    assert main([*base, "--seed", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--seed", "2"]) == 2
    err = capsys.readouterr().err
    assert "changed: seed" in err and "--overwrite" in err
    assert main([*base, "--seed", "2", "--overwrite"]) == 0


def test_breakeven_without_a_crossing(tmp_path, capsys):
    rc = main(["breakeven", str(VIDEO), "--vary", "failures.crash.mtbf=1h,8h", "--runs", "200", "--workers", "1",
               "--out", str(tmp_path / "b"), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "no break-even of total cost in the swept range: durable is lower at every point" in text
    assert "no closed form" in text
    assert json.loads((tmp_path / "b" / "breakeven.json").read_text())["status"] == "no_crossing"
