"""The fleet engine: many workflows, a shared pool of workers, a shared provider (SimPy).

Each workflow is a ``simpy.Process``; an arrival process starts them (Poisson) or they all
start at time 0 (batch). A step attempt needs a worker from the ``WorkerPool`` (a SimPy
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

from sim.model.failures import (
    COMPLETED,
    CRASHED,
    KILLED_BY_DEPLOY,
    RATE_LIMITED,
    ReplicationEnv,
    Stream,
    Worker,
    worker_spec,
)
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

INF = math.inf
OUTAGE = 4
CUT = -2
ATTEMPT_OUTCOMES = {0: "completed", 1: "crashed", 2: "killed_by_deploy", 3: "rate_limited", OUTAGE: "outage",
                    5: "cancelled", CUT: "cut_by_horizon"}

WORKFLOW_FIELDS = (
    "workflow", "arrival_s", "first_start_s", "finish_s", "completed", "cut_by_horizon",
    "queue_wait_s", "compute_s", "useful_compute_s", "wasted_compute_s", "compute_cost_usd",
    "useful_cost_usd", "wasted_cost_usd", "unit_attempts", "history_events", "attempts", "calls",
    "useful_calls", "crashes", "deploy_kills", "rate_limited", "provider_429s", "outage_errors",
    "pipeline_restarts", "heartbeats",
)


class StepTable:
    """Per-step constants of a scenario that the workflow loop reads."""

    def __init__(self, scenario: Scenario):
        steps = scenario.steps
        self.n = len(steps)
        self.is_gpu = [s.kind == "gpu" for s in steps]
        self.rate_per_s = [scenario.step_price_per_s(s) if s.kind == "gpu" else 0.0 for s in steps]
        self.call_cost = [scenario.step_attempt_cost_usd(s) if s.kind == "llm" else 0.0 for s in steps]
        self.tokens = [float(s.input_tokens + s.output_tokens) for s in steps]
        self.retry = [s.retry for s in steps]
        self.uses_provider = provider_steps(scenario)
        rl = scenario.failures.rate_limit
        self.p429 = rl.probability if rl is not None else 0.0
        self.response_s = rl.response_time_s if rl is not None else 0.0
        crash = scenario.failures.crash
        self.detect_s = crash.detection_delay_s if crash is not None else 0.0
        self.max_time_s = scenario.simulation.max_time_s
        self.n_llm = sum(1 for s in steps if s.kind == "llm")


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
        self.env = simpy.Environment()
        self.table = table
        self.beh = beh
        self.run_index = run
        self.arrivals = arrivals
        self.envs = envs
        self.pool = WorkerPool(self.env, build_workers(scenario, seed, run, workers))
        self.provider: Provider | None = build_provider(scenario, seed, run)
        self.n_checkpoint = [beh.is_checkpoint(i, table.n) for i in range(table.n)]
        self.records: list[tuple] = []
        self.events = 0
        self.log: list[tuple] | None = [] if event_log else None
        self.graph: Graph | None = None
        if scenario.is_graph:
            self.graph = Graph(scenario)
            self.graph_keys = {source: member_keys(seed, source, run, len(arrivals)).tolist()
                               for source in GRAPH_SOURCES}

    def run(self) -> None:
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
        draws = GraphDraws(graph, {source: self.graph_keys[source][j] for source in GRAPH_SOURCES})
        log: list | None = [] if self.log is not None else None
        wr = WorkflowRun(graph, self.beh, draws, w, self.envs[j].jitter_u, j, taken, log)
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
            0, 0, restarts, heartbeats,
        ))

    def _workflow(self, j: int, arrival: float) -> Generator[simpy.Event, object, None]:
        """One workflow from arrival to completion or abandonment (docs/fleet.md)."""
        env, tb, beh, pool = self.env, self.table, self.beh, self.pool
        renv = self.envs[j]
        prov = self.provider
        outages = prov.outages if prov is not None else None
        honor = prov is not None and prov.config.honor_retry_after
        n = tb.n
        is_gpu, rate_per_s, call_cost, p429 = tb.is_gpu, tb.rate_per_s, tb.call_cost, tb.p429
        uses_provider, tokens = tb.uses_provider, tb.tokens
        rate_u, durations = renv.rate_u, renv.durations
        checkpoint_after = self.n_checkpoint
        lat = beh.persist_latency_s
        max_t = tb.max_time_s
        t = arrival + (EVENTS_AT_START * lat if beh.records_history else 0.0)
        history = EVENTS_AT_START if beh.records_history else 0
        pos = ckpt = 0
        calls = [0] * n
        fails = retries = 0
        prev_sleep = 0.0
        unit_start = t
        pend_c = pend_cost = useful_c = useful_cost = waste_c = waste_cost = 0.0
        unit_open = False
        unit_attempts = attempts = n_calls = crashes = deploy_kills = limited = restarts = 0
        provider_429s = outage_errors = 0
        step_level = beh.checkpoint_every == 1
        # heartbeat: a GPU step saves its progress after every ``hb`` of work (each save takes
        # ``hb_cost`` of worker time); a retried step resumes from its last save, on any worker
        hb, hb_cost = beh.heartbeat_intervals_s, beh.heartbeat_costs_s  # per step
        step_work = -1.0  # work of the current heartbeat step, drawn at its first attempt
        saved = kept_c = kept_cost = 0.0  # progress saved in the current step, its compute and cost
        heartbeats = saves = 0
        completed = cut = False
        finish = 0.0
        first_start = math.nan
        queue_wait = 0.0
        w: Worker | None = None
        while True:
            if w is None:
                if t >= max_t:
                    finish, cut = max_t, True
                    break
                if t > env.now:
                    self.events += 1
                    yield env.timeout(t - env.now)
                w = pool.take(env.now)
                if w is None:
                    self.events += 1
                    w = yield pool.wait()
                s = w.acquire(env.now)[0]
                lost_at, lost_cause = INF, COMPLETED
            else:
                s, lost_at, lost_cause = w.acquire(t)
            outcome = -1
            shut = False
            ra_provider = 0.0
            saves = -1  # >= 0 only for an attempt that runs a heartbeat step's work
            if lost_at < s and pos > ckpt:
                # the worker shut down while the pipeline waited in its memory: progress is gone
                end, outcome, k, i = lost_at, lost_cause, -1, pos
            elif s >= max_t:
                finish, cut = max_t, True
                break
            else:
                queue_wait += s - t
                if first_start != first_start:
                    first_start = s
                i = pos
                k = calls[i]
                calls[i] = k + 1
                if not unit_open:
                    unit_open = True
                    unit_attempts += 1
                attempts += 1
                if not is_gpu[i]:
                    n_calls += 1
                rl = rate_u[i]
                resolve = w.resolve
                if rl is not None and rl.get(k) < p429:
                    dur = tb.response_s
                    end, outcome, shut = resolve(s, s + dur)
                    if outcome == COMPLETED:
                        outcome = RATE_LIMITED
                elif uses_provider[i]:
                    if s > env.now:  # the provider's state must be read at the call's instant
                        self.events += 1
                        yield env.timeout(s - env.now)
                    if outages is not None and outages.down_until(s) > s:
                        dur = prov.response_s
                        end, outcome, shut = resolve(s, s + dur)
                        if outcome == COMPLETED:
                            outcome = OUTAGE
                    elif (ra_provider := prov.admit(s, tokens[i])) > 0.0:
                        dur = prov.response_s
                        end, outcome, shut = resolve(s, s + dur)
                        if outcome == COMPLETED:
                            outcome = RATE_LIMITED
                            provider_429s += 1
                    else:
                        dur = durations[i]
                        if type(dur) is Stream:
                            dur = dur.get(k)
                        if hb and hb[i] > 0.0 and is_gpu[i]:
                            dur, saves, step_work = heartbeat_attempt(dur, step_work, saved, hb[i], hb_cost[i])
                        call_end = s + dur
                        hit = False
                        if outages is not None:
                            o = outages.next_start(s)
                            if o < call_end:
                                call_end, hit = o, True
                        end, outcome, shut = resolve(s, call_end)
                        if hit and outcome == COMPLETED:
                            outcome = OUTAGE
                else:
                    dur = durations[i]
                    if type(dur) is Stream:
                        dur = dur.get(k)
                    if hb and hb[i] > 0.0 and is_gpu[i]:
                        dur, saves, step_work = heartbeat_attempt(dur, step_work, saved, hb[i], hb_cost[i])
                    end, outcome, shut = resolve(s, s + dur)
                if end > max_t:
                    end = max_t
                    outcome = CUT
                if end > env.now:
                    self.events += 1
                    yield env.timeout(end - env.now)
                if self.log is not None:
                    self.log.append((j, i, k, s, end, outcome))
                elapsed = end - s
                if is_gpu[i]:
                    cost = elapsed * rate_per_s[i]
                elif outcome == COMPLETED:
                    cost = call_cost[i]
                elif outcome == RATE_LIMITED or outcome == OUTAGE or dur <= 0:
                    cost = 0.0
                else:
                    cost = call_cost[i] * elapsed / dur
                if outcome == CUT:
                    waste_c += elapsed + kept_c
                    waste_cost += cost + kept_cost
                    kept_c = kept_cost = 0.0
                    finish, cut = max_t, True
                    break
                if saves >= 0:  # a heartbeat attempt: its completed saves survive a failure
                    sent, elapsed, cost, saved, kept_c, kept_cost = heartbeat_settle(
                        outcome == COMPLETED, elapsed, cost, saves, saved, kept_c, kept_cost, hb[i], hb_cost[i], rate_per_s[i])
                    heartbeats += sent
                    if outcome == COMPLETED:
                        step_work = -1.0
                if outcome == COMPLETED:
                    pend_c += elapsed
                    pend_cost += cost
                    pos = i + 1
                    if checkpoint_after[i]:
                        useful_c += pend_c
                        useful_cost += pend_cost
                        pend_c = pend_cost = 0.0
                        ckpt = pos
                        fails = 0
                        prev_sleep = 0.0
                        unit_open = False
                        pool.release(w)
                        w = None
                        if beh.records_history:
                            history += EVENTS_PER_ACTIVITY
                            t = end + EVENTS_PER_ACTIVITY * lat
                        else:
                            t = end
                        unit_start = t
                        if pos == n:
                            completed = True
                            finish = t
                            break
                        continue
                    if not shut:
                        t = end
                        continue
                    # a drained deployment ended the process after this step: in-memory progress is lost
                    outcome = KILLED_BY_DEPLOY
                else:
                    waste_c += elapsed
                    waste_cost += cost
            # ---- a failure: count it, roll back, release the worker if it holds nothing, wait
            if outcome == CRASHED:
                crashes += 1
                notice = end + tb.detect_s
            elif outcome == KILLED_BY_DEPLOY:
                deploy_kills += 1
                notice = end
            elif outcome == OUTAGE:
                outage_errors += 1
                notice = end
            else:
                limited += 1
                notice = end
            transient = outcome == RATE_LIMITED or outcome == OUTAGE
            in_place = transient and beh.retry_429_in_place and not shut
            policy = retry_policy(beh, tb.retry[i], in_place)
            if not in_place:
                waste_c += pend_c
                waste_cost += pend_cost
                pend_c = pend_cost = 0.0
                if ckpt == 0 and not step_level:
                    restarts += 1
                pos = ckpt
                unit_open = False
            if pos == ckpt:
                pool.release(w)
                w = None
            fails += 1
            wait = retry_wait_s(policy, fails, renv.jitter_u, retries, prev_sleep)
            if wait is None:
                finish = notice
                break
            retries += 1
            prev_sleep = wait
            if outcome == RATE_LIMITED and k >= 0:
                ra = (ra_provider if honor else 0.0) if ra_provider > 0.0 else _draw(renv.retry_after[i], k)
                if ra > wait:
                    wait = ra
            t = notice + wait
            stc = policy.schedule_to_close_s
            if stc is not None and t - unit_start > stc:
                finish = notice
                break
        if w is not None:
            pool.release(w)
        if not completed:
            waste_c += pend_c + useful_c + kept_c
            waste_cost += pend_cost + useful_cost + kept_cost
            useful_c = useful_cost = 0.0
        if beh.records_history and not completed:
            history += EVENTS_PER_ACTIVITY
        if finish > env.now:
            self.events += 1
            yield env.timeout(finish - env.now)
        self.records.append((
            j, arrival, first_start, finish, completed, cut, queue_wait, useful_c + waste_c, useful_c,
            waste_c, useful_cost + waste_cost, useful_cost, waste_cost, unit_attempts, history, attempts,
            n_calls, tb.n_llm if completed else 0, crashes, deploy_kills, limited, provider_429s,
            outage_errors, restarts, heartbeats,
        ))


def _draw(value: Stream | float, k: int) -> float:
    return value.get(k) if type(value) is Stream else value


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
    return records, extra
