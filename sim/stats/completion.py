"""Runs that did not complete: how many, and why (cut by ``simulation.max_time``, or out of retries).

A run that does not complete still has a row: its times and costs count the work until it
stopped. The commands warn with the cause and the fraction affected, and exit with
``EXIT_TARGET_NOT_MET`` (``sim.errors``).
"""

from __future__ import annotations

import numpy as np

from sim.model.units import format_duration

__all__ = ["incomplete_counts", "incomplete_warnings"]


def incomplete_counts(completed: np.ndarray, makespan_s: np.ndarray, max_time_s: float) -> tuple[int, int]:
    """(cut by max_time, gave up) among runs whose ``completed`` is false: a run that stopped at or
    beyond ``max_time_s`` was cut there; one that stopped earlier ran out of retry attempts."""
    done = np.asarray(completed, dtype=bool)
    makespan = np.asarray(makespan_s, dtype=float)
    cut = int(np.count_nonzero(~done & (makespan >= max_time_s * (1 - 1e-12))))
    return cut, int(np.count_nonzero(~done)) - cut


def incomplete_warnings(counts: dict[str, tuple[int, int]], runs: dict[str, int], max_time_s: float,
                        where: str = "") -> list[str]:
    """One warning line per strategy with runs that did not complete (empty when all completed).

    ``counts``: strategy → (cut, gave up); ``runs``: strategy → replications; ``where``: a
    prefix such as a sweep point's label."""
    lines = []
    for label, (cut, gave_up) in counts.items():
        n = runs[label]
        if not n:
            continue
        if cut:
            lines.append(f"warning: {where}{label}: {cut} of {n} replications ({cut / n:.1%}) did not complete: cut "
                         f"at simulation.max_time ({format_duration(max_time_s)}); their times and costs count "
                         "only the work until then (raise simulation.max_time, or the failures are too "
                         "frequent for the pipeline to finish)")
        if gave_up:
            lines.append(f"warning: {where}{label}: {gave_up} of {n} replications ({gave_up / n:.1%}) did not "
                         "complete: a step ran out of retry attempts (retry.maximum_attempts)")
    return lines
