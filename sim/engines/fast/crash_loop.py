"""The crash-only sweep of the chain executor: in scenarios whose only failures are crashes, with
fixed durations (``_crash_only``), each run is taken through all its remaining steps and crashes
by a compiled per-run loop (``_sweep_runs``), where ``chain._Run`` needs an advance and a step per
event over arrays. The runs it cannot finish go back to the chain executor's event loop."""

from __future__ import annotations

import numpy as np

from sim.engines.fast.common import (
    _backoff,
    _Chunk,
    _policy_arrays,
    compile_cached,
    compile_with_rng,
    index_table,
)
from sim.model.rng import index_hashes, uniform_of
from sim.model.strategies import EVENTS_AT_START, EVENTS_PER_ACTIVITY, Behaviour

# what ``_sweep_runs`` says of a run
_MORE_DRAWS, _COMPLETED, _GAVE_UP, _TO_EVENT_LOOP = 0, 1, 2, 3
# the output columns ``_sweep_runs`` writes, by dtype
_FLOAT_OUT = ("makespan_s", "useful_compute_s", "wasted_compute_s", "useful_cost_usd", "wasted_cost_usd")
_INT_OUT = ("history_events", "unit_attempts", "attempts", "crashes", "pipeline_restarts")
_MAKESPAN, _USEFUL, _WASTE, _USEFUL_COST, _WASTE_COST = range(len(_FLOAT_OUT))
_HISTORY, _UNIT_ATTEMPTS, _ATTEMPTS, _CRASHES, _RESTARTS = range(len(_INT_OUT))


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


