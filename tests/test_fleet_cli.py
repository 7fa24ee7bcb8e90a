"""`python -m sim fleet`: fleet metrics per strategy with intervals, three output files, one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario
from sim.cli import main
from sim.engines.fleet import FLEET_COLUMNS, WORKFLOW_COLUMNS, simulate_fleet

ROOT = Path(__file__).resolve().parents[1]
RESEARCH = ROOT / "experiments" / "scenarios" / "fleet_research.toml"
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"


@pytest.mark.slow
def test_fleet_command_on_fleet_research(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet"
    rc = main(["fleet", str(RESEARCH), "--replications", "3", "--seed", "5", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [".sim-results.json", "fleet.parquet", "paired.csv", "summary.csv",
                                                     "workflows.parquet"]
    workflows = pd.read_parquet(out / "workflows.parquet")
    fleet = pd.read_parquet(out / "fleet.parquet")
    summary = pd.read_csv(out / "summary.csv")
    assert list(workflows.columns) == WORKFLOW_COLUMNS and list(fleet.columns) == FLEET_COLUMNS
    sc = load_scenario(RESEARCH)
    labels = list(sc.strategies)
    assert len(fleet) == 3 * len(labels) and sorted(fleet["run"].unique()) == [0, 1, 2]
    # the same numbers as the API (replications simulated one at a time = all at once)
    _, direct = simulate_fleet(sc, 3, 5)
    key = ["strategy", "run"]
    a = fleet.sort_values(key).reset_index(drop=True)
    b = direct.sort_values(key).reset_index(drop=True)
    for col in ("completed", "drain_time_s", "latency_p90_s", "provider_429s", "total_cost_usd"):
        np.testing.assert_allclose(a[col].to_numpy(dtype=float), b[col].to_numpy(dtype=float), rtol=1e-12, err_msg=col)
    # the summary is the mean over replications with a t interval around it
    for label in labels:
        mine = fleet[fleet["strategy"] == label]
        for metric in ("throughput_per_h", "latency_p90_s", "wasted_cost_per_completed_usd"):
            row = summary[(summary["strategy"] == label) & (summary["metric"] == metric)].iloc[0]
            assert row["n"] == 3
            assert row["mean"] == pytest.approx(mine[metric].mean(), rel=1e-9)
            assert row["ci_low"] < row["mean"] < row["ci_high"]
        assert re.search(rf"\n{label} +mean \[95% CI\]\n", text)  # the head of the strategy's table
    assert "3 fleet replications x 4 strategies, 20 workers, seed 5" in text
    assert text.count("latency p90") == len(labels) + 1 and "heartbeat saves" not in text  # + the paired section
    assert f"wrote {out}/: workflows.parquet, fleet.parquet, summary.csv" in text


HEARTBEAT_TOML = """
name = "hb-fleet"
[pricing]
profile = "article-2026-04"
[[steps]]
name = "ocr"
kind = "gpu"
price_per_hour = 2.5
duration = "20m"
[[steps]]
name = "summary"
kind = "llm"
model = "gpt-5.4-mini"
output_tokens = 2000
duration = "30s"
[fleet]
workers = 4
arrival = "poisson"
rate_per_hour = 10
horizon = "1h"
[failures.crash]
mtbf = "30m"
restart_time = "20s"
[strategies.durable]
persist_latency = "10ms"
[strategies.heartbeat]
every = "5m"
checkpoint_cost = "10s"
persist_latency = "10ms"
"""


def test_fleet_command_runs_heartbeat_strategies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hb.toml"
    path.write_text(HEARTBEAT_TOML)
    out = tmp_path / "out"
    assert main(["fleet", str(path), "--replications", "3", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert text.count("heartbeat saves") == 1  # shown for the heartbeat strategy only
    workflows = pd.read_parquet(out / "workflows.parquet")
    hb = workflows[(workflows["strategy"] == "heartbeat") & workflows["completed"]]
    assert len(hb) > 10 and (hb["heartbeats"] == 3).all()  # 20 min in 5 min segments: 3 saves each
    assert (workflows.loc[workflows["strategy"] == "durable", "heartbeats"] == 0).all()
    # crashes hit the GPU step, and heartbeat wastes less of it than durable (same crash clocks)
    fleet = pd.read_parquet(out / "fleet.parquet").set_index(["strategy", "run"])
    assert fleet.loc["durable", "crashes"].sum() > 0
    assert fleet.loc["heartbeat", "wasted_cost_usd"].sum() < fleet.loc["durable", "wasted_cost_usd"].sum()


@pytest.mark.parametrize(("args", "message"), [
    ([str(VIDEO)], "has no [fleet] table"),
    ([str(RESEARCH), "--replications", "0"], "--runs must be at least 1"),
    ([str(RESEARCH), "--runs", "0"], "--runs must be at least 1"),
    ([str(RESEARCH), "--seed", "-1"], "--seed must not be negative"),
    ([str(RESEARCH), "--strategies", "durable,nope"], "unknown strategy 'nope'"),
    (["missing.toml"], "not found"),
])
def test_fleet_command_errors_are_one_line_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             args: list[str], message: str) -> None:
    out = tmp_path / "never"
    rc = main(["fleet", *args, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
    assert not out.exists()


def test_fleet_command_refuses_a_file_as_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("keep me")
    assert main(["fleet", str(RESEARCH), "--replications", "1", "--out", str(target), "--quiet"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"
