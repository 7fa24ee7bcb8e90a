"""Both engines against the plainest peers, in both failure regimes (issue 17).

The model: the bundled video pipeline (2 min → 30 s → 15 min → 45 s, 18.25 min of GPU work) with
exponential worker crashes only and every delay zero: no detection delay, no restart time, retry
intervals 0 s, no persistence latency, no deployments. Two regimes:

* MTBF 20 min: about 1.5 failures per restart run; the break-evens lie here;
* MTBF 4 h: 93% of replications never fail.

The peers, each written the obvious way and recording only the makespan and the wasted time:

* **plain SimPy loop**: one Environment and one process per run. Each step attempt makes one
  ``rng.exponential(mtbf)`` draw and one ``env.timeout`` of either the step's duration or the
  time to failure. Restart resets the step index; durable retries the step.
* **plain numpy sampler**: per segment (the whole pipeline for restart, each step for durable)
  a geometric number of failures, each losing a truncated-exponential time.

``sim`` does the full model and accounting (compute, waste, costs, actions, history events,
counts) and returns the runs DataFrame. Timing: CPU seconds of this process (user + system,
``getrusage``), the median over interleaved repetitions. Each pair (the fast path and the
sampler; the DES engine and the SimPy loop) runs interleaved in a process of its own, so that one
pair's memory use does not set the other's: the allocator's state (whether freed memory went
back to the system, to be faulted in and cleared again by the kernel) moved the fast path's
ratio by up to 0.08x when the SimPy loop's objects shared its process (``--together`` runs all
four cases interleaved in one process, as before). The kernel's share of each case's time and
the ratios in user time alone are printed beside them.

    python benchmarks/bench_regimes.py [--runs 200000] [--des-runs 10000] [--repeats 7] [--only des|fast] [--together]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim import Scenario, load_scenario, scenario_from_dict, simulate  # noqa: E402

from common import VIDEO, interleaved_medians  # noqa: E402

REGIMES = {"20m": 20 * 60.0, "4h": 4 * 3600.0}


def zero_delay_video(mtbf_s: float) -> Scenario:
    """The video pipeline, exponential crashes of the given MTBF only, every delay zero."""
    raw = load_scenario(VIDEO).raw
    raw["failures"].pop("deploy", None)
    raw["failures"]["crash"] = {"mtbf": f"{mtbf_s}s", "renew_on_restart": True, "detection_delay": "0s",
                                "restart_time": "0s"}
    raw["defaults"]["retry"] = {"initial_interval": "0s", "backoff_coefficient": 2.0,
                                "maximum_interval": "0s", "maximum_attempts": 0}
    raw["strategies"] = {"restart": {}, "durable": {"persist_latency": "0s"}}
    # no delays: Temporal's sticky and task timeouts after a crash too (the peers do not model them)
    raw["temporal"] = {"sticky_schedule_to_start_timeout": "0s", "workflow_task_timeout": "0s"}
    return scenario_from_dict(raw, file=f"{VIDEO} (crashes only, MTBF {mtbf_s:g} s, no delays)", base_dir=None)


def plain_simpy(runs: int, seed: int, durations_s: list[float], mtbf_s: float) -> tuple[list[float], list[float]]:
    """Restart and durable, one Environment and one process per run: (makespans, wasted times)."""
    rng = np.random.default_rng(seed)
    n = len(durations_s)
    makespans: list[float] = []
    wasted: list[float] = []

    def restart(env: simpy.Environment, out: list[float]):
        i = 0
        while i < n:
            ttf = rng.exponential(mtbf_s)
            if ttf < durations_s[i]:
                yield env.timeout(ttf)
                out[0] += ttf + sum(durations_s[:i])
                i = 0
            else:
                yield env.timeout(durations_s[i])
                i += 1

    def durable(env: simpy.Environment, out: list[float]):
        i = 0
        while i < n:
            ttf = rng.exponential(mtbf_s)
            if ttf < durations_s[i]:
                yield env.timeout(ttf)
                out[0] += ttf
            else:
                yield env.timeout(durations_s[i])
                i += 1

    for _ in range(runs):
        for process in (restart, durable):
            env = simpy.Environment()
            out = [0.0]
            env.process(process(env, out))
            env.run()
            makespans.append(env.now)
            wasted.append(out[0])
    return makespans, wasted


def plain_numpy(runs: int, seed: int, durations_s: list[float], mtbf_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Restart and durable vectorised over replications: per segment a geometric number of
    failures, each losing a truncated-exponential time. Returns (makespans, wasted times)."""
    rng = np.random.default_rng(seed)
    every = np.arange(runs)

    def segment(d: float) -> np.ndarray:
        p_fail = -math.expm1(-d / mtbf_s)
        failures = rng.geometric(1.0 - p_fail, runs) - 1
        lost = -mtbf_s * np.log1p(-p_fail * rng.random(int(failures.sum())))
        return np.bincount(np.repeat(every, failures), weights=lost, minlength=runs)

    wasted_restart = segment(sum(durations_s))
    wasted_durable = sum(segment(d) for d in durations_s)
    wasted = np.concatenate([wasted_restart, wasted_durable])
    return wasted + sum(durations_s), wasted


