"""``python -m sim optimize SCENARIO --objective cost|makespan|p95|weighted``: the recommended way
to make a pipeline durable (activity boundaries, heartbeat interval), as a runnable scenario."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd

from sim.analysis.analytic import daly_interval_s
from sim.analysis.optimize.recommend import DEFAULT_HEARTBEAT_COST_S, Recommendation, recommend
from sim.analysis.optimize.select import OBJECTIVE_LABELS, OBJECTIVES
from sim.analysis.optimize.spot import recommend_pauses, recommend_spot
from sim.analysis.optimize.toml_out import dumps
from sim.analysis.saving import sign_note
from sim.analysis.spot import uses_spot
from sim.commands.common import add_overwrite_argument, check_common, results_folder
from sim.commands.run import UsageError, fmt_interval, fmt_value
from sim.commands.table import render
from sim.errors import SimError
from sim.experiment.io import atomic_write_bytes, atomic_write_text
from sim.model.costs import with_orchestration_profile
from sim.model.scenario import load_scenario, scenario_from_dict
from sim.model.units import parse_duration_s


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("optimize", help="recommend activity boundaries and heartbeat intervals for a scenario",
                       description="Search which steps should share one activity (every grouping of a chain of up "
                       "to 6 steps, else the dynamic program's best per count; on a workflow graph every grouping "
                       "along its edges, else a greedy merge) and the heartbeat interval of each long GPU step "
                       "(scipy minimize_scalar), all on common random numbers; rank against "
                       "restart and per-step durable with paired 95% intervals; write the recommendation as a "
                       "runnable scenario, a table and figures. See docs/optimize.md.")
    p.add_argument("scenario", help="scenario TOML file (see docs/model.md), or a bundled name (sim scenarios)")
    p.add_argument("--objective", choices=OBJECTIVES, default="cost",
                   help="cost (mean total cost), makespan (mean), p95 (95th percentile makespan), weighted "
                   "(mean cost + --value-of-time x makespan); default cost")
    p.add_argument("--value-of-time", type=float, default=None, metavar="USD_PER_HOUR",
                   help="$ per hour of makespan, for --objective weighted")
    p.add_argument("--runs", type=int, default=4000, help="replications per candidate (default 4000)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--heartbeat-cost", default=None, metavar="DURATION",
                   help="worker time of one heartbeat save in every GPU step (default: the scenario's heartbeat "
                   f"strategy's checkpoint_cost and checkpoint_cost_by_step, else {DEFAULT_HEARTBEAT_COST_S:g}s)")
    p.add_argument("--heartbeat-runs", type=int, default=None,
                   help="replications per evaluation of the heartbeat search (default --runs)")
    p.add_argument("--no-heartbeat", action="store_true", help="do not search a heartbeat interval")
    p.add_argument("--orchestration-prices", metavar="PROFILE",
                   help="replace the scenario's orchestration prices by a pricing profile's (a bundled name such as "
                   "temporal-cloud-payg, or a TOML path); AI and GPU prices stay the scenario's")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--fleet", action="store_true",
                      help="a scenario with a [fleet] table: search the fleet's retry policy of its rate-limited "
                      "steps instead of one workflow's activities and heartbeats")
    mode.add_argument("--pipeline", action="store_true",
                      help="optimise one workflow (activity groupings, heartbeat intervals), as `sim run` runs it: "
                      "the default, also for a scenario with a [fleet] table")
    p.add_argument("--fleet-replications", type=int, default=10,
                   help="fleet scenarios: replications per evaluation of the retry-policy search (default 10)")
    p.add_argument("--max-evaluations", type=int, default=20,
                   help="fleet scenarios: evaluations per jitter mode of the retry-policy search (default 20)")
    p.add_argument("--top", type=int, default=10, help="candidates shown (default 10; the CSV has all)")
    p.add_argument("--out", help="output folder (default results/<scenario name>-optimize)")
    add_overwrite_argument(p)
    p.set_defaults(handler=handle, interrupted="nothing was written (optimize writes its files only at the end); "
                   "run the command again")


def _saving(row, metric: str, ref: str) -> str:
    """What the candidate saves against ``ref`` (ref − candidate: the one sign convention, sim.analysis.saving)."""
    unit = "usd" if metric == "cost" else "s"
    name = "saving" if metric == "cost" else f"{metric}_saving"
    return fmt_interval(f"x_{unit}", row[f"{name}_vs_{ref}_{unit}"], row[f"{name}_vs_{ref}_low_{unit}"],
                        row[f"{name}_vs_{ref}_high_{unit}"])


def report_text(rec: Recommendation, top: int, seconds: float) -> str:
    sc = rec.scenario
    lines = [f"{sc.name}: {len(rec.strategies)} candidates x {rec.runs} replications, seed {rec.seed}, "
             f"objective {rec.objective} ({OBJECTIVE_LABELS[rec.objective]}) ({seconds:.1f} s)",
             "mode: one workflow (activity groupings and heartbeat intervals), as `sim run` runs it"
             + ("; the [fleet] table is set aside (--fleet searches the fleet's retry policy)"
                if sc.fleet is not None else ""),
             f"prices: {rec.prices_text()}", ""]
    obj_metric = "objective_usd" if rec.objective in ("cost", "weighted") else "objective_s"
    rows = []
    for k, row in rec.table.head(top).iterrows():
        tie = "=" if row["tied_with_best"] and k > 0 else ""
        rows.append([str(k + 1), row["candidate"], fmt_value(obj_metric, row["objective"]),
                     fmt_interval("x_usd", row["cost_usd"], row["cost_low_usd"], row["cost_high_usd"]),
                     _saving(row, "cost", "durable"), _saving(row, "cost", "restart"),
                     fmt_value("x_s", row["makespan_s"]), fmt_value("x_s", row["p95_makespan_s"]), tie])
    lines.append(render(["#", "candidate", "objective", "cost per run [95% CI]", "saving: durable - it (paired)",
                         "saving: restart - it (paired)", "makespan", "p95", "tied"], rows,
                        align=["right", "left", "right", "left", "left", "left", "right", "right", "left"]))
    lines.append("")
    lines.append(render(["candidate", "what it is"], [[r["candidate"], r["groups"]] for _, r in
                                                     rec.table.head(top).iterrows()]))
    lines += ["", f"selection: {rec.ranking.statement}."]
    best = rec.table.iloc[0]
    lines.append(f"recommended: {best['candidate']}: {best['groups']}")
    for ref in ("durable", "restart"):
        if best["candidate"] != ref:
            lines.append(f"  saving against {ref} ({sign_note(best['candidate'], ref, 'value')}): cost "
                         f"{_saving(best, 'cost', ref)} per run; makespan {_saving(best, 'makespan', ref)}")
    lines.append("")
    for note in rec.notes:
        lines.append(f"note: {note}.")
    if rec.exact_optimum is not None:
        opt = rec.exact_optimum.best
        from sim.analysis.optimize.exact import describe

        t = rec.table.set_index("candidate")
        z = t["exact_z"].abs()
        lines.append(f"closed form (exponential crashes, per-call 429s): the dynamic program's cheapest grouping is "
                     f"{describe(rec.exact_model, opt.groups)} at {fmt_value('x_usd', opt.total_cost_usd)} per run; "
                     f"restart {fmt_value('x_usd', t.loc['restart', 'exact_cost_usd'])}. Simulated means agree with "
                     f"the closed form within {z.max():.1f} SE (largest |z| over the candidates)."
                     if z.notna().any() else
                     f"closed form: the dynamic program's cheapest grouping is {describe(rec.exact_model, opt.groups)} "
                     f"at {fmt_value('x_usd', opt.total_cost_usd)} per run (every candidate's simulated cost is "
                     f"deterministic here and equals its closed form).")
    else:
        lines.append(f"closed form: not applicable ({rec.exact_reason}); the ranking is by simulation only.")
    plan = rec.heartbeat_plan
    if plan is not None:
        for hb in plan.searches:
            interval = (f"95% CI of the optimum [{fmt_value('x_s', hb.ci_low_s)}, {fmt_value('x_s', hb.ci_high_s)}]"
                        if math.isfinite(hb.ci_low_s) else "no bootstrap interval (too few distinct intervals near "
                        "the optimum)")
            best = (fmt_value('x_s', hb.best_every_s) if hb.saves_at_best > 0 else
                    f"{fmt_value('x_s', hb.best_every_s)}, i.e. no save: saves do not pay in this step")
            lines.append(f"heartbeat: GPU step '{hb.step}' ({fmt_value('x_s', hb.work_s)}); best interval "
                         f"{best} (minimize_scalar, {hb.evaluations} evaluations, then the grid); "
                         f"{interval}; intervals not distinguishable from it: {fmt_value('x_s', hb.tied_low_s)} to "
                         f"{fmt_value('x_s', hb.tied_high_s)}; save cost {fmt_value('x_s', hb.checkpoint_cost_s)}.")
            crash = sc.failures.crash
            if crash is not None and crash.distribution == "exponential" and sc.failures.deploy is None:
                lines.append(f"  Daly's optimum for this save cost and MTBF: "
                             f"{fmt_value('x_s', daly_interval_s(hb.checkpoint_cost_s, crash.mtbf_s))}")
        if len(plan.searches) > 1:
            lines.append("  (per-step intervals: one coordinate sweep, longest step first; docs/optimize.md)")
    else:
        lines.append(f"heartbeat: not searched ({rec.heartbeat_reason}).")
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    check_common(args, min_runs=2)
    if args.top < 1:
        raise UsageError("--top must be at least 1")
    if args.heartbeat_runs is not None and args.heartbeat_runs < 2:
        raise UsageError("--heartbeat-runs must be at least 2")
    if args.objective == "weighted":
        if args.value_of_time is None or not args.value_of_time > 0:
            raise UsageError("--objective weighted needs --value-of-time USD_PER_HOUR (> 0)")
    elif args.value_of_time is not None:
        raise UsageError("--value-of-time is for --objective weighted")
    cost_s = None
    if args.heartbeat_cost is not None:
        try:
            cost_s = parse_duration_s(args.heartbeat_cost)
        except ValueError as exc:
            raise UsageError(f"--heartbeat-cost: {exc}") from None
        if not (cost_s >= 0 and math.isfinite(cost_s)):
            raise UsageError("--heartbeat-cost must be a non-negative duration")
    scenario = load_scenario(args.scenario)
    if args.orchestration_prices is not None:
        raw = with_orchestration_profile(scenario.raw, args.orchestration_prices)
        scenario = scenario_from_dict(raw, file=args.scenario, base_dir=Path(args.scenario).parent)
    out = Path(args.out) if args.out else Path("results") / f"{scenario.name}-optimize"
    with results_folder(args, "optimize", out, scenario):  # before optimising: an impossible or busy --out fails at once
        return _optimize(args, scenario, out, cost_s)


def _optimize(args: argparse.Namespace, scenario, out: Path, cost_s: float | None) -> int:
    started = time.perf_counter()
    if args.fleet:
        if scenario.fleet is None:
            raise UsageError(f"{args.scenario}: --fleet needs a scenario with a [fleet] table (see docs/fleet.md)")
        return _handle_fleet(args, scenario, out, started)
    try:
        rec = recommend(scenario, args.objective, args.runs, args.seed,
                        value_of_time_usd_per_hour=args.value_of_time or 0.0, heartbeat_cost_s=cost_s,
                        heartbeat_runs=args.heartbeat_runs, heartbeat=not args.no_heartbeat)
    except ValueError as exc:
        raise SimError(f"{args.scenario}: {exc}") from None
    seconds = time.perf_counter() - started
    if args.orchestration_prices is not None:
        rec.price_note = (f"AI and GPU prices of profile '{scenario.pricing.name}' with the scenario's overrides, "
                          f"orchestration prices of profile '{args.orchestration_prices}' (--orchestration-prices)")
    text = report_text(rec, args.top, seconds)
    toml_text = rec.scenario_toml()
    # figures drawn before anything is written: an error leaves no partial output
    import matplotlib

    matplotlib.use("Agg")
    from sim.analysis.plots import save_figure
    from sim.analysis.plots.optimize import plot_cost_vs_activities, plot_heartbeat_curve

    curve = rec.activities_curve()
    fig_act = plot_cost_vs_activities(rec.table, curve if "exact_best_cost_usd" in curve else None,
                                      title=f"{scenario.name}: cost against the number of activities")
    fig_hb = None
    if rec.heartbeat is not None:
        hb = rec.heartbeat
        refs = {}
        crash = scenario.failures.crash
        if crash is not None and crash.distribution == "exponential" and scenario.failures.deploy is None:
            refs["Daly"] = daly_interval_s(hb.checkpoint_cost_s, crash.mtbf_s)
        ylabel = {"cost": "mean total cost per run ($)", "makespan": "mean makespan (s)",
                  "p95": "p95 makespan (s)", "weighted": "mean cost + value of time ($)"}[rec.objective]
        boot = math.isfinite(hb.ci_low_s)
        fig_hb = plot_heartbeat_curve(
            hb.curve, hb.best_every_s, ylabel, references_s=refs,
            interval_s=(hb.ci_low_s, hb.ci_high_s) if boot else (hb.tied_low_s, hb.tied_high_s),
            interval_label="95% interval of the optimum (bootstrap)" if boot else
            "intervals not distinguishable from the optimum (paired 95%)",
            title=f"{scenario.name}: heartbeat interval of '{hb.step}'")
    spot = None
    if uses_spot(scenario) or scenario.failures.preemption is not None:
        spot = recommend_spot(scenario, args.runs, args.seed, save_s=cost_s)
        text += "\n\n" + "\n".join(spot.text())
    pauses = None
    if scenario.pricing.schedule or scenario.pricing.traces:
        pauses = recommend_pauses(scenario, args.runs, args.seed)
        text += "\n\n" + "\n".join(pauses.text())
    print(text)
    if pauses is not None:
        atomic_write_bytes(out / "off_peak_candidates.csv", pauses.table.to_csv(index=False, float_format="%.10g").encode())
    if spot is not None:
        atomic_write_text(out / "spot_recommended.toml", dumps(spot.scenario_raw(scenario.raw)))
        atomic_write_bytes(out / "spot_candidates.csv", spot.table.to_csv(index=False, float_format="%.10g").encode())
    atomic_write_text(out / "recommended.toml", toml_text)
    atomic_write_text(out / "recommendation.txt", text + "\n")
    atomic_write_bytes(out / "candidates.csv", rec.table.to_csv(index=False, float_format="%.10g").encode())
    atomic_write_bytes(out / "activities.csv", curve.to_csv(index=False, float_format="%.10g").encode())
    written = ["recommended.toml", "recommendation.txt", "candidates.csv", "activities.csv",
               "cost_vs_activities.png/.svg"]
    save_figure(fig_act, out / "cost_vs_activities")
    if fig_hb is not None:
        curves = pd.concat([h.curve.assign(step=h.step) for h in rec.heartbeat_plan.searches], ignore_index=True)
        atomic_write_bytes(out / "heartbeat_curve.csv", curves.to_csv(index=False, float_format="%.10g").encode())
        save_figure(fig_hb, out / "heartbeat_interval")
        written += ["heartbeat_curve.csv", "heartbeat_interval.png/.svg"]
    if spot is not None:
        written += ["spot_recommended.toml", "spot_candidates.csv"]
    if pauses is not None:
        written += ["off_peak_candidates.csv"]
    print(f"\nwrote {out}/: {', '.join(written)}")
    print(f"run the recommendation: python -m sim run {out / 'recommended.toml'}")
    if spot is not None:
        print(f"run the spot recommendation: python -m sim run {out / 'spot_recommended.toml'}")
    return 0


def _handle_fleet(args: argparse.Namespace, scenario, out: Path, started: float) -> int:
    """A fleet: search the retry policy of the rate-limited steps (sim.analysis.optimize.retry)."""
    from sim.analysis.optimize.retry import search_retry, with_policy
    from sim.analysis.optimize.toml_out import dumps

    if args.fleet_replications < 2:
        raise UsageError("--fleet-replications must be at least 2")
    if args.max_evaluations < 3:
        raise UsageError("--max-evaluations must be at least 3")
    try:
        res = search_retry(scenario, args.objective, args.fleet_replications, args.seed,
                           value_of_time_usd_per_hour=args.value_of_time or 0.0, max_evaluations=args.max_evaluations)
    except ValueError as exc:
        raise SimError(f"{args.scenario}: {exc} (to optimise one workflow's activities and heartbeats, leave out "
                       "--fleet)") from None
    seconds = time.perf_counter() - started
    what = {"cost": "total cost per workflow", "makespan": "mean workflow latency",
            "p95": "p95 workflow latency (per replication, averaged)",
            "weighted": "cost per workflow + value of time x mean latency"}[args.objective]
    unit = "x_usd" if args.objective in ("cost", "weighted") else "x_s"
    lines = [f"{scenario.name}: {res.replications} replications per evaluation, seed {res.seed}, objective "
             f"{args.objective} ({what}) ({seconds:.1f} s)",
             f"mode: the fleet's retry policy (--fleet) of {', '.join(res.steps)} under strategy '{res.strategy}'; "
             "activity groupings and heartbeats are searched without --fleet", ""]
    rows = []
    for k, r in res.table.iterrows():
        diff = "" if k == 0 else fmt_interval(unit, r["vs_best"], r["vs_best_low"], r["vs_best_high"])
        rows.append([str(k + 1), r["candidate"], fmt_value("x_s", r["initial_interval_s"]),
                     f"{r['backoff_coefficient']:.4g}", r["jitter"], fmt_value(unit, r["objective"]), diff,
                     "=" if r["tied_with_best"] and k > 0 else "", str(r["evaluations"])])
    lines.append(render(["#", "candidate", "initial", "coefficient", "jitter", "objective",
                         "extra over the best: it - best (paired 95% CI)", "tied", "evaluations"], rows,
                        align=["right", "left", "right", "right", "left", "right", "left", "left", "right"]))
    best = res.best
    keep = best.label == "current" or "current" in res.ranking.tied
    lines += ["", f"selection: {res.ranking.statement}."]
    if keep:
        cur = res.current
        lines.append(f"recommended: keep the current policy (initial_interval {cur.initial_s:g} s, backoff_coefficient "
                     f"{cur.coefficient:g}, jitter {cur.jitter} on {', '.join(res.steps)}): "
                     + ("no candidate does better." if best.label == "current" else
                        f"'{best.label}' ranks first, but the current policy is not distinguishable from it on "
                        f"{res.replications} replications (more --fleet-replications may separate them)."))
        best = cur
    else:
        lines.append(f"recommended: initial_interval {best.initial_s:g} s, backoff_coefficient {best.coefficient:g}, "
                     f"jitter {best.jitter} on {', '.join(res.steps)} (scipy Nelder-Mead per jitter mode, common "
                     "random numbers), ahead of the current policy.")
    text = "\n".join(lines)
    recommended = with_policy(scenario, best.initial_s, best.coefficient, best.jitter)
    header = (f"# Recommended by `sim optimize` (fleet retry policy, objective {args.objective}; "
              f"{res.replications} replications, seed {res.seed}).\n# Selection: {res.ranking.statement}.\n\n")
    toml_text = header + dumps(recommended.raw)
    print(text)
    atomic_write_text(out / "recommended.toml", toml_text)
    atomic_write_text(out / "recommendation.txt", text + "\n")
    atomic_write_bytes(out / "retry_candidates.csv", res.table.to_csv(index=False, float_format="%.10g").encode())
    print(f"\nwrote {out}/: recommended.toml, recommendation.txt, retry_candidates.csv")
    print(f"run the recommendation: python -m sim fleet {out / 'recommended.toml'}")
    return 0
