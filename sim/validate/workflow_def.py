"""The scenario's pipeline as a real Temporal workflow (``sim validate``).

One workflow type, ``SimPipeline``, interprets a *plan* (``sim.validate.plan``): the steps with
their predecessors, fan-out counts (drawn for the replication), ``max_concurrency`` and waits,
and the strategy's activities. It knows nothing of ``sim``: only the plan (plain JSON) and the
Temporal SDK, so it runs deterministically in any worker.

* An activity of one step records each of its units (every fan-out instance is one Temporal
  activity execution, whose type is the step's name, so ``sim fit`` reads the steps back):
  ``durable``, ``heartbeat``, singleton ``checkpoint`` groups.
* A multi-step activity (a ``checkpoint`` group, or restart's single activity of every step)
  is one Temporal activity that runs its steps in the worker process (``sim.validate.activities``).
* A wait step outside an activity is a durable timer (``workflow.sleep``) or a signal the
  harness sends (``signal`` and ``approval``); the query ``waiting`` tells the harness which
  signal waits are open and since when.
* Each activity has the scenario's retry policy as a Temporal ``RetryPolicy``; a 429 is an
  activity failure whose ``next_retry_delay`` carries the Retry-After (the activity sets it).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

UNIT, GROUP = "unit", "group"  # one unit (step i, instance j); a multi-step activity (steps in one process)
SIGNAL = "sim_signal"  # the harness's signal: (step index, instance)


def retry_policy(p: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=p["initial_s"]),
        backoff_coefficient=p["coefficient"],
        maximum_interval=timedelta(seconds=max(p["maximum_s"], p["initial_s"])),
        maximum_attempts=p["maximum_attempts"],
    )


@workflow.defn(name="SimPipeline", sandboxed=False)
class SimPipeline:
    def __init__(self) -> None:
        self._signals: set[tuple[int, int]] = set()
        self._waiting: dict[str, float] = {}

    @workflow.signal(name=SIGNAL)
    def signal(self, step: int, instance: int) -> None:
        self._signals.add((step, instance))

    @workflow.query(name="waiting")
    def waiting(self) -> dict[str, float]:
        """Open signal waits: "step:instance" → the workflow time (s since epoch) it began."""
        return dict(self._waiting)

    @workflow.run
    async def run(self, plan: dict[str, Any]) -> dict[str, Any]:
        steps = plan["steps"]
        acts = plan["activities"]
        of = {i: a for a, members in enumerate(acts) for i in members}
        done = [asyncio.Event() for _ in acts]
        limits = {i: asyncio.Semaphore(s["max_concurrency"]) for i, s in enumerate(steps) if s["max_concurrency"]}

        async def unit(i: int, j: int, a: dict[str, Any]) -> None:
            sem = limits.get(i)
            if sem is not None:
                await sem.acquire()
            try:
                await workflow.execute_activity(
                    steps[i]["name"], args=[plan["context"], [[i, j]], UNIT], task_queue=workflow.info().task_queue,
                    start_to_close_timeout=timedelta(seconds=a["start_to_close_s"]),
                    heartbeat_timeout=timedelta(seconds=a["heartbeat_timeout_s"]),
                    retry_policy=retry_policy(a["retry"]), activity_id=f"{steps[i]['name']}-{j}")
            finally:
                if sem is not None:
                    sem.release()

        async def wait(i: int) -> None:
            s = steps[i]
            if s["wait"] == "timer":
                await workflow.sleep(timedelta(seconds=s["wait_s"]))
            else:
                self._waiting[f"{i}:0"] = workflow.now().timestamp()
                await workflow.wait_condition(lambda: (i, 0) in self._signals)
                del self._waiting[f"{i}:0"]

        async def activity(a: int) -> None:
            members = acts[a]
            ext = sorted({p for i in members for p in steps[i]["preds"] if of[p] != a})
            for p in ext:
                await done[of[p]].wait()
            spec = plan["activity_specs"][a]
            if len(members) == 1 and plan["records"]:
                i = members[0]
                if steps[i]["wait"]:
                    await wait(i)
                else:
                    await asyncio.gather(*(unit(i, j, spec) for j in range(steps[i]["count"])))
            else:
                units = [[i, j] for i in members for j in range(steps[i]["count"])]
                await workflow.execute_activity(
                    spec["type"], args=[plan["context"], units, GROUP], task_queue=workflow.info().task_queue,
                    start_to_close_timeout=timedelta(seconds=spec["start_to_close_s"]),
                    heartbeat_timeout=timedelta(seconds=spec["heartbeat_timeout_s"]),
                    retry_policy=retry_policy(spec["retry"]), activity_id=f"group-{a}")
            done[a].set()

        await asyncio.gather(*(activity(a) for a in range(len(acts))))
        return {"ok": True}
