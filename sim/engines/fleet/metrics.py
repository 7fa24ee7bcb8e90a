"""Fleet results: one row per workflow, and fleet metrics per (replication, strategy).

Workflow rows carry the single-pipeline columns (docs/model.md, section 3) plus arrival,
queueing and provider counts; orchestration cost comes from ``sim.model.costs`` exactly as for a
single run (the workflow is open from its arrival to its end). Fleet rows aggregate them:
throughput, time to drain, queueing delay, latency percentiles, calls and 429s, worker
utilisation, cost per completed workflow, abandoned workflows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model.costs import OrchestrationUsage, durable_actions, orchestration_cost_usd
from sim.model.scenario import Scenario
from sim.model.strategies import Behaviour

from .engine import WORKFLOW_FIELDS

WORKFLOW_COLUMNS = [
    "scenario", "strategy", "run", "seed", "workflow", "arrival_s", "first_start_s", "finish_s",
    "completed", "abandoned", "cut_by_horizon", "makespan_s", "latency_s", "queue_wait_s",
    "compute_s", "useful_compute_s", "wasted_compute_s", "compute_cost_usd", "useful_cost_usd",
    "wasted_cost_usd", "orchestration_actions", "history_events", "orchestration_cost_usd",
    "total_cost_usd", "attempts", "calls", "wasted_calls", "crashes", "deploy_kills",
    "rate_limited", "provider_429s", "outage_errors", "pipeline_restarts", "heartbeats",
]

FLEET_COLUMNS = [
    "scenario", "strategy", "run", "seed", "workers", "workflows", "completed", "abandoned",
    "unfinished", "drain_time_s", "throughput_per_h", "queue_wait_mean_s", "queue_wait_p95_s",
    "latency_mean_s", "latency_p50_s", "latency_p90_s", "latency_p99_s", "calls", "wasted_calls",
    "rate_limited", "provider_429s", "outage_errors", "crashes", "deploy_kills", "heartbeats", "worker_utilisation",
    "compute_cost_usd", "wasted_cost_usd", "orchestration_cost_usd", "total_cost_usd",
    "cost_per_completed_usd", "wasted_cost_per_completed_usd", "schedule_to_start_mean_s",
    "schedule_to_start_p95_s", "backlog_mean", "backlog_max", "events",
]
QUEUE_COLUMNS = ("schedule_to_start_mean_s", "schedule_to_start_p95_s", "backlog_mean", "backlog_max")


def workflow_frame(scenario: Scenario, beh: Behaviour, run: int, seed: int, records: list[tuple]) -> pd.DataFrame:
    """One row per workflow of one strategy's fleet run (columns ``WORKFLOW_COLUMNS``)."""
    cols = dict(zip(WORKFLOW_FIELDS, (np.asarray(c) for c in zip(*records, strict=True)), strict=True)) if records else {
        f: np.zeros(0) for f in WORKFLOW_FIELDS}
    n = len(records)
    unit_attempts = cols["unit_attempts"].astype(np.int64)
    history = cols["history_events"].astype(np.int64)
    arrival = cols["arrival_s"].astype(np.float64)
    finish = cols["finish_s"].astype(np.float64)
    latency = finish - arrival
    heartbeats = cols["heartbeats"].astype(np.int64)
    actions = durable_actions(unit_attempts, heartbeats) if beh.records_history else unit_attempts
    usage = OrchestrationUsage(actions=actions, history_events=history, open_time_s=latency, pipeline_runs=unit_attempts)
    orch = np.asarray(orchestration_cost_usd(beh.records_history, usage, scenario.pricing.orchestration), dtype=np.float64)
    orch = np.broadcast_to(orch, (n,)).copy()
    compute_cost = cols["compute_cost_usd"].astype(np.float64)
    completed = cols["completed"].astype(bool)
    cut = cols["cut_by_horizon"].astype(bool)
    calls = cols["calls"].astype(np.int64)
    return pd.DataFrame({
        "scenario": pd.Series([scenario.name] * n, dtype="string"),
        "strategy": pd.Series([beh.label] * n, dtype="string"),
        "run": np.full(n, run, dtype=np.int64),
        "seed": np.full(n, seed, dtype=np.int64),
        "workflow": cols["workflow"].astype(np.int64),
        "arrival_s": arrival,
        "first_start_s": cols["first_start_s"].astype(np.float64),
        "finish_s": finish,
        "completed": completed,
        "abandoned": ~completed & ~cut,
        "cut_by_horizon": cut,
        "makespan_s": latency,
        "latency_s": latency,
        "queue_wait_s": cols["queue_wait_s"].astype(np.float64),
        "compute_s": cols["compute_s"].astype(np.float64),
        "useful_compute_s": cols["useful_compute_s"].astype(np.float64),
        "wasted_compute_s": cols["wasted_compute_s"].astype(np.float64),
        "compute_cost_usd": compute_cost,
        "useful_cost_usd": cols["useful_cost_usd"].astype(np.float64),
        "wasted_cost_usd": cols["wasted_cost_usd"].astype(np.float64),
        "orchestration_actions": np.asarray(actions, dtype=np.int64),
        "history_events": history,
        "orchestration_cost_usd": orch,
        "total_cost_usd": compute_cost + orch,
        "attempts": cols["attempts"].astype(np.int64),
        "calls": calls,
        "wasted_calls": calls - cols["useful_calls"].astype(np.int64),
        "crashes": cols["crashes"].astype(np.int64),
        "deploy_kills": cols["deploy_kills"].astype(np.int64),
        "rate_limited": cols["rate_limited"].astype(np.int64),
        "provider_429s": cols["provider_429s"].astype(np.int64),
        "outage_errors": cols["outage_errors"].astype(np.int64),
        "pipeline_restarts": cols["pipeline_restarts"].astype(np.int64),
        "heartbeats": heartbeats,
    })[WORKFLOW_COLUMNS]


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def fleet_row(workflows: pd.DataFrame, workers: int, events: float, slots: int = 1,
              queue_stats: dict[str, float] | None = None) -> dict:
    """Fleet metrics of one (replication, strategy) from its workflow rows.

    Latency and queueing percentiles are over completed workflows; ``drain_time_s`` is when the
    last workflow ended; utilisation is attempt time over workers × ``slots`` (activity slots per
    worker: 1 for chains, ``[fleet] max_concurrent_activities`` or ``[worker] activity_slots`` for workflow
    graphs) × drain time; the wasted cost
    counts compute of attempts whose results were lost, plus all compute of abandoned workflows.
    ``queue_stats``: the activity queue's figures (``QUEUE_COLUMNS``) of a task-queue run; NaN
    otherwise (a chain, or a workflow graph that holds one worker).
    """
    done = workflows[workflows["completed"].to_numpy()]
    n_done = len(done)
    drain = float(workflows["finish_s"].max()) if len(workflows) else 0.0
    latency = done["latency_s"].to_numpy()
    queue = done["queue_wait_s"].to_numpy()
    total = float(workflows["total_cost_usd"].sum())
    wasted = float(workflows["wasted_cost_usd"].sum())
    first = workflows.iloc[0] if len(workflows) else None
    return {
        "scenario": first["scenario"] if first is not None else "",
        "strategy": first["strategy"] if first is not None else "",
        "run": int(first["run"]) if first is not None else -1,
        "seed": int(first["seed"]) if first is not None else -1,
        "workers": workers,
        "workflows": len(workflows),
        "completed": n_done,
        "abandoned": int(workflows["abandoned"].sum()),
        "unfinished": int(workflows["cut_by_horizon"].sum()),
        "drain_time_s": drain,
        "throughput_per_h": n_done / drain * 3600.0 if drain > 0 else float("nan"),
        "queue_wait_mean_s": float(queue.mean()) if n_done else float("nan"),
        "queue_wait_p95_s": _pct(queue, 95),
        "latency_mean_s": float(latency.mean()) if n_done else float("nan"),
        "latency_p50_s": _pct(latency, 50),
        "latency_p90_s": _pct(latency, 90),
        "latency_p99_s": _pct(latency, 99),
        "calls": int(workflows["calls"].sum()),
        "wasted_calls": int(workflows["wasted_calls"].sum()),
        "rate_limited": int(workflows["rate_limited"].sum()),
        "provider_429s": int(workflows["provider_429s"].sum()),
        "outage_errors": int(workflows["outage_errors"].sum()),
        "crashes": int(workflows["crashes"].sum()),
        "deploy_kills": int(workflows["deploy_kills"].sum()),
        "heartbeats": int(workflows["heartbeats"].sum()),
        "worker_utilisation": float(workflows["compute_s"].sum()) / (workers * slots * drain) if drain > 0 else float("nan"),
        "compute_cost_usd": float(workflows["compute_cost_usd"].sum()),
        "wasted_cost_usd": wasted,
        "orchestration_cost_usd": float(workflows["orchestration_cost_usd"].sum()),
        "total_cost_usd": total,
        "cost_per_completed_usd": total / n_done if n_done else float("nan"),
        "wasted_cost_per_completed_usd": wasted / n_done if n_done else float("nan"),
        **{c: (queue_stats or {}).get(c, float("nan")) for c in QUEUE_COLUMNS},
        "events": int(events),
    }
