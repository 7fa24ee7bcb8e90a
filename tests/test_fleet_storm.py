"""Retry storms emerge from backoff timing: no jitter keeps retries synchronised, full jitter spreads them."""

from __future__ import annotations

import numpy as np

from sim import scenario_from_dict
from sim.engines.fleet import fleet_attempts, simulate_fleet


def storm(jitter: str, n: int = 120) -> object:
    return scenario_from_dict({
        "name": "storm",
        "pricing": {"models": {"m": {"output_per_mtok": 2.0}}},
        "defaults": {"retry": {"initial_interval": "1s", "backoff_coefficient": 2.0, "maximum_interval": "60s",
                               "jitter": jitter}},
        "steps": [{"name": "call", "kind": "llm", "model": "m", "output_tokens": 1000, "duration": "2s"}],
        "fleet": {"workers": n, "workflows": n},
        "provider": {"requests_per_minute": 60, "burst": "5s", "honor_retry_after": False},
        "simulation": {"max_time": "1d"},
        "strategies": {"durable": {}},
    })


def test_without_jitter_simultaneous_retries_stay_synchronised() -> None:
    log = fleet_attempts(storm("none"), "durable", run=0, seed=3)
    refused = log[log["outcome"] == "rate_limited"]
    assert len(refused) > 500
    # every retry round happens at one instant: a handful of distinct instants for hundreds of calls
    instants = np.unique(np.round(log["start_s"].to_numpy(), 9))
    assert len(instants) < 0.05 * len(log)
    # at each instant the bucket admits at most its burst, whatever the crowd
    admitted_per_instant = log[log["outcome"] == "completed"].groupby(np.round(log["start_s"], 9)).size()
    assert admitted_per_instant.max() <= 5


def test_full_jitter_spreads_retries_and_reduces_total_calls() -> None:
    log = fleet_attempts(storm("full"), "durable", run=0, seed=3)
    instants = np.unique(np.round(log["start_s"].to_numpy(), 9))
    assert len(instants) > 0.9 * len(log) - 120  # only the simultaneous first calls share an instant
    none = simulate_fleet(storm("none"), 8, seed=3)[1]
    full = simulate_fleet(storm("full"), 8, seed=3)[1]
    assert none["calls"].std() == 0  # nothing random without jitter
    calls = full["calls"].to_numpy(dtype=float)
    se = calls.std(ddof=1) / np.sqrt(len(calls))
    assert calls.mean() + 4 * se < none["calls"].iloc[0]
    drain = full["drain_time_s"].to_numpy()
    assert drain.mean() + 4 * drain.std(ddof=1) / np.sqrt(len(drain)) < none["drain_time_s"].iloc[0]
    # every workflow completes either way: the storm wastes calls and time, not work
    assert (none["completed"] == 120).all() and (full["completed"] == 120).all()
