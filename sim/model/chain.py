"""The chain state machine: one run of a chain-shaped workflow, executed by both engines.

A chain runs its steps one after another on one worker at a time (docs/model.md, sections 1–2).
This module is the one place that holds its rules: attempt outcomes (completion, 429, crash,
deployment kill and drain, horizon), what a failure rolls back (the pipeline since the last
checkpoint, or a heartbeat step's unsaved segments), the retry back-off, and the accounting
(pending, useful and wasted compute and cost, history events, counts). It is the chain-shaped
special case of the workflow model (``sim.model.workflow``), written as a flat loop because it
runs 5× faster on chains; tests/test_workflow_graph.py checks on random chains that the two give
the same runs, number for number.

``chain_run`` is a generator that knows nothing of SimPy. It yields

* a float: the delay until its next event (the engine schedules a timeout and resumes it), or
* ``NEED_WORKER``: the run asks the worker pool for a worker and none is free; the engine
  answers with ``send(worker)`` once one is released to it.

The DES engine gives the run its own worker for the whole run (``worker``). The fleet engine
gives a ``pool`` instead: the run takes a worker when it starts or resumes with nothing held in
memory and returns it to the pool when a checkpoint, or a failure's roll back, leaves nothing
unrecorded in the worker's memory. The fleet may also give a shared ``provider`` (rate limits
and outages, ``sim.engines.fleet.provider``) and asks for ``schedule_to_close`` (a unit whose
retry would start later than its policy's ``schedule_to_close`` after it began is abandoned);
both are fleet-only (docs/fleet.md).

When the run ends it appends one row (``CHAIN_FIELDS``) to ``out``. With ``log`` (a list), every
attempt adds ``[step, attempt, start, end, outcome, useful]``; ``useful`` is set once the
attempt's result is part of a completed run.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from itertools import compress
from typing import Protocol

from sim.model.failures import (
    COMPLETED,
    CRASHED,
    CUT,
    INF,
    KILLED_BY_DEPLOY,
    OUTAGE,
    PREEMPTED,
    RATE_LIMITED,
    ReplicationEnv,
    Stream,
    Worker,
    worker_spec,
)
from sim.model.scenario import Scenario
from sim.model.spot import (
    SpotClock,
    notice_save_progress_s,
    preemption_spec,
    spot_plan,
    switch_to_on_demand,
)
from sim.model.strategies import (
    EVENTS_AT_START,
    EVENTS_PER_ACTIVITY,
    Behaviour,
    heartbeat_attempt,
    heartbeat_saves_done,
    heartbeat_settle,
)
from sim.model.time_prices import TIMER_EVENTS, step_prices
from sim.model.workflow import recorded_at_s, retry_policy, retry_wait_s

NEED_WORKER = object()  # yielded when the pool has no free worker; the engine sends one back

RUN_FIELDS = (
    "completed", "makespan_s", "compute_s", "useful_compute_s", "wasted_compute_s",
    "compute_cost_usd", "useful_cost_usd", "wasted_cost_usd", "unit_attempts", "history_events",
    "attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts", "heartbeats",
)
# a run's row: the runs table's fields, the run index, then what only the fleet reports
CHAIN_FIELDS = (*RUN_FIELDS, "run", "first_start_s", "cut_by_horizon", "queue_wait_s", "calls",
                "provider_429s", "outage_errors")
# spot capacity (``spot_out``): kills of spot instances that ran an attempt, and 1 if the run moved
# to on-demand capacity
SPOT_FIELDS = ("preemptions", "on_demand_fallbacks")


class Pool(Protocol):
    """The fleet's worker pool as the chain machine sees it."""

    def take(self, t: float) -> Worker | None: ...
    def release(self, worker: Worker) -> None: ...
    def now(self) -> float: ...


