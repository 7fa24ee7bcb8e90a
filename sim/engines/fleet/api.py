"""``simulate_fleet(scenario, replications, seed)`` → (workflows DataFrame, fleet metrics DataFrame)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.model.scenario import Scenario
from sim.model.strategies import behaviours_of
from sim.model.workflow import Graph

from .engine import ATTEMPT_OUTCOMES, FleetRun, StepTable, activity_slots, run_replication
from .metrics import FLEET_COLUMNS, WORKFLOW_COLUMNS, fleet_row, workflow_frame
from .provider import check_provider
from .streams import arrival_times, workflow_envs
from .taskqueue import dispatches


def simulate_fleet(scenario: Scenario, replications: int, seed: int = 0, *, first_run: int = 0,
                   strategies: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate ``replications`` fleet replications of every strategy of ``scenario``.

    Every strategy of replication ``r`` faces the same arrivals, step durations, 429 draws,
    worker crash clocks, deployments and provider outages (common random numbers). Returns
    ``(workflows, fleet)``: one row per (replication, strategy, workflow) with
    ``WORKFLOW_COLUMNS`` and one row per (replication, strategy) with ``FLEET_COLUMNS``
    (docs/fleet.md).
    """
    for name, value in (("replications", replications), ("seed", seed), ("first_run", first_run)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must not be negative")
    if scenario.fleet is None:
        raise ValueError(f"scenario {scenario.name!r} has no [fleet] table (docs/fleet.md)")
    check_provider(scenario)
    behaviours = behaviours_of(scenario, strategies)
    frames: list[pd.DataFrame] = []
    rows: list[dict] = []
    workers = scenario.fleet.workers
    # a graph workflow's activities share its worker's slots (unlimited: utilisation per worker)
    slots = (activity_slots(scenario) or 1) if scenario.is_graph else 1
    for run in range(first_run, first_run + replications):
        records, extra = run_replication(scenario, behaviours, seed, run)
        for beh in behaviours:
            df = workflow_frame(scenario, beh, run, seed, records[beh.label])
            frames.append(df)
            rows.append(fleet_row(df, workers, extra[beh.label]["events"], slots, extra[beh.label]))
    workflows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=WORKFLOW_COLUMNS)
    fleet = pd.DataFrame(rows, columns=FLEET_COLUMNS)
    # the labels as in sim.simulate: categoricals in scenario order (so sorting by strategy agrees)
    labels = [beh.label for beh in behaviours]
    for df in (workflows, fleet):
        df["scenario"] = pd.Categorical(df["scenario"].astype(object), categories=[scenario.name])
        df["strategy"] = pd.Categorical(df["strategy"].astype(object), categories=labels)
    return workflows, fleet


ATTEMPT_COLUMNS = ["workflow", "step", "step_index", "attempt", "start_s", "end_s", "outcome"]


def fleet_attempts(scenario: Scenario, strategy: str, run: int = 0, seed: int = 0) -> pd.DataFrame:
    """Every attempt of one strategy's fleet replication ``run``: who ran what when, and how it ended.

    The same replication as ``simulate_fleet(scenario, …, seed)`` row ``run``; ``outcome`` is one
    of completed, crashed, killed_by_deploy, rate_limited (a 429), outage, cut_by_horizon.
    """
    fleet_run = _one_replication(scenario, strategy, run, seed, event_log=True)
    fleet_run.run()
    log = fleet_run.log or []
    df = pd.DataFrame(log, columns=["workflow", "step_index", "attempt", "start_s", "end_s", "outcome"])
    df["step"] = pd.Series([scenario.steps[i].name for i in df["step_index"]], dtype="string")
    df["outcome"] = pd.Series([ATTEMPT_OUTCOMES[o] for o in df["outcome"]], dtype="string")
    return df.sort_values(["start_s", "workflow"], kind="stable").reset_index(drop=True)[ATTEMPT_COLUMNS]


def _one_replication(scenario: Scenario, strategy: str, run: int, seed: int, event_log: bool = False) -> FleetRun:
    """Fleet replication ``run`` of one strategy, ready to run (the same as ``simulate_fleet``'s row)."""
    if scenario.fleet is None:
        raise ValueError(f"scenario {scenario.name!r} has no [fleet] table (docs/fleet.md)")
    check_provider(scenario)
    beh = behaviours_of(scenario, [strategy])[0]
    arrivals = arrival_times(scenario, seed, run)
    envs = workflow_envs(scenario, seed, run, len(arrivals))
    return FleetRun(scenario, StepTable(scenario), beh, seed, run, arrivals, envs, scenario.fleet.workers,
                    event_log=event_log)


TASK_COLUMNS = ["workflow", "step", "step_index", "instance", "attempt", "worker", "scheduled_s", "started_s",
                "schedule_to_start_s", "end_s", "outcome"]


def uses_task_queue(scenario: Scenario, strategy: str) -> bool:
    """Does ``strategy`` run this fleet's workflows through the activity task queue (a workflow
    graph under a strategy that records every activity: docs/fleet.md, "Task queues")?"""
    if scenario.fleet is None or not scenario.is_graph:
        return False
    return dispatches(Graph(scenario), behaviours_of(scenario, [strategy])[0])


def fleet_queue(scenario: Scenario, strategy: str, run: int = 0, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The activity task queue of one strategy's fleet replication ``run`` (a workflow graph under
    a strategy that dispatches through the queue: docs/fleet.md, "Task queues").

    Returns ``(tasks, backlog)``: one row per activity attempt (``TASK_COLUMNS``: the worker that
    ran it, when the workflow scheduled it, when a slot took it, how it ended) and the backlog as a
    step function (``time_s``, ``backlog``: activity tasks waiting from that instant on; the last
    row at the drain time).
    """
    fleet_run = _one_replication(scenario, strategy, run, seed)
    tq = fleet_run.taskqueue
    if tq is None:
        raise ValueError(f"strategy {strategy!r} of scenario {scenario.name!r} does not dispatch activities through "
                         "a task queue (a chain, or restart, retry_in_place or multi-step checkpoint groups: "
                         "docs/fleet.md)")
    tq.run()
    df = pd.DataFrame(tq.tasks, columns=["workflow", "step_index", "instance", "attempt", "worker", "scheduled_s",
                                         "started_s", "end_s", "outcome"])
    df["step"] = pd.Series([scenario.steps[i].name for i in df["step_index"]], dtype="string")
    df["schedule_to_start_s"] = df["started_s"] - df["scheduled_s"]
    df["outcome"] = pd.Series([ATTEMPT_OUTCOMES[o] for o in df["outcome"]], dtype="string")
    tasks = df.sort_values(["started_s", "workflow", "step_index", "instance"], kind="stable").reset_index(drop=True)
    drain = max((r[3] for r in tq.records), default=0.0)
    series = [*tq.backlog_series, (drain, tq.backlog_series[-1][1])] if drain > tq.backlog_series[-1][0] else \
        tq.backlog_series
    backlog = pd.DataFrame(series, columns=["time_s", "backlog"])
    return tasks[TASK_COLUMNS], backlog
