"""The vectorised executor for workflow graphs: the workflow model (``sim.model.workflow``) over
arrays of replications.

Each replication of a strategy is the state machine of ``WorkflowRun`` on its own worker, and a
batch of them is advanced in lock-step, one round per event of each run (``_Batch.run``). The
units of a graph (instance j of step i) are the columns of (runs × units) arrays, in (step,
instance) order: the order in which the engine starts runnable units and processes attempts
that end at the same instant. A round

1. starts the runnable units (due, worker ready and not draining, within ``max_concurrency``
   and the worker's ``activity_slots``; waits take no slot) and draws what each attempt meets:
   a 429 or its duration (``start_runnable``);
2. moves each run to its next event: an attempt's end, a unit due, the worker's next crash or
   deployment, the end of a drain (``next_event``);
3. processes the attempts that end then, step by step in the engine's order (``process``): a
   completion (recorded at once by a single-step activity of a recording strategy, with
   Temporal's workflow-task rules, ``recorded_at_s``; held in memory by a multi-step one until
   the activity completes), a 429 retried for that instance alone (``retry_in_place``, and every
   single-step activity of a recording strategy), or a 429 that rolls a multi-step activity
   back (``restart``, checkpoint groups);
4. then the worker's events due (``worker_events``): a crash or a deployment's exit ends every
   attempt in flight on the worker; killed units of single-step activities are retried alone,
   multi-step activities that lose a unit or work held in memory are rolled back, each failure
   with its back-off and the run's next jitter draw, in the engine's order.

Sums (compute, cost) are accumulated in the engine's order (``np.add.at`` and the compiled loops
add a row's terms one after the other), so every column equals the engine's to the bit
(tests/test_fastpath_graph.py). The scans over every run and the bookkeeping of each attempt
started, ended or cancelled are loops compiled by numba (``compile_cached``): the functions at
the end of this module.

Handed, from its start, to the engine's own run logic (``WorkflowRun``, without SimPy: nothing
else shares its clock): a run that the horizon cuts or whose retry policy gives up, and the last
few runs of a batch (``TAIL``), where numpy's per-call overhead loses to the engine. As both read
the same draws (pure functions of (seed, replication, source, index)), the result is the
engine's. ``why_not`` names what the executor does not follow at all (heartbeats inside steps).
"""

from __future__ import annotations

import numpy as np

from sim.engines.fast.common import (
    _JITTER_CODES,
    _LANE,
    INF,
    _interval,
    _jittered,
    compile_cached,
    compile_with_rng,
    index_table,
    keyed_uniforms,
)
from sim.model.chain import RUN_FIELDS
from sim.model.failures import Worker, build_environments, worker_spec
from sim.model.rng import Source, index_hashes, replication_keys, uniforms
from sim.model.scenario import Scenario
from sim.model.strategies import EVENTS_AT_START, EVENTS_PER_ACTIVITY, Behaviour, behaviour
from sim.model.workflow import (
    GRAPH_SOURCES,
    INSTANCE_LANE,
    STICKY_TIMEOUT_EVENTS,
    TASK_TIMEOUT_EVENTS,
    Graph,
    GraphDraws,
    WorkflowRun,
    retry_policy,
)

BATCH = 16384  # at most this many runs of one strategy stepped together (32,768: 8-14% slower, docs/performance.md) ...
BATCH_UNITS = 1 << 19  # ... and at most about this many (run, unit) cells: a batch's state is ten (runs ×
# units) arrays, so its memory is bounded (about 30 MB) whatever the number of runs (2^20: 5-6% slower on
# graph_rag_ingestion, docs/performance.md)
REFILL = 0.75  # fewer runs than this share of a batch under way: the next runs are admitted
TAIL = 4  # fewer unfinished runs than this: handed to the engine's run logic (from their start)
COMPACT = 0.5  # drop finished runs from the arrays once fewer than this share is still running

IDLE, PENDING, INFLIGHT, DONE = 0, 1, 2, 3


def why_not(scenario: Scenario) -> str | None:
    """Why this executor cannot run this graph (None if it can)."""
    for label, config in scenario.strategies.items():
        if behaviour(label, config, scenario.steps).heartbeat_every_s > 0:
            return (f"strategy '{label}' saves progress inside steps (heartbeats): the graph executor does not "
                    "follow heartbeats; the DES engine does")
    return None


class _Layout:
    """The units of a call's replications: the columns of its arrays, in (step, instance) order
    (as many instances of a step as the most any of its replications has)."""

    ATTEMPTS = 8  # attempts of each unit whose draws' index hashes are looked up in ``lane_hash``

    def __init__(self, graph: Graph, widths: np.ndarray):
        n = graph.n
        self.offset = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
        self.cols = [slice(int(self.offset[i]), int(self.offset[i + 1])) for i in range(n)]
        self.width = int(self.offset[-1])
        self.step = np.repeat(np.arange(n), widths)
        self.instance = np.concatenate([np.arange(w) for w in widths]).astype(np.int64)
        self.lane = (self.step + self.instance * INSTANCE_LANE).astype(np.uint64) * _LANE
        # the index half of the draws of a unit's first attempts (``index_hashes``), looked up:
        # entry column·ATTEMPTS + attempt
        self.lane_hash = index_hashes(self.lane[:, None] + np.arange(self.ATTEMPTS, dtype=np.uint64)[None, :]).ravel()


def _counts(graph: Graph, seed: int, runs: np.ndarray) -> np.ndarray:
    """Each replication's instances of each step (drawn once per replication: lane i of the
    count source, ``GraphDraws``)."""
    keys = replication_keys(seed, Source.COUNT, runs)
    counts = np.empty((len(runs), graph.n), dtype=np.int64)
    for i, c in enumerate(graph.counts):
        counts[:, i] = c.fixed if c.fixed is not None else c.ppf(uniforms(keys, np.uint64(i) * _LANE))
    return counts


class _Policies:
    """The retry policy of each step, as the distinct policies and each step's among them (the
    back-offs of the failures under one policy are computed in one call)."""

    TABLE = 64  # the intervals of the first failures, looked up

    def __init__(self, by_step: list):
        self.distinct: list = []
        for p in by_step:
            if p not in self.distinct:
                self.distinct.append(p)
        self.group = np.array([self.distinct.index(p) for p in by_step], dtype=np.int64)
        self.tables = [_interval(p.initial_interval_s, p.backoff_coefficient, p.max_interval_s,
                                 np.arange(1, self.TABLE + 1)) for p in self.distinct]

    def interval(self, p: int, fails: np.ndarray) -> np.ndarray:
        """The interval before retry number ``fails`` under policy ``p`` (``_interval``)."""
        if fails.size and fails.max() > self.TABLE:
            policy = self.distinct[p]
            return _interval(policy.initial_interval_s, policy.backoff_coefficient, policy.max_interval_s, fails)
        return self.tables[p].take(fails - 1)


