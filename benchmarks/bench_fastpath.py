"""Runs per second of the vectorised fast path against a plain numpy sampler, and the DES engine.

The model: the bundled video pipeline with crash failures only (see bench_engine.py). The plain
numpy sampler is the bare restart/durable model written the obvious way: for all unfinished
replications at once, draw a time to failure per attempt and add either the work or the time
lost plus the downtime; it records only the makespan. The fast path does the full model
(detection delay vs restart time, retry backoff, persistence latency, crashes while idle) and
the full accounting, and returns the same DataFrame as the engine.

    python benchmarks/bench_fastpath.py [--runs 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim import simulate  # noqa: E402

from common import interleaved_medians, video_crash_only  # noqa: E402


def plain_numpy(runs: int, seed: int, durations_s: list[float], mtbf_s: float, downtime_s: float) -> np.ndarray:
    """Makespans of restart and durable, vectorised over replications, the obvious way."""
    rng = np.random.default_rng(seed)
    total = sum(durations_s)
    restart = np.zeros(runs)
    active = np.arange(runs)
    while active.size:
        ttf = rng.exponential(mtbf_s, active.size)
        ok = ttf >= total
        restart[active[ok]] += total
        restart[active[~ok]] += ttf[~ok] + downtime_s
        active = active[~ok]
    durable = np.zeros(runs)
    for d in durations_s:
        active = np.arange(runs)
        while active.size:
            ttf = rng.exponential(mtbf_s, active.size)
            ok = ttf >= d
            durable[active[ok]] += d
            durable[active[~ok]] += ttf[~ok] + downtime_s
            active = active[~ok]
    return np.concatenate([restart, durable])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200000, help="replications per repetition (x2 strategies)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    sc = video_crash_only()
    crash = sc.failures.crash
    durations = [s.duration.mean() for s in sc.steps]
    downtime = max(crash.detection_delay_s + 1.0, crash.restart_time_s)
    des_runs = max(args.runs // 20, 1000)
    kernel: dict[str, float] = {}
    medians = interleaved_medians({
        "sim fast path": lambda: len(simulate(sc, args.runs, seed=1, engine="fast")),
        "plain numpy sampler": lambda: len(plain_numpy(args.runs, 1, durations, crash.mtbf_s, downtime)),
        "sim DES engine": lambda: len(simulate(sc, des_runs, seed=1, engine="des")),
    }, args.repeats, kernel)
    for name, rate in medians.items():
        print(f"{name:<20} {rate:>12,.0f} runs per CPU second  (median of {args.repeats};"
              f" {kernel[name]:.0%} of it kernel time)")
    print(f"ratio fast path / plain numpy: {medians['sim fast path'] / medians['plain numpy sampler']:.2f}x (target >= 0.3x)")
    print(f"ratio fast path / DES engine:  {medians['sim fast path'] / medians['sim DES engine']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
