"""Peak memory of sweeps of 10^4, 10^5 and 10^6 replications with --no-runs: it should be flat.

Each size runs ``python -m sim sweep … --no-runs`` in a fresh process (serial by default, so
all the work and all the aggregates live in that one process) and reads that process's peak
resident set size from ``os.wait4``. With ``--workers 2`` the figure is the parent's (which
holds the aggregates); each worker holds one chunk at a time.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_memory.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib(runs: int, scenario: str, workers: int, keep_runs: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "sim", "sweep", scenario, "--runs", str(runs), "--seed", "1",
               "--workers", str(workers), "--quiet", "--out", str(Path(tmp) / "out")]
        if not keep_runs:
            cmd.append("--no-runs")
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"sweep failed: {proc.stderr.read().decode()}")
        proc.stderr.close()
        return usage.ru_maxrss / 1024.0, seconds  # Linux: KiB


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=str(ROOT / "experiments" / "scenarios" / "video.toml"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep-runs", action="store_true", help="also write per-run Parquet (default: --no-runs)")
    args = parser.parse_args(argv)
    print(f"scenario {args.scenario}, workers {args.workers}, {'with' if args.keep_runs else 'without'} per-run rows")
    print(f"{'replications':>12}  {'peak RSS MiB':>12}  {'wall s':>7}  {'replications/s':>14}")
    for runs in args.sizes:
        rss, seconds = peak_rss_mib(runs, args.scenario, args.workers, args.keep_runs)
        print(f"{runs:>12,}  {rss:>12.1f}  {seconds:>7.1f}  {runs / seconds:>14,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
