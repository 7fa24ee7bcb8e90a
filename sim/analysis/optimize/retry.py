"""The retry policy of rate-limited steps in a fleet, searched by ``scipy.optimize`` on CRN.

Why fleets only: in a single pipeline a 429 does not depend on when the call is retried, and a
retry costs the same whatever the wait, so the shortest wait is always best (Retry-After aside).
The trade-off appears when workflows share a provider's token bucket (``sim.engines.fleet``):
retrying too soon burns calls (and billable actions) on more 429s, retrying too late leaves the
limit idle.

For each jitter mode, ``scipy.optimize.minimize`` (Nelder–Mead with bounds) searches the initial
interval and the backoff coefficient, in logs: x = (log initial_s, log(coefficient − 1)). The
objective is a per-replication statistic averaged over ``replications`` fleet replications of
one strategy, simulated with the same seed at every point (common random numbers: the same
arrivals, durations, 429 draws and jitter uniforms):

* ``cost``: total cost per workflow (compute, orchestration: every retry is a billable action);
* ``makespan``: mean workflow latency (arrival to end);
* ``p95``: the 95th percentile of workflow latency within the replication;
* ``weighted``: cost per workflow + value of time × mean latency.

The scenario's own policy and the best policy of each jitter mode are then ranked with
``select.rank`` (paired t intervals over replications) and its selection rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from sim.analysis.optimize.select import Ranking, rank
from sim.model.scenario import Scenario, scenario_from_dict

JITTERS = ("none", "full", "equal", "decorrelated")
INITIAL_BOUNDS_S = (0.05, 300.0)
COEFFICIENT_BOUNDS = (1.01, 10.0)


def limited_steps(scenario: Scenario) -> list[int]:
    """Indices of the steps that call the shared provider (or get per-call 429s)."""
    prov = scenario.provider
    if prov is not None:
        names = set(prov.steps) if prov.steps is not None else {s.name for s in scenario.steps if s.kind == "llm"}
        return [i for i, s in enumerate(scenario.steps) if s.name in names]
    return [i for i, flag in enumerate(scenario.rate_limited_steps()) if flag]


def with_policy(scenario: Scenario, initial_s: float, coefficient: float, jitter: str) -> Scenario:
    """The scenario with this retry policy on every rate-limited step (other fields kept)."""
    raw = scenario.raw
    steps = raw["steps"]
    for i in limited_steps(scenario):
        current = scenario.steps[i].retry
        table = dict(steps[i].get("retry") or {})
        for key in ("initial_interval", "backoff_coefficient", "jitter", "maximum_interval", "maximum_attempts",
                    "schedule_to_close"):
            table.pop(key, None)
        table.update({"initial_interval": f"{initial_s:.6g}s", "backoff_coefficient": float(coefficient),
                      "jitter": jitter, "maximum_attempts": current.maximum_attempts})
        if current.maximum_interval_s is not None:
            table["maximum_interval"] = f"{max(current.maximum_interval_s, initial_s):.6g}s"
        if current.schedule_to_close_s is not None:
            table["schedule_to_close"] = f"{current.schedule_to_close_s:.6g}s"
        steps[i]["retry"] = table
    # [defaults.retry] is merged under each step's own table when the scenario loads, so the keys
    # set here win and the other steps keep their policies
    return scenario_from_dict(raw, file=scenario.path or "<retry search>",
                              base_dir=None if scenario.path is None else Path(scenario.path).parent)


def per_replication(workflows: pd.DataFrame, objective: str, value_of_time_usd_per_hour: float = 0.0) -> pd.Series:
    """The objective's statistic per fleet replication (index: run)."""
    g = workflows.groupby("run", sort=True)
    cost = g["total_cost_usd"].mean()
    latency = g["latency_s"].mean()
    if objective == "cost":
        return cost
    if objective == "makespan":
        return latency
    if objective == "p95":
        return g["latency_s"].quantile(0.95)
    return cost + value_of_time_usd_per_hour * latency / 3600.0


@dataclass(frozen=True)
class RetryCandidate:
    label: str
    initial_s: float
    coefficient: float
    jitter: str
    value: float
    evaluations: int


@dataclass(frozen=True)
class RetrySearch:
    objective: str
    strategy: str
    steps: tuple[str, ...]
    current: RetryCandidate
    best_by_jitter: tuple[RetryCandidate, ...]
    ranking: Ranking
    table: pd.DataFrame
    replications: int
    seed: int

    @property
    def best(self) -> RetryCandidate:
        return next(c for c in (self.current, *self.best_by_jitter) if c.label == self.ranking.best)


