"""Task-queue dispatch of workflow graphs in the fleet (docs/fleet.md, "Task queues").

Under a strategy that records every activity (``durable``, ``heartbeat``, a ``checkpoint`` whose
groups are single steps), a workflow graph holds no worker: like Temporal's, each activity task
goes to one **activity task queue** shared by every workflow of the fleet, FIFO by the instant
the workflow scheduled it, and any worker with a free activity slot (``max_concurrent_activities``)
takes the head of the queue. So a fan-out of 40 embedding calls spreads over the pool, and a
crash kills only the attempts running on the crashed worker: the workflow's other attempts carry
on elsewhere. Workflow tasks run on the worker that caches the workflow (a sticky queue) in one
of its ``max_concurrent_workflow_tasks`` slots; after that worker crashed they wait the sticky
schedule-to-start timeout and go to any worker (``sim.model.workflow.recorded_at_s``).

What a completion, a 429, a crash or a deployment does to the workflow is the workflow model's
(``sim.model.workflow.WorkflowRun``): this module only decides where and when each activity
attempt runs, and which attempts a worker's crash or exit ends. The workers are the single
pipeline's ``sim.model.failures.Worker`` (crash clock, deployment clock, drain, restart).

With one workflow on one worker this is the workflow model's own run, number for number
(tests/test_workflow_graph.py); ``tests/test_fleet_taskqueue.py`` checks the spread, the crash
of one worker of c, and Erlang C for the activity queue.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

from sim.model.failures import CRASHED, INF, KILLED_BY_DEPLOY, Stream, Worker
from sim.model.strategies import EVENTS_AT_START, Behaviour
from sim.model.workflow import Graph, GraphDraws, WorkflowRun, _Attempt, recorded_at_s

# what happens first at one instant: attempts end, then the horizon, then worker crashes and
# deployments, then arrivals and wake-ups (the order of the workflow model's own loop)
END, HORIZON, WORKER, OTHER = 0, 1, 2, 3


def dispatches(graph: Graph, beh: Behaviour) -> bool:
    """Does this strategy's run of ``graph`` go through the activity task queue? Yes when every
    activity is recorded unit by unit (no worker memory to keep); ``restart``,
    ``retry_in_place`` and multi-step ``checkpoint`` groups keep a workflow on one worker."""
    return all(graph.activities_of(beh).per_unit)


class WorkerSlots:
    """A worker of the task-queue fleet: its clocks, its activity slots and workflow-task slots."""

    __slots__ = ("index", "worker", "busy", "attempts", "draining", "drain_end", "wake_at", "wft_free")

    def __init__(self, index: int, worker: Worker, workflow_task_slots: int):
        self.index = index
        self.worker = worker
        self.busy = 0
        self.attempts: dict[tuple[int, tuple[int, int]], _Attempt] = {}
        self.draining = False
        self.drain_end = INF
        self.wake_at = -INF
        # when each workflow-task slot is next free (empty: unlimited)
        self.wft_free = [0.0] * workflow_task_slots

    def up(self, t: float) -> bool:
        return self.worker.ready <= t and not self.draining


class QueuedRun(WorkflowRun):
    """One workflow of the task-queue fleet: the workflow model, with its activity attempts placed
    by the fleet's queue and its workflow tasks on its sticky worker."""

    def __init__(self, fleet: TaskQueueFleet, j: int, draws: GraphDraws, jitter: Stream | None, arrival: float,
                 sticky: WorkerSlots, log: list | None):
        super().__init__(fleet.graph, fleet.beh, draws, sticky.worker, jitter, fleet.run_index, arrival, log,
                         fleet.provider)
        self.fleet = fleet
        self.j = j
        self.sticky = sticky
        self.arrival = arrival
        self.queued = [0] * fleet.graph.n  # units on the activity queue, per step
        self.where: dict[tuple[int, int], WorkerSlots] = {}
        self.scheduled: dict[tuple[int, int], float] = {}  # when each unit in flight was put on the queue
        self.wake = INF
        self.queue_wait = 0.0  # schedule-to-start summed over this workflow's activity attempts
        self.closed = False

    def _stop(self, a: _Attempt, at: float, outcome: int) -> tuple[float, float]:
        slot = self.where.pop(a.unit, None)
        if slot is not None:
            self.fleet.release(slot, self, a, at, outcome)
        return super()._stop(a, at, outcome)

    def _record(self, events: int) -> float:
        """The workflow task that records a completion now: on the sticky worker in one of its
        workflow-task slots; after that worker crashed, after the sticky timeout on any worker."""
        lat = events * self.lat
        if self.now < self.task_at:
            self.c["history"] += events
            return self.task_at + lat
        g, fleet, slot = self.g, self.fleet, self.sticky
        lost = slot.worker.last_crash > self.task_at
        if lost or not slot.up(self.now):
            slot = fleet.workflow_task_worker(self.now + (g.sticky_s if lost else 0.0), slot)
        free = slot.wft_free[0] if slot.wft_free else -INF
        t, extra, self.task_at = recorded_at_s(self.now, lost, slot.worker.next_crash, g.sticky_s, g.task_timeout_s,
                                               lat, free)
        if slot.wft_free:
            heapq.heapreplace(slot.wft_free, t)
        self.sticky = slot
        self.worker = slot.worker
        self.c["history"] += events + extra
        return t


