"""Small builders for scenarios used across the core tests."""

from __future__ import annotations

import copy

from sim import Scenario, scenario_from_dict

VIDEO_STEPS_S = [120.0, 30.0, 900.0, 45.0]


def gpu_steps(durations_s: list[float], price_per_hour: float = 3.6) -> list[dict]:
    return [{"name": f"s{i}", "kind": "gpu", "price_per_hour": price_per_hour, "duration": d}
            for i, d in enumerate(durations_s)]


def llm_steps(n: int, duration_s: float = 10.0) -> list[dict]:
    return [{"name": f"call{i}", "kind": "llm", "model": "m", "input_tokens": 1000, "output_tokens": 1000,
             "duration": duration_s} for i in range(n)]


NO_BACKOFF = {"initial_interval": 0}


def scenario(steps: list[dict], failures: dict | None = None, strategies: dict | None = None, **extra) -> Scenario:
    raw = {
        "name": "test",
        "pricing": {"models": {"m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}},
        "defaults": {"retry": dict(NO_BACKOFF)},
        "steps": copy.deepcopy(steps),
        "failures": failures or {},
        "strategies": strategies if strategies is not None else {"restart": {"retry": dict(NO_BACKOFF)}, "durable": {}},
        **extra,
    }
    return scenario_from_dict(raw)