class ChainTable:
    """Per-step constants of a chain scenario that the run loop reads (one per scenario)."""

    def __init__(self, scenario: Scenario):
        steps = scenario.steps
        self.n = len(steps)
        self.is_gpu = [s.kind == "gpu" for s in steps]
        self.is_llm = [not g for g in self.is_gpu]
        self.rate_per_s = [scenario.step_price_per_s(s) if s.kind == "gpu" else 0.0 for s in steps]
        self.call_cost = [scenario.step_attempt_cost_usd(s) if s.kind == "llm" else 0.0 for s in steps]
        self.tokens = [float(s.input_tokens + s.output_tokens) for s in steps]
        self.retry = [s.retry for s in steps]
        self.uses_provider = [False] * self.n  # the fleet marks the steps that call its shared provider
        rl = scenario.failures.rate_limit
        self.p429 = rl.probability if rl is not None else 0.0
        self.response_s = rl.response_time_s if rl is not None else 0.0
        crash = scenario.failures.crash
        self.detect_s = crash.detection_delay_s if crash is not None else 0.0
        self.max_time_s = scenario.simulation.max_time_s
        self.n_llm = sum(1 for s in steps if s.kind == "llm")
        self.worker = worker_spec(scenario)
        self.sticky_s = scenario.temporal.sticky_schedule_to_start_timeout_s
        self.task_timeout_s = scenario.temporal.workflow_task_timeout_s
        self.plans: dict[str, tuple] = {}
        self.scenario = scenario
        self.preempt = preemption_spec(scenario.failures.preemption)
        self.spot_plans: dict[str, object] = {}
        # prices by time of day (sim.model.time_prices): each step's, and the steps each strategy pauses
        self.prices = step_prices(scenario)
        self.spot_prices = step_prices(scenario, spot=True)
        self.timed = any(p is not None for p in (*self.prices, *self.spot_prices))
        self.pauses: dict[str, tuple[bool, ...] | None] = {}

    def prepare(self, beh: Behaviour) -> None:
        """What a run of strategy ``beh`` reads, in one tuple (unpacked once per run): the
        scenario's constants, where progress is recorded, which steps heartbeat, and the strategy's."""
        hb = beh.heartbeat_intervals_s
        self.plans[beh.label] = (
            self.n, self.is_gpu, self.rate_per_s, self.call_cost, self.p429, self.max_time_s,
            [beh.is_checkpoint(i, self.n) for i in range(self.n)],
            [bool(hb) and hb[i] > 0.0 and gpu for i, gpu in enumerate(self.is_gpu)],
            beh.persist_latency_s, beh.records_history, beh.checkpoint_every == 1,
            hb, beh.heartbeat_costs_s, EVENTS_AT_START if beh.records_history else 0,
            EVENTS_AT_START * beh.persist_latency_s if beh.records_history else 0.0,
        )
        self.spot_plans[beh.label] = spot_plan(self.scenario, beh)
        names = self.scenario.step_names
        self.pauses[beh.label] = (tuple(name in beh.pause_for_off_peak for name in names)
                                  if beh.pause_for_off_peak else None)


def _draw(value: Stream | float, k: int) -> float:
    return value.get(k) if type(value) is Stream else value


