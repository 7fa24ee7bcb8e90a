"""Parallel throughput of the sweep runner: replications per second with 1 and 2 workers.

Same workload for every worker count (a sweep of the bundled video scenario, no per-run rows
kept, no output folder); each configuration is repeated and the median wall time is reported,
with the speed-up over 1 worker and the parallel efficiency (speed-up / workers). Process
start-up is included (it is part of what a user waits for).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_parallel.py [--runs 100000] [--repeat 3] [--workers 1 2] [--engine des]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import sim
from sim.experiment.points import build_points, parse_vary
from sim.experiment.runner import default_chunk_size, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def measure(points, runs: int, workers: int, chunk_size: int, engine: str = "auto") -> float:
    started = time.perf_counter()
    run_sweep(points, runs, seed=1, workers=workers, chunk_size=chunk_size, engine=engine, quiet=True)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=str(ROOT / "experiments" / "scenarios" / "video.toml"))
    parser.add_argument("--vary", default="failures.crash.mtbf=1h,4h", help="sweep (default 2 points)")
    parser.add_argument("--runs", type=int, default=100_000, help="replications per point (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per worker count (median reported)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="replications per chunk (default: the sweep's, sim.experiment.runner.default_chunk_size)")
    parser.add_argument("--engine", default="auto", choices=["auto", "des", "fast"])
    args = parser.parse_args(argv)

    points = build_points(sim.load_scenario(args.scenario), [parse_vary(args.vary)])
    args.chunk_size = args.chunk_size or default_chunk_size(points, args.engine)
    replications = len(points) * args.runs
    strategies = len(points[0].scenario.strategies)
    print(f"workload: {args.scenario} sweep {args.vary} ({len(points)} points) x {args.runs} replications "
          f"x {strategies} strategies = {replications * strategies} simulated runs; engine {args.engine}; "
          f"chunk size {args.chunk_size}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    measure(points, min(args.runs, 2 * args.chunk_size), 1, args.chunk_size, args.engine)  # warm caches and imports
    base = None
    print(f"{'workers':>7}  {'median s':>9}  {'all runs (s)':<26}{'replications/s':>15}  {'speed-up':>8}  {'efficiency':>10}")
    for workers in args.workers:
        times = [measure(points, args.runs, workers, args.chunk_size, args.engine) for _ in range(args.repeat)]
        med = statistics.median(times)
        base = base or med
        speedup = base / med
        print(f"{workers:>7}  {med:>9.2f}  {', '.join(f'{t:.2f}' for t in times):<26}{replications / med:>15,.0f}  "
              f"{speedup:>7.2f}x  {speedup / workers:>9.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
