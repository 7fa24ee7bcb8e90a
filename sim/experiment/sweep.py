"""One call for a whole sweep: ``sweep(scenario, vary, runs, seed)`` → one tidy DataFrame.

The sweep's points (``--vary`` parsing, dotted paths, grids) are in ``sim.experiment.points``;
its execution (chunks, executors, the resumable store) in ``sim.experiment.runner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    summary: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Run a sweep and return one tidy DataFrame.

    ``summary=False``: the run rows (``point``, the swept columns, then ``sim.experiment.api.RUN_COLUMNS``),
    sorted by point, strategy and run. ``summary=True``: per point × strategy × metric
    summaries (n, mean, std, se, ci_low, ci_high, p50, p95, p99) from streaming aggregates,
    which need no per-run rows in memory. ``options`` are those of
    ``sim.experiment.runner.run_sweep`` (``engine``, ``out``, ``workers``, ``scheduler``,
    ``chunk_size``, ``keep_runs``, ``overwrite``, ``quiet``, …); with ``out``, chunks are
    stored there and a rerun resumes (see ``sim.experiment.store``). For paired differences,
    stopping rules and progress use ``run_sweep`` itself.
    """
    varies = [parse_vary(v) if isinstance(v, str) else v for v in vary]
    options.setdefault("quiet", True)
    keep_runs = options.pop("keep_runs", True) and not summary
    out = options.get("out")
    result = run_sweep(build_points(scenario, varies), runs, seed, keep_runs=keep_runs,
                       collect_runs=not summary and out is None, spec=sweep_spec(varies), **options)
    if summary:
        return result.summary
    if result.runs is not None:
        return result.runs
    return result.read_runs()