def regime(label: str, mtbf_s: float, runs: int, des_runs: int, repeats: int,
           only: str = "all") -> tuple[dict[str, float], dict[str, float]]:
    sc = zero_delay_video(mtbf_s)
    durations = [s.duration.mean() for s in sc.steps]
    means: dict[str, float] = {}

    def fast() -> int:
        df = simulate(sc, runs, seed=1, engine="fast")
        means["sim fast path"] = float(df["makespan_s"].mean())
        return len(df)

    def numpy_() -> int:
        makespan, _ = plain_numpy(runs, 1, durations, mtbf_s)
        means["plain numpy sampler"] = float(makespan.mean())
        return len(makespan)

    def des() -> int:
        df = simulate(sc, des_runs, seed=1, engine="des")
        means["sim DES engine"] = float(df["makespan_s"].mean())
        return len(df)

    def simpy_() -> int:
        makespan, _ = plain_simpy(des_runs, 1, durations, mtbf_s)
        means["plain SimPy loop"] = float(statistics.fmean(makespan))
        return len(makespan)

    kernel: dict[str, float] = {}
    user: dict[str, float] = {}
    cases = {"sim fast path": fast, "plain numpy sampler": numpy_, "sim DES engine": des, "plain SimPy loop": simpy_}
    if only != "all":
        cases = {name: fn for name, fn in cases.items() if (name in ("sim DES engine", "plain SimPy loop")) == (only == "des")}
    medians = interleaved_medians(cases, repeats, kernel, user)
    sizes = {"all": f"fast path and numpy at {runs:,} replications, DES and SimPy at {des_runs:,}",
             "fast": f"fast path and numpy at {runs:,} replications", "des": f"DES and SimPy at {des_runs:,} replications"}
    print(f"\nMTBF {label} ({mtbf_s:g} s): {sizes[only]} (x2 strategies; median of {repeats} interleaved repetitions)")
    for name, rate in medians.items():
        print(f"  {name:<20} {rate:>12,.0f} runs per CPU second  ({kernel[name]:.0%} kernel time; "
              f"mean makespan {means[name] / 60:.2f} min)")
    ratios = {}
    if "sim fast path" in medians:
        ratios["fast/numpy"] = medians["sim fast path"] / medians["plain numpy sampler"]
        print(f"  ratio fast path / plain numpy sampler: {ratios['fast/numpy']:.2f}x (target >= 0.35x at MTBF 20 min; "
              f"{user['sim fast path'] / user['plain numpy sampler']:.2f}x in user time alone)")
    if "sim DES engine" in medians:
        ratios["des/simpy"] = medians["sim DES engine"] / medians["plain SimPy loop"]
        print(f"  ratio DES engine / plain SimPy loop:   {ratios['des/simpy']:.2f}x (target >= 1x)")
    if len(medians) == 4:
        ratios["fast/des"] = medians["sim fast path"] / medians["sim DES engine"]
        print(f"  ratio fast path / DES engine:          {ratios['fast/des']:.0f}x")
    return ratios, medians


def regime_in_processes(label: str, args: argparse.Namespace) -> None:
    """Each pair of a regime in a process of its own (this script with ``--only``); the fast path /
    DES engine ratio from the two processes' medians."""
    medians: dict[str, float] = {}
    for only in ("fast", "des"):
        command = [sys.executable, __file__, "--only", only, "--regime", label, "--runs", str(args.runs),
                   "--des-runs", str(args.des_runs), "--repeats", str(args.repeats), "--emit-medians"]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("MEDIANS "):
                medians.update(json.loads(line[len("MEDIANS "):]))
            elif not line.startswith("load average"):
                print(line)
    print(f"  ratio fast path / DES engine:          {medians['sim fast path'] / medians['sim DES engine']:.0f}x "
          "(medians of the two processes)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200000, help="replications for the fast path and numpy (x2)")
    parser.add_argument("--des-runs", type=int, default=10000, help="replications for DES and SimPy (x2)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--regime", choices=[*REGIMES, "both"], default="both")
    parser.add_argument("--only", choices=["all", "des", "fast"], default="all",
                        help="des: only the DES engine and the SimPy loop; fast: only the fast path and numpy")
    parser.add_argument("--together", action="store_true",
                        help="all four cases interleaved in this one process (default: each pair in its own)")
    parser.add_argument("--emit-medians", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, mtbf_s in REGIMES.items():
        if args.regime not in (label, "both"):
            continue
        if args.only == "all" and not args.together:
            regime_in_processes(label, args)
            continue
        _, medians = regime(label, mtbf_s, args.runs, args.des_runs, args.repeats, args.only)
        if args.emit_medians:
            print("MEDIANS " + json.dumps(medians))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
