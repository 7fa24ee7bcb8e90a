"""Shared set-up of the benchmarks: the video pipeline with crash failures only."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from sim import Scenario, load_scenario, scenario_from_dict

VIDEO = "experiments/scenarios/video.toml"


def video_crash_only() -> Scenario:
    """The bundled video scenario with its deployments removed (crash failures only)."""
    raw = load_scenario(VIDEO).raw
    raw["failures"].pop("deploy", None)
    return scenario_from_dict(raw, file=VIDEO + " (crash only)", base_dir=None)


def interleaved_medians(cases: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Run each case ``repeats`` times, interleaved; return the median runs per CPU second of each.

    CPU time of this process (``time.process_time``), not wall time: on a shared machine other
    jobs change the wall time far more than the CPU time. All cases are single-threaded.
    """
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.process_time()
            runs = fn()
            rates[name].append(runs / (time.process_time() - start))
    return {name: statistics.median(values) for name, values in rates.items()}
