"""``sim run SCENARIO --runs N --seed S --out DIR`` (SCENARIO: a TOML file or a bundled name)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sim import stats
from sim.analysis.saving import Saving, advantage_of, advantages, sign_note
from sim.analysis.spot import pause_table, spot_table, uses_spot, with_deadline_misses
from sim.commands.common import (
    UsageError,  # noqa: F401 - re-exported: other commands import it from here
    add_overwrite_argument,
    check_common,
    identity_of,
    results_folder,
)
from sim.commands.table import percent, render
from sim.errors import EXIT_TARGET_NOT_MET
from sim.experiment.api import ENGINES
from sim.experiment.io import atomic_write_bytes, atomic_write_text, parquet_bytes
from sim.experiment.runner import simulate_parallel
from sim.model.scenario import Scenario, load_scenario
from sim.stats import few_replications_warning
from sim.stats.completion import incomplete_counts, incomplete_warnings

HEADLINE = [("makespan_s", "makespan"), ("wasted_compute_s", "wasted compute"), ("total_cost_usd", "total cost")]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="simulate one scenario and summarise each strategy",
                       description="Simulate a scenario's pipeline under its failure environment with every strategy; "
                       "print the prices it rests on, means with 95% confidence intervals and the paired saving of durable "
                       "over restart (restart - durable: positive = durable lower).")
    p.add_argument("scenario", help="scenario TOML file (see docs/model.md), or a bundled scenario by name "
                   "(`sim scenarios` lists them)")
    p.add_argument("--runs", type=int, default=1000, help="replications (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--out", help="output folder (default results/<scenario name>-<hash of the scenario, seed, "
                   "runs and engine>: a new folder for other results)")
    add_overwrite_argument(p)
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="auto (fast path where exact, else DES), des (reference), fast")
    add_backend_arguments(p, "replications")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle, interrupted="nothing was written (run writes its files only when every "
                   "replication is done); run the command again")


def add_backend_arguments(p: argparse.ArgumentParser, counted: str) -> None:
    """--workers and --scheduler (``run``, ``sweep``, ``breakeven``); ``counted``: what reaches 20000."""
    p.add_argument("--workers", type=int, default=None,
                   help=f"local processes, or the size of --scheduler local (default: every core when {counted} "
                   ">= 20000, else 1); the results do not depend on it")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="Dask scheduler address (tcp://host:8786), or 'local' for a local Dask cluster")


_TIME_UNITS = [(86400.0, "d", 2.0), (3600.0, "h", 2.0), (60.0, "min", 2.0), (1.0, "s", 1.0)]


def _time_unit(magnitude: float) -> tuple[float, str]:
    if magnitude == 0:
        return 1.0, "s"
    for factor, name, at_least in _TIME_UNITS:
        if magnitude >= at_least * factor:
            return factor, name
    return 1e-3, "ms"


def _decimals(magnitude: float, significant: int = 3) -> int:
    """Decimals that show ``significant`` digits of the largest value (the same for all values)."""
    if magnitude <= 0:
        return 2
    return max(0, significant - 1 - math.floor(math.log10(magnitude)))


def fmt_values(metric: str, values: list[float], width: float = 0.0) -> list[str]:
    """Format values of one metric in one shared unit (seconds → s/min/h, dollars with the sign
    first), with enough decimals for 3 significant digits of the largest value and, when
    ``width`` (an interval's width) is given, 2 of the width, so the ends of an interval differ."""
    finite = [abs(v) for v in values if v == v]
    magnitude = max(finite) if finite else 0.0
    if metric.endswith("_usd"):
        decimals = max(2, _decimals(magnitude), _decimals(width, 2) if width > 0 else 0)
        return ["n/a" if v != v else f"{'-' if v < 0 else ''}${abs(v):,.{decimals}f}" for v in values]
    if metric.endswith("_s"):
        factor, unit = _time_unit(magnitude)
        decimals = max(_decimals(magnitude / factor), _decimals(width / factor, 2) if width > 0 else 0)
        return ["n/a" if v != v else f"{v / factor:,.{decimals}f} {unit}" for v in values]
    if magnitude >= 1_000:  # counts: 30,040 rather than 3.004e+04, and 4,686 beside 2,928 (not 2928)
        return ["n/a" if v != v else f"{v:,.0f}" for v in values]
    return ["n/a" if v != v else f"{v:.4g}" for v in values]


def fmt_value(metric: str, value: float) -> str:
    return fmt_values(metric, [value])[0]


def fmt_interval(metric: str, mean: float, low: float, high: float, reason: str = "no value") -> str:
    """``mean [low, high]``; "n/a (reason)" for a mean that cannot be computed, and the mean
    with "[n/a: 1 value]" when there are fewer than two values."""
    if mean != mean:
        return f"n/a ({reason})"
    if mean == low == high == 0:
        zero = "$0" if metric.endswith("_usd") else "0 s" if metric.endswith("_s") else "0"
        return f"{zero} in every replication"
    width = high - low if math.isfinite(high - low) else 0.0
    if width <= 1e-9 * abs(mean):  # a deterministic difference: rounding noise sets no digits
        width = 0.0
    m, lo, hi = fmt_values(metric, [mean, low, high], width)
    if low != low or high != high:
        return f"{m} [n/a: 1 value]"
    return f"{m} [{lo}, {hi}]"


def comparison_pair(scenario: Scenario) -> tuple[str, str] | None:
    labels = list(scenario.strategies)
    if "durable" in labels and "restart" in labels:
        return "durable", "restart"
    return (labels[1], labels[0]) if len(labels) >= 2 else None


def all_pairs(labels: list[str], first: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    """Every pair of strategies once, as (later − earlier), with ``first`` in its own order."""
    pairs = [(a, b) for i, b in enumerate(labels) for a in labels[i + 1:]]
    if first is not None:
        pairs = [first] + [p for p in pairs if p not in (first, first[::-1])]
    return pairs


def report_text(scenario: Scenario, df: pd.DataFrame, summary: pd.DataFrame, paired: pd.DataFrame,
                seconds: float) -> str:
    runs = df["run"].nunique()
    engine = ",".join(sorted(df["engine"].unique()))
    lines = [f"{scenario.name}: {runs} replications x {len(scenario.strategies)} strategies, "
             f"seed {int(df['seed'].iloc[0])}, engine {engine} ({seconds:.1f} s)",
             f"prices: {scenario.pricing.describe()}", ""]
    rows = []
    for label in scenario.strategies:
        cells = [label]
        for metric, _ in HEADLINE:
            row = summary[(summary["strategy"] == label) & (summary["metric"] == metric)].iloc[0]
            cells.append(fmt_interval(metric, row["mean"], row["ci_low"], row["ci_high"]))
        cells.append(percent(float(df.loc[df["strategy"] == label, "completed"].mean()), 4))
        rows.append(cells)
    lines.append(render(["strategy", *(label for _, label in HEADLINE), "completed"], rows,
                        align=["left"] * (len(HEADLINE) + 1) + ["right"]))
    pair = comparison_pair(scenario)
    if pair is not None:
        a, b = pair
        lines += ["", f"paired {sign_note(a, b, 'value')}; the same failures in every replication:", ""]
        rows = [[label, *saving_cells(advantage_of(paired, a, b, metric))] for metric, label in HEADLINE]
        lines.append(render(["", f"saving of {a}", f"share of {b}'s value"], rows, indent="  "))
    if uses_spot(scenario):
        lines += ["", *spot_text(spot_table(scenario, df))]
    pauses = pause_table(scenario, df)
    if len(pauses):
        lines += ["", *pause_text(pauses)]
    lines.append("")
    lines.append("95% confidence intervals (Student t over replications; on the log scale where it would cross 0).")
    return "\n".join(lines)


def pause_text(table: pd.DataFrame) -> list[str]:
    """What pausing for the cheaper hours saves and what it costs in time, paired."""
    lines = ["pausing for the cheaper hours (pause_for_off_peak), against the same strategy run at once, on the "
             "same failures:", ""]
    rows = [[r.strategy, r.reference,
             fmt_interval("total_cost_usd", r.cost_saving_usd, r.cost_saving_low_usd, r.cost_saving_high_usd)
             + f" ({r.cost_saving_share:+.1%})",
             fmt_interval("makespan_s", r.delay_s, r.delay_low_s, r.delay_high_s),
             f"{fmt_value('wasted_compute_s', r.wasted_compute_s)} vs "
             f"{fmt_value('wasted_compute_s', r.reference_wasted_compute_s)}"] for r in table.itertuples()]
    lines.append(render(["", "against", "cost saving per run", "delay (later finish)", "wasted compute"], rows,
                        indent="  "))
    return lines


def spot_text(table: pd.DataFrame) -> list[str]:
    """The "Spot or on-demand?" block: each spot strategy against the on-demand reference."""
    if table.empty:
        return ["spot or on-demand? no strategy runs every step on demand to compare with (docs/spot.md)"]
    ref = table["reference"].iloc[0]
    lines = [f"spot or on-demand? each strategy on spot against {ref} (on demand), on the same failures:", ""]
    rows = []
    for r in table.itertuples():
        missed = ("-" if math.isnan(r.deadline_missed) else
                  f"{percent(r.deadline_missed, 3)} [{percent(r.deadline_missed_low, 3)}, "
                  f"{percent(r.deadline_missed_high, 3)}]")
        rows.append([r.strategy,
                     fmt_interval("total_cost_usd", r.cost_saving_usd, r.cost_saving_low_usd, r.cost_saving_high_usd)
                     + f" ({r.cost_saving_share:+.1%})",
                     fmt_interval("makespan_s", r.delay_s, r.delay_low_s, r.delay_high_s),
                     missed, fmt_value("wasted_compute_s", r.wasted_compute_s), f"{r.preemptions:.3g}",
                     percent(r.on_demand_share, 3)])
    lines.append(render(["", "cost saving per run", "delay (later finish)", "deadline missed", "wasted compute",
                         "preemptions", "moved to on-demand"], rows, indent="  "))
    ref_missed = table["reference_deadline_missed"].iloc[0]
    if not math.isnan(ref_missed):
        lines.append(f"  ({ref} misses the deadline in {percent(ref_missed, 3)} of runs)")
    return lines


def saving_cells(sav: Saving) -> tuple[str, str]:
    """A paired saving (or gain) with its interval, and its share of b's value; where it is one
    strategy's own value (the other's is 0 in every replication), the second cell says so, and
    the interval is that value's own (the one in the table above)."""
    text = fmt_interval(sav.metric, sav.mean, sav.ci_low, sav.ci_high)
    if sav.one_sided is not None:
        other = sav.a if sav.one_sided == sav.b else sav.b
        return text, f"all of {sav.one_sided}'s ({other}'s is 0 in every replication)"
    if sav.rel == sav.rel and math.isfinite(sav.rel):
        return text, f"{sav.rel:+.1%}"
    return text, ""


def saving_text(sav: Saving) -> str:
    """:func:`saving_cells` on one line."""
    text, share = saving_cells(sav)
    return f"{text}  ({share} of {sav.b})" if share and sav.one_sided is None else (
        f"{text}  ({share})" if share else text)


def finish(runs: int, incomplete: Sequence[str], stopping_missed: bool = False) -> int:
    """Print the warnings of a finished command to stderr and return its exit code: 0, or
    ``EXIT_TARGET_NOT_MET`` when a stopping rule was not reached or some runs did not complete."""
    warning = few_replications_warning(runs)
    for line in ([warning] if warning else []) + list(incomplete):
        print(line, file=sys.stderr)
    if stopping_missed:
        print("warning: the stopping rule's target was NOT reached (see above); exit code "
              f"{EXIT_TARGET_NOT_MET}", file=sys.stderr)
    return EXIT_TARGET_NOT_MET if incomplete or stopping_missed else 0



def scenario_json(scenario: Scenario) -> str:
    return json.dumps(scenario.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True, default=str) + "\n"


def handle(args: argparse.Namespace) -> int:
    check_common(args)
    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else Path("results") / f"{scenario.name}-{identity_of(args, scenario)[:8]}"
    with results_folder(args, "run", out, scenario):  # before simulating: an impossible --out fails at once
        return _run_into(args, scenario, out)


def run_incomplete_warnings(scenario: Scenario, df: pd.DataFrame) -> list[str]:
    """Warnings about runs of ``df`` that did not complete (cause and fraction, per strategy)."""
    counts, totals = {}, {}
    for label in scenario.strategies:
        part = df[df["strategy"] == label]
        counts[label] = incomplete_counts(part["completed"].to_numpy(), part["makespan_s"].to_numpy(),
                                          scenario.simulation.max_time_s)
        totals[label] = len(part)
    return incomplete_warnings(counts, totals, scenario.simulation.max_time_s)


def _run_into(args: argparse.Namespace, scenario: Scenario, out: Path) -> int:
    started = time.perf_counter()
    df = simulate_parallel(scenario, args.runs, args.seed, engine=args.engine, workers=args.workers,
                           scheduler=args.scheduler, quiet=args.quiet)
    seconds = time.perf_counter() - started
    spot = uses_spot(scenario) or scenario.failures.preemption is not None
    df = with_deadline_misses(scenario, df) if spot else df
    metrics = [c for c in df.columns if c.endswith(("_s", "_usd")) or c in ("attempts", "crashes", "deploy_kills",
               "rate_limited", "pipeline_restarts", "orchestration_actions", "history_events")
               or (spot and c in ("preemptions", "on_demand_fallbacks", "deadline_missed"))]
    summary = stats.summarize(df, metrics=metrics, by=("strategy",))
    labels = list(scenario.strategies)
    pairs = all_pairs(labels, comparison_pair(scenario))
    paired = pd.concat([stats.paired_differences(df, a, b, metrics=metrics) for a, b in pairs],
                       ignore_index=True) if len(labels) > 1 else pd.DataFrame()
    print(report_text(scenario, df, summary, paired, seconds))
    meta = {"scenario": scenario.model_dump(mode="json", by_alias=True), "seed": args.seed, "runs": args.runs}
    # everything is computed before anything is written: an error leaves no partial output
    files = {
        "runs.parquet": parquet_bytes(df, meta),
        "summary.csv": summary.to_csv(index=False, float_format="%.10g").encode(),
        "paired.csv": advantages(paired).to_csv(index=False, float_format="%.10g").encode(),
        "scenario.toml": Path(scenario.path or args.scenario).read_bytes(),
    }
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    atomic_write_text(out / "scenario.json", scenario_json(scenario))
    print(f"wrote {out}/: runs.parquet, summary.csv, paired.csv, scenario.toml, scenario.json")
    return finish(args.runs, run_incomplete_warnings(scenario, df))