def chain_run(tb: ChainTable, beh: Behaviour, renv: ReplicationEnv, out: list, worker: Worker | None = None,
              pool: Pool | None = None, provider: object | None = None, start_s: float = 0.0,
              schedule_to_close: bool = False, log: list | None = None, spot_out: list | None = None
              ) -> Generator[object, Worker | None, None]:
    """One strategy's run through one failure environment (``tb.prepare(beh)`` called before).

    Exactly one of ``worker`` (the run's own worker, DES) and ``pool`` (fleet) is given. The run
    starts at ``start_s`` (the fleet's arrival); its clock starts at ``pool.now()`` or 0.
    With ``spot_out`` (a list) the run appends (preemptions, moved to on-demand) to it.
    """
    (n, is_gpu, rate_per_s, call_cost, p429, max_t, checkpoint_after, hb_step, lat, records, step_level,
     hb, hb_cost, history, t) = tb.plans[beh.label]
    # heartbeat (per step): GPU step i saves its progress after every ``hb[i]`` of work (each save
    # takes ``hb_cost[i]`` of worker time); a retried step resumes from its last save
    rate_u, durations = renv.rate_u, renv.durations
    if provider is None:
        outages = None
        honor = False
    else:
        outages = provider.outages  # type: ignore[attr-defined]
        honor = provider.config.honor_retry_after  # type: ignore[attr-defined]
    # the run's clock mirrors the engine's: each resume after a delay d is at now + d
    now = 0.0 if pool is None else pool.now()
    t += start_s
    pos = ckpt = 0
    calls = [0] * n
    fails = retries = 0
    prev_sleep = 0.0
    unit_start = t
    pend_c = pend_cost = useful_c = useful_cost = waste_c = waste_cost = 0.0
    pend_log: list[int] = []
    unit_open = False
    unit_attempts = attempts = crashes = deploy_kills = limited = restarts = 0
    provider_429s = outage_errors = 0
    step_work = -1.0  # work of the current heartbeat step, drawn at its first attempt
    saved = kept_c = kept_cost = 0.0  # progress saved in the current step, its compute and cost
    heartbeats = saves = 0
    completed = cut = False
    finish = 0.0
    first_start = math.nan
    queue_wait = 0.0
    w = worker
    # the worker that ran the workflow's last workflow task (it caches the workflow) and when that
    # task started: a later crash loses the cache (``recorded_at_s``)
    cache_w, task_start = worker, 0.0
    lat6 = EVENTS_PER_ACTIVITY * lat
    # spot capacity (sim.model.spot): the run's spot instance, and whether it moved to on-demand
    splan = tb.spot_plans[beh.label]
    pspec = tb.preempt
    spot = SpotClock(pspec, renv.preempt) if splan is not None and pspec is not None else None
    on_demand = False
    od_ready = 0.0
    preemptions = 0
    live = False  # the current attempt runs on a spot instance that can be preempted
    notice_save = None  # the current attempt saves on a preemption notice (its save time)
    rate_i = 0.0
    spot_now = False  # the current attempt runs (and is billed) on spot capacity
    prices = tb.prices if tb.timed else None
    spot_prices = tb.spot_prices if tb.timed else None
    pauses = tb.pauses[beh.label]
    while True:
        if pauses is not None and pauses[pos]:
            # wait for the step's cheapest hours: a durable timer, or (restart) in the worker's memory
            on_spot_next = splan is not None and splan.on_spot[pos] and not on_demand  # type: ignore[attr-defined]
            daily = (spot_prices if on_spot_next else prices)[pos]  # type: ignore[index]
            resume = t if daily is None else daily.next_lowest(t)
            if resume > t:
                t = resume
                if records:
                    history += TIMER_EVENTS
                    unit_attempts += 1  # the timer is a billable action
        if w is None:
            # (fleet) nothing is held in memory: take a worker from the pool at t
            if t >= max_t:
                finish, cut = max_t, True
                break
            if t > now:
                d = t - now
                yield d
                now += d
            w = pool.take(now)  # type: ignore[union-attr]
            if w is None:
                w = yield NEED_WORKER
                now = pool.now()  # type: ignore[union-attr]
            if cache_w is None:  # (fleet) the workflow's first task ran on the first worker it takes
                cache_w, task_start = w, start_s
            s = w.acquire(now)[0]  # type: ignore[union-attr]
            lost_at, lost_cause = INF, COMPLETED
        elif t >= w.ready and w.next_crash > t and w.next_deploy > t:
            s, lost_at, lost_cause = t, INF, COMPLETED  # the common case, inlined: worker ready, nothing due
        else:
            s, lost_at, lost_cause = w.acquire(t)
        if splan is not None:
            # a step on spot waits for a live spot instance (or, after the fallback, the on-demand one)
            spot_now = splan.on_spot[pos] and not on_demand  # type: ignore[attr-defined]
            live = spot_now and spot is not None
            rate_i = splan.spot_rate_per_s[pos] if splan.on_spot[pos] and not on_demand else rate_per_s[pos]  # type: ignore[attr-defined]
            notice_save = splan.notice_save_s[pos] if live and is_gpu[pos] else None  # type: ignore[attr-defined]
            if notice_save is not None and notice_save > pspec.notice_s:  # type: ignore[union-attr]
                notice_save = None  # the save does not fit in the notice
            while True:
                if live:
                    s2 = spot.start(s)  # type: ignore[union-attr]
                elif splan.on_spot[pos] and on_demand and od_ready > s:  # type: ignore[attr-defined]
                    s2 = od_ready
                else:
                    s2 = s
                if s2 <= s:
                    break
                s, lost2, cause2 = w.acquire(s2)  # type: ignore[union-attr]
                if lost_at == INF:
                    lost_at, lost_cause = lost2, cause2
        else:
            rate_i = rate_per_s[pos]
        outcome = -1
        shut = False
        ra_provider = 0.0
        if lost_at < s and pos > ckpt:
            # the worker shut down while the pipeline waited in its memory: its progress is gone
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
            rl = rate_u[i]
            refused = rl is not None and rl.get(k) < p429  # a call answered 429 (or, fleet, refused)
            hb_attempt = ns_attempt = False
            if refused:
                dur = tb.response_s
                end, outcome, shut = w.resolve(s, s + dur)
                if outcome == COMPLETED:
                    outcome = RATE_LIMITED
            else:
                cut_at = INF  # (fleet) an outage beginning during the call ends it
                if provider is not None and tb.uses_provider[i]:
                    if s > now:  # the provider's state is read at the call's instant
                        d = s - now
                        yield d
                        now += d
                    if outages is not None and outages.down_until(s) > s:
                        refused, refusal = True, OUTAGE
                    elif (ra_provider := provider.admit(s, tb.tokens[i])) > 0.0:  # type: ignore[attr-defined]
                        refused, refusal = True, RATE_LIMITED
                    elif outages is not None:
                        cut_at = outages.next_start(s)
                if refused:
                    dur = provider.response_s  # type: ignore[union-attr]
                    end, outcome, shut = w.resolve(s, s + dur)
                    if outcome == COMPLETED:
                        outcome = refusal
                        if refusal == RATE_LIMITED:
                            provider_429s += 1
                else:
                    dur = durations[i]
                    if type(dur) is Stream:
                        dur = dur.get(k)
                    if hb_step[i]:
                        hb_attempt = True
                        length, saves, step_work = heartbeat_attempt(dur, step_work, saved, hb[i], hb_cost[i])
                        end = s + length
                    elif notice_save is not None or step_work >= 0.0:
                        # a step that saves on notice keeps its work (drawn at its first attempt)
                        # until it completes, whatever capacity its later attempts run on
                        ns_attempt = True
                        if step_work < 0.0:
                            step_work = dur
                        saves = 0
                        end = s + step_work - saved
                    else:
                        end = s + dur
                    if live and spot.kill < end:  # type: ignore[union-attr]
                        # the spot instance is killed first, unless the worker fails before
                        end, outcome, shut = w.resolve(s, spot.kill)  # type: ignore[union-attr]
                        if outcome == COMPLETED:
                            outcome = PREEMPTED
                    elif cut_at < end:
                        end, outcome, shut = w.resolve(s, cut_at)
                        if outcome == COMPLETED:
                            outcome = OUTAGE
                    elif w.next_crash >= end and w.next_deploy >= end:
                        outcome = COMPLETED  # no failure before the end, inlined
                    else:
                        end, outcome, shut = w.resolve(s, end)
            if end > max_t:
                end = max_t
                outcome = CUT
            if end > now:
                d = end - now
                yield d
                now += d
            if log is not None:
                log.append([i, k, s, end, outcome, False])
            elapsed = end - s
            daily = None if prices is None else (spot_prices if spot_now else prices)[i]  # type: ignore[index]
            if is_gpu[i]:
                cost = elapsed * rate_i if daily is None else rate_i * daily.integral(s, end)
            elif outcome == COMPLETED:
                cost = call_cost[i] if daily is None else call_cost[i] * daily.multiplier(s)
            elif refused or outcome == OUTAGE or dur <= 0:  # a refused call costs nothing
                cost = 0.0
            else:
                cost = call_cost[i] * elapsed / dur * (1.0 if daily is None else daily.multiplier(s))
            if outcome == CUT:
                waste_c += elapsed + kept_c
                waste_cost += cost + kept_cost
                kept_c = kept_cost = 0.0
                finish, cut = max_t, True
                break
            if outcome == PREEMPTED and notice_save is not None and elapsed > notice_save:
                # the notice's save: the work done until the save began survives (with the time
                # of the periodic saves before it); the save and what came after it are lost
                every = hb[i] if hb_attempt else 0.0
                x = elapsed - notice_save
                saved += notice_save_progress_s(elapsed, notice_save, every, hb_cost[i], saves)
                heartbeats += 1 + (heartbeat_saves_done(x, saves, every, hb_cost[i]) if hb_attempt else 0)
                kept_c += x
                kept_cost += x * rate_i
                elapsed -= x
                cost -= x * rate_i
            elif hb_attempt:  # a heartbeat attempt: its completed saves survive a failure
                sent, elapsed, cost, saved, kept_c, kept_cost = heartbeat_settle(
                    outcome == COMPLETED, elapsed, cost, saves, saved, kept_c, kept_cost, hb[i], hb_cost[i],
                    rate_i)
                heartbeats += sent
                if outcome == COMPLETED:
                    step_work = -1.0
            elif ns_attempt and outcome == COMPLETED:
                # the segments kept from earlier attempts join the completed attempt
                elapsed += kept_c
                cost += kept_cost
                saved = kept_c = kept_cost = 0.0
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
                            log[j][5] = True
                        pend_log.clear()
                    ckpt = pos
                    fails = 0
                    prev_sleep = 0.0
                    unit_open = False
                    if records:
                        lost = cache_w.last_crash > task_start  # type: ignore[union-attr]
                        t, extra, task_start = recorded_at_s(end, lost, w.next_crash, tb.sticky_s,
                                                             tb.task_timeout_s, lat6)
                        history += EVENTS_PER_ACTIVITY + extra
                        cache_w = w
                    else:
                        t = end
                    if pool is not None:
                        pool.release(w)
                        w = None
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
        elif outcome == PREEMPTED:
            preemptions += 1
            notice = end  # the notice told the orchestrator
            spot.preempted(end)  # type: ignore[union-attr]
        else:
            limited += 1
            notice = end
        # an in-process retry survives a 429 (or an outage), unless the worker shut down right after it
        in_place = (outcome == RATE_LIMITED or outcome == OUTAGE) and beh.retry_429_in_place and not shut
        policy = retry_policy(beh, tb.retry[i], in_place)
        if not in_place:
            waste_c += pend_c
            waste_cost += pend_cost
            pend_c = pend_cost = 0.0
            pend_log.clear()
            if ckpt == 0 and not step_level:
                restarts += 1
            pos = ckpt
            unit_open = False
        if outcome == PREEMPTED and switch_to_on_demand(
                splan, pspec, preemptions, end,  # type: ignore[arg-type]
                sum(splan.work_s[pos:]) - (saved if pos == i else 0.0)):  # type: ignore[attr-defined]
            on_demand = True
            od_ready = end + pspec.on_demand_start_s  # type: ignore[union-attr]
        if pool is not None and pos == ckpt:
            pool.release(w)  # type: ignore[arg-type]
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
        if schedule_to_close:
            stc = policy.schedule_to_close_s
            if stc is not None and t - unit_start > stc:
                finish = notice
                break
    if pool is not None and w is not None:
        pool.release(w)
    if not completed:
        waste_c += pend_c + useful_c + kept_c
        waste_cost += pend_cost + useful_cost + kept_cost
        useful_c = useful_cost = 0.0
        if log is not None:
            for entry in log:
                entry[5] = False
        if records:
            history += EVENTS_PER_ACTIVITY
    if pool is not None and finish > now:
        # (fleet) the workflow holds its place until it ends; the DES adds the last stretch (the
        # final history events, which touch nothing else) to the makespan without an event
        yield finish - now
    n_calls = sum(compress(calls, tb.is_llm)) if tb.n_llm else 0
    if spot_out is not None:
        spot_out.append((preemptions, int(on_demand)))
    out.append((completed, finish, useful_c + waste_c, useful_c, waste_c, useful_cost + waste_cost,
                useful_cost, waste_cost, unit_attempts, history, attempts, crashes, deploy_kills,
                limited, restarts, heartbeats, renv.run, first_start, cut, queue_wait, n_calls,
                provider_429s, outage_errors))
