"""Runs per second of the DES engine against a plain SimPy loop on the same model.

The model: the bundled video pipeline (2 min → 30 s → 15 min → 45 s on one GPU worker) with
crash failures only (MTBF 4 h, detection delay 30 s, restart 20 s, Temporal retry defaults),
restart-from-scratch and durable. The plain loop is SimPy written the obvious way: one
Environment and one process per run, sampling the next crash time per step with one numpy
Generator, recording only the makespan. ``sim`` does the full accounting (compute, waste,
costs, actions, history events, counts) and returns a DataFrame.

    python benchmarks/bench_engine.py [--runs 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim import simulate  # noqa: E402

from common import interleaved_medians, video_crash_only  # noqa: E402


def plain_simpy(runs: int, seed: int, durations_s: list[float], mtbf_s: float, detect_s: float,
                restart_s: float, latency_s: float) -> list[float]:
    """Both strategies, one Environment and one process per run; returns makespans."""
    rng = np.random.default_rng(seed)
    makespans: list[float] = []

    def backoff(failures: int) -> float:
        return min(1.0 * 2.0 ** (failures - 1), 100.0)

    def restart(env: simpy.Environment):
        i = failures = 0
        while i < len(durations_s):
            ttf = rng.exponential(mtbf_s)
            if ttf < durations_s[i]:
                yield env.timeout(ttf)
                failures += 1
                yield env.timeout(max(detect_s + backoff(failures), restart_s))
                i = 0
            else:
                yield env.timeout(durations_s[i])
                i += 1

    def durable(env: simpy.Environment):
        yield env.timeout(5 * latency_s)
        for d in durations_s:
            failures = 0
            while True:
                ttf = rng.exponential(mtbf_s)
                if ttf < d:
                    yield env.timeout(ttf)
                    failures += 1
                    yield env.timeout(max(detect_s + backoff(failures), restart_s))
                else:
                    yield env.timeout(d + 6 * latency_s)
                    break

    for _ in range(runs):
        for process in (restart, durable):
            env = simpy.Environment()
            env.process(process(env))
            env.run()
            makespans.append(env.now)
    return makespans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20000, help="replications per repetition (x2 strategies)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    sc = video_crash_only()
    crash = sc.failures.crash
    durations = [s.duration.mean() for s in sc.steps]
    latency = sc.strategies["durable"].persist_latency_s
    out: dict[str, list[float]] = {}

    def ours() -> int:
        df = simulate(sc, args.runs, seed=1, engine="des")
        out["sim"] = df["makespan_s"].tolist()
        return len(df)

    def plain() -> int:
        out["plain"] = plain_simpy(args.runs, 1, durations, crash.mtbf_s, crash.detection_delay_s,
                                   crash.restart_time_s, latency)
        return len(out["plain"])

    medians = interleaved_medians({"sim DES engine": ours, "plain SimPy loop": plain}, args.repeats)
    for name, rate in medians.items():
        print(f"{name:<18} {rate:>10,.0f} runs per CPU second  (median of {args.repeats})")
    ratio = medians["sim DES engine"] / medians["plain SimPy loop"]
    print(f"ratio sim / plain: {ratio:.2f}x")
    print(f"mean makespan (sanity): sim {statistics.fmean(out['sim']):.1f} s, plain {statistics.fmean(out['plain']):.1f} s "
          "(the plain loop ignores crashes while the worker waits)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
