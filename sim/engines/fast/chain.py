"""The vectorised fast path for chains: the same model as the DES engine, stepped in lock-step with numpy.

Where pipelines do not interact (one pipeline on its own worker), a replication is a small
state machine: acquire the worker, run an attempt until it completes or a crash, deployment or
429 stops it, then roll back and wait. This module advances that state machine for a whole chunk
of replications at once, with the rules of ``sim.engines.des.run_process`` and
``sim.model.failures.Worker`` written over arrays:

1. a first pass finishes every run that completes at the first try with no failure (most of
   them), from draws shared by every strategy (``_first_attempts``, ``_clean_pass``);
2. the other runs go through an event loop in compact arrays: each round completes all their
   clean steps at once (``_Run.advance``), then takes each run through the one event that
   stopped it (``_Run.step``); the last few runs are finished by the engine's own run logic;
3. except in crash-only scenarios with fixed durations (``_crash_only``), where ``_CrashLoop``
   sweeps each run through all its remaining steps in one round per failure.

Results are written in place into the caller's zero-filled columns (``run_into``).

It reads the very same random numbers as the engine: every draw is a pure function of (seed,
replication, source, index) (``sim.model.rng``), which numpy evaluates by random access. So it is
exact, not an approximation: run by run it agrees with the engine up to floating-point rounding
(``tests/test_fastpath.py`` checks each run, and the means and distributions statistically).

Not covered (the engine is used instead): heartbeat checkpoints inside steps, and the per-attempt
event log.
"""

from __future__ import annotations

import numpy as np

from sim.engines.fast.common import _LANE, _POOL, CUT, INF, _backoff, _Chunk, _Draws, _policy_arrays  # noqa: F401
from sim.model.failures import (
    COMPLETED,
    CRASHED,
    KILLED_BY_DEPLOY,
    RATE_LIMITED,
    Worker,
    build_environments,
)
from sim.model.rng import hashed_uniforms, index_hashes
from sim.model.scenario import Scenario
from sim.model.spot import spot_reason
from sim.model.strategies import EVENTS_AT_START, EVENTS_PER_ACTIVITY, Behaviour, behaviour
from sim.model.workflow import STICKY_TIMEOUT_EVENTS, TASK_TIMEOUT_EVENTS

SUB_CHUNK = 16384  # first pass: runs per block when first attempts differ by run (random durations, 429s)
BLOCK = 65536  # first pass: runs per block otherwise (a few arrays per block only)
LOOP_BATCH = 32768  # runs that meet a failure, stepped together in compact arrays (cache-sized)
CLEAN_FIELDS = ("completed", "makespan_s", "compute_s", "useful_compute_s", "compute_cost_usd", "useful_cost_usd",
                "unit_attempts", "history_events", "attempts")  # what the first pass writes (the rest stay 0)
_COMPUTE_FIELDS = ("compute_s", "compute_cost_usd")  # useful + wasted (``_derive_compute``)
CRASH_BATCH = 32768  # crash-only scenarios: at most this many runs stepped together (the window of _CrashLoop)
TAIL = 16  # fewer unfinished runs than this: numpy's per-call overhead loses to the engine


def why_not(scenario: Scenario) -> str | None:
    """Why this executor cannot run this chain (None if it can)."""
    for label, config in scenario.strategies.items():
        if behaviour(label, config).heartbeat_every_s > 0:
            return f"strategy '{label}' saves progress inside steps (heartbeats): only the DES engine models that"
    return spot_reason(scenario)


