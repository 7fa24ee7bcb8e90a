"""Fleet engine against hand calculations and queueing theory."""

from __future__ import annotations

import numpy as np

from sim import scenario_from_dict
from sim.engines.fleet import fleet_attempts, simulate_fleet


def fleet_scenario(fleet: dict, steps: list[dict] | None = None, **extra) -> object:
    return scenario_from_dict({
        "name": "fleet-test",
        "pricing": {"gpu": {"g": 3.6}, "models": {"m": {"output_per_mtok": 1.0}}},
        "steps": steps or [{"name": "work", "kind": "gpu", "gpu": "g", "duration": "60s"}],
        "fleet": fleet,
        "strategies": extra.pop("strategies", {"restart": {}, "durable": {}}),
        **extra,
    })


def test_batch_on_fewer_workers_queues_in_rounds() -> None:
    sc = fleet_scenario({"workers": 3, "workflows": 10})
    workflows, fleet = simulate_fleet(sc, 1, seed=0)
    for strategy in ("restart", "durable"):
        wf = workflows[workflows["strategy"] == strategy]
        assert sorted(wf["queue_wait_s"]) == [0.0] * 3 + [60.0] * 3 + [120.0] * 3 + [180.0]
        assert sorted(wf["finish_s"]) == [60.0] * 3 + [120.0] * 3 + [180.0] * 3 + [240.0]
    row = fleet[fleet["strategy"] == "durable"].iloc[0]
    assert row["drain_time_s"] == 240.0 and row["completed"] == 10
    assert row["worker_utilisation"] == 600.0 / (3 * 240.0)
    assert row["throughput_per_h"] == 10 / 240.0 * 3600.0
    assert np.isclose(row["cost_per_completed_usd"], 0.06)  # 60 s at $3.60/h


def test_md1_mean_wait_matches_pollaczek_khinchine() -> None:
    # M/D/1 with λ = 30/h and D = 60 s (ρ = 0.5): Wq = λ D² / (2 (1 − ρ)) = 30 s.
    sc = fleet_scenario({"workers": 1, "arrival": "poisson", "rate_per_hour": 30, "horizon": "150h"},
                        strategies={"durable": {}})
    workflows, fleet = simulate_fleet(sc, 8, seed=4)
    per_run = workflows.groupby("run")["queue_wait_s"].mean().to_numpy()
    se = per_run.std(ddof=1) / np.sqrt(len(per_run))
    assert abs(per_run.mean() - 30.0) < 4 * se
    assert abs(fleet["worker_utilisation"].mean() - 0.5) < 0.02


def test_poisson_arrivals_are_common_to_strategies_and_have_the_right_count() -> None:
    sc = fleet_scenario({"workers": 50, "arrival": "poisson", "rate_per_hour": 120, "horizon": "2h"})
    workflows, fleet = simulate_fleet(sc, 40, seed=9)
    a = workflows[workflows["strategy"] == "restart"]["arrival_s"].to_numpy()
    b = workflows[workflows["strategy"] == "durable"]["arrival_s"].to_numpy()
    assert np.array_equal(a, b)
    counts = fleet[fleet["strategy"] == "restart"]["workflows"].to_numpy()
    assert abs(counts.mean() - 240.0) < 4 * np.sqrt(240.0 / len(counts))
    assert (workflows["arrival_s"] <= 7200.0).all()


def _outage_scenario(retry: dict) -> object:
    return fleet_scenario(
        {"workers": 4, "workflows": 4},
        steps=[{"name": "call", "kind": "llm", "model": "m", "output_tokens": 100, "duration": "2s",
                "retry": {"initial_interval": "1s", **retry}}],
        provider={"requests_per_minute": 600, "outage": {"up": "1s", "down": "1d"}},
        strategies={"durable": {}},
    )


def test_exhausted_retries_abandon_the_workflow() -> None:
    workflows, fleet = simulate_fleet(_outage_scenario({"maximum_attempts": 3}), 1, seed=0)
    assert workflows["abandoned"].all() and not workflows["completed"].any()
    assert (workflows["calls"] == 3).all() and (workflows["outage_errors"] == 3).all()
    assert (workflows["finish_s"] == 4.0).all()  # cut by the outage at 1 s; retries fail at 2 s and 4 s
    assert fleet["abandoned"].iloc[0] == 4 and np.isnan(fleet["cost_per_completed_usd"].iloc[0])
    log = fleet_attempts(_outage_scenario({"maximum_attempts": 3}), "durable")
    assert list(log[log["workflow"] == 0]["outcome"]) == ["outage"] * 3


def test_schedule_to_close_gives_up_at_the_deadline() -> None:
    workflows, _ = simulate_fleet(_outage_scenario({"schedule_to_close": "30s"}), 1, seed=0)
    assert workflows["abandoned"].all()
    # failures noticed at 1, 2, 4, 8, 16 s (backoff 1, 2, 4, 8 s); the next retry (at 32 s) is past 30 s
    assert (workflows["finish_s"] == 16.0).all() and (workflows["calls"] == 5).all()


def test_rolling_deployment_keeps_capacity() -> None:
    # 4 workers at 50% load; every 10 minutes a deployment restarts workers for 2 minutes
    deploy = {"mode": "periodic", "every": "10m", "drain": "0s", "restart_time": "2m"}
    steps = [{"name": "work", "kind": "gpu", "gpu": "g", "duration": "30s"}]
    fleet = {"workers": 4, "arrival": "poisson", "rate_per_hour": 240, "horizon": "2h"}
    full = fleet_scenario(fleet, steps=steps, failures={"deploy": deploy}, strategies={"durable": {}})
    raw = full.raw
    raw["fleet"]["rolling_fraction"] = 0.25
    rolling = scenario_from_dict(raw)
    # all at once: nobody is served for 2 minutes in 10; a quarter at a time: 3 workers stay up
    wait_full = simulate_fleet(full, 10, seed=2)[0].groupby("run")["queue_wait_s"].mean().to_numpy()
    wait_roll = simulate_fleet(rolling, 10, seed=2)[0].groupby("run")["queue_wait_s"].mean().to_numpy()
    diff = wait_full - wait_roll
    assert diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert wait_roll.mean() < 0.5 * wait_full.mean()
