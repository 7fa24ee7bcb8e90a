"""The real runs beside the simulated ones: per-run table, paired differences and verdicts.

Each real run (``sim.validate.harness.RealRun``) is paired with the simulator's run of the same
replication and strategy (common random numbers: the same crash lives, deployments, 429 draws
and durations). For each metric the summary gives the mean real and simulated values, the mean
paired difference real − simulated with its 95% Student-t interval, and a verdict: "agrees"
when the interval contains 0, otherwise "differs by X".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.model.billing import billable_actions
from sim.stats.common import t_half_width
from sim.validate.harness import RealRun

#: (metric, unit) compared run by run; the simulator's column has the same name
METRICS: tuple[tuple[str, str], ...] = (
    ("makespan_s", "s"),
    ("compute_s", "s"),
    ("wasted_compute_s", "s"),
    ("attempts", ""),
    ("history_events", ""),
    ("orchestration_actions", ""),
)


#: metrics of a Temporal history: the model's restart strategies record none (their real runs use a
#: Temporal workflow only to supervise the pipeline's one activity)
UNRECORDED = ("history_events", "orchestration_actions")


def real_frame(runs: Sequence[RealRun]) -> pd.DataFrame:
    """One row per real run: what it did, in simulated seconds."""
    rows = []
    for r in runs:
        rows.append({
            "run": r.run, "strategy": r.strategy, "records": r.records, "completed": r.completed,
            "makespan_s": r.makespan_s,
            "compute_s": r.compute_s, "useful_compute_s": r.useful_compute_s,
            "wasted_compute_s": r.wasted_compute_s, "attempts": r.attempts,
            "history_events": r.history_events,
            # restart is billed per pipeline run, not by Temporal's actions (docs/costs.md)
            "orchestration_actions": billable_actions(r.history.get("events", [])) if r.records else 0,
            "crashes": r.crashes, "deploys": r.deploys, "rate_limited": r.rate_limited,
            "late_restart_s": r.late_restart_s,
        })
    return pd.DataFrame(rows)


def paired_table(real: pd.DataFrame, simulated: pd.DataFrame) -> pd.DataFrame:
    """Real and simulated columns side by side, one row per (run, strategy)."""
    cols = [m for m, _ in METRICS]
    sim = simulated[["run", "strategy", *cols]].rename(columns={m: f"sim_{m}" for m in cols})
    out = real.rename(columns={m: f"real_{m}" for m in cols}).merge(sim, on=["run", "strategy"], how="left")
    return out.sort_values(["run", "strategy"], kind="stable").reset_index(drop=True)


def summary(paired: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per strategy and metric: means, the paired difference real − simulated with its interval,
    and the verdict."""
    rows = []
    for strategy, g in paired.groupby("strategy", sort=False):
        for metric, unit in METRICS:
            if metric in UNRECORDED and not g["records"].iloc[0]:
                continue
            real = g[f"real_{metric}"].to_numpy(dtype=float)
            sim = g[f"sim_{metric}"].to_numpy(dtype=float)
            d = real - sim
            n = int(np.isfinite(d).sum())
            d = d[np.isfinite(d)]
            mean = float(d.mean()) if n else math.nan
            se = float(d.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
            half = float(t_half_width(se, n, confidence)) if n >= 2 else math.nan
            if n >= 2 and half == 0.0 and mean == 0.0:
                verdict = "agrees (identical)"
            elif not np.isfinite(half):
                verdict = "too few runs"
            elif abs(mean) <= half:
                verdict = "agrees"
            else:
                base = float(np.nanmean(sim))
                rel = f" ({mean / base:+.0%})" if base else ""
                verdict = f"differs by {mean:+.3g}{unit}{rel}"
            rows.append({"strategy": strategy, "metric": metric, "runs": n,
                         "real_mean": float(np.nanmean(real)), "sim_mean": float(np.nanmean(sim)),
                         "diff_mean": mean, "diff_low": mean - half, "diff_high": mean + half,
                         "verdict": verdict})
    return pd.DataFrame(rows)


def format_summary(table: pd.DataFrame) -> str:
    """The summary as aligned text."""
    lines = [f"{'strategy':<16} {'metric':<22} {'runs':>5} {'real':>11} {'simulated':>11} "
             f"{'real - simulated [95% interval]':>36}  verdict"]
    for r in table.itertuples(index=False):
        interval = f"{r.diff_mean:+.4g} [{r.diff_low:+.4g}, {r.diff_high:+.4g}]"
        lines.append(f"{r.strategy:<16} {r.metric:<22} {r.runs:>5} {r.real_mean:>11.4g} {r.sim_mean:>11.4g} "
                     f"{interval:>36}  {r.verdict}")
    return "\n".join(lines)
