"""Stopping rules: how many replications a target interval half-width needs, and running until it is met."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from scipy import stats as sps

from sim.stats.common import (
    _check_confidence,
    mean_interval_of,
    t_half_width,
)
from sim.stats.paired import (
    paired_differences,
)


def replications_needed(
    se: float, n: int, target_half_width: float, confidence: float = 0.95
) -> int:
    """Total replications m whose t half-width would reach ``target_half_width``.

    Uses the current standard deviation estimate s = se·√n and returns the smallest m ≥ 2
    with ``t_{(1+c)/2, m-1} · s/√m ≤ target`` (may be less than n if already met).
    """
    _check_confidence(confidence)
    if n < 2:
        raise ValueError(f"need at least 2 replications to estimate the spread, got n={n}")
    if not target_half_width > 0:
        raise ValueError(f"target_half_width must be > 0, got {target_half_width}")
    if not math.isfinite(se) or se < 0:
        raise ValueError(f"se must be finite and >= 0, got {se}")
    s = se * math.sqrt(n)
    p = 0.5 + confidence / 2

    def ok(m: int) -> bool:
        return float(sps.t.ppf(p, m - 1)) * s / math.sqrt(m) <= target_half_width

    z = float(sps.norm.ppf(p))
    lo = max(2, math.ceil((z * s / target_half_width) ** 2))  # t > z, so m >= this
    if ok(lo):
        # every m < lo fails even with z in place of t (t > z), so lo is the smallest
        return lo
    hi = lo * 2
    while not ok(hi):
        hi *= 2
    while hi - lo > 1:  # invariant: not ok(lo), ok(hi)
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class StoppingReport:
    """Outcome of :func:`run_until`."""

    runs: int
    batches: int
    mean: float
    half_width: float
    target_half_width: float
    met: bool
    metric: str
    confidence: float


def _estimate(
    df: pd.DataFrame,
    metric: str,
    strategy: str | None,
    paired: tuple[str, str] | None,
    confidence: float,
) -> tuple[float, float, int]:
    if paired is not None:
        row = paired_differences(df, paired[0], paired[1], [metric], confidence=confidence)
        return float(row["mean_diff"].iloc[0]), float(row["se"].iloc[0]), int(row["n"].iloc[0])
    if strategy is not None:
        values = df.loc[df["strategy"] == strategy, metric]
        if values.empty:
            raise ValueError(f"no rows for strategy {strategy!r}")
    else:
        if "strategy" in df.columns and df["strategy"].nunique() > 1:
            raise ValueError("results hold several strategies: pass strategy=... or paired=(a, b)")
        values = df[metric]
    x = values.dropna().to_numpy(dtype=float)
    mean, _, se, _ = mean_interval_of(x, confidence)
    return float(mean), float(se), x.size


def run_until(
    simulate_batch: Callable[[int, int], pd.DataFrame],
    metric: str,
    target: float,
    relative: bool = True,
    strategy: str | None = None,
    paired: tuple[str, str] | None = None,
    batch: int = 200,
    min_runs: int = 100,
    max_runs: int = 100_000,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, StoppingReport]:
    """Add replications until the t half-width of the mean reaches ``target``.

    ``simulate_batch(first_run, n_runs)`` must return the rows of runs
    ``first_run .. first_run + n_runs - 1``. The estimate is the mean of ``metric`` for
    ``strategy`` (or the only strategy), or the paired mean difference a − b when
    ``paired=(a, b)``. The target is absolute, or relative to |mean| when ``relative``.
    After ``min_runs``, each step adds the projected shortfall (:func:`replications_needed`)
    rounded up to a multiple of ``batch``, never more than ``max_runs`` in all. Deterministic
    when ``simulate_batch`` is.
    """
    _check_confidence(confidence)
    if strategy is not None and paired is not None:
        raise ValueError("pass strategy or paired, not both")
    if not target > 0:
        raise ValueError(f"target must be > 0, got {target}")
    if batch < 1 or min_runs < 2 or max_runs < min_runs:
        raise ValueError(
            f"need batch >= 1, min_runs >= 2, max_runs >= min_runs (got {batch}, {min_runs}, {max_runs})"
        )
    frames: list[pd.DataFrame] = []
    runs = 0
    batches = 0
    todo = min_runs
    while True:
        part = simulate_batch(runs, todo)
        if "run" in part.columns and len(part):
            lo, hi = int(part["run"].min()), int(part["run"].max())
            if lo < runs or hi >= runs + todo:
                raise ValueError(
                    f"simulate_batch({runs}, {todo}) returned runs {lo}..{hi}, "
                    f"outside {runs}..{runs + todo - 1}"
                )
        frames.append(part)
        runs += todo
        batches += 1
        df = pd.concat(frames, ignore_index=True)
        mean, se, n = _estimate(df, metric, strategy, paired, confidence)
        half = float(t_half_width(se, n, confidence))
        goal = target * abs(mean) if relative else target
        met = bool(half <= goal) if math.isfinite(half) else False
        if met or runs >= max_runs or not goal > 0 or not math.isfinite(se):
            report = StoppingReport(
                runs=runs,
                batches=batches,
                mean=mean,
                half_width=half,
                target_half_width=goal,
                met=met,
                metric=metric,
                confidence=confidence,
            )
            return df, report
        # runs per replication index may exceed n when rows drop NaNs; scale the projection.
        need = replications_needed(se, n, goal, confidence) * runs / n
        shortfall = max(1, math.ceil(need) - runs)
        todo = min(math.ceil(shortfall / batch) * batch, max_runs - runs)
