"""A fleet on a real Temporal server beside the fleet simulation (``sim validate --fleet``).

One task queue and ``[fleet] workers`` real worker processes polling it, each with the fleet's
``max_concurrent_activities`` (and ``max_concurrent_workflow_tasks``); the fleet's workflows start
at their arrival instants (a batch: all at once), each interpreting its plan with the draws the
fleet engine gives that workflow (``sim.engines.fleet.streams.member_draws``). Worker w is
SIGKILLed at the instants of the fleet's crash clock of worker w (its life from the instant it
polls, as the model's ``renew_on_restart``), and a spare process polls the scenario's
``restart_time`` later. Temporal notices the death through the heartbeat timeout; nothing else
tells it. So the real run shows what the model claims: which workers the activities of one
workflow ran on, how long tasks waited for a slot (schedule-to-start), and which attempts a
kill ended. ``compare_fleet`` pairs each real replication with the simulated one.

Only strategies that dispatch through the task queue (``durable``, ``heartbeat``, singleton
``checkpoint`` groups) are run; no deployments, no shared provider (the real run has none).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.engines.fleet import fleet_queue, simulate_fleet, uses_task_queue
from sim.engines.fleet.engine import activity_slots, workflow_task_slots
from sim.engines.fleet.streams import arrival_times, member_draws, worker_crash_streams
from sim.model.scenario import Scenario
from sim.model.strategies import Behaviour
from sim.model.workflow import Graph
from sim.validate.attempt_log import AttemptLog
from sim.validate.harness import WarmPool, _event_time, _td
from sim.validate.plan import build_plan, unsupported


def fleet_unsupported(scenario: Scenario, beh: Behaviour) -> str | None:
    """Why this fleet strategy cannot be validated on the real server, or None."""
    why = unsupported(scenario, beh)
    if why:
        return why
    if scenario.fleet is None:
        return "the scenario has no [fleet] table"
    if not uses_task_queue(scenario, beh.label):
        return ("it keeps a workflow on one worker (the real run would give each pipeline one activity slot, "
                "not a whole worker)")
    if scenario.failures.deploy is not None:
        return "deployments are not run on a real fleet yet"
    if scenario.provider is not None:
        return "the real run has no shared provider"
    crash = scenario.failures.crash
    if crash is not None and not crash.renew_on_restart:
        return "host-clock crashes (renew_on_restart = false) are not run on a real fleet"
    return None


@dataclass
class FleetReal:
    """One real fleet replication of one strategy (simulated seconds)."""

    run: int
    strategy: str
    workflows: pd.DataFrame  # workflow, completed, makespan_s, finish_s
    tasks: pd.DataFrame  # workflow, step_index, instance, attempt, worker, scheduled_s, started_s, end_s, outcome
    kills: int
    late_restart_s: float = 0.0
    histories: dict[int, dict] = field(repr=False, default_factory=dict)


class FleetDriver:
    """One (replication, strategy) of a fleet on the real server."""

    def __init__(self, client: Any, pool: WarmPool, scenario: Scenario, scenario_path: str, beh: Behaviour, run: int,
                 seed: int, speed: float, workdir: Path):
        self.client, self.pool, self.scenario, self.beh = client, pool, scenario, beh
        self.scenario_path = scenario_path
        self.run, self.seed, self.speed = run, seed, speed
        self.task_queue = f"simfleet-{run}-{beh.label}-{os.getpid()}-{time.monotonic_ns()}"
        self.arrivals = arrival_times(scenario, seed, run)
        graph = Graph(scenario)
        self.logs = [workdir / f"fleet{run}-{beh.label}-wf{j}.attempts.jsonl" for j in range(len(self.arrivals))]
        self.plans = [build_plan(scenario, scenario_path, beh, member_draws(graph, seed, run, j), seed=seed, run=run,
                                 speed=speed, log_path=str(self.logs[j]), task_queue=self.task_queue, member=j)
                      for j in range(len(self.arrivals))]
        self.workers = scenario.fleet.workers  # type: ignore[union-attr]
        self.crash = worker_crash_streams(scenario, seed, run, self.workers)
        crash = scenario.failures.crash
        self.restart_s = crash.restart_time_s if crash is not None else 0.0
        self.pid_worker: dict[int, int] = {}
        self.kill_at: dict[int, float] = {}  # pid → when it was killed (real)
        self.kills = 0
        self.late = 0.0
        self.done = asyncio.Event()

    def _options(self) -> dict[str, Any]:
        sc = self.scenario
        return {"task_queue": self.task_queue, "activity_slots": activity_slots(sc) or None,
                "workflow_task_slots": workflow_task_slots(sc) or None,
                "sticky_timeout_real_s": sc.temporal.sticky_schedule_to_start_timeout_s / self.speed,
                "drain_real_s": 0.0, "max_cached_workflows": 1000,
                "warm": {"scenario": self.scenario_path, "seed": self.seed,
                         "draws": [[self.run, j] for j in range(len(self.arrivals))]}}

    async def _supervise(self, w: int, worker: Any, ready_s: float, t0: float) -> None:
        """Worker w: SIGKILL at its crash clock's instants, a spare ``restart_time`` later."""
        stream, j = self.crash[w], 0
        speed = self.speed

        def next_ttf() -> float:
            nonlocal j
            if stream is None:
                return math.inf
            j += 1
            return stream.get(j - 1)

        next_crash = ready_s + next_ttf()
        try:
            while not self.done.is_set():
                now_s = (time.time() - t0) * speed
                if next_crash > now_s:
                    timeout = (next_crash - now_s) / speed if math.isfinite(next_crash) else None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.done.wait(), timeout)
                    continue
                self.kill_at[worker.pid] = worker.kill()
                self.kills += 1
                spare = await self.pool.take()
                await spare.prepare(self._options())
                due = self.kill_at[worker.pid] + self.restart_s / speed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.done.wait(), max(0.0, due - time.time()))
                if self.done.is_set():
                    spare.kill()
                    return
                worker = spare
                ready = await worker.go()
                self.pid_worker[worker.pid] = w
                self.late += max(0.0, ready - due) * speed
                next_crash = (ready - t0) * speed + next_ttf()
        finally:
            self.kill_at.setdefault(worker.pid, worker.kill())

    async def execute(self) -> FleetReal:
        from sim.validate.workflow_def import SimPipeline

        speed, sc = self.speed, self.scenario
        procs = [await self.pool.take() for _ in range(self.workers)]
        readies = await asyncio.gather(*(p.go(self._options()) for p in procs))
        for w, p in enumerate(procs):
            self.pid_worker[p.pid] = w
        t0 = max(readies)  # the model's time 0: every worker polls, and every worker's first life begins
        supervisors = [asyncio.ensure_future(self._supervise(w, p, 0.0, t0)) for w, p in enumerate(procs)]
        handles = []
        for j, at in enumerate(self.arrivals):
            delay = t0 + at / speed - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            handles.append(await self.client.start_workflow(
                SimPipeline.run, self.plans[j], id=f"wf-{self.task_queue}-{j}", task_queue=self.task_queue,
                task_timeout=_td(sc.temporal.workflow_task_timeout_s / speed),
                execution_timeout=_td(sc.simulation.max_time_s / speed)))
        results = await asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
        self.done.set()
        await asyncio.gather(*supervisors, return_exceptions=True)
        histories = {j: (await h.fetch_history()).to_json_dict() for j, h in enumerate(handles)}
        return self._summarise(histories, [not isinstance(r, BaseException) for r in results], t0)

    def _summarise(self, histories: dict[int, dict], completed: list[bool], t0: float) -> FleetReal:
        speed, graph = self.speed, Graph(self.scenario)
        names = {s.name: i for i, s in enumerate(self.scenario.steps)}
        rows, tasks = [], []
        for j, history in histories.items():
            events = history.get("events", [])
            first, last = _event_time(events[0]), _event_time(events[-1])
            rows.append({"workflow": j, "completed": completed[j], "makespan_s": (last - first) * speed,
                         "finish_s": (last - t0) * speed})
            scheduled: dict[tuple[int, int], float] = {}
            for e in events:
                attrs = e.get("activityTaskScheduledEventAttributes")
                if attrs:
                    name, _, inst = attrs["activityId"].rpartition("-")
                    scheduled[(names[name], int(inst))] = _event_time(e)
            entries = AttemptLog(str(self.logs[j])).entries()
            ends = {(e["i"], e["j"], e["k"]): e for e in entries if e["e"] == "end"}
            for e in entries:
                if e["e"] != "start" or graph.is_wait[e["i"]]:
                    continue
                key = (e["i"], e["j"], e["k"])
                end = ends.get(key)
                end_t, outcome = (end["t"], end["outcome"]) if end else (self.kill_at.get(e["pid"], e["t"]), "crashed")
                sched = scheduled.get((e["i"], e["j"]), math.nan) if e["k"] == 0 else math.nan
                tasks.append({"workflow": j, "step_index": e["i"], "instance": e["j"], "attempt": e["k"],
                              "worker": self.pid_worker.get(e["pid"], -1), "scheduled_s": (sched - t0) * speed,
                              "started_s": (e["t"] - t0) * speed, "end_s": (end_t - t0) * speed, "outcome": outcome})
        return FleetReal(self.run, self.beh.label, pd.DataFrame(rows), pd.DataFrame(tasks), self.kills, self.late,
                         histories)


