"""The fleet engine: many workflows, a shared pool of workers, a shared provider (SimPy).

Each workflow is a ``simpy.Process``; an arrival process starts them (Poisson) or they all
start at time 0 (batch). The process drives one of the model's state machines, the ones the DES
engine runs: the chain machine (``sim.model.chain``, given the pool, the provider and
``schedule_to_close``) or the workflow model of a graph (``sim.model.workflow``, on one worker of
the pool for the whole workflow); it turns their delays into timeouts. A chain's step attempt needs a worker from the ``WorkerPool`` (a SimPy
resource; a workflow queues when all workers are busy). Each worker has its own crash clock
and shares the fleet's deployment instants (shifted per batch for rolling deployments); both
are the single-pipeline ``Worker`` of ``sim.model.failures``, so crash and deployment semantics
(detection delay, restart time, renew_on_restart, drain) are exactly those of docs/model.md.
At the start of an attempt the worker says whether a crash or a deployment cuts it, and the
provider whether a rate limit (429 + Retry-After) or an outage does, so an attempt is one
SimPy timeout to whichever comes first.

A workflow holds its worker exactly while that worker's memory holds progress that is not
recorded (``restart``/``retry_in_place``: the whole pipeline; ``checkpoint``: the current
group; ``durable``: nothing, so every step attempt may run on a different worker;
``heartbeat``: like durable, and a GPU step's saves live in the orchestrator, so its retry
resumes from the last save on any worker). With one
workflow, no shared provider, and either one worker or no crashes, a fleet run is the
single-pipeline run of the same replication, number for number (tests/test_fleet_equivalence.py).
"""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy

from sim.model.chain import NEED_WORKER, ChainTable, chain_run
from sim.model.failures import CUT, OUTAGE, ReplicationEnv, Worker, worker_spec
from sim.model.scenario import Scenario
from sim.model.strategies import Behaviour
from sim.model.workflow import GRAPH_SOURCES, Graph, GraphDraws, WorkflowRun

from .pool import WorkerPool
from .provider import Provider, build_provider, provider_steps
from .streams import (
    OffsetStream,
    arrival_times,
    deploy_stream,
    member_keys,
    worker_crash_streams,
    workflow_envs,
)
from .taskqueue import TaskQueueFleet, dispatches

ATTEMPT_OUTCOMES = {0: "completed", 1: "crashed", 2: "killed_by_deploy", 3: "rate_limited", OUTAGE: "outage",
                    5: "cancelled", CUT: "cut_by_horizon"}

WORKFLOW_FIELDS = (
    "workflow", "arrival_s", "first_start_s", "finish_s", "completed", "cut_by_horizon",
    "queue_wait_s", "compute_s", "useful_compute_s", "wasted_compute_s", "compute_cost_usd",
    "useful_cost_usd", "wasted_cost_usd", "unit_attempts", "history_events", "attempts", "calls",
    "useful_calls", "crashes", "deploy_kills", "rate_limited", "provider_429s", "outage_errors",
    "pipeline_restarts", "heartbeats",
)


class StepTable(ChainTable):
    """The chain machine's per-step constants, with the steps that call the fleet's shared provider."""

    def __init__(self, scenario: Scenario):
        super().__init__(scenario)
        self.uses_provider = provider_steps(scenario)


def activity_slots(scenario: Scenario) -> int:
    """Activity slots per fleet worker (0: unlimited): ``[fleet] max_concurrent_activities``, or
    ``[worker] activity_slots``."""
    fleet = scenario.fleet
    if fleet is not None and fleet.max_concurrent_activities is not None:
        return fleet.max_concurrent_activities
    return scenario.worker.activity_slots or 0


def workflow_task_slots(scenario: Scenario) -> int:
    """Workflow-task slots per fleet worker (0: unlimited): ``[fleet] max_concurrent_workflow_tasks``."""
    fleet = scenario.fleet
    return (fleet.max_concurrent_workflow_tasks or 0) if fleet is not None else 0


