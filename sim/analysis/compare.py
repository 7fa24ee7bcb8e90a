"""``sim.compare``: one call that runs every strategy of a scenario on the same failures and
returns what a notebook needs: the tidy runs, the summary, the paired differences, the
report's plain-language verdict and the figures.

    import sim
    result = sim.compare(sim.load_scenario("video"), runs=2000, seed=1)
    result.verdict()        # "At your current failure rates, durable saves $28.20 per 1,000 runs ..."
    result.summary          # mean, CI, percentiles per strategy and metric
    result.plot_costs()     # a Figure (or draw into ax=...)

The comparison is the report's: ``a`` is the durable-style strategy and ``b`` the restart-style
one (``sim.analysis.report.compare_pair``); every paired number has the one sign of
``sim.analysis.saving``: the saving is b − a (the gain a − b where more is better), so positive
always means a is better. :meth:`Comparison.verdict` is the report's own sentence
(``sim.analysis.report.document.saving_sentence``), not a copy of its rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim import stats
from sim.analysis.report.analysis import PER, SUMMARY_METRICS, compare_pair
from sim.analysis.report.document import saving_sentence
from sim.analysis.saving import advantages
from sim.experiment.runner import simulate_parallel
from sim.model.scenario import Scenario

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    Attributes: ``scenario``; ``runs`` (one row per replication and strategy, the columns of
    ``sim.RUN_COLUMNS``); ``summary`` (``stats.summarize`` per strategy and metric); ``paired``
    (``sim.analysis.saving.advantages`` for every pair of strategies, the compared pair first:
    ``advantage`` is the saving b − a, or the gain a − b where more is better, so positive means
    ``a`` is better; ``definition`` says which, e.g. "restart - durable"); ``a``, ``b`` (the
    compared strategies); ``seed``; ``confidence``.
    """

    scenario: Scenario
    runs: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    paired: pd.DataFrame = field(repr=False)
    a: str
    b: str
    seed: int
    confidence: float = 0.95

    @classmethod
    def from_runs(cls, scenario: Scenario, runs: pd.DataFrame, seed: int | None = None, confidence: float = 0.95,
                  metrics: Sequence[str] | None = None) -> Comparison:
        """The comparison of run rows already simulated (e.g. one point of a sweep read back
        from its folder): ``runs`` has the columns of ``sim.RUN_COLUMNS`` for one scenario."""
        return _from_runs(scenario, runs, seed, confidence, metrics)

    @property
    def n(self) -> int:
        """Replications per strategy."""
        return int(self.runs["run"].nunique())

    def saving(self, metric: str = "total_cost_usd") -> dict[str, float]:
        """The paired saving b − a per run (the gain a − b for a metric where more is better:
        positive always means ``a`` is better): mean, ci_low, ci_high, rel (of b), se, n and kind
        ("saving" or "gain"), the numbers the report quotes."""
        rows = self.paired[(self.paired["a"] == self.a) & (self.paired["b"] == self.b)
                           & (self.paired["metric"] == metric)]
        if rows.empty:
            known = ", ".join(sorted(self.paired["metric"].unique()))
            raise KeyError(f"no paired difference for metric '{metric}' (have: {known})")
        r = rows.iloc[0]
        return {"mean": float(r["advantage"]), "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
                "rel": float(r["rel_advantage"]), "se": float(r["se"]), "n": int(r["n"]), "kind": str(r["kind"])}

    def verdict(self, markdown: bool = False) -> str:
        """The report's conclusion on total cost, in words: "a saves $X per 1,000 runs [CI]
        compared with b", "a costs $X more", or "no significant difference". The sign and the
        interval of the paired saving b − a decide the wording. ``markdown``: keep the report's
        bold marks."""
        s = self.saving("total_cost_usd")
        text = saving_sentence(self.a, self.b, s["mean"] * PER, s["ci_low"] * PER, s["ci_high"] * PER,
                               confidence=self.confidence, rel=s["rel"])
        return text if markdown else re.sub(r"\*\*(.+?)\*\*", r"\1", text)

    def table(self, metrics: Sequence[str] = ("total_cost_usd", "makespan_s", "wasted_compute_s")) -> pd.DataFrame:
        """Mean [CI] per strategy (rows) and metric (columns), for display."""
        s = self.summary[self.summary["metric"].isin(metrics)]
        return s.pivot_table(index="strategy", columns="metric", values="mean", sort=False)[list(metrics)]

    # ----------------------------------------------------------------- figures (each returns its Figure)

    def plot_costs(self, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """Where the money goes, per strategy (``sim.analysis.plots.plot_cost_breakdown``)."""
        from sim.analysis.plots import plot_cost_breakdown

        return plot_cost_breakdown(self.runs, ax=ax, level=self.confidence, **kwargs)

    def plot_distributions(self, metrics: Sequence[str] = ("makespan_s", "total_cost_usd"),
                           ax: Axes | Sequence[Axes] | None = None, **kwargs: Any) -> Figure:
        """Empirical CDFs per strategy (``sim.analysis.plots.plot_distributions``)."""
        from sim.analysis.plots import plot_distributions

        return plot_distributions(self.runs, metrics=metrics, ax=ax, **kwargs)

    def plot_timeline(self, runs: int = 200, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """One replication with failures as a timeline per strategy, from the DES engine's event
        log of the first ``runs`` replications (same seed)."""
        from sim.analysis.plots import plot_timeline
        from sim.experiment.api import simulate_with_events

        _, events = simulate_with_events(self.scenario, min(runs, self.n), self.seed, event_log=True)
        return plot_timeline(events, ax=ax, **kwargs)


def compare(scenario: Scenario | str, runs: int = 2000, seed: int = 0, *, engine: str = "auto",
            workers: int | None = None, confidence: float = 0.95,
            metrics: Sequence[str] | None = None) -> Comparison:
    """Run every strategy of ``scenario`` (a Scenario, a file or a bundled name) ``runs`` times
    on common random numbers and compare them; see :class:`Comparison`.

    ``metrics``: what to summarise (default: costs, makespan, waste and failure counts). The
    rows do not depend on ``workers``.
    """
    if not isinstance(scenario, Scenario):
        from sim.model.scenario import load_scenario

        scenario = load_scenario(scenario)
    compare_pair(scenario)  # a scenario with one strategy fails here, before anything runs
    df = simulate_parallel(scenario, runs, seed, engine=engine, workers=workers, quiet=True)
    return Comparison.from_runs(scenario, df, seed=seed, confidence=confidence, metrics=metrics)


def _from_runs(scenario: Scenario, runs: pd.DataFrame, seed: int | None = None, confidence: float = 0.95,
               metrics: Sequence[str] | None = None) -> Comparison:
    a, b = compare_pair(scenario)
    labels = [s for s in scenario.strategies if (runs["strategy"] == s).any()]
    missing = {a, b} - set(labels)
    if missing:
        raise ValueError(f"the runs have no rows of strategy {', '.join(sorted(missing))}")
    metric_list = list(metrics) if metrics is not None else [m for m in SUMMARY_METRICS if m in runs.columns]
    if "total_cost_usd" not in metric_list:
        metric_list.insert(0, "total_cost_usd")
    summary = stats.summarize(runs, metrics=metric_list, by=("strategy",), confidence=confidence)
    pairs = [(a, b)] + [(x, y) for i, y in enumerate(labels) for x in labels[i + 1:]
                        if (x, y) not in ((a, b), (b, a))]
    paired = advantages(pd.concat([stats.paired_differences(runs, x, y, metrics=metric_list, confidence=confidence)
                                   for x, y in pairs], ignore_index=True))
    if seed is None:
        seeds = runs["seed"].unique() if "seed" in runs.columns else [0]
        seed = int(seeds[0])
    return Comparison(scenario=scenario, runs=runs, summary=summary, paired=paired, a=a, b=b, seed=seed,
                      confidence=confidence)
