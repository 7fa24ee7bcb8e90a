"""Run replications of a scenario on a real Temporal server, on the simulator's failures.

For each (replication, strategy) the harness gives the run its own task queue and worker
process, starts the workflow (``sim.validate.workflow_def``), and injects the replication's
failures in real time, compressed by ``speed`` (simulated seconds per real second):

* a crash is a SIGKILL of the worker process at the instant the model's clock gives (the
  worker's life ``X_j`` from the instant it became ready, or the host's fixed instants); a warm
  spare process starts polling the scenario's ``restart_time`` later;
* a deployment is a SIGTERM: the worker shuts down gracefully (``graceful_shutdown_timeout`` =
  the drain) and a spare polls ``restart_time`` after it exited;
* 429s, Retry-After and durations are drawn by the activities from the same streams.

Nothing tells Temporal that a worker died: it notices through the heartbeat timeout (the
scenario's detection delay). Signal waits are answered by the harness the wait's drawn
duration after they open. What each run did is read back from its real history and its
attempt log (``RealRun``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.model.failures import Worker, build_environments, worker_spec
from sim.model.scenario import Scenario
from sim.model.strategies import Behaviour
from sim.model.workflow import Graph, GraphDraws, replication_draws
from sim.validate.attempt_log import AttemptLog
from sim.validate.plan import build_plan
from sim.validate.server import die_with_parent

WORKER_START_TIMEOUT_S = 60.0


class WorkerProcess:
    """A warm worker process (``sim.validate.worker_proc``)."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.exited = asyncio.Event()
        self.stopped_at = math.nan

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def prepare(self, options: dict[str, Any]) -> None:
        """Build the worker for a task queue (it does not poll yet)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(options) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), WORKER_START_TIMEOUT_S)
        if line.strip() != b"prepared":
            raise RuntimeError(f"a worker process failed to build its worker ({line!r})")

    async def go(self, options: dict[str, Any] | None = None) -> float:
        """Start polling (building the worker first unless ``prepare`` did); the instant it polls."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if options is not None:
            await self.prepare(options)
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), WORKER_START_TIMEOUT_S)
            if not line:
                raise RuntimeError("a worker process exited before polling")
            if line.startswith(b"ready "):
                asyncio.ensure_future(self._watch())
                return float(line.split()[1])

    async def _watch(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            if line.startswith(b"stopped "):
                self.stopped_at = float(line.split()[1])
        await self.proc.wait()
        if math.isnan(self.stopped_at):
            self.stopped_at = time.time()
        self.exited.set()

    def kill(self) -> float:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        return time.time()

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)


class WarmPool:
    """Worker processes started ahead of need: imported, connected, waiting to be told their queue."""

    def __init__(self, address: str, size: int):
        self.address = address
        self.size = size
        self._ready: asyncio.Queue[WorkerProcess] = asyncio.Queue()
        self._starting = 0
        self._all: list[WorkerProcess] = []
        self.closing = False

    async def _spawn(self) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sim.validate.worker_proc", self.address,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                preexec_fn=die_with_parent)
            wp = WorkerProcess(proc)
            self._all.append(wp)
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), WORKER_START_TIMEOUT_S)
            if self.closing:
                return
            if line.strip() != b"warm":
                raise RuntimeError(f"a worker process failed to start ({line!r})")
            await self._ready.put(wp)
        finally:
            self._starting -= 1

    def fill(self) -> None:
        while self._ready.qsize() + self._starting < self.size:
            self._starting += 1
            asyncio.ensure_future(self._spawn())

    async def warm(self) -> None:
        """Wait until every spare has started: booting several interpreters at once takes seconds of
        CPU, which a run under way would otherwise share (and pay in Temporal's latency)."""
        self.fill()
        while self._starting:
            await asyncio.sleep(0.05)

    async def take(self) -> WorkerProcess:
        self.fill()
        wp = await asyncio.wait_for(self._ready.get(), WORKER_START_TIMEOUT_S)
        self.fill()
        return wp

    async def close(self) -> None:
        self.closing = True
        for wp in self._all:
            wp.kill()
        for wp in self._all:
            with contextlib.suppress(ProcessLookupError):
                await wp.proc.wait()


