"""Data preparation for the report figures (pure pandas/numpy, no matplotlib).

Every figure in :mod:`sim.analysis.plots` is drawn from a table built here, so the numbers a
figure shows can be checked without drawing it. Inputs follow ``docs/model.md`` §3:
run rows (one per replication and strategy, plus a sweep column for sweeps) and the
per-attempt event log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = [
    "COST_COMPONENTS",
    "FAILURE_OUTCOMES",
    "Unit",
    "confidence_interval",
    "cost_breakdown_table",
    "crossing_points",
    "ecdf",
    "format_value",
    "is_log_spaced",
    "metric_label",
    "metric_unit",
    "paired_difference",
    "paired_sweep_summary",
    "param_axis",
    "pick_timeline_run",
    "quantile_table",
    "strategy_order",
    "sweep_summary",
    "time_unit",
    "timeline_bars",
    "timeline_lanes",
    "tornado_table",
    "usd_unit",
]

#: The components of ``total_cost_usd`` (docs/model.md §3), bottom to top of a stack.
COST_COMPONENTS: tuple[str, ...] = ("useful_cost_usd", "wasted_cost_usd", "orchestration_cost_usd")
#: Attempt outcomes that are failures, in legend order.
FAILURE_OUTCOMES: tuple[str, ...] = ("crashed", "killed_by_deploy", "rate_limited")

_KNOWN_STRATEGY_ORDER = ("restart", "durable")

_METRIC_LABELS = {
    "makespan_s": "makespan",
    "compute_s": "compute time",
    "useful_compute_s": "useful compute",
    "wasted_compute_s": "wasted compute",
    "compute_cost_usd": "compute cost",
    "useful_cost_usd": "useful compute cost",
    "wasted_cost_usd": "wasted compute cost",
    "orchestration_cost_usd": "orchestration cost",
    "total_cost_usd": "total cost",
    "orchestration_actions": "orchestration actions",
    "history_events": "history events",
    "attempts": "attempts",
    "crashes": "crashes",
    "deploy_kills": "deployment kills",
    "rate_limited": "rate-limited calls",
    "pipeline_restarts": "pipeline restarts",
}

_PARAM_LABELS = {
    "failures.crash.mtbf": "worker MTBF",
    "failures.crash.scale": "Weibull scale of worker lifetime",
    "failures.crash.shape": "Weibull shape of worker lifetime",
    "failures.crash.detection_delay": "crash detection delay",
    "failures.crash.restart_time": "worker restart time",
    "failures.deploy.every": "deployment interval",
    "failures.deploy.drain": "deployment drain window",
    "failures.rate_limit.probability": "429 probability per call",
    "strategies.durable.persist_latency": "durable persist latency",
    "pricing.orchestration.per_million_actions_usd": "orchestration price ($ per million actions)",
}

_DURATION_KEYS = {
    "mtbf", "scale", "every", "drain", "restart_time", "detection_delay", "persist_latency",
    "duration", "max_time", "response_time", "retry_after", "restart_delay",
    "initial_interval", "maximum_interval", "median", "mean", "p95", "value", "low", "high",
}


# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """How raw values (seconds, dollars, fractions) are shown: ``shown = raw / factor``."""

    factor: float
    label: str  # e.g. "h", "min", "$ per run", "$ per 1,000 runs", "%"
    kind: str  # "time" | "usd" | "percent" | "plain"

    def scale(self, values: object) -> np.ndarray:
        """Raw values -> displayed values (float array)."""
        return np.asarray(values, dtype=float) / self.factor

    def fmt(self, raw: float) -> str:
        """Format one raw value with its unit, e.g. ``"12.8%"``, ``"3.2 h"``, ``"$0.052"``."""
        return format_value(raw, self)


_TIME_UNITS = (("s", 1.0), ("min", 60.0), ("h", 3600.0), ("d", 86400.0))


def time_unit(max_seconds: float) -> Unit:
    """Readable unit for durations up to ``max_seconds``: s up to 3 min, min up to 3 h,
    h up to 3 days, then days."""
    m = abs(float(max_seconds)) if np.isfinite(max_seconds) else 0.0
    if m <= 180:
        name, f = _TIME_UNITS[0]
    elif m <= 3 * 3600:
        name, f = _TIME_UNITS[1]
    elif m <= 3 * 86400:
        name, f = _TIME_UNITS[2]
    else:
        name, f = _TIME_UNITS[3]
    return Unit(f, name, "time")


def usd_unit(max_abs_usd: float, per_run: bool = True, per_1000_below: float = 0.05) -> Unit:
    """Dollars per run, or dollars per 1,000 runs when per-run values are tiny
    (largest magnitude below ``per_1000_below``). ``per_run=False`` always gives plain $."""
    m = abs(float(max_abs_usd)) if np.isfinite(max_abs_usd) else 0.0
    if not per_run:
        return Unit(1.0, "$", "usd")
    if m < per_1000_below:
        return Unit(1e-3, "$ per 1,000 runs", "usd")
    return Unit(1.0, "$ per run", "usd")


def metric_label(metric: str) -> str:
    """Human name of a result column (``wasted_compute_s`` -> ``"wasted compute"``)."""
    if metric in _METRIC_LABELS:
        return _METRIC_LABELS[metric]
    name = metric
    for suffix in ("_usd", "_s"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.replace("_", " ")


def metric_unit(metric: str, values: object, per_run: bool = True) -> Unit:
    """Display unit of a result column from its suffix (``_s`` time, ``_usd`` dollars)
    and the magnitude of ``values`` (the numbers that will be plotted)."""
    arr = np.asarray(values, dtype=float)
    m = float(np.nanmax(np.abs(arr))) if arr.size and np.isfinite(arr).any() else 0.0
    if metric.endswith("_s"):
        return time_unit(m)
    if metric.endswith("_usd"):
        return usd_unit(m, per_run=per_run)
    return Unit(1.0, "", "plain")


def param_axis(name: str, values: object) -> tuple[str, Unit]:
    """Axis label and unit of a sweep parameter given by its dotted path.

    Probabilities are shown in %, durations (seconds) in a readable time unit,
    ``*_usd`` in dollars; anything else as is.
    """
    arr = np.asarray(values, dtype=float)
    m = float(np.nanmax(np.abs(arr))) if arr.size and np.isfinite(arr).any() else 0.0
    last = name.rsplit(".", 1)[-1]
    label = _PARAM_LABELS.get(name, name)
    if last == "probability" or last.endswith("_probability"):
        return label, Unit(0.01, "%", "percent")
    if last in _DURATION_KEYS or last.endswith("_s"):
        return label, time_unit(m)
    if last.endswith("_usd") and "$" not in label:
        return label, Unit(1.0, "$", "usd")
    return label, Unit(1.0, "", "plain")


def _num(v: float) -> str:
    """About three significant figures, no scientific notation for everyday magnitudes."""
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a >= 1e-4:
        return f"{v:.3g}"
    return f"{v:.2e}"


def format_value(raw: float | None, unit: Unit, width: float | None = None) -> str:
    """Format a raw value in ``unit``: ``"12.8%"``, ``"3.20 h"``, ``"$0.052"``,
    ``"$52.0 per 1,000 runs"``; ``"n/a"`` for None/NaN. Dollars with ``width`` (the raw width of
    the interval the value belongs to) get two significant digits of the width, so an interval
    never reads "$0.82 [$0.82, $0.82]"."""
    if raw is None or not np.isfinite(raw):
        return "n/a"
    v = float(raw) / unit.factor
    if unit.kind == "percent":
        return f"{_num(v)}%"
    if unit.kind == "usd":
        sign = "-" if v < 0 else ""
        a = abs(v)
        w = None if width is None else abs(float(width)) / unit.factor
        if w is not None and np.isfinite(w) and w > 1e-9 * a and 1e-4 <= a:
            decimals = max(2, 1 - int(np.floor(np.log10(w))))
            s = f"{sign}${a:,.{decimals}f}"
        elif 0.1 <= a < 100:
            s = f"{sign}${a:.2f}"
        elif 0 < a < 1e-4:  # positional, never "6.58e-06" on a slide
            s = f"{sign}${np.format_float_positional(a, precision=2, fractional=False)}"
        else:
            s = f"{sign}${_num(a)}"
        if unit.label.startswith("$ per 1,000"):
            s += " per 1,000 runs"
        return s
    if unit.label:
        return f"{_num(v)} {unit.label}"
    return _num(v)


# ---------------------------------------------------------------------- statistics


def strategy_order(strategies: Iterable[str]) -> list[str]:
    """Stable plotting order: ``restart``, ``durable``, then the others as first seen."""
    seen: list[str] = []
    for s in strategies:
        if s not in seen:
            seen.append(s)
    known = [s for s in _KNOWN_STRATEGY_ORDER if s in seen]
    return known + [s for s in seen if s not in known]


def confidence_interval(
    mean: object, se: object, n: object, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval ``mean ± t_{(1+level)/2, n-1} · se`` (NaN where n < 2)."""
    mean = np.asarray(mean, dtype=float)
    se = np.asarray(se, dtype=float)
    n = np.asarray(n, dtype=float)
    dof = n - 1
    with np.errstate(invalid="ignore"):
        t = np.where(dof >= 1, _st.t.ppf(0.5 + level / 2, np.maximum(dof, 1)), np.nan)
    hw = t * se
    return mean - hw, mean + hw