def _sweep_runs(idx, draws, t, ready, nc, draw_due, ckpt, useful, useful_cost, waste, waste_cost,
                crashes, fails, redone, restarts, j, status, pending, dest, out_float, out_int, out_completed,
                dur, is_gpu, rate, call, unit_start, units_before, checkpoint_after, mid_unit, waits, max_attempts,
                lat6, restart_crash, detect_s, max_t, no_wait, keeps_fails, gives_up, multi_step_units,
                keeps_restarts, records_history, events_at_start, events_per_activity):
    """Runs ``idx`` (indices into the state arrays), each from its state until it completes, gives
    up, meets what only the event loop follows, or needs a crash draw beyond those given: draw
    ``j`` of run ``r = idx[p]`` is ``draws[p, j - j[r]]``, ``j[r]`` as on entry. Returns how many need more draws,
    listed (in order) at the start of ``pending``. Compiled by numba (``_compiled``).

    The rules are ``_Run``'s and the engine's, operation for operation, so every number is the
    same to the bit: a step ends ``duration`` after it starts; a checkpoint commits the unit's work
    (the pending work plus the last step's, in that order) and adds the persistence latency; a
    crash during an attempt wastes the attempt so far and the unit's pending work, is noticed
    after the detection delay, then the retry interval; the worker restarts with a new life.
    Sent to the event loop, from the start: a horizon within reach, a crash at the very instant
    a step ends inside a unit, more failures of one unit than the table of retry intervals.

    A finished run's results are written at ``dest[r]`` of the output columns, in the order of
    ``_FLOAT_OUT`` (``out_float``) and ``_INT_OUT`` (``out_int``), and ``out_completed``
    (``_Run.finish_up``). A completed run's ``completed`` and ``history_events`` are a clean run's,
    which the first pass wrote; the crashes are added to its unit attempts (and single-step
    units' attempts) by ``_CrashLoop.derive``, over whole columns."""
    n = dur.size
    k_draws = draws.shape[1]
    n_waits = waits.shape[1]
    n_pending = 0
    for p in range(idx.size):
        r = idx[p]
        # the run's state, in locals (stored back below)
        t_r, ready_r, nc_r, due_r, ckpt_r = t[r], ready[r], nc[r], draw_due[r], ckpt[r]
        u_c, u_cost, waste_r, waste_cost_r = useful[r], useful_cost[r], waste[r], waste_cost[r]
        crashes_r, fails_r, redone_r, restarts_r, j_r = crashes[r], fails[r], redone[r], restarts[r], j[r]
        base = j_r  # the index of the draw in the first column
        left = base + k_draws  # the first draw not given
        status_r = _MORE_DRAWS
        if due_r:  # the new worker's life, drawn now
            nc_r = ready_r + draws[p, j_r - base]
            j_r += 1
            due_r = False
        while True:
            s = max(t_r, ready_r)
            # Worker.acquire: the worker crashed while idle; it restarts, the dispatch waits
            while nc_r <= s:
                ready_r = nc_r + restart_crash
                if j_r >= left:
                    due_r = True
                    break
                nc_r = ready_r + draws[p, j_r - base]
                j_r += 1
                s = max(s, ready_r)
            if due_r:
                break  # (status: more draws)
            # every remaining step, until the one the next crash cuts short
            x = nc_r
            c0 = ckpt_r
            start = s
            pe, pe_cost = 0.0, 0.0  # pending in the unit since its start (u_c, u_cost: committed)
            stop = c0
            for i in range(c0, n):
                end = start + dur[i]
                if not end <= x:
                    break
                stop = i + 1
                el = end - start
                cost = el * rate[i] if is_gpu[i] else call[i]
                if unit_start[i] < i:
                    el = pe + el
                    cost = pe_cost + cost
                start = end
                if checkpoint_after[i]:
                    u_c = u_c + el
                    u_cost = u_cost + cost
                    pe, pe_cost = 0.0, 0.0
                    if lat6 != 0.0 and i < n - 1:
                        start = start + lat6
                else:
                    pe, pe_cost = el, cost
            if stop == n and lat6 != 0.0:
                start = start + lat6  # the last checkpoint's latency: the run's end
            at_stop = start  # when step ``stop`` started (the run's end if it completed)
            crashed = stop < n and x > at_stop
            if stop == n:
                weird = min(x, at_stop) >= max_t
            else:  # (crashed or not, the run would end after its next crash)
                weird = x >= max_t or (not crashed and mid_unit[stop])
            if weird:
                status_r = _TO_EVENT_LOOP
                break
            new_ckpt = unit_start[stop]
            if keeps_fails and new_ckpt > c0:
                fails_r = 0  # a unit committed: its failures are forgotten
            ckpt_r = new_ckpt
            if stop == n:
                t_r = at_stop
                status_r = _COMPLETED
                break
            redone_r += stop - new_ckpt  # steps completed and to be done again
            if not crashed:  # the crash falls between two units: met while idle, next round
                t_r = at_stop
                continue
            # the crash: the attempt so far and the unit's pending work are lost
            el = x - at_stop
            waste_r += el
            if is_gpu[stop]:
                cost = el * rate[stop]
            elif dur[stop] > 0.0:
                cost = call[stop] * el / dur[stop]
            else:
                cost = 0.0
            waste_cost_r += cost
            if multi_step_units:
                waste_r += pe
                waste_cost_r += pe_cost
            notice = x + detect_s if detect_s != 0.0 else x
            t_r = notice
            crashes_r += 1
            if keeps_restarts and new_ckpt == 0:
                restarts_r += 1
            if keeps_fails:
                fails_r += 1
                if gives_up and max_attempts[stop] > 0 and fails_r >= max_attempts[stop]:
                    status_r = _GAVE_UP  # out of attempts: the run ends when the failure is noticed
                    break
                if not no_wait:
                    if fails_r > n_waits:
                        status_r = _TO_EVENT_LOOP
                        break
                    t_r = notice + waits[stop, fails_r - 1]
            ready_r = x + restart_crash  # the worker restarts with a new life
            if j_r >= left:
                due_r = True
                break
            nc_r = ready_r + draws[p, j_r - base]
            j_r += 1
        status[r] = status_r
        if status_r == _MORE_DRAWS:
            pending[n_pending] = r
            n_pending += 1
            t[r], ready[r], nc[r], draw_due[r], ckpt[r] = t_r, ready_r, nc_r, due_r, ckpt_r
            useful[r], useful_cost[r], waste[r], waste_cost[r] = u_c, u_cost, waste_r, waste_cost_r
            crashes[r], fails[r], redone[r], restarts[r], j[r] = crashes_r, fails_r, redone_r, restarts_r, j_r
        elif status_r != _TO_EVENT_LOOP:
            row = dest[r]
            if status_r == _GAVE_UP:  # the work committed is lost with the run
                units = units_before[ckpt_r]
                waste_r += 0.0 + u_c
                waste_cost_r += 0.0 + u_cost
                u_c, u_cost = 0.0, 0.0
                out_completed[row] = False
                if records_history:  # 5 at the start, 6 per recorded unit, 6 more for a failed run
                    out_int[_HISTORY][row] = events_at_start + events_per_activity * (units + 1)
                out_int[_UNIT_ATTEMPTS][row] = units  # (+ each crash: ``derive``)
                if not multi_step_units:
                    out_int[_ATTEMPTS][row] = ckpt_r  # (+ each crash: ``derive``)
            if multi_step_units:  # each step before the checkpoint once, each crash one more, the steps redone
                out_int[_ATTEMPTS][row] = ckpt_r + crashes_r + redone_r
            out_float[_MAKESPAN][row] = t_r
            out_float[_USEFUL][row] = u_c
            out_float[_WASTE][row] = waste_r
            out_float[_USEFUL_COST][row] = u_cost
            out_float[_WASTE_COST][row] = waste_cost_r
            out_int[_CRASHES][row] = crashes_r
            if keeps_restarts:
                out_int[_RESTARTS][row] = restarts_r
    return n_pending


