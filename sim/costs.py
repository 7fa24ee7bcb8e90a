"""Orchestration cost model: billable actions, history storage and run time → dollars.

Temporal bills *actions*: a workflow start, each activity task scheduled or retried (every
attempt), each heartbeat that reaches the server, timers, signals. History is stored while the
workflow is open (active storage) and for the retention period after it closes (retained
storage). The article also quotes a price per million "action-minutes" for workflow run time;
we bill it per minute the workflow is open. A classic orchestrator (restart, retry-in-place)
pays its own per-run price instead. Every orchestration cost column comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.scenario import OrchestrationPrice

GB = 1e9


@dataclass(frozen=True)
class OrchestrationUsage:
    """What one run consumed of the orchestrator (arrays broadcast)."""

    actions: np.ndarray
    history_events: np.ndarray
    open_time_s: np.ndarray
    pipeline_runs: np.ndarray


def durable_actions(unit_attempts: np.ndarray, heartbeats: np.ndarray | int = 0,
                    timers: np.ndarray | int = 0, signals: np.ndarray | int = 0) -> np.ndarray:
    """Billable actions of a durable run: 1 workflow start + one per activity attempt + extras."""
    return 1 + np.asarray(unit_attempts) + np.asarray(heartbeats) + np.asarray(timers) + np.asarray(signals)


def orchestration_cost_usd(records_history: bool, usage: OrchestrationUsage, price: OrchestrationPrice) -> np.ndarray:
    """Dollars of orchestration for each run."""
    if not records_history:
        return np.asarray(usage.pipeline_runs, dtype=np.float64) * price.restart_per_run_usd
    actions = np.asarray(usage.actions, dtype=np.float64)
    open_min = np.asarray(usage.open_time_s, dtype=np.float64) / 60.0
    history_gb = np.asarray(usage.history_events, dtype=np.float64) * price.bytes_per_history_event / GB
    active_gbh = history_gb * open_min / 60.0
    retained_gbh = history_gb * price.retention_days * 24.0
    return (
        price.per_workflow_run_usd
        + actions * price.per_million_actions_usd / 1e6
        + open_min * price.per_million_action_minutes_usd / 1e6
        + active_gbh * price.active_storage_per_gb_hour_usd
        + retained_gbh * price.retained_storage_per_gb_hour_usd
    )
