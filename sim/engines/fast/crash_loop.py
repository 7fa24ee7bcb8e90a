"""The crash-only sweep of the chain executor: in scenarios whose only failures are crashes, with
fixed durations (``_crash_only``), each run is swept through all its remaining steps in one round
per crash, where ``chain._Run`` needs an advance and a step per event. The runs it cannot finish
go back to the chain executor's event loop."""

from __future__ import annotations

import numpy as np

from sim.engines.fast.common import _POOL, INF, _backoff, _Chunk, _policy_arrays
from sim.model.rng import hashed_uniforms, index_hashes
from sim.model.strategies import EVENTS_AT_START, EVENTS_PER_ACTIVITY, Behaviour


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