def _crash_uniforms(keys, j, index_table, u):
    """``u[p, q]``: the uniform of draw ``j[p] + q`` of the run with key ``keys[p]``, as
    ``sim.model.rng.hashed_uniforms`` of its index hash (``index_table``, by index)."""
    for p in range(u.shape[0]):
        for q in range(u.shape[1]):
            u[p, q] = uniform_of(keys[p], index_table[j[p] + q])


def _compiled():
    """``_sweep_runs``, compiled and kept on disk (``compile_cached``: compiling it takes about
    1.5 s), and ``_crash_uniforms``, which calls ``sim.model.rng`` (``compile_with_rng``)."""
    return compile_cached(_sweep_runs), compile_with_rng(_crash_uniforms)


class _CrashLoop:
    """The runs that meet a crash, in crash-only scenarios, each swept through its steps and
    crashes by ``_sweep_runs``.

    Under crashes alone, once a run is dispatched its timeline is fixed until the next crash, so
    a per-run loop needs only the run's crash draws. Those are computed here as every engine
    computes them (``sim.model.rng``'s hash, compiled too; the distribution's ppf, in numpy): one
    draw for every run, then 2, 4, 8… more for the runs that need them, until every run is
    finished. Runs are taken ``width`` at a time, so memory does not grow with the number of runs.
    """

    WAIT_TABLE = 64  # retry intervals looked up for the first this many failures of a unit
    DRAW_TABLE = 256  # index hashes of the first this many crash draws of a run, looked up (more if needed)
    FIRST_DRAWS = 1  # draws given to every run at first (every run that goes on needs one), doubled for the rest

    def __init__(self, c: _Chunk, beh: Behaviour, rows: np.ndarray, first_crash: np.ndarray, width: int):
        """Runs ``rows`` of the chunk, at most ``width`` at a time; ``first_crash``: each one's first
        time to failure (draw 0, which the first pass has read already)."""
        n = c.n
        self.c, self.beh = c, beh
        self.ppf = c.crash.ppf
        self.ppf_in_place = getattr(getattr(self.ppf, "__self__", None), "ppf_in_place", None)  # (exponential)
        self.index_hash = index_hashes(np.arange(self.DRAW_TABLE))
        self.rows, self.first_crash = rows, first_crash
        self.width = max(1, min(width, rows.size))
        # the runs' state in a window (``_window``): one block per dtype, for every window
        self.state = (np.empty((6, self.width)), np.empty((6, self.width), dtype=np.int64),
                      np.empty((2, self.width), dtype=np.int8))
        self.checkpoint_after = np.array([beh.is_checkpoint(i, n) for i in range(n)])
        starts = [0] + [i + 1 for i in range(n - 1) if self.checkpoint_after[i]]
        self.multi_step_units = len(starts) < n
        self.unit_start = np.array([max(a for a in starts if a <= i) for i in range(n)] + [n], dtype=np.int64)
        self.units_before = np.array([sum(a <= i for a in starts) - 1 for i in range(n)] + [len(starts)], dtype=np.int64)
        self.mid_unit = np.array([i not in starts for i in range(n)] + [False])
        self.lat6 = EVENTS_PER_ACTIVITY * beh.persist_latency_s if beh.records_history else 0.0
        self.t0 = EVENTS_AT_START * beh.persist_latency_s if beh.records_history else 0.0
        # the retry policy after a failure of step i: the step's, or the pipeline's rollback policy
        pipe = beh.pipeline_retry
        step_level = beh.checkpoint_every == 1
        policies = [p if step_level or pipe is None else pipe for p in c.step_policies]
        # tables by step have one entry more, a copy of the last: a run that finished reads row n
        policy = _policy_arrays([*policies, policies[-1]])
        self.no_wait = all(p.initial_interval_s == 0.0 for p in policies)  # every retry interval is 0 s
        self.gives_up = any(p.maximum_attempts > 0 for p in policies)
        self.keeps_fails = self.gives_up or not self.no_wait  # failures counted for the interval and the limit
        self.max_attempts = policy[3].astype(np.int64)
        grid = np.arange(1, self.WAIT_TABLE + 1)
        self.waits = np.stack([  # row = step, column = failures − 1
            _backoff(*(p[r] for p in policy[:3]), grid, policy[4][r], None, None) for r in range(n + 1)])
        self.keeps_restarts = not step_level and len(starts) > 1  # restarts differ from crashes
        self.step_level = step_level

    def _draws(self, keys: np.ndarray, j: np.ndarray, k: int) -> np.ndarray:
        """Times to failure ``j``, ``j`` + 1, … (``k`` of them) of the runs with ``keys`` (uint64),
        as ``_Draws`` on lane 0: a (runs × k) matrix."""
        self.index_hash = index_table(self.index_hash, int(j.max(initial=0)) + k)
        u = np.empty((keys.size, k))
        _compiled()[1](keys, j, self.index_hash, u)
        return self.ppf(u) if self.ppf_in_place is None else self.ppf_in_place(u)

    def run(self, out: dict[str, np.ndarray]) -> np.ndarray:
        """Every run, window by window; returns the runs left to ``_event_loop``."""
        weird = [self._window(out, lo) for lo in range(0, self.rows.size, self.width)]
        return np.concatenate(weird) if weird else np.zeros(0, dtype=np.int64)

    def _window(self, out: dict[str, np.ndarray], lo: int) -> np.ndarray:
        c = self.c
        rows = self.rows[lo:lo + self.width]
        m = rows.size
        keys = c.crash.keys[rows]
        floats, ints, small = (x[:, :m] for x in self.state)
        floats.fill(0.0)
        ints.fill(0)
        small.fill(0)
        t, ready, useful, useful_cost, waste, waste_cost = floats
        ckpt, crashes, fails, redone, restarts, j = ints
        draw_due, status = small[0].view(bool), small[1]
        t.fill(self.t0)
        j.fill(1)
        nc = np.array(self.first_crash[lo:lo + m], dtype=np.float64)
        outputs = (tuple(out[name] for name in _FLOAT_OUT), tuple(out[name] for name in _INT_OUT), out["completed"])
        kernel = _compiled()[0]
        todo, k = np.arange(m), self.FIRST_DRAWS
        pending = np.empty(m, dtype=np.int64)
        while todo.size:
            draws = self._draws(keys[todo], j[todo], k)
            left = kernel(todo, draws, t, ready, nc, draw_due, ckpt, useful, useful_cost, waste, waste_cost,
                          crashes, fails, redone, restarts, j, status, pending, rows, *outputs,
                          c.fixed_duration, c.is_gpu, c.rate_per_s, c.call_cost, self.unit_start, self.units_before,
                          self.checkpoint_after, self.mid_unit, self.waits, self.max_attempts, float(self.lat6),
                          float(c.restart_crash), float(c.detect_s), float(c.max_t), self.no_wait, self.keeps_fails,
                          self.gives_up, self.multi_step_units, self.keeps_restarts, self.beh.records_history,
                          EVENTS_AT_START, EVENTS_PER_ACTIVITY)
            todo = pending[:left].copy()
            k = min(2 * k, self.DRAW_TABLE)
        return rows[status == _TO_EVENT_LOOP]

    def derive(self, out: dict[str, np.ndarray]) -> None:
        """The fields that follow from those ``_write`` wrote, over whole columns once every run is
        finished: unit attempts and (single-step units) attempts (+ crashes), and with one unit the
        pipeline restarts (= crashes). A clean run's are the first pass's: adding its zero crashes
        changes nothing; the runs left to ``_event_loop`` are written over afterwards."""
        crashes = out["crashes"]
        out["unit_attempts"] += crashes
        if not self.multi_step_units:
            out["attempts"] += crashes
        if not self.keeps_restarts and not self.step_level:  # one unit: every crash restarts the pipeline
            np.copyto(out["pipeline_restarts"], crashes)
