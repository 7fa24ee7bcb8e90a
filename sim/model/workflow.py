"""The workflow model: one readable state machine of a workflow graph, executed by the engines.

docs/model.md ("Workflow graphs") is the prose version of this module. In short:

**Units.** A step with ``count = N`` runs N *instances*; instance j of step i is the unit
(i, j). A wait step (``kind = "wait"``) is one unit that occupies no worker slot and costs no
compute. A unit is *runnable* once every instance of every predecessor step has succeeded (and,
for a predecessor in another activity, been recorded); it starts when the worker is up and not draining, its
step has fewer than ``max_concurrency`` instances in flight and the worker has a free
``activity_slots`` slot. Runnable units start in (step, instance) order.

**Attempt outcomes.** An activity attempt ends by completing, by an HTTP 429 (a call answered
``rate_limited`` after ``response_time``), by a worker crash, by a deployment (the worker stops
taking attempts at the deployment instant, lets those in flight finish for ``drain`` and then
exits, killing what is left), or by the horizon ``max_time``. A crash or a deployment exit ends
*every* attempt in flight on the worker.

**Activities.** A strategy runs the graph as *activities*, each a connected set of steps run
in-process (``activities``): ``restart`` and ``retry_in_place`` one activity of every step, not
recorded; ``durable`` and ``heartbeat`` every step its own activity; ``checkpoint`` with
``groups`` the groups given. An activity starts once every step outside it that one of its
steps runs after has been recorded; inside it a step runs once its predecessors in the activity
have completed (in memory). A single-step activity of a recording strategy records each unit
(every fan-out instance is its own activity); a multi-step one records all its units together
when the whole activity (every instance of every step) has completed.

**What a failure rolls back.**
* A multi-step activity (and the one activity of ``restart``): a failure of any of its units
  (a 429 not retried in place, a crash or deployment exit killing one of its attempts, or a
  crash while it holds completed units or a wait in memory) cancels its units in flight, wastes
  its completed units and, after its own back-off (its failure counter, the failing step's
  policy, or the strategy's policy under ``restart``; ≥ Retry-After), re-runs it from its entry
  steps. Other activities keep what they recorded. ``restart`` is the case of one activity: the
  workflow restarts from its start.
* ``retry_in_place``: a 429 is retried inside the process, for that instance only (its own
  retry counter and the step's retry policy, honouring Retry-After).
* A single-step activity of a recording strategy (``durable``, ``heartbeat``, singleton
  ``checkpoint`` groups): a failure retries only the instances it ended — the 429'd one, or
  every instance in flight on the crashed worker — each with its own counter and the step's
  retry policy. A wait is a durable timer or signal (always an activity of its own): it
  survives the worker.

**Recorded, billed, counted.** Durable strategies record ``EVENTS_AT_START`` history events,
``EVENTS_PER_ACTIVITY`` per completed activity (each instance of a single-step one), ``EVENTS_PER_TIMER`` per timer and
``EVENTS_PER_SIGNAL`` per signal or approval, each delaying what follows by its events ×
``persist_latency``; a workflow that does not complete records ``EVENTS_PER_ACTIVITY`` more (its
failure). ``unit_attempts`` is what the orchestrator schedules: for recording strategies every
activity attempt (a multi-step activity's attempt once) plus every timer and signal (each a
billable action, ``sim.model.costs``); for restart strategies every workflow attempt (a pipeline
run). ``pipeline_restarts`` counts the failures after which an activity that starts the workflow
(no predecessor outside it) re-runs, under strategies with multi-step activities (as the chain
engines count the roll-backs of the first group). Compute is the wall time of
activity attempts; it is useful if the attempt's result is part of the completed workflow.

**Fleets.** The fleet engine runs this model for many workflows at once. Under a recording
strategy whose activities are single steps it places each activity attempt on a worker of the
pool through one task queue (``sim.engines.fleet.taskqueue``) and tells the workflow, through
``_lose``, which of its attempts a worker's crash or exit ended; the rules above are unchanged.

**Common random numbers.** The k-th attempt of instance j of step i reads index k of the
streams on lane ``i + j·2^16`` (duration, 429 uniform, Retry-After) — lane i for instance 0, so a
chain-shaped graph draws what the chain engines draw; a step's count is drawn once per
replication (lane i of the count source); the worker's crash and deployment clocks and the
jitter stream are the replication's. All of these are shared by every strategy.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator

import numpy as np

from sim.model.failures import (
    CANCELLED,
    COMPLETED,
    CRASHED,
    INF,
    KILLED_BY_DEPLOY,
    OUTAGE,
    PREFILL,
    RATE_LIMITED,
    Stream,
    Worker,
)
from sim.model.rng import Source, replication_keys, uniforms
from sim.model.scenario import RetryPolicy, Scenario
from sim.model.strategies import (
    EVENTS_AT_START,
    EVENTS_PER_ACTIVITY,
    Behaviour,
    backoff_s,
    heartbeat_attempt,
    heartbeat_settle,
)

EVENTS_PER_TIMER = 5  # TimerStarted, TimerFired, WorkflowTask scheduled/started/completed
EVENTS_PER_SIGNAL = 4  # WorkflowExecutionSignaled, WorkflowTask scheduled/started/completed
CUT = -2  # an attempt cut by the horizon
INSTANCE_LANE = 1 << 16  # lane of instance j of step i: i + j·2^16
GRAPH_SOURCES = (Source.DURATION, Source.RATE_LIMIT, Source.RETRY_AFTER, Source.COUNT)

RESULT_FIELDS = (
    "completed", "finish_s", "first_start_s", "compute_s", "useful_compute_s", "wasted_compute_s",
    "compute_cost_usd", "useful_cost_usd", "wasted_cost_usd", "unit_attempts", "history_events",
    "attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts", "heartbeats", "calls",
    "useful_calls",
)


class Graph:
    """A scenario's steps as a workflow graph: predecessors, fan-out, per-step constants."""

    def __init__(self, scenario: Scenario):
        steps = scenario.steps
        self.n = n = len(steps)
        self.names = [s.name for s in steps]
        self.preds = scenario.predecessors()
        self.succs: list[list[int]] = [[] for _ in range(n)]
        for i, ps in enumerate(self.preds):
            for p in ps:
                self.succs[p].append(i)
        self.roots = [i for i in range(n) if not self.preds[i]]
        self.sinks = [i for i in range(n) if not self.succs[i]]
        self.is_wait = [s.kind == "wait" for s in steps]
        self.wait_events = [(EVENTS_PER_TIMER if s.wait == "timer" else EVENTS_PER_SIGNAL) if s.kind == "wait" else 0
                            for s in steps]
        self.is_gpu = [s.kind == "gpu" for s in steps]
        self.is_llm = [s.kind == "llm" for s in steps]
        self.rate_per_s = [scenario.step_price_per_s(s) if s.kind == "gpu" else 0.0 for s in steps]
        self.call_cost = [scenario.step_attempt_cost_usd(s) if s.kind == "llm" else 0.0 for s in steps]
        self.retry = [s.retry for s in steps]
        self.limited = [lim and s.kind != "wait" for lim, s in zip(scenario.rate_limited_steps(), steps, strict=True)]
        rl = scenario.failures.rate_limit
        self.p429 = rl.probability if rl is not None else 0.0
        self.response_s = rl.response_time_s if rl is not None else 0.0
        self.retry_after = rl.retry_after if rl is not None else None
        crash = scenario.failures.crash
        self.detect_s = crash.detection_delay_s if crash is not None else 0.0
        self.max_time_s = scenario.simulation.max_time_s
        self.sticky_s = scenario.temporal.sticky_schedule_to_start_timeout_s
        self.task_timeout_s = scenario.temporal.workflow_task_timeout_s
        self.counts = [s.count for s in steps]
        self.uses_provider = [False] * n  # the fleet marks the steps that call its shared provider
        self.tokens = [float(s.input_tokens + s.output_tokens) for s in steps]
        self.max_concurrency = [s.max_concurrency or 0 for s in steps]
        self.slots = scenario.worker.activity_slots or 0
        self.durations = [s.duration for s in steps]
        self._activities: dict[tuple, _Activities] = {}

    def activities_of(self, beh: Behaviour) -> _Activities:
        """The strategy's activities on this graph (computed once per strategy)."""
        key = (beh.records_history, beh.checkpoint_every, beh.group_sizes, beh.group_steps)
        acts = self._activities.get(key)
        if acts is None:
            acts = self._activities[key] = _Activities(self, beh)
        return acts

    def critical_path_s(self, durations: list[float], overhead_s: Callable[[int], float] | None = None) -> float:
        """Longest path through the graph with step i taking ``durations[i]`` (+ ``overhead_s(i)``)."""
        finish = [0.0] * self.n
        for i in self.topological_order():
            start = max((finish[p] for p in self.preds[i]), default=0.0)
            finish[i] = start + durations[i] + (overhead_s(i) if overhead_s else 0.0)
        return max(finish[i] for i in self.sinks)

    def topological_order(self) -> list[int]:
        indeg = [len(p) for p in self.preds]
        ready = [i for i in range(self.n) if indeg[i] == 0]
        out = []
        while ready:
            i = ready.pop(0)
            out.append(i)
            for s in self.succs[i]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    ready.append(s)
        return out


