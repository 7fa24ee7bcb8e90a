"""``python -m sim breakeven SCENARIO.toml --vary PATH=RANGE --metric total_cost_usd``.

A coarse sweep over PATH, ``sim.stats.breakeven`` (paired means, interpolated crossing,
bootstrap interval over replications), then finer sweeps inside the bracketing interval
(widened to the coarse interval when that is wider, never beyond the coarse range), and,
where ``sim.analysis.analytic`` has a closed form for the scenario, the analytic value beside it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim import stats
from sim.analysis.closed_form import analytic_breakeven
from sim.analysis.report.document import closed_form_position
from sim.analysis.saving import advantages, saving_points, sign_note
from sim.analysis.spot import spot_strategies
from sim.commands.common import results_folder
from sim.commands.run import UsageError, finish
from sim.commands.sweep import LABELS, add_execution_arguments, check_common, check_metric, fmt_x
from sim.experiment.io import atomic_write_text
from sim.experiment.points import (
    SweepPoint,
    Vary,
    build_points,
    parse_vary,
    resolve_path,
    sweep_spec,
)
from sim.experiment.runner import SweepResult, default_chunk_size, run_sweep, sweep_identity
from sim.experiment.store import manifest_hash
from sim.model.scenario import Scenario, load_scenario


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "breakeven", help="find the parameter value where two strategies cost the same",
        description="Sweep one parameter, locate where the paired mean difference A - B of --metric changes "
        "sign (with a bootstrap confidence interval), refine with a finer sweep inside the bracketing "
        "interval, and compare with the closed form where one exists.")
    p.add_argument("scenario", help="scenario TOML file (see docs/model.md), or a bundled name (sim scenarios)")
    p.add_argument("--vary", required=True, metavar="PATH=RANGE",
                   help="the swept parameter, e.g. failures.rate_limit.probability=lin:0.02:0.3:8 or "
                   "failures.crash.mtbf=log:10m:1w:12")
    p.add_argument("--metric", default="total_cost_usd", help="metric to compare (default total_cost_usd)")
    p.add_argument("--also", action="append", default=[], metavar="METRIC",
                   help="more metrics whose break-even is reported (on the coarse grid)")
    p.add_argument("--a", default="durable", help="strategy A of the difference A - B (default durable)")
    p.add_argument("--b", default="restart", help="strategy B (default restart)")
    add_execution_arguments(p)
    p.add_argument("--spot", action="store_true",
                   help="also every strategy that runs steps on spot capacity against the on-demand reference (the "
                   "first strategy with every step on demand), on the coarse grid (docs/spot.md); --b defaults to "
                   "the reference and --a to a spot strategy")
    p.add_argument("--out", help="output folder (default results/<scenario>-breakeven-<hash>)")
    p.add_argument("--refine", type=int, default=1, help="refinement sweeps after the coarse one (default 1)")
    p.add_argument("--refine-points", type=int, default=9, help="points per refinement sweep (default 9)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.set_defaults(handler=handle, interrupted="the finished chunks of each sweep are kept in --out; run the same "
                   "command again to continue")


# --------------------------------------------------------------------------- sweeps


def _run(args: argparse.Namespace, scenario: Scenario, vary: Vary, out: Path | None, columns: list[str]
         ) -> tuple[list[SweepPoint], SweepResult]:
    points = build_points(scenario, [vary])
    result = run_sweep(points, args.runs, args.seed, engine=args.engine, out=out, workers=args.workers,
                       scheduler=args.scheduler, chunk_size=args.chunk_size, keep_runs=True,
                       collect_runs=True, collect_columns=["point", vary.path, "strategy", "run", *columns],
                       overwrite=args.overwrite, quiet=args.quiet, spec=sweep_spec([vary]),
                       publish_paired=advantages)
    return points, result


def _refined_values(be: stats.BreakEven, coarse: tuple[float, ...], n: int, integer: bool) -> tuple[float, ...]:
    lo, hi = be.bracket
    if math.isfinite(be.ci_low):
        lo = min(lo, be.ci_low)
    if math.isfinite(be.ci_high):
        hi = max(hi, be.ci_high)
    # pad by half the width on each side: bootstrap crossings just outside the coarse interval
    # must still fall inside the refined grid, or the refined interval turns open-ended
    if be.scale == "log" and lo > 0:
        pad = math.sqrt(hi / lo)
        lo, hi = lo / pad, hi * pad
    else:
        pad = 0.5 * (hi - lo)
        lo, hi = lo - pad, hi + pad
    lo, hi = max(lo, min(coarse)), min(hi, max(coarse))
    values = np.geomspace(lo, hi, n) if be.scale == "log" else np.linspace(lo, hi, n)
    if integer:
        values = np.unique(np.round(values))
    return tuple(float(v) for v in values)


def _describe(be: stats.BreakEven, path: str, metric: str) -> str:
    label = LABELS.get(metric, metric)
    if be.status != "crossing":
        return f"no break-even of {label} in the swept range: " + (
            f"{be.winner} is lower at every point" if be.winner else "the strategies tie")
    lo = "-inf" if be.ci_low == -math.inf else fmt_x(path, be.ci_low)
    hi = "+inf" if be.ci_high == math.inf else fmt_x(path, be.ci_high)
    below, above = (be.a, be.b) if be.a_lower == "below" else (be.b, be.a)
    text = (f"break-even {path} ≈ {fmt_x(path, be.estimate)} ({be.confidence:.0%} CI {lo} – {hi}); "
            f"{below} has the lower {label} below it, {above} above it")
    if len(be.crossings) > 1:
        text += f" ({len(be.crossings)} sign changes: add replications)"
    return text


def _points_text(be: stats.BreakEven, path: str, metric: str) -> list[str]:
    from sim.commands.run import fmt_interval
    from sim.commands.table import render

    rows = [[fmt_x(path, row[path]),
             fmt_interval(metric, 0.0 - row["mean_diff"], 0.0 - row["ci_high"], 0.0 - row["ci_low"]),
             row["lower"] + ("" if row["significant"] else " (n.s.)")] for _, row in be.points.iterrows()]
    return render([path, f"saving of {be.a} ({be.b} - {be.a})", "lower"], rows, indent="  ").splitlines()


def handle(args: argparse.Namespace) -> int:
    check_common(args)
    check_metric(args.metric, "--metric")
    for m in args.also:
        check_metric(m, "--also")
    if args.refine < 0 or args.refine_points < 3:
        raise UsageError("--refine must be >= 0 and --refine-points >= 3")
    if args.boot < 100:
        raise UsageError("--boot must be at least 100")
    if args.runs < 2:
        raise UsageError("break-even needs --runs of at least 2")
    scenario = load_scenario(args.scenario)
    spot_labels: list[str] = []
    if args.spot:
        spot_labels, reference = spot_strategies(scenario)
        if not spot_labels or reference is None:
            raise UsageError("--spot needs a strategy on spot capacity and one with every step on demand")
        if args.b == "restart" and reference != "restart":
            args.b = reference
        if args.a == args.b or args.a not in spot_labels and args.a == "durable":
            args.a = "durable" if "durable" in spot_labels else spot_labels[0]
    for label in (args.a, args.b):
        if label not in scenario.strategies:
            raise UsageError(f"unknown strategy {label!r}; the scenario has {', '.join(scenario.strategies)}")
    if args.a == args.b:
        raise UsageError("--a and --b must be different strategies")
    vary = parse_vary(args.vary)
    path = resolve_path(scenario, vary.path)
    if len(vary.values) < 2:
        raise UsageError("--vary needs at least 2 values for a break-even")
    metrics = [args.metric, *[m for m in args.also if m != args.metric]]
    coarse_points = build_points(scenario, [vary])
    if args.chunk_size is None:
        args.chunk_size = default_chunk_size(coarse_points, args.engine)
    out = Path(args.out) if args.out else Path("results") / (
        f"{scenario.name}-breakeven-" + manifest_hash(sweep_identity(
            coarse_points, args.seed, args.runs, args.engine, args.chunk_size, sweep_spec([vary]), None, True))[:8])

    # (at_end=False: the finished chunks of each sweep stay for a resume)
    lock = results_folder(args, "breakeven", out, scenario, at_end=False).acquire()  # an impossible --out fails at once
    try:
        points, result = _run(args, scenario, vary, out / "coarse", metrics)
        df = result.runs
        be = stats.breakeven(df, vary.path, args.metric, args.a, args.b, n_boot=args.boot, seed=args.seed)
        label = LABELS.get(args.metric, args.metric)
        lines = [f"{scenario.name}: break-even of {label}, {args.a} vs {args.b}, along {vary.path}",
                 f"prices: {scenario.pricing.describe()}",
                 f"{sign_note(args.a, args.b, label)}", "",
                 f"coarse sweep: {len(points)} points in [{fmt_x(vary.path, min(vary.values))}, "
                 f"{fmt_x(vary.path, max(vary.values))}], {result.runs_per_point} replications each "
                 f"({result.seconds:.1f} s)", "  " + _describe(be, vary.path, args.metric)]
        also_be = {m: stats.breakeven(df, vary.path, m, args.a, args.b, n_boot=args.boot, seed=args.seed)
                   for m in metrics[1:]}
        spot_be = {label: stats.breakeven(df, vary.path, args.metric, label, args.b, n_boot=args.boot, seed=args.seed)
                   for label in spot_labels}
        stages = [{"stage": "coarse", "values": list(vary.values), "estimate": be.estimate, "ci_low": be.ci_low,
                   "ci_high": be.ci_high, "status": be.status}]
        final = be
        for k in range(1, args.refine + 1):
            if final.status != "crossing":
                break
            values = _refined_values(final, vary.values, args.refine_points, path.kind == "int")
            if len(values) < 2 or values[0] == values[-1]:
                break
            fine = Vary(vary.path, values)
            fpoints, fresult = _run(args, scenario, fine, out / f"refine-{k}", [args.metric])
            fbe = stats.breakeven(fresult.runs, vary.path, args.metric, args.a, args.b, n_boot=args.boot,
                                  seed=args.seed)
            lines += [f"refined sweep {k}: {len(fpoints)} points in [{fmt_x(vary.path, values[0])}, "
                      f"{fmt_x(vary.path, values[-1])}] ({fresult.seconds:.1f} s)",
                      "  " + _describe(fbe, vary.path, args.metric)]
            stages.append({"stage": f"refine-{k}", "values": list(values), "estimate": fbe.estimate,
                           "ci_low": fbe.ci_low, "ci_high": fbe.ci_high, "status": fbe.status})
            if fbe.status != "crossing":
                lines.append("  (the refined grid shows no crossing: the coarse estimate stands)")
                break
            final = fbe
        lines += ["", f"paired means on the {'refined' if final is not be else 'coarse'} grid:"]
        lines += _points_text(final, vary.path, args.metric)

        closed = analytic_breakeven(points[0].scenario, vary.path, args.metric, args.a, args.b)
        record = {"path": vary.path, "metric": args.metric, "a": args.a, "b": args.b, "runs": result.runs_per_point,
                  "seed": args.seed, "status": final.status, "estimate": final.estimate, "ci_low": final.ci_low,
                  "ci_high": final.ci_high, "confidence": final.confidence, "stages": stages,
                  "prices": scenario.pricing.describe()}
        lines.append("")
        if closed is not None and closed.value is not None:
            inside = (final.status == "crossing" and final.ci_low <= closed.value <= final.ci_high
                      and math.isfinite(final.ci_low) and math.isfinite(final.ci_high))
            lines.append(f"analytic: {vary.path} = {fmt_x(vary.path, closed.value)} ({closed.formula})"
                         + (f"; {closed.note}" if closed.note else ""))
            if final.status == "crossing":
                where = closed_form_position(final, closed.value, [min(vary.values), max(vary.values)])
                if inside:
                    where = f"inside the {final.confidence:.0%} confidence interval"
                elif where.startswith("which"):  # an interval with an infinite end: nothing is confirmed
                    where = "not contradicted but not confirmed: " + where.split(": ", 1)[1]
                else:
                    where = where.replace("outside", "OUTSIDE", 1)
                lines.append(f"  simulated {fmt_x(vary.path, final.estimate)}; the analytic value is {where}")
            record["analytic"] = {"value": closed.value, "formula": closed.formula, "note": closed.note,
                                  "inside_ci": inside}
        elif closed is not None:
            lines.append(f"analytic: {closed.note} ({closed.formula})")
        else:
            lines.append("analytic: no closed form for this scenario and parameter (closed forms: "
                         "failures.rate_limit.probability with 429s only; failures.crash.mtbf with exponential "
                         "crashes on fixed-duration GPU steps)")
        if spot_be:
            lines.append(f"spot against {args.b}, {label} (coarse grid):")
            for s_label, sbe in spot_be.items():
                lines.append(f"  {s_label}: " + _describe(sbe, vary.path, args.metric))
                record.setdefault("spot", {})[s_label] = {
                    "against": args.b, "status": sbe.status, "estimate": sbe.estimate, "ci_low": sbe.ci_low,
                    "ci_high": sbe.ci_high, "winner": sbe.winner}
        for m, mbe in also_be.items():
            lines.append(f"also {LABELS.get(m, m)} (coarse grid): " + _describe(mbe, vary.path, m))
            record.setdefault("also", {})[m] = {"status": mbe.status, "estimate": mbe.estimate,
                                                 "ci_low": mbe.ci_low, "ci_high": mbe.ci_high, "winner": mbe.winner}
        print("\n".join(lines))
        atomic_write_text(out / "breakeven.json", json.dumps(record, indent=1, default=str) + "\n")
        table = saving_points(final.points, args.a, args.b, args.metric)
        atomic_write_text(out / "breakeven_points.csv", pd.DataFrame(table).to_csv(index=False, float_format="%.12g"))
        print(f"wrote {out}/: breakeven.json, breakeven_points.csv, coarse/"
              + "".join(f", {s['stage']}/" for s in stages[1:]))
    finally:
        lock.release()
    return finish(result.runs_per_point, result.incomplete)
