"""Shared set-up of the benchmarks: the video pipeline with crash failures only."""

from __future__ import annotations

import resource
import statistics
from collections.abc import Callable

from sim import Scenario, load_scenario, scenario_from_dict

VIDEO = "experiments/scenarios/video.toml"


def video_crash_only() -> Scenario:
    """The bundled video scenario with its deployments removed (crash failures only)."""
    raw = load_scenario(VIDEO).raw
    raw["failures"].pop("deploy", None)
    return scenario_from_dict(raw, file=VIDEO + " (crash only)", base_dir=None)


def interleaved_medians(cases: dict[str, Callable[[], int]], repeats: int,
                        kernel_share: dict[str, float] | None = None,
                        user_only: dict[str, float] | None = None) -> dict[str, float]:
    """Run each case ``repeats`` times, interleaved; return the median runs per CPU second of each.

    CPU time of this process (user + system, ``resource.getrusage``), not wall time: on a shared
    machine other jobs change the wall time far more than the CPU time. All cases are
    single-threaded. ``kernel_share``, if given, receives each case's median share of system
    time (the kernel zeroing the fresh pages a case writes, mostly); ``user_only`` the median
    runs per second of user time alone.
    """
    rates: dict[str, list[float]] = {name: [] for name in cases}
    shares: dict[str, list[float]] = {name: [] for name in cases}
    user_rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            before = resource.getrusage(resource.RUSAGE_SELF)
            runs = fn()
            after = resource.getrusage(resource.RUSAGE_SELF)
            user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            rates[name].append(runs / max(user + system, 1e-9))
            shares[name].append(system / max(user + system, 1e-9))
            user_rates[name].append(runs / max(user, 1e-9))
    if user_only is not None:
        user_only.update({name: statistics.median(values) for name, values in user_rates.items()})
    if kernel_share is not None:
        kernel_share.update({name: statistics.median(values) for name, values in shares.items()})
    return {name: statistics.median(values) for name, values in rates.items()}
