"""``sim fleet SCENARIO --runs N --seed S --out DIR`` (``--replications`` is an alias of ``--runs``)."""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from sim import stats
from sim.analysis.saving import advantage_of, advantages, kind_of, sign_note
from sim.commands.common import add_overwrite_argument, results_folder
from sim.commands.run import UsageError, finish, fmt_interval, fmt_value, saving_cells
from sim.commands.table import render
from sim.engines.fleet import fleet_queue, simulate_fleet, uses_task_queue
from sim.engines.fleet.metrics import QUEUE_COLUMNS
from sim.engines.fleet.provider import check_provider
from sim.experiment.eta import Eta
from sim.experiment.io import atomic_write_bytes, parquet_bytes
from sim.experiment.resources import ResourceError, check_fleet_memory, check_runs
from sim.model.scenario import Scenario, load_scenario

# (column of the fleet table, label) in the order they are printed
HEADLINE = [
    ("completed", "completed workflows"),
    ("throughput_per_h", "throughput (per hour)"),
    ("drain_time_s", "time to drain"),
    ("latency_p50_s", "latency p50"),
    ("latency_p90_s", "latency p90"),
    ("latency_p99_s", "latency p99"),
    ("queue_wait_mean_s", "queue wait (mean)"),
    ("schedule_to_start_mean_s", "schedule-to-start (mean)"),
    ("backlog_mean", "activity backlog (mean)"),
    ("calls", "LLM calls"),
    ("provider_429s", "provider 429s"),
    ("crashes", "crashes"),
    ("deploy_kills", "deployment kills"),
    ("heartbeats", "heartbeat saves"),
    ("worker_utilisation", "worker utilisation"),
    ("cost_per_completed_usd", "cost per completed"),
    ("wasted_cost_per_completed_usd", "wasted cost per completed"),
]
SKIP = {"run", "seed", "workers", "events"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fleet", help="simulate many workflows sharing workers and a provider",
                       description="Simulate a scenario's [fleet] (docs/fleet.md) with every strategy: print the fleet "
                       "metrics per strategy as means over replications with 95% confidence intervals, and write "
                       "workflows.parquet (one row per workflow), fleet.parquet (one row per replication and "
                       "strategy) and summary.csv.")
    p.add_argument("scenario", help="scenario TOML file with a [fleet] table (see docs/fleet.md), or a bundled name")
    p.add_argument("--runs", "--replications", dest="replications", type=int, default=20, metavar="N",
                   help="fleet replications (default 20; --replications is an alias)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--out", help="output folder (default results/<scenario name>-fleet)")
    add_overwrite_argument(p)
    p.add_argument("--strategies", help="comma-separated strategy labels (default: every strategy of the scenario)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle, interrupted="nothing was written (fleet writes its files only when every "
                   "replication is done); run the command again")


def _strategies(scenario: Scenario, text: str | None) -> list[str]:
    if text is None:
        return list(scenario.strategies)
    labels = [s.strip() for s in text.split(",") if s.strip()]
    if not labels:
        raise UsageError("--strategies is empty")
    for label in labels:
        if label not in scenario.strategies:
            raise UsageError(f"--strategies: unknown strategy '{label}' (the scenario has: "
                             f"{', '.join(scenario.strategies)})")
    return list(dict.fromkeys(labels))


def simulate_with_progress(scenario: Scenario, replications: int, seed: int, strategies: Sequence[str],
                           quiet: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    show = not quiet and sys.stderr.isatty()
    workflows, fleets = [], []
    eta = Eta(replications, f"{scenario.name} (fleet)", enabled=not quiet)  # announces a long run, then progress
    with tqdm(total=replications, unit="replication", disable=not show, desc=scenario.name, leave=False) as bar:
        for run in range(replications):
            wf, fl = simulate_fleet(scenario, 1, seed, first_run=run, strategies=strategies)
            workflows.append(wf)
            fleets.append(fl)
            bar.update(1)
            eta.update(1)
    return pd.concat(workflows, ignore_index=True), pd.concat(fleets, ignore_index=True)


def summary_table(fleet: pd.DataFrame) -> pd.DataFrame:
    """Mean, interval (t, transformed where it would cross a bound) and percentiles over
    replications of every fleet metric, per strategy."""
    metrics = [c for c in fleet.columns if c not in SKIP and c not in ("scenario", "strategy")
               and pd.api.types.is_numeric_dtype(fleet[c])]
    numeric = fleet.astype({m: float for m in metrics})
    return ordered_quantile_intervals(stats.summarize(numeric, metrics=metrics, by=("strategy",)))


#: latency quantiles, each at least the one before it in every replication
LATENCY_QUANTILES = ("latency_p50_s", "latency_p90_s", "latency_p99_s")


def ordered_quantile_intervals(summary: pd.DataFrame) -> pd.DataFrame:
    """Intervals of mean latency quantiles that respect their order. In every replication p90 ≥ p50
    and p99 ≥ p90, so mean p99 ≥ mean p90 ≥ mean p50: an interval of mean p99 reaching below mean
    p50 (few, skewed replications) contradicts the line above it. Where the interval of a quantile
    would reach below the mean of the one before, its lower end is that mean; the upper end stays."""
    out = summary.copy()
    for lower, upper in zip(LATENCY_QUANTILES, LATENCY_QUANTILES[1:], strict=False):
        for strategy in out["strategy"].unique():
            lo_row = out[(out["strategy"] == strategy) & (out["metric"] == lower)]
            hi_idx = out.index[(out["strategy"] == strategy) & (out["metric"] == upper)]
            if lo_row.empty or hi_idx.empty:
                continue
            floor = float(lo_row["mean"].iloc[0])
            r = out.loc[hi_idx[0]]
            if not (r["ci_low"] < floor <= r["mean"]):
                continue
            out.loc[hi_idx[0], "ci_low"] = floor
    return out


# why a fleet metric can be missing in a replication
NA_REASON = {"throughput_per_h": "nothing finished", "cost_per_completed_usd": "no completed workflow",
             "wasted_cost_per_completed_usd": "no completed workflow", "worker_utilisation": "nothing ran"}


def _na_reason(metric: str) -> str:
    if metric.startswith(("latency_", "queue_wait_")):
        return "no completed workflow"
    if metric.startswith(("schedule_to_start_", "backlog_")):
        return "no task queue: a workflow holds one worker"
    return NA_REASON.get(metric, "no value")


def paired_table(fleet: pd.DataFrame, strategies: Sequence[str]) -> pd.DataFrame:
    """Paired differences (later − earlier strategy, durable − restart first) of every fleet
    metric over replications: every strategy of a replication faces the same arrivals and failures."""
    from sim.commands.run import all_pairs

    labels = list(strategies)
    if len(labels) < 2:
        return pd.DataFrame()
    first = ("durable", "restart") if {"durable", "restart"} <= set(labels) else None
    metrics = [c for c in fleet.columns if c not in SKIP and c not in ("scenario", "strategy")
               and pd.api.types.is_numeric_dtype(fleet[c])]
    numeric = fleet.astype({m: float for m in metrics})
    return pd.concat([stats.paired_differences(numeric, a, b, metrics=metrics)
                      for a, b in all_pairs(labels, first)], ignore_index=True)


def report_text(scenario: Scenario, fleet: pd.DataFrame, summary: pd.DataFrame, strategies: Sequence[str],
                seconds: float, paired: pd.DataFrame | None = None) -> str:
    runs = fleet["run"].nunique()
    workers = int(fleet["workers"].iloc[0])
    lines = [f"{scenario.name}: {runs} fleet replications x {len(strategies)} strategies, {workers} workers, "
             f"seed {int(fleet['seed'].iloc[0])} ({seconds:.1f} s)",
             f"workflows per replication: {fmt_value('workflows', float(fleet['workflows'].mean()))} on average", ""]
    for label in strategies:
        rows = summary[summary["strategy"] == label].set_index("metric")
        cells = []
        for metric, name in HEADLINE:
            if metric not in rows.index:
                continue
            r = rows.loc[metric]
            if metric == "heartbeats" and scenario.strategies[label].kind != "heartbeat":
                continue
            if metric in QUEUE_COLUMNS and fleet[metric].isna().all():
                continue  # no strategy dispatches through a task queue (a chain fleet)
            cells.append([name, fmt_interval(metric, r["mean"], r["ci_low"], r["ci_high"], _na_reason(metric))])
        lines += [render([label, "mean [95% CI]"], cells), ""]
    if paired is not None and len(paired):
        a, b = paired["a"].iloc[0], paired["b"].iloc[0]
        # the one sign convention of every output (sim.analysis.saving): positive means a is better
        lines.append(f"paired {sign_note(a, b, 'value', gains=True)}; the same arrivals and failures in every "
                     "replication:")
        rows = paired[(paired["a"] == a) & (paired["b"] == b)]
        cells = []
        for metric, name in HEADLINE:
            if metric not in set(rows["metric"]) or metric == "heartbeats":
                continue
            if metric in QUEUE_COLUMNS and fleet[metric].isna().all():
                continue
            sav = advantage_of(rows, a, b, metric)
            if sav.mean != sav.mean:
                cells.append([name, kind_of(metric), f"n/a ({_na_reason(metric)})", ""])
                continue
            cells.append([name, kind_of(metric), *saving_cells(sav)])
        lines += ["", render(["", "", f"{a} over {b}", f"share of {b}'s value"], cells, indent="  "), ""]
    lines.append("Means over replications with 95% confidence intervals (Student t; for counts, times and "
                 "fractions transformed to stay within their bounds); latencies over completed workflows of "
                 "each replication.")
    return "\n".join(lines)


def backlog_png(scenario: Scenario, strategies: Sequence[str], seed: int) -> bytes:
    """The figure of the activity queue's backlog over time in replication 0, one line per
    strategy that dispatches through the task queue (PNG bytes)."""
    from sim.analysis.plots import plot_backlog

    backlogs = {label: fleet_queue(scenario, label, 0, seed)[1] for label in strategies}
    fig = plot_backlog(backlogs, title=f"{scenario.name}: activity tasks waiting for a slot (replication 0)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def fleet_incomplete_warnings(fleet: pd.DataFrame, strategies: Sequence[str], max_time_s: float) -> list[str]:
    """Warnings about workflows that did not complete: cut at the horizon, or abandoned (out of retries)."""
    from sim.model.units import format_duration

    lines = []
    for label in strategies:
        part = fleet[fleet["strategy"] == label]
        total = int(part["workflows"].sum())
        cut, gave_up = int(part["unfinished"].sum()), int(part["abandoned"].sum())
        if total and cut:
            lines.append(f"warning: {label}: {cut} of {total} workflows ({cut / total:.1%}) did not complete: cut "
                         f"at the end of the simulation (simulation.max_time {format_duration(max_time_s)} or "
                         "the fleet's horizon)")
        if total and gave_up:
            lines.append(f"warning: {label}: {gave_up} of {total} workflows ({gave_up / total:.1%}) did not "
                         "complete: abandoned after their retry policy gave up")
    return lines


def handle(args: argparse.Namespace) -> int:
    if args.replications < 1:
        raise UsageError("--runs must be at least 1 (--replications is its alias)")
    try:
        check_runs(args.replications)
    except ResourceError as exc:
        raise UsageError(str(exc)) from None
    if args.seed < 0:
        raise UsageError("--seed must not be negative")
    scenario = load_scenario(args.scenario)
    if scenario.fleet is None:
        raise UsageError(f"{args.scenario}: the scenario has no [fleet] table (see docs/fleet.md); "
                         "use 'sim run' for a single pipeline")
    try:
        check_provider(scenario)
    except ValueError as exc:
        raise UsageError(f"{args.scenario}: {exc}") from None
    strategies = _strategies(scenario, args.strategies)
    try:  # the workflows table is kept whole: refuse what cannot fit, before anything runs
        check_fleet_memory(scenario, args.replications, args.seed, strategies)
    except ResourceError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out) if args.out else Path("results") / f"{scenario.name}-fleet"
    with results_folder(args, "fleet", out, scenario):  # before simulating: an impossible --out fails at once
        return _fleet_into(args, scenario, strategies, out)


def _fleet_into(args: argparse.Namespace, scenario: Scenario, strategies: list[str], out: Path) -> int:
    started = time.perf_counter()
    workflows, fleet = simulate_with_progress(scenario, args.replications, args.seed, strategies, args.quiet)
    seconds = time.perf_counter() - started
    summary = summary_table(fleet)
    paired = paired_table(fleet, strategies)
    print(report_text(scenario, fleet, summary, strategies, seconds, paired))
    meta = {"scenario": scenario.model_dump(mode="json", by_alias=True), "seed": args.seed,
            "replications": args.replications, "strategies": strategies}
    # everything is computed before anything is written: an error leaves no partial output
    files = {
        "workflows.parquet": parquet_bytes(workflows, meta),
        "fleet.parquet": parquet_bytes(fleet, meta),
        "summary.csv": summary.to_csv(index=False, float_format="%.10g").encode(),
        "paired.csv": advantages(paired).to_csv(index=False, float_format="%.10g").encode(),
    }
    queued = [label for label in strategies if uses_task_queue(scenario, label)]
    if queued:
        files["backlog.png"] = backlog_png(scenario, queued, args.seed)
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    print(f"wrote {out}/: {', '.join(files)}")
    return finish(args.replications, fleet_incomplete_warnings(fleet, strategies, scenario.simulation.max_time_s))
