"""One workflow in a fleet is the single-pipeline run of the same replication, number for number."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim import scenario_from_dict
from sim.engines.fleet import simulate_fleet
from sim.experiment.api import simulate

COLUMNS = [
    "completed", "makespan_s", "compute_s", "useful_compute_s", "wasted_compute_s", "compute_cost_usd",
    "useful_cost_usd", "wasted_cost_usd", "orchestration_actions", "history_events", "orchestration_cost_usd",
    "total_cost_usd", "attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts",
]

BASE = {
    "name": "eq",
    "pricing": {"gpu": {"h100": 2.5}, "models": {"m": {"input_per_mtok": 1.0, "output_per_mtok": 4.0}},
                "orchestration": {"per_million_actions_usd": 0.5, "bytes_per_history_event": 500,
                                  "active_storage_per_gb_hour_usd": 0.1}},
    "defaults": {"retry": {"initial_interval": "1s", "maximum_interval": "60s", "jitter": "full"}},
    "steps": [
        {"name": "prep", "kind": "gpu", "gpu": "h100", "duration": "2m"},
        {"name": "call", "kind": "llm", "model": "m", "input_tokens": 5000, "output_tokens": 2000,
         "duration": {"dist": "lognormal", "median": "30s", "p95": "60s"}},
        {"name": "render", "kind": "gpu", "gpu": "h100", "duration": {"dist": "lognormal", "median": "15m", "p95": "25m"}},
        {"name": "tag", "kind": "llm", "model": "m", "output_tokens": 500, "duration": "10s"},
    ],
    "failures": {
        "crash": {"mtbf": "1h", "detection_delay": "30s", "restart_time": "20s"},
        "deploy": {"mode": "poisson", "every": "40m", "drain": "30s", "restart_time": "20s"},
        "rate_limit": {"probability": 0.15, "retry_after": {"dist": "exponential", "mean": "5s"}},
    },
    "strategies": {
        "restart": {"retry": {"jitter": "decorrelated", "maximum_attempts": 12}},
        "durable": {"persist_latency": "10ms"},
        "retry_in_place": {"retry": {"jitter": "equal"}},
        "checkpoint": {"every": 2, "persist_latency": "10ms"},
    },
}


def _compare(raw: dict, runs: int = 60, seed: int = 11) -> None:
    sc = scenario_from_dict(raw)
    single = simulate(sc, runs, seed, engine="des").sort_values(["strategy", "run"]).reset_index(drop=True)
    workflows, fleet = simulate_fleet(sc, runs, seed)
    fleet_wf = workflows.sort_values(["strategy", "run"]).reset_index(drop=True)
    assert len(fleet_wf) == len(single)
    assert (fleet_wf["strategy"] == single["strategy"]).all()
    for col in COLUMNS:
        np.testing.assert_allclose(fleet_wf[col].to_numpy(dtype=float), single[col].to_numpy(dtype=float),
                                   rtol=1e-12, atol=1e-9, err_msg=col)
    # the scenario exercises every failure path
    assert single["crashes"].sum() > 0 or "crash" not in raw["failures"]
    assert single["deploy_kills"].sum() > 0 and single["rate_limited"].sum() > 0
    assert len(fleet) == runs * len(sc.strategies)


def test_one_workflow_one_worker_equals_single_pipeline() -> None:
    raw = copy.deepcopy(BASE)
    raw["fleet"] = {"workers": 1, "workflows": 1}
    _compare(raw)


def test_one_workflow_many_workers_equals_single_pipeline_without_crashes() -> None:
    # With many workers a crash sends the retry to another (up) worker, which the single
    # pipeline cannot do; deployments restart every worker at once, so with drain = 0 every
    # worker comes back at the same instant and the choice of worker does not matter.
    raw = copy.deepcopy(BASE)
    del raw["failures"]["crash"]
    raw["failures"]["deploy"]["drain"] = "0s"
    raw["fleet"] = {"workers": 64, "workflows": 1}
    _compare(raw)


def test_many_workers_recover_faster_from_crashes_than_one() -> None:
    raw = copy.deepcopy(BASE)
    del raw["failures"]["deploy"]
    raw["failures"]["crash"]["restart_time"] = "10m"
    raw["fleet"] = {"workers": 1, "workflows": 1}
    one = simulate_fleet(scenario_from_dict(raw), 80, 5, strategies=["durable"])[0]
    raw["fleet"] = {"workers": 8, "workflows": 1}
    many = simulate_fleet(scenario_from_dict(raw), 80, 5, strategies=["durable"])[0]
    # same crashes of worker 0 in both; with 8 workers the retry does not wait for the restart
    diff = one["makespan_s"].to_numpy() - many["makespan_s"].to_numpy()
    assert diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(len(diff))


@pytest.mark.parametrize("bad", [{"workers": 2}, {"arrival": "poisson", "workflows": 3},
                                 {"arrival": "batch", "workflows": 3, "rate_per_hour": 5}])
def test_fleet_table_is_validated(bad: dict) -> None:
    from sim.errors import ScenarioError

    raw = copy.deepcopy(BASE)
    raw["fleet"] = bad
    with pytest.raises(ScenarioError):
        scenario_from_dict(raw)
