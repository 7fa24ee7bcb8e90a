"""One scenario → the recommended way to make it durable (``recommend``), and that as a scenario.

Candidates, all simulated on the same replications (common random numbers):
* ``restart`` and ``durable`` (one activity per step): the references; the scenario's own
  configurations when it has them;
* activity groupings (``checkpoint`` with explicit ``groups``). A workflow graph: every valid
  grouping along its mergeable edges, or a greedy merge beyond ``max_graph_edges`` edges
  (``graph_groups``), ranked by simulation only. A chain: every grouping of a chain of up
  to ``max_enumerated`` steps (2^(n−1) − 1 besides per-step); for longer chains, the best
  grouping for each number of activities by the dynamic program (on the scenario itself when
  the closed form holds, otherwise on an exponential stand-in with the same mean time between
  failures, crashes and deployments together: a screen, the simulation decides);
* ``heartbeat``: per-step durable with heartbeat saves in the long GPU steps, each step's
  interval from ``heartbeat.search_heartbeats`` (one coordinate sweep; when the pipeline has long
  GPU steps and crashes or deployments).

The ranking and its guarantee are ``select.rank``'s. Where the closed form holds, its expected
cost is reported beside each simulated one (the 4-SE agreement is tested), and the dynamic
program's optimum is named. Heartbeats are not combined with multi-step activities: the engines
keep a step's saved progress only while the failed activity is that one step.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.optimize import exact, graph_groups
from sim.analysis.optimize.heartbeat import (
    MIN_SAVES_PAYING,
    MIN_WORK_S,
    HeartbeatPlan,
    HeartbeatSearch,
    long_gpu_steps,
    longest_gpu_step,
    scenario_with_strategies,
    search_heartbeats,
)
from sim.analysis.optimize.select import OBJECTIVES, Ranking, aggregate, matrix, paired_diff, rank
from sim.analysis.optimize.toml_out import dumps
from sim.experiment.api import choose_engine, simulate
from sim.experiment.eta import Progress
from sim.model.scenario import (
    DurableStrategy,
    RestartStrategy,
    Scenario,
    bundled_pricing_profiles,
    scenario_from_dict,
)
from sim.stats import t_half_width

MAX_ENUMERATED = 6
PART_STRATEGIES = 16  # candidates simulated together, between two reports of progress
DEFAULT_HEARTBEAT_COST_S = 10.0  # worker time of one save when the scenario has no heartbeat strategy


def signed_usd(value: float) -> str:
    """-$1.5, +$0.3: the sign before the dollar."""
    return f"{'-' if value < 0 else '+'}${abs(value):.3g}"


def references(scenario: Scenario) -> tuple[dict, dict]:
    """(restart table, durable table): the scenario's own (as written in its file), or the defaults."""
    raw = scenario.raw.get("strategies", {})
    tables = {}
    for kind, cls in (("restart", RestartStrategy), ("durable", DurableStrategy)):
        label = next((k for k, c in scenario.strategies.items() if isinstance(c, cls)), None)
        table = dict(raw.get(label) or {}) if label is not None else {}
        table["kind"] = kind
        if kind == "durable" and label is None:
            table["persist_latency"] = f"{exact.durable_latency_s(scenario):.6g}s"
        tables[kind] = table
    return tables["restart"], tables["durable"]


def group_label(groups: exact.Grouping) -> str:
    """'groups 3+1': the number of steps of each activity."""
    return "groups " + "+".join(str(len(g)) for g in groups)


def _stand_in(scenario: Scenario) -> Scenario:
    """Exponential crashes with the failure rate of crashes and deployments together (a screen)."""
    raw = scenario.raw
    f = scenario.failures
    rate = 0.0
    if f.crash is not None:
        rate += 1.0 / f.crash.time_to_failure.mean()
    if f.deploy is not None:
        rate += 1.0 / (f.deploy.every_s or max(f.deploy.at_s[-1], 1.0))
    failures = dict(raw.get("failures", {}))
    failures.pop("deploy", None)
    if rate > 0:
        crash = {"mtbf": f"{1.0 / rate:.6g}s"}
        if f.crash is not None:
            crash["detection_delay"] = f"{f.crash.detection_delay_s:.6g}s"
            crash["restart_time"] = f"{f.crash.restart_time_s:.6g}s"
        failures["crash"] = crash
    else:
        failures.pop("crash", None)
    raw["failures"] = failures
    for step in raw.get("steps", []):
        step.get("retry", {}).pop("maximum_attempts", None)
    raw.get("defaults", {}).get("retry", {}).pop("maximum_attempts", None)
    for table in raw.get("strategies", {}).values():
        if isinstance(table, dict):
            table.get("retry", {}).pop("maximum_attempts", None)
    return scenario_from_dict(raw, file=scenario.path or "<stand-in>",
                              base_dir=None if scenario.path is None else Path(scenario.path).parent)


