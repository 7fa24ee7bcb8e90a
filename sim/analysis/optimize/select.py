"""Rank simulated candidates on common random numbers, with paired intervals and a stated rule.

Every candidate is a strategy of one scenario, simulated with the same seed: replication r
faces the same crashes, deployments and 429s under every candidate, so differences are paired.

Objectives (lower is better), per run then aggregated over runs:
* ``cost``: mean ``total_cost_usd``;
* ``makespan``: mean ``makespan_s``;
* ``p95``: 95th percentile of ``makespan_s``;
* ``weighted``: mean of ``total_cost_usd + value_of_time_usd_per_hour × makespan_s / 3600``.

Selection rule (``rank``): the candidate with the lowest estimate is the best. It is *separated*
when the paired 95% interval of (runner-up − best) lies above 0; otherwise every candidate whose
paired interval against the best contains 0 is reported as tied with it. Mean objectives use
Student t intervals over the paired differences; the p95 uses a percentile bootstrap over
replications (the same resample for both candidates). Each interval is a 95% interval for one
comparison, not a simultaneous one: with many candidates near the top, read the tie list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.stats import t_half_width

OBJECTIVES = ("cost", "makespan", "p95", "weighted")
OBJECTIVE_LABELS = {"cost": "expected total cost", "makespan": "expected makespan", "p95": "p95 makespan",
                    "weighted": "expected cost + value of time"}
P95_BOOT = 400


def per_run_objective(df: pd.DataFrame, objective: str, value_of_time_usd_per_hour: float = 0.0) -> pd.Series:
    """The per-run quantity the objective aggregates (cost, makespan, or cost + value of time)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if objective == "cost":
        return df["total_cost_usd"]
    if objective in ("makespan", "p95"):
        return df["makespan_s"]
    return df["total_cost_usd"] + value_of_time_usd_per_hour * df["makespan_s"] / 3600.0


def aggregate(values: np.ndarray, objective: str) -> float:
    """Mean, or the 95th percentile for ``p95``."""
    return float(np.quantile(values, 0.95)) if objective == "p95" else float(np.mean(values))


def matrix(df: pd.DataFrame, labels: Sequence[str], objective: str, value_of_time_usd_per_hour: float = 0.0
           ) -> np.ndarray:
    """[run, candidate] per-run objective values, runs paired by their index."""
    values = df.assign(_v=per_run_objective(df, objective, value_of_time_usd_per_hour))
    wide = values.pivot(index="run", columns="strategy", values="_v")
    missing = [label for label in labels if label not in wide.columns]
    if missing:
        raise ValueError(f"no runs for candidate(s) {missing}")
    out = wide[list(labels)].to_numpy(dtype=float)
    if np.isnan(out).any():
        raise ValueError("every candidate must be simulated on the same replications")
    return out


@dataclass(frozen=True)
class PairedDiff:
    mean: float  # objective(a) − objective(b)
    low: float
    high: float


def paired_diff(a: np.ndarray, b: np.ndarray, objective: str, confidence: float = 0.95, seed: int = 0) -> PairedDiff:
    """objective(a) − objective(b) over paired runs, with its interval (t, or bootstrap for p95)."""
    n = a.size
    if objective != "p95":
        d = a - b
        mean = float(d.mean())
        if n < 2:
            return PairedDiff(mean, math.nan, math.nan)
        half = float(t_half_width(d.std(ddof=1) / math.sqrt(n), n, confidence))
        return PairedDiff(mean, mean - half, mean + half)
    point = aggregate(a, objective) - aggregate(b, objective)
    rng = np.random.default_rng(seed)
    boot = np.empty(P95_BOOT)
    for k in range(P95_BOOT):
        idx = rng.integers(0, n, n)
        boot[k] = np.quantile(a[idx], 0.95) - np.quantile(b[idx], 0.95)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return PairedDiff(point, float(low), float(high))


@dataclass(frozen=True)
class Ranking:
    objective: str
    order: tuple[str, ...]  # best first
    values: dict[str, float]
    best: str
    runner_up: str | None
    gap: PairedDiff | None  # runner-up − best
    separated: bool
    tied: tuple[str, ...]  # candidates not distinguishable from the best (the best included)
    vs_best: dict[str, PairedDiff]
    runs: int

    @property
    def statement(self) -> str:
        """The selection guarantee, in words, with this ranking's numbers."""
        what = OBJECTIVE_LABELS[self.objective]
        if self.runner_up is None:
            return f"one candidate only ({self.best})"
        g = self.gap
        unit = ((lambda v: f"{'-' if v < 0 else ''}${abs(v):.4g}") if self.objective in ("cost", "weighted")
                else (lambda v: f"{v:.4g} s"))
        interval = f"{unit(g.mean)} [{unit(g.low)}, {unit(g.high)}]"
        if self.separated:
            return (f"'{self.best}' has the lowest {what}; it is ahead of the runner-up '{self.runner_up}' by "
                    f"{interval}, a paired 95% interval above 0 ({self.runs} replications, common random numbers)")
        others = ", ".join(f"'{t}'" for t in self.tied if t != self.best)
        return (f"'{self.best}' has the lowest estimate of {what}, but the paired 95% interval of its lead over "
                f"'{self.runner_up}', {interval}, contains 0: tied with {others} ({self.runs} replications)")


def rank(df: pd.DataFrame, labels: Sequence[str], objective: str, value_of_time_usd_per_hour: float = 0.0,
         confidence: float = 0.95, seed: int = 0) -> Ranking:
    """Rank ``labels`` (strategies of ``df``) by the objective, with the selection rule above."""
    m = matrix(df, labels, objective, value_of_time_usd_per_hour)
    values = {label: aggregate(m[:, k], objective) for k, label in enumerate(labels)}
    order = tuple(sorted(labels, key=lambda label: (values[label], list(labels).index(label))))
    best = order[0]
    col = {label: k for k, label in enumerate(labels)}
    vs_best = {label: paired_diff(m[:, col[label]], m[:, col[best]], objective, confidence, seed)
               for label in order[1:]}
    runner = order[1] if len(order) > 1 else None
    gap = vs_best[runner] if runner is not None else None
    separated = gap is not None and gap.low > 0
    tied = (best, *(label for label in order[1:] if not vs_best[label].low > 0))
    return Ranking(objective, order, values, best, runner, gap, bool(separated), tied, vs_best, m.shape[0])
