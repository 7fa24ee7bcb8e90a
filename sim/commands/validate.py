"""sim validate SCENARIO --runs R --speed S: the scenario on a real Temporal server, beside the simulation.

Starts a local Temporal development server (a free port on 127.0.0.1, a temporary database;
stopped on exit and on Ctrl-C), runs R replications of every strategy for real on the
simulator's failures (worker crashes are SIGKILLs of the worker process, deployments graceful
shutdowns, 429s activity failures with Retry-After), compressed in time by --speed (simulated
seconds per real second), and prints, per strategy and metric, the real and simulated means
and the paired difference real - simulated with its 95% interval. Needs the extra:
pip install 'durable-sim[temporal]'. docs/validation.md explains the mapping and the results.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import pandas as pd

from sim.commands.common import results_folder
from sim.errors import SimError
from sim.experiment.io import atomic_write_text
from sim.model.bundled import resolve_scenario_path
from sim.model.scenario import load_scenario

MAX_RUNS = 10_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="run a scenario on a real Temporal dev server beside the simulation",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", help="scenario TOML file, or a bundled scenario by name (`sim scenarios` lists them)")
    p.add_argument("--runs", type=int, default=20, help="replications (default 20)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="time compression: simulated seconds per real second (default 1: real time)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--strategies", help="comma-separated strategy labels (default: all)")
    p.add_argument("--concurrency", type=int, default=4, help="runs on the server at once (default 4)")
    p.add_argument("--out", help="folder for runs.csv, summary.csv and the real histories (histories/*.json)")
    p.add_argument("--fleet", action="store_true",
                   help="run the scenario's [fleet] for real: its workers as processes on one task queue, each "
                   "crashing on its own clock, and compare schedule-to-start, makespans and attempts with the "
                   "fleet simulation (strategies that dispatch through the task queue; docs/validation.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle, interrupted="the dev server and its workers were stopped; nothing was written")


def handle(args: argparse.Namespace) -> int:
    if not 1 <= args.runs <= MAX_RUNS:
        raise SimError(f"--runs must be between 1 and {MAX_RUNS}, got {args.runs}")
    if not args.speed > 0:
        raise SimError(f"--speed must be positive, got {args.speed}")
    if args.concurrency < 1:
        raise SimError(f"--concurrency must be at least 1, got {args.concurrency}")
    path = resolve_scenario_path(args.scenario)
    scenario = load_scenario(path)
    from sim.validate.server import require_sdk, temporal_cli

    require_sdk()
    temporal_cli()
    strategies = [s.strip() for s in args.strategies.split(",")] if args.strategies else None
    if strategies:
        unknown = [s for s in strategies if s not in scenario.strategies]
        if unknown:
            raise SimError(f"--strategies: unknown strategy '{unknown[0]}'; {path} has {list(scenario.strategies)}")
    # (a Ctrl-C while the results are written removes those written: ``ResultsFolder.at_end``)
    folder = results_folder(args, "validate", Path(args.out), scenario) if args.out else contextlib.nullcontext()
    with folder as lock:
        if args.fleet:
            return _run_fleet(args, scenario, str(path), strategies)
        return _run(args, scenario, str(path), strategies, lock)


def _run(args: argparse.Namespace, scenario, path: str, strategies, lock) -> int:
    from tqdm import tqdm

    from sim.validate import validate, write_histories
    from sim.validate.compare import format_summary

    n_strats = len(strategies or scenario.strategies)
    bar = tqdm(total=args.runs * n_strats, unit="run", disable=args.quiet or not sys.stderr.isatty(),
               desc="real runs", file=sys.stderr)
    result = validate(scenario, path, args.runs, seed=args.seed, speed=args.speed, strategies=strategies,
                      concurrency=args.concurrency, progress=lambda _r: bar.update(1))
    bar.close()
    for label, why in result.skipped.items():
        print(f"note: strategy '{label}' was not run on the real server: {why}", file=sys.stderr)
    if result.paired.empty:
        raise SimError(f"{path}: no strategy of the scenario can run on the real server")
    print(f"{scenario.name}: {args.runs} replications on a real Temporal dev server, speed {args.speed:g} "
          f"(simulated s per real s), seed {args.seed}")
    print(format_summary(result.summary))
    late = result.paired.groupby("strategy")["late_restart_s"].mean()
    print("harness: replacement workers polled on average " +
          ", ".join(f"{s} {v:.3g} s" for s, v in late.items()) + " (simulated) after the scenario's restart time")
    if args.out:
        out = Path(args.out)
        atomic_write_text(out / "runs.csv", result.paired.to_csv(index=False))
        atomic_write_text(out / "summary.csv", result.summary.to_csv(index=False))
        write_histories(result.histories, out / "histories")
        print(f"wrote {out}/runs.csv, summary.csv and histories/ ({len(result.histories)} real histories)")
    return 0


def _run_fleet(args: argparse.Namespace, scenario, path: str, strategies) -> int:
    import asyncio
    import tempfile

    from sim.model.strategies import behaviours_of
    from sim.validate.fleet import compare_fleet, fleet_unsupported, run_fleet_real
    from sim.validate.server import DevServer

    if scenario.fleet is None:
        raise SimError(f"{path}: --fleet needs a [fleet] table (docs/fleet.md)")
    behs = behaviours_of(scenario, strategies)
    for b in behs:
        if (why := fleet_unsupported(scenario, b)) is not None:
            print(f"note: strategy '{b.label}' was not run on the real fleet: {why}", file=sys.stderr)
    behs = [b for b in behs if fleet_unsupported(scenario, b) is None]
    if not behs:
        raise SimError(f"{path}: no strategy of the scenario can run on a real fleet")
    with DevServer() as server, tempfile.TemporaryDirectory(prefix="sim-validate-fleet-") as work:
        reals = asyncio.run(run_fleet_real(server.address, scenario, path, behs, list(range(args.runs)), args.seed,
                                           args.speed, Path(work)))
    table = compare_fleet(reals, scenario, args.seed)
    print(f"{scenario.name}: {args.runs} fleet replications on a real Temporal dev server "
          f"({scenario.fleet.workers} worker processes), speed {args.speed:g} (simulated s per real s), "
          f"seed {args.seed}")
    summary = table.groupby(["strategy", "metric"], sort=False)[["real", "simulated", "difference"]].mean()
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    late = sum(r.late_restart_s for r in reals) / max(1, sum(r.kills for r in reals))
    print(f"harness: {sum(r.kills for r in reals)} worker kills; replacements polled on average {late:.3g} s "
          "(simulated) after the scenario's restart time")
    if args.out:
        out = Path(args.out)
        atomic_write_text(out / "fleet_runs.csv", table.to_csv(index=False))
        tasks = pd.concat([r.tasks.assign(run=r.run, strategy=r.strategy) for r in reals], ignore_index=True)
        atomic_write_text(out / "fleet_tasks.csv", tasks.to_csv(index=False))
        print(f"wrote {out}/fleet_runs.csv and fleet_tasks.csv (every real activity attempt)")
    return 0