def graph_label(names: list[str], groups: exact.Grouping) -> str:
    """'groups plan+search': the multi-step activities of a graph grouping (the rest one per step)."""
    return "groups " + ", ".join("+".join(names[i] for i in g) for g in groups if len(g) > 1)


def graph_grouping_candidates(scenario: Scenario, evaluate, max_edges: int = graph_groups.MAX_EDGES
                              ) -> tuple[list[exact.Grouping], str]:
    """A graph's groupings to simulate (per-step excluded) and how they were found."""
    n = len(scenario.steps)
    edges = graph_groups.mergeable_edges(scenario)
    if not edges:
        return [], ("no two steps of this graph can share an activity (every edge has a wait step at one end, "
                    "and a wait is a durable timer or signal)")
    every = graph_groups.enumerate_groupings(scenario, max_edges)
    singles = graph_groups.singletons(n)
    if every is not None:
        return [g for g in every if g != singles], (f"every valid grouping along the {len(edges)} mergeable edge(s) "
                                                    f"({len(every)} with one activity per step)")
    path = graph_groups.greedy_groupings(scenario, evaluate)
    return [g for g in path if g != singles], (f"{len(edges)} mergeable edges (more than {max_edges}): greedy merging "
                                               f"from one activity per step, {len(path) - 1} merge(s) kept")


def _single_workflow(scenario: Scenario) -> Scenario:
    """The scenario without its [fleet] table: one workflow, as ``sim run`` runs it."""
    if scenario.fleet is None:
        return scenario
    raw = scenario.raw
    raw.pop("fleet", None)
    return scenario_from_dict(raw, file=scenario.path or "<optimize>",
                              base_dir=None if scenario.path is None else Path(scenario.path).parent)


def grouping_candidates(scenario: Scenario, max_enumerated: int = MAX_ENUMERATED) -> list[exact.Grouping]:
    """The groupings of a chain to simulate (per-step excluded: that is ``durable``)."""
    n = len(scenario.steps)
    singles = tuple((i,) for i in range(n))
    if n <= max_enumerated:
        return [g for g in exact.all_groupings(n) if g != singles]
    base = scenario if exact.why_not_exact(scenario) is None else _stand_in(scenario)
    opt = exact.optimal_grouping(exact.chain_model(base))
    return [e.groups for e in opt.by_activities if e.groups != singles]