# ---- failure rules shared by every engine loop (this model's, and the chain loops of des.py and fleet/)


def retry_policy(beh: Behaviour, step_policy: RetryPolicy, in_place: bool) -> RetryPolicy:
    """The retry policy a failure follows: the step's when only that step (or instance) is retried
    (an in-place 429 retry, or a strategy that records every activity), else the strategy's
    pipeline policy (restart, retry_in_place), falling back to the step's."""
    if in_place or beh.checkpoint_every == 1:
        return step_policy
    return beh.pipeline_retry or step_policy


def retry_wait_s(policy: RetryPolicy, fails: int, jitter: Stream | None, retries: int, prev_sleep_s: float
                 ) -> float | None:
    """The back-off before retry number ``fails`` (1-based) of a unit, or None when ``policy``
    gives up (``maximum_attempts`` reached). The jitter uniform is draw ``retries`` of the
    replication's jitter stream; the caller counts one more retry when a wait is returned."""
    if policy.maximum_attempts and fails >= policy.maximum_attempts:
        return None
    u = jitter.get(retries) if jitter is not None else 0.0
    return backoff_s(policy, fails, u, prev_sleep_s)


STICKY_TIMEOUT_EVENTS = 2  # WorkflowTaskTimedOut (schedule-to-start), WorkflowTaskScheduled on the normal queue
TASK_TIMEOUT_EVENTS = 3  # WorkflowTaskTimedOut (start-to-close), WorkflowTaskScheduled, WorkflowTaskStarted


