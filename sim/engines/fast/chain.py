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
   takes each run through all its steps and crashes in a compiled per-run loop.

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

from sim.engines.fast.common import _LANE, CUT, INF, _backoff, _Chunk, _Draws, _policy_arrays  # noqa: F401
from sim.engines.fast.crash_loop import _crash_only, _CrashLoop, _temporal_recovery
from sim.model.failures import (
    COMPLETED,
    CRASHED,
    KILLED_BY_DEPLOY,
    RATE_LIMITED,
    Worker,
    build_environments,
)
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
CRASH_BATCH = 32768  # crash-only scenarios: at most this many runs' state held at once (the window of _CrashLoop)
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
