"""Round trip: simulate under known parameters, fit the event log, check the fit.

The core simulates a three-step pipeline with exponential crashes, Poisson deployments and
429s; the durable strategy's event log is fitted like any team's attempts table. Each known
parameter must lie inside its reported 95% interval, and the fitted scenario must reproduce
the original's mean wasted compute within the Monte Carlo interval.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import scenario_from_dict, simulate, simulate_with_events
from sim.calibrate.attempts import attempts_from_event_log
from sim.calibrate.fits import calibrate
from sim.calibrate.scenario_writer import scenario_toml, validate_scenario_text
from sim.cli import main
from sim.model.failures import build_environments

TRUE = """
name = "roundtrip"
[pricing]
profile = "article-2026-04"
[[steps]]
name = "parse"
kind = "gpu"
gpu = "h100"
duration = { dist = "lognormal", median = "60s", p95 = "120s" }
[[steps]]
name = "classify"
kind = "llm"
model = "gpt-5.4-mini"
input_tokens = 8000
duration = { dist = "lognormal", median = "20s", p95 = "30s" }
[[steps]]
name = "summarize"
kind = "llm"
model = "gpt-5.4-mini"
output_tokens = 12000
duration = { dist = "lognormal", median = "70s", p95 = "110s" }
[failures.crash]
mtbf = "30m"
restart_time = "20s"
detection_delay = "30s"
[failures.deploy]
mode = "poisson"
every = "1h"
drain = "30s"
restart_time = "20s"
[failures.rate_limit]
probability = 0.05
steps = ["classify", "summarize"]
retry_after = "2s"
[strategies.restart]
[strategies.durable]
"""
MEDIANS = {"parse": (60.0, 120.0), "classify": (20.0, 30.0), "summarize": (70.0, 110.0)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("rt")
    template = tmp / "true.toml"
    template.write_text(TRUE)
    sc = scenario_from_dict(tomllib.loads(TRUE))
    _, events = simulate_with_events(sc, 3000, seed=7, event_log=True)
    # deployment instants from the core's own deployment stream (one long timeline)
    env = build_environments(sc, np.array([0]), 11)[0]
    deploys = np.cumsum([env.deploy_gap.get(i) for i in range(200)])
    attempts = attempts_from_event_log(events, strategy="durable")
    cal = calibrate(attempts, deploys)
    text = scenario_toml(cal, attempts, template=template)
    return {"sc": sc, "events": events, "deploys": deploys, "attempts": attempts, "cal": cal,
            "text": text, "tmp": tmp, "template": template}


@pytest.mark.slow
def test_every_parameter_inside_its_interval(world: dict) -> None:
    cal = world["cal"]
    assert cal.crashes.n_crashes > 150
    assert cal.crashes.chosen == "exponential"
    assert cal.crashes.exponential.mttf_s.contains(1800.0)
    assert cal.rate_limits.steps == ("classify", "summarize")
    assert cal.rate_limits.pooled.p.contains(0.05)
    for step in ("classify", "summarize"):
        assert cal.rate_limits.per_step[step].p.contains(0.05)
    assert cal.rate_limits.per_step["parse"].k == 0
    assert cal.deploys.mode == "poisson"
    assert cal.deploys.mean_interval_s.contains(3600.0)
    for step, (median, p95) in MEDIANS.items():
        f = cal.durations[step]
        assert f.median_s.contains(median), (step, f.median_s)
        assert f.p95_s.contains(p95), (step, f.p95_s)


@pytest.mark.slow
def test_censored_fit_unbiased_where_naive_is_not(world: dict) -> None:
    cal = world["cal"]
    se = 1800.0 / math.sqrt(cal.crashes.n_crashes)
    assert abs(cal.crashes.exponential.mttf_s.value - 1800.0) < 4 * se
    naive = cal.naive_crashes.mttf_s
    assert not naive.contains(1800.0)
    assert naive.value < 120.0  # bounded by how long attempts run


@pytest.mark.slow
def test_fitted_scenario_reproduces_wasted_compute(world: dict) -> None:
    fitted = validate_scenario_text(world["text"])
    assert fitted.failures.crash.mtbf_s == pytest.approx(
        world["cal"].crashes.exponential.mttf_s.value, rel=1e-5)
    assert fitted.failures.deploy.drain_s == 30.0  # from the template
    runs = 4000
    a = simulate(world["sc"], runs, seed=101)
    b = simulate(fitted, runs, seed=202)
    for strategy in ("durable", "restart"):
        wa = a.loc[a["strategy"] == strategy, "wasted_compute_s"]
        wb = b.loc[b["strategy"] == strategy, "wasted_compute_s"]
        se = math.sqrt(wa.var() / len(wa) + wb.var() / len(wb))
        assert abs(wa.mean() - wb.mean()) < 4 * se, (strategy, wa.mean(), wb.mean(), se)


@pytest.mark.slow
def test_fit_command_writes_scenario_and_plots(world: dict, capsys) -> None:
    tmp: Path = world["tmp"]
    log = tmp / "events.csv"
    world["events"].to_csv(log, index=False)
    dep = tmp / "deploys.csv"
    dep.write_text("deployed_at_s\n" + "\n".join(f"{x:.3f}" for x in world["deploys"]) + "\n")
    out = tmp / "fitted.toml"
    rc = main(["fit", str(log), "--strategy", "durable", "--deploys", str(dep), "--out", str(out),
               "--template", str(world["template"]), "--plot", str(tmp / "plots")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "crash MTBF (exponential) *" in printed and "429 probability pooled" in printed
    sc = validate_scenario_text(out.read_text())
    assert sc.failures.deploy.mode == "poisson"
    pngs = sorted(p.name for p in (tmp / "plots").glob("*.png"))
    assert pngs == ["calibration_crashes.png", "calibration_durations.png", "calibration_qq.png"]
    assert all((tmp / "plots" / p).stat().st_size > 10_000 for p in pngs)


def test_fit_command_on_temporal_samples(tmp_path: Path, capsys) -> None:
    from importlib import resources

    samples = str(resources.files("sim").joinpath("data", "temporal_samples"))
    out = tmp_path / "paper.toml"
    assert main(["fit", samples, "--out", str(out)]) == 0
    sc = validate_scenario_text(out.read_text())
    assert sc.step_names == ["parsing", "classification", "citation_extraction", "summary"]
    assert sc.failures.rate_limit.steps == ["classification", "summary"]
    assert "known only from Temporal's attempt counter" in capsys.readouterr().out


@pytest.mark.slow
def test_bad_data_writes_nothing_and_exits_nonzero(world: dict, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "events.csv"
    events = world["events"].copy()
    idx = int(events.index[events["strategy"] == "durable"][4])
    events.loc[idx, "outcome"] = "melted"
    events.to_csv(bad, index=False)
    out = tmp_path / "never.toml"
    rc = main(["fit", str(bad), "--strategy", "durable", "--out", str(out), "--plot",
               str(tmp_path / "plots")])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(bad) in err and f"row {idx + 1}:" in err and "unknown outcome 'melted'" in err
    assert not out.exists() and not (tmp_path / "plots").exists()


def test_scenario_fitted_from_temporal_samples_runs_end_to_end(tmp_path: Path, capsys) -> None:
    """The bundled Temporal histories + the bundled research-paper template → a runnable scenario."""
    from importlib import resources

    samples = str(resources.files("sim").joinpath("data", "temporal_samples"))
    out = tmp_path / "fitted.toml"
    assert main(["fit", samples, "--out", str(out), "--template", "experiments/scenarios/research_paper.toml"]) == 0
    assert main(["run", str(out), "--runs", "200", "--seed", "3", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "paired saving of durable over restart = restart − durable" in printed
    runs = pd.read_parquet(tmp_path / "run" / "runs.parquet")
    assert len(runs) == 400 and runs["completed"].all()
    assert (runs.loc[runs["strategy"] == "restart", "rate_limited"] > 0).any()