def sweep_summary(
    sweep_df: pd.DataFrame,
    x: str,
    metric: str,
    level: float = 0.95,
    strategy_col: str = "strategy",
) -> pd.DataFrame:
    """Mean of ``metric`` per (sweep point, strategy) with a Student-t confidence interval.

    ``sweep_df`` holds run rows (one per replication, strategy and sweep point) with the
    sweep parameter in column ``x``. Returns columns
    ``[x, strategy, n, mean, sd, se, ci_low, ci_high]`` sorted by strategy order then x;
    ``se = sd / sqrt(n)``; the interval is NaN when a point has fewer than two runs.
    """
    for col in (x, metric, strategy_col):
        if col not in sweep_df.columns:
            raise KeyError(f"sweep frame has no column {col!r}")
    vals = pd.to_numeric(sweep_df[metric], errors="coerce")
    g = (
        sweep_df.assign(_v=vals)
        .dropna(subset=["_v"])
        .groupby([x, strategy_col], sort=True)["_v"]
    )
    out = g.agg(n="count", mean="mean", sd="std").reset_index()
    out = out.rename(columns={strategy_col: "strategy"})
    out["se"] = out["sd"] / np.sqrt(out["n"])
    lo, hi = confidence_interval(out["mean"], out["se"], out["n"], level)
    out["ci_low"], out["ci_high"] = lo, hi
    order = {s: i for i, s in enumerate(strategy_order(out["strategy"]))}
    out = out.sort_values(by=["strategy", x], key=lambda c: c.map(order) if c.name == "strategy" else c)
    return out.reset_index(drop=True)[[x, "strategy", "n", "mean", "sd", "se", "ci_low", "ci_high"]]


