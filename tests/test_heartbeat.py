"""The ``heartbeat`` strategy of the single-pipeline engine: exact failure-free makespans, accounting
identities, a hand-checked deployment kill, and the optimal interval against Daly's formula."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from sim import scenario_from_dict
from sim.analysis.analytic import daly_interval_s, young_interval_s
from sim.experiment.api import simulate, simulate_with_events
from sim.model.failures import build_environments

ROOT = Path(__file__).resolve().parents[1]


def _load_experiment():
    spec = importlib.util.spec_from_file_location("heartbeat_interval", ROOT / "experiments" / "heartbeat_interval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def _raw(steps: list[dict], failures: dict | None = None, strategies: dict | None = None) -> dict:
    return {
        "name": "hb",
        "pricing": {"models": {"m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
                    "orchestration": {"per_million_actions_usd": 1e6}},  # $1 per billable action
        "defaults": {"retry": {"initial_interval": 0}},
        "steps": steps,
        "failures": failures or {},
        "strategies": strategies or {"hb": {"kind": "heartbeat", "every": "10m", "checkpoint_cost": "1m"}},
    }


def _gpu(name: str, duration: object) -> dict:
    return {"name": name, "kind": "gpu", "price_per_hour": 3.6, "duration": duration}


# --------------------------------------------------------------------------- (a) no failures


@pytest.mark.parametrize(("work_s", "every_s", "saves"), [
    (3600.0, 600.0, 5),    # 6 equal segments: the last one needs no save
    (3700.0, 600.0, 6),    # 6 full segments and a 100 s tail
    (500.0, 600.0, 0),     # shorter than one interval: no save
    (600.0, 600.0, 0),     # exactly one interval: no save
    (601.0, 600.0, 1),
])
def test_no_failures_makespan_is_work_plus_saves(work_s: float, every_s: float, saves: int) -> None:
    cost = 45.0
    sc = scenario_from_dict(_raw([_gpu("train", work_s)],
                                 strategies={"hb": {"kind": "heartbeat", "every": every_s, "checkpoint_cost": cost}}))
    row = simulate(sc, 3, seed=1).iloc[0]
    assert row["makespan_s"] == work_s + saves * cost
    assert row["heartbeats"] == saves
    assert row["wasted_compute_s"] == 0.0 and row["wasted_cost_usd"] == 0.0
    assert row["useful_compute_s"] == row["compute_s"] == work_s + saves * cost
    assert math.isclose(row["compute_cost_usd"], (work_s + saves * cost) * 0.001, rel_tol=1e-12)
    assert row["orchestration_actions"] == 1 + 1 + saves  # start, one activity attempt, the saves
    assert row["orchestration_cost_usd"] == 1 + 1 + saves


def test_no_failures_pipeline_with_llm_step_and_persist_latency() -> None:
    # GPU 25 min (every 10 min: 2 saves), an LLM call of 30 s, GPU 10 min (no save), latency 0.5 s:
    # 5 + 6·3 = 23 history events on the critical path
    steps = [_gpu("a", "25m"),
             {"name": "call", "kind": "llm", "model": "m", "output_tokens": 1000, "duration": "30s"},
             _gpu("b", "10m")]
    strategies = {"hb": {"kind": "heartbeat", "every": "10m", "checkpoint_cost": "20s", "persist_latency": "500ms"},
                  "durable": {"persist_latency": "500ms"}}
    df = simulate(scenario_from_dict(_raw(steps, strategies=strategies)), 2, seed=0).set_index("strategy")
    hb, durable = df.loc["hb"].iloc[0], df.loc["durable"].iloc[0]
    assert hb["makespan_s"] == pytest.approx(1500 + 2 * 20 + 30 + 600 + 23 * 0.5, abs=1e-9)
    assert hb["heartbeats"] == 2 and hb["history_events"] == 23
    assert hb["makespan_s"] - durable["makespan_s"] == pytest.approx(2 * 20, abs=1e-9)
    assert hb["orchestration_actions"] == durable["orchestration_actions"] + 2


# --------------------------------------------------------------------------- (b) accounting identities


@pytest.mark.slow
def test_heartbeat_accounting_identities_under_failures() -> None:
    """For every run: compute = useful + wasted, and Σ attempt time (event log) = compute.

    For a completed run, every save that completed is in the final chain (a retry resumes from
    the last save, and a failed attempt keeps all the saves it completed), so with w_i the work of
    GPU step i (drawn at its first attempt), H the interval and C the save cost:
        heartbeats       = Σ_gpu (ceil(w_i/H) − 1)
        useful_compute_s = Σ_gpu w_i + C·heartbeats + Σ_llm (duration of its completed attempt)
        wasted_compute_s = Σ over failed attempts of the time after their last completed save
        orchestration_actions = 1 + attempts + heartbeats
    An abandoned run has no useful compute (its saves are wasted too).
    """
    every, cost = 240.0, 15.0
    steps = [_gpu("prep", "20m"),
             {"name": "call", "kind": "llm", "model": "m", "output_tokens": 2000,
              "duration": {"dist": "lognormal", "median": "30s", "p95": "60s"}},
             _gpu("render", {"dist": "lognormal", "median": "30m", "p95": "50m"})]
    steps[2]["retry"] = {"initial_interval": 0, "maximum_attempts": 5}
    failures = {"crash": {"mtbf": "40m", "restart_time": "30s", "detection_delay": "10s"},
                "deploy": {"mode": "poisson", "every": "2h", "drain": "1m", "restart_time": "20s"},
                "rate_limit": {"probability": 0.1}}
    strategies = {"hb": {"kind": "heartbeat", "every": every, "checkpoint_cost": cost, "persist_latency": "10ms"}}
    sc = scenario_from_dict(_raw(steps, failures, strategies))
    runs = 300
    df, events = simulate_with_events(sc, runs, seed=7, event_log=True)
    assert np.allclose(df["compute_s"], df["useful_compute_s"] + df["wasted_compute_s"], rtol=0, atol=1e-6)
    busy = (events["end_s"] - events["start_s"]).groupby(events["run"]).sum()
    assert np.allclose(busy.reindex(df["run"]).to_numpy(), df["compute_s"].to_numpy(), rtol=0, atol=1e-6)
    envs = build_environments(sc, np.arange(runs), 7)
    done = df[df["completed"]]
    lost = df[~df["completed"]]
    assert len(lost) > 0 and len(done) > 200  # both branches are exercised
    assert (lost["useful_compute_s"] == 0).all() and np.allclose(lost["wasted_compute_s"], lost["compute_s"])
    assert (done["crashes"] + done["deploy_kills"]).sum() > 100
    for row in done.itertuples():
        work = [envs[row.run].durations[0], envs[row.run].durations[2].get(0)]
        saves = sum(max(math.ceil(w / every) - 1, 0) for w in work)
        assert row.heartbeats == saves
        mine = events[events["run"] == row.run]
        call = mine[(mine["step"] == "call") & (mine["outcome"] == "completed")]
        assert len(call) == 1
        llm = float(call["end_s"].iloc[0] - call["start_s"].iloc[0])
        assert math.isclose(row.useful_compute_s, sum(work) + cost * saves + llm, abs_tol=1e-6)
        assert row.orchestration_actions == 1 + row.attempts + row.heartbeats
        # wasted: each failed GPU attempt loses what it ran after its last completed save
        failed = mine[(mine["step"] != "call") & (mine["outcome"] != "completed")]
        expect = 0.0
        for a in failed.itertuples():
            ran = a.end_s - a.start_s
            expect += ran - (ran // (every + cost)) * (every + cost)
        llm_failed = mine[(mine["step"] == "call") & (mine["outcome"] != "completed")]
        expect += float((llm_failed["end_s"] - llm_failed["start_s"]).sum())
        assert math.isclose(row.wasted_compute_s, expect, abs_tol=1e-6)


# --------------------------------------------------------------------------- (d) a hand-checked kill


@pytest.mark.parametrize(("kill_min", "kept"), [
    (25.0, 2),   # saves end at 11 and 22 min; the third segment is in progress
    (21.5, 1),   # the second save (21 to 22 min) is in progress: it is lost
    (22.0, 2),   # killed the instant the second save completes: it is kept
    (5.0, 0),    # before the first save
])
def test_scheduled_deployment_keeps_exactly_the_completed_saves(kill_min: float, kept: int) -> None:
    # 60 min of work, a save after every 10 min of work taking 1 min: segment j ends at 11·j min.
    # A deployment at x (drain 0, restart 1 min) kills the attempt; the retry starts at x + 1 with
    # 60 − 10·kept min left and 5 − kept saves, so it takes 65 − 11·kept min.
    failures = {"deploy": {"mode": "scheduled", "at": [f"{kill_min}m"], "drain": "0s", "restart_time": "1m"}}
    sc = scenario_from_dict(_raw([_gpu("train", "60m")], failures))
    df, events = simulate_with_events(sc, 1, seed=0, event_log=True)
    row = df.iloc[0]
    x, retry = kill_min * 60.0, (65.0 - 11.0 * kept) * 60.0
    assert row["completed"] and row["deploy_kills"] == 1 and row["attempts"] == 2
    assert row["makespan_s"] == pytest.approx(x + 60.0 + retry, abs=1e-9)
    assert row["heartbeats"] == 5  # kept + the retry's 5 − kept
    assert row["useful_compute_s"] == pytest.approx(65 * 60.0, abs=1e-9)
    assert row["wasted_compute_s"] == pytest.approx(x - 11 * 60.0 * kept, abs=1e-9)
    assert row["compute_s"] == pytest.approx(x + retry, abs=1e-9)
    assert row["orchestration_actions"] == 1 + 2 + 5
    assert events["outcome"].tolist() == ["killed_by_deploy", "completed"]
    assert events["start_s"].tolist() == pytest.approx([0.0, x + 60.0])
    assert events["useful"].tolist() == [False, True]


def test_durable_loses_the_whole_step_where_heartbeat_keeps_its_saves() -> None:
    failures = {"deploy": {"mode": "scheduled", "at": ["25m"], "drain": "0s", "restart_time": "1m"}}
    strategies = {"hb": {"kind": "heartbeat", "every": "10m", "checkpoint_cost": "1m"}, "durable": {}}
    df = simulate(scenario_from_dict(_raw([_gpu("train", "60m")], failures, strategies)), 1, seed=0)
    by = df.set_index("strategy")["makespan_s"]
    assert by["durable"] == (25 + 1 + 60) * 60.0
    assert by["hb"] == (25 + 1 + 43) * 60.0


# --------------------------------------------------------------------------- (c) Daly's optimum


@pytest.mark.slow
def test_simulated_optimal_interval_agrees_with_daly() -> None:
    """Quick form of experiments/heartbeat_interval.py: the bootstrap interval of the simulated
    optimum contains Daly's interval, is narrow enough to exclude Young's first-order value (4%
    higher here), and the simulated means match the exact expectation of the simulator's model."""
    hb = _load_experiment()
    setup = hb.Setup()
    segments = hb.segment_grid(setup, fine_span=0.3, wide=(), fine_step=1)
    runs_df = hb.simulate_makespans(setup, segments, runs=6000, seed=11)
    opt, boot = hb.estimate_optimum(setup, runs_df, window=0.25, n_boot=300, seed=3)
    assert opt.daly_s == daly_interval_s(setup.checkpoint_s, setup.mtbf_s)
    assert opt.young_s == young_interval_s(setup.checkpoint_s, setup.mtbf_s)
    assert opt.boot_failed == 0.0
    assert opt.ci_low_s <= opt.daly_s <= opt.ci_high_s, opt
    assert not opt.ci_low_s <= opt.young_s <= opt.ci_high_s, opt
    assert opt.ci_high_s - opt.ci_low_s < 0.08 * opt.daly_s
    assert opt.ci_low_s <= opt.model_optimum_s <= opt.ci_high_s
    table = hb.makespan_table(setup, runs_df)
    z = (table["makespan_mean_s"] - table["model_makespan_s"]) / (
        (table["makespan_ci_high_s"] - table["makespan_ci_low_s"]) / (2 * 1.96))
    assert (z.abs() < 4).all(), z.tolist()
    # every replication saved exactly n − 1 times at n equal segments (all saves are kept)
    assert (runs_df["heartbeats"] == runs_df["segments"] - 1).all()