class TaskQueueFleet:
    """One strategy's fleet run of a workflow graph under task-queue dispatch (module docstring)."""

    def __init__(self, graph: Graph, beh: Behaviour, workers: list[Worker], activity_slots: int,
                 workflow_task_slots: int, arrivals: list[float], draws_of: Callable[[int], GraphDraws],
                 jitter_of: Callable[[int], Stream | None], run: int, event_log: bool = False,
                 provider: object | None = None):
        self.graph, self.beh, self.run_index = graph, beh, run
        self.provider = provider
        self.slots = activity_slots if activity_slots > 0 else INF
        self.workers = [WorkerSlots(i, w, workflow_task_slots) for i, w in enumerate(workers)]
        self.arrivals = arrivals
        self.draws_of, self.jitter_of = draws_of, jitter_of
        self.runs: list[QueuedRun | None] = [None] * len(arrivals)
        self.records: list[tuple] = []
        self.log: list[tuple] | None = [] if event_log else None
        # per activity attempt: workflow, step, instance, attempt, worker, scheduled_s, started_s, end_s, outcome
        self.tasks: list[tuple] = []
        self.backlog_series: list[tuple[float, int]] = [(0.0, 0)]
        self.backlog = 0
        self.events = 0
        self.now = 0.0
        self._heap: list[tuple] = []
        self._queue: list[tuple[float, int, int, tuple[int, int]]] = []
        self._seq = 0
        self._exits: list[WorkerSlots] = []
        self._active = 0
        self._arrived = 0

    def queue_figures(self, drain_s: float) -> dict[str, float]:
        """Schedule-to-start latency of the activity attempts (mean, p95) and the backlog of the
        activity queue (time average over [0, ``drain_s``], maximum)."""
        return queue_figures([t[6] - t[5] for t in self.tasks], self.backlog_series, drain_s)

    # ------------------------------------------------------------------ the loop

    def _push(self, t: float, kind: int, item: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, kind, self._seq, item))

    def run(self) -> None:
        for j, at in enumerate(self.arrivals):
            self._push(at, OTHER, ("arrive", j))
        for slot in self.workers:
            self._schedule(slot)
        horizon = self.graph.max_time_s
        if horizon < INF:
            self._push(horizon, HORIZON, None)
        heap = self._heap
        while heap:
            self.now = now = heap[0][0]
            while heap and heap[0][0] == now:
                _, kind, _, item = heapq.heappop(heap)
                self.events += 1
                if kind == END:
                    self._end(*item)
                elif kind == HORIZON:
                    self._horizon()
                    return
                elif kind == WORKER:
                    if item.wake_at == now:
                        self._worker_event(item)
                elif item[0] == "arrive":
                    self._arrive(item[1])
                elif item[0] == "wake":
                    wr = self.runs[item[1]]
                    if wr is not None and not wr.closed and wr.wake == now:
                        wr.wake = INF
                        self._after(wr)
                self._settle()
            if self._arrived == len(self.arrivals) and self._active == 0:
                return
            self._dispatch()

    def _arrive(self, j: int) -> None:
        now = self.now
        slot = self.workflow_task_worker(now, None)
        wr = QueuedRun(self, j, self.draws_of(j), self.jitter_of(j), now, slot,
                       [] if self.log is not None else None)
        self.runs[j] = wr
        self._arrived += 1
        self._active += 1
        at = now + (EVENTS_AT_START * wr.lat if wr.records else 0.0)
        for a, ext in enumerate(wr.acts.ext_preds):
            if not ext:
                wr._activate_entry(a, at)
        self._after(wr)

    def _end(self, j: int, att: _Attempt) -> None:
        wr = self.runs[j]
        if wr is None or wr.closed or wr.inflight.get(att.unit) is not att:
            return
        wr.now = self.now
        wr._attempt_ends(att)
        self._after(wr)

    def _horizon(self) -> None:
        """``max_time``: every workflow still running is cut (those not yet arrived too)."""
        for j in range(len(self.arrivals)):
            wr = self.runs[j]
            if wr is None:
                self._arrive_cut(j)
                continue
            if wr.closed:
                continue
            wr.now = self.now
            wr._horizon()
            self._finish(wr)

    def _arrive_cut(self, j: int) -> None:
        wr = QueuedRun(self, j, self.draws_of(j), self.jitter_of(j), self.arrivals[j], self.workers[0], None)
        self.runs[j] = wr
        self._arrived += 1
        self._active += 1
        wr._horizon()
        self._finish(wr)

    # ------------------------------------------------------------------ a workflow's units

    def _after(self, wr: QueuedRun) -> None:
        """After the workflow model handled an event: finish it, or put its due units on the queue
        (a wait runs at once, on no worker) and wake it when its next unit is due."""
        if wr.finish != INF:
            self._finish(wr)
            return
        g, now = self.graph, self.now
        nxt = INF
        for unit in sorted(wr.pending):
            due = wr.pending[unit]
            if due > now:
                nxt = min(nxt, due)
                continue
            i = unit[0]
            if g.is_wait[i]:
                del wr.pending[unit]
                wr.now = now
                wr._start(unit)
                wr.ends.clear()
                self._push(wr.inflight[unit].end, END, (wr.j, wr.inflight[unit]))
                continue
            m = g.max_concurrency[i]
            if m and wr.running[i] + wr.queued[i] >= m:
                continue  # the workflow schedules it when one of the step's attempts ends
            del wr.pending[unit]
            wr.queued[i] += 1
            self._seq += 1
            heapq.heappush(self._queue, (now, self._seq, wr.j, unit))
            self._backlog(+1)
        if nxt < INF and (wr.wake <= now or nxt < wr.wake):
            wr.wake = nxt
            self._push(nxt, OTHER, ("wake", wr.j))

    def _finish(self, wr: QueuedRun) -> None:
        wr._close()
        wr.closed = True
        self._active -= 1
        dropped = sum(wr.queued)
        if dropped:
            self._backlog(-dropped)
        if self.log is not None and wr.log is not None:
            self.log.extend((wr.j, e[2], e[3], e[4], e[5], e[6]) for e in wr.log)
        r = wr.result
        (completed, finish, first_start, compute_c, useful_c, waste_c, cost, useful_cost, waste_cost, units,
         history, attempts, crashes, deploy_kills, limited, restarts, heartbeats, calls, useful_calls) = r
        self.records.append((
            wr.j, wr.arrival, first_start, finish, completed, wr.cut, wr.queue_wait, compute_c, useful_c, waste_c,
            cost, useful_cost, waste_cost, units, history, attempts, calls, useful_calls, crashes, deploy_kills,
            limited, wr.c["provider_429s"], wr.c["outage_errors"], restarts, heartbeats,
        ))

    def _backlog(self, change: int) -> None:
        self.backlog += change
        series = self.backlog_series
        if series[-1][0] == self.now:
            series[-1] = (self.now, self.backlog)
            if len(series) > 1 and series[-2][1] == self.backlog:
                series.pop()
        else:
            series.append((self.now, self.backlog))

    # ------------------------------------------------------------------ workers

    def _free_slot(self) -> WorkerSlots | None:
        """The up worker with the most free activity slots (the lowest index among equals)."""
        best, most = None, 0
        now, slots = self.now, self.slots
        for slot in self.workers:
            free = slots - slot.busy
            if free > most and slot.up(now):
                best, most = slot, free
        return best

    def _dispatch(self) -> None:
        """Free activity slots take the head of the queue, first scheduled first."""
        queue, now = self._queue, self.now
        while queue:
            scheduled, _, j, unit = queue[0]
            wr = self.runs[j]
            if wr.closed:
                heapq.heappop(queue)
                continue
            slot = self._free_slot()
            if slot is None:
                return
            heapq.heappop(queue)
            self._backlog(-1)
            wr.queued[unit[0]] -= 1
            wr.now = now
            wr._start(unit)
            wr.ends.clear()
            att = wr.inflight[unit]
            wr.where[unit] = slot
            slot.busy += 1
            slot.attempts[(j, unit)] = att
            wr.queue_wait += now - scheduled
            wr.scheduled[unit] = scheduled
            self._push(att.end, END, (j, att))

    def release(self, slot: WorkerSlots, wr: QueuedRun, att: _Attempt, at: float, outcome: int) -> None:
        """Attempt ``att`` of ``wr`` left ``slot`` at ``at`` (ended, killed, cancelled or cut)."""
        unit = att.unit
        slot.busy -= 1
        del slot.attempts[(wr.j, unit)]
        self.tasks.append((wr.j, unit[0], unit[1], att.k, slot.index, wr.scheduled.pop(unit), att.start, at, outcome))
        if slot.draining and slot.busy == 0:
            self._exits.append(slot)

    def _settle(self) -> None:
        """Workers whose drain emptied exit now (the last attempt of the drain finished)."""
        while self._exits:
            slot = self._exits.pop()
            if slot.draining and slot.busy == 0:
                self._exit(slot, self.now)
                self._schedule(slot)

    def _schedule(self, slot: WorkerSlots) -> None:
        w = slot.worker
        t = min(w.next_crash, w.next_deploy, slot.drain_end)
        if t != slot.wake_at:
            slot.wake_at = t
            if t < INF:
                self._push(t, WORKER, slot)
        if w.ready > self.now:
            self._push(w.ready, OTHER, ("ready", slot.index))

    def _worker_event(self, slot: WorkerSlots) -> None:
        """The worker's crashes and deployments due now, as in the workflow model's loop."""
        w, now = slot.worker, self.now
        while True:
            c, d = w.next_crash, w.next_deploy
            if slot.draining and slot.drain_end <= now and slot.drain_end <= c:
                self._exit(slot, slot.drain_end)
            elif c <= now and c <= d:
                w.crash_restart(c)
                self._lose(slot, c, CRASHED)
            elif d <= now:
                if w.deploy_begins() and not slot.draining:
                    slot.draining, slot.drain_end = True, d + w.drain_s
                    if slot.busy == 0:
                        self._exit(slot, d)
            else:
                break
        self._schedule(slot)

    def _exit(self, slot: WorkerSlots, at: float) -> None:
        slot.worker.shut_down(at)
        self._lose(slot, at, KILLED_BY_DEPLOY)

    def _lose(self, slot: WorkerSlots, at: float, cause: int) -> None:
        """The worker crashed or exited: the attempts on it, and only those, end."""
        slot.draining, slot.drain_end = False, INF
        by_workflow: dict[int, list[tuple[int, int]]] = {}
        for j, unit in slot.attempts:
            by_workflow.setdefault(j, []).append(unit)
        for j in sorted(by_workflow):
            wr = self.runs[j]
            wr.now = self.now
            wr._lose(by_workflow[j], at, cause)
            self._after(wr)

    def workflow_task_worker(self, at: float, current: WorkerSlots | None) -> WorkerSlots:
        """The worker a workflow task on the normal queue goes to at ``at``: an up worker with the
        earliest free workflow-task slot, then the fewest busy activity slots, then the lowest index;
        when none is up, ``current`` (or the worker up first)."""
        up = [s for s in self.workers if s.up(at)]
        if not up:
            return current if current is not None else min(self.workers, key=lambda s: (s.worker.ready, s.index))
        return min(up, key=lambda s: (s.wft_free[0] if s.wft_free else 0.0, s.busy, s.index))


def queue_figures(waits_s: list[float], backlog: list[tuple[float, int]], drain_s: float) -> dict[str, float]:
    """Queue metrics from the schedule-to-start latencies and the backlog step function
    ``[(time, tasks queued from then), ...]`` (docs/fleet.md, "Queue metrics")."""
    nan = float("nan")
    waits = np.asarray(waits_s, dtype=np.float64)
    area, peak = 0.0, 0
    for (t0, b), (t1, _) in zip(backlog, [*backlog[1:], (max(drain_s, backlog[-1][0]), 0)], strict=True):
        area += b * (min(t1, drain_s) - min(t0, drain_s))
        peak = max(peak, b)
    return {
        "schedule_to_start_mean_s": float(waits.mean()) if len(waits) else nan,
        "schedule_to_start_p95_s": float(np.percentile(waits, 95)) if len(waits) else nan,
        "backlog_mean": area / drain_s if drain_s > 0 else nan,
        "backlog_max": float(peak),
    }