def paired_sweep_summary(
    sweep_df: pd.DataFrame,
    x: str,
    metric: str,
    a: str,
    b: str,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean paired difference ``a - b`` of ``metric`` per sweep point (pairs matched on
    ``run``, i.e. the same replication under common random numbers), with a Student-t
    interval. Columns ``[x, n, mean, sd, se, ci_low, ci_high]`` sorted by x; replications
    missing either strategy are dropped. Raises on duplicate (x, run, strategy) rows."""
    for col in (x, metric, "strategy", "run"):
        if col not in sweep_df.columns:
            raise KeyError(f"sweep frame has no column {col!r}")
    sub = sweep_df[sweep_df["strategy"].isin([a, b])]
    if sub.duplicated([x, "run", "strategy"]).any():
        raise ValueError(f"duplicate ({x}, run, strategy) rows: cannot pair runs")
    wide = sub.set_index([x, "run", "strategy"])[metric].astype(float).unstack("strategy")
    if a not in wide.columns or b not in wide.columns:
        raise ValueError(f"need both strategies {a!r} and {b!r}")
    d = (wide[a] - wide[b]).dropna()
    out = d.groupby(level=x).agg(["count", "mean", "std"]).reset_index()
    out = out.rename(columns={"count": "n", "std": "sd"})
    out["se"] = out["sd"] / np.sqrt(out["n"])
    out["ci_low"], out["ci_high"] = confidence_interval(out["mean"], out["se"], out["n"], level)
    return out.sort_values(x).reset_index(drop=True)


def paired_difference(
    runs_df: pd.DataFrame, metric: str, a: str, b: str, level: float = 0.95
) -> dict[str, float]:
    """Mean of the per-replication difference ``a - b`` of ``metric`` (matched on ``run``)
    with a Student-t interval: dict with n, mean, se, ci_low, ci_high."""
    d = -saving_per_run(runs_df, a, b, metric)  # a − b, matched on run
    n = d.size
    mean = float(d.mean()) if n else math.nan
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    lo, hi = confidence_interval(mean, se, n, level)
    return {"n": n, "mean": mean, "se": se, "ci_low": float(lo), "ci_high": float(hi)}


def is_log_spaced(values: object, rtol: float = 0.15) -> bool:
    """True when the distinct values form a geometric grid (>= 3 positive points whose
    consecutive ratios agree within ``rtol``) spanning at least a factor of 5, and are
    not an arithmetic grid."""
    v = np.unique(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if v.size < 3 or np.any(v <= 0):
        return False
    if v[-1] / v[0] < 5:
        return False
    d = np.diff(np.log(v))
    if np.ptp(d) > rtol * np.mean(d):
        return False
    lin = np.diff(v)
    return bool(np.ptp(lin) > rtol * np.mean(lin))


def crossing_points(summary: pd.DataFrame, x: str, a: str, b: str) -> list[float]:
    """x positions where the mean curves of strategies ``a`` and ``b`` cross, by linear
    interpolation of ``mean_a - mean_b`` between sweep points (exact zeros included)."""
    pa = summary[summary["strategy"] == a].set_index(x)["mean"]
    pb = summary[summary["strategy"] == b].set_index(x)["mean"]
    d = (pa - pb).dropna().sort_index()
    xs, ys = d.index.to_numpy(dtype=float), d.to_numpy(dtype=float)
    out: list[float] = []
    for i in range(len(xs)):
        if ys[i] == 0:
            out.append(float(xs[i]))
        elif i + 1 < len(xs) and ys[i] * ys[i + 1] < 0:
            out.append(float(xs[i] - ys[i] * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i])))
    return out


def ecdf(values: object) -> pd.DataFrame:
    """Empirical CDF: sorted finite values and ``F = i/n`` (i = 1..n). Columns value, cdf."""
    v = np.sort(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    n = v.size
    return pd.DataFrame({"value": v, "cdf": np.arange(1, n + 1) / n if n else np.array([])})


def quantile_table(
    runs_df: pd.DataFrame,
    metric: str,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
) -> pd.DataFrame:
    """Empirical quantiles of ``metric`` per strategy (inverted-CDF definition, i.e. a value
    that was actually observed: the smallest x with F(x) >= q). Columns strategy, q,
    label ("p50"), value, n."""
    rows = []
    for s in strategy_order(runs_df["strategy"]):
        v = pd.to_numeric(runs_df.loc[runs_df["strategy"] == s, metric], errors="coerce")
        v = v[np.isfinite(v)].to_numpy(dtype=float)
        for q in quantiles:
            val = float(np.quantile(v, q, method="inverted_cdf")) if v.size else math.nan
            rows.append({"strategy": s, "q": q, "label": f"p{q * 100:g}", "value": val, "n": v.size})
    return pd.DataFrame(rows, columns=["strategy", "q", "label", "value", "n"])


def cost_breakdown_table(
    runs_df: pd.DataFrame,
    per_runs: int | str = "auto",
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean cost components per strategy, in $ per run or $ per ``per_runs`` runs.

    Columns: strategy, n, useful_cost_usd, wasted_cost_usd, orchestration_cost_usd
    (means, scaled), total (their sum, equal to the mean ``total_cost_usd`` when present),
    total_ci_low, total_ci_high (Student t on the per-run totals), per_runs.
    ``per_runs="auto"`` uses 1,000 when every mean total is below $0.05, else 1.
    """
    missing = [c for c in COST_COMPONENTS if c not in runs_df.columns]
    if missing:
        raise KeyError(f"runs frame lacks cost columns {missing}")
    rows = []
    for s in strategy_order(runs_df["strategy"]):
        sub = runs_df[runs_df["strategy"] == s]
        comp = {c: float(sub[c].mean()) for c in COST_COMPONENTS}
        per_run_total = sub[list(COST_COMPONENTS)].sum(axis=1).to_numpy(dtype=float)
        n = per_run_total.size
        mean = float(per_run_total.mean())
        se = float(per_run_total.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        lo, hi = confidence_interval(mean, se, n, level)
        rows.append({"strategy": s, "n": n, **comp, "total": mean,
                     "total_ci_low": float(lo), "total_ci_high": float(hi)})
    out = pd.DataFrame(rows)
    if per_runs == "auto":
        scale = 1000 if out["total"].abs().max() < 0.05 else 1
    else:
        scale = int(per_runs)
    cols = [*COST_COMPONENTS, "total", "total_ci_low", "total_ci_high"]
    out[cols] = out[cols] * scale
    out["per_runs"] = scale
    return out


# -------------------------------------------------------------------------- timeline


_EVENT_COLUMNS = ("run", "strategy", "step", "step_index", "attempt", "start_s", "end_s", "outcome", "useful")


def pick_timeline_run(event_log_df: pd.DataFrame) -> int:
    """A representative replication for the timeline: among replications present for every
    strategy and with at least one failed attempt, the one whose failure count is the median
    (lowest run id on ties); without failures anywhere, the lowest run id."""
    strategies = event_log_df["strategy"].unique()
    per = event_log_df.groupby("run")["strategy"].nunique()
    runs = per[per == len(strategies)].index
    if len(runs) == 0:
        raise ValueError("no replication has events for every strategy")
    log = event_log_df[event_log_df["run"].isin(runs)]
    fails = (log["outcome"] != "completed").groupby(log["run"]).sum()
    fails = fails[fails > 0]
    if fails.empty:
        return int(min(runs))
    med = float(np.median(fails.to_numpy()))
    dist = (fails - med).abs()
    best = dist[dist == dist.min()].index
    return int(min(best))


def timeline_bars(event_log_df: pd.DataFrame, run: int | None = None) -> pd.DataFrame:
    """One row per attempt of replication ``run`` (default :func:`pick_timeline_run`),
    with its lane: columns run, strategy, lane (0 = top lane), step, step_index, attempt,
    start_s, end_s, duration_s, compute_s (0 for the wait steps of a workflow graph), outcome,
    useful, wasted, failed; row is the bar's row: a lane has one per attempt in flight at once."""
    missing = [c for c in _EVENT_COLUMNS if c not in event_log_df.columns]
    if missing:
        raise KeyError(f"event log lacks columns {missing}")
    if run is None:
        run = pick_timeline_run(event_log_df)
    log = event_log_df[event_log_df["run"] == run]
    if log.empty:
        raise ValueError(f"no events for run {run}")
    order = strategy_order(log["strategy"])
    lane = {s: i for i, s in enumerate(order)}
    out = log.assign(
        lane=log["strategy"].map(lane),
        duration_s=log["end_s"] - log["start_s"],
        useful=log["useful"].astype(bool),
    )
    out["wasted"] = ~out["useful"]
    out["failed"] = out["outcome"] != "completed"
    out = out.sort_values(["lane", "start_s", "step_index", "attempt"]).reset_index(drop=True)
    out["row"] = _stack_rows(out)
    # compute time of the bar: a wait step of a workflow graph (event column kind = "wait") has none
    out["compute_s"] = out["duration_s"].where(out["kind"] != "wait", 0.0) if "kind" in out else out["duration_s"]
    return out[["run", "strategy", "lane", "row", "step", "step_index", "attempt", "start_s", "end_s",
                "duration_s", "compute_s", "outcome", "useful", "wasted", "failed"]]


def _stack_rows(bars: pd.DataFrame) -> np.ndarray:
    """The row of each bar (rows numbered down the figure): each strategy's lane is split into as
    many rows as it has attempts in flight at once (parallel branches and fan-out instances of a
    workflow graph), an attempt going to the first row free at its start. A chain has one row
    per lane (row = lane)."""
    rows = np.zeros(len(bars), dtype=np.int64)
    offset = 0
    for _lane, idx in bars.groupby("lane", sort=True).indices.items():
        ends: list[float] = []  # the end of the last bar of each row of this lane
        for k in idx:
            start, end = bars["start_s"].iat[k], bars["end_s"].iat[k]
            row = next((r for r, e in enumerate(ends) if e <= start), len(ends))
            if row == len(ends):
                ends.append(end)
            else:
                ends[row] = end
            rows[k] = offset + row
        offset += max(len(ends), 1)
    return rows


def timeline_lanes(bars: pd.DataFrame) -> pd.DataFrame:
    """Per-lane summary of :func:`timeline_bars`: strategy, lane, finish_s (end of the last
    useful attempt, NaN if none), busy_s, wasted_s (sum of durations of attempts whose result
    was not used), and counts per failure outcome."""
    rows = []
    for (lane, s), sub in bars.groupby(["lane", "strategy"], sort=True):
        useful = sub[sub["useful"]]
        row = {
            "strategy": s,
            "lane": int(lane),
            "row_top": int(sub["row"].min()) if "row" in sub else int(lane),
            "row_bottom": int(sub["row"].max()) if "row" in sub else int(lane),
            "finish_s": float(useful["end_s"].max()) if len(useful) else math.nan,
            "busy_s": float(sub["compute_s"].sum()),
            "wasted_s": float(sub.loc[sub["wasted"], "compute_s"].sum()),
        }
        for o in FAILURE_OUTCOMES:
            row[o] = int((sub["outcome"] == o).sum())
        rows.append(row)
    return pd.DataFrame(rows)


# -------------------------------------------------------------------------- tornado


def tornado_table(baseline: float, results: pd.DataFrame) -> pd.DataFrame:
    """Rank inputs by swing for a tornado chart.

    ``results`` has one row per (input, level) with ``level`` in {"low", "high"} and the
    output ``value`` at that level; optional columns ``setting`` (the input's value at that
    level, shown in labels) and ``ci_low``/``ci_high`` (a confidence interval of value).
    Returns one row per input sorted by decreasing swing ``|high - low|`` (an input with one
    level only swings ``|value - baseline|``): input, low, high, low_delta, high_delta,
    swing, rank (1 = largest), baseline, and low_/high_ prefixed optional columns.
    """
    for col in ("input", "level", "value"):
        if col not in results.columns:
            raise KeyError(f"tornado results need column {col!r}")
    levels = set(results["level"].unique())
    if not levels <= {"low", "high"}:
        raise ValueError(f"level must be 'low' or 'high', got {sorted(levels - {'low', 'high'})}")
    if results.duplicated(["input", "level"]).any():
        dup = results.loc[results.duplicated(["input", "level"]), ["input", "level"]]
        raise ValueError(f"duplicate (input, level) rows: {dup.values.tolist()}")
    extra = [c for c in ("setting", "ci_low", "ci_high") if c in results.columns]
    inputs = list(dict.fromkeys(results["input"]))
    wide = results.set_index(["input", "level"])
    rows = []
    for name in inputs:
        row: dict[str, object] = {"input": name}
        for lev in ("low", "high"):
            key = (name, lev)
            has = key in wide.index
            row[lev] = float(wide.loc[key, "value"]) if has else math.nan
            for c in extra:
                row[f"{lev}_{c}"] = wide.loc[key, c] if has else (math.nan if c != "setting" else None)
        rows.append(row)
    out = pd.DataFrame(rows)
    b = float(baseline)
    out["low_delta"] = out["low"] - b
    out["high_delta"] = out["high"] - b
    lo = out["low"].where(out["low"].notna(), b)
    hi = out["high"].where(out["high"].notna(), b)
    out["swing"] = (hi - lo).abs()
    out["baseline"] = b
    out["_pos"] = range(len(out))
    out = out.sort_values(["swing", "_pos"], ascending=[False, True]).drop(columns="_pos")
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)


def saving_per_run(runs_df: pd.DataFrame, a: str, b: str, metric: str = "total_cost_usd") -> np.ndarray:
    """The per-replication saving of ``a`` over ``b``, ``b − a`` of ``metric`` matched on ``run``
    (the one sign of every output: positive where ``a`` is lower), sorted by run."""
    sub = runs_df[runs_df["strategy"].isin([a, b])]
    if sub.duplicated(["run", "strategy"]).any():
        raise ValueError("duplicate (run, strategy) rows: cannot pair runs")
    wide = sub.set_index(["run", "strategy"])[metric].astype(float).unstack("strategy")
    if a not in wide.columns or b not in wide.columns:
        raise ValueError(f"need both strategies {a!r} and {b!r}")
    return (wide[b] - wide[a]).dropna().sort_index().to_numpy()


def saving_shares(saving: np.ndarray, rtol: float = 1e-9) -> dict[str, float]:
    """Shares of replications where the saving is positive, negative or zero (within ``rtol`` of
    the largest |saving|: rounding noise of equal costs counts as zero)."""
    x = np.asarray(saving, dtype=float)
    if x.size == 0:
        return {"positive": math.nan, "negative": math.nan, "zero": math.nan}
    tol = rtol * float(np.max(np.abs(x))) if x.size else 0.0
    pos, neg = float(np.mean(x > tol)), float(np.mean(x < -tol))
    return {"positive": pos, "negative": neg, "zero": 1.0 - pos - neg}