@dataclass
class Recommendation:
    scenario: Scenario
    objective: str
    value_of_time_usd_per_hour: float
    runs: int
    seed: int
    strategies: dict[str, dict]  # label → TOML table, every candidate
    descriptions: dict[str, str]
    activities: dict[str, int]
    runs_df: pd.DataFrame
    ranking: Ranking
    table: pd.DataFrame  # one row per candidate, best first
    exact_model: exact.ChainModel | None
    exact_optimum: exact.Optimum | None
    exact_reason: str | None
    heartbeat: HeartbeatSearch | None  # the longest step's search (its curve is the figure)
    heartbeat_reason: str | None
    notes: list[str] = field(default_factory=list)
    heartbeat_plan: HeartbeatPlan | None = None  # every long GPU step's interval
    price_note: str = ""  # where the orchestration prices come from, when not the scenario's own
    #: the heartbeat save cost is DEFAULT_HEARTBEAT_COST_S, not the scenario's (it has no heartbeat strategy)
    heartbeat_cost_assumed: bool = False

    @property
    def best(self) -> str:
        return self.ranking.best

    def row(self, label: str) -> pd.Series:
        return self.table.set_index("candidate").loc[label]

    def activities_curve(self) -> pd.DataFrame:
        """Per number of activities: the best simulated grouping, its cost with CI, the exact optimum."""
        t = self.table[self.table["kind"].isin(["checkpoint", "durable"])]
        rows = []
        for g, part in t.groupby("activities"):
            best = part.sort_values("objective").iloc[0]
            row = {"activities": int(g), "candidate": best["candidate"], "groups": best["groups"],
                   "cost_usd": best["cost_usd"], "cost_low_usd": best["cost_low_usd"],
                   "cost_high_usd": best["cost_high_usd"], "objective": best["objective"]}
            if self.exact_optimum is not None:
                e = self.exact_optimum.by_activities[int(g) - 1]
                row["exact_best_groups"] = exact.describe(self.exact_model, e.groups)
                row["exact_best_cost_usd"] = e.total_cost_usd
            rows.append(row)
        return pd.DataFrame(rows)

    def conclusions(self) -> list[str]:
        """The recommendation in sentences, every number from this object (notebook, report)."""
        best = self.best
        row = self.row(best)
        lines = [f"Recommended for '{self.scenario.name}' (objective: {self.objective}): **{best}**, "
                 f"{self.descriptions[best]}."]
        for ref, name in (("durable", "per-step durable"), ("restart", "restart")):
            if ref == best:
                continue
            # the saving (ref − candidate), and the interval in the sign of the sentence: "costs more" as a
            # positive range
            mean, lo, hi = (row[f"saving_vs_{ref}_usd"], row[f"saving_vs_{ref}_low_usd"],
                            row[f"saving_vs_{ref}_high_usd"])
            if mean > 0:
                word, a_, b_ = "saves", lo, hi
            else:
                word, a_, b_ = "costs", -hi, -lo
            extra = "" if mean > 0 else " more"
            span = row[f"makespan_saving_vs_{ref}_s"]  # said in words, not by a sign
            span_text = ("the same makespan" if span == 0 else
                         f"{abs(span):.3g} s {'less' if span > 0 else 'more'} makespan per run")
            lines.append(f"Against {name} it {word} ${abs(mean) * 1000:.3g}{extra} per 1,000 runs "
                         f"(paired 95% CI {signed_usd(a_ * 1000)} to {signed_usd(b_ * 1000)} per "
                         f"1,000 runs; {span_text}).")
        lines.append(f"Selection: {self.ranking.statement}.")
        assumed = (", an assumed cost: the scenario has no heartbeat strategy to take it from"
                   if self.heartbeat_cost_assumed else "")
        for hb in (self.heartbeat_plan.searches if self.heartbeat_plan is not None else ()):
            ci = (f", 95% CI of the optimum {hb.ci_low_s:.4g}–{hb.ci_high_s:.4g} s" if math.isfinite(hb.ci_low_s)
                  else "")
            if hb.saves_at_best == 0:
                lines.append(f"Heartbeat: saves do not pay in '{hb.step}' ({hb.work_s:.4g} s of work, saves of "
                             f"{hb.checkpoint_cost_s:g} s{assumed}): it makes none.")
                continue
            lines.append(f"Heartbeat: the best save interval for '{hb.step}' is {hb.best_every_s:.4g} s of work"
                         f"{ci} (saves of {hb.checkpoint_cost_s:g} s{assumed}).")
        if self.exact_optimum is not None:
            lines.append("Closed form: the dynamic program's cheapest grouping is "
                         f"{exact.describe(self.exact_model, self.exact_optimum.best.groups)} "
                         f"(${self.exact_optimum.best.total_cost_usd:.5g} per run).")
        lines.append(f"Prices: {self.prices_text()}.")
        return lines

    def prices_text(self) -> str:
        """Which prices the figures rest on."""
        price = self.scenario.pricing.orchestration
        source = self.price_note or self.scenario.pricing.describe()
        if (price.unit_tiers or price.billable_unit != "actions" or price.per_million_requests_usd
                or price.per_gb_second_usd or price.monthly_fixed_usd or price.active_storage_per_gb_hour_usd
                or price.meters or price.gb_second_tiers or price.plan_minimum_usd):
            # billed by volume tiers, transitions, requests, storage or a fixed cost (docs/costs.md)
            return f"{source} (how each list bills: docs/costs.md)"
        return (f"{source}; orchestration ${price.per_million_actions_usd:g} per million actions, "
                f"${price.per_million_action_minutes_usd:g} per million action-minutes, "
                f"${price.per_workflow_run_usd:g} per durable workflow run")

    def recommended_scenario(self) -> dict:
        """The scenario table with the recommended strategy (and restart, durable to compare)."""
        raw = self.scenario.raw
        pricing = raw.get("pricing", {})
        profile = pricing.get("profile") if isinstance(pricing, dict) else None
        if profile and profile not in bundled_pricing_profiles() and self.scenario.path is not None:
            pricing["profile"] = str((Path(self.scenario.path).parent / profile).resolve())
        best = self.best
        strategies = {"recommended": self.strategies[best]}
        for ref in ("durable", "restart"):
            if ref != best:
                strategies[ref] = self.strategies[ref]
        raw["strategies"] = strategies
        return raw

    def scenario_toml(self) -> str:
        """The recommended scenario as TOML text, with a header saying what and why."""
        best = self.best
        row = self.row(best)
        header = [
            f"Recommended by `sim optimize` (objective: {self.objective}; {self.runs} replications, seed {self.seed}).",
            f"Recommendation: {best}: {self.descriptions[best]}.",
            f"Selection: {self.ranking.statement}.",
        ]
        for ref in ("durable", "restart"):
            if ref != best:
                header.append(f"Saving against {ref} ({ref} − this): {row[f'saving_vs_{ref}_usd']:+.4g} $ per run "
                              f"[{row[f'saving_vs_{ref}_low_usd']:+.4g}, {row[f'saving_vs_{ref}_high_usd']:+.4g}].")
        header.append(f"Prices: {self.prices_text()}.")
        text = "".join(f"# {line}\n" for line in header) + "\n" + dumps(self.recommended_scenario())
        scenario_from_dict(tomllib.loads(text), file="<recommended scenario>")  # it must load
        return text


