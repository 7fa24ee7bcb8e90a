"""Spot or on-demand? Each strategy that runs steps on spot capacity against the on-demand
reference, on the same failures (docs/spot.md): the paired cost saving and delay, deadline
misses, wasted compute, preemptions and moves to on-demand, each with its 95% interval.

The reference is the first strategy of the scenario that runs no step on spot capacity.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.model.scenario import Scenario
from sim.model.spot import placement, step_capacities
from sim.stats import paired_differences
from sim.stats.bounds import proportion_interval

SPOT_COLUMNS = [
    "strategy", "reference", "runs", "cost_saving_usd", "cost_saving_low_usd", "cost_saving_high_usd",
    "cost_saving_share", "delay_s", "delay_low_s", "delay_high_s", "deadline_missed", "deadline_missed_low",
    "deadline_missed_high", "reference_deadline_missed", "wasted_compute_s", "preemptions", "on_demand_share",
]


def spot_strategies(scenario: Scenario) -> tuple[list[str], str | None]:
    """(strategies that run some step on spot capacity, the on-demand reference or None)."""
    spot, reference = [], None
    for label, config in scenario.strategies.items():
        if "spot" in step_capacities(scenario, *placement(config.capacity)):
            spot.append(label)
        elif reference is None:
            reference = label
    return spot, reference


def uses_spot(scenario: Scenario) -> bool:
    return bool(spot_strategies(scenario)[0])


def with_deadline_misses(scenario: Scenario, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``deadline_missed`` column (1 when a run did not complete by the scenario's
    ``[simulation] deadline``), when the scenario has a deadline."""
    deadline = scenario.simulation.deadline_s
    if deadline is None or "deadline_missed" in df.columns:
        return df
    out = df.copy()
    out["deadline_missed"] = (~out["completed"].to_numpy(bool) | (out["makespan_s"].to_numpy() > deadline)).astype(
        np.int64)
    return out


def spot_table(scenario: Scenario, df: pd.DataFrame) -> pd.DataFrame:
    """One row per spot strategy: its paired cost saving over the reference (reference − spot) and
    delay (spot − reference), as means with 95% intervals; its deadline-miss rate and the
    reference's; its mean wasted compute, preemptions and share of runs moved to on-demand."""
    spot, reference = spot_strategies(scenario)
    if not spot or reference is None:
        return pd.DataFrame(columns=SPOT_COLUMNS)
    df = with_deadline_misses(scenario, df)
    metrics = ["total_cost_usd", "makespan_s"]
    rows = []
    ref = df[df["strategy"] == reference]
    has_deadline = "deadline_missed" in df.columns
    ref_missed = float(ref["deadline_missed"].mean()) if has_deadline else math.nan
    for label in spot:
        part = df[df["strategy"] == label]
        paired = paired_differences(df, reference, label, metrics=metrics).set_index("metric")
        cost, delay = paired.loc["total_cost_usd"], paired.loc["makespan_s"]
        if has_deadline:
            flags = part["deadline_missed"].to_numpy(bool)
            missed = proportion_interval(int(flags.sum()), flags.size)
        else:
            missed = (math.nan, math.nan, math.nan)
        rows.append({
            "strategy": label, "reference": reference, "runs": int(cost["n"]),
            "cost_saving_usd": float(cost["mean_diff"]), "cost_saving_low_usd": float(cost["ci_low"]),
            "cost_saving_high_usd": float(cost["ci_high"]),
            "cost_saving_share": float(cost["mean_diff"]) / float(cost["mean_a"]) if cost["mean_a"] else math.nan,
            "delay_s": -float(delay["mean_diff"]), "delay_low_s": -float(delay["ci_high"]),
            "delay_high_s": -float(delay["ci_low"]),
            "deadline_missed": missed[0], "deadline_missed_low": missed[1], "deadline_missed_high": missed[2],
            "reference_deadline_missed": ref_missed,
            "wasted_compute_s": float(part["wasted_compute_s"].mean()),
            "preemptions": float(part["preemptions"].mean()),
            "on_demand_share": float(part["on_demand_fallbacks"].mean()),
        })
    return pd.DataFrame(rows, columns=SPOT_COLUMNS)


PAUSE_COLUMNS = ["strategy", "reference", "runs", "cost_saving_usd", "cost_saving_low_usd", "cost_saving_high_usd",
                 "cost_saving_share", "delay_s", "delay_low_s", "delay_high_s", "wasted_compute_s",
                 "reference_wasted_compute_s"]


def pause_pairs(scenario: Scenario) -> list[tuple[str, str]]:
    """(strategy that pauses for cheaper hours, the strategy it is compared with): the first
    strategy of the same kind that does not pause, else the first that does not pause."""
    plain = [label for label, c in scenario.strategies.items() if not c.pause_for_off_peak]
    pairs = []
    for label, config in scenario.strategies.items():
        if not config.pause_for_off_peak or not plain:
            continue
        same = [p for p in plain if scenario.strategies[p].kind == config.kind]
        pairs.append((label, (same or plain)[0]))
    return pairs


def paired_saving_and_delay(df: pd.DataFrame, label: str, reference: str) -> dict[str, float]:
    """The paired cost saving (reference − label) and delay (label − reference) with 95% intervals."""
    paired = paired_differences(df, reference, label, metrics=["total_cost_usd", "makespan_s"]).set_index("metric")
    cost, delay = paired.loc["total_cost_usd"], paired.loc["makespan_s"]
    return {
        "runs": int(cost["n"]), "cost_saving_usd": float(cost["mean_diff"]),
        "cost_saving_low_usd": float(cost["ci_low"]), "cost_saving_high_usd": float(cost["ci_high"]),
        "cost_saving_share": float(cost["mean_diff"]) / float(cost["mean_a"]) if cost["mean_a"] else math.nan,
        "delay_s": -float(delay["mean_diff"]), "delay_low_s": -float(delay["ci_high"]),
        "delay_high_s": -float(delay["ci_low"]),
    }


def pause_table(scenario: Scenario, df: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy that pauses for cheaper hours: what pausing saves and what it costs in time."""
    rows = []
    for label, reference in pause_pairs(scenario):
        rows.append({"strategy": label, "reference": reference, **paired_saving_and_delay(df, label, reference),
                     "wasted_compute_s": float(df.loc[df["strategy"] == label, "wasted_compute_s"].mean()),
                     "reference_wasted_compute_s": float(df.loc[df["strategy"] == reference,
                                                                "wasted_compute_s"].mean())})
    return pd.DataFrame(rows, columns=PAUSE_COLUMNS)