@dataclass
class RealRun:
    """What one real run did (real seconds already scaled back to simulated seconds)."""

    run: int
    strategy: str
    completed: bool
    makespan_s: float
    compute_s: float
    useful_compute_s: float
    wasted_compute_s: float
    attempts: int
    history_events: int
    crashes: int
    deploys: int
    rate_limited: int
    records: bool = True  # the strategy records its progress in the history (durable ones)
    late_restart_s: float = 0.0  # how much later than the scenario's restart time replacements polled
    history: dict = field(repr=False, default_factory=dict)


def _deploy_instants(scenario: Scenario, renv: Any, horizon_s: float) -> list[float]:
    """The replication's deployment instants up to the horizon, from the model's worker clock."""
    clock = Worker(worker_spec(scenario), renv)
    out = []
    while clock.next_deploy <= horizon_s:
        out.append(clock.next_deploy)
        clock.deploy_begins()
    return out


class RunDriver:
    """One (replication, strategy) on the real server."""

    def __init__(self, client: Any, pool: WarmPool, scenario: Scenario, scenario_path: str, beh: Behaviour,
                 run: int, seed: int, speed: float, workdir: Path, renv: Any, draws: GraphDraws, horizon_s: float):
        self.client, self.pool, self.scenario, self.beh = client, pool, scenario, beh
        self.scenario_path = scenario_path
        self.run, self.seed, self.speed = run, seed, speed
        self.renv, self.draws, self.horizon_s = renv, draws, horizon_s
        self.task_queue = f"sim-{run}-{beh.label}-{os.getpid()}-{time.monotonic_ns()}"
        self.log_path = workdir / f"run{run}-{beh.label}.attempts.jsonl"
        self.log = AttemptLog(str(self.log_path))
        self.plan = build_plan(scenario, scenario_path, beh, draws, seed=seed, run=run, speed=speed,
                               log_path=str(self.log_path), task_queue=self.task_queue)
        self.kills: dict[int, float] = {}  # pid → when it was killed or stopped (real)
        self.crashes = self.deploys = 0
        crash = scenario.failures.crash
        self.restart_crash_s = crash.restart_time_s if crash is not None else 0.0
        self.renew = crash.renew_on_restart if crash is not None else True
        dep = scenario.failures.deploy
        self.drain_s = dep.drain_s if dep is not None else 0.0
        self.restart_deploy_s = dep.restart_time_s if dep is not None else 0.0
        self._j = 0

    def _options(self) -> dict[str, Any]:
        return {"task_queue": self.task_queue, "activity_slots": self.scenario.worker.activity_slots,
                "sticky_timeout_real_s": self.scenario.temporal.sticky_schedule_to_start_timeout_s / self.speed,
                "drain_real_s": self.drain_s / self.speed,
                # restart's pipeline is supervised, not replayed: no workflow cache, no sticky queue
                "max_cached_workflows": 1000 if self.beh.records_history else 0,
                "warm": {"scenario": self.scenario_path, "seed": self.seed, "draws": [[self.run, None]]}}

    def _next_ttf(self) -> float:
        ttf = self.renv.crash_ttf
        if ttf is None:
            return math.inf
        x = ttf.get(self._j)
        self._j += 1
        return x

    async def execute(self) -> RealRun:
        from sim.validate.workflow_def import SimPipeline

        speed = self.speed
        worker = await self.pool.take()
        ready = await worker.go(self._options())
        t0 = ready  # the model's time 0: the worker is ready and the workflow starts
        # crash instants in simulated time: the worker's age (renew) or the host's clock
        if self.renew:
            next_crash = self._next_ttf()
        else:
            host = [self._next_ttf()]
            next_crash = host[0]
        deploys = _deploy_instants(self.scenario, self.renv, self.horizon_s)
        handle = await self.client.start_workflow(
            SimPipeline.run, self.plan, id=f"wf-{self.task_queue}", task_queue=self.task_queue,
            task_timeout=_td(self.scenario.temporal.workflow_task_timeout_s / speed),
            execution_timeout=_td(self.horizon_s / speed))
        result = asyncio.ensure_future(handle.result())
        signals = asyncio.ensure_future(self._answer_signals(handle)) if self._has_signals() else None
        try:
            while not result.done():
                now_s = (time.time() - t0) * speed
                due_deploy = deploys[0] if deploys else math.inf
                due = min(next_crash, due_deploy)
                if due > now_s:
                    await asyncio.wait([result], timeout=(due - now_s) / speed)
                    continue
                if next_crash <= due_deploy:
                    self.kills[worker.pid] = worker.kill()
                    self.log.write(e="kill", of=worker.pid, cause="crash")
                    self.crashes += 1
                    down_for = self.restart_crash_s
                else:
                    deploys.pop(0)
                    self.deploys += 1
                    worker.terminate()
                    self.log.write(e="deploy", of=worker.pid)
                    # a crash during the drain kills the worker
                    while not worker.exited.is_set():
                        now_s = (time.time() - t0) * speed
                        if next_crash <= now_s:
                            self.kills[worker.pid] = worker.kill()
                            self.log.write(e="kill", of=worker.pid, cause="crash")
                            self.crashes += 1
                            break
                        timeout = (next_crash - now_s) / speed if math.isfinite(next_crash) else None
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(worker.exited.wait(), timeout)
                    await worker.exited.wait()
                    self.kills.setdefault(worker.pid, worker.stopped_at)
                    down_for = self.restart_deploy_s
                down_at = self.kills[worker.pid]
                # deployments that fall while the worker is down are absorbed
                back_s = (down_at - t0) * speed + down_for
                while deploys and deploys[0] <= back_s:
                    deploys.pop(0)
                spare = await self.pool.take()
                await spare.prepare(self._options())
                await asyncio.wait([result], timeout=max(0.0, down_at + down_for / speed - time.time()))
                if result.done():
                    spare.kill()
                    break
                worker = spare
                ready = await worker.go()
                self.log.write(e="ready", of=worker.pid, due=down_at + down_for / speed, at=ready)
                ready_s = (ready - t0) * speed
                if self.renew:
                    next_crash = ready_s + self._next_ttf()
                else:
                    while host[-1] <= ready_s:
                        host.append(host[-1] + self._next_ttf())
                    next_crash = host[-1]
            completed = True
            try:
                await result
            except Exception:
                completed = False
        finally:
            if signals is not None:
                signals.cancel()
            self.kills.setdefault(worker.pid, worker.kill())
            if not result.done():
                result.cancel()
        history = await handle.fetch_history()
        return self._summarise(history.to_json_dict(), completed)

    def _has_signals(self) -> bool:
        return self.beh.records_history and any(s["wait"] in ("signal", "approval") for s in self.plan["steps"])

    async def _answer_signals(self, handle: Any) -> None:
        from sim.validate.workflow_def import SIGNAL

        sent: set[str] = set()
        while True:
            try:
                waiting = await asyncio.wait_for(handle.query("waiting"), 2.0)
            except Exception:
                waiting = {}
            for key, since in waiting.items():
                if key in sent:
                    continue
                i, j = (int(x) for x in key.split(":"))
                sent.add(key)
                delay = since + self.draws.duration(i, j, 0) / self.speed - time.time()
                asyncio.ensure_future(self._signal_later(handle, SIGNAL, i, j, delay))
            await asyncio.sleep(0.01)

    async def _signal_later(self, handle: Any, name: str, i: int, j: int, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        await handle.signal(name, args=[i, j])

    def _summarise(self, history: dict, completed: bool) -> RealRun:
        events = history.get("events", [])
        makespan = (_event_time(events[-1]) - _event_time(events[0])) * self.speed if events else math.nan
        entries = self.log.entries()
        compute, useful, attempts, limited = attempt_totals(entries, self.kills, Graph(self.scenario))
        late = sum(max(0.0, e["at"] - e["due"]) for e in entries if e["e"] == "ready") * self.speed
        return RealRun(self.run, self.beh.label, completed, makespan, compute * self.speed, useful * self.speed,
                       (compute - useful) * self.speed, attempts, len(events), self.crashes, self.deploys, limited,
                       self.beh.records_history, late, history)


def attempt_totals(entries: list[dict], kills: dict[int, float], graph: Graph) -> tuple[float, float, int, int]:
    """(compute, useful compute, activity attempts, 429s) in real seconds from a run's attempt log
    (``AttemptLog.entries``).

    An attempt without an ``end`` line ended when its process was killed or stopped. Useful is the
    last completed attempt of each unit (the result the workflow used); waits are not attempts.
    """
    starts: dict[tuple[int, int, int], tuple[float, int]] = {}
    ends: dict[tuple[int, int, int], tuple[float, str]] = {}
    for e in entries:
        if e["e"] not in ("start", "end"):
            continue
        key = (e["i"], e["j"], e["k"])
        if e["e"] == "start":
            starts[key] = (e["t"], e["pid"])
        else:
            ends[key] = (e["t"], e["outcome"])
    compute = 0.0
    last_done: dict[tuple[int, int], tuple[int, float]] = {}
    attempts = limited = 0
    for key, (t, pid) in starts.items():
        i, j, k = key
        if graph.is_wait[i]:
            continue
        attempts += 1
        if key in ends:
            end, outcome = ends[key]
        else:
            end, outcome = kills.get(pid, t), "killed"
        end = max(end, t)
        compute += end - t
        if outcome == "rate_limited":
            limited += 1
        if outcome == "completed" and k >= last_done.get((i, j), (-1, 0.0))[0]:
            last_done[(i, j)] = (k, end - t)
    useful = sum(d for _, d in last_done.values())
    return compute, useful, attempts, limited


def _event_time(e: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(e["eventTime"].replace("Z", "+00:00")).timestamp()


def _td(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


def replication_inputs(scenario: Scenario, seed: int, runs: list[int]) -> list[tuple[Any, GraphDraws]]:
    """Each replication's failure environment and its graph draws, as the simulator builds them."""
    envs = build_environments(scenario, np.asarray(runs, dtype=np.int64), seed)
    graph = Graph(scenario)
    return [(renv, replication_draws(graph, seed, renv.run)) for renv in envs]


async def run_real(address: str, scenario: Scenario, scenario_path: str, behaviours: list[Behaviour], runs: list[int],
                   seed: int, speed: float, workdir: Path, concurrency: int,
                   progress: Callable[[RealRun], None] | None = None) -> list[RealRun]:
    """Every (replication, strategy) of ``runs`` × ``behaviours`` on the server at ``address``."""
    from temporalio.client import Client

    client = await Client.connect(address, namespace="default")
    # spares for every run under way and twice as many again: a crash takes one at once, and a new
    # process needs seconds to start (late replacements are reported, ``RealRun.late_restart_s``)
    pool = WarmPool(address, size=3 * concurrency + 4)
    inputs = replication_inputs(scenario, seed, runs)
    horizon = scenario.simulation.max_time_s
    sem = asyncio.Semaphore(concurrency)
    out: list[RealRun] = []

    async def one(renv: Any, draws: GraphDraws, beh: Behaviour) -> None:
        async with sem:
            driver = RunDriver(client, pool, scenario, scenario_path, beh, renv.run, seed, speed, workdir,
                               renv, draws, horizon)
            rr = await driver.execute()
            out.append(rr)
            if progress is not None:
                progress(rr)

    try:
        await pool.warm()
        await asyncio.gather(*(one(renv, draws, beh) for renv, draws in inputs for beh in behaviours))
    finally:
        await pool.close()
    out.sort(key=lambda r: (r.run, [b.label for b in behaviours].index(r.strategy)))
    return out
