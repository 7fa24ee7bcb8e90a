"""The orchestration overhead of Temporal histories as the durable strategy's ``persist_latency``.

A history's workflow time holds more than its steps: workflow tasks between them, task-queue
waits, the close (:attr:`sim.calibrate.temporal.HistoryInfo.orchestration_s` measures that
time in each history: the workflow time during which no step ran). The model puts such time on the history events a durable run records:
``persist_latency`` per event on the critical path (docs/model.md). The fitted value spreads the
histories' median orchestration time over the events the fitted scenario records on its
critical path:

    persist_latency = median orchestration time / ((M(1 ms) - M(0)) / 1 ms)

where M(l) is the median makespan of the durable strategy without failures and with
``persist_latency = l``, over the same simulated replications (common random numbers, so the
difference is the latency's effect alone: the events on the critical path times l).
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from typing import Any

import numpy as np

PROBE_S = 0.001  # the latency of the second simulation
RUNS = 200
SEED = 20260401


@dataclass(frozen=True)
class Overhead:
    """The fitted latency and the numbers behind it."""

    persist_latency_s: float
    orchestration_s: float  # median over the closed workflows
    makespan_s: float  # M(0): median simulated makespan without latency
    events_on_path: float  # (M(probe) - M(0)) / probe


def fit_overhead(scenario_text: str, orchestration_s: np.ndarray, *,
                 strategy: str = "durable") -> Overhead | None:
    """The ``persist_latency`` of ``strategy`` that puts the histories' median orchestration
    time on the events of the scenario's critical path; None without closed workflows,
    without the strategy, or when the scenario records no event on its critical path."""
    from sim.experiment.api import simulate
    from sim.model.scenario import scenario_from_dict

    times = np.asarray(orchestration_s, dtype=float)
    times = times[np.isfinite(times)]
    raw = tomllib.loads(scenario_text)
    if len(times) == 0 or strategy not in raw.get("strategies", {}):
        return None
    raw.pop("failures", None)
    # every duration and count one value: one replication is the whole distribution
    fixed = all(isinstance(st.get("duration"), str) and isinstance(st.get("count", 1), int)
                for st in raw.get("steps", []))
    runs_n = 1 if fixed else RUNS

    def median_makespan(latency_s: float) -> float:
        variant: dict[str, Any] = copy.deepcopy(raw)
        variant["strategies"] = {strategy: {**variant["strategies"][strategy],
                                            "persist_latency": f"{latency_s:g}s"}}
        runs = simulate(scenario_from_dict(variant), runs_n, SEED, strategies=[strategy])
        return float(np.median(runs["makespan_s"].to_numpy()))

    m0 = median_makespan(0.0)
    slope = (median_makespan(PROBE_S) - m0) / PROBE_S
    if slope <= 0:
        return None
    target = float(np.median(times))
    return Overhead(target / slope, target, m0, slope)
