"""``python -m sim sweep SCENARIO.toml --vary PATH=VALUES … --runs N --seed S --out DIR``."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

from sim.analysis.saving import advantages, saving_of, sign_note
from sim.commands.run import UsageError, add_backend_arguments, finish, fmt_interval
from sim.commands.table import percent, render
from sim.experiment.api import ENGINES
from sim.experiment.points import SweepPoint, build_points, parse_vary, resolve_path, sweep_spec
from sim.experiment.runner import (
    DEFAULT_CHUNK_SIZE,
    FAST_CHUNK_SIZE,
    StoppingRule,
    SweepResult,
    default_chunk_size,
    run_sweep,
    sweep_identity,
)
from sim.experiment.store import METRICS, manifest_hash
from sim.model.scenario import Scenario, load_scenario
from sim.model.units import format_duration

LABELS = {"total_cost_usd": "total cost", "makespan_s": "makespan", "wasted_compute_s": "wasted compute",
          "wasted_cost_usd": "wasted cost", "compute_cost_usd": "compute cost"}


def add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``sweep`` and ``breakeven``: replications, seed, backend, store."""
    p.add_argument("--runs", type=int, default=1000, help="replications per sweep point (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="auto (fast path where exact, else DES), des (reference), fast")
    add_backend_arguments(p, "points x runs")
    p.add_argument("--chunk-size", type=int, default=None,
                   help=f"replications per chunk of work (default {FAST_CHUNK_SIZE} when every point runs on the "
                   f"fast path and there is no stopping rule, else {DEFAULT_CHUNK_SIZE}; part of the sweep's identity)")
    p.add_argument("--overwrite", action="store_true", help="discard an existing sweep in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="simulate a grid of scenario variants (resumable, any number of replications)",
        description="Vary scenario parameters by dotted path (several --vary make a grid), simulate every "
        "point with every strategy, print means with 95% confidence intervals and the paired differences, "
        "and write Parquet/CSV tables. Finished chunks are kept: rerunning the same command after an "
        "interruption finishes the rest.")
    p.add_argument("scenario", help="scenario TOML file (see docs/model.md), or a bundled name (sim scenarios)")
    p.add_argument("--vary", action="append", default=[], metavar="PATH=VALUES",
                   help="e.g. failures.crash.mtbf=1h,2h,4h | failures.rate_limit.probability=lin:0.01:0.3:15 | "
                   "failures.crash.mtbf=log:30m:1w:12 (repeat for a grid)")
    add_execution_arguments(p)
    p.add_argument("--out", help="output folder (default results/<scenario>-sweep-<hash>)")
    p.add_argument("--no-runs", action="store_true", help="keep only aggregates, no per-run Parquet rows")
    p.add_argument("--metric", default="total_cost_usd",
                   help="metric shown first and used by --target-half-width (default total_cost_usd)")
    p.add_argument("--also", action="append", default=None, metavar="METRIC",
                   help="more metrics to show (default makespan_s)")
    p.add_argument("--target-half-width", metavar="X",
                   help="add replications until the 95%% half-width of --metric is at most X "
                   "(relative like 2%%, or absolute) at every point; --runs is then the first round")
    p.add_argument("--paired", metavar="A-B", help="with --target-half-width: the paired difference A - B "
                   "(e.g. durable-restart) instead of each strategy's mean")
    p.add_argument("--max-runs", type=int, default=100_000,
                   help="with --target-half-width: at most this many replications per point (default 100000)")
    p.set_defaults(handler=handle, interrupted="the finished chunks are kept in --out; run the same command "
                   "again to continue")


def check_common(args: argparse.Namespace) -> None:
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    if args.seed < 0:
        raise UsageError("--seed must not be negative")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise UsageError("--chunk-size must be at least 1")
    if args.scheduler and args.scheduler != "local" and args.workers is not None:
        raise UsageError("--workers sets local processes or the size of --scheduler local; a remote "
                         "cluster has its own workers")


def check_metric(name: str, option: str) -> None:
    if name not in METRICS:
        raise UsageError(f"{option} {name!r}: not a result column; known: {', '.join(METRICS)}")


def parse_pair(text: str, scenario: Scenario) -> tuple[str, str]:
    labels = list(scenario.strategies)
    for i, ch in enumerate(text):
        if ch == "-" and text[:i] in labels and text[i + 1:] in labels:
            return text[:i], text[i + 1:]
    raise UsageError(f"--paired {text!r}: expected A-B with strategies of the scenario ({', '.join(labels)})")


def default_out(scenario: Scenario, identity: dict) -> Path:
    return Path("results") / f"{scenario.name}-sweep-{manifest_hash(identity)[:8]}"


def fmt_x(path: str, value: float) -> str:
    """A value of a swept parameter: a duration with its unit, a probability as a percentage."""
    if path.endswith(("probability", "fraction", "share")) and math.isfinite(value) and 0 <= value <= 1:
        return percent(value, 4)
    if path.endswith(("mtbf", "every", "interval", "latency", "time", "delay", "drain", "duration", "median",
                      "p95", "mean", "low", "high", "value", "scale", "retry_after", "max_time")) and value > 0:
        return f"{format_duration(value)} ({value:g} s)" if value >= 120 else format_duration(value)
    return f"{value:.6g}"


def report_text(scenario: Scenario, points: Sequence[SweepPoint], result: SweepResult, metrics: list[str],
                seed: int) -> str:
    xcols = list(points[0].values)
    labels = list(scenario.strategies)
    engine = ",".join(result.engines)
    where = {"serial": "serial", "processes": f"{result.workers} processes",
             "dask": f"Dask cluster ({result.workers} threads)",
             "none": "nothing left to run"}.get(result.backend, result.backend)
    lines = [f"{scenario.name}: {len(points)} point(s) x {len(labels)} strategies x {result.runs_per_point} "
             f"replications, seed {seed}, engine {engine}, {where} ({result.seconds:.1f} s; "
             f"{result.chunks_run} chunks run, {result.chunks_reused} reused)",
             f"prices: {scenario.pricing.describe()}", ""]
    summary, paired = result.summary, result.paired
    rows = []
    for p in points:
        for j, label in enumerate(labels):
            cells = [fmt_x(c, p.values[c]) if j == 0 else "" for c in xcols] + [label]
            for m in metrics:
                row = summary[(summary["point"] == p.index) & (summary["strategy"] == label)
                              & (summary["metric"] == m)].iloc[0]
                cells.append(fmt_interval(m, row["mean"], row["ci_low"], row["ci_high"]))
            rows.append(cells)
    lines.append(render([*xcols, "strategy", *(LABELS.get(m, m) for m in metrics)], rows))
    pairs = list(dict.fromkeys(zip(paired["a"], paired["b"], strict=True))) if len(paired) else []
    pair = ("durable", "restart") if ("durable", "restart") in pairs else (pairs[0] if pairs else None)
    if pair is not None:
        a, b = pair
        lines += ["", f"paired {sign_note(a, b, 'value')}; the same failures in every replication:", ""]
        rows = []
        for p in points:
            cells = [fmt_x(c, p.values[c]) for c in xcols]
            for m in metrics:
                sav = saving_of(paired[paired["point"] == p.index], a, b, m)
                rel_text = f" ({sav.rel:+.1%})" if math.isfinite(sav.rel) else ""
                cells.append(fmt_interval(m, sav.mean, sav.ci_low, sav.ci_high) + rel_text)
            rows.append(cells)
        lines.append(render([*xcols, *(f"saving: {LABELS.get(m, m)}" for m in metrics)], rows))
    if result.stopping is not None:
        lines += ["", result.stopping.message()]
    lines += ["", "95% confidence intervals (Student t over replications; on the log scale where it would cross 0)."]
    return "\n".join(line.rstrip() for line in lines)


def handle(args: argparse.Namespace) -> int:
    check_common(args)
    check_metric(args.metric, "--metric")
    also = args.also if args.also is not None else (["makespan_s"] if args.metric != "makespan_s" else [])
    for m in also:
        check_metric(m, "--also")
    if args.paired and not args.target_half_width:
        raise UsageError("--paired needs --target-half-width")
    if args.max_runs < 2:
        raise UsageError("--max-runs must be at least 2")
    scenario = load_scenario(args.scenario)
    varies = [parse_vary(v) for v in args.vary]
    for v in varies:
        resolve_path(scenario, v.path)
    points = build_points(scenario, varies)
    stopping = None
    if args.target_half_width:
        target, relative = StoppingRule.parse_target(args.target_half_width)
        pair = parse_pair(args.paired, scenario) if args.paired else None
        stopping = StoppingRule(metric=args.metric, target=target, relative=relative, paired=pair,
                                min_runs=args.runs, max_runs=args.max_runs)
    spec = sweep_spec(varies)
    keep_runs = not args.no_runs
    if args.chunk_size is None:
        args.chunk_size = default_chunk_size(points, args.engine, stopping)
    out = Path(args.out) if args.out else default_out(
        scenario, sweep_identity(points, args.seed, args.runs, args.engine, args.chunk_size, spec, stopping, keep_runs))
    result = run_sweep(points, args.runs, args.seed, engine=args.engine, out=out, workers=args.workers,
                       scheduler=args.scheduler, chunk_size=args.chunk_size, keep_runs=keep_runs,
                       overwrite=args.overwrite, quiet=args.quiet, spec=spec, stopping=stopping,
                       publish_paired=advantages)
    metrics = [args.metric] + [m for m in also if m != args.metric]
    print(report_text(scenario, points, result, metrics, args.seed))
    runs_note = "" if args.no_runs else ", runs/*.parquet"
    print(f"wrote {out}/: summary.parquet/.csv, paired.parquet/.csv, points.parquet/.csv, manifest.json{runs_note}")
    return finish(result.runs_per_point, result.incomplete, result.stopping is not None and not result.stopping.met)

