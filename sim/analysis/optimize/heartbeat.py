"""The heartbeat interval of long GPU steps, searched by ``scipy.optimize`` on a CRN objective.

The candidate is the ``heartbeat`` strategy (every step its own activity; GPU steps save their
progress after every H of work, each save taking ``checkpoint_cost`` of worker time and one
billable action). The objective at H is the simulated objective (``select``) of ``runs``
replications under a fixed seed: the same failure environments at every H (common random
numbers), so the curve is smooth up to the saw-tooth below and ``minimize_scalar`` (bounded
Brent on log H) needs no noise handling.

Saw-tooth: a step with w of work takes ceil(w/H) − 1 saves, so between H = w/n values the cost
of a save is paid for a shorter last segment; the lower envelope is reached at equal segments.
When the longest GPU step has a fixed duration, every H is therefore rounded to w/ceil(w/H)
(rounded up to the millisecond), the equal-segment interval with the same number of saves.

Per step: each long GPU step (``long_gpu_steps``: mean work at least ``MIN_WORK_S`` and at least
``MIN_SAVES_PAYING`` saves' worth of work) gets its own interval (``every_by_step``), searched
coordinate-wise by ``search_heartbeats``: one sweep, longest step first, each step's interval by
``minimize_scalar`` with the steps already searched at their optimum and the others making no
saves. When the steps' contributions to the objective add up (a chain: a save in one step
changes only that step's expected time and cost), the sweep's answer is the joint optimum;
with parallel steps it is a coordinate optimum after one sweep. Steps not searched (short or not
GPU) make no saves in the recommendation. The save cost may differ per step
(``checkpoint_cost_by_step``: a step with more state to write saves more slowly), and Daly's
optimum sqrt(2·C·MTBF) grows with it, whatever the step's length.

The interval around the optimum: a quadratic in log H is fitted to the mean objective on a grid
of H within ``window`` (in log H) of the best grid point; its vertex, recomputed on bootstrap
resamples of the replications (the same resample at every H), gives a 95% percentile interval
(as ``experiments/heartbeat_interval.py``). Not for the p95 objective, nor when the grid has too
few distinct points near the optimum (a short step: H = w/n for small n); the range of grid
intervals not distinguishable from the best (paired 95% interval containing 0) is always given.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from sim.analysis.optimize.select import aggregate, matrix, paired_diff
from sim.experiment.api import simulate
from sim.experiment.eta import Progress
from sim.model.scenario import Scenario, scenario_from_dict
from sim.model.strategies import heartbeat_attempt


def scenario_with_strategies(scenario: Scenario, strategies: dict[str, dict]) -> Scenario:
    """``scenario`` with its strategies replaced by ``strategies`` (label → TOML table)."""
    raw = scenario.raw
    raw["strategies"] = copy.deepcopy(strategies)
    base = None if scenario.path is None else Path(scenario.path).parent
    return scenario_from_dict(raw, file=scenario.path or "<optimize>", base_dir=base)


MIN_WORK_S = 60.0  # a GPU step shorter than this on average is not searched (no saves)
MIN_SAVES_PAYING = 4.0  # nor one with less work than this many saves take


def heartbeat_table(every_s: float | dict[str, float], checkpoint_cost_s: float, persist_latency_s: float,
                    cost_by_step_s: dict[str, float] | None = None) -> dict:
    """A heartbeat strategy's TOML table: one interval for every GPU step, or one per step."""
    table: dict = {"kind": "heartbeat"}
    if isinstance(every_s, dict):
        table["every_by_step"] = {name: f"{h:.6g}s" for name, h in every_s.items()}
    else:
        table["every"] = f"{every_s:.6g}s"
    table["checkpoint_cost"] = f"{checkpoint_cost_s:.6g}s"
    if cost_by_step_s:
        table["checkpoint_cost_by_step"] = {name: f"{c:.6g}s" for name, c in cost_by_step_s.items()}
    table["persist_latency"] = f"{persist_latency_s:.6g}s"
    return table


def longest_gpu_step(scenario: Scenario) -> tuple[str, float, bool] | None:
    """(name, mean work, fixed?) of the longest GPU step, or None without GPU steps."""
    gpu = [s for s in scenario.steps if s.kind == "gpu"]
    if not gpu:
        return None
    step = max(gpu, key=lambda s: s.duration.mean())
    return step.name, step.duration.mean(), not step.duration.is_random


