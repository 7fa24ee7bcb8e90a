"""The report's section "What we would change": ``sim optimize``'s recommendation for the scenario.

Kept apart from the rest of the report: ``compute_changes`` runs the optimiser
(``sim.analysis.optimize.recommend``) on the report's seed, ``changes_blocks`` writes the section
and ``changes_figures`` draws its figures. A scenario the optimiser cannot handle (a fleet) gets
no section.
"""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from sim.analysis.optimize.recommend import Recommendation, recommend, signed_usd
from sim.analysis.plots.optimize import plot_cost_vs_activities, plot_heartbeat_curve
from sim.model.scenario import Scenario

MAX_RUNS = 4000  # replications per candidate in the report (the optimiser's default)
CHANGES_FIGURES = {"optimize_activities": "Cost against the number of activities",
                   "optimize_heartbeat": "Heartbeat interval"}


def compute_changes(scenario: Scenario, runs: int, seed: int) -> Recommendation | None:
    """The cost-optimal structure for the scenario (None for a fleet or a workflow graph: the
    optimiser searches chains, docs/optimize.md)."""
    if scenario.fleet is not None or scenario.is_graph:
        return None
    n = min(runs, MAX_RUNS)
    return recommend(scenario, "cost", n, seed, heartbeat_runs=max(n // 2, 100))


def changes_figures(rec: Recommendation | None) -> dict[str, Figure]:
    if rec is None:
        return {}
    curve = rec.activities_curve()
    figs = {"optimize_activities": plot_cost_vs_activities(
        rec.table, curve if "exact_best_cost_usd" in curve else None,
        title=f"{rec.scenario.name}: cost against the number of activities")}
    hb = rec.heartbeat
    if hb is not None:
        boot = math.isfinite(hb.ci_low_s)
        figs["optimize_heartbeat"] = plot_heartbeat_curve(
            hb.curve, hb.best_every_s, "mean total cost per run ($)",
            interval_s=(hb.ci_low_s, hb.ci_high_s) if boot else (hb.tied_low_s, hb.tied_high_s),
            interval_label="95% interval of the optimum (bootstrap)" if boot else
            "intervals not distinguishable from the optimum (paired 95%)",
            title=f"{rec.scenario.name}: heartbeat interval of '{hb.step}'")
    return figs


def _usd_1000(mean: float, low: float, high: float) -> str:
    if mean == low == high == 0.0:
        return "—"
    return f"{signed_usd(mean * 1000)} [{signed_usd(low * 1000)}, {signed_usd(high * 1000)}]"


def changes_blocks(rec: Recommendation | None) -> list[tuple]:
    """The section's blocks (the report's block format: headings, paragraphs, lists, tables, images)."""
    if rec is None:
        return []
    blocks: list[tuple] = [
        ("h", 2, "What we would change"),
        ("p", f"`sim optimize` on this scenario: restart, per-step durable, every grouping of consecutive steps "
              f"into activities, and heartbeat saves inside GPU steps where they apply, all on the same "
              f"{rec.runs:,} replications (seed {rec.seed}), ranked by expected total cost with paired 95% intervals "
              f"(docs/optimize.md)."),
        ("ul", rec.conclusions()),
    ]
    rows = []
    for _, r in rec.table.head(8).iterrows():
        # the report's one sign (sim.analysis.saving): the saving of the candidate, ref − candidate
        rows.append([r["candidate"], r["groups"], f"${r['cost_usd']:.4g}",
                     _usd_1000(r["saving_vs_durable_usd"], r["saving_vs_durable_low_usd"],
                               r["saving_vs_durable_high_usd"]),
                     _usd_1000(r["saving_vs_restart_usd"], r["saving_vs_restart_low_usd"],
                               r["saving_vs_restart_high_usd"]),
                     f"{r['makespan_s'] / 60:.3g} min", f"{r['p95_makespan_s'] / 60:.3g} min"])
    blocks.append(("table", ["candidate", "activities", "cost per run",
                             "saving vs durable (durable − candidate; > 0: cheaper), $ per 1,000 runs",
                             "saving vs restart (restart − candidate; > 0: cheaper), $ per 1,000 runs", "makespan",
                             "p95"],
                   rows))
    blocks.append(("img", "figures/optimize_activities.png", CHANGES_FIGURES["optimize_activities"],
                   "Mean total cost per run of every grouping against its number of activities (95% intervals of "
                   "the means; the paired differences in the table are much tighter), restart as a band, and the "
                   "dynamic program's optimum where the closed form applies."))
    if rec.heartbeat is not None:
        blocks.append(("img", "figures/optimize_heartbeat.png", CHANGES_FIGURES["optimize_heartbeat"],
                       "Mean total cost per run against the heartbeat interval of the longest GPU step, on common "
                       "random numbers; the optimum found by scipy's minimize_scalar is marked."))
    else:
        blocks.append(("p", f"Heartbeats: not searched ({rec.heartbeat_reason})."))
    return blocks
