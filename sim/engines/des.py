"""The discrete-event engine (the only module that imports SimPy): the reference simulator.

Each (replication, strategy) is a run generator driven by SimPy timeout events; a few
replications share one Environment. A run does not poll: at each attempt it asks its
``Worker`` when the next crash or deployment falls and schedules a single timeout to
whichever comes first (the attempt's end, a crash, the end of a drain window). The generator
yields the delay to its next event and a timeout callback resumes it: SimPy's kernel and event
queue without the bookkeeping of ``simpy.Process`` (about 1 us per event saved), which keeps
the Python work per event small while the model stays event by event (docs/model.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import simpy

from sim.model.failures import (
    COMPLETED,
    CRASHED,
    INF,
    KILLED_BY_DEPLOY,
    RATE_LIMITED,
    ReplicationEnv,
    Stream,
    Worker,
    build_environments,
    worker_spec,
)
from sim.model.rng import replication_keys
from sim.model.scenario import Scenario
from sim.model.strategies import (
    EVENTS_AT_START,
    EVENTS_PER_ACTIVITY,
    Behaviour,
    heartbeat_attempt,
    heartbeat_settle,
)
from sim.model.workflow import (
    GRAPH_SOURCES,
    Graph,
    GraphDraws,
    WorkflowRun,
    retry_policy,
    retry_wait_s,
)

ENV_BATCH = 4  # replications per SimPy Environment (measured best: fewer events per heap, little set-up)

RUN_FIELDS = (
    "completed", "makespan_s", "compute_s", "useful_compute_s", "wasted_compute_s",
    "compute_cost_usd", "useful_cost_usd", "wasted_cost_usd", "unit_attempts", "history_events",
    "attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts", "heartbeats",
)


class _StepTable:
    """Per-step constants the hot loop reads."""

    def __init__(self, scenario: Scenario):
        self.n = len(scenario.steps)
        self.is_gpu = [s.kind == "gpu" for s in scenario.steps]
        self.rate_per_s = [scenario.step_price_per_s(s) if s.kind == "gpu" else 0.0 for s in scenario.steps]
        self.call_cost = [scenario.step_attempt_cost_usd(s) if s.kind == "llm" else 0.0 for s in scenario.steps]
        self.retry = [s.retry for s in scenario.steps]
        rl = scenario.failures.rate_limit
        self.p429 = rl.probability if rl is not None else 0.0
        self.response_s = rl.response_time_s if rl is not None else 0.0
        crash = scenario.failures.crash
        self.detect_s = crash.detection_delay_s if crash is not None else 0.0
        self.max_time_s = scenario.simulation.max_time_s
        self.worker = worker_spec(scenario)
        self.checkpoints: dict[str, list[bool]] = {}
        self.heartbeat_steps: dict[str, list[bool]] = {}

    def prepare(self, beh: Behaviour) -> None:
        self.checkpoints[beh.label] = [beh.is_checkpoint(i, self.n) for i in range(self.n)]
        hb = beh.heartbeat_intervals_s
        self.heartbeat_steps[beh.label] = [bool(hb) and hb[i] > 0.0 and gpu for i, gpu in enumerate(self.is_gpu)]


def _draw(value: Stream | float, k: int) -> float:
    return value.get(k) if type(value) is Stream else value


def _start(env: simpy.Environment, run: Iterator[float]) -> None:
    """Drive a run generator: each yielded delay schedules the run's event, whose callback
    resumes the generator. One ``simpy.Event`` per run is re-armed after it fires (a processed
    event's callbacks are set to None by the kernel), which spares an allocation per event."""
    schedule = env.schedule
    event = simpy.Event(env)
    event._ok = True
    event._value = None
    callbacks: list = []

    def resume(_event: object) -> None:
        delay = next(run, None)  # None: the run is over (it only ever yields floats)
        if delay is not None:
            event.callbacks = callbacks
            schedule(event, simpy.events.NORMAL, delay)

    callbacks.append(resume)
    resume(None)


def run_process(steps: _StepTable, beh: Behaviour, renv: ReplicationEnv,
                worker: Worker, out: list, log: list | None) -> Iterator[float]:
    """One strategy's run through one failure environment; yields the delay to its next event."""
    n = steps.n
    is_gpu, rate_per_s, call_cost, p429 = steps.is_gpu, steps.rate_per_s, steps.call_cost, steps.p429
    rate_u, durations = renv.rate_u, renv.durations
    checkpoint_after = steps.checkpoints[beh.label]
    acquire, resolve = worker.acquire, worker.resolve
    now = 0.0
    lat = beh.persist_latency_s
    max_t = steps.max_time_s
    t = EVENTS_AT_START * lat if beh.records_history else 0.0
    history = EVENTS_AT_START if beh.records_history else 0
    pos = ckpt = 0
    calls = [0] * n
    fails = retries = 0
    prev_sleep = 0.0
    pend_c = pend_cost = useful_c = useful_cost = waste_c = waste_cost = 0.0
    pend_log: list[int] = []
    unit_open = False
    unit_attempts = attempts = crashes = deploy_kills = limited = restarts = 0
    step_level = beh.checkpoint_every == 1
    hb, hb_cost = beh.heartbeat_intervals_s, beh.heartbeat_costs_s  # per step
    hb_step = steps.heartbeat_steps[beh.label]
    step_work = -1.0  # heartbeat: work of the current step, drawn at its first attempt
    saved = kept_c = kept_cost = 0.0  # heartbeat: progress saved in the current step, its compute and cost
    heartbeats = saves = 0
    completed = False
    finish = 0.0
    while True:
        if t >= worker.ready and worker.next_crash > t and worker.next_deploy > t:
            s, lost_at, lost_cause = t, INF, COMPLETED  # the common case, inlined: worker ready, nothing due
        else:
            s, lost_at, lost_cause = acquire(t)
        outcome = -1
        shutdown_after = False
        if lost_at < s and pos > ckpt:
            # the worker shut down while the pipeline waited in memory: its progress is gone
            end, outcome, k, i = lost_at, lost_cause, -1, pos
        elif s >= max_t:
            finish = max_t
            break
        else:
            i = pos
            k = calls[i]
            calls[i] = k + 1
            if not unit_open:
                unit_open = True
                unit_attempts += 1
            attempts += 1
            rl = rate_u[i]
            limited_call = rl is not None and rl.get(k) < p429
            hb_attempt = False
            if limited_call:
                would_end = s + steps.response_s
                end, outcome, shutdown_after = resolve(s, would_end)
                if outcome == COMPLETED:
                    outcome = RATE_LIMITED
                dur = would_end - s
            else:
                dur = durations[i]
                if type(dur) is Stream:
                    dur = dur.get(k)
                if hb_step[i]:
                    hb_attempt = True
                    length, saves, step_work = heartbeat_attempt(dur, step_work, saved, hb[i], hb_cost[i])
                    end, outcome, shutdown_after = resolve(s, s + length)
                else:
                    end = s + dur
                    if worker.next_crash >= end and worker.next_deploy >= end:
                        outcome, shutdown_after = COMPLETED, False  # no failure before the end, inlined
                    else:
                        end, outcome, shutdown_after = resolve(s, end)
            if end > max_t:
                end = max_t
                outcome = -2  # cut by the horizon
            if end > now:
                yield end - now
                now = end
            elapsed = end - s
            if is_gpu[i]:
                cost = elapsed * rate_per_s[i]
            elif outcome == COMPLETED:
                cost = call_cost[i]
            elif limited_call or dur <= 0:  # a call answered 429 costs nothing
                cost = 0.0
            else:
                cost = call_cost[i] * elapsed / dur
            if log is not None:
                log.append((renv.run, beh.label, i, k, s, end, outcome, False))
            if outcome == -2:
                waste_c += elapsed + kept_c
                waste_cost += cost + kept_cost
                kept_c = kept_cost = 0.0
                finish = max_t
                break
            if hb_attempt:  # a heartbeat attempt: saved segments survive a failure
                sent, elapsed, cost, saved, kept_c, kept_cost = heartbeat_settle(
                    outcome == COMPLETED, elapsed, cost, saves, saved, kept_c, kept_cost, hb[i], hb_cost[i], rate_per_s[i])
                heartbeats += sent
                if outcome == COMPLETED:
                    step_work = -1.0
            if outcome == COMPLETED:
                pend_c += elapsed
                pend_cost += cost
                if log is not None:
                    pend_log.append(len(log) - 1)
                pos = i + 1
                if checkpoint_after[i]:
                    useful_c += pend_c
                    useful_cost += pend_cost
                    pend_c = pend_cost = 0.0
                    if log is not None:
                        for j in pend_log:
                            log[j] = log[j][:7] + (True,)
                        pend_log.clear()
                    ckpt = pos
                    fails = 0
                    prev_sleep = 0.0
                    unit_open = False
                    if beh.records_history:
                        history += EVENTS_PER_ACTIVITY
                        t = end + EVENTS_PER_ACTIVITY * lat
                    else:
                        t = end
                    if pos == n:
                        completed = True
                        finish = t
                        break
                    continue
                if not shutdown_after:
                    t = end
                    continue
                # a drained deployment ended the process after this step: in-memory progress is lost
                outcome = KILLED_BY_DEPLOY
            else:
                waste_c += elapsed
                waste_cost += cost
        # ---- a failure: count it, roll back, wait before the retry
        if outcome == CRASHED:
            crashes += 1
            notice = end + steps.detect_s
        elif outcome == KILLED_BY_DEPLOY:
            deploy_kills += 1
            notice = end
        else:
            limited += 1
            notice = end
        # an in-process retry survives a 429, unless the worker shut down right after it
        in_place = outcome == RATE_LIMITED and beh.retry_429_in_place and not shutdown_after
        policy = retry_policy(beh, steps.retry[i], in_place)
        if not in_place:
            waste_c += pend_c
            waste_cost += pend_cost
            pend_c = pend_cost = 0.0
            pend_log.clear()
            if ckpt == 0 and not step_level:
                restarts += 1
            pos = ckpt
            unit_open = False
        fails += 1
        wait = retry_wait_s(policy, fails, renv.jitter_u, retries, prev_sleep)
        if wait is None:
            finish = notice
            break
        retries += 1
        prev_sleep = wait
        if outcome == RATE_LIMITED and k >= 0:
            ra = _draw(renv.retry_after[i], k)
            if ra > wait:
                wait = ra
        t = notice + wait
    if not completed:
        waste_c += pend_c + useful_c + kept_c
        waste_cost += pend_cost + useful_cost + kept_cost
        useful_c = useful_cost = 0.0
        if log is not None:
            for j in range(len(log)):
                if log[j][0] == renv.run and log[j][1] == beh.label and log[j][7]:
                    log[j] = log[j][:7] + (False,)
    if beh.records_history and not completed:
        history += EVENTS_PER_ACTIVITY
    # The run ends at ``finish``. The last stretch (recording the final history events) touches
    # nothing else, so it is added to the makespan without a SimPy event of its own.
    out.append((completed, finish, useful_c + waste_c, useful_c, waste_c, useful_cost + waste_cost,
                useful_cost, waste_cost, unit_attempts, history, attempts, crashes, deploy_kills,
                limited, restarts, heartbeats, renv.run))


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
    run with ``run_process``, the chain engine's specialised loop). Rows as ``RUN_FIELDS`` + run."""
    graph = Graph(scenario)
    envs = build_environments(scenario, runs, seed)
    keys = {source: replication_keys(seed, source, runs).tolist() for source in GRAPH_SOURCES}
    spec = worker_spec(scenario)
    log: list | None = [] if event_log else None
    rows: dict[str, list[tuple]] = {beh.label: [] for beh in behaviours}
    for first in range(0, len(envs), ENV_BATCH):
        sim_env = simpy.Environment()
        for n, renv in enumerate(envs[first:first + ENV_BATCH], start=first):
            draws = GraphDraws(graph, {source: keys[source][n] for source in GRAPH_SOURCES})
            for beh in behaviours:
                wr = WorkflowRun(graph, beh, draws, Worker(spec, renv), renv.jitter_u, renv.run, 0.0, log)
                _start(sim_env, _graph_process(wr, rows[beh.label], stats))
        sim_env.run()
    return rows, log


def run_chunk(scenario: Scenario, behaviours: list[Behaviour], runs: np.ndarray, seed: int,
              event_log: bool = False) -> tuple[dict[str, dict[str, list]], list | None]:
    """Simulate replications ``runs`` of every strategy; columns per strategy label."""
    if scenario.is_graph:
        rows, log = run_workflow_chunk(scenario, behaviours, runs, seed, event_log)
        return _columns(rows), log
    steps = _StepTable(scenario)
    envs = build_environments(scenario, runs, seed)
    log: list | None = [] if event_log else None
    rows: dict[str, list[tuple]] = {beh.label: [] for beh in behaviours}
    pairs = [(beh, rows[beh.label]) for beh in behaviours]
    for beh in behaviours:
        steps.prepare(beh)
    spec = steps.worker
    # A few replications per Environment: their strategies run side by side in simulated
    # time; one Environment for a whole chunk would make every event pay log(chunk).
    for first in range(0, len(envs), ENV_BATCH):
        sim_env = simpy.Environment()
        for renv in envs[first:first + ENV_BATCH]:
            for beh, out in pairs:
                _start(sim_env, run_process(steps, beh, renv, Worker(spec, renv), out, log))
        sim_env.run()
    return _columns(rows), log


def _columns(rows: dict[str, list[tuple]]) -> dict[str, dict[str, list]]:
    outputs = {}
    for label, table in rows.items():
        columns = list(zip(*table, strict=True)) if table else [()] * (len(RUN_FIELDS) + 1)
        outputs[label] = dict(zip((*RUN_FIELDS, "run"), columns, strict=True))
    return outputs