def _rolling_delays(scenario: Scenario, workers: int) -> list[float]:
    """Deployment delay of each worker: batch b of a rolling deployment starts b·(drain + restart) later."""
    fleet, deploy = scenario.fleet, scenario.failures.deploy
    if deploy is None or fleet is None or fleet.rolling_fraction >= 1.0:
        return [0.0] * workers
    size = max(1, math.ceil(workers * fleet.rolling_fraction))
    step = deploy.drain_s + deploy.restart_time_s
    return [(w // size) * step for w in range(workers)]


def build_workers(scenario: Scenario, seed: int, run: int, workers: int) -> list[Worker]:
    """Fresh workers for one strategy's fleet run (their clocks are shared pure streams)."""
    spec = worker_spec(scenario)
    crash = worker_crash_streams(scenario, seed, run, workers)
    gaps = deploy_stream(scenario, seed, run)
    deploy = scenario.failures.deploy
    out = []
    for w, delay in enumerate(_rolling_delays(scenario, workers)):
        renv = ReplicationEnv(run)
        renv.crash_ttf = crash[w]
        w_spec = spec
        if gaps is not None:
            if delay > 0:
                shift = delay / deploy.every_s if deploy.mode == "periodic" else delay
                renv.deploy_gap = OffsetStream(gaps, shift)  # type: ignore[assignment]
            else:
                renv.deploy_gap = gaps
        elif delay > 0 and spec[6] is not None:
            w_spec = (*spec[:6], tuple(a + delay for a in spec[6]))
        out.append(Worker(w_spec, renv))
    return out


class FleetRun:
    """One strategy's run of one fleet replication: a SimPy environment and its processes."""

    def __init__(self, scenario: Scenario, table: StepTable, beh: Behaviour, seed: int, run: int,
                 arrivals: list[float], envs: list[ReplicationEnv], workers: int, event_log: bool = False):
        table.prepare(beh)
        self.env = simpy.Environment()
        self.table = table
        self.beh = beh
        self.run_index = run
        self.arrivals = arrivals
        self.envs = envs
        self.pool = WorkerPool(self.env, build_workers(scenario, seed, run, workers))
        self.provider: Provider | None = build_provider(scenario, seed, run)
        self.records: list[tuple] = []
        self.events = 0
        self.log: list[tuple] | None = [] if event_log else None
        self.graph: Graph | None = None
        self.taskqueue: TaskQueueFleet | None = None
        if scenario.is_graph:
            self.graph = graph = Graph(scenario)
            graph.slots = activity_slots(scenario)  # a worker's slots, whichever strategy holds it
            graph.uses_provider = provider_steps(scenario)
            self.graph_keys = {source: member_keys(seed, source, run, len(arrivals)).tolist()
                               for source in GRAPH_SOURCES}
            if dispatches(graph, beh):
                self.taskqueue = TaskQueueFleet(
                    graph, beh, self.pool.workers, activity_slots(scenario), workflow_task_slots(scenario), arrivals,
                    self._draws, lambda j: envs[j].jitter_u, run, event_log, self.provider)

    def _draws(self, j: int) -> GraphDraws:
        return GraphDraws(self.graph, {source: self.graph_keys[source][j] for source in GRAPH_SOURCES})

    def run(self) -> None:
        if self.taskqueue is not None:
            tq = self.taskqueue
            tq.run()
            self.records, self.events, self.log = tq.records, tq.events, tq.log
            return
        env = self.env
        workflow = self._workflow if self.graph is None else self._graph_workflow
        if all(a == 0.0 for a in self.arrivals):
            for j in range(len(self.arrivals)):
                env.process(workflow(j, 0.0))
        else:
            env.process(self._arrive())
        env.run()
        self.events += self.pool.handovers

    def _arrive(self) -> Generator[simpy.Event, None, None]:
        env = self.env
        for j, at in enumerate(self.arrivals):
            if at > env.now:
                self.events += 1
                yield env.timeout(at - env.now)
            env.process(self._workflow(j, at) if self.graph is None else self._graph_workflow(j, at))

    def _graph_workflow(self, j: int, arrival: float) -> Generator[simpy.Event, object, None]:
        """A workflow graph (docs/model.md, "Workflow graphs"): it takes a worker of the pool when it
        arrives and runs the workflow model (``sim.model.workflow``) on it, in its activity slots,
        until it ends; then the worker returns to the pool."""
        env, pool, graph = self.env, self.pool, self.graph
        w = pool.take(env.now)
        if w is None:
            self.events += 1
            w = yield pool.wait()
        taken = env.now
        draws = self._draws(j)
        log: list | None = [] if self.log is not None else None
        wr = WorkflowRun(graph, self.beh, draws, w, self.envs[j].jitter_u, j, taken, log, self.provider)
        for delay in wr.steps():
            yield env.timeout(delay)
        self.events += wr.events
        pool.release(w)
        if self.log is not None:
            self.log.extend((j, e[2], e[3], e[4], e[5], e[6]) for e in log)
        r = wr.result
        (completed, finish, first_start, compute_c, useful_c, waste_c, cost, useful_cost, waste_cost, units,
         history, attempts, crashes, deploy_kills, limited, restarts, heartbeats, calls, useful_calls) = r
        self.records.append((
            j, arrival, first_start, finish, completed, wr.cut, taken - arrival, compute_c, useful_c, waste_c, cost,
            useful_cost, waste_cost, units, history, attempts, calls, useful_calls, crashes, deploy_kills, limited,
            wr.c["provider_429s"], wr.c["outage_errors"], restarts, heartbeats,
        ))

    def _workflow(self, j: int, arrival: float) -> Generator[simpy.Event, object, None]:
        """One workflow from arrival to completion or abandonment (docs/fleet.md): the chain
        machine (``sim.model.chain``) on the pool and the provider; its delays become timeouts."""
        env, pool = self.env, self.pool
        out: list[tuple] = []
        log: list | None = [] if self.log is not None else None
        run = chain_run(self.table, self.beh, self.envs[j], out, pool=pool, provider=self.provider, start_s=arrival,
                        schedule_to_close=True, log=log)
        send, timeout = run.send, env.timeout
        value: Worker | None = None
        events = 0
        try:
            while True:
                delay = send(value)
                events += 1
                if delay is NEED_WORKER:
                    value = yield pool.wait()
                else:
                    value = None
                    yield timeout(delay)
        except StopIteration:
            pass
        self.events += events
        if log is not None:
            self.log.extend((j, *e[:5]) for e in log)  # type: ignore[union-attr]
        (completed, finish, compute_c, useful_c, waste_c, cost, useful_cost, waste_cost, units, history, attempts,
         crashes, deploy_kills, limited, restarts, heartbeats, _run, first_start, cut, queue_wait, calls,
         provider_429s, outage_errors) = out[0]
        self.records.append((
            j, arrival, first_start, finish, completed, cut, queue_wait, compute_c, useful_c, waste_c, cost,
            useful_cost, waste_cost, units, history, attempts, calls, self.table.n_llm if completed else 0, crashes,
            deploy_kills, limited, provider_429s, outage_errors, restarts, heartbeats,
        ))


def run_replication(scenario: Scenario, behaviours: list[Behaviour], seed: int, run: int
                    ) -> tuple[dict[str, list[tuple]], dict[str, dict[str, float]]]:
    """Every strategy through fleet replication ``run`` (same arrivals, draws and clocks).

    Returns per strategy the workflow records (``WORKFLOW_FIELDS``) and run-level figures
    (SimPy events, provider admissions and refusals).
    """
    if scenario.fleet is None:
        raise ValueError("the scenario has no [fleet] table")
    table = StepTable(scenario)
    arrivals = arrival_times(scenario, seed, run)
    envs = workflow_envs(scenario, seed, run, len(arrivals))
    records: dict[str, list[tuple]] = {}
    extra: dict[str, dict[str, float]] = {}
    for beh in behaviours:
        fleet_run = FleetRun(scenario, table, beh, seed, run, arrivals, envs, scenario.fleet.workers)
        fleet_run.run()
        records[beh.label] = sorted(fleet_run.records)
        prov = fleet_run.provider
        extra[beh.label] = {
            "events": float(fleet_run.events),
            "provider_admitted": float(prov.admitted if prov is not None else 0),
            "provider_refused": float(prov.refused if prov is not None else 0),
        }
        if fleet_run.taskqueue is not None:
            drain = max((r[3] for r in fleet_run.records), default=0.0)
            extra[beh.label].update(fleet_run.taskqueue.queue_figures(drain))
    return records, extra