def test_rate_limited_retry_of_a_heartbeat_step_keeps_no_saves():
    """Regression: a 429 answered after a long response must not be credited with saves.

    One 60-min step, saves every 10 min (1 min each); a deployment at 25 min (no drain, 1 min
    restart) kills the first attempt after 2 saves (22 min kept); seed 16 makes the second call a
    429 that takes 30 min to answer, the third runs the remaining 40 min with 3 saves.
    """
    from sim import scenario_from_dict, simulate

    sc = scenario_from_dict({
        "name": "hb429", "steps": [{"name": "train", "kind": "gpu", "price_per_hour": 1.0, "duration": "60m"}],
        "defaults": {"retry": {"initial_interval": 0}},
        "failures": {"deploy": {"mode": "scheduled", "at": ["25m"], "drain": "0s", "restart_time": "1m"},
                     "rate_limit": {"probability": 0.5, "steps": ["train"], "response_time": "30m"}},
        "strategies": {"hb": {"kind": "heartbeat", "every": "10m", "checkpoint_cost": "1m"}}})
    row = simulate(sc, 1, 16).iloc[0]
    assert row["rate_limited"] == 1 and row["deploy_kills"] == 1
    # 25 min first attempt + 1 min restart + 30 min of 429 + 40 min of work + 3 saves
    assert row["makespan_s"] == (25 + 1 + 30 + 40 + 3) * 60
    assert row["heartbeats"] == 5
    assert row["useful_compute_s"] == (60 + 5) * 60