class _Batch:
    """One strategy's runs, stepped in lock-step (module docstring). At most ``size_limit`` runs
    are under way at a time: as runs finish, the next ones are admitted (``admit``), so that
    rounds keep many runs each and the memory stays that of ``size_limit`` runs."""

    def __init__(self, graph: Graph, beh: Behaviour, scenario: Scenario, seed: int, runs: np.ndarray,
                 lay: _Layout):
        g = self.g = graph
        self.beh, self.scenario, self.seed, self.runs, self.lay = beh, scenario, seed, runs, lay
        acts = self.acts = graph.activities_of(beh)
        n = g.n
        self.next = 0  # the next run of ``runs`` to admit
        self.size = 0  # rows of the per-run arrays
        self.fields: list[str] = []  # the per-run arrays (first axis: the rows; ``live``: rows holding a run)
        # per-step constants
        self.lat = beh.persist_latency_s
        self.records = beh.records_history
        self.unit_events = [g.wait_events[i] if g.is_wait[i] else EVENTS_PER_ACTIVITY for i in range(n)]
        self.in_place = [beh.retry_429_in_place or acts.per_unit[acts.of[i]] for i in range(n)]
        pol = [retry_policy(beh, g.retry[i], True) for i in range(n)]
        self.policy = _Policies(pol)
        self.rollback_policy = _Policies([retry_policy(beh, g.retry[i], False) for i in range(n)])
        self.jitter = any(p.jitter != "none" for p in (*self.policy.distinct, *self.rollback_policy.distinct))
        self.takes_slot = ~np.asarray(g.is_wait, dtype=bool)[lay.step]  # (a wait takes no worker slot)
        self._pairs_room: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # (``_pair_buffers``)
        # each step's limit on attempts under way (0: none; a wait takes no place)
        self.step_limit = np.array([m if m and not w else 0 for m, w in zip(g.max_concurrency, g.is_wait, strict=True)],
                                   dtype=np.int64)
        self.act_of_step = np.asarray(acts.of)
        self.per_unit_step = np.asarray(acts.per_unit)[self.act_of_step]
        self.is_gpu = np.asarray(g.is_gpu, dtype=bool)
        self.is_wait = np.asarray(g.is_wait, dtype=bool)
        self.act_cols = [np.concatenate([np.arange(lay.cols[i].start, lay.cols[i].stop) for i in steps])
                         for steps in acts.steps]  # each activity's columns, in (step, instance) order
        self.rate_per_s = np.asarray(g.rate_per_s, dtype=np.float64)
        self.call_cost = np.asarray(g.call_cost, dtype=np.float64)
        # the worker (``sim.model.failures.Worker``): crash and deployment clocks
        f = scenario.failures
        crash, deploy = f.crash, f.deploy
        self.crash_ppf = crash.time_to_failure.ppf if crash is not None else None
        self.crash_hash = index_hashes(np.arange(64, dtype=np.uint64))  # (``_ttf``; grown as needed)
        self.renew = crash.renew_on_restart if crash is not None else True
        self.restart_crash = crash.restart_time_s if crash is not None else 0.0
        self.deploy_mode = None if deploy is None else deploy.mode
        self.every = (deploy.every_s or 0.0) if deploy is not None else 0.0
        self.drain = deploy.drain_s if deploy is not None else 0.0
        self.restart_deploy = deploy.restart_time_s if deploy is not None else 0.0
        self.deploy_at = np.array([*deploy.at_s, INF]) if deploy is not None and deploy.mode == "scheduled" else None

    def admit(self, k: int) -> None:
        """Admit the next ``k`` runs (fresh state, their first units pending), after those under way."""
        g, acts, lay = self.g, self.acts, self.lay
        runs = self.runs[self.next:self.next + k]
        rows = np.arange(self.next, self.next + runs.size)
        self.next += runs.size
        size, n, m, w = runs.size, g.n, len(acts.steps), lay.width
        seed = self.seed
        counts = _counts(g, seed, runs)
        exists = lay.instance[None, :] < counts[:, lay.step]
        new = {
            "row": rows, "count": counts,
            "st": np.where(exists, IDLE, DONE).astype(np.int8),  # (absent instances: done, never counted)
            "due": np.full((size, w), INF), "start": np.zeros((size, w)), "end": np.full((size, w), INF),
            "calls": np.zeros((size, w), dtype=np.int64),  # attempts started (the current one's index: calls − 1)
            "lim": np.zeros((size, w), dtype=bool),
            "work": np.zeros((size, w)),  # the current attempt's work (0 for a 429)
            "fails": np.zeros((size, w), dtype=np.int64), "prev_sleep": np.zeros((size, w)),
            "n_done": np.zeros((size, n), dtype=np.int64), "running": np.zeros((size, n), dtype=np.int64),
            "visible": np.zeros((size, n)),
            "left": np.tile(np.array([len(s) for s in acts.steps], dtype=np.int64), (size, 1)),
            "open": np.zeros((size, m), dtype=bool), "pend_c": np.zeros((size, m)), "pend_cost": np.zeros((size, m)),
            "a_fails": np.zeros((size, m), dtype=np.int64), "a_prev_sleep": np.zeros((size, m)),
            "last_done": np.full((size, m), -1, dtype=np.int64),
            "acts_left": np.full(size, m, dtype=np.int64), "busy": np.zeros(size, dtype=np.int64),
            "now": np.zeros(size), "finish": np.full(size, INF),
            "history": np.full(size, EVENTS_AT_START if self.records else 0, dtype=np.int64),
            "ready": np.zeros(size), "last_crash": np.full(size, -INF),
            "task_at": np.zeros(size),  # the last workflow task's start (``WorkflowRun.task_at``)
            "draining": np.zeros(size, dtype=bool), "drain_end": np.full(size, INF),
            "crash_j": np.ones(size, dtype=np.int64), "deploy_m": np.zeros(size, dtype=np.int64),
            "phase": np.zeros(size),
            "handed": np.zeros(size, dtype=bool),  # runs handed to the engine's run logic
        }
        for name in ("useful_c", "useful_cost", "waste_c", "waste_cost"):
            new[name] = np.zeros(size)
        for name in ("unit_attempts", "attempts", "rate_limited", "restarts", "retries", "crashes", "deploy_kills"):
            new[name] = np.zeros(size, dtype=np.int64)
        for name, source in (("key_duration", Source.DURATION), ("key_rate", Source.RATE_LIMIT),
                             ("key_retry_after", Source.RETRY_AFTER)):
            new[name] = replication_keys(seed, source, runs)
        new["key_jitter"] = replication_keys(seed, Source.JITTER, runs) if self.jitter else np.zeros(size, np.uint64)
        if self.crash_ppf is not None:
            new["key_crash"] = replication_keys(seed, Source.CRASH, runs)
            new["next_crash"] = self.crash_ppf(uniforms(new["key_crash"], np.uint64(0)))
        else:
            new["key_crash"] = np.zeros(size, np.uint64)
            new["next_crash"] = np.full(size, INF)
        new["key_deploy"] = np.zeros(size, np.uint64)
        if self.deploy_mode is None:
            new["next_deploy"] = np.full(size, INF)
        elif self.deploy_mode == "scheduled":
            new["next_deploy"] = np.full(size, self.deploy_at[0])
        else:
            new["key_deploy"] = replication_keys(seed, Source.DEPLOY, runs)
            u = uniforms(new["key_deploy"], np.uint64(0))
            if self.deploy_mode == "periodic":
                new["phase"] = u * self.every
                new["next_deploy"] = new["phase"].copy()
            else:
                new["next_deploy"] = self._gap(u)
        # (a crash or deployment at the very start: the engine's)
        new["handed"] |= (new["next_crash"] <= 0.0) | (new["next_deploy"] <= 0.0)
        if not self.fields:  # the first runs: their arrays are the batch's, one row per run from now on
            self.fields = list(new)
            for name, value in new.items():  # (row-major, as ``_flat`` needs)
                setattr(self, name, np.ascontiguousarray(value))
            self.size = size
            self.live = np.ones(size, dtype=bool)
            admitted = np.arange(size)
        else:  # the next runs take the rows of runs written out (in place: no arrays copied)
            admitted = np.flatnonzero(~self.live)[:size]
            for name in self.fields:
                getattr(self, name)[admitted] = new[name]
            self.live[admitted] = True
        # start: the entry steps of the activities that follow nothing
        at = 0.0 + (EVENTS_AT_START * self.lat if self.records else 0.0)
        for a, ext in enumerate(acts.ext_preds):
            if not ext:
                for i in acts.entry[a]:
                    self._activate(admitted, i, np.full(size, at))

    # ------------------------------------------------------------------ helpers

    def _activate(self, rows: np.ndarray, i: int, at: np.ndarray) -> None:
        """Every instance of step i becomes pending at ``at`` (in the state rows ``rows``)."""
        compile_cached(_pending)(rows, i, self.lay.offset[i], self.count, at, self.st, self.due, PENDING)

    def _latest(self, rows: np.ndarray, steps: list[int]) -> np.ndarray:
        """When the last of ``steps`` became visible, in each of ``rows`` (the latest of their
        ``visible`` times: a maximum, exact in any order)."""
        at = self.visible[rows, steps[0]]
        for i in steps[1:]:
            np.maximum(at, self.visible[rows, i], out=at)
        return at

    def _draw(self, source: Source, r: np.ndarray, c: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Draw ``k`` of source ``source`` for unit ``c`` of runs ``r`` (``GraphDraws``)."""
        keys = {Source.DURATION: self.key_duration, Source.RATE_LIMIT: self.key_rate,
                Source.RETRY_AFTER: self.key_retry_after}[source]
        lay = self.lay
        if k.size == 0 or k.max() < lay.ATTEMPTS:
            hashed = lay.lane_hash.take(c * lay.ATTEMPTS + k)
        else:
            hashed = index_hashes(lay.lane[c] + k.astype(np.uint64))
        u = np.empty(r.size)
        compile_with_rng(keyed_uniforms)(keys, r, hashed, u)
        return u

    def _cells(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Flat indices of the cells (r, c) of the (runs × units) arrays (``_flat``): one gather
        or scatter by flat index costs about half one by (row, column) pair."""
        return r * self.lay.width + c

    def _pair_buffers(self, use: str) -> tuple[np.ndarray, np.ndarray]:
        """Two index arrays with room for every (run, unit) cell, kept between rounds for ``use``."""
        cells = self.due.size
        if self._pairs_room.get(use, (np.zeros(0),))[0].size < cells:
            self._pairs_room[use] = (np.empty(cells, dtype=np.int64), np.empty(cells, dtype=np.int64))
        return self._pairs_room[use]

    @staticmethod
    def _flat(x: np.ndarray) -> np.ndarray:
        """A writable 1-D view of a (runs × units) array (an error, not a copy, if there is none)."""
        v = x.view()
        v.shape = (-1,)
        return v

    def _compact(self, keep: np.ndarray) -> None:
        """Keep the rows ``keep`` (a mask) only (``take`` by index: several times faster than a mask)."""
        idx = np.flatnonzero(keep)
        for name in (*self.fields, "live"):
            setattr(self, name, getattr(self, name).take(idx, axis=0))
        self.size = idx.size

    # ------------------------------------------------------------------ a round

    def start_runnable(self, act: np.ndarray) -> None:
        """Start the units that are due, within the limits (``WorkflowRun._start_runnable``)."""
        g, lay = self.g, self.lay
        r, c = self._pair_buffers("starting")
        k = compile_cached(_runnable)(self.due, self.count, lay.offset, self.now, act, self.draining,
                                      self.ready, self.running, self.busy, self.step_limit, self.takes_slot,
                                      int(g.slots or 0), r, c)
        if k == 0:
            return
        r, c = r[:k], c[:k]
        k = self._pair_buffers("attempt")[0][:r.size]
        compile_cached(_start_counts)(r, c, lay.step, self.per_unit_step, self.act_of_step, self.takes_slot, self.calls,
                                      k, self.open, self.unit_attempts, self.attempts, self.busy, self.running)
        step = lay.step[c]
        length = np.empty(r.size)
        lim = np.zeros(r.size, dtype=bool)
        for i in range(g.n):
            m = np.flatnonzero(step == i)  # (indices: ``take`` beats a boolean mask several times over)
            if m.size == 0:
                continue
            ri, ci, ki = r.take(m), c.take(m), k.take(m)
            dist = g.durations[i]
            d = dist.ppf(self._draw(Source.DURATION, ri, ci, ki)) if dist.is_random else np.full(ri.size, dist.mean())
            if g.limited[i]:
                li = self._draw(Source.RATE_LIMIT, ri, ci, ki) < g.p429
                lim[m] = li
                d = np.where(li, g.response_s, d)
            length[m] = d
        compile_cached(_launch)(r, c, length, lim, self.now, self.lim, self.work, self.start, self.end, self.due,
                                self.st, INFLIGHT)

    def next_event(self, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move each active run to its next event (``WorkflowRun._next_event_time``); the runs
        that reach the horizon are handed to the engine (``act`` and the clocks changed in place).
        Returns the attempts that end then, as (row, column) pairs in row-major order."""
        r, c = self._pair_buffers("ending")
        k = compile_cached(_next_events)(self.end, self.due, self.count, self.lay.offset, self.next_crash,
                                         self.next_deploy, self.drain_end, self.ready, self.draining,
                                         self.g.max_time_s, act, self.handed, self.now, r, c)
        return r[:k], c[:k]

    def process(self, act: np.ndarray, r_all: np.ndarray, c_all: np.ndarray) -> None:
        """The attempts of active runs that end now (``r_all``, ``c_all``: ``next_event``'s), step
        by step in (step, instance) order (``WorkflowRun._process``). Each step's ending attempts
        are (row, column) pairs in row order, columns ascending within a row: the engine's order,
        which ``np.add.at`` keeps when it accumulates a row's sums."""
        g, lay, acts, beh = self.g, self.lay, self.acts, self.beh
        now = self.now
        self.rolled_any = False
        flat = self._flat
        cell_all = self._cells(r_all, c_all)
        step_all = lay.step[c_all]
        for i in range(g.n):
            m = np.flatnonzero(step_all == i)
            if m.size == 0:
                continue
            r, c, cell = r_all.take(m), c_all.take(m), cell_all.take(m)
            if i and self.rolled_any:  # (a roll-back earlier in this round may have cancelled some)
                keep = flat(self.end).take(cell) <= now[r]
                r, c, cell = r[keep], c[keep], cell[keep]
                if r.size == 0:
                    continue
            a = acts.of[i]
            lim = flat(self.lim).take(cell)
            rb = None
            if not self.in_place[i] and lim.any():
                # a 429 that rolls the multi-step activity back (``_roll_back``): the first one of
                # its row; completions before it count, attempts after it are cancelled
                rb, at = _distinct(r[lim], index=True)
                rb_col = c[lim][at]
                first = np.full(self.size, lay.width)
                first[rb] = rb_col
                keep = c <= first[r]
                r, c, cell = r[keep], c[keep], cell[keep]
                lim = c == first[r]
            wait = g.is_wait[i]
            el = 0.0 * r if wait else now[r] - flat(self.start).take(cell)
            if wait:
                cost = el
            elif g.is_gpu[i]:
                cost = el * g.rate_per_s[i]
            else:
                cost = np.where(lim, 0.0, g.call_cost[i])
            if not wait:
                np.add.at(flat(self.running), r * g.n + i, -1)
                np.add.at(self.busy, r, -1)
            if rb is None and lim.any():  # 429s retried for their instance alone
                rl, cl = r[lim], c[lim]
                np.add.at(self.waste_c, rl, el[lim])
                np.add.at(self.waste_cost, rl, cost[lim])
                np.add.at(self.rate_limited, rl, 1)
                if not beh.retry_429_in_place and acts.count_restarts and not acts.ext_preds[a]:
                    np.add.at(self.restarts, rl, 1)
                # the jitter draw of each retry: the run's retry counter, in (step, instance) order
                ur, at, n_r = _distinct(rl, index=True, counts=True)
                rank = np.arange(rl.size) - np.repeat(at, n_r)
                jidx = self.retries[rl] + rank
                self.retries[ur] += n_r
                self._retry_pairs(rl, cl, now[rl], jidx, True)
            done = ~lim
            if done.any():
                ur = self._complete(i, a, r[done], c[done], el[done], cost[done])
                rc = ur[self.n_done[ur, i] == self.count[ur, i]]
                if rc.size:
                    self._step_complete(i, a, rc)
            if rb is not None:
                self.rolled_any = True
                self.st[rb, rb_col] = IDLE  # (off the worker: not cancelled again)
                self.end[rb, rb_col] = INF
                self.waste_c[rb] += el[lim]
                self.waste_cost[rb] += cost[lim]
                self.rate_limited[rb] += 1
                if acts.count_restarts and not acts.ext_preds[a]:
                    self.restarts[rb] += 1
                self._roll_back(a, rb, now[rb], np.full(rb.size, i), rb_col, self.retries[rb].copy())
                self.retries[rb] += 1

    def _complete(self, i: int, a: int, r: np.ndarray, c: np.ndarray, elapsed: np.ndarray,
                  cost: np.ndarray) -> np.ndarray:
        """Attempts (r, c) of step i that completed now: held or recorded. Returns their rows."""
        ur, nd = self._pair_buffers("completed")
        per_unit = self.acts.per_unit[a]
        n = compile_cached(_completed)(r, c, i, elapsed, cost, self.st, self.end, self.fails, self.prev_sleep,
                                       self.n_done, self.useful_c if per_unit else self.pend_c[:, a],
                                       self.useful_cost if per_unit else self.pend_cost[:, a], DONE, ur, nd)
        ur, nd = ur[:n], nd[:n]
        vis = self._record(ur, self.unit_events[i], nd) if per_unit else self.now[ur]
        old = self.visible[ur, i]
        self.visible[ur, i] = np.where(vis > old, vis, old)
        return ur

    def _step_complete(self, i: int, a: int, rc: np.ndarray) -> None:
        """Every instance of step i has completed (in the rows ``rc``)."""
        g, acts = self.g, self.acts
        self.last_done[rc, a] = i
        for s in g.succs[i]:  # successors inside the activity
            if acts.of[s] == a:
                ready = np.ones(rc.size, dtype=bool)
                for p in acts.in_preds[s]:
                    ready &= self.n_done[rc, p] == self.count[rc, p]
                rs = rc[ready]
                if rs.size:
                    self._activate(rs, s, self._latest(rs, g.preds[s]))
        self.left[rc, a] -= 1
        fin = rc[self.left[rc, a] == 0]
        if fin.size:
            self._activity_done(a, fin)

    def _roll_back(self, a: int, rb: np.ndarray, notice: np.ndarray, step: np.ndarray, col: np.ndarray | None,
                   jidx: np.ndarray) -> None:
        """Activity ``a`` failed (rows ``rb``): cancel its attempts in flight, waste what it
        completed, re-run it from its entry steps after its back-off (``WorkflowRun._roll_back``):
        the policy of step ``step``, jitter draw ``jidx``, at least the Retry-After of the 429'd unit
        ``col`` (None: a crash or a deployment). The caller counts the retry."""
        g, acts = self.g, self.acts
        steps = acts.steps[a]
        compile_cached(_cancel_activity)(rb, self.act_cols[a], self.lay.step, self.now, self.is_wait, self.is_gpu,
                                         self.rate_per_s, self.call_cost, self.count, self.lay.instance, self.st,
                                         self.start, self.end, self.due, self.lim, self.work, self.running,
                                         self.busy, self.n_done, self.visible, self.waste_c, self.waste_cost,
                                         self.pend_c[:, a], self.pend_cost[:, a], IDLE, DONE, INFLIGHT)
        self.left[rb, a] = len(steps)
        self.open[rb, a] = False
        self.a_fails[rb, a] += 1
        fails = self.a_fails[rb, a]
        wait, _ = self._backoffs(rb, step, fails, jidx, self.rollback_policy, self.a_prev_sleep[rb, a])
        self.a_prev_sleep[rb, a] = wait
        ra = g.retry_after
        if ra is not None and col is not None:
            k = self.calls[rb, col] - 1  # (the 429'd attempt's index)
            after = ra.ppf(self._draw(Source.RETRY_AFTER, rb, col, k)) if ra.is_random else ra.mean()
            wait = np.maximum(wait, after)
        at = notice + wait
        for s in acts.entry[a]:
            self._activate(rb, s, at)

    def _backoffs(self, rows: np.ndarray, step: np.ndarray, fails: np.ndarray, jidx: np.ndarray,
                  policies: _Policies, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each failure's back-off under its step's retry policy (``retry_wait_s``), with the run's
        jitter draw ``jidx`` and the previous sleep ``prev``; the runs whose policy gives up are
        handed to the engine (the workflow fails there). Returns (waits, not given up)."""
        wait = np.zeros(rows.size)
        keep = np.ones(rows.size, dtype=bool)
        single = len(policies.distinct) == 1
        group = None if single else policies.group[step]
        for p, policy in enumerate(policies.distinct):
            m = np.ones(rows.size, dtype=bool) if single else group == p
            if policy.maximum_attempts:
                gives_up = m & (fails >= policy.maximum_attempts)
                if gives_up.any():
                    self.handed[rows[gives_up]] = True
                    keep &= ~gives_up
                    m &= ~gives_up
            code = _JITTER_CODES[policy.jitter]
            u = uniforms(self.key_jitter[rows[m]], jidx[m].astype(np.uint64)) if code else 0.0
            wait[m] = _jittered(policies.interval(p, fails[m]), policy.initial_interval_s, policy.max_interval_s,
                                code, u, prev[m])
        return wait, keep

    def _retry_pairs(self, r: np.ndarray, c: np.ndarray, notice: np.ndarray, jidx: np.ndarray, limited: bool) -> None:
        """Units (r, c) retried alone after their back-off (``WorkflowRun._retry_unit``): a
        429's (``limited``: at least Retry-After) or a crash's or deployment's. The caller counts
        the retries."""
        cell, flat = self._cells(r, c), self._flat
        fails = flat(self.fails).take(cell) + 1
        step = self.lay.step[c]
        wait, keep = self._backoffs(r, step, fails, jidx, self.policy, flat(self.prev_sleep).take(cell))
        if not keep.all():
            r, c, cell, wait, fails, notice = r[keep], c[keep], cell[keep], wait[keep], fails[keep], notice[keep]
        flat(self.fails)[cell] = fails
        flat(self.prev_sleep)[cell] = wait
        ra = self.g.retry_after
        if limited and ra is not None:
            k = flat(self.calls).take(cell) - 1  # (the 429'd attempt's index)
            after = ra.ppf(self._draw(Source.RETRY_AFTER, r, c, k)) if ra.is_random else ra.mean()
            wait = np.maximum(wait, after)
        flat(self.due)[cell] = notice + wait
        flat(self.st)[cell] = PENDING
        flat(self.end)[cell] = INF

    # ------------------------------------------------------------------ the worker

    def _gap(self, u: np.ndarray) -> np.ndarray:
        return -self.every * np.log1p(-u)

    def _ttf(self, rows: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The times to failure ``j`` of the workers of ``rows`` (crash draws: index hashes looked up)."""
        self.crash_hash = index_table(self.crash_hash, int(j.max(initial=0)) + 1)
        u = np.empty(rows.size)
        compile_with_rng(keyed_uniforms)(self.key_crash, rows, self.crash_hash.take(j), u)
        return self.crash_ppf(u)

    def _new_life(self, rows: np.ndarray) -> None:
        """The worker is ready again at ``ready`` after a restart (``Worker._new_life``)."""
        if self.crash_ppf is None or rows.size == 0:
            return
        if self.renew:
            self.next_crash[rows] = self.ready[rows] + self._ttf(rows, self.crash_j[rows])
            self.crash_j[rows] += 1
            return
        while True:
            rows = rows[self.next_crash[rows] <= self.ready[rows]]
            if rows.size == 0:
                return
            self.next_crash[rows] += self._ttf(rows, self.crash_j[rows])
            self.crash_j[rows] += 1

    def _advance_deploy(self, rows: np.ndarray) -> None:
        m = self.deploy_m[rows] + 1
        self.deploy_m[rows] = m
        if self.deploy_mode == "scheduled":
            self.next_deploy[rows] = self.deploy_at[np.minimum(m, self.deploy_at.size - 1)]
        elif self.deploy_mode == "periodic":
            self.next_deploy[rows] = self.phase[rows] + m * self.every
        else:
            self.next_deploy[rows] += self._gap(uniforms(self.key_deploy[rows], m.astype(np.uint64)))

    def _record(self, rows: np.ndarray, events: int, nd) -> np.ndarray:
        """Record ``nd`` completions of ``events`` history events each, now; when they are visible
        (``WorkflowRun._record``, ``sim.model.workflow.recorded_at_s``)."""
        g = self.g
        lat = events * self.lat
        now = self.now[rows]
        task_at = self.task_at[rows]
        join = now < task_at  # a workflow task already due: the completions join it
        start = now
        extra = np.zeros(rows.size, dtype=np.int64)
        if g.sticky_s > 0.0:
            lost = self.last_crash[rows] > task_at
            start = np.where(lost, now + g.sticky_s, now)
            extra += np.where(lost, STICKY_TIMEOUT_EVENTS, 0)
        t = start + lat
        if g.task_timeout_s > 0.0:
            c = self.next_crash[rows]
            hit = (start < c) & (c <= t)
            start = np.where(hit, start + g.task_timeout_s, start)
            t = np.where(hit, start + lat, t)
            extra += np.where(hit, TASK_TIMEOUT_EVENTS, 0)
        self.history[rows] += events * np.asarray(nd) + np.where(join, 0, extra)
        self.task_at[rows] = np.where(join, task_at, start)
        return np.where(join, task_at + lat, t)

    def worker_events(self, act: np.ndarray) -> None:
        """Crashes, deployments and drain ends due now (``WorkflowRun._process``)."""
        live = act.copy()
        now = self.now
        while True:
            c, d = self.next_crash, self.next_deploy
            drained = live & self.draining & (self.drain_end <= now) & (self.drain_end <= c)
            crashed = live & ~drained & (c <= now) & (c <= d)
            deployed = live & ~drained & ~crashed & (d <= now)
            if not (drained.any() or crashed.any() or deployed.any()):
                break
            lost, lost_at, lost_crash = [], [], []  # every row's event, then one call for all
            rows = np.flatnonzero(drained)
            if rows.size:
                lost.append(rows), lost_at.append(self.drain_end[rows]), lost_crash.append(np.zeros(rows.size, bool))
            rows = np.flatnonzero(crashed)
            if rows.size:
                at = c[rows].copy()
                self.last_crash[rows] = at
                self.ready[rows] = at + self.restart_crash
                self._new_life(rows)
                lost.append(rows), lost_at.append(at), lost_crash.append(np.ones(rows.size, bool))
            rows = np.flatnonzero(deployed)
            if rows.size:
                at = d[rows].copy()
                up = at >= self.ready[rows]
                self._advance_deploy(rows)
                rows, at = rows[up & ~self.draining[rows]], at[up & ~self.draining[rows]]
                self.draining[rows] = True
                self.drain_end[rows] = at + self.drain
                idle = self.busy[rows] == 0
                if idle.any():
                    lost.append(rows[idle]), lost_at.append(at[idle]), lost_crash.append(np.zeros(idle.sum(), bool))
            if lost:
                self._worker_lost(np.concatenate(lost), np.concatenate(lost_at), np.concatenate(lost_crash))
            live &= (self.finish == INF) & ~self.handed
        rows = np.flatnonzero(live & self.draining & (self.busy == 0))
        if rows.size:  # the last attempt of the drain finished: the worker exits
            self._worker_lost(rows, now[rows].copy(), np.zeros(rows.size, bool))

    def _worker_lost(self, rows: np.ndarray, at: np.ndarray, crash: np.ndarray) -> None:
        """The worker crashed (``crash``; already restarting) or exits after a deployment at ``at``: every
        attempt in flight on it ends; multi-step activities lose what the worker's memory held
        (``WorkflowRun._worker_lost``). The failures are taken in the engine's order: a unit's
        position is 2·column + 1, a multi-step activity's that of its first killed unit, or
        2·(its first column) when it only held work in memory."""
        g, lay, acts = self.g, self.lay, self.acts
        exits = rows[~crash]
        self.ready[exits] = at[~crash] + self.restart_deploy
        self._new_life(exits)
        self.draining[rows] = False
        self.drain_end[rows] = INF
        fs, fc = _pairs(self.st[rows] == INFLIGHT)  # attempts in flight, row-major
        kill = self.takes_slot[fc]
        ks, kc = fs[kill], fc[kill]  # the attempts killed (waits are not on the worker)
        unit = self.per_unit_step[lay.step[kc]]
        us, uc = ks[unit], kc[unit]  # killed units of single-step activities
        failing = np.zeros(rows.size, dtype=bool)
        failing[us] = True
        multi = [a for a in range(len(acts.steps)) if not acts.per_unit[a]]
        act_fail, act_pos = {}, {}
        for a in multi:
            in_a = self.act_of_step[lay.step[kc]] == a
            k_rows, k_first = _distinct(ks[in_a], index=True)
            has_k = np.zeros(rows.size, dtype=bool)
            has_k[k_rows] = True
            pos = np.full(rows.size, 2 * lay.offset[acts.steps[a][0]])
            pos[k_rows] = 2 * kc[in_a][k_first] + 1
            steps = list(acts.steps[a])
            held = self.n_done[rows][:, steps].sum(axis=1) > 0
            held[fs[self.act_of_step[lay.step[fc]] == a]] = True  # (a wait in memory)
            act_fail[a] = has_k | ((self.left[rows, a] > 0) & held)
            act_pos[a] = pos
            failing |= act_fail[a]
        if not failing.any():
            return
        self.crashes[rows[failing & crash]] += 1
        self.deploy_kills[rows[failing & ~crash]] += 1
        notice = np.where(crash, at + g.detect_s, at)
        # the killed attempts stop, in (step, instance) order (a row's pairs are in column order)
        r_k = rows[ks]
        cell, flat = self._cells(r_k, kc), self._flat
        el = at[ks] - flat(self.start).take(cell)
        step = lay.step[kc]
        work = flat(self.work).take(cell)
        with np.errstate(divide="ignore", invalid="ignore"):
            llm_cost = np.where(flat(self.lim).take(cell) | (work <= 0), 0.0, self.call_cost[step] * el / work)
        cost = np.where(self.is_gpu[step], el * self.rate_per_s[step], llm_cost)
        np.add.at(self.waste_c, r_k, el)
        np.add.at(self.waste_cost, r_k, cost)
        np.add.at(flat(self.running), r_k * g.n + step, -1)
        np.add.at(self.busy, r_k, -1)
        flat(self.st)[cell] = IDLE
        flat(self.end)[cell] = INF
        # each failure's rank among the row's failures gives its jitter draw
        retries = self.retries[rows].copy()
        total = np.bincount(us, minlength=rows.size)
        for a in multi:
            total += act_fail[a]
        self.retries[rows] += total

        def multi_before(sub: np.ndarray, pos: np.ndarray) -> np.ndarray:
            out = np.zeros(sub.size, dtype=np.int64)
            for a in multi:
                out += act_fail[a][sub] & (act_pos[a][sub] < pos)
            return out

        if us.size:  # single-step activities: each killed unit retried alone
            first_of_row = _distinct(us, index=True)[1]
            n_per_row = np.diff(np.append(first_of_row, us.size))
            rank = np.arange(us.size) - np.repeat(first_of_row, n_per_row) + multi_before(us, 2 * uc + 1)
            if acts.count_restarts:
                roots = np.array([not acts.ext_preds[acts.of[s]] for s in range(g.n)])[lay.step[uc]]
                np.add.at(self.restarts, rows[us[roots]], 1)
            self._retry_pairs(rows[us], uc, notice[us], retries[us] + rank, False)
        for a in multi:  # multi-step activities: rolled back
            sel_a = np.flatnonzero(act_fail[a])
            if sel_a.size == 0:
                continue
            rb = rows[sel_a]
            pos = act_pos[a][sel_a]
            before = np.zeros(rows.size, dtype=np.int64)
            np.add.at(before, us, (2 * uc + 1) < act_pos[a][us])
            rank = before[sel_a] + multi_before(sel_a, pos)
            for s in acts.steps[a]:  # a wait in memory dies with the worker
                if g.is_wait[s]:
                    cols = lay.cols[s]
                    w_r, w_j = _pairs(self.st[rb, cols] == INFLIGHT)
                    self.st[rb[w_r], w_j + cols.start] = IDLE
                    self.end[rb[w_r], w_j + cols.start] = INF
            if acts.count_restarts and not acts.ext_preds[a]:
                self.restarts[rb] += 1
            last = self.last_done[rb, a]
            killed_first = pos % 2 == 1
            step_of = np.where(killed_first, lay.step[np.minimum(pos // 2, lay.width - 1)],
                               np.where(last >= 0, last, acts.steps[a][0]))
            self._roll_back(a, rb, notice[sel_a], step_of, None, retries[sel_a] + rank)

    def _activity_done(self, a: int, fin: np.ndarray) -> None:
        """Every unit of activity ``a`` has completed (rows ``fin``): record it, start the
        activities after it (``WorkflowRun._activity_done``)."""
        g, acts = self.g, self.acts
        self.acts_left[fin] -= 1
        if not acts.per_unit[a]:
            if self.beh.records_history:
                vis = self._record(fin, EVENTS_PER_ACTIVITY, 1)
                for i in acts.steps[a]:
                    self.visible[fin, i] = vis
            self.useful_c[fin] += self.pend_c[fin, a]
            self.useful_cost[fin] += self.pend_cost[fin, a]
            self.pend_c[fin, a] = 0.0
            self.pend_cost[fin, a] = 0.0
            self.open[fin, a] = False
            self.a_fails[fin, a] = 0
            self.a_prev_sleep[fin, a] = 0.0
        last = self.acts_left[fin] == 0
        over = fin[last]
        if over.size:
            self.finish[over] = self._latest(over, g.sinks)
        going = fin[~last]
        for b in acts.dependents[a]:
            ext = acts.ext_preds[b]
            ready = np.ones(going.size, dtype=bool)
            for p in ext:
                ready &= self.left[going, acts.of[p]] == 0
            rs = going[ready]
            if rs.size:
                at = self._latest(rs, ext)
                for i in acts.entry[b]:
                    self._activate(rs, i, at)

    # ------------------------------------------------------------------ the whole batch

    def run(self, out: dict[str, np.ndarray], batch: int) -> np.ndarray:
        """Step every run to its end, at most ``batch`` under way at a time (the next admitted as
        others finish); write the results of the runs it finishes at their index in ``runs``;
        return the indices of the runs handed to the engine."""
        handed_rows: list[np.ndarray] = []
        total = len(self.runs)
        self.admit(min(batch, total))
        while True:
            act = self.live & ~self.handed & (self.finish == INF)
            left = int(np.count_nonzero(act))
            if left < REFILL * batch and self.next < total:  # admit the next runs, in the rows of those over
                self._write(out, self.live & ~act, handed_rows)
                self.admit(min(self.size - left, total - self.next))
                continue
            if left == 0 or left < TAIL:  # (all admitted) the last few runs: the engine is faster on them
                self.handed |= act
                break
            self.start_runnable(act)
            ending = self.next_event(act)
            self.process(act, *ending)
            self.worker_events(act & (self.finish == INF) & ~self.handed)
            if self.next == total:  # the tail: rows of runs over are dropped once they are many
                over = self.live & ((self.finish != INF) | self.handed)
                if over.sum() >= COMPACT * self.size:
                    self._write(out, over, handed_rows)
                    self._compact(self.live)
        self._write(out, self.live, handed_rows)
        return np.concatenate(handed_rows) if handed_rows else np.zeros(0, dtype=np.int64)

    def _write(self, out: dict[str, np.ndarray], over: np.ndarray, handed_rows: list) -> None:
        """Write out the runs of rows ``over`` (live rows), whose rows are then free."""
        handed = over & self.handed
        handed_rows.append(self.row[handed])
        fin = over & ~self.handed & (self.finish != INF)
        dest = self.row[fin]
        values = {
            "completed": True, "makespan_s": self.finish[fin], "compute_s": self.useful_c[fin] + self.waste_c[fin],
            "useful_compute_s": self.useful_c[fin], "wasted_compute_s": self.waste_c[fin],
            "compute_cost_usd": self.useful_cost[fin] + self.waste_cost[fin], "useful_cost_usd": self.useful_cost[fin],
            "wasted_cost_usd": self.waste_cost[fin], "unit_attempts": self.unit_attempts[fin],
            "history_events": self.history[fin], "attempts": self.attempts[fin], "crashes": self.crashes[fin],
            "deploy_kills": self.deploy_kills[fin], "rate_limited": self.rate_limited[fin],
            "pipeline_restarts": self.restarts[fin], "heartbeats": 0,
        }
        for name in RUN_FIELDS:
            out[name][dest] = values[name]
        self.live &= ~over


def _distinct(sorted_rows: np.ndarray, counts: bool = False, index: bool = False):
    """The distinct values of a sorted array (``np.unique``'s, without its sort), and optionally
    the index of each one's first appearance (``index``) and how many times it appears
    (``counts``), in that order."""
    if sorted_rows.size == 0:
        starts = np.zeros(0, dtype=np.int64)
    else:
        starts = np.flatnonzero(np.concatenate(([True], sorted_rows[1:] != sorted_rows[:-1])))
    out = [sorted_rows[starts]]
    if index:
        out.append(starts)
    if counts:
        out.append(np.diff(np.append(starts, sorted_rows.size)))
    return tuple(out) if len(out) > 1 else out[0]


def _pairs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, column) pairs of a 2-D mask's True entries, in row-major order: ``np.nonzero``'s
    result, from the flattened mask (several times faster than ``np.nonzero`` on 2-D arrays)."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _runnable(due, count, offset, now, act, draining, ready, running, busy, step_limit, takes_slot, slots, out_r,
              out_c):
    """The units that start now (``WorkflowRun._start_runnable``), as (row, column) pairs in
    row-major order into ``out_r``, ``out_c``; returns how many. In a run that is active, not
    draining and whose worker is ready: the units due by now (among its own ``count[r, i]``
    instances of each step i, the columns from ``offset[i]``: the others are never due), in column
    order, each within its step's limit on attempts under way (``step_limit``; 0: none), then
    within the worker's free slots (``slots``; 0: no limit) if it takes one. A unit that the slots
    turn away still took its place under the step's limit, as the limits are applied one after the
    other."""
    n_steps = running.shape[1]
    free = np.empty(n_steps, dtype=np.int64)
    every_unit_takes_a_slot = slots > 0  # (then a run whose slots are all taken starts nothing more)
    for c in range(takes_slot.size):
        every_unit_takes_a_slot &= takes_slot[c]
    k = 0
    for r in range(due.shape[0]):
        if not act[r] or draining[r] or not now[r] >= ready[r]:
            continue
        slot_free = slots - busy[r]
        if every_unit_takes_a_slot and slot_free <= 0:
            continue
        for i in range(n_steps):
            free[i] = step_limit[i] - running[r, i]
        for i in range(n_steps):  # (the run's instances of step i: the columns that may be due)
            for c in range(offset[i], offset[i] + count[r, i]):
                if not due[r, c] <= now[r]:
                    continue
                if step_limit[i] > 0:
                    if free[i] <= 0:
                        continue
                    free[i] -= 1
                if slots > 0 and takes_slot[c]:
                    if slot_free <= 0:
                        continue
                    slot_free -= 1
                out_r[k] = r
                out_c[k] = c
                k += 1
                if every_unit_takes_a_slot and slot_free <= 0:
                    break
            if every_unit_takes_a_slot and slot_free <= 0:
                break
    return k


def _start_counts(r, c, col_step, per_unit_step, act_of_step, takes_slot, calls, k_out, open_, unit_attempts, attempts,
                  busy, running):
    """The counts of the attempts that start (``_runnable``'s pairs ``r``, ``c``): each unit's
    attempt number (``calls`` before it, into ``k_out``), the run's unit attempts (a
    single-step activity's every attempt, a multi-step activity's first since it last failed or
    completed: ``open_``), and, for units that take a worker slot, the run's attempts, busy slots
    and attempts under way of the step."""
    for j in range(r.size):
        row, col = r[j], c[j]
        k_out[j] = calls[row, col]
        calls[row, col] += 1
        i = col_step[col]
        if per_unit_step[i]:
            unit_attempts[row] += 1
        elif not open_[row, act_of_step[i]]:
            unit_attempts[row] += 1
            open_[row, act_of_step[i]] = True
        if takes_slot[col]:
            attempts[row] += 1
            busy[row] += 1
            running[row, i] += 1


def _pending(rows, i, first, count, at, st, due, pending):
    """Every instance of step i (columns from ``first``) becomes pending at ``at`` in ``rows``."""
    for j in range(rows.size):
        row = rows[j]
        for col in range(first, first + count[row, i]):
            st[row, col] = pending
            due[row, col] = at[j]


def _cancel_activity(rows, cols, col_step, now, is_wait, is_gpu, rate_per_s, call_cost, count, instance, st, start, end,
                     due, lim, work, running, busy, n_done, visible, waste_c, waste_cost, pend_c, pend_cost, idle, done,
                     inflight):
    """An activity fails in ``rows`` (``_Batch._roll_back``): each of its attempts in flight
    (columns ``cols``, in (step, instance) order) stops and is wasted, its compute and cost added
    one after the other (the engine's order: ``WorkflowRun._stop``); then what the activity held is
    wasted too, and its units are reset (not started, none done)."""
    for row in rows:
        for col in cols:
            i = col_step[col]
            if st[row, col] == inflight and not is_wait[i]:
                el = now[row] - start[row, col]
                if is_gpu[i]:
                    cost = el * rate_per_s[i]
                elif lim[row, col] or work[row, col] <= 0:
                    cost = 0.0
                else:
                    cost = call_cost[i] * el / work[row, col]
                waste_c[row] += el
                waste_cost[row] += cost
                running[row, i] -= 1
                busy[row] -= 1
        waste_c[row] += pend_c[row]
        waste_cost[row] += pend_cost[row]
        pend_c[row] = 0.0
        pend_cost[row] = 0.0
        for col in cols:
            i = col_step[col]
            st[row, col] = idle if instance[col] < count[row, i] else done  # (absent instances stay done)
            end[row, col] = np.inf
            due[row, col] = np.inf
            n_done[row, i] = 0
            visible[row, i] = 0.0


def _completed(r, c, i, elapsed, cost, st, end, fails, prev_sleep, n_done, compute, money, done, out_rows, out_n):
    """The attempts (r, c) of step i completed (``_Batch._complete``): their units are done, and
    their compute and cost added to ``compute`` and ``money`` (per run: the run's useful sums,
    or what a multi-step activity holds), one after the other in pair order (the engine's). The
    distinct rows go into ``out_rows`` with their completions in ``out_n``; returns how many."""
    n = 0
    for j in range(r.size):
        row, col = r[j], c[j]
        st[row, col] = done
        end[row, col] = np.inf
        fails[row, col] = 0
        prev_sleep[row, col] = 0.0
        n_done[row, i] += 1
        compute[row] += elapsed[j]
        money[row] += cost[j]
        if n and out_rows[n - 1] == row:
            out_n[n - 1] += 1
        else:
            out_rows[n] = row
            out_n[n] = 1
            n += 1
    return n


def _launch(r, c, length, limited, now, lim, work, start, end, due, st, inflight):
    """The attempts (r, c) start now: ``length`` long, a 429 where ``limited`` (no work then)."""
    for j in range(r.size):
        row, col = r[j], c[j]
        lim[row, col] = limited[j]
        work[row, col] = 0.0 if limited[j] else length[j]
        start[row, col] = now[row]
        end[row, col] = now[row] + length[j]
        due[row, col] = np.inf
        st[row, col] = inflight


def _next_events(end, due, count, offset, next_crash, next_deploy, drain_end, ready, draining, max_t, act, handed, now,
                 out_r, out_c):
    """``_Batch.next_event`` per row, in place: each active run's next event (the worker's next
    crash or deployment, the drain's end, an attempt's end, a unit becoming due or the worker
    ready for it) becomes its clock, unless it lies at the horizon or beyond: then the run is
    handed to the engine (``act`` False, ``handed`` True). The attempts that end by the new clock
    go into ``out_r``, ``out_c`` as (row, column) pairs in row-major order; returns how many."""
    k = 0
    for r in range(end.shape[0]):
        if not act[r]:
            continue
        t = min(min(next_crash[r], next_deploy[r]), drain_end[r])
        t_due = np.inf
        for i in range(count.shape[1]):  # (a run's instances of each step: the columns that may be set)
            for c in range(offset[i], offset[i] + count[r, i]):
                t = min(t, end[r, c])
                t_due = min(t_due, due[r, c])
        if not draining[r] and t_due < np.inf and (t_due > now[r] or now[r] < ready[r]):
            t = min(t, max(t_due, ready[r]))
        if t >= max_t:
            handed[r] = True
            act[r] = False
            continue
        now[r] = t
        for i in range(count.shape[1]):
            for c in range(offset[i], offset[i] + count[r, i]):
                if end[r, c] <= t:
                    out_r[k] = r
                    out_c[k] = c
                    k += 1
    return k


def _with_engine(scenario: Scenario, graph: Graph, beh: Behaviour, runs: np.ndarray, seed: int,
                 out: dict[str, np.ndarray], dest: np.ndarray) -> None:
    """Runs ``runs`` through the engine's own run logic (``WorkflowRun``), written at ``dest``."""
    if runs.size == 0:
        return
    envs = build_environments(scenario, runs, seed)
    keys = {source: replication_keys(seed, source, runs).tolist() for source in GRAPH_SOURCES}
    spec = worker_spec(scenario)
    rows = []
    for n, renv in enumerate(envs):
        draws = GraphDraws(graph, {source: keys[source][n] for source in GRAPH_SOURCES})
        wr = WorkflowRun(graph, beh, draws, Worker(spec, renv), renv.jitter_u, renv.run, 0.0, None)
        for _ in wr.steps():
            pass  # the run yields delays; nothing else shares its clock
        r = wr.result
        rows.append((*r[:2], *r[3:17]))
    for name, values in zip(RUN_FIELDS, zip(*rows, strict=True), strict=True):
        out[name][dest] = values


def run_into(scenario: Scenario, behaviours: list[Behaviour], runs: np.ndarray, seed: int,
             outs: list[dict[str, np.ndarray]], stats: dict[str, int] | None = None) -> None:
    """Simulate replications ``runs`` of every strategy of a graph scenario into ``outs[k]``
    (``RUN_FIELDS``, in the order of ``runs``), at most ``BATCH`` runs and about ``BATCH_UNITS``
    units under way at a time (flat memory). ``stats`` (optional) counts the runs handed to the
    engine's run logic."""
    graph = Graph(scenario)
    runs = np.asarray(runs, dtype=np.int64)
    widths = np.ones(graph.n, dtype=np.int64)
    for lo in range(0, len(runs), BATCH):  # as many columns per step as any replication has instances
        widths = np.maximum(widths, _counts(graph, seed, runs[lo:lo + BATCH]).max(axis=0, initial=1))
    lay = _Layout(graph, widths)
    batch = max(16, min(BATCH, BATCH_UNITS // lay.width))
    for k, beh in enumerate(behaviours):
        handed = np.sort(_Batch(graph, beh, scenario, seed, runs, lay).run(outs[k], batch))
        _with_engine(scenario, graph, beh, runs[handed], seed, outs[k], handed)
        if stats is not None:
            stats["runs"] = stats.get("runs", 0) + len(runs)
            stats["handed"] = stats.get("handed", 0) + handed.size
