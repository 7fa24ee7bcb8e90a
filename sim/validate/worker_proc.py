"""One Temporal worker process of ``sim validate`` (``python -m sim.validate.worker_proc ADDRESS``).

It starts *warm*: imports, connects to the server, then waits on standard input for one JSON
line naming its task queue and options, loads the scenario and the run's draws, builds its worker
and prints ``prepared``; a second line (``go``) makes it poll and print ``ready <unix time>``. So
neither Python's start-up nor the worker's construction is mistaken for the scenario's restart
time. SIGTERM is a deployment: a graceful shutdown (activities in flight get
``graceful_shutdown_timeout``, the scenario's drain), then exit 0. SIGKILL (a crash) comes from
the harness.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from datetime import timedelta


async def main(address: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from sim.validate import activities
    from sim.validate.workflow_def import SimPipeline

    client = await Client.connect(address, namespace="default")
    print("warm", flush=True)
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if not line:
        return
    opts = json.loads(line)
    activities.set_slots(opts["task_queue"], opts.get("activity_slots"))
    if opts.get("warm"):
        activities.prepare(opts["warm"])
    worker = Worker(
        client,
        task_queue=opts["task_queue"],
        workflows=[SimPipeline],
        activities=[activities.sim_activity],
        max_concurrent_activities=opts.get("activity_slots") or 1000,
        # a fleet's max_concurrent_workflow_tasks; otherwise the SDK's default
        **({"max_concurrent_workflow_tasks": opts["workflow_task_slots"]} if opts.get("workflow_task_slots") else {}),
        max_cached_workflows=opts.get("max_cached_workflows", 1000),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=opts["sticky_timeout_real_s"]),
        graceful_shutdown_timeout=timedelta(seconds=opts["drain_real_s"]),
    )
    print("prepared", flush=True)
    if not await loop.run_in_executor(None, sys.stdin.readline):
        return
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        print(f"ready {time.time():.6f}", flush=True)
        await stop.wait()
        print(f"draining {time.time():.6f}", flush=True)
    print(f"stopped {time.time():.6f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
