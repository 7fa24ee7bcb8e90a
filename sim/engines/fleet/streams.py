"""Random streams of a fleet replication, keyed so that one workflow reproduces ``sim.simulate``.

Every number is still a pure function of (root seed, replication, source, index) (``sim.model.rng``),
with one more coordinate: the workflow (for durations, 429 draws, Retry-After, jitter) or the
worker (for its crash clock). Member 0 uses the replication's own key, so workflow 0 and
worker 0 of fleet replication ``r`` read exactly the numbers of single-pipeline replication
``r``; members ``j > 0`` get a SplitMix64 hash of (replication key, j). Deployments, arrivals
and provider outages are fleet-wide: one stream per replication.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.model.failures import (
    ReplicationEnv,
    Stream,
    assign_step_columns,
    identity,
    step_columns,
    streams,
)
from sim.model.rng import Source, replication_keys, splitmix
from sim.model.scenario import Scenario
from sim.model.workflow import GRAPH_SOURCES, Graph, GraphDraws

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SALT = np.uint64(0xD1B54A32D192ED03)


def _mix(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return splitmix(z)


def member_keys(seed: int, source: Source, run: int, count: int) -> np.ndarray:
    """Keys of members 0…count−1 (workflows or workers) of replication ``run`` for ``source``."""
    base = replication_keys(seed, source, np.array([run], dtype=np.int64))[0]
    index = np.arange(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        keys = _mix(base ^ _mix(index * _GOLDEN + _SALT))
    if count:
        keys[0] = base
    return keys


def fleet_stream(seed: int, source: Source, run: int, lane: int, ppf: Callable[[np.ndarray], np.ndarray]) -> Stream:
    """A fleet-wide stream of replication ``run``."""
    return streams(replication_keys(seed, source, np.array([run], dtype=np.int64)), lane, ppf)[0]


def workflow_envs(scenario: Scenario, seed: int, run: int, count: int) -> list[ReplicationEnv]:
    """Per-workflow draws (durations, 429 uniforms, Retry-After, jitter) of ``count`` workflows.

    The same layout as ``sim.model.failures.build_environments`` (lane = step index), so workflow 0
    is single-pipeline replication ``run``. Crash and deployment clocks belong to workers.
    """
    envs = [ReplicationEnv(run) for _ in range(count)]
    if count == 0:
        return envs
    cache: dict[Source, np.ndarray] = {}

    def keys(source: Source) -> np.ndarray:
        if source not in cache:
            cache[source] = member_keys(seed, source, run, count)
        return cache[source]

    assign_step_columns(scenario, envs, step_columns(scenario, count, keys))
    for e, jit in zip(envs, streams(keys(Source.JITTER), 0, identity), strict=True):
        e.jitter_u = jit
    return envs


def worker_crash_streams(scenario: Scenario, seed: int, run: int, workers: int) -> list[Stream | None]:
    """Each worker's own times to failure (worker 0 = the single pipeline's worker)."""
    crash = scenario.failures.crash
    if crash is None:
        return [None] * workers
    return list(streams(member_keys(seed, Source.CRASH, run, workers), 0, crash.time_to_failure.ppf))


def deploy_stream(scenario: Scenario, seed: int, run: int) -> Stream | None:
    """The fleet's deployment stream (periodic: index 0 is the phase uniform; Poisson: gaps)."""
    deploy = scenario.failures.deploy
    if deploy is None or deploy.mode == "scheduled":
        return None
    if deploy.mode == "periodic":
        return fleet_stream(seed, Source.DEPLOY, run, 0, identity)
    mean = deploy.every_s

    def ppf(u: np.ndarray) -> np.ndarray:
        return -mean * np.log1p(-u)

    return fleet_stream(seed, Source.DEPLOY, run, 0, ppf)


class OffsetStream:
    """A deployment stream whose first instant is shifted by ``delay_s`` (rolling deployments).

    Periodic: index 0 is the phase uniform u and the instants are (u + m)·every, so adding
    delay/every to u shifts every instant by ``delay_s``; Poisson: the first gap is shifted."""

    __slots__ = ("base", "shift")

    def __init__(self, base: Stream, shift: float):
        self.base = base
        self.shift = shift

    def get(self, i: int) -> float:
        value = self.base.get(i)
        return value + self.shift if i == 0 else value


def arrival_times(scenario: Scenario, seed: int, run: int) -> list[float]:
    """Arrival instants of replication ``run`` (the same for every strategy)."""
    fleet = scenario.fleet
    if fleet.arrival == "batch":
        return [0.0] * fleet.workflows
    mean_gap = 3600.0 / fleet.rate_per_hour

    def ppf(u: np.ndarray) -> np.ndarray:
        return -mean_gap * np.log1p(-u)

    gaps = fleet_stream(seed, Source.ARRIVALS, run, 0, ppf)
    limit = fleet.workflows if fleet.workflows is not None else np.inf
    horizon = fleet.horizon_s if fleet.horizon_s is not None else np.inf
    times: list[float] = []
    t = 0.0
    while len(times) < limit:
        t += gaps.get(len(times))
        if t > horizon:
            break
        times.append(t)
    return times


def member_draws(graph: Graph, seed: int, run: int, member: int) -> GraphDraws:
    """The draws of workflow ``member`` of fleet replication ``run`` of a workflow graph: the
    numbers the fleet engine reads for it (``sim validate --fleet`` gives them to real workers)."""
    return GraphDraws(graph, {source: int(member_keys(seed, source, run, member + 1)[member])
                              for source in GRAPH_SOURCES})