def long_gpu_steps(scenario: Scenario, checkpoint_cost_s: float, cost_by_step_s: dict[str, float] | None = None
                   ) -> list[tuple[str, float, bool]]:
    """(name, mean work, fixed?) of the GPU steps worth a heartbeat search, longest first: mean
    work at least ``MIN_WORK_S`` and at least ``MIN_SAVES_PAYING`` times the step's save cost."""
    costs = cost_by_step_s or {}
    out = [(s.name, s.duration.mean(), not s.duration.is_random) for s in scenario.steps if s.kind == "gpu"
           and s.duration.mean() >= max(MIN_WORK_S, MIN_SAVES_PAYING * costs.get(s.name, checkpoint_cost_s))]
    return sorted(out, key=lambda t: -t[1])


def equal_segments_s(work_s: float, every_s: float) -> float:
    """w/ceil(w/H), rounded up to the millisecond (keeps ceil(w/H') = ceil(w/H) in floating point)."""
    n = max(1, math.ceil(work_s / every_s - 1e-9))
    return math.ceil(work_s / n * 1000.0) / 1000.0


@dataclass(frozen=True)
class HeartbeatSearch:
    objective: str
    step: str
    work_s: float
    best_every_s: float  # minimize_scalar's answer (equal segments when the step is fixed)
    best_value: float
    evaluations: int
    curve: pd.DataFrame  # every_s, value, diff_vs_best, diff_low, diff_high
    vertex_s: float  # quadratic vertex on the grid (NaN: none)
    ci_low_s: float  # bootstrap 95% interval of the vertex (NaN: none)
    ci_high_s: float
    tied_low_s: float  # the grid intervals whose paired 95% interval against the best contains 0
    tied_high_s: float
    checkpoint_cost_s: float  # this step's save cost
    persist_latency_s: float
    runs: int
    seed: int
    others_s: dict[str, float] = field(default_factory=dict)  # the other steps' intervals during the search
    cost_by_step_s: dict[str, float] = field(default_factory=dict)
    default_cost_s: float | None = None  # the save cost of steps without their own (None: checkpoint_cost_s)

    @property
    def saves_at_best(self) -> int:
        """Saves a step of the mean work makes at the best interval (0: the heartbeat does not pay here)."""
        return heartbeat_attempt(self.work_s, -1.0, 0.0, self.best_every_s, 0.0)[1]

    def table(self) -> dict:
        """The strategy searched: this step at its best interval, the others as during the search."""
        default = self.checkpoint_cost_s if self.default_cost_s is None else self.default_cost_s
        return heartbeat_table({**self.others_s, self.step: self.best_every_s}, default, self.persist_latency_s,
                               self.cost_by_step_s)


@dataclass(frozen=True)
class HeartbeatPlan:
    """Per-step intervals from one coordinate sweep (``search_heartbeats``)."""

    searches: tuple[HeartbeatSearch, ...]  # one per long GPU step, longest first
    intervals_s: dict[str, float]
    checkpoint_cost_s: float  # the default save cost
    cost_by_step_s: dict[str, float]
    persist_latency_s: float

    def table(self) -> dict:
        return heartbeat_table(dict(self.intervals_s), self.checkpoint_cost_s, self.persist_latency_s,
                               self.cost_by_step_s)

    def describe(self) -> str:
        """'every 226 s in render, 90 s in upscale (saves of 2 s)'."""
        saving = {name: h for name, h in self.intervals_s.items() if h > 0.0}
        none = [f"'{name}'" for name, h in self.intervals_s.items() if h <= 0.0]
        tail = f"; no saves in {', '.join(none)} (they do not pay)" if none else ""
        if not saving:
            return "no saves in any GPU step (they do not pay)"
        parts = [f"{h:.4g} s in '{name}'" for name, h in saving.items()]
        costs = sorted({self.cost_by_step_s.get(name, self.checkpoint_cost_s) for name in saving})
        return (f"saves every {', '.join(parts)} of work (a save takes {' or '.join(f'{c:g}' for c in costs)} s)"
                + tail)


