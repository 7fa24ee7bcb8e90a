"""The discrete-event engine (with the fleet, the only code that imports SimPy): the reference simulator.

Each (replication, strategy) is a run generator driven by SimPy timeout events; a few
replications share one Environment. The run is one of the two state machines of
``sim.model``: the chain machine (``sim.model.chain``) for chains, the workflow model
(``sim.model.workflow``) for graphs; the fleet engine executes the same two. A run does not
poll: at each attempt it asks its ``Worker`` when the next crash or deployment falls and
schedules a single timeout to whichever comes first (the attempt's end, a crash, the end of a
drain window). The generator yields the delay to its next event and a timeout callback resumes
it: SimPy's kernel and event queue without the bookkeeping of ``simpy.Process`` (about 1 us per
event saved), which keeps the Python work per event small while the model stays event by event
(docs/model.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import simpy

from sim.model.chain import CHAIN_FIELDS, RUN_FIELDS, SPOT_FIELDS, ChainTable, chain_run
from sim.model.failures import ReplicationEnv, Worker, build_environments, worker_spec
from sim.model.rng import replication_keys
from sim.model.scenario import Scenario
from sim.model.strategies import Behaviour
from sim.model.workflow import GRAPH_SOURCES, Graph, GraphDraws, WorkflowRun

ENV_BATCH = 4  # replications run at a time on a chunk's SimPy Environment (measured best: small heaps)
ENV_GROUP = 128  # replications whose failure environments are built at once (fewer: rarer full GC collections)

__all__ = ["CHAIN_FIELDS", "RUN_FIELDS", "SPOT_FIELDS", "run_chunk", "run_workflow_chunk"]

_StepTable = ChainTable  # (the fast path re-runs its last runs through ``run_process``)


def _driver(env: simpy.Environment) -> Callable[[Iterator[float]], None]:
    """A function that starts run generators on ``env``: each yielded delay schedules the run's
    event, whose callback resumes the generator. One ``simpy.Event`` per run, holding the run as its
    value, is re-armed after it fires (the kernel sets a processed event's callbacks to None), and
    every event shares one callback list: no allocation per event, no object per run beyond its
    event, and no reference cycle per run (so the garbage collector seldom runs)."""
    schedule = env.schedule
    normal = simpy.events.NORMAL
    Event = simpy.Event  # noqa: N806

    def resume(event: simpy.Event) -> None:
        delay = next(event._value, None)  # None: the run is over (it only ever yields floats)
        if delay is not None:
            event.callbacks = callbacks
            schedule(event, normal, delay)

    callbacks = [resume]

    def start(run: Iterator[float]) -> None:
        event = Event(env)
        event._ok = True
        event._value = run
        resume(event)

    return start


def run_process(steps: ChainTable, beh: Behaviour, renv: ReplicationEnv, worker: Worker, out: list,
                log: list | None = None) -> Iterator[float]:
    """One strategy's chain run on its own worker (``sim.model.chain``): yields delays, appends
    its ``CHAIN_FIELDS`` row to ``out``."""
    return chain_run(steps, beh, renv, out, worker, log=log)  # type: ignore[return-value]


def _graph_process(wr: WorkflowRun, out: list, stats: dict[str, int] | None = None) -> Iterator[float]:
    """A workflow graph's run (``sim.model.workflow``), its result as a ``RUN_FIELDS`` row."""
    yield from wr.steps()
    if stats is not None:
        stats["events"] = stats.get("events", 0) + wr.events
    r = wr.result
    out.append((*r[:2], *r[3:17], wr.run))


def run_workflow_chunk(scenario: Scenario, behaviours: list[Behaviour], runs: np.ndarray, seed: int,
                       event_log: bool, stats: dict[str, int] | None = None) -> tuple[dict[str, list[tuple]], list | None]:
    """Every (replication, strategy) runs the workflow model (``sim.model.workflow``) on its worker:
    graph scenarios always; chains too when called directly (the tests check that it agrees run by
    run with the chain machine, ``sim.model.chain``). Rows as ``RUN_FIELDS`` + run."""
    graph = Graph(scenario)
    envs = build_environments(scenario, runs, seed)
    keys = {source: replication_keys(seed, source, runs).tolist() for source in GRAPH_SOURCES}
    spec = worker_spec(scenario)
    log: list | None = [] if event_log else None
    rows: dict[str, list[tuple]] = {beh.label: [] for beh in behaviours}
    for first in range(0, len(envs), ENV_BATCH):
        sim_env = simpy.Environment()
        start = _driver(sim_env)
        for n, renv in enumerate(envs[first:first + ENV_BATCH], start=first):
            draws = GraphDraws(graph, {source: keys[source][n] for source in GRAPH_SOURCES})
            for beh in behaviours:
                wr = WorkflowRun(graph, beh, draws, Worker(spec, renv), renv.jitter_u, renv.run, 0.0, log)
                start(_graph_process(wr, rows[beh.label], stats))
        sim_env.run()
    return rows, log


def run_chunk(scenario: Scenario, behaviours: list[Behaviour], runs: np.ndarray, seed: int,
              event_log: bool = False) -> tuple[dict[str, dict[str, list]], list | None]:
    """Simulate replications ``runs`` of every strategy; columns per strategy label."""
    if scenario.is_graph:
        rows, log = run_workflow_chunk(scenario, behaviours, runs, seed, event_log)
        return _columns(rows, (*RUN_FIELDS, "run")), log
    steps = ChainTable(scenario)
    rows: dict[str, list[tuple]] = {beh.label: [] for beh in behaviours}
    pairs = [(beh, rows[beh.label]) for beh in behaviours]
    for beh in behaviours:
        steps.prepare(beh)
    spot: dict[str, list[tuple]] | None = None
    if any(steps.spot_plans[beh.label] is not None for beh in behaviours):
        spot = {beh.label: [] for beh in behaviours}  # SPOT_FIELDS, one row per run (in the rows' order)
    spec = steps.worker
    attempts: list[tuple[int, str, list]] | None = [] if event_log else None
    runs = np.asarray(runs, dtype=np.int64)
    # One SimPy Environment runs a few replications at a time: their strategies run side by side
    # in simulated time; all of a chunk at once would make every event pay log(chunk). A batch
    # starts where the previous one ended on the Environment's clock: each run keeps its own clock
    # (``chain_run``'s ``now``) and gives SimPy only delays, so nothing depends on the offset, and
    # the chunk makes no Environment (a reference cycle for the garbage collector) per batch.
    sim_env = simpy.Environment()
    start = _driver(sim_env)
    # Failure environments a group at a time: their draws are pure functions of (seed, run), and a
    # group freed before the next is built never reaches the garbage collector's oldest generation.
    for group in range(0, len(runs), ENV_GROUP):
        envs = build_environments(scenario, runs[group:group + ENV_GROUP], seed)
        for first in range(0, len(envs), ENV_BATCH):
            for renv in envs[first:first + ENV_BATCH]:
                for beh, out in pairs:
                    spot_out = None if spot is None else spot[beh.label]
                    if attempts is None:
                        start(chain_run(steps, beh, renv, out, Worker(spec, renv), spot_out=spot_out))
                    else:
                        run_log: list = []
                        attempts.append((renv.run, beh.label, run_log))
                        start(chain_run(steps, beh, renv, out, Worker(spec, renv), log=run_log, spot_out=spot_out))
            sim_env.run()
    log = None if attempts is None else [(run, label, *e) for run, label, entries in attempts for e in entries]
    columns = _columns(rows, CHAIN_FIELDS)
    if spot is not None:
        for label, table in _columns(spot, SPOT_FIELDS).items():
            columns[label].update(table)
    return columns, log


def _columns(rows: dict[str, list[tuple]], fields: tuple[str, ...] = (*RUN_FIELDS, "run")) -> dict[str, dict[str, list]]:
    outputs = {}
    for label, table in rows.items():
        columns = list(zip(*table, strict=True)) if table else [()] * len(fields)
        outputs[label] = dict(zip(fields, columns, strict=True))
    return outputs