class _Run:
    """The state of one strategy's runs over a chunk (arrays of the chunk's size)."""

    def __init__(self, c: _Chunk, beh: Behaviour):
        size, n = c.size, c.n
        self.c, self.beh = c, beh

        def zeros() -> np.ndarray:
            return np.zeros(size)

        def counts() -> np.ndarray:
            return np.zeros(size, dtype=np.int64)

        lat = beh.persist_latency_s
        self.t = np.full(size, EVENTS_AT_START * lat if beh.records_history else 0.0)
        self.history = np.full(size, EVENTS_AT_START if beh.records_history else 0, dtype=np.int64)
        self.pos, self.ckpt, self.fails, self.retries = counts(), counts(), counts(), counts()
        # attempts per step, the index of each attempt's draws; kept exact only when the chunk has
        # per-attempt draws (c.per_attempt_draws), the only case where an attempt index is read
        self.calls = np.zeros((size, n), dtype=np.int64)
        self.prev_sleep = zeros()
        for name in ("pend_c", "pend_cost", "useful_c", "useful_cost", "waste_c", "waste_cost", "finish"):
            setattr(self, name, zeros())
        self.unit_open = np.zeros(size, dtype=bool)
        for name in ("unit_attempts", "attempts", "crashes", "deploy_kills", "limited", "restarts"):
            setattr(self, name, counts())
        # the worker's last crash, and when the workflow's last workflow task started (a crash since
        # then lost the workflow's cache: ``sim.model.workflow.recorded_at_s``)
        self.last_crash, self.task_start = np.full(size, -INF), zeros()
        self.completed = np.zeros(size, dtype=bool)
        self.done = np.zeros(size, dtype=bool)
        # the worker
        self.ready = zeros()
        self.j = counts()
        self.m = counts()
        rows = np.arange(size)
        first = counts()
        if c.crash is not None:
            self.next_crash = c.crash(rows, first)
            self.j += 1
        else:
            self.next_crash = np.full(size, INF)
        self.phase = zeros()
        if c.deploy_mode is None:
            self.next_deploy = np.full(size, INF)
        elif c.deploy_mode == "scheduled":
            self.next_deploy = np.full(size, c.at[0])
        elif c.deploy_mode == "periodic":
            self.phase = c.deploy(rows, first) * c.every
            self.next_deploy = self.phase.copy()
        else:
            self.next_deploy = c.deploy(rows, first)
        self.checkpoint_after = np.array([beh.is_checkpoint(i, n) for i in range(n)])
        self.step_level = beh.checkpoint_every == 1
        self.step_policy = _policy_arrays(c.step_policies)
        self.step_policy_same = all(p == c.step_policies[0] for p in c.step_policies)
        pipe = beh.pipeline_retry
        self.pipe_policy = None if pipe is None else _policy_arrays([pipe])

    # ---------------------------------------------------------------- the worker, over rows
    def _new_life(self, rows: np.ndarray) -> None:
        c = self.c
        if c.crash is None or rows.size == 0:
            return
        if c.renew:
            self.next_crash[rows] = self.ready[rows] + c.crash(rows, self.j[rows])
            self.j[rows] += 1
            return
        while rows.size:
            rows = rows[self.next_crash[rows] <= self.ready[rows]]
            if rows.size == 0:
                return
            self.next_crash[rows] += c.crash(rows, self.j[rows])
            self.j[rows] += 1

    def _advance_deploy(self, rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        c = self.c
        self.m[rows] += 1
        if c.deploy_mode == "scheduled":
            self.next_deploy[rows] = c.at[np.minimum(self.m[rows], len(c.at) - 1)]
        elif c.deploy_mode == "periodic":
            self.next_deploy[rows] = self.phase[rows] + self.m[rows] * c.every
        else:
            self.next_deploy[rows] += c.deploy(rows, self.m[rows])

    def _crash_restart(self, rows: np.ndarray, at: np.ndarray) -> None:
        self.last_crash[rows] = at
        self.ready[rows] = at + self.c.restart_crash
        self._new_life(rows)

    def _acquire(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Worker.acquire over rows: (start, first idle shutdown time, its cause)."""
        s = np.maximum(self.t[rows], self.ready[rows])
        lost_at = np.full(rows.size, INF)
        cause = np.zeros(rows.size, dtype=np.int64)
        pending = np.arange(rows.size)
        while pending.size:
            r = rows[pending]
            c, d, sp = self.next_crash[r], self.next_deploy[r], s[pending]
            crash_now = (c <= sp) & (c <= d)
            deploy_now = ~crash_now & (d <= sp)
            busy = crash_now | deploy_now
            if not busy.any():
                break
            k = pending[crash_now]
            if k.size:
                first = lost_at[k] == INF
                lost_at[k[first]] = c[crash_now][first]
                cause[k[first]] = CRASHED
                self._crash_restart(rows[k], c[crash_now])
                s[k] = np.maximum(s[k], self.ready[rows[k]])
            k = pending[deploy_now]
            if k.size:
                dk = d[deploy_now]
                live = dk >= self.ready[rows[k]]
                kl = k[live]
                first = lost_at[kl] == INF
                lost_at[kl[first]] = dk[live][first]
                cause[kl[first]] = KILLED_BY_DEPLOY
                self.ready[rows[kl]] = dk[live] + self.c.restart_deploy
                self._new_life(rows[kl])
                s[kl] = np.maximum(s[kl], self.ready[rows[kl]])
                self._advance_deploy(rows[k])
            pending = pending[busy]
        return s, lost_at, cause

    def _resolve(self, rows: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Worker.resolve over rows: (stop time, outcome, shutdown after a completion)."""
        c, d = self.next_crash[rows], self.next_deploy[rows]
        drain_end = d + self.c.drain
        dep_first = (d < end) & (d < c)
        in_drain = dep_first & (end <= drain_end) & (c >= end)
        crash_drain = dep_first & ~in_drain & (c < drain_end)
        killed = dep_first & ~in_drain & ~crash_drain
        crash_plain = ~dep_first & (c < end)
        stop = end.copy()
        outcome = np.full(rows.size, COMPLETED, dtype=np.int64)
        rd = self.c.restart_deploy
        if in_drain.any():
            r = rows[in_drain]
            self.ready[r] = end[in_drain] + rd
            self._new_life(r)
            self._advance_deploy(r)
        if crash_drain.any():
            r = rows[crash_drain]
            self._advance_deploy(r)
            self._crash_restart(r, c[crash_drain])
            stop[crash_drain] = c[crash_drain]
            outcome[crash_drain] = CRASHED
        if killed.any():
            r = rows[killed]
            self._advance_deploy(r)
            self.ready[r] = drain_end[killed] + rd
            self._new_life(r)
            stop[killed] = drain_end[killed]
            outcome[killed] = KILLED_BY_DEPLOY
        if crash_plain.any():
            r = rows[crash_plain]
            self._crash_restart(r, c[crash_plain])
            stop[crash_plain] = c[crash_plain]
            outcome[crash_plain] = CRASHED
        return stop, outcome, in_drain

    def _recorded_at(self, rows: np.ndarray, end: np.ndarray, mask: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """``sim.model.workflow.recorded_at_s`` over ``rows`` (completions at ``end``): when the
        workflow task that records each ends, and the history events it adds. Updates when the
        last workflow task started for the rows in ``mask`` (all when None)."""
        c = self.c
        lat6 = EVENTS_PER_ACTIVITY * self.beh.persist_latency_s
        lost = (self.last_crash[rows] > self.task_start[rows]) & (c.sticky_s > 0.0)
        start = np.where(lost, end + c.sticky_s, end)
        t = start + lat6
        nc = self.next_crash[rows]
        held = (start < nc) & (nc <= t) & (c.task_timeout_s > 0.0)
        if held.any():
            start = np.where(held, start + c.task_timeout_s, start)
            t = np.where(held, start + lat6, t)
        extra = STICKY_TIMEOUT_EVENTS * lost + TASK_TIMEOUT_EVENTS * held
        if mask is None:
            self.task_start[rows] = start
        else:
            self.task_start[rows[mask]] = start[mask]
        return t, extra

    # ---------------------------------------------------------------- steps that meet no failure
    def advance(self, rows: np.ndarray) -> None:
        """Complete, for each of ``rows``, every step that meets no failure, up to the first event
        that is not a clean completion (left to ``step``) or the end of the pipeline.

        A clean completion of step i: the worker is free at dispatch (no crash or deployment due,
        start = max(t, ready) before the horizon), no 429, and the attempt ends before the next
        crash and deployment and within the horizon. The arithmetic is ``step``'s, operation for
        operation, so runs finish with the same numbers as one event per iteration would give.
        """
        c, beh = self.c, self.beh
        if rows.size == 0:
            return
        # the rows' state, gathered once into compact arrays and updated with masks
        pos, ckpt, t, ready = self.pos[rows], self.ckpt[rows], self.t[rows], self.ready[rows]
        # the first instant anything is due: a crash, a deployment or the horizon
        due = np.minimum(np.minimum(self.next_crash[rows], self.next_deploy[rows]), c.max_t)
        # attempt counters index the per-attempt draws (durations, 429s); without any they are not kept
        calls = self.calls[rows] if self.c.per_attempt_draws else None
        unit_open, history = self.unit_open[rows], self.history[rows]
        pend_c, pend_cost = self.pend_c[rows], self.pend_cost[rows]
        useful_c, useful_cost = self.useful_c[rows], self.useful_cost[rows]
        attempts, unit_attempts = self.attempts[rows], self.unit_attempts[rows]
        moving = np.ones(rows.size, dtype=bool)
        committed = np.zeros(rows.size, dtype=bool)
        for i in range(c.n):
            at = moving & (pos == i)
            if not at.any():
                continue
            s = np.maximum(t, ready)
            if c.random_duration[i]:
                dur = np.zeros(rows.size)
                dur[at] = c.duration_ppf[i](c.dur_draws(rows[at], calls[at, i], i))
            else:
                dur = c.fixed_duration[i]
            end = s + dur
            # free at dispatch (nothing due at s, s before the horizon), done before anything is due
            ok = at & (due > s) & (due >= end)
            if c.limited[i] and c.rate_u is not None:
                cand = np.flatnonzero(ok)
                ok[cand] = c.rate_u(rows[cand], calls[cand, i], i) >= c.p429
            moving &= ~at | ok
            if calls is not None:
                calls[:, i] += ok
            unit_attempts += ok & ~unit_open
            attempts += ok
            elapsed = end - s
            np.add(pend_c, elapsed, out=pend_c, where=ok)
            np.add(pend_cost, elapsed * c.rate_per_s[i] if c.is_gpu[i] else c.call_cost[i], out=pend_cost, where=ok)
            pos += ok
            if self.checkpoint_after[i]:
                np.add(useful_c, pend_c, out=useful_c, where=ok)
                np.add(useful_cost, pend_cost, out=useful_cost, where=ok)
                np.copyto(pend_c, 0.0, where=ok)
                np.copyto(pend_cost, 0.0, where=ok)
                np.copyto(ckpt, i + 1, where=ok)
                committed |= ok
                unit_open &= ~ok
                if beh.records_history:
                    t_rec, extra = self._recorded_at(rows, end, ok)
                    history += (EVENTS_PER_ACTIVITY + extra) * ok
                    np.copyto(t, t_rec, where=ok)
                else:
                    np.copyto(t, end, where=ok)
            else:
                unit_open |= ok
                np.copyto(t, end, where=ok)
        self.pos[rows], self.ckpt[rows], self.t[rows] = pos, ckpt, t
        if calls is not None:
            self.calls[rows] = calls
        self.unit_open[rows], self.history[rows], self.pend_c[rows], self.pend_cost[rows] = unit_open, history, pend_c, pend_cost
        self.useful_c[rows], self.useful_cost[rows] = useful_c, useful_cost
        self.attempts[rows], self.unit_attempts[rows] = attempts, unit_attempts
        r = rows[committed]
        self.fails[r] = 0
        self.prev_sleep[r] = 0.0
        fin = pos == c.n
        r = rows[fin]
        self.completed[r] = True
        self.finish[r] = t[fin]
        self.done[r] = True

    # ---------------------------------------------------------------- one event per active run
    def step(self, rows: np.ndarray) -> None:
        c, beh = self.c, self.beh
        s, lost_at, lost_cause = self._acquire(rows)
        pos = self.pos[rows]
        lost = (lost_at < s) & (pos > self.ckpt[rows])
        horizon = ~lost & (s >= c.max_t)
        attempt = ~lost & ~horizon
        if horizon.any():
            r = rows[horizon]
            self.finish[r] = c.max_t
            self.done[r] = True
        # failure bookkeeping collected for lost and failed attempts
        f_rows = [rows[lost]]
        f_end = [lost_at[lost]]
        f_out = [lost_cause[lost]]
        f_k = [np.full(int(lost.sum()), -1, dtype=np.int64)]
        f_shut = [np.zeros(int(lost.sum()), dtype=bool)]
        f_i = [pos[lost]]
        if attempt.any():
            r = rows[attempt]
            sa = s[attempt]
            i = self.pos[r]
            k = self.calls[r, i]
            self.calls[r, i] = k + 1
            opening = ~self.unit_open[r]
            self.unit_open[r] = True
            self.unit_attempts[r] += opening
            self.attempts[r] += 1
            limited = np.zeros(r.size, dtype=bool)
            if c.rate_u is not None:
                cand = c.limited[i]
                if cand.any():
                    limited[cand] = c.rate_u(r[cand], k[cand], i[cand]) < c.p429
            dur = c.fixed_duration[i].copy()
            for step_index, is_random in enumerate(c.random_duration):
                if is_random:
                    sel = (i == step_index) & ~limited
                    if sel.any():
                        dur[sel] = c.duration_ppf[step_index](c.dur_draws(r[sel], k[sel], step_index))
            dur[limited] = c.response_s
            end, outcome, shut = self._resolve(r, sa, sa + dur)
            outcome[limited & (outcome == COMPLETED)] = RATE_LIMITED
            cut = end > c.max_t
            end[cut] = c.max_t
            outcome[cut] = CUT
            elapsed = end - sa
            gpu = c.is_gpu[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                partial = np.where(dur > 0, c.call_cost[i] * elapsed / dur, 0.0)
            cost = np.where(gpu, elapsed * c.rate_per_s[i],
                            np.where(outcome == COMPLETED, c.call_cost[i],
                                     np.where(limited | (dur <= 0), 0.0, partial)))
            # cut by the horizon: wasted, and the run ends
            if cut.any():
                rc = r[cut]
                self.waste_c[rc] += elapsed[cut]
                self.waste_cost[rc] += cost[cut]
                self.finish[rc] = c.max_t
                self.done[rc] = True
            ok = outcome == COMPLETED
            if ok.any():
                ro, io = r[ok], i[ok]
                self.pend_c[ro] += elapsed[ok]
                self.pend_cost[ro] += cost[ok]
                self.pos[ro] = io + 1
                ck = self.checkpoint_after[io]
                rk = ro[ck]
                if rk.size:
                    self.useful_c[rk] += self.pend_c[rk]
                    self.useful_cost[rk] += self.pend_cost[rk]
                    self.pend_c[rk] = 0.0
                    self.pend_cost[rk] = 0.0
                    self.ckpt[rk] = self.pos[rk]
                    self.fails[rk] = 0
                    self.prev_sleep[rk] = 0.0
                    self.unit_open[rk] = False
                    if beh.records_history:
                        t_rec, extra = self._recorded_at(rk, end[ok][ck], None)
                        self.history[rk] += EVENTS_PER_ACTIVITY + extra
                        self.t[rk] = t_rec
                    else:
                        self.t[rk] = end[ok][ck]
                    fin = self.pos[rk] == c.n
                    rf = rk[fin]
                    self.completed[rf] = True
                    self.finish[rf] = self.t[rf]
                    self.done[rf] = True
                on = ~ck & ~shut[ok]
                self.t[ro[on]] = end[ok][on]
                gone = ~ck & shut[ok]  # a drained deployment ended the process: in-memory progress lost
                f_rows.append(ro[gone])
                f_end.append(end[ok][gone])
                f_out.append(np.full(int(gone.sum()), KILLED_BY_DEPLOY, dtype=np.int64))
                f_k.append(k[ok][gone])
                f_shut.append(np.zeros(int(gone.sum()), dtype=bool))
                f_i.append(io[gone])
            bad = ~ok & ~cut
            if bad.any():
                rb = r[bad]
                self.waste_c[rb] += elapsed[bad]
                self.waste_cost[rb] += cost[bad]
                f_rows.append(rb)
                f_end.append(end[bad])
                f_out.append(outcome[bad])
                f_k.append(k[bad])
                f_shut.append(shut[bad])
                f_i.append(i[bad])
        fr = np.concatenate(f_rows)
        if fr.size:
            self._fail(fr, np.concatenate(f_end), np.concatenate(f_out), np.concatenate(f_k), np.concatenate(f_shut),
                       np.concatenate(f_i))

    def _fail(self, r: np.ndarray, end: np.ndarray, outcome: np.ndarray, k: np.ndarray, shut: np.ndarray,
              i: np.ndarray) -> None:
        """A failure of step ``i`` (attempt index ``k``, −1 when none was running)."""
        c, beh = self.c, self.beh
        crashed = outcome == CRASHED
        self.crashes[r] += crashed
        self.deploy_kills[r] += outcome == KILLED_BY_DEPLOY
        rl = outcome == RATE_LIMITED
        self.limited[r] += rl
        notice = np.where(crashed, end + c.detect_s, end)
        in_place = rl & beh.retry_429_in_place & ~shut
        use_step = in_place | self.step_level | (self.pipe_policy is None)
        if self.step_policy_same:  # every step has the same policy: scalars, no gathers
            base, coef, cap, max_att, code = (a[0] for a in self.step_policy)
        else:
            base, coef, cap, max_att, code = (a[i] for a in self.step_policy)
        if self.pipe_policy is not None:
            pb, pc, pcap, pmax, pcode = self.pipe_policy
            base = np.where(use_step, base, pb[0])
            coef = np.where(use_step, coef, pc[0])
            cap = np.where(use_step, cap, pcap[0])
            max_att = np.where(use_step, max_att, pmax[0])
            code = np.where(use_step, code, pcode[0])
        back = r[~in_place]
        if back.size:
            self.waste_c[back] += self.pend_c[back]
            self.waste_cost[back] += self.pend_cost[back]
            self.pend_c[back] = 0.0
            self.pend_cost[back] = 0.0
            if not self.step_level:
                self.restarts[back] += self.ckpt[back] == 0
            self.pos[back] = self.ckpt[back]
            self.unit_open[back] = False
        self.fails[r] += 1
        give_up = (max_att > 0) & (self.fails[r] >= max_att)
        if give_up.any():
            rg = r[give_up]
            self.finish[rg] = notice[give_up]
            self.done[rg] = True
        go = ~give_up
        r, notice, k, rl, i = r[go], notice[go], k[go], rl[go], i[go]
        base, coef, cap, code = (x[go] if np.ndim(x) else x for x in (base, coef, cap, code))
        u = c.jitter(r, self.retries[r]) if c.jitter is not None else np.zeros(r.size)
        self.retries[r] += 1
        wait = _backoff(base, coef, cap, self.fails[r], code, u, self.prev_sleep[r])
        self.prev_sleep[r] = wait
        with_ra = rl & (k >= 0)
        if with_ra.any():
            if c.retry_after is not None:
                ra = c.retry_after(r[with_ra], k[with_ra], i[with_ra])
            else:
                ra = np.full(int(with_ra.sum()), c.retry_after_fixed)
            wait[with_ra] = np.maximum(wait[with_ra], ra)
        self.t[r] = notice + wait

    def finish_up(self) -> dict[str, np.ndarray]:
        lost = ~self.completed
        self.waste_c[lost] += self.pend_c[lost] + self.useful_c[lost]
        self.waste_cost[lost] += self.pend_cost[lost] + self.useful_cost[lost]
        self.useful_c[lost] = 0.0
        self.useful_cost[lost] = 0.0
        if self.beh.records_history:
            self.history[lost] += EVENTS_PER_ACTIVITY
        return {
            "completed": self.completed, "makespan_s": self.finish, "compute_s": self.useful_c + self.waste_c,
            "useful_compute_s": self.useful_c, "wasted_compute_s": self.waste_c,
            "compute_cost_usd": self.useful_cost + self.waste_cost, "useful_cost_usd": self.useful_cost,
            "wasted_cost_usd": self.waste_cost, "unit_attempts": self.unit_attempts, "history_events": self.history,
            "attempts": self.attempts, "crashes": self.crashes, "deploy_kills": self.deploy_kills,
            "rate_limited": self.limited, "pipeline_restarts": self.restarts,
            "heartbeats": np.zeros(self.c.size, dtype=np.int64),
        }


# ---------------------------------------------------------------- crash-only scenarios
def _crash_only(c: _Chunk) -> bool:
    """Worker crashes (renewed with each new worker) are the only failures, durations are fixed and
    no retry is jittered: the case ``_CrashLoop`` takes."""
    return (c.crash is not None and c.renew and c.deploy_mode is None and c.rate_u is None
            and not any(c.random_duration) and c.jitter is None)


def _temporal_recovery(c: _Chunk, beh: Behaviour) -> bool:
    """Does Temporal's workflow-task recovery after a crash (``sim.model.workflow.recorded_at_s``:
    the sticky timeout, a task held by a crashed worker) change this strategy's runs? ``_CrashLoop``
    does not model it; ``_Run`` does."""
    return beh.records_history and (c.sticky_s > 0.0 or (c.task_timeout_s > 0.0 and beh.persist_latency_s > 0.0))


# rows of ``_CrashLoop``'s two state matrices (one per dtype: dropping the runs that finished is
# one ``take`` per matrix, not one per field); the last rows are kept only where they are needed
_T, _READY, _NEXT_CRASH, _WASTE, _WASTE_COST, _USEFUL, _USEFUL_COST, _AT_STOP, _PEND, _PEND_COST = range(10)
_ROW, _KEY, _J, _CKPT, _CRASHES, _STOP, _FAILS, _REDONE, _RESTARTS = range(9)
_NONE_FRESH = 1 << 62  # ``_CrashLoop.fresh_from`` when no run was admitted since the last round
_COUNT_BY_COMPARING = 16  # pipelines of at most this many steps: a fresh run's stop is counted by comparisons


class _CrashLoop:
    """The runs that meet a crash, in crash-only scenarios: one vectorised round per failure.

    Under crashes alone, once a run is dispatched its timeline is fixed until the next crash:
    each step ends ``duration`` after it starts, each checkpoint adds the persistence latency.
    So a round sweeps every run through all its remaining steps at once, without masks: one
    row per step of a few small matrices (the step's start, the work committed and pending
    before it, and their cost), computed for every run whatever its position (a step before a
    run's checkpoint lasts 0 s and changes no number). The first step the next crash cuts short
    is then read off, and the failure is settled at once (rollback, backoff, the new worker).
    One round per failure, where ``_Run`` needs an advance and a step per event; no run is
    handed to the engine.

    A round costs a few dozen numpy calls, each over the runs still in it; so

    * runs are stepped in one window of at most ``width`` runs, refilled from the queue of runs
      not yet started whenever it is half empty: the rounds where only a few runs with many
      failures are left (each costing the calls, whatever their size) come once per strategy,
      not once per batch;
    * the runs that finish are written out and dropped first; every run left has then crashed,
      and its crash is settled over whole arrays, with no subset gathered or scattered (the rare
      run whose crash falls between two units is put back as it was);
    * the state is two matrices, one per dtype, so dropping runs is one ``take`` per row; a run's
      own entries of the sweep are ``take``\\ s from the flattened matrices; runs admitted are
      written after the runs under way, which keep their columns (rows have a fixed stride);
    * counts that follow from others are not kept: a run's unit attempts are the units before
      its checkpoint plus its crashes, its attempts the steps before its checkpoint, its crashes
      and the steps it redid (``_REDONE``), and without a retry interval or an attempt limit its
      failures are not counted;
    * crash draws look the index half of the hash up in a table (``sim.model.rng.index_hashes``).

    The arithmetic is ``_Run``'s and the engine's, operation for operation, so the numbers are
    the same to the bit (``tests/test_fastpath.py``). Runs that meet anything else (the horizon
    within reach, a crash at the very instant a step ends inside a unit) are left to
    ``_event_loop``, from the start. A completed run's ``completed`` and ``history_events`` are
    a clean run's: the first pass wrote them, and they are not written again.
    """

    WAIT_TABLE = 64  # retry intervals looked up for the first this many failures of a step
    DRAW_TABLE = 256  # index hashes of the first this many crash draws of a run, looked up

    def __init__(self, c: _Chunk, beh: Behaviour, rows: np.ndarray, first_crash: np.ndarray, width: int):
        """Runs ``rows`` of the chunk, at most ``width`` at a time; ``first_crash``: each one's first
        time to failure (draw 0, which the first pass has read already)."""
        n = c.n
        self.c, self.beh = c, beh
        self.ppf = c.crash.ppf
        self.ppf_in_place = getattr(getattr(self.ppf, "__self__", None), "ppf_in_place", None)  # (exponential)
        self.index_hash = index_hashes(np.arange(self.DRAW_TABLE))
        self.queue, self.queue_crash, self.admitted = rows, first_crash, 0
        self.width = width = max(1, min(width, rows.size))
        self.weird: list[np.ndarray] = []
        # units: the steps from one checkpoint to the next
        self.checkpoint_after = [beh.is_checkpoint(i, n) for i in range(n)]
        starts = [0] + [i + 1 for i in range(n - 1) if self.checkpoint_after[i]]
        self.single_unit = len(starts) == 1
        self.step_units = len(starts) == n  # every step a unit of its own: a unit starts where a run stops
        self.multi_step_units = len(starts) < n
        self.one_unit = self.single_unit and self.multi_step_units  # the whole pipeline one unit of several steps
        self.starts = starts
        self.unit_start = np.array([max(a for a in starts if a <= i) for i in range(n)] + [n])  # of step i
        self.units_before = np.array([sum(a <= i for a in starts) - 1 for i in range(n)] + [len(starts)])
        self.mid_unit = np.array([i not in starts for i in range(n)] + [False])
        self.lat6 = EVENTS_PER_ACTIVITY * beh.persist_latency_s if beh.records_history else 0.0
        self.t0 = EVENTS_AT_START * beh.persist_latency_s if beh.records_history else 0.0
        # the retry policy after a failure of step i: the step's, or the pipeline's rollback policy
        pipe = beh.pipeline_retry
        self.step_level = beh.checkpoint_every == 1
        policies = [p if self.step_level or pipe is None else pipe for p in c.step_policies]
        # tables by step have one entry more, a copy of the last: a run that finished reads row n
        self.policy = _policy_arrays([*policies, policies[-1]])
        self.policy_same = all(p == policies[0] for p in policies)
        self.no_wait = all(p.initial_interval_s == 0.0 for p in policies)  # every retry interval is 0 s
        self.gives_up = any(p.maximum_attempts > 0 for p in policies)
        grid = np.arange(1, self.WAIT_TABLE + 1)
        self.waits = None if self.no_wait else np.stack([  # _wait's table: row = step, column = failures − 1
            _backoff(*(p[r] for p in self.policy[:3]), grid, self.policy[4][r], None, None) for r in range(n + 1)])
        self.any_llm = bool((~c.is_gpu).any())
        rates = c.rate_per_s
        self.rate = rates[0] if bool((rates == rates[0]).all()) else np.append(rates, 0.0)
        self.step_table = {name: np.append(v, v[-1]) for name, v in
                           (("d", c.fixed_duration), ("call", c.call_cost), ("gpu", c.is_gpu), ("rate", rates))}
        # the rows kept: failures counted only for the retry interval and the attempt limit, the
        # steps redone only where a unit has several, restarts only where they differ from crashes
        self.keeps_restarts = not self.step_level and not self.single_unit
        self.keeps_fails = self.gives_up or not self.no_wait
        rows_g = _RESTARTS if self.keeps_restarts else _REDONE if self.multi_step_units else _FAILS
        self.rows_g = rows_g + 1 if self.keeps_fails or rows_g > _FAILS else _FAILS
        self.rows_f = _PEND_COST + 1 if self.multi_step_units else _PEND
        # _settle reads the step each run stopped at only for step-dependent rates, LLM calls, waits and limits
        self.reads_stop = bool(np.ndim(self.rate) != 0 or self.any_llm or self.keeps_fails)
        self.columns = np.arange(width)
        self.stop_buffer = _POOL.get("stop", (width,), np.int64)
        self.j_bound = 1  # no run's crash counter exceeds it (each draw adds one): the draw table's check
        self.step_buffers = _POOL.get("step", (3, width))
        self.here_buffer = _POOL.get("here", (width,), bool)
        self.at_step_buffer = _POOL.get("at_step", (width,), np.int64)
        # a run admitted starts with zeros but for the rows _admit sets and those a round writes
        # before reading (when it stopped, the pending work; the step, where read)
        self.admit_zero = ([r for r in range(self.rows_f) if r not in (_T, _NEXT_CRASH, _AT_STOP, _PEND, _PEND_COST)],
                           [r for r in range(self.rows_g) if r not in (_ROW, _KEY, _J, _STOP)])
        # one unit: nothing is committed before the end, and no checkpoint moves (those rows stay 0 and
        # are not moved either; _write reads zeros for them)
        unused = (_USEFUL, _USEFUL_COST, _CKPT) if self.one_unit else ()
        self.rows_settled = ([r for r in range(self.rows_f) if r not in (_T, _READY) and r not in unused[:2]],
                             [r for r in range(self.rows_g) if (r != _STOP or self.reads_stop) and r not in unused[2:]])
        # the state, twice: a round's survivors are taken from one copy into the other (no fresh
        # memory, whose pages the kernel would zero every round); the matrices are their first
        # columns, so runs admitted are written after the others, which stay where they are
        self.buffers = (_POOL.get("state_f", (2, self.rows_f, width)), _POOL.get("state_g", (2, self.rows_g, width), np.int64))
        self.side = 0
        self.f, self.g = self._matrices(0, 0)
        self.sweep_rows = 5 if self.multi_step_units else 3
        # _round's matrices, one row of ``width`` entries per step (pending work at a unit's start: 0)
        self.sweep = _POOL.get("sweep", (self.sweep_rows, n + 1, width))
        if self.multi_step_units:
            self.sweep[3:, starts] = 0.0
        # the timeline of a run at its first dispatch, the same for every run (each starts at the same
        # instant on a fresh worker): the sweep of one such run, and the end of each step in it
        self.table = self._sweep(np.maximum(np.array([self.t0]), 0.0), np.zeros(1, dtype=np.int64),
                                 np.array([INF]), np.zeros(1), np.zeros(1), np.zeros(1, dtype=np.int64))[:, ::width].copy()
        self.table_end = self.table[0][:n] + c.fixed_duration
        self.fresh_from = _NONE_FRESH  # the first column of runs admitted since the last round

    def _matrices(self, side: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The state matrices of ``m`` runs on one side of the buffers."""
        return self.buffers[0][side][:, :m], self.buffers[1][side][:, :m]

    def _admit(self) -> None:
        """Fill the window from the queue: new runs at their first dispatch, on a fresh worker."""
        m = self.f.shape[1]
        k = min(self.width - m, self.queue.size - self.admitted)
        if k <= 0:
            return
        new = slice(self.admitted, self.admitted + k)
        self.admitted += k
        f, g = self._matrices(self.side, m + k)  # (the runs under way keep their columns)
        for r in self.admit_zero[0]:
            f[r, m:] = 0.0
        for r in self.admit_zero[1]:
            g[r, m:] = 0
        f[_T, m:] = self.t0
        f[_NEXT_CRASH, m:] = self.queue_crash[new]
        g[_ROW, m:] = self.queue[new]  # where each run's results go (index into the chunk)
        g[_KEY, m:] = self.c.crash.keys[self.queue[new]].view(np.int64)
        g[_J, m:] = 1
        self.f, self.g = f, g
        self.fresh_from = m

    def _draw(self, keys: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Time to failure number ``j`` of each run (``_Draws`` on lane 0); ``keys`` as int64."""
        if self.j_bound < self.DRAW_TABLE or (j.size and j.max() < self.DRAW_TABLE):
            hashed = self.index_hash.take(j)
        else:
            hashed = index_hashes(j)
        u = hashed_uniforms(keys.view(np.uint64), hashed)
        return self.ppf(u) if self.ppf_in_place is None else self.ppf_in_place(u)

    def _wait(self, i: np.ndarray, fails: np.ndarray) -> np.ndarray:
        """The retry interval after failure number ``fails`` of step ``i`` (no jitter): looked up in
        a table of ``_backoff``'s values for the first failures, computed beyond it."""
        column = np.minimum(fails, self.WAIT_TABLE) - 1
        if self.policy_same:
            wait = self.waits[0].take(column)
        else:
            wait = self.waits.ravel().take(i * self.WAIT_TABLE + column)
        if fails.size and fails.max() > self.WAIT_TABLE:
            far = np.flatnonzero(fails > self.WAIT_TABLE)
            step = np.zeros_like(far) if self.policy_same else i[far]
            base, coef, cap, _, code = (p[step] for p in self.policy)
            wait[far] = _backoff(base, coef, cap, fails[far], code, None, None)
        return wait

    def run(self, out: dict[str, np.ndarray]) -> np.ndarray:
        """Rounds until every run is finished; returns the runs left to ``_event_loop``."""
        while True:
            if 2 * self.f.shape[1] <= self.width:
                self._admit()
            if self.f.shape[1] == 0:
                break
            self._round(out)
        return np.concatenate(self.weird) if self.weird else np.zeros(0, dtype=np.int64)

    def _sweep(self, s: np.ndarray, ckpt: np.ndarray, nc: np.ndarray, useful_c: np.ndarray,
               useful_cost_usd: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Sweep ``w`` runs, dispatched at ``s`` from their checkpoints ``ckpt``, through all their
        steps; count into ``stop`` (zeros) the steps each completes before its next crash ``nc``.
        Returns the sweep's matrices flattened (entry row·width + run): row i of the first holds step
        i's start, of the next two the work committed before step i and its cost (written at unit
        starts only), of the last two (units of several steps) the work pending since the unit's
        start and its cost (written inside units only; 0 at a unit's start)."""
        c = self.c
        n, w = c.n, s.size
        # (views of one buffer allocated once: fresh pages every round would cost kernel time)
        sweep = self.sweep[:, :, :w]
        start, useful, useful_cost, *pending = sweep
        start[0] = s
        if not self.one_unit:  # (one unit: nothing is committed before its end, written below)
            useful[0], useful_cost[0] = useful_c, useful_cost_usd
        pend = pend_cost = None
        if pending:  # (their rows at a unit's start are 0, never written)
            pend, pend_cost = pending
        fresh = self.single_unit or not ckpt.any()  # every run at step 0: no step to skip
        # scratch rows for a step's duration, elapsed time and cost (used within the step)
        d_buf, e_buf, c_buf = self.step_buffers[:, :w]
        for i in range(n):
            here = None if fresh else np.less_equal(ckpt, i, out=self.here_buffer[:w])
            d = c.fixed_duration[i] if here is None else np.multiply(here, c.fixed_duration[i], out=d_buf)
            end = np.add(start[i], d, out=start[i + 1])
            stop += end <= nc
            a = self.unit_start[i]
            inside = not self.checkpoint_after[i]  # the work stays pending: written straight into row i + 1
            elapsed = np.subtract(end, start[i], out=pend[i + 1] if inside and a == i else e_buf)
            if c.is_gpu[i]:
                cost = np.multiply(elapsed, c.rate_per_s[i], out=pend_cost[i + 1] if inside and a == i else c_buf)
            else:
                cost = c.call_cost[i] if here is None else np.multiply(here, c.call_cost[i], out=c_buf)
                if inside and a == i:
                    pend_cost[i + 1] = cost
            if a < i:  # pending work before this step (0 at a unit's first step: 0.0 + x is x)
                # (one unit, its end: the work committed is the work pending, as 0.0 + x is x)
                into = (pend, pend_cost) if inside else (useful, useful_cost) if self.one_unit else (None, None)
                elapsed = np.add(pend[i], elapsed, out=None if into[0] is None else into[0][i + 1])
                cost = np.add(pend_cost[i], cost, out=None if into[1] is None else into[1][i + 1])
            if not inside and not self.one_unit:  # (one unit: its committed work is written above)
                np.add(useful[a], elapsed, out=useful[i + 1])
                np.add(useful_cost[a], cost, out=useful_cost[i + 1])
                if self.lat6 and i < n - 1:
                    start[i + 1] += self.lat6 if here is None else self.lat6 * here
        if self.lat6:
            start[n] += self.lat6  # the last checkpoint's latency: the run's end
        return self.sweep.reshape(self.sweep_rows, -1)

    def _round(self, out: dict[str, np.ndarray]) -> None:
        c = self.c
        f, g = self.f, self.g
        m, n = f.shape[1], c.n
        t, ready, nc, ckpt = f[_T], f[_READY], f[_NEXT_CRASH], g[_CKPT]
        stride = self.width  # of the sweep's rows: entry (row i, run r) is at i·stride + r
        p, self.fresh_from = min(self.fresh_from, m), _NONE_FRESH  # runs p… are at their first dispatch
        s = np.maximum(t, ready, out=t)  # dispatch of the first step (t is not read again: settled or restored)
        k = np.flatnonzero(nc <= s)
        if k.size and k[-1] >= p:
            p = m  # a fresh run's worker crashed before its first dispatch: no table for it
        while k.size:  # Worker.acquire: the worker crashed while idle; it restarts, dispatch waits
            rdy = nc[k] + c.restart_crash
            ready[k] = rdy
            nc[k] = rdy + self._draw(g[_KEY][k], g[_J][k])
            g[_J][k] += 1
            self.j_bound += 1
            s[k] = np.maximum(s[k], rdy)
            k = k[nc[k] <= s[k]]
        stop = self.stop_buffer[:m]  # the first step not completed before the crash
        stop.fill(0)
        at_stop = f[_AT_STOP]  # when the step that did not complete would have started
        finish = [nc.max()]  # the latest crash, and when the pipeline would end at the latest
        if p:  # the runs under way: swept, and each one's entries taken at row·stride + run
            flat = self._sweep(s[:p], ckpt[:p], nc[:p], f[_USEFUL, :p], f[_USEFUL_COST, :p], stop[:p])
            col = self.columns[:p]
            at_step = np.multiply(stop[:p], stride, out=self.at_step_buffer[:p])
            at_step += col
            flat[0].take(at_step, out=at_stop[:p])
            ends_p = flat[0][n * stride:n * stride + p]
            finish.append(ends_p.max())
        if p < m:  # runs at their first dispatch share one timeline: the first pass's, in ``self.table``
            table = self.table
            fresh_stop, fresh_nc = stop[p:], nc[p:]  # the steps that end before the crash:
            if n <= _COUNT_BY_COMPARING:  # one comparison per step beats a binary search per run
                for end in self.table_end:
                    fresh_stop += fresh_nc >= end
            else:
                fresh_stop[:] = np.searchsorted(self.table_end, fresh_nc, side="right")
            table[0].take(stop[p:], out=at_stop[p:])
            finish.append(table[0][n])
        crashed = (stop < n) & (nc > at_stop)
        done = stop == n  # (then not crashed)
        # every run crashed inside a step or completed: none stopped between two steps (nearly always)
        n_done = np.count_nonzero(done)
        quiet = np.count_nonzero(crashed) + n_done == m
        # the horizon within reach, or a crash at the very end of a step inside a unit: left to the event loop
        weird = None
        if min(finish[0], max(finish[1:])) >= c.max_t:  # possibly in reach: which runs
            ends = np.empty(m)
            if p:
                ends[:p] = ends_p
            ends[p:] = self.table[0][n]
            weird = np.minimum(nc, ends) >= c.max_t
        if not self.step_units and not quiet:  # (a run neither crashed nor done stopped between steps)
            mid = self.mid_unit.take(stop) & ~crashed
            weird = mid if weird is None else weird | mid
        if weird is not None and not weird.any():
            weird = None
        if self.multi_step_units:  # the work pending in the unit when the crash came
            if p:
                flat[3].take(at_step, out=f[_PEND, :p])
                flat[4].take(at_step, out=f[_PEND_COST, :p])
            if p < m:
                table[3].take(stop[p:], out=f[_PEND, p:])
                table[4].take(stop[p:], out=f[_PEND_COST, p:])
        if not self.one_unit:  # (one unit: a crashed run has committed nothing, its checkpoint stays 0)
            new_ckpt = stop if self.step_units else self.unit_start.take(stop)
            if not self.step_units:
                g[_REDONE] += stop - new_ckpt  # steps completed and to be done again
            if p:
                at_unit = new_ckpt[:p] * stride + col
                flat[1].take(at_unit, out=f[_USEFUL, :p])
                flat[2].take(at_unit, out=f[_USEFUL_COST, :p])
            if p < m:
                table[1].take(new_ckpt[p:], out=f[_USEFUL, p:])
                table[2].take(new_ckpt[p:], out=f[_USEFUL_COST, p:])
            if self.keeps_fails:
                g[_FAILS] *= new_ckpt <= ckpt  # a unit committed: its failures are forgotten
            g[_CKPT] = new_ckpt
        if self.reads_stop:
            g[_STOP] = stop
        if weird is None:
            gone = done
        else:
            self.weird.append(g[_ROW][weird])
            done &= ~weird
            gone = done | weird
            n_done = np.count_nonzero(done)
        if n_done:
            finished = np.flatnonzero(done)
            if not self.one_unit:
                self._write(out, finished, True)
            else:  # it committed the whole pipeline: row n of the sweep
                under_way = np.searchsorted(finished, p)  # finished[:under_way] were swept
                committed = np.empty((2, finished.size))
                for r, into in ((1, committed[0]), (2, committed[1])):
                    if under_way:
                        flat[r].take(n * stride + finished[:under_way], out=into[:under_way])
                    into[under_way:] = self.table[r][n]
                self._write(out, finished, True, committed)
        if self.one_unit:
            g[_REDONE] += stop  # the steps completed before the crash, to be done again (finished runs are dropped)
        if weird is None and quiet:  # every run left crashed
            self._drop(crashed, before_settling=True)
            self._settle(out, None)
            return
        keep = ~gone
        calm = (keep & ~crashed).any()  # crashes between units, met next round
        if self._drop(keep) and calm:
            crashed = crashed[keep]
        self._settle(out, crashed if calm else None)

    def _drop(self, keep: np.ndarray, before_settling: bool = False) -> bool:
        """Keep the runs ``keep`` (a mask) only; whether any was dropped. ``before_settling``: every
        run kept crashed, and ``_settle`` overwrites their dispatch and worker times (and their
        step, where it does not read it): those rows are not moved."""
        idx = np.flatnonzero(keep)
        if idx.size == keep.size:
            return False
        self.side = 1 - self.side
        f, g = self._matrices(self.side, idx.size)
        moved = self.rows_settled if before_settling else (range(self.rows_f), range(self.rows_g))
        for old, new, rows in ((self.f, f, moved[0]), (self.g, g, moved[1])):
            for r in rows:  # row by row: a take into a strided matrix would be buffered
                old[r].take(idx, out=new[r], mode="clip")  # idx is in range: no check
        self.f, self.g = f, g
        return True

    def _settle(self, out: dict[str, np.ndarray], crashed: np.ndarray | None) -> None:
        """The crash of every run left (the step ``_STOP`` started at ``_AT_STOP``): ``_Run.step``,
        ``_Run._resolve`` and ``_Run._fail``, over whole arrays. A run whose crash falls between
        two units (``crashed`` False; None: there is none) meets it while idle next round: it is
        put back unchanged, ready at ``_AT_STOP``."""
        c = self.c
        f, g = self.f, self.g
        if f.shape[1] == 0:
            return
        calm = np.flatnonzero(~crashed) if crashed is not None else np.zeros(0, dtype=np.int64)
        saved = (f[:, calm], g[:, calm]) if calm.size else None
        stop = g[_STOP] if self.reads_stop else None
        at = f[_NEXT_CRASH]  # overwritten last
        # (the stopped step's start is not read again but by a calm run, restored below)
        elapsed = np.subtract(at, f[_AT_STOP], out=f[_AT_STOP] if saved is None else None)
        waste, waste_cost = f[_WASTE], f[_WASTE_COST]
        waste += elapsed
        if not self.any_llm and np.ndim(self.rate) == 0:  # (in place where elapsed is a scratch row)
            cost = np.multiply(elapsed, self.rate, out=elapsed if saved is None else None)
        elif not self.any_llm:
            cost = elapsed * self.rate.take(stop)
        else:
            tab = self.step_table
            d = tab["d"].take(stop)
            with np.errstate(divide="ignore", invalid="ignore"):
                partial = np.where(d > 0, tab["call"].take(stop) * elapsed / d, 0.0)
            cost = np.where(tab["gpu"].take(stop), elapsed * tab["rate"].take(stop), partial)
        waste_cost += cost
        if self.multi_step_units:  # the work pending in the unit is lost too
            waste += f[_PEND]
            waste_cost += f[_PEND_COST]
        notice = at + c.detect_s if c.detect_s else at  # (copied into _T before ``at`` is overwritten)
        gave_up = None
        if self.keeps_fails:
            fails = g[_FAILS]
            fails += 1
            t = notice if self.no_wait else notice + self._wait(stop, fails)
            if self.gives_up:  # out of attempts: the run ends when the failure is noticed
                max_att = self.policy[3][0] if self.policy_same else self.policy[3].take(stop)
                gave_up = (max_att > 0) & (fails >= max_att)
                np.copyto(t, notice, where=gave_up)
        else:
            t = notice
        f[_T] = t
        g[_CRASHES] += 1
        if self.keeps_restarts:
            g[_RESTARTS] += g[_CKPT] == 0
        # the worker restarts with a new life
        ready = np.add(at, c.restart_crash, out=f[_READY])
        np.add(ready, self._draw(g[_KEY], g[_J]), out=at)
        g[_J] += 1
        self.j_bound += 1
        if saved is not None:
            f[:, calm], g[:, calm] = saved
            f[_T, calm] = f[_AT_STOP, calm]
            if gave_up is not None:
                gave_up[calm] = False
        if gave_up is not None and gave_up.any():
            self._write(out, np.flatnonzero(gave_up), False)
            self._drop(~gave_up)

    def _write(self, out: dict[str, np.ndarray], done: np.ndarray, completed: bool,
               committed: np.ndarray | None = None) -> None:
        """The results of the finished runs ``done`` (``_Run.finish_up``). A completed run's
        ``completed`` and ``history_events`` are a clean run's, which the first pass wrote.
        ``committed``: the work and cost committed by runs that completed their only unit."""
        f, g = self.f, self.g
        rows = g[_ROW].take(done)
        if committed is None and self.one_unit:  # (a run that gave up: nothing committed)
            useful_c, useful_cost = np.zeros(done.size), np.zeros(done.size)
            ckpt = np.zeros(done.size, dtype=np.int64)
        elif committed is None:
            useful_c, useful_cost = f[_USEFUL].take(done), f[_USEFUL_COST].take(done)
            ckpt = g[_CKPT].take(done)
        else:
            (useful_c, useful_cost), ckpt = committed, self.c.n
        waste_c, waste_cost = f[_WASTE].take(done), f[_WASTE_COST].take(done)
        crashes = g[_CRASHES].take(done)
        values = {}
        if not completed:  # the work committed is lost with the run
            units = self.units_before.take(ckpt)
            waste_c += 0.0 + useful_c
            waste_cost += 0.0 + useful_cost
            useful_c = np.zeros(done.size)
            useful_cost = np.zeros(done.size)
            values["completed"] = False
            if self.beh.records_history:  # 5 at the start, 6 per recorded unit, 6 more for a failed run
                values["history_events"] = EVENTS_AT_START + EVENTS_PER_ACTIVITY * (units + 1)
            # each unit before the checkpoint once, each crash one more (added by ``derive``); a completed
            # run's are all units, written by the first pass
            values["unit_attempts"] = units
        if self.multi_step_units:  # each step before the checkpoint once, each crash one more, the steps redone
            values["attempts"] = ckpt + crashes + g[_REDONE].take(done)
        elif not completed:  # (each crash added by ``derive``; a completed run's steps written by the first pass)
            values["attempts"] = ckpt
        values.update({
            "makespan_s": f[_AT_STOP if completed else _T].take(done), "useful_compute_s": useful_c,
            "wasted_compute_s": waste_c, "useful_cost_usd": useful_cost, "wasted_cost_usd": waste_cost,
            "crashes": crashes})
        if self.keeps_restarts:
            values["pipeline_restarts"] = g[_RESTARTS].take(done)
        for name, v in values.items():
            out[name][rows] = v

    def derive(self, out: dict[str, np.ndarray]) -> None:
        """The fields that follow from those ``_write`` wrote, over whole columns once every run is
        finished (fewer scattered writes; whole columns cost less than gathering even a few runs):
        unit attempts and (single-step units) attempts (+ crashes), and with one unit the pipeline
        restarts (= crashes); compute and its cost: ``_derive_compute``. A clean run's are the first
        pass's: adding its zero crashes changes nothing; the runs left to ``_event_loop`` are
        written over afterwards."""
        crashes = out["crashes"]
        out["unit_attempts"] += crashes
        if not self.multi_step_units:
            out["attempts"] += crashes
        if not self.keeps_restarts and not self.step_level:  # one unit: every crash restarts the pipeline
            np.copyto(out["pipeline_restarts"], crashes)


def _derive_compute(out: dict[str, np.ndarray]) -> None:
    """Compute and its cost = useful + wasted, for every run (crash-only scenarios: neither the
    first pass nor the crash loop writes them; ``_event_loop`` writes its runs' afterwards)."""
    np.add(out["useful_compute_s"], out["wasted_compute_s"], out=out["compute_s"])
    np.add(out["useful_cost_usd"], out["wasted_cost_usd"], out=out["compute_cost_usd"])


def _finish_with_engine(scenario: Scenario, beh: Behaviour, runs: np.ndarray, rows: np.ndarray, seed: int,
                        cols: dict[str, np.ndarray]) -> None:
    """Re-run the few runs still unfinished with the reference engine's run logic (same random
    numbers, same model) and write their results over ``cols``."""
    from sim.engines import des as engine

    steps = engine._StepTable(scenario)
    steps.prepare(beh)
    spec = steps.worker
    out: list[tuple] = []
    for renv in build_environments(scenario, runs[rows], seed):
        for _ in engine.run_process(steps, beh, renv, Worker(spec, renv), out, None):
            pass  # the run generator yields delays; nothing else shares its clock
    for name, values in zip(engine.RUN_FIELDS, zip(*out, strict=True), strict=False):
        cols[name][rows] = values


def _first_attempts(c: _Chunk, rows: slice) -> tuple:
    """What every strategy meets on its first pass through the pipeline, for ``rows`` of the
    chunk: the first crash and deployment of a fresh worker, each step's first-attempt duration,
    whether every first attempt escapes a 429, and the first instant anything is due (a crash, a
    deployment or the horizon). They are the same for every strategy (each
    starts on a fresh worker and reads attempt 0 of each stream), so they are drawn once.
    Values are scalars where nothing is random (they broadcast)."""
    next_crash = c.crash(rows, 0) if c.crash is not None else INF
    if c.deploy_mode is None:
        next_deploy = INF
    elif c.deploy_mode == "scheduled":
        next_deploy = c.at[0]
    elif c.deploy_mode == "periodic":
        next_deploy = c.deploy(rows, 0) * c.every
    else:
        next_deploy = c.deploy(rows, 0)
    durations = [c.duration_ppf[i](c.dur_draws(rows, 0, i)) if c.random_duration[i] else c.fixed_duration[i]
                 for i in range(c.n)]
    no_429 = True
    if c.rate_u is not None:
        for i in np.flatnonzero(c.limited):
            no_429 = no_429 & (c.rate_u(rows, 0, i) >= c.p429)
    # the first instant anything is due: a crash, a deployment or the horizon
    due = next_crash if np.ndim(next_deploy) == 0 and next_deploy == INF else np.minimum(next_crash, next_deploy)
    due = np.minimum(due, c.max_t)
    return next_crash, next_deploy, durations, no_429, due


def _clean_pass(c: _Chunk, beh: Behaviour, first: tuple, out: dict[str, np.ndarray], rows: slice,
                derived: tuple[str, ...] = ()):
    """Write the results of every run among ``rows`` that completes the pipeline at the first
    try with no failure; return which runs do (a boolean array, or a scalar for all of them).
    ``derived``: fields the caller computes afterwards from others, not written here.

    The other runs' entries receive placeholder values, overwritten by the event loop. The
    arithmetic is ``_Run.advance``'s (start = dispatch time, end = start + duration, elapsed =
    end − start, commit at checkpoints), over scalars wherever nothing is random.
    """
    durations, clean, due = first[2:]
    lat = beh.persist_latency_s
    t = EVENTS_AT_START * lat if beh.records_history else 0.0
    history = EVENTS_AT_START if beh.records_history else 0
    pend_c = pend_cost = useful_c = useful_cost = 0.0
    units = 0
    start = end = t
    for i in range(c.n):
        start = t  # the worker was ready at 0 and nothing shut it down: dispatch is immediate
        end = start + durations[i]
        elapsed = end - start
        pend_c = pend_c + elapsed
        pend_cost = pend_cost + (elapsed * c.rate_per_s[i] if c.is_gpu[i] else c.call_cost[i])
        if beh.is_checkpoint(i, c.n):
            units += 1
            useful_c, useful_cost = useful_c + pend_c, useful_cost + pend_cost
            pend_c = pend_cost = 0.0
            if beh.records_history:
                history += EVENTS_PER_ACTIVITY
                t = end + EVENTS_PER_ACTIVITY * lat
            else:
                t = end
        else:
            t = end
    # as in ``_Run.advance``: nothing due (crash, deployment, horizon) at any dispatch nor during
    # any attempt; starts and ends only grow, so the last attempt decides
    clean = clean & (due > start) & (due >= end)
    if beh.records_history and c.task_timeout_s > 0.0 and lat > 0.0:
        # a crash while the worker holds a workflow task that records (``_Run._recorded_at``): left
        # to the event loop; nothing due before the last task ends excludes it
        clean = clean & (due > t)
    values = {"completed": True, "makespan_s": t, "compute_s": useful_c + 0.0, "useful_compute_s": useful_c,
              "compute_cost_usd": useful_cost + 0.0, "useful_cost_usd": useful_cost, "unit_attempts": units,
              "history_events": history, "attempts": c.n}
    for name in CLEAN_FIELDS:
        if name not in derived:
            out[name][rows] = values[name]
    # waste and failure counts stay 0: ``run_into``'s output starts zero-filled
    return clean


def _event_loop(scenario: Scenario, beh: Behaviour, runs: np.ndarray, rows: np.ndarray, seed: int,
                out: dict[str, np.ndarray]) -> None:
    """Simulate runs ``runs[rows]`` (those that meet a failure) and write their results at ``rows``.

    Each round completes every clean step of every run at once (``advance``), then takes each
    run through the one event that stopped it (``step``: a failed attempt, an idle shutdown, the
    horizon). Runs are stepped together in compact arrays so numpy's per-call overhead is shared.
    """
    for first in range(0, rows.size, LOOP_BATCH):
        batch = rows[first:first + LOOP_BATCH]
        state = _Run(_Chunk(scenario, runs[batch], seed), beh)
        active = np.arange(batch.size)
        while active.size >= TAIL:
            state.advance(active)
            active = active[~state.done[active]]
            if active.size < TAIL:
                break
            state.step(active)
            active = active[~state.done[active]]
        done = state.finish_up()
        if active.size:
            _finish_with_engine(scenario, beh, runs[batch], active, seed, done)
        for name, values in done.items():
            # the first pass left placeholders in CLEAN_FIELDS; any other field is still 0 here, so
            # an all-zero one is not written (its pages are never faulted in)
            if name in CLEAN_FIELDS or values.any():
                out[name][batch] = values


def run_into(scenario: Scenario, behaviours: list[Behaviour], runs: np.ndarray, seed: int,
             outs: list[dict[str, np.ndarray]]) -> None:
    """Simulate replications ``runs`` of every strategy; write strategy k's result fields
    (``sim.engines.des.RUN_FIELDS``, one entry per run, in the order of ``runs``) into ``outs[k]``,
    which must be zero-filled, except the fields the first pass writes for every run (``CLEAN_FIELDS``):
    fields that stay 0 for a run are not written.

    1. The first pass: every run that completes at the first try with no failure is finished in
       one vectorised pass (in cache-sized blocks when first attempts differ between runs).
    2. The runs that meet a failure, all together: ``_event_loop``.
    """
    reason = why_not(scenario)
    if reason is not None:
        raise ValueError(f"the fast path does not support this scenario: {reason}")
    runs = np.asarray(runs, dtype=np.int64)
    chunk = _Chunk(scenario, runs, seed)
    block = SUB_CHUNK if chunk.per_attempt_draws else BLOCK
    crash_only = [_crash_only(chunk) and not _temporal_recovery(chunk, beh) for beh in behaviours]
    # crash-only: compute = useful + wasted, for all runs at the end
    derived = [_COMPUTE_FIELDS if only else () for only in crash_only]
    failing: list[list[np.ndarray]] = [[] for _ in behaviours]
    first_crash: list[list[np.ndarray]] = [[] for _ in behaviours]  # crash-only: each failing run's draw 0
    for lo in range(0, len(runs), block):
        rows = slice(lo, min(lo + block, len(runs)))
        first = _first_attempts(chunk, rows)
        for k, beh in enumerate(behaviours):
            clean = np.broadcast_to(_clean_pass(chunk, beh, first, outs[k], rows, derived[k]), (rows.stop - lo,))
            fails = np.flatnonzero(~clean)
            failing[k].append(fails + lo)
            if crash_only[k]:
                first_crash[k].append(first[0][fails])
    for k, beh in enumerate(behaviours):
        rows = np.concatenate(failing[k]) if failing[k] else np.zeros(0, dtype=np.int64)
        if crash_only[k] and rows.size:
            loop = _CrashLoop(chunk, beh, rows, np.concatenate(first_crash[k]), CRASH_BATCH)
            rows = np.sort(loop.run(outs[k]))
            loop.derive(outs[k])
        if derived[k]:
            _derive_compute(outs[k])
        _event_loop(scenario, beh, runs, rows, seed, outs[k])