def _fit_vertex(every_s: np.ndarray, means: np.ndarray, window: float) -> float:
    u = np.log(every_s)
    centre = u[int(np.argmin(means))]
    inside = np.abs(u - centre) <= window + 1e-12
    if inside.sum() < 4:
        return math.nan
    coef = np.polyfit(u[inside], means[inside], 2)
    if not coef[0] > 0:
        return math.nan
    vertex = -coef[1] / (2.0 * coef[0])
    if not u[inside].min() <= vertex <= u[inside].max():
        return math.nan
    return float(np.exp(vertex))


XATOL = 0.01  # minimize_scalar's tolerance on log H
COARSE_POINTS = 9  # the curve's coarse grid over the whole range


def _bounds_s(work_s: float) -> tuple[float, float]:
    return max(work_s / 100.0, 1.0), work_s


def expected_evaluations(bounds_s: tuple[float, float], grid_points: int = 17) -> int:
    """About how many intervals one search simulates at most (for its announcement): bounded Brent
    takes about one golden-section step per evaluation until the bracket is ``XATOL`` wide in log
    H, then the curve's grid (fine, coarse and the optimum; fewer when the fine grid crosses a
    bound or intervals snap together)."""
    lo, hi = bounds_s
    brent = math.ceil(math.log(max(math.log(hi / lo), XATOL) / XATOL) / math.log((1 + math.sqrt(5)) / 2)) + 1
    return brent + grid_points + COARSE_POINTS + 1


def search_heartbeat(scenario: Scenario, objective: str, runs: int, seed: int, *, checkpoint_cost_s: float,
                     persist_latency_s: float = 0.0, value_of_time_usd_per_hour: float = 0.0,
                     bounds_s: tuple[float, float] | None = None, grid_points: int = 17, grid_span: float = 0.45,
                     window: float = 0.25, n_boot: int = 300, step: str | None = None,
                     others_s: dict[str, float] | None = None,
                     cost_by_step_s: dict[str, float] | None = None,
                     progress: Progress | None = None) -> HeartbeatSearch:
    """The heartbeat interval of GPU step ``step`` (default: the longest) minimising ``objective``
    (see the module docstring), the other steps at ``others_s`` (absent: no saves). ``progress``
    (optional) is told of every replication simulated."""
    found = longest_gpu_step(scenario)
    if found is None:
        raise ValueError(f"'{scenario.name}' has no GPU step: nothing to heartbeat")
    if step is not None:
        match = [s for s in scenario.steps if s.name == step and s.kind == "gpu"]
        if not match:
            raise ValueError(f"no GPU step named '{step}'")
        found = (step, match[0].duration.mean(), not match[0].duration.is_random)
    step, work_s, fixed = found
    others = {k: v for k, v in (others_s or {}).items() if k != step}
    costs = dict(cost_by_step_s or {})
    own_cost_s = costs.get(step, checkpoint_cost_s)

    def table_at(every_s: float) -> dict:
        return heartbeat_table({**others, step: every_s}, checkpoint_cost_s, persist_latency_s, costs)

    lo, hi = bounds_s if bounds_s is not None else _bounds_s(work_s)
    snap = (lambda h: equal_segments_s(work_s, h)) if fixed else (lambda h: float(h))
    cache: dict[float, float] = {}

    def value_at(every_s: float) -> float:
        if every_s not in cache:
            sc = scenario_with_strategies(scenario, {"hb": table_at(every_s)})
            df = simulate(sc, runs, seed, engine="des")
            cache[every_s] = aggregate(matrix(df, ["hb"], objective, value_of_time_usd_per_hour)[:, 0], objective)
            if progress is not None:
                progress.update(runs)
        return cache[every_s]

    res = optimize.minimize_scalar(lambda u: value_at(snap(math.exp(u))), bounds=(math.log(lo), math.log(hi)),
                                   method="bounded", options={"xatol": XATOL})
    best = snap(math.exp(res.x))
    # the curve: a fine grid around the optimum and a coarse one over the whole range, one DES call
    fine = best * np.exp(np.linspace(-grid_span, grid_span, grid_points))
    coarse = np.exp(np.linspace(math.log(lo), math.log(hi), COARSE_POINTS))
    grid = sorted({snap(h) for h in np.concatenate([fine, coarse, [best]]) if lo * 0.999 <= h <= hi * 1.001})
    labels = {f"h{k:02d}": h for k, h in enumerate(grid)}
    sc = scenario_with_strategies(scenario, {label: table_at(h) for label, h in labels.items()})
    df = simulate(sc, runs, seed, engine="des")
    if progress is not None:
        progress.update(runs * len(labels))
    m = matrix(df, list(labels), objective, value_of_time_usd_per_hour)
    every = np.array(grid)
    values = np.array([aggregate(m[:, k], objective) for k in range(len(grid))])
    # Bounded Brent never evaluates the bounds, and snapping to equal segments makes the objective
    # a step function it can stall on: the answer is the best of every interval evaluated (the
    # same replications at each), the grid's ends included (H = the step's work: no save at all).
    ref = grid.index(best)
    if values.min() < values[ref]:
        ref = int(np.argmin(values))
        best = grid[ref]
    diffs = [paired_diff(m[:, k], m[:, ref], objective, seed=seed) for k in range(len(grid))]
    curve = pd.DataFrame({"every_s": every, "value": values, "diff_vs_best": [d.mean for d in diffs],
                          "diff_low": [d.low for d in diffs], "diff_high": [d.high for d in diffs]})
    vertex, low, high = math.nan, math.nan, math.nan
    if objective != "p95":
        near = np.abs(np.log(every / best)) <= grid_span + 1e-9
        e_near, m_near = every[near], m[:, near]
        vertex = _fit_vertex(e_near, m_near.mean(axis=0), window)
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(m.shape[0], np.full(m.shape[0], 1.0 / m.shape[0]), size=n_boot).astype(float)
        boot = np.array([_fit_vertex(e_near, row, window) for row in counts @ m_near / m.shape[0]])
        ok = boot[np.isfinite(boot)]
        if ok.size >= 0.9 * n_boot:
            low, high = (float(q) for q in np.quantile(ok, [0.025, 0.975]))
    tied = every[curve["diff_low"].to_numpy() <= 0.0]
    return HeartbeatSearch(objective, step, work_s, best, float(values[ref]), len(cache), curve, vertex, low, high,
                           float(tied.min()), float(tied.max()), own_cost_s, persist_latency_s, runs, seed, others,
                           costs, checkpoint_cost_s)


