"""Failure sources → the failure environment of each replication, and the worker that lives in it.

A ``ReplicationEnv`` holds lazily extended streams of draws (times to failure, deployment
gaps, 429 uniforms, attempt durations, Retry-After values, jitter uniforms) for one
replication. All of them are pure functions of (root seed, replication, source, index)
(``sim.model.rng``), so every strategy, engine and sweep point sees the same numbers. A chunk of
replications pre-computes the first few draws of every stream in a few numpy calls.

``Worker`` walks one strategy's run through that environment: it knows when the worker is
ready, when it next crashes and when the next deployment begins (docs/model.md, section 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.model.distributions import Distribution
from sim.model.rng import Source, replication_keys, uniform_matrix
from sim.model.scenario import Scenario
from sim.model.spot import preemption_spec

INF = math.inf
COMPLETED, CRASHED, KILLED_BY_DEPLOY, RATE_LIMITED = 0, 1, 2, 3
OUTAGE = 4  # fleet: the shared provider was down (refused the call, or went down during it)
CANCELLED = 5  # workflow graphs: a sibling branch's failure cancelled the attempt (restart)
PREEMPTED = 6  # spot capacity: the provider took the instance back (sim.model.spot)
CUT = -2  # an attempt cut by the horizon (max_time)
OUTCOMES = ("completed", "crashed", "killed_by_deploy", "rate_limited", "outage", "cancelled", "preempted")
PREFILL = 4  # draws per stream computed up front for a chunk


class Stream:
    """Draw ``i`` of one (replication, source, lane) stream, computed on demand."""

    __slots__ = ("key", "lane", "ppf", "values")

    def __init__(self, key: np.uint64, lane: int, ppf: Callable[[np.ndarray], np.ndarray], values: list[float]):
        self.key = key
        self.lane = lane
        self.ppf = ppf
        self.values = values

    def get(self, i: int) -> float:
        values = self.values
        if i < len(values):
            return values[i]
        start = len(values)
        count = max(i + 1 - start, start, 16)
        u = uniform_matrix(np.array([self.key], dtype=np.uint64), count, offset=start, lane=self.lane)[0]
        values.extend(self.ppf(u).tolist())
        return values[i]


def identity(u: np.ndarray) -> np.ndarray:
    return u


def streams(keys: np.ndarray, lane: int, ppf: Callable[[np.ndarray], np.ndarray], prefill: int = PREFILL
            ) -> list[Stream]:
    """One lazily extended stream per key, the first ``prefill`` draws computed in one numpy call."""
    if len(keys) == 0:
        return []
    first = ppf(uniform_matrix(keys, prefill, lane=lane)).tolist()
    return [Stream(k, lane, ppf, row) for k, row in zip(np.asarray(keys).tolist(), first, strict=True)]


StepColumns = tuple[list[list], list[list], list[list]]


def step_columns(scenario: Scenario, count: int, keys: Callable[[Source], np.ndarray]) -> StepColumns:
    """Per step, one entry per environment: 429 uniforms, durations and Retry-After values.

    A random quantity is a Stream on lane = step index; a fixed one is its value. ``keys(source)``
    gives the per-environment keys of a source (replications here, workflows in a fleet).
    """
    limited = scenario.rate_limited_steps()
    rate_cols: list[list] = []
    duration_cols: list[list] = []
    retry_after_cols: list[list] = []
    for i, step in enumerate(scenario.steps):
        if limited[i]:
            rate_cols.append(streams(keys(Source.RATE_LIMIT), i, identity))
            ra: Distribution = scenario.failures.rate_limit.retry_after
            if ra.is_random:
                retry_after_cols.append(streams(keys(Source.RETRY_AFTER), i, ra.ppf))
            else:
                retry_after_cols.append([ra.mean()] * count)
        else:
            rate_cols.append([None] * count)
            retry_after_cols.append([0.0] * count)
        dist = step.duration
        if dist.is_random:
            duration_cols.append(streams(keys(Source.DURATION), i, dist.ppf))
        else:
            duration_cols.append([dist.mean()] * count)
    return rate_cols, duration_cols, retry_after_cols


def assign_step_columns(scenario: Scenario, envs: list[ReplicationEnv], columns: StepColumns) -> None:
    """Give each environment its row of the step columns (as tuples, read in the hot loop)."""
    rate_cols, duration_cols, retry_after_cols = columns
    if not envs:
        return
    if not any(scenario.rate_limited_steps()) and not any(step.duration.is_random for step in scenario.steps):
        # nothing per environment: every one shares the same immutable tuples
        rate, dur, ra_row = (tuple(col[0] for col in cols) for cols in columns)
        for e in envs:
            e.rate_u, e.durations, e.retry_after = rate, dur, ra_row
        return
    for e, rate, dur, ra_row in zip(envs, zip(*rate_cols, strict=True), zip(*duration_cols, strict=True),
                                    zip(*retry_after_cols, strict=True), strict=True):
        e.rate_u, e.durations, e.retry_after = rate, dur, ra_row


def crash_prefill(scenario: Scenario, mean_ttf_s: float) -> int:
    """Times to failure computed up front per replication: enough that extending a stream one
    replication at a time (a numpy call each) stays rare when crashes are frequent: PREFILL, plus
    8 per mean time to failure in the steps' nominal length, at most 32. (Draws are pure functions
    of their index, so this changes only the speed.)"""
    span_s = sum(step.duration.mean() for step in scenario.steps)
    if not mean_ttf_s > 0 or not math.isfinite(span_s):
        return PREFILL
    return min(PREFILL + math.ceil(8.0 * span_s / mean_ttf_s), 32)


class ReplicationEnv:
    """The failure environment of one replication (shared by every strategy)."""

    __slots__ = ("run", "crash_ttf", "deploy_gap", "rate_u", "durations", "retry_after", "jitter_u", "preempt")

    def __init__(self, run: int):
        self.run = run
        self.crash_ttf: Stream | None = None
        self.deploy_gap: Stream | None = None  # periodic: index 0 is the phase uniform
        self.rate_u: tuple[Stream | None, ...] = ()
        self.durations: tuple[Stream | float, ...] = ()
        self.retry_after: tuple[Stream | float, ...] = ()
        self.jitter_u: Stream | None = None
        # spot instances (sim.model.spot.SpotClock): lives, capacity waits, unavailability uniforms,
        # unavailable waits; None without [failures.preemption]
        self.preempt: tuple | None = None


def build_environments(scenario: Scenario, runs: np.ndarray, seed: int) -> list[ReplicationEnv]:
    """Failure environments for a chunk of replications (run indices ``runs``)."""
    runs = np.asarray(runs, dtype=np.int64)
    envs = [ReplicationEnv(int(r)) for r in runs]
    f = scenario.failures
    if f.crash is not None:
        ttf = f.crash.time_to_failure
        for e, s in zip(envs, streams(replication_keys(seed, Source.CRASH, runs), 0, ttf.ppf,
                                      crash_prefill(scenario, ttf.mean())), strict=True):
            e.crash_ttf = s
    if f.deploy is not None and f.deploy.mode != "scheduled":
        if f.deploy.mode == "periodic":
            ppf = identity
        else:
            mean = f.deploy.every_s
            def ppf(u: np.ndarray, mean: float = mean) -> np.ndarray:
                return -mean * np.log1p(-u)
        for e, s in zip(envs, streams(replication_keys(seed, Source.DEPLOY, runs), 0, ppf), strict=True):
            e.deploy_gap = s
    spec = preemption_spec(f.preemption)
    if spec is not None:
        pkeys = replication_keys(seed, Source.PREEMPTION, runs)
        columns = [_column(pkeys, lane, dist, len(envs)) for lane, dist in
                   ((0, spec.life), (1, spec.capacity_wait), (2, None), (3, spec.unavailable_wait))]
        for e, draws in zip(envs, zip(*columns, strict=True), strict=True):
            e.preempt = draws
    cache: dict[Source, np.ndarray] = {}

    def keys(source: Source) -> np.ndarray:
        if source not in cache:
            cache[source] = replication_keys(seed, source, runs)
        return cache[source]

    assign_step_columns(scenario, envs, step_columns(scenario, len(envs), keys))
    needs_jitter = any(p.retry.jitter != "none" for p in scenario.steps) or any(
        getattr(getattr(c, "retry", None), "jitter", "none") != "none" for c in scenario.strategies.values()
    )
    if needs_jitter:
        for e, s in zip(envs, streams(replication_keys(seed, Source.JITTER, runs), 0, identity), strict=True):
            e.jitter_u = s
    return envs


def _column(keys: np.ndarray, lane: int, dist: Distribution | None, count: int) -> list:
    """One entry per environment: a stream of ``dist`` on ``lane`` (uniforms when ``dist`` is
    None), or its value when it is fixed (0 when there is no such distribution: a trace has no lives)."""
    if dist is None and lane != 2:
        return [0.0] * count
    if dist is not None and not dist.is_random:
        return [dist.mean()] * count
    return streams(keys, lane, identity if dist is None else dist.ppf)


WorkerSpec = tuple[bool, float, bool, float, float, float, tuple[float, ...] | None]


def worker_spec(scenario: Scenario) -> WorkerSpec:
    """(renew, crash restart, periodic deploys, deploy every, drain, deploy restart, scheduled instants)."""
    crash, deploy = scenario.failures.crash, scenario.failures.deploy
    renew = crash.renew_on_restart if crash is not None else True
    restart_crash = crash.restart_time_s if crash is not None else 0.0
    if deploy is None:
        return (renew, restart_crash, True, 0.0, 0.0, 0.0, None)
    scheduled = tuple(deploy.at_s) if deploy.mode == "scheduled" else None
    return (renew, restart_crash, deploy.mode == "periodic", deploy.every_s or 0.0, deploy.drain_s,
            deploy.restart_time_s, scheduled)


class Worker:
    """The worker of one strategy's run: readiness, next crash, next deployment."""

    __slots__ = ("ready", "next_crash", "next_deploy", "last_crash", "_j", "_m", "_ttf", "_renew", "_restart_crash",
                 "_deploy", "_every", "_phase", "_periodic", "_drain", "_restart_deploy", "_at")

    def __init__(self, spec: WorkerSpec, env: ReplicationEnv):
        self.ready = 0.0
        self.last_crash = -INF  # the last crash so far (it lost the workflows cached on the worker)
        self._ttf = ttf = env.crash_ttf
        self._renew, self._restart_crash, periodic, self._every, self._drain, self._restart_deploy, at = spec
        self._at = at
        self._periodic = periodic
        self._m = 0
        if ttf is not None:
            self.next_crash = ttf.get(0)
            self._j = 1
        else:
            self.next_crash = INF
            self._j = 0
        self._deploy = gap = env.deploy_gap
        self._phase = 0.0
        if at is not None:
            self.next_deploy = at[0]
        elif gap is None:
            self.next_deploy = INF
        elif periodic:
            self._phase = gap.get(0) * self._every
            self.next_deploy = self._phase
        else:
            self.next_deploy = gap.get(0)

    def _new_life(self) -> None:
        """The worker became ready again at ``self.ready`` after a restart."""
        ttf = self._ttf
        if ttf is None:
            return
        if self._renew:
            j = self._j
            values = ttf.values  # (Stream.get, inlined for a draw already computed)
            self.next_crash = self.ready + (values[j] if j < len(values) else ttf.get(j))
            self._j = j + 1
        else:
            # host failures while down have no effect; a crash at the very instant the worker is
            # ready again (zero restart time) is the one that just happened, so it is consumed too
            while self.next_crash <= self.ready:
                self.next_crash += self._ttf.get(self._j)
                self._j += 1

    def _advance_deploy(self) -> None:
        self._m += 1
        if self._at is not None:
            self.next_deploy = self._at[self._m] if self._m < len(self._at) else INF
        elif self._periodic:
            self.next_deploy = self._phase + self._m * self._every
        else:
            self.next_deploy += self._deploy.get(self._m)

    def crash_restart(self, at: float) -> None:
        self.last_crash = at
        self.ready = at + self._restart_crash
        self._new_life()

    # ---- for the workflow model (sim.model.workflow), which processes worker events one by one
    @property
    def drain_s(self) -> float:
        return self._drain

    def deploy_begins(self) -> bool:
        """The deployment at ``next_deploy`` begins (the clock moves to the next one). True if
        the worker was up, so it drains and shuts down (``shut_down``); False if it was down."""
        up = self.next_deploy >= self.ready
        self._advance_deploy()
        return up

    def shut_down(self, at: float) -> None:
        """The worker process exits at ``at`` for a deployment and restarts."""
        self.ready = at + self._restart_deploy
        self._new_life()

    def acquire(self, t: float) -> tuple[float, float, int]:
        """Earliest start ≥ t on a ready worker; also the first idle shutdown before it.

        Returns (start, shutdown_time, cause) with shutdown_time = inf when the worker was not
        shut down while idle before the start.
        """
        s = t if t > self.ready else self.ready
        lost_at, cause = INF, COMPLETED
        while True:
            c = self.next_crash
            d = self.next_deploy
            if c <= s and c <= d:
                if lost_at == INF:
                    lost_at, cause = c, CRASHED
                self.crash_restart(c)
                if self.ready > s:
                    s = self.ready
            elif d <= s:
                if d >= self.ready:
                    if lost_at == INF:
                        lost_at, cause = d, KILLED_BY_DEPLOY
                    self.ready = d + self._restart_deploy
                    self._new_life()
                    if self.ready > s:
                        s = self.ready
                self._advance_deploy()
            else:
                return s, lost_at, cause

    def resolve(self, start: float, end: float) -> tuple[float, int, bool]:
        """What happens to an attempt that would run on [start, end).

        Returns (time it stops, outcome, whether the worker shut down right after a completion).
        """
        c = self.next_crash
        d = self.next_deploy
        if d < end and d < c:
            drain_end = d + self._drain
            if end <= drain_end and c >= end:
                self.ready = end + self._restart_deploy
                self._new_life()
                self._advance_deploy()
                return end, COMPLETED, True
            self._advance_deploy()
            if c < drain_end:
                self.crash_restart(c)
                return c, CRASHED, False
            self.ready = drain_end + self._restart_deploy
            self._new_life()
            return drain_end, KILLED_BY_DEPLOY, False
        if c < end:
            self.crash_restart(c)
            return c, CRASHED, False
        return end, COMPLETED, False
