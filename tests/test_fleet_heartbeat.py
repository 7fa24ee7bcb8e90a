"""The ``heartbeat`` strategy in the fleet: equal to the single pipeline for one workflow, resumes
from its last save on any worker, and keeps the same accounting identities at fleet scale."""

from __future__ import annotations

import copy
import math

import numpy as np
from test_fleet_equivalence import BASE, COLUMNS

from sim import scenario_from_dict
from sim.engines.fleet import fleet_attempts, simulate_fleet
from sim.experiment.api import simulate
from sim.model.failures import build_environments

HEARTBEAT = {"kind": "heartbeat", "every": "3m", "checkpoint_cost": "10s", "persist_latency": "10ms"}


def _heartbeat_raw(**fleet: object) -> dict:
    raw = copy.deepcopy(BASE)
    raw["strategies"] = {"heartbeat": dict(HEARTBEAT), "durable": {"persist_latency": "10ms"}}
    raw["fleet"] = dict(fleet)
    return raw


def _compare_heartbeat(raw: dict, runs: int = 60, seed: int = 11) -> None:
    sc = scenario_from_dict(raw)
    single = simulate(sc, runs, seed, engine="des").sort_values(["strategy", "run"]).reset_index(drop=True)
    workflows, fleet = simulate_fleet(sc, runs, seed)
    fleet_wf = workflows.sort_values(["strategy", "run"]).reset_index(drop=True)
    assert len(fleet_wf) == len(single)
    assert (fleet_wf["strategy"] == single["strategy"]).all()
    for col in [*COLUMNS, "heartbeats"]:
        np.testing.assert_allclose(fleet_wf[col].to_numpy(dtype=float), single[col].to_numpy(dtype=float),
                                   rtol=1e-12, atol=1e-9, err_msg=col)
    hb = single[single["strategy"] == "heartbeat"]
    # the comparison means something: saves happened, and failures hit heartbeat steps mid-way
    assert hb["heartbeats"].sum() > 0
    assert (hb["deploy_kills"] + hb["crashes"]).sum() > 0 and hb["rate_limited"].sum() > 0
    assert (hb["wasted_compute_s"] > 0).any()
    assert len(fleet) == runs * len(sc.strategies)
    assert (fleet.loc[fleet["strategy"] == "heartbeat", "heartbeats"].to_numpy()
            == workflows[workflows["strategy"] == "heartbeat"].groupby("run")["heartbeats"].sum().to_numpy()).all()


def test_heartbeat_one_workflow_one_worker_equals_single_pipeline() -> None:
    _compare_heartbeat(_heartbeat_raw(workers=1, workflows=1))


def test_heartbeat_one_workflow_many_workers_equals_single_pipeline_without_crashes() -> None:
    raw = _heartbeat_raw(workers=32, workflows=1)
    del raw["failures"]["crash"]
    raw["failures"]["deploy"]["drain"] = "0s"
    _compare_heartbeat(raw)


def test_heartbeat_retry_resumes_from_last_save_on_another_worker() -> None:
    # 60 min of work, a save after every 10 min (1 min each). Worker 0 is deployed at 25 min
    # (drain 0) after 2 completed saves (at 11 and 22 min); it is down for 50 min. Worker 1 (the
    # second rolling batch) deploys only at 75 min, so the retry runs there at once: 40 min left,
    # 3 saves, 43 min -> done at 68 min. One worker would wait until 75 min and finish at 118 min.
    raw = {
        "name": "hb-rolling",
        "defaults": {"retry": {"initial_interval": 0}},
        "steps": [{"name": "render", "kind": "gpu", "price_per_hour": 3.6, "duration": "60m"}],
        "failures": {"deploy": {"mode": "scheduled", "at": ["25m"], "drain": "0s", "restart_time": "50m"}},
        "strategies": {"heartbeat": {"every": "10m", "checkpoint_cost": "1m"}},
        "pricing": {"orchestration": {"per_million_actions_usd": 1e6}},
        "fleet": {"workers": 2, "workflows": 1, "rolling_fraction": 0.5},
    }
    workflows, fleet = simulate_fleet(scenario_from_dict(raw), 1, seed=3)
    row = workflows.iloc[0]
    assert row["completed"] and row["makespan_s"] == 68 * 60.0
    assert row["heartbeats"] == 5 and row["deploy_kills"] == 1 and row["attempts"] == 2
    assert row["compute_s"] == (25 + 43) * 60.0
    assert row["useful_compute_s"] == 65 * 60.0 and row["wasted_compute_s"] == 3 * 60.0
    assert row["orchestration_actions"] == 1 + 2 + 5  # start + 2 activity attempts + 5 saves
    assert row["orchestration_cost_usd"] == 8.0  # $1 per action here
    assert fleet.iloc[0]["heartbeats"] == 5
    attempts = fleet_attempts(scenario_from_dict(raw), "heartbeat", run=0, seed=3)
    assert attempts["start_s"].tolist() == [0.0, 25 * 60.0]
    assert attempts["outcome"].tolist() == ["killed_by_deploy", "completed"]
    raw["fleet"] = {"workers": 1, "workflows": 1}
    one = simulate_fleet(scenario_from_dict(raw), 1, seed=3)[0].iloc[0]
    assert one["makespan_s"] == (75 + 43) * 60.0 and one["heartbeats"] == 5


def test_heartbeat_fleet_accounting_identities() -> None:
    # Many workflows on few workers with crashes and deployments: every completed save is kept,
    # so a completed workflow's saves are sum_i (ceil(w_i/H) - 1) over its GPU steps, and its useful
    # compute is its work + saves x C + its LLM calls; compute = useful + wasted for every workflow.
    raw = _heartbeat_raw(workers=3, workflows=12)
    raw["steps"][1]["duration"] = "30s"
    raw["steps"][3]["duration"] = "10s"
    raw["failures"]["crash"]["mtbf"] = "40m"
    sc = scenario_from_dict(raw)
    workflows, _ = simulate_fleet(sc, 4, seed=2, strategies=["heartbeat"])
    assert np.allclose(workflows["compute_s"], workflows["useful_compute_s"] + workflows["wasted_compute_s"],
                       rtol=0, atol=1e-6)
    assert workflows["crashes"].sum() > 0 and workflows["wasted_compute_s"].sum() > 0
    every, cost = 180.0, 10.0
    from sim.engines.fleet.streams import workflow_envs

    checked = 0
    for (run, j), row in workflows.set_index(["run", "workflow"]).iterrows():
        if not row["completed"]:
            assert row["useful_compute_s"] == 0.0
            continue
        env = workflow_envs(sc, 2, int(run), 12)[int(j)]
        work = [env.durations[0], env.durations[2].get(0)]  # prep is fixed; render is drawn
        saves = sum(max(math.ceil(w / every) - 1, 0) for w in work)
        assert row["heartbeats"] == saves
        assert math.isclose(row["useful_compute_s"], sum(work) + saves * cost + 30.0 + 10.0, abs_tol=1e-6)
        checked += 1
    assert checked > 20
    # workflow 0 of the fleet reads the single pipeline's draws (member 0 = replication key)
    single_env = build_environments(sc, np.array([0]), 2)[0]
    assert workflow_envs(sc, 2, 0, 12)[0].durations[2].get(0) == single_env.durations[2].get(0)
