"""Statistics on results DataFrames: summaries, paired differences, stopping rules, break-even.

Every function takes the tidy results of ``sim.simulate`` or a sweep (one row per
replication × strategy, see ``docs/model.md`` section 3) and returns a tidy DataFrame or a
small dataclass. Intervals are Student t intervals (transformed where they would cross a
metric's bound: ``bounds.py``); the break-even interval is a percentile
bootstrap over whole replications. Nothing here uses a global random number generator.
"""

from __future__ import annotations

from sim.stats.bounds import (
    MIN_REPLICATIONS,
    bounded_interval,
    few_replications_warning,
    mean_interval,
    metric_bounds,
)
from sim.stats.breakeven import BreakEven, breakeven
from sim.stats.common import IDENTITY_COLUMNS, default_metrics, t_half_width
from sim.stats.paired import paired_differences, paired_frame
from sim.stats.stopping import StoppingReport, replications_needed, run_until
from sim.stats.summary import summarize

__all__ = [
    "IDENTITY_COLUMNS",
    "MIN_REPLICATIONS",
    "BreakEven",
    "StoppingReport",
    "bounded_interval",
    "breakeven",
    "default_metrics",
    "few_replications_warning",
    "mean_interval",
    "metric_bounds",
    "paired_differences",
    "paired_frame",
    "replications_needed",
    "run_until",
    "summarize",
    "t_half_width",
]
