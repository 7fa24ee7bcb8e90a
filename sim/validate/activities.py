"""The activities of ``sim validate``'s workflow: they sleep the scenario's durations, scaled.

An activity attempt of unit (step i, instance j) reads the same random numbers as the simulator
(``sim.model.workflow.GraphDraws``: duration, 429 draw and Retry-After of the k-th attempt of the
unit, k counted in the run's attempt log), so the real run and the simulated one face the same
failures. Every attempt writes a ``start`` and an ``end`` line to the run's attempt log (one JSON
object a line); an attempt killed with its worker has no ``end`` line, and the harness closes it
at the kill instant. Attempts heartbeat, so that Temporal itself notices a dead worker through
the heartbeat timeout.

* ``sim_unit``: one unit. A 429 fails the attempt after the response time with an
  ``ApplicationError`` whose ``next_retry_delay`` is max(Retry-After, back-off), the model's wait.
* ``sim_group``: a multi-step activity (a checkpoint group, or restart's activity of every step):
  its units run in this process as the graph says; a 429 (not retried in place) cancels the rest
  and fails the activity; ``retry_in_place`` retries the call inside the process instead. A wait
  inside it is a sleep in memory. Once the worker is shutting down (a deployment), it starts
  nothing new and fails as soon as nothing is in flight: its progress lives in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from typing import Any

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from sim.engines.fleet.streams import member_draws
from sim.model.scenario import RetryPolicy, load_scenario
from sim.model.strategies import backoff_s, heartbeat_attempt
from sim.model.workflow import Graph, GraphDraws, replication_draws
from sim.validate.attempt_log import AttemptLog

_SLOTS: dict[str, asyncio.Semaphore] = {}


@cache
def _graph(path: str) -> Graph:
    return Graph(load_scenario(path))


@cache
def _draws(path: str, seed: int, run: int, member: int | None = None) -> GraphDraws:
    """Replication ``run``'s draws, or in a fleet (``member`` = the workflow) that workflow's:
    the numbers ``sim.engines.fleet`` reads for it."""
    if member is None:
        return replication_draws(_graph(path), seed, run)
    return member_draws(_graph(path), seed, run, member)


def prepare(warm: dict[str, Any]) -> None:
    """Load the scenario and the draws a worker will read before it polls, so that an attempt's
    time in Temporal's history (Started to Completed) holds its sleep, not this process's set-up.
    ``warm``: ``{"scenario": path, "seed": seed, "draws": [[run, member or None], ...]}``."""
    for run, member in warm["draws"]:
        _draws(warm["scenario"], warm["seed"], run, member)


def _policy(p: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(initial_interval=p["initial_s"], backoff_coefficient=p["coefficient"],
                       maximum_interval=max(p["maximum_s"], p["initial_s"]), maximum_attempts=p["maximum_attempts"])


async def _sleep_heartbeating(real_s: float, every_real_s: float, details: tuple = ()) -> None:
    """Sleep ``real_s``, heartbeating (with ``details``: the step's saved progress, if any) every
    ``every_real_s``; the SDK sends them at most every 0.8 heartbeat timeouts."""
    end = time.monotonic() + real_s
    while True:
        activity.heartbeat(*details)
        left = end - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, every_real_s))


class RateLimited(Exception):
    """A call answered 429, with the Retry-After it carried (simulated s)."""

    def __init__(self, retry_after_s: float):
        self.retry_after_s = retry_after_s


async def _attempt(ctx: dict[str, Any], log: AttemptLog, i: int, j: int) -> None:
    """One attempt of unit (i, j); raises RateLimited on a 429."""
    g = _graph(ctx["scenario"])
    draws = _draws(ctx["scenario"], ctx["seed"], ctx["run"], ctx.get("member"))
    speed = ctx["speed"]
    k = log.attempts_of(i, j)
    log.write(e="start", i=i, j=j, k=k)
    try:
        if g.is_wait[i]:
            await _sleep_heartbeating(draws.duration(i, j, k) / speed, ctx["heartbeat_every_real_s"])
        elif draws.rate_limited(i, j, k):
            await _sleep_heartbeating(g.response_s / speed, ctx["heartbeat_every_real_s"])
            log.write(e="end", i=i, j=j, k=k, outcome="rate_limited")
            raise RateLimited(draws.retry_after(i, j, k))
        elif str(i) in ctx.get("saves", {}):
            await _saving_attempt(ctx, draws.duration(i, j, k), *ctx["saves"][str(i)])
        else:
            slot = _SLOTS.get(ctx["task_queue"])
            if slot is not None and ctx.get("group"):
                async with slot:
                    await _sleep_heartbeating(draws.duration(i, j, k) / speed, ctx["heartbeat_every_real_s"])
            else:
                await _sleep_heartbeating(draws.duration(i, j, k) / speed, ctx["heartbeat_every_real_s"])
    except asyncio.CancelledError:
        log.write(e="end", i=i, j=j, k=k, outcome="cancelled")
        raise
    log.write(e="end", i=i, j=j, k=k, outcome="completed")


async def _saving_attempt(ctx: dict[str, Any], work_s: float, every_s: float, cost_s: float) -> None:
    """An attempt of a step that saves its progress (the ``heartbeat`` strategy): after every
    ``every_s`` of work it spends ``cost_s`` writing a checkpoint and sends it as the heartbeat's
    details; a retry reads the last details Temporal received and resumes from there
    (``sim.model.strategies.heartbeat_attempt``: the work is drawn at the step's first attempt)."""
    speed, beat = ctx["speed"], ctx["heartbeat_every_real_s"]
    last = activity.info().heartbeat_details
    step_work, saved = (float(last[0]), float(last[1])) if len(last) >= 2 else (-1.0, 0.0)
    _length, saves, step_work = heartbeat_attempt(work_s, step_work, saved, every_s, cost_s)
    details = (step_work, saved)
    for _ in range(saves):
        await _sleep_heartbeating(every_s / speed, beat, details)
        await _sleep_heartbeating(cost_s / speed, beat, details)
        saved += every_s
        details = (step_work, saved)
        activity.heartbeat(*details)
    await _sleep_heartbeating((step_work - saved) / speed, beat, details)


def _wait_s(rl: RateLimited, policy: dict[str, Any], fails: int) -> float:
    """The model's wait before the retry after failure number ``fails``: max(Retry-After, back-off)."""
    return max(rl.retry_after_s, backoff_s(_policy(policy), fails, 0.0, 0.0))


def _fail_429(wait_s: float, speed: float) -> ApplicationError:
    return ApplicationError("HTTP 429 Too Many Requests", type="RateLimited",
                            next_retry_delay=timedelta(seconds=wait_s / speed))


@activity.defn(dynamic=True)
async def sim_activity(args: Sequence[RawValue]) -> None:
    """Every activity type (a step's name, or a group's): ``[context, units, kind]``."""
    convert = activity.payload_converter()
    ctx, units, kind = (convert.from_payload(a.payload) for a in args)
    if kind == "unit":
        await sim_unit(ctx, units)
    else:
        await sim_group(ctx, units)


async def sim_unit(ctx: dict[str, Any], units: list[list[int]]) -> None:
    (i, j), = units
    log = AttemptLog(ctx["log"])
    try:
        await _attempt(ctx, log, i, j)
    except RateLimited as rl:
        wait = _wait_s(rl, ctx["policies"][str(i)], activity.info().attempt)
        raise _fail_429(wait, ctx["speed"]) from None


async def sim_group(ctx: dict[str, Any], units: list[list[int]]) -> None:
    g = _graph(ctx["scenario"])
    log = AttemptLog(ctx["log"])
    ctx = {**ctx, "group": True}
    members = {i for i, _ in units}
    count = {i: sum(1 for u in units if u[0] == i) for i in members}
    finished = {i: asyncio.Event() for i in members}
    left = dict(count)
    limits = {i: asyncio.Semaphore(g.max_concurrency[i]) for i in members if g.max_concurrency[i]}
    in_flight = 0
    idle = asyncio.Event()
    fails_of: dict[tuple[int, int], int] = {}
    attempt = activity.info().attempt

    async def run_unit(i: int, j: int) -> None:
        nonlocal in_flight
        for p in g.preds[i]:
            if p in members:
                await finished[p].wait()
        sem = limits.get(i)
        if sem is not None:
            await sem.acquire()
        try:
            while True:
                if activity.is_worker_shutdown():
                    raise ApplicationError("the worker is shutting down: in-memory progress is lost",
                                           type="WorkerShutdown")
                in_flight += 1
                idle.clear()
                try:
                    await _attempt(ctx, log, i, j)
                    break
                except RateLimited as rl:
                    if not ctx["in_place_429"]:
                        raise _fail_429(_wait_s(rl, ctx["group_policy"], attempt), ctx["speed"]) from None
                    fails = fails_of[(i, j)] = fails_of.get((i, j), 0) + 1
                    pol = ctx["policies"][str(i)]
                    if pol["maximum_attempts"] and fails >= pol["maximum_attempts"]:
                        raise ApplicationError("retries exhausted", type="RateLimited", non_retryable=True) from None
                    await asyncio.sleep(_wait_s(rl, pol, fails) / ctx["speed"])
                finally:
                    in_flight -= 1
                    if in_flight == 0:
                        idle.set()
        finally:
            if sem is not None:
                sem.release()
        left[i] -= 1
        if left[i] == 0:
            finished[i].set()

    tasks = [asyncio.ensure_future(run_unit(i, j)) for i, j in sorted(units)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def set_slots(task_queue: str, slots: int | None) -> None:
    """Limit the attempts in flight of multi-step activities on this worker (single-step ones are
    limited by the worker's ``max_concurrent_activities``)."""
    if slots:
        _SLOTS[task_queue] = asyncio.Semaphore(slots)