def recorded_at_s(end_s: float, cache_lost: bool, next_crash_s: float, sticky_s: float, task_timeout_s: float,
                  events_lat_s: float, slot_free_s: float = -INF) -> tuple[float, int, float]:
    """When the workflow task that records a completion at ``end_s`` ends, the history events it
    adds beyond the completion's own, and when it started on the worker that then caches the
    workflow (docs/model.md, "After a crash: Temporal's workflow tasks").

    * ``cache_lost``: the worker that cached the workflow crashed after the workflow's last
      workflow task started, so the task waits on that worker's sticky queue until the sticky
      schedule-to-start timeout (``sticky_s``) moves it to the normal queue.
    * A crash while the worker holds the task (``next_crash_s`` within the task's ``events_lat_s``)
      leaves it to time out (``task_timeout_s``) and run again on the restarted worker.

    * ``slot_free_s``: the task starts no earlier than a free workflow-task slot on the worker
      that runs it (fleet task-queue dispatch, ``max_concurrent_workflow_tasks``).

    A zero timeout turns its rule off (no sticky queue; no task timeout modelled).
    """
    start = end_s
    extra = 0
    if cache_lost and sticky_s > 0.0:  # (a zero timeout: no sticky queue, the task goes to the normal queue)
        start = end_s + sticky_s
        extra = STICKY_TIMEOUT_EVENTS
    if slot_free_s > start:
        start = slot_free_s
    t = start + events_lat_s
    if task_timeout_s > 0.0 and start < next_crash_s <= t:
        start = start + task_timeout_s
        t = start + events_lat_s
        extra += TASK_TIMEOUT_EVENTS
    return t, extra, start


def nominal_span_s(scenario: Scenario) -> float:
    """A failure-free workflow's length at mean durations and mean counts: the critical path,
    a fan-out of mean count N at most m at a time counted as ceil(N/m) waves (all at once
    without a limit), waits included. For a chain, the sum of the mean durations. An
    approximation (the mean of a maximum is larger than the maximum of the means) used to
    choose sweep ranges and to describe a scenario, not as a result."""
    if not scenario.is_graph:
        return sum(s.duration.mean() for s in scenario.steps)
    graph = Graph(scenario)
    waves = [math.ceil(s.count.mean() / s.max_concurrency) if s.max_concurrency else 1 for s in scenario.steps]
    return graph.critical_path_s([w * s.duration.mean() for w, s in zip(waves, scenario.steps, strict=True)])


