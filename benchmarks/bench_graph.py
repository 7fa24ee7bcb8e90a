"""Simulation events per CPU second of the workflow model (DES engine) on a fan-out of 50.

The model: a 30 s GPU step, then 50 parallel GPU instances (lognormal, median 4 min, p95 8 min)
on a worker with unlimited activity slots, then a 1 min join; worker crashes every 30 min on
average (detection 30 s, restart 20 s), strategies restart and durable. An *event* is one
timer event a run schedules (one advance of its clock: an attempt ends, the worker crashes or
is back, a retry is due); the figure is events / CPU second, with runs / CPU second beside it.

    python benchmarks/bench_graph.py [--runs 400] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim import scenario_from_dict  # noqa: E402
from sim.engines import des  # noqa: E402
from sim.experiment.api import behaviours_of  # noqa: E402

from common import interleaved_medians  # noqa: E402

FAN_OUT = 50


def fan_out_scenario():
    step = {"kind": "gpu", "price_per_hour": 2.5}
    return scenario_from_dict({
        "name": "bench-fan-out-50",
        "steps": [{**step, "name": "prepare", "duration": "30s"},
                  {**step, "name": "render", "after": ["prepare"], "count": FAN_OUT,
                   "duration": {"dist": "lognormal", "median": "4m", "p95": "8m"}},
                  {**step, "name": "join", "after": ["render"], "duration": "1m"}],
        "failures": {"crash": {"mtbf": "30m", "detection_delay": "30s", "restart_time": "20s"}},
        "strategies": {"restart": {}, "durable": {"persist_latency": "10ms"}},
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sc = fan_out_scenario()
    behs = behaviours_of(sc)
    runs = np.arange(args.runs)
    counted: dict[str, int] = {}

    def once() -> int:
        stats: dict[str, int] = {}
        des.run_workflow_chunk(sc, behs, runs, 2026, False, stats)
        counted.update(stats)
        return stats["events"]

    events = interleaved_medians({"events": once}, args.repeats)["events"]
    per_run = counted["events"] / (len(runs) * len(behs))
    print(f"workflow model, fan-out of {FAN_OUT} under crashes (MTBF 30 min), restart + durable:")
    print(f"  {events:,.0f} events per CPU second (median of {args.repeats}); {per_run:.0f} events per run, "
          f"{events / per_run:,.0f} runs per CPU second")


if __name__ == "__main__":
    main()