def _summaries(df: pd.DataFrame, labels: list[str], objective: str, value_of_time: float) -> pd.DataFrame:
    cost = matrix(df, labels, "cost")
    span = matrix(df, labels, "makespan")
    obj = matrix(df, labels, objective, value_of_time)
    n = cost.shape[0]
    col = {label: k for k, label in enumerate(labels)}
    rows = []
    for label in labels:
        k = col[label]
        c_half = float(t_half_width(cost[:, k].std(ddof=1) / math.sqrt(n), n))
        row = {"candidate": label, "cost_usd": cost[:, k].mean(), "cost_low_usd": cost[:, k].mean() - c_half,
               "cost_high_usd": cost[:, k].mean() + c_half, "cost_se_usd": cost[:, k].std(ddof=1) / math.sqrt(n),
               "makespan_s": span[:, k].mean(), "p95_makespan_s": float(np.quantile(span[:, k], 0.95)),
               "objective": (float(np.quantile(obj[:, k], 0.95)) if objective == "p95" else obj[:, k].mean())}
        # the one sign of every output (sim.analysis.saving): the saving against a reference is
        # reference − candidate, positive when the candidate is lower
        for ref in ("durable", "restart"):
            d = paired_diff(cost[:, col[ref]], cost[:, k], "cost") if label != ref else None
            row[f"saving_vs_{ref}_usd"] = d.mean if d else 0.0
            row[f"saving_vs_{ref}_low_usd"] = d.low if d else 0.0
            row[f"saving_vs_{ref}_high_usd"] = d.high if d else 0.0
            m = paired_diff(span[:, col[ref]], span[:, k], "makespan") if label != ref else None
            row[f"makespan_saving_vs_{ref}_s"] = m.mean if m else 0.0
            row[f"makespan_saving_vs_{ref}_low_s"] = m.low if m else 0.0
            row[f"makespan_saving_vs_{ref}_high_s"] = m.high if m else 0.0
            # (the point estimate only: no bootstrap interval is drawn for a number shown without one)
            row[f"p95_saving_vs_{ref}_s"] = (aggregate(span[:, col[ref]], "p95") - aggregate(span[:, k], "p95")
                                             if label != ref else 0.0)
        rows.append(row)
    return pd.DataFrame(rows)