def activities(graph: Graph, beh: Behaviour) -> tuple[tuple[int, ...], ...]:
    """The strategy's activities, as sorted step indices (module docstring): restart strategies
    one activity of every step; durable ones every step its own; ``checkpoint`` its ``groups``
    (or, on a chain, runs of ``every`` consecutive steps)."""
    n = graph.n
    if not beh.records_history:
        return (tuple(range(n)),)
    if beh.group_steps:
        index = {name: i for i, name in enumerate(graph.names)}
        return tuple(tuple(sorted(index[name] for name in group)) for group in beh.group_steps)
    if beh.checkpoint_every == 1:
        return tuple((i,) for i in range(n))
    sizes = beh.group_sizes or (() if beh.checkpoint_every <= 0 else
                                (beh.checkpoint_every,) * (n // beh.checkpoint_every))
    out, first = [], 0
    for size in sizes:
        out.append(tuple(range(first, min(first + size, n))))
        first += size
    if first < n:
        out.append(tuple(range(first, n)))
    return tuple(g for g in out if g)


class _Activities:
    """A strategy's activities on a graph, with what the run loop reads about them."""

    __slots__ = ("steps", "of", "per_unit", "ext_preds", "in_preds", "entry", "dependents", "count_restarts")

    def __init__(self, graph: Graph, beh: Behaviour):
        self.steps = acts = activities(graph, beh)
        self.of = [0] * graph.n
        for a, members in enumerate(acts):
            for i in members:
                self.of[i] = a
        # a single-step activity of a recording strategy records each unit (each instance its own activity)
        self.per_unit = [beh.records_history and len(m) == 1 for m in acts]
        self.ext_preds = [sorted({p for i in m for p in graph.preds[i] if self.of[p] != a}) for a, m in enumerate(acts)]
        self.in_preds = [[p for p in graph.preds[i] if self.of[p] == self.of[i]] for i in range(graph.n)]
        self.entry = [[i for i in m if not self.in_preds[i]] for m in acts]
        self.dependents = [sorted({self.of[s] for i in m for s in graph.succs[i] if self.of[s] != a})
                           for a, m in enumerate(acts)]
        self.count_restarts = beh.checkpoint_every != 1


class GraphDraws:
    """The random numbers of one workflow (one replication, or one fleet workflow): counts and
    per-(step, instance) streams, from per-source keys (module docstring)."""

    __slots__ = ("counts", "_graph", "_keys", "_streams")

    def __init__(self, graph: Graph, keys: dict[Source, int]):
        self._graph = graph
        self._keys = keys
        self._streams: dict[tuple[int, int, int], Stream] = {}
        lanes = np.arange(graph.n, dtype=np.uint64) * np.uint64(1 << 32)
        u = uniforms(np.uint64(keys[Source.COUNT]), lanes).tolist()
        self.counts = [c.fixed if c.fixed is not None else c.draw(u[i]) for i, c in enumerate(graph.counts)]

    def _stream(self, source: Source, i: int, j: int, ppf: Callable[[np.ndarray], np.ndarray]) -> Stream:
        s = self._streams.get((source, i, j))
        if s is None:
            # every instance of the step at once: the first PREFILL draws of each in one numpy call
            key = np.uint64(self._keys[source])
            lanes = [i + m * INSTANCE_LANE for m in range(self.counts[i])]
            idx = (np.asarray(lanes, dtype=np.uint64) * np.uint64(1 << 32))[:, None] + np.arange(PREFILL, dtype=np.uint64)
            rows = ppf(uniforms(key, idx)).tolist()
            for m, lane in enumerate(lanes):
                self._streams[(source, i, m)] = Stream(key, lane, ppf, rows[m])
            s = self._streams[(source, i, j)]
        return s


    def duration(self, i: int, j: int, k: int) -> float:
        dist = self._graph.durations[i]
        if not dist.is_random:
            return dist.mean()
        return self._stream(Source.DURATION, i, j, dist.ppf).get(k)

    def rate_limited(self, i: int, j: int, k: int) -> bool:
        g = self._graph
        return g.limited[i] and self._stream(Source.RATE_LIMIT, i, j, _identity).get(k) < g.p429

    def retry_after(self, i: int, j: int, k: int) -> float:
        ra = self._graph.retry_after
        if ra is None:
            return 0.0
        if not ra.is_random:
            return ra.mean()
        return self._stream(Source.RETRY_AFTER, i, j, ra.ppf).get(k)


def _identity(u: np.ndarray) -> np.ndarray:
    return u


def replication_draws(graph: Graph, seed: int, run: int) -> GraphDraws:
    """Replication ``run``'s draws under root ``seed``: the numbers the DES engine reads for it."""
    runs = np.array([run], dtype=np.int64)
    return GraphDraws(graph, {source: int(replication_keys(seed, source, runs)[0]) for source in GRAPH_SOURCES})


class _Attempt:
    __slots__ = ("unit", "start", "end", "k", "limited", "work_s", "saves", "log_at", "refusal")

    def __init__(self, unit: tuple[int, int], start: float, end: float, k: int, limited: bool, work_s: float,
                 saves: int, log_at: int, refusal: int = RATE_LIMITED):
        self.unit, self.start, self.end, self.k = unit, start, end, k
        self.limited, self.work_s, self.saves, self.log_at = limited, work_s, saves, log_at
        self.refusal = refusal  # how a ``limited`` call fails: RATE_LIMITED (a 429) or OUTAGE (fleet provider)


class WorkflowRun:
    """One strategy's run of one workflow on one worker. ``steps()`` is a generator of delays
    (the engine turns each into a timer event); when it ends, ``result`` holds ``RESULT_FIELDS``.

    ``log`` (optional) receives one tuple per attempt: (run, strategy, step, attempt, start,
    end, outcome, useful, instance); ``useful`` is fixed when the run ends.

    ``provider`` (fleet only): the shared provider (``sim.engines.fleet.provider.Provider``) that
    the steps marked ``graph.uses_provider`` call, read at each call's start as in the chain
    machine: a call during an outage fails after ``response_time``, a call the token buckets
    refuse gets a 429 after ``response_time`` with their Retry-After, an outage that begins
    during a call ends it. Failed calls cost nothing and are retried like 429s.
    """

    def __init__(self, graph: Graph, beh: Behaviour, draws: GraphDraws, worker: Worker, jitter: Stream | None,
                 run: int, start_s: float = 0.0, log: list | None = None, provider: object | None = None):
        self.g, self.beh, self.draws, self.worker, self.jitter = graph, beh, draws, worker, jitter
        self.run, self.log = run, log
        self.provider = provider
        self.provider_ra: dict[tuple[tuple[int, int], int], float] = {}  # (unit, attempt) → the provider's Retry-After
        self.records = beh.records_history  # completed activities are recorded (durable, heartbeat, checkpoint)
        self.acts = acts = graph.activities_of(beh)
        self.hb = beh.heartbeat_intervals_s  # per step (0: no saves)
        self.hb_cost = beh.heartbeat_costs_s
        self.lat = beh.persist_latency_s
        self.now = start_s
        self.start_s = start_s
        self.events = 0
        self.result: tuple | None = None
        n = graph.n
        m = len(acts.steps)
        self.count = draws.counts
        # per instance, kept across roll-backs: attempt index, failures, last back-off, heartbeat state
        self.calls: dict[tuple[int, int], int] = {}
        self.fails: dict[tuple[int, int], int] = {}
        self.prev_sleep: dict[tuple[int, int], float] = {}
        self.hb_state: dict[tuple[int, int], list[float]] = {}  # step work, saved work, kept compute, kept cost
        # per activity: steps left, attempt open, failures and last back-off (reset when it completes),
        # completed work held in memory (not yet recorded), the last step that completed in it
        self.left = [len(steps) for steps in acts.steps]
        self.acts_left = m
        self.open = [False] * m
        self.a_fails = [0] * m
        self.a_prev_sleep = [0.0] * m
        self.pend_c = [0.0] * m
        self.pend_cost = [0.0] * m
        self.pend_log: list[list[int]] = [[] for _ in range(m)]
        self.last_done = [-1] * m
        # the units of the current attempt of each activity
        self.done = [[False] * c for c in self.count]
        self.n_done = [0] * n
        self.visible_at = [0.0] * n  # when step i's results are visible to its successors
        self.pending: dict[tuple[int, int], float] = {}  # runnable units → earliest start
        self.inflight: dict[tuple[int, int], _Attempt] = {}
        self.ends: list[tuple[float, tuple[int, int], int, _Attempt]] = []  # heap of attempt ends (stale entries skipped)
        self.seq = 0
        self.running = [0] * n  # activity attempts in flight per step
        self.busy = 0  # activity attempts in flight on the worker
        self.useful_c = self.useful_cost = self.waste_c = self.waste_cost = 0.0
        self.useful_log: list[int] = []
        self.retries = 0  # jitter draws used
        self.draining = False
        self.drain_end = INF
        self.completed = False
        self.cut = False  # the horizon ended the run
        self.finish = INF
        self.first_start = math.nan
        self.task_at = start_s  # the last workflow task's start: the worker caches the workflow from then;
        # records before it (a task delayed on a sticky queue) join that task
        self.c = {"unit_attempts": 0, "history": EVENTS_AT_START if self.records else 0, "attempts": 0, "crashes": 0,
                  "deploy_kills": 0, "rate_limited": 0, "restarts": 0, "heartbeats": 0, "calls": 0,
                  "provider_429s": 0, "outage_errors": 0}

    # ------------------------------------------------------------------ the event loop

    def steps(self) -> Iterator[float]:
        w = self.worker
        w.acquire(self.now)  # the worker's clock catches up (a fleet worker was idle until now)
        at = self.now + (EVENTS_AT_START * self.lat if self.records else 0.0)
        for a, ext in enumerate(self.acts.ext_preds):
            if not ext:
                self._activate_entry(a, at)
        while self.finish == INF:
            self._start_runnable()
            t = self._next_event_time()
            if t > self.now:
                self.events += 1
                yield t - self.now
                self.now = t
            self._process()
        self._close()

    def _next_event_time(self) -> float:
        w = self.worker
        t = min(w.next_crash, w.next_deploy, self.drain_end, self.g.max_time_s)
        ends, inflight = self.ends, self.inflight
        while ends and inflight.get(ends[0][1]) is not ends[0][3]:
            heapq.heappop(ends)  # an attempt that was stopped before its end
        if ends and ends[0][0] < t:
            t = ends[0][0]
        if self.pending and not self.draining:
            due = min(self.pending.values())
            if due > self.now or self.now < w.ready:
                due = max(due, w.ready)
                if due < t:
                    t = due
        return t

    def _process(self) -> None:
        now, w = self.now, self.worker
        ends, inflight = self.ends, self.inflight
        while ends and ends[0][0] <= now:  # attempts ending now, in (end, step, instance) order
            _, unit, _, a = heapq.heappop(ends)
            if inflight.get(unit) is not a:
                continue  # stopped earlier (e.g. cancelled by a 429 that ended just before, under restart)
            self._attempt_ends(a)
            if self.finish != INF:
                return
        if now >= self.g.max_time_s:
            self._horizon()
            return
        while self.finish == INF:
            c, d = w.next_crash, w.next_deploy
            if self.draining and self.drain_end <= now and self.drain_end <= c:
                self._worker_lost(self.drain_end, KILLED_BY_DEPLOY)
            elif c <= now and c <= d:
                w.crash_restart(c)
                self._worker_lost(c, CRASHED)
            elif d <= now:
                if w.deploy_begins() and not self.draining:
                    self.draining, self.drain_end = True, d + w.drain_s
                    if self.busy == 0:
                        self._worker_lost(d, KILLED_BY_DEPLOY)
            else:
                break
        if self.finish == INF and self.draining and self.busy == 0:
            self._worker_lost(now, KILLED_BY_DEPLOY)  # the last attempt of the drain finished: the worker exits

    # ------------------------------------------------------------------ starting units

    def _activate(self, i: int, at: float) -> None:
        for j in range(self.count[i]):
            self.pending[(i, j)] = at

    def _activate_entry(self, a: int, at: float) -> None:
        """(Re)start activity ``a`` from its entry steps at ``at``."""
        for i in self.acts.entry[a]:
            self._activate(i, at)

    def _start_runnable(self) -> None:
        now, w, g = self.now, self.worker, self.g
        if not self.pending or self.draining or now < w.ready:
            return
        for unit in sorted(u for u, due in self.pending.items() if due <= now):
            i = unit[0]
            if not g.is_wait[i]:
                if g.slots and self.busy >= g.slots:
                    continue
                if g.max_concurrency[i] and self.running[i] >= g.max_concurrency[i]:
                    continue
            del self.pending[unit]
            self._start(unit)

    def _start(self, unit: tuple[int, int]) -> None:
        g, beh, now = self.g, self.beh, self.now
        i, j = unit
        k = self.calls.get(unit, 0)
        self.calls[unit] = k + 1
        if self.first_start != self.first_start:
            self.first_start = now
        a = self.acts.of[i]
        if self.acts.per_unit[a]:
            self.c["unit_attempts"] += 1  # an activity attempt, a timer or a signal: one action each
        elif not self.open[a]:
            self.open[a] = True
            self.c["unit_attempts"] += 1  # an attempt of a multi-step activity (restart: of the workflow)
        limited, saves, work, refusal = False, -1, 0.0, RATE_LIMITED
        if g.is_wait[i]:
            length = self.draws.duration(i, j, k)
        else:
            self.c["attempts"] += 1
            if g.is_llm[i]:
                self.c["calls"] += 1
            self.running[i] += 1
            self.busy += 1
            if self.draws.rate_limited(i, j, k):
                limited, length = True, g.response_s
            else:
                work = length = self.draws.duration(i, j, k)
                if self.hb and self.hb[i] > 0.0 and g.is_gpu[i]:
                    st = self.hb_state.setdefault(unit, [-1.0, 0.0, 0.0, 0.0])
                    length, saves, st[0] = heartbeat_attempt(work, st[0], st[1], self.hb[i], self.hb_cost[i])
                if self.provider is not None and g.uses_provider[i]:
                    limited, refusal, length = self._call_provider(unit, k, length)
        log_at = -1
        if self.log is not None:
            log_at = len(self.log)
            self.log.append((self.run, beh.label, i, k, now, now + length, -1, False, j))
        att = self.inflight[unit] = _Attempt(unit, now, now + length, k, limited, work, saves, log_at, refusal)
        self.seq += 1
        heapq.heappush(self.ends, (att.end, unit, self.seq, att))

    def _call_provider(self, unit: tuple[int, int], k: int, length: float) -> tuple[bool, int, float]:
        """A call to the fleet's shared provider now: (refused or cut, how, attempt length)."""
        p, now = self.provider, self.now
        outages = p.outages  # type: ignore[attr-defined]
        if outages is not None and outages.down_until(now) > now:
            return True, OUTAGE, p.response_s  # type: ignore[attr-defined]
        ra = p.admit(now, self.g.tokens[unit[0]])  # type: ignore[attr-defined]
        if ra > 0.0:
            self.provider_ra[(unit, k)] = ra if p.config.honor_retry_after else 0.0  # type: ignore[attr-defined]
            self.c["provider_429s"] += 1
            return True, RATE_LIMITED, p.response_s  # type: ignore[attr-defined]
        if outages is not None:
            cut = outages.next_start(now)
            if cut < now + length:
                return True, OUTAGE, cut - now
        return False, RATE_LIMITED, length

    def _retry_after(self, unit: tuple[int, int], k: int) -> float:
        """The Retry-After of attempt ``k`` of ``unit`` (answered 429): the provider's, else the draw."""
        ra = self.provider_ra.pop((unit, k), None)
        return ra if ra is not None else self.draws.retry_after(unit[0], unit[1], k)

    # ------------------------------------------------------------------ attempts end

    def _stop(self, a: _Attempt, at: float, outcome: int) -> tuple[float, float]:
        """Take attempt ``a`` off the worker at ``at``: its compute and cost (heartbeat-settled)."""
        g = self.g
        i = a.unit[0]
        del self.inflight[a.unit]
        if self.log is not None:
            self.log[a.log_at] = (*self.log[a.log_at][:5], at, outcome, False, a.unit[1])
        if g.is_wait[i]:
            return 0.0, 0.0
        self.running[i] -= 1
        self.busy -= 1
        elapsed = at - a.start
        if g.is_gpu[i]:
            cost = elapsed * g.rate_per_s[i]
        elif outcome == COMPLETED and not a.limited:
            cost = g.call_cost[i]
        elif a.limited or a.work_s <= 0:
            cost = 0.0  # a call answered 429 costs nothing
        else:
            cost = g.call_cost[i] * elapsed / a.work_s
        if a.saves >= 0 and outcome != CUT:  # (an attempt cut by the horizon is wasted whole)
            st = self.hb_state[a.unit]
            sent, elapsed, cost, st[1], st[2], st[3] = heartbeat_settle(
                outcome == COMPLETED, elapsed, cost, a.saves, st[1], st[2], st[3], self.hb[i], self.hb_cost[i],
                g.rate_per_s[i])
            self.c["heartbeats"] += sent
            if outcome == COMPLETED:
                st[0] = -1.0
        return elapsed, cost

    def _attempt_ends(self, att: _Attempt) -> None:
        g, acts, now = self.g, self.acts, self.now
        i, j = att.unit
        a = acts.of[i]
        if att.limited:
            refusal = att.refusal
            elapsed, cost = self._stop(att, now, refusal)
            self.waste_c += elapsed
            self.waste_cost += cost
            k = att.k
            if refusal == RATE_LIMITED:
                self.c["rate_limited"] += 1
            else:
                self.c["outage_errors"] += 1
                k = -1  # an outage error has no Retry-After
            if self.beh.retry_429_in_place:
                self._retry_unit(att.unit, now, k)
            else:
                self._fail(a, att.unit, now, refusal, k)
            return
        elapsed, cost = self._stop(att, now, COMPLETED)
        self.done[i][j] = True
        self.n_done[i] += 1
        self.fails.pop(att.unit, None)
        self.prev_sleep.pop(att.unit, None)
        visible = now
        if acts.per_unit[a]:
            self.useful_c += elapsed
            self.useful_cost += cost
            if att.log_at >= 0:
                self.useful_log.append(att.log_at)
            visible = self._record(g.wait_events[i] if g.is_wait[i] else EVENTS_PER_ACTIVITY)
        else:
            self.pend_c[a] += elapsed
            self.pend_cost[a] += cost
            if att.log_at >= 0:
                self.pend_log[a].append(att.log_at)
        if visible > self.visible_at[i]:
            self.visible_at[i] = visible
        if self.n_done[i] < self.count[i]:
            return
        self.last_done[a] = i
        for s in g.succs[i]:  # successors inside the activity
            if acts.of[s] == a and all(self.n_done[p] == self.count[p] for p in acts.in_preds[s]):
                self._activate(s, max(self.visible_at[p] for p in g.preds[s]))
        self.left[a] -= 1
        if self.left[a]:
            return
        self._activity_done(a)

    def _activity_done(self, a: int) -> None:
        """Every unit of activity ``a`` has completed: record it, start the activities after it."""
        acts = self.acts
        self.acts_left -= 1
        if not acts.per_unit[a]:
            if self.records:
                visible = self._record(EVENTS_PER_ACTIVITY)
                for i in acts.steps[a]:
                    self.visible_at[i] = visible
            self.useful_c += self.pend_c[a]
            self.useful_cost += self.pend_cost[a]
            self.useful_log.extend(self.pend_log[a])
            self.pend_c[a] = self.pend_cost[a] = 0.0
            self.pend_log[a].clear()
            self.open[a] = False
            self.a_fails[a] = 0
            self.a_prev_sleep[a] = 0.0
        if self.acts_left == 0:
            self.completed = True
            self.finish = max(self.visible_at[s] for s in self.g.sinks)
            return
        for b in acts.dependents[a]:
            ext = acts.ext_preds[b]
            if all(self.left[acts.of[p]] == 0 for p in ext):
                self._activate_entry(b, max(self.visible_at[p] for p in ext))

    def _record(self, events: int) -> float:
        """Record ``events`` history events for a completion now; when they are visible
        (``recorded_at_s``: a crash since the last workflow task delays the next one by the sticky
        timeout, and completions while it waits join it)."""
        w = self.worker
        lat = events * self.lat
        if self.now < self.task_at:
            self.c["history"] += events
            return self.task_at + lat
        g = self.g
        t, extra, self.task_at = recorded_at_s(self.now, w.last_crash > self.task_at, w.next_crash, g.sticky_s,
                                               g.task_timeout_s, lat)
        self.c["history"] += events + extra
        return t

    # ------------------------------------------------------------------ failures

    def _holds(self, a: int) -> bool:
        """Does activity ``a`` hold something in the worker's memory (completed units not yet
        recorded, or a wait of a workflow that is not recorded)?"""
        if self.acts.per_unit[a] or self.left[a] == 0:
            return False
        steps = self.acts.steps[a]
        return any(self.n_done[i] for i in steps) or any(u[0] in steps for u in self.inflight)

    def _worker_lost(self, at: float, cause: int) -> None:
        """The worker crashed (already restarting) or exits after a deployment at ``at``: every
        attempt in flight on it ends; multi-step activities lose what the worker's memory held."""
        if cause == KILLED_BY_DEPLOY:
            self.worker.shut_down(at)
        self.draining, self.drain_end = False, INF
        self._lose([u for u in self.inflight if not self.g.is_wait[u[0]]], at, cause)

    def _lose(self, units: list[tuple[int, int]], at: float, cause: int) -> None:
        """The activity attempts ``units`` (in flight on a worker that crashed or exited at ``at``)
        end; multi-step activities lose what the worker's memory held. Under task-queue dispatch
        (the fleet engine) ``units`` are this workflow's attempts on the lost worker only."""
        g, acts = self.g, self.acts
        killed = sorted(units)
        # what fails, in order of its first unit: each killed unit of a single-step activity, and
        # each multi-step activity with a killed unit or holding work in memory
        failing: dict[tuple[int, int], tuple[int, tuple[int, int] | None]] = {}
        seen: set[int] = set()
        for u in killed:
            a = acts.of[u[0]]
            if acts.per_unit[a]:
                failing[u] = (a, u)
            elif a not in seen:
                seen.add(a)
                failing[u] = (a, u)
        for a in range(len(acts.steps)):
            if a not in seen and self._holds(a):
                failing[(acts.steps[a][0], -1)] = (a, None)
        if not failing:
            return
        self.c["crashes" if cause == CRASHED else "deploy_kills"] += 1
        notice = at + (g.detect_s if cause == CRASHED else 0.0)
        for u in killed:
            elapsed, cost = self._stop(self.inflight[u], at, cause)
            self.waste_c += elapsed
            self.waste_cost += cost
        for key in sorted(failing):
            a, unit = failing[key]
            if not acts.per_unit[a]:
                steps = acts.steps[a]
                for u in sorted(u for u in self.inflight if g.is_wait[u[0]] and u[0] in steps):
                    self._stop(self.inflight[u], at, cause)  # a wait in memory dies with the worker
            self._fail(a, unit, notice, cause, -1)
            if self.finish != INF:
                return

    def _fail(self, a: int, unit: tuple[int, int] | None, notice: float, cause: int, k: int) -> None:
        """A failure of activity ``a`` (of its unit ``unit``, if one failed): retry that unit, or
        roll the activity back; a roll-back of an activity that starts the workflow is a restart."""
        if self.acts.count_restarts and not self.acts.ext_preds[a]:
            self.c["restarts"] += 1
        if self.acts.per_unit[a]:
            self._retry_unit(unit, notice, k)
        else:
            self._roll_back(a, notice, cause, unit, k)

    def _roll_back(self, a: int, notice: float, cause: int, unit: tuple[int, int] | None, k: int) -> None:
        """A multi-step activity (restart: the workflow) failed: cancel its units in flight, waste
        what it completed, re-run it from its entry steps after its back-off."""
        steps = self.acts.steps[a]
        for u in sorted(u for u in self.inflight if u[0] in steps):
            elapsed, cost = self._stop(self.inflight[u], self.now, CANCELLED)
            self.waste_c += elapsed
            self.waste_cost += cost
        self.waste_c += self.pend_c[a]
        self.waste_cost += self.pend_cost[a]
        self.pend_c[a] = self.pend_cost[a] = 0.0
        self.pend_log[a].clear()
        for u in [u for u in self.pending if u[0] in steps]:
            del self.pending[u]
        for i in steps:
            self.n_done[i] = 0
            self.done[i] = [False] * self.count[i]
            self.visible_at[i] = 0.0
        self.left[a] = len(steps)
        self.open[a] = False
        self.a_fails[a] += 1
        # the back-off follows the failing step's policy (or, when the worker was lost between
        # attempts, the last step that completed in the activity); restart: the strategy's
        step = unit[0] if unit is not None else (self.last_done[a] if self.last_done[a] >= 0 else steps[0])
        policy = retry_policy(self.beh, self.g.retry[step], False)
        wait = retry_wait_s(policy, self.a_fails[a], self.jitter, self.retries, self.a_prev_sleep[a])
        if wait is None:
            self.finish = notice
            return
        self.retries += 1
        self.a_prev_sleep[a] = wait
        if cause == RATE_LIMITED and unit is not None:
            wait = max(wait, self._retry_after(unit, k))
        self._activate_entry(a, notice + wait)

    def _retry_unit(self, unit: tuple[int, int], notice: float, k: int) -> None:
        """A single-step activity's unit (and an in-place 429): retry that instance after its back-off."""
        fails = self.fails.get(unit, 0) + 1
        self.fails[unit] = fails
        policy = retry_policy(self.beh, self.g.retry[unit[0]], True)
        wait = retry_wait_s(policy, fails, self.jitter, self.retries, self.prev_sleep.get(unit, 0.0))
        if wait is None:
            self.finish = notice
            return
        self.retries += 1
        self.prev_sleep[unit] = wait
        if k >= 0:
            wait = max(wait, self._retry_after(unit, k))
        self.pending[unit] = notice + wait

    def _horizon(self) -> None:
        """The horizon cuts every attempt in flight; the workflow did not complete."""
        at = self.g.max_time_s
        for u in sorted(self.inflight):
            elapsed, cost = self._stop(self.inflight[u], at, CUT)
            self.waste_c += elapsed
            self.waste_cost += cost
        self.finish = at
        self.cut = True

    # ------------------------------------------------------------------ the end

    def _close(self) -> None:
        for u in sorted(self.inflight):  # a workflow that gave up cancels what still runs
            elapsed, cost = self._stop(self.inflight[u], self.now, CANCELLED)
            self.waste_c += elapsed
            self.waste_cost += cost
        c = self.c
        if not self.completed:
            kept_c = sum(st[2] for st in self.hb_state.values())
            kept_cost = sum(st[3] for st in self.hb_state.values())
            self.waste_c += sum(self.pend_c) + self.useful_c + kept_c
            self.waste_cost += sum(self.pend_cost) + self.useful_cost + kept_cost
            self.useful_c = self.useful_cost = 0.0
            self.useful_log.clear()
            if self.records:
                c["history"] += EVENTS_PER_ACTIVITY
        if self.log is not None:
            for at in self.useful_log:
                self.log[at] = (*self.log[at][:7], True, self.log[at][8])
        useful_calls = sum(self.count[i] for i in range(self.g.n) if self.g.is_llm[i]) if self.completed else 0
        self.result = (
            self.completed, self.finish, self.first_start, self.useful_c + self.waste_c, self.useful_c, self.waste_c,
            self.useful_cost + self.waste_cost, self.useful_cost, self.waste_cost, c["unit_attempts"], c["history"],
            c["attempts"], c["crashes"], c["deploy_kills"], c["rate_limited"], c["restarts"], c["heartbeats"],
            c["calls"], useful_calls)