def search_heartbeats(scenario: Scenario, objective: str, runs: int, seed: int, *, checkpoint_cost_s: float,
                      persist_latency_s: float = 0.0, value_of_time_usd_per_hour: float = 0.0,
                      cost_by_step_s: dict[str, float] | None = None, quiet: bool = False, grid_points: int = 17,
                      bounds_s: tuple[float, float] | None = None, **options: object) -> HeartbeatPlan:
    """Per-step intervals of the long GPU steps: one coordinate sweep (module docstring). A search
    expected to take more than about 10 s says so first, from its first evaluation, and shows its
    progress (``sim.experiment.eta``), unless ``quiet``."""
    costs = dict(cost_by_step_s or {})
    steps = long_gpu_steps(scenario, checkpoint_cost_s, costs)
    if not steps:
        raise ValueError(f"'{scenario.name}' has no long GPU step (mean work of at least {MIN_WORK_S:g} s and "
                         f"{MIN_SAVES_PAYING:g} saves): nothing to heartbeat")
    expected = [expected_evaluations(bounds_s or _bounds_s(work_s), grid_points) for _, work_s, _ in steps]
    detail = (f" (up to about {sum(expected)} intervals of {runs:,} replications, {len(steps)} GPU "
              f"step{'s' if len(steps) > 1 else ''})")
    best: dict[str, float] = {}
    searches = []
    with Progress(sum(expected) * runs, "heartbeat search", enabled=not quiet, detail=detail) as progress:
        for k, (name, _, _) in enumerate(steps):
            hb = search_heartbeat(scenario, objective, runs, seed, checkpoint_cost_s=checkpoint_cost_s,
                                  persist_latency_s=persist_latency_s,
                                  value_of_time_usd_per_hour=value_of_time_usd_per_hour, step=name,
                                  others_s=dict(best), cost_by_step_s=costs, progress=progress,
                                  grid_points=grid_points, bounds_s=bounds_s, **options)
            # an interval as long as the step's work makes no save: the step is left without heartbeat (0)
            best[name] = hb.best_every_s if hb.saves_at_best > 0 else 0.0
            searches.append(hb)
            progress.set_total(progress.eta.done + sum(expected[k + 1:]) * runs)
    return HeartbeatPlan(tuple(searches), best, checkpoint_cost_s, costs, persist_latency_s)
