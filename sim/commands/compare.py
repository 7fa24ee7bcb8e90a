"""``python -m sim compare SCENARIO --pricing a,b,c [--runs N] [--out DIR]``.

Simulates the scenario once (its baseline and a sweep of one failure intensity), then prices the
same runs under each orchestration profile (``sim.analysis.reprice``): costs recomputed from each
run's counts, no new simulation. Prints, per profile, each strategy's cost per run, the paired
saving and the break-even with their intervals, and the closed form where one applies.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sim.analysis.report.compare import compare_pricing, comparison_markdown, comparison_rows
from sim.analysis.report.precision import DEFAULT_MAX_RUNS, DEFAULT_TARGET
from sim.analysis.saving import sign_note
from sim.analysis.spot import spot_table, uses_spot
from sim.commands.common import add_overwrite_argument, check_common, results_folder
from sim.commands.report import parse_precision
from sim.commands.run import UsageError, spot_text
from sim.commands.table import render
from sim.errors import ScenarioError
from sim.experiment.api import ENGINES
from sim.experiment.io import atomic_write_text
from sim.experiment.runner import simulate_parallel
from sim.model.costs import orchestration_profiles
from sim.model.scenario import load_pricing_profile, load_scenario

FLEET_SET_ASIDE = ("mode: one workflow, as `sim run` and `sim report` run it; the scenario's [fleet] table is set "
                   "aside (`sim fleet` simulates the fleet)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="the same runs priced under several orchestration price lists, side by side",
        description="Simulate the scenario once (as written, and along a sweep of one failure intensity), then "
        "price the same runs under each orchestration profile: cost per run, paired saving and break-even, with "
        "intervals. Model and GPU prices stay the scenario's.")
    p.add_argument("scenario", help="scenario TOML file (see docs/model.md), or a bundled name (sim scenarios)")
    p.add_argument("--pricing", default=None,
                   help="comma-separated orchestration profiles (bundled names or TOML paths); default: every "
                   f"bundled one ({', '.join(orchestration_profiles())})")
    p.add_argument("--runs", type=int, default=10_000, help="replications per point (default 10,000)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--sweep", metavar="PATH", default=None,
                   help="the failure intensity to sweep for the break-even (default: the scenario's first: crash, "
                   "deployment, then 429)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples of each break-even (default 1000)")
    p.add_argument("--precision", default=f"{100 * DEFAULT_TARGET:g}%", metavar="PCT",
                   help="precision target of every saving: its 95%% interval within PCT of the estimate, reached "
                   f"with more baseline replications (default {100 * DEFAULT_TARGET:g}%%; 'off' keeps --runs)")
    p.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS,
                   help=f"at most this many baseline replications for the precision target (default "
                   f"{DEFAULT_MAX_RUNS:,})")
    p.add_argument("--engine", choices=ENGINES, default="auto")
    p.add_argument("--workers", type=int, default=None, help="local processes (default: every core for large runs)")
    p.add_argument("--monthly-workflows", metavar="N1,N2,...", default=None,
                   help="also show the month's orchestration bill under each profile at these monthly volumes "
                   "(plan minimums, allowances and tiers included), what decides it and the verdict at each volume")
    p.add_argument("--out", help="also write DIR/compare.md and DIR/compare.csv")
    add_overwrite_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    check_common(args, min_runs=10)
    target = parse_precision(args.precision)
    if args.max_runs < args.runs:
        raise UsageError(f"--max-runs must be at least --runs ({args.runs:,})")
    profiles = [p.strip() for p in args.pricing.split(",")] if args.pricing else None
    if profiles is not None and (not all(profiles) or len(set(profiles)) != len(profiles)):
        raise UsageError("--pricing: give distinct profile names separated by commas")
    for name in profiles or []:
        try:
            table, _ = load_pricing_profile(name)
        except ScenarioError as exc:
            raise UsageError(f"--pricing: {exc.problem}" + (f" ({exc.file})" if exc.file else "")) from None
        if "orchestration" not in table:
            raise UsageError(f"--pricing: profile '{name}' has no [orchestration] table")
    volumes = parse_volumes(args.monthly_workflows) if args.monthly_workflows is not None else []
    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else None
    if out is not None:  # before simulating: a folder of other results is refused at once
        results_folder(args, "compare", out, scenario).check()
    started = time.perf_counter()
    cmp = compare_pricing(scenario, profiles, runs=args.runs, seed=args.seed, path=args.sweep, engine=args.engine,
                          workers=args.workers, quiet=args.quiet, n_boot=args.boot, target=target,
                          max_runs=args.max_runs)
    spot_lines: list[str] = []
    spot = None
    if uses_spot(scenario):
        # spot or on-demand: the scenario's strategies at its settings, on the same failures
        spot = spot_table(scenario, simulate_parallel(scenario, cmp.headline_runs or args.runs, args.seed,
                                                      engine=args.engine, workers=args.workers, quiet=True))
        spot_lines = spot_text(spot)
    seconds = time.perf_counter() - started
    rows = comparison_rows(cmp)
    cols = [c for c in rows[0] if c != "note"]
    headline = cmp.headline_runs or args.runs
    lines = [f"{scenario.name}: {args.runs:,} replications per point x {len(cmp.grid) + 1} points"
             + (f" ({headline:,} at the scenario's settings, by the precision target)" if headline != args.runs
                else "") + f", seed {args.seed} ({seconds:.1f} s); the same runs priced under {len(rows)} "
             "orchestration profiles",
             f"models and GPUs: {scenario.pricing.models_profile.name or 'the scenario’s own prices'}",
             *([FLEET_SET_ASIDE] if scenario.fleet is not None else []),
             f"{sign_note(cmp.a, cmp.b)}; 95% intervals",
             f"break-even along {cmp.path}: {len(cmp.grid)} points", "",
             render(cols, [[r[c] for c in cols] for r in rows])]
    if spot_lines:
        lines = [*lines[:2], "", *spot_lines, "", *lines[2:]]
    notes = [f"{r['profile']}: {r['note']}" for r in rows if r["note"]]
    if notes:
        lines += [""] + notes
    month_lines: list[str] = []
    if volumes:
        month_lines = monthly_text(cmp, [r.profile for r in cmp.results], volumes)
        lines += [""] + month_lines
    print("\n".join(lines))
    if out is not None:
        import pandas as pd

        md = comparison_markdown(cmp) + ("\n```\n" + "\n".join(month_lines) + "\n```\n" if month_lines else "")
        with results_folder(args, "compare", out, scenario):
            atomic_write_text(out / "compare.md", md)
            atomic_write_text(out / "compare.csv", pd.DataFrame(rows).to_csv(index=False))
            if spot is not None:
                atomic_write_text(out / "spot.csv", spot.to_csv(index=False, float_format="%.10g"))
        print(f"wrote {out}/: compare.md, compare.csv" + (", spot.csv" if spot is not None else ""))
    return 0


def parse_volumes(text: str) -> list[float]:
    """"10000,1e7,10_000_000" -> [10000.0, 1e7, 1e7] (positive, finite, distinct)."""
    out = []
    for part in text.split(","):
        try:
            value = float(part.strip().replace("_", ""))
        except ValueError:
            raise UsageError(f"--monthly-workflows: '{part.strip()}' is not a number of workflows") from None
        if not (value > 0 and value < float("inf")):
            raise UsageError(f"--monthly-workflows: {part.strip()} must be a positive number of workflows")
        out.append(value)
    if len(set(out)) != len(out):
        raise UsageError("--monthly-workflows: give distinct volumes")
    return out


def monthly_text(cmp, profiles: list[str], volumes: list[float]) -> list[str]:
    """The monthly view: the bills at each volume, then where a plan's minimum decides the bill and
    how the verdict changes with volume."""
    from sim.analysis.monthly import minimum_thresholds, monthly_bills
    from sim.analysis.report.volumes import monthly_notes, monthly_rows

    bills = monthly_bills(cmp.runs_table, cmp.scenario, cmp.a, cmp.b, profiles, volumes, cmp.confidence)
    rows = monthly_rows(bills, cmp.a, cmp.b)
    cols = [c for c in rows[0] if c != "note"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    lines = [f"the month's orchestration bill of {cmp.a} at each monthly volume ({cmp.runs:,} runs priced; plan "
             f"minimums, allowances, free grants and tiers included), and the saving at that volume",
             "  ".join(f"{c:<{widths[c]}}" for c in cols).rstrip()]
    lines += ["  ".join(f"{r[c]:<{widths[c]}}" for c in cols).rstrip() for r in rows]
    notes = monthly_notes(bills, minimum_thresholds(cmp.runs_table, cmp.scenario, cmp.a, profiles), cmp.a, cmp.b)
    return lines + ([""] + notes if notes else [])