async def run_fleet_real(address: str, scenario: Scenario, scenario_path: str, behaviours: list[Behaviour],
                         runs: list[int], seed: int, speed: float, workdir: Path,
                         progress: Callable[[FleetReal], None] | None = None) -> list[FleetReal]:
    """Every (replication, strategy) of the fleet on the server at ``address``, one at a time."""
    from temporalio.client import Client

    client = await Client.connect(address, namespace="default")
    workers = scenario.fleet.workers  # type: ignore[union-attr]
    pool = WarmPool(address, size=2 * workers + 2)
    out = []
    try:
        await pool.warm()
        for run in runs:
            for beh in behaviours:
                real = await FleetDriver(client, pool, scenario, scenario_path, beh, run, seed, speed,
                                         workdir).execute()
                out.append(real)
                if progress is not None:
                    progress(real)
    finally:
        await pool.close()
    return out


WAITED_S = 0.25  # simulated s: a first attempt that started later than this after it was scheduled waited for a slot
FLEET_METRICS = ("makespan_mean_s", "drain_time_s", "schedule_to_start_first_mean_s", "waited_share",
                 "attempts", "killed_attempts", "workers_per_workflow")


def fleet_figures(workflows: pd.DataFrame, tasks: pd.DataFrame) -> dict[str, float]:
    """What a fleet replication is compared on: mean makespan, drain time, first attempts' mean
    schedule-to-start and the share that waited more than ``WAITED_S`` (a real dispatch takes up
    to about 0.2 s), activity attempts, attempts ended by a crash, and the mean number of workers
    that ran a workflow's attempts."""
    first = tasks[tasks["attempt"] == 0]
    wait = (first["started_s"] - first["scheduled_s"]).to_numpy(dtype=float)
    wait = wait[np.isfinite(wait)]
    return {
        "makespan_mean_s": float(workflows["makespan_s"].mean()),
        "drain_time_s": float(workflows["finish_s"].max()),
        "schedule_to_start_first_mean_s": float(wait.mean()) if len(wait) else math.nan,
        "waited_share": float((wait > WAITED_S).mean()) if len(wait) else math.nan,
        "attempts": float(len(tasks)),
        "killed_attempts": float((tasks["outcome"] == "crashed").sum()),
        "workers_per_workflow": float(tasks.groupby("workflow")["worker"].nunique().mean()),
    }


def simulated_fleet(scenario: Scenario, label: str, run: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulated replication in the real run's shape: (workflows, tasks)."""
    wf, _ = simulate_fleet(scenario, 1, seed, first_run=run, strategies=[label])
    tasks, _ = fleet_queue(scenario, label, run, seed)
    workflows = pd.DataFrame({"workflow": wf["workflow"], "completed": wf["completed"],
                              "makespan_s": wf["makespan_s"], "finish_s": wf["finish_s"]})
    return workflows, tasks


def compare_fleet(reals: list[FleetReal], scenario: Scenario, seed: int) -> pd.DataFrame:
    """One row per (run, strategy, metric): the real value, the simulated one and real − simulated."""
    rows = []
    for real in reals:
        sim_wf, sim_tasks = simulated_fleet(scenario, real.strategy, real.run, seed)
        r, s = fleet_figures(real.workflows, real.tasks), fleet_figures(sim_wf, sim_tasks)
        for metric in FLEET_METRICS:
            rows.append({"run": real.run, "strategy": real.strategy, "metric": metric, "real": r[metric],
                         "simulated": s[metric], "difference": r[metric] - s[metric]})
    return pd.DataFrame(rows)
