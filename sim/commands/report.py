"""``python -m sim report SCENARIO.toml --out DIR [--runs N] [--seed S] [--quick]``.

Runs the baseline, a sensitivity analysis and a sweep of the main failure intensity
(``sim.analysis.report``), then writes DIR/report.md, DIR/report.html, DIR/figures/*.png|svg and
DIR/data/*. Everything is computed before the first file is written, and each file is
written atomically: an error leaves no partial report.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from sim.analysis.report import (
    DEFAULT_RUNS,
    QUICK_RUNS,
    ReportOptions,
    compute_report,
    report_files,
    write_report,
)
from sim.analysis.report.precision import DEFAULT_MAX_RUNS, DEFAULT_TARGET
from sim.commands.run import UsageError, finish, run_incomplete_warnings
from sim.experiment.api import ENGINES
from sim.experiment.outdir import ResultsFolder, results_identity
from sim.model.scenario import Scenario, load_scenario


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="design-review report: figures, summary table, break-even, sensitivity, conclusion",
        description="Simulate the scenario as written (with an event log for a timeline), a sweep of its main "
        "failure intensity around the current value (waste and break-even charts) and a one-at-a-time "
        "sensitivity analysis (tornado), then write a Markdown and an HTML report with figures.")
    p.add_argument("scenario", help="scenario TOML file (see docs/model.md), or a bundled name (sim scenarios)")
    p.add_argument("--out", help="output folder (default results/<scenario name>-report)")
    p.add_argument("--runs", type=int, default=None,
                   help=f"replications per setting (default {DEFAULT_RUNS:,}; {QUICK_RUNS} with --quick)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="a small preview: 5 sweep points (x1/4 .. x4), no refinement, 200 bootstrap resamples")
    p.add_argument("--sweep", metavar="PATH", default=None,
                   help="the failure intensity to sweep: failures.crash.mtbf, failures.crash.scale, "
                   "failures.deploy.every or failures.rate_limit.probability (default: the failure source with "
                   "the largest effect on the saving)")
    p.add_argument("--workers", type=int, default=None,
                   help="local processes (default: every core for large runs, else 1); two draw the figures, unless it is 1 "
                        "or the machine has one core")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="auto (fast path where exact, else DES), des (reference), fast")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples of the break-even (default 1000)")
    p.add_argument("--precision", default=f"{100 * DEFAULT_TARGET:g}%", metavar="PCT",
                   help="the headline's precision target: the 95%% interval of the saving within PCT of its "
                   f"estimate, reached with more baseline replications (default {100 * DEFAULT_TARGET:g}%%; "
                   "'off' keeps --runs; not with --quick, which only says whether it is reached)")
    p.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS,
                   help=f"at most this many baseline replications for the precision target (default "
                   f"{DEFAULT_MAX_RUNS:,})")
    p.add_argument("--no-svg", action="store_true", help="write PNG figures only")
    p.add_argument("--docs-url", metavar="URL",
                   help="link the docs the report cites (docs/NAME.md) to URL/NAME.md instead of copying them into "
                   "OUT/docs/ (a published copy, or a relative path such as .. for a report kept beside the docs)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--force", action="store_true",
                   help="write into --out even if it holds another scenario's report (or other files)")
    p.set_defaults(handler=handle, interrupted="nothing was written (the report is written only once every "
                   "simulation is done); run the command again")


def check_out_folder(out: Path, scenario_name: str, force: bool) -> None:
    """Refuse (unless ``force``) a folder that holds another scenario's report, or files that are
    not a report: writing there would mix two reports or overwrite someone's files."""
    if force or not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    record = out / "data" / "report.json"
    if record.exists():
        import json

        try:
            previous = json.loads(record.read_text()).get("scenario")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous != scenario_name:
            raise UsageError(f"--out {out} holds the report of scenario {previous!r}, not {scenario_name!r}; "
                             "choose another folder, or --force to overwrite it")
    elif any(out.iterdir()):
        raise UsageError(f"--out {out} is not empty and holds no report; choose another folder, or --force to "
                         "write into it")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this report (as typed, plus the resolved defaults)."""
    parts = ["python", "-m", "sim", "report", args.scenario, "--out", str(args.out_resolved),
             "--runs", str(args.runs_resolved), "--seed", str(args.seed)]
    if args.quick:
        parts.append("--quick")
    if args.sweep:
        parts += ["--sweep", args.sweep]
    if args.engine != "auto":
        parts += ["--engine", args.engine]
    if args.boot != 1000:
        parts += ["--boot", str(args.boot)]
    if args.no_svg:
        parts.append("--no-svg")
    if args.target != DEFAULT_TARGET:
        parts += ["--precision", "off" if args.target is None else f"{100 * args.target:g}%"]
    if args.max_runs != DEFAULT_MAX_RUNS:
        parts += ["--max-runs", str(args.max_runs)]
    if args.docs_url:
        parts += ["--docs-url", args.docs_url]
    return shlex.join(parts)


def handle(args: argparse.Namespace) -> int:
    runs = args.runs if args.runs is not None else (QUICK_RUNS if args.quick else DEFAULT_RUNS)
    if runs < 10:
        raise UsageError("--runs must be at least 10")
    if args.seed < 0:
        raise UsageError("--seed must not be negative")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.boot < 100:
        raise UsageError("--boot must be at least 100")
    args.target = parse_precision(args.precision)
    if args.max_runs < runs:
        raise UsageError(f"--max-runs must be at least --runs ({runs:,})")
    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else Path("results") / f"{scenario.name}-report"
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    check_out_folder(out, scenario.name, args.force)
    args.out_resolved, args.runs_resolved = out, runs
    # a report of the same scenario may be replaced (check_out_folder); another command's results never
    with ResultsFolder(out, "report", results_identity({"scenario": scenario.name}), args.force):
        return _report_into(args, scenario, out, runs)


def parse_precision(text: str) -> float | None:
    """"10%" or "0.1" → 0.1; "off" → None."""
    if text.strip().lower() in ("off", "none", "0"):
        return None
    try:
        value = float(text.strip().removesuffix("%")) / (100.0 if text.strip().endswith("%") else 1.0)
    except ValueError:
        raise UsageError(f"--precision: '{text}' is not a percentage (e.g. 10%) or 'off'") from None
    if not 0 < value < 1:
        raise UsageError(f"--precision: {text} must lie between 0% and 100% (or 'off')")
    return value


def _report_into(args: argparse.Namespace, scenario: Scenario, out: Path, runs: int) -> int:
    options = ReportOptions(runs=runs, seed=args.seed, quick=args.quick, sweep_path=args.sweep,
                            workers=args.workers, engine=args.engine, n_boot=args.boot, quiet=args.quiet,
                            target=args.target, max_runs=args.max_runs)
    started = time.perf_counter()
    data = compute_report(scenario, options)
    formats = ("png",) if args.no_svg else ("png", "svg")
    files = report_files(data, command_line(args), formats, docs_url=args.docs_url)  # everything rendered before anything is written
    write_report(out, files, formats)
    seconds = time.perf_counter() - started
    from sim.analysis.report import conclusions

    headline = data.precision.runs if data.precision is not None else runs
    print(f"{scenario.name}: report from {runs:,} replications per setting"
          + (f" ({headline:,} for the headline, by its precision target)" if headline != runs else "")
          + f", seed {args.seed} ({seconds:.1f} s)")
    print(f"prices: {scenario.pricing.describe()}")
    for line in conclusions(data):
        print("  - " + line.replace("**", ""))
    figures = sorted(p for p in files if p.startswith("figures/"))
    print(f"wrote {out}/: report.md, report.html, {len(figures)} figures, data/", file=sys.stdout)
    # the scenario as written: runs that did not complete are named, with their cause and fraction
    return finish(runs, run_incomplete_warnings(scenario, data.runs))
