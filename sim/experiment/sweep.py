"""One call for a whole sweep: ``sweep(scenario, vary, runs, seed)`` → one tidy DataFrame.

The sweep's points (``--vary`` parsing, dotted paths, grids) are in ``sim.experiment.points``;
its execution (chunks, executors, the resumable store) in ``sim.experiment.runner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sim.experiment.points import Vary, build_points, parse_vary, sweep_spec
from sim.experiment.runner import run_sweep
from sim.model.scenario import Scenario


def sweep(
    scenario: Scenario,
    vary: Sequence[Vary | str],
    runs: int,
    seed: int = 0,
    *,
    engine: str = "auto",
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    keep_runs: bool = True,
    overwrite: bool = False,
    summary: bool = False,
    quiet: bool = True,
) -> pd.DataFrame:
    """Run a sweep and return one tidy DataFrame.

    ``summary=False``: the run rows (``point``, the swept columns, then ``sim.experiment.api.RUN_COLUMNS``),
    sorted by point, strategy and run. ``summary=True``: per point × strategy × metric
    summaries (n, mean, std, se, ci_low, ci_high, p50, p95, p99) from streaming aggregates,
    which need no per-run rows in memory. With ``out``, chunks are stored there and a
    rerun resumes (see ``sim.experiment.store``). For paired differences, stopping rules and progress
    use ``sim.experiment.runner.run_sweep``.
    """
    varies = [parse_vary(v) if isinstance(v, str) else v for v in vary]
    points = build_points(scenario, varies)
    result = run_sweep(
        points, runs, seed, engine=engine, out=out, workers=workers, scheduler=scheduler,
        chunk_size=chunk_size, keep_runs=keep_runs and not summary,
        collect_runs=not summary and out is None, overwrite=overwrite, quiet=quiet,
        spec=sweep_spec(varies),
    )
    if summary:
        return result.summary
    if result.runs is not None:
        return result.runs
    return result.read_runs()
