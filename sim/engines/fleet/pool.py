"""The shared pool of workers: a SimPy resource whose units have their own failure clocks.

Free workers sit in a heap keyed by the earliest time each can be ready (a lower bound: an
idle worker's crashes and deployments are applied lazily by ``Worker.acquire``). ``take(t)``
returns a worker that is up at ``t`` when there is one, otherwise the free worker that will be
up first; when every worker is busy, ``wait()`` gives a SimPy event that a later ``release``
triggers (first come, first served). A worker released while down (it crashed, or a
deployment restarts it) rejoins the pool only when its restart is over.
"""

from __future__ import annotations

import heapq
from collections import deque

import simpy

from sim.model.failures import Worker


class WorkerPool:
    def __init__(self, env: simpy.Environment, workers: list[Worker]):
        self.env = env
        self.workers = workers
        self._index = {id(w): i for i, w in enumerate(workers)}
        self._free: list[tuple[float, int]] = [(0.0, i) for i in range(len(workers))]
        self._waiters: deque[simpy.Event] = deque()
        self.handovers = 0  # delayed returns of restarting workers (SimPy events)

    def take(self, t: float) -> Worker | None:
        """A free worker for an attempt at ``t`` (removed from the pool), or None if all are busy."""
        free, workers = self._free, self.workers
        while free:
            key, i = free[0]
            if key > t:
                break
            start = workers[i].acquire(t)[0]
            if start <= t:
                heapq.heappop(free)
                return workers[i]
            heapq.heapreplace(free, (start, i))
        if free:
            return workers[heapq.heappop(free)[1]]
        return None

    def now(self) -> float:
        """The simulation clock."""
        return self.env.now

    def wait(self) -> simpy.Event:
        """An event whose value is the next worker released to this requester."""
        event = self.env.event()
        self._waiters.append(event)
        return event

    def release(self, worker: Worker) -> None:
        delay = worker.ready - self.env.now
        if delay > 0:
            self.handovers += 1
            self.env.timeout(delay).callbacks.append(lambda _event: self._give(worker))
        else:
            self._give(worker)

    def _give(self, worker: Worker) -> None:
        if self._waiters:
            self._waiters.popleft().succeed(worker)
        else:
            heapq.heappush(self._free, (worker.ready, self._index[id(worker)]))

    @property
    def queue_length(self) -> int:
        return len(self._waiters)