def search_retry(scenario: Scenario, objective: str, replications: int, seed: int, *, strategy: str | None = None,
                 value_of_time_usd_per_hour: float = 0.0, jitters: tuple[str, ...] = JITTERS,
                 max_evaluations: int = 30) -> RetrySearch:
    """The retry policy of the rate-limited steps that minimises ``objective`` (module docstring)."""
    from sim.engines.fleet import simulate_fleet

    if scenario.fleet is None:
        raise ValueError("the retry search needs a fleet scenario ([fleet], docs/fleet.md): in a single pipeline "
                         "the shortest wait is always best")
    steps = limited_steps(scenario)
    if not steps:
        raise ValueError("no rate-limited step: nothing to search")
    label = strategy or next((k for k, c in scenario.strategies.items() if c.kind == "durable"),
                             next(iter(scenario.strategies)))

    def stats_of(sc: Scenario) -> pd.Series:
        workflows, _ = simulate_fleet(sc, replications, seed, strategies=[label])
        return per_replication(workflows, objective, value_of_time_usd_per_hour)

    base = scenario.steps[steps[0]].retry
    samples: dict[str, pd.Series] = {"current": stats_of(scenario)}
    current = RetryCandidate("current", base.initial_interval_s, base.backoff_coefficient, base.jitter,
                             float(samples["current"].mean()), 1)
    lo = np.log([INITIAL_BOUNDS_S[0], COEFFICIENT_BOUNDS[0] - 1.0])
    hi = np.log([INITIAL_BOUNDS_S[1], COEFFICIENT_BOUNDS[1] - 1.0])
    x0 = np.clip(np.log([max(base.initial_interval_s, INITIAL_BOUNDS_S[0]),
                         max(base.backoff_coefficient - 1.0, COEFFICIENT_BOUNDS[0] - 1.0)]), lo, hi)
    found = []
    for jitter in jitters:
        cache: dict[tuple[float, float], pd.Series] = {}

        def point(x: np.ndarray) -> tuple[float, float]:
            return float(f"{math.exp(x[0]):.4g}"), float(f"{1.0 + math.exp(x[1]):.4g}")

        def value(x: np.ndarray, jitter: str = jitter, cache: dict = cache) -> float:
            key = point(np.clip(x, lo, hi))
            if key not in cache:
                cache[key] = stats_of(with_policy(scenario, key[0], key[1], jitter))
            return float(cache[key].mean())

        # a first simplex of about ×2 in each direction (the default, 5% of x0 or 0.00025 at x0 = 0, is too
        # small for a function evaluated to 4 significant digits)
        simplex = np.clip(np.array([x0, x0 + [0.7, 0.0], x0 + [0.0, 0.7]]), lo, hi)
        res = optimize.minimize(value, x0, method="Nelder-Mead", bounds=list(zip(lo, hi, strict=True)),
                                options={"maxfev": max_evaluations, "xatol": 0.05, "fatol": 0.0,
                                         "initial_simplex": simplex})
        initial_s, coefficient = point(np.clip(res.x, lo, hi))
        lab = f"jitter {jitter}"
        samples[lab] = cache[(initial_s, coefficient)]
        found.append(RetryCandidate(lab, initial_s, coefficient, jitter, float(samples[lab].mean()), len(cache)))
    frame = pd.concat([pd.DataFrame({"strategy": k, "run": v.index.to_numpy(), "total_cost_usd": v.to_numpy(),
                                     "makespan_s": v.to_numpy()}) for k, v in samples.items()], ignore_index=True)
    labels = list(samples)
    # every objective is a mean over replications of a per-replication statistic: rank it as a mean
    ranking = rank(frame, labels, "cost" if objective in ("cost", "weighted") else "makespan", seed=seed)
    ranking = replace(ranking, objective=objective)
    rows = []
    for c in (current, *found):
        d = ranking.vs_best.get(c.label)
        rows.append({"candidate": c.label, "initial_interval_s": c.initial_s, "backoff_coefficient": c.coefficient,
                     "jitter": c.jitter, "objective": c.value, "evaluations": c.evaluations,
                     "vs_best": d.mean if d else 0.0, "vs_best_low": d.low if d else 0.0,
                     "vs_best_high": d.high if d else 0.0, "tied_with_best": c.label in ranking.tied})
    table = pd.DataFrame(rows).sort_values("objective", kind="stable").reset_index(drop=True)
    return RetrySearch(objective, label, tuple(scenario.steps[i].name for i in steps), current, tuple(found), ranking,
                       table, replications, seed)