def simulate_candidates(scenario: Scenario, runs: int, seed: int, label: str, quiet: bool = False) -> pd.DataFrame:
    """``simulate`` of every strategy of ``scenario`` (one engine for all), ``PART_STRATEGIES`` at a
    time: the same table as one call (a run's numbers depend on its replication alone), and a long
    search (a graph's 2^10 groupings) announces itself and shows its progress."""
    labels = list(scenario.strategies)
    engine = choose_engine(scenario)
    frames = []
    with Progress(len(labels) * runs, label, enabled=not quiet) as progress:
        for lo in range(0, len(labels), PART_STRATEGIES):
            part = labels[lo:lo + PART_STRATEGIES]
            frames.append(simulate(scenario, runs, seed, engine=engine, strategies=part))
            progress.update(runs * len(part))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def recommend(scenario: Scenario, objective: str = "cost", runs: int = 4000, seed: int = 0, *,
              value_of_time_usd_per_hour: float = 0.0, heartbeat_cost_s: float | None = None,
              heartbeat_runs: int | None = None, max_enumerated: int = MAX_ENUMERATED,
              heartbeat: bool = True, max_graph_edges: int = graph_groups.MAX_EDGES,
              quiet: bool = False) -> Recommendation:
    """Search activity groupings and the heartbeat interval for ``scenario``; rank on CRN.

    A scenario with a [fleet] table is optimised as one workflow (the table is set aside, as
    ``sim run`` does); a workflow graph's groupings come from ``graph_groups``. Its long parts
    (the candidates' simulation, the heartbeat search) announce themselves unless ``quiet``."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    notes: list[str] = []
    original = scenario
    if scenario.fleet is not None:
        notes.append("the scenario's [fleet] table is set aside: one workflow is optimised, as `sim run` runs it "
                     "(the fleet's retry policy: `sim optimize --fleet`)")
        scenario = _single_workflow(scenario)
    restart_t, durable_t = references(scenario)
    latency = exact.durable_latency_s(scenario)
    names = scenario.step_names
    strategies: dict[str, dict] = {"restart": restart_t, "durable": durable_t}
    descriptions = {"restart": "restart from the first step after any failure (no activities)",
                    "durable": "one activity per step: " + " | ".join(names)}
    activities = {"restart": 0, "durable": len(names)}

    def checkpoint_table(groups: exact.Grouping) -> dict:
        return {"kind": "checkpoint", "groups": exact.names_of(names, groups), "persist_latency": f"{latency:.6g}s"}

    if scenario.is_graph:
        screen_runs = max(runs // 4, 50)

        def evaluate(options: list[exact.Grouping]) -> list[float]:
            tables = {f"g{k}": checkpoint_table(g) for k, g in enumerate(options)}
            sdf = simulate_candidates(scenario_with_strategies(scenario, tables), screen_runs, seed,
                                      f"screening {len(tables)} groupings", quiet)
            sdf["strategy"] = sdf["strategy"].astype(str)
            m = matrix(sdf, list(tables), objective, value_of_time_usd_per_hour)
            return [aggregate(m[:, k], objective) for k in range(len(options))]

        groupings, how = graph_grouping_candidates(scenario, evaluate, max_graph_edges)
        notes.append(f"workflow graph: {how}; ranked by simulation (the chain's dynamic program does not apply)")
        label_of = lambda g: graph_label(names, g)  # noqa: E731
    else:
        groupings = grouping_candidates(scenario, max_enumerated)
        label_of = group_label
    for groups in groupings:
        label = label_of(groups)
        strategies[label] = checkpoint_table(groups)
        descriptions[label] = "activities " + exact.describe(names, groups)
        activities[label] = len(groups)
    sc = scenario_with_strategies(scenario, strategies)
    df = simulate_candidates(sc, runs, seed, f"{len(strategies)} candidates", quiet)
    df["strategy"] = df["strategy"].astype(str)
    hb: HeartbeatSearch | None = None
    plan: HeartbeatPlan | None = None
    hb_reason: str | None = None
    f = scenario.failures
    own = next((c for c in scenario.strategies.values() if c.kind == "heartbeat"), None)
    cost_s = heartbeat_cost_s
    if cost_s is None:
        cost_s = own.checkpoint_cost_s if own is not None else DEFAULT_HEARTBEAT_COST_S
    cost_by_step = dict(own.checkpoint_cost_by_step) if own is not None and heartbeat_cost_s is None else {}
    cost_assumed = own is None and heartbeat_cost_s is None
    if not heartbeat:
        hb_reason = "--no-heartbeat"
    elif longest_gpu_step(scenario) is None:
        hb_reason = "no GPU step"
    elif f.crash is None and f.deploy is None:
        hb_reason = "no crashes or deployments: a heartbeat save can only add cost"
    elif not long_gpu_steps(scenario, cost_s, cost_by_step):
        hb_reason = (f"no long GPU step (mean work of at least {MIN_WORK_S:g} s and of {MIN_SAVES_PAYING:g} saves)")
    else:
        plan = search_heartbeats(scenario, objective, heartbeat_runs or runs, seed, checkpoint_cost_s=cost_s,
                                 persist_latency_s=latency, value_of_time_usd_per_hour=value_of_time_usd_per_hour,
                                 cost_by_step_s=cost_by_step, quiet=quiet)
        hb = plan.searches[0]
        strategies["heartbeat"] = plan.table()
        descriptions["heartbeat"] = "one activity per step; GPU " + plan.describe()
        activities["heartbeat"] = len(names)
        hb_df = simulate(scenario_with_strategies(scenario, {"heartbeat": plan.table()}), runs, seed, engine="des")
        hb_df["strategy"] = hb_df["strategy"].astype(str)
        df = pd.concat([df, hb_df], ignore_index=True)
        if cost_assumed:
            notes.append(f"the heartbeat search assumes {cost_s:g} s of worker time per save: the scenario has no "
                         "heartbeat strategy to take it from (give one, or --heartbeat-cost, to use your own)")
    labels = list(strategies)
    ranking = rank(df, labels, objective, value_of_time_usd_per_hour, seed=seed)
    table = _summaries(df, labels, objective, value_of_time_usd_per_hour)
    table.insert(1, "kind", [strategies[label]["kind"] for label in labels])
    table.insert(2, "activities", [activities[label] for label in labels])
    table.insert(3, "groups", [descriptions[label] for label in labels])
    gap = {label: ranking.vs_best.get(label) for label in labels}
    table["objective_vs_best"] = [gap[label].mean if gap[label] else 0.0 for label in labels]
    table["objective_vs_best_low"] = [gap[label].low if gap[label] else 0.0 for label in labels]
    table["objective_vs_best_high"] = [gap[label].high if gap[label] else 0.0 for label in labels]
    table["tied_with_best"] = [label in ranking.tied for label in labels]
    reason = ("a workflow graph: the closed form and the dynamic program are for chains" if scenario.is_graph
              else exact.why_not_exact(scenario))
    model = optimum = None
    if reason is None:
        model = exact.chain_model(scenario, latency)
        optimum = exact.optimal_grouping(model)
        exp_cost = {"restart": exact.restart_expected(model).total_cost_usd,
                    "durable": exact.grouping_expected(model, tuple((i,) for i in range(len(names)))).total_cost_usd}
        for groups in groupings:
            exp_cost[group_label(groups)] = exact.grouping_expected(model, groups).total_cost_usd
        table["exact_cost_usd"] = [exp_cost.get(label, math.nan) for label in labels]
        table["exact_z"] = (table["cost_usd"] - table["exact_cost_usd"]) / table["cost_se_usd"]
    order = {label: k for k, label in enumerate(ranking.order)}
    table = table.sort_values("candidate", key=lambda s: s.map(order)).reset_index(drop=True)
    return Recommendation(original, objective, value_of_time_usd_per_hour, runs, seed, strategies, descriptions,
                          activities, df, ranking, table, model, optimum, reason, hb, hb_reason, notes,
                          heartbeat_plan=plan, heartbeat_cost_assumed=cost_assumed and plan is not None)
