"""Statistics on results DataFrames: summaries, paired differences, stopping rules, break-even.

Every function takes the tidy results of ``sim.simulate`` or a sweep (one row per
replication × strategy, see ``docs/model.md`` section 3) and returns a tidy DataFrame or a
small dataclass. Intervals are Student t intervals; the break-even interval is a percentile
bootstrap over whole replications. Nothing here uses a global random number generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.interpolate import PchipInterpolator

__all__ = [
    "BreakEven",
    "StoppingReport",
    "breakeven",
    "default_metrics",
    "paired_differences",
    "paired_frame",
    "replications_needed",
    "run_until",
    "summarize",
    "t_half_width",
]

#: Columns that identify a row rather than measure something.
IDENTITY_COLUMNS = frozenset({"scenario", "strategy", "run", "seed", "engine"})


# --------------------------------------------------------------------------- helpers


def _as_tuple(by: str | Sequence[str] | None) -> tuple[str, ...]:
    if by is None:
        return ()
    if isinstance(by, str):
        return (by,)
    return tuple(by)


def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: column(s) {missing} not in the DataFrame (has {list(df.columns)})")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def default_metrics(df: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric, non-boolean columns that are measurements.

    Excludes identity columns (``run``, ``seed``, ...), dotted sweep columns
    (``failures.crash.mtbf``) and anything in ``exclude``.
    """
    skip = set(exclude) | IDENTITY_COLUMNS
    out = []
    for col in df.columns:
        if col in skip or "." in str(col):
            continue
        dtype = df[col].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            continue
        out.append(col)
    return out


def t_half_width(
    se: np.ndarray | float, n: np.ndarray | float, confidence: float = 0.95
) -> np.ndarray | float:
    """Half-width ``t_{(1+c)/2, n-1} · se`` of a Student t interval (NaN when n < 2)."""
    _check_confidence(confidence)
    n_arr = np.asarray(n, dtype=float)
    dof = np.where(n_arr >= 2, n_arr - 1, np.nan)
    half = sps.t.ppf(0.5 + confidence / 2, dof) * np.asarray(se, dtype=float)
    return float(half) if np.ndim(half) == 0 else half


def _grouped(df: pd.DataFrame, by: tuple[str, ...]) -> pd.api.typing.DataFrameGroupBy:
    return df.groupby(list(by), sort=True, dropna=False, observed=True)


# --------------------------------------------------------------------------- summaries


def summarize(
    df: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    by: str | Sequence[str] = ("strategy",),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per group × metric: n, mean, std, se, ci_low, ci_high, p50, p95, p99.

    ``n`` counts non-missing values; ``std`` uses ddof=1; the interval is
    ``mean ± t_{(1+c)/2, n-1} · std/√n`` (NaN when n < 2). Percentiles interpolate linearly.
    ``by`` may include sweep columns; ``by=()`` summarises the whole frame.
    """
    _check_confidence(confidence)
    by_t = _as_tuple(by)
    _require_columns(df, by_t, "summarize(by=...)")
    metric_list = list(metrics) if metrics is not None else default_metrics(df, exclude=by_t)
    _require_columns(df, metric_list, "summarize(metrics=...)")
    if not metric_list:
        raise ValueError("summarize: no metric columns to summarise")

    data = df[list(by_t) + metric_list].copy()
    data[metric_list] = data[metric_list].astype(float)
    keys = by_t if by_t else ("_all",)
    if not by_t:
        data["_all"] = 0

    grouped = _grouped(data, keys)[metric_list]
    parts = {
        "n": grouped.count(),
        "mean": grouped.mean(),
        "std": grouped.std(ddof=1),
    }
    quantiles = grouped.quantile([0.5, 0.95, 0.99])
    long = pd.concat({k: v.stack() for k, v in parts.items()}, axis=1)
    long.index = long.index.set_names([*keys, "metric"])
    for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        qf = quantiles.xs(q, level=-1)
        long[name] = qf.stack().reindex(long.index)

    long["n"] = long["n"].astype(int)
    long["se"] = long["std"] / np.sqrt(long["n"].where(long["n"] > 0))
    half = t_half_width(long["se"].to_numpy(), long["n"].to_numpy(), confidence)
    long["ci_low"] = long["mean"] - half
    long["ci_high"] = long["mean"] + half
    out = long.reset_index()
    if not by_t:
        out = out.drop(columns="_all")
    cols = [*by_t, "metric", "n", "mean", "std", "se", "ci_low", "ci_high", "p50", "p95", "p99"]
    return out[cols]


# --------------------------------------------------------------------------- paired differences


def paired_frame(
    df: pd.DataFrame,
    a: str,
    b: str,
    metrics: Sequence[str],
    by: str | Sequence[str] = (),
) -> pd.DataFrame:
    """Wide frame of paired rows: index (by..., run), columns ``(metric, a|b)``.

    Raises ValueError when a (by, run) key is duplicated or present for one strategy only.
    """
    by_t = _as_tuple(by)
    metrics = list(metrics)
    _require_columns(df, ["strategy", "run", *by_t, *metrics], "paired rows")
    if a == b:
        raise ValueError(f"paired differences need two different strategies, got {a!r} twice")
    keys = [*by_t, "run"]
    sides = {}
    for label in (a, b):
        part = df.loc[df["strategy"] == label, keys + metrics]
        if part.empty:
            present = sorted(map(str, df["strategy"].unique()))
            raise ValueError(f"no rows for strategy {label!r} (strategies present: {present})")
        dup = part.duplicated(subset=keys)
        if dup.any():
            example = part.loc[dup, keys].iloc[0].to_dict()
            raise ValueError(
                f"strategy {label!r} has {int(dup.sum())} duplicated (by, run) keys, e.g. {example}; "
                f"add the distinguishing column(s) to `by`"
            )
        sides[label] = part.set_index(keys)
    idx_a, idx_b = sides[a].index, sides[b].index
    only_a = idx_a.difference(idx_b)
    only_b = idx_b.difference(idx_a)
    if len(only_a) or len(only_b):
        raise ValueError(
            f"runs do not pair: {len(only_a)} (by, run) key(s) only in {a!r} "
            f"(e.g. {list(only_a[:3])}), {len(only_b)} only in {b!r} (e.g. {list(only_b[:3])})"
        )
    joined = pd.concat({a: sides[a], b: sides[b].reindex(idx_a)}, axis=1)
    joined = joined.swaplevel(0, 1, axis=1).sort_index(axis=1).sort_index()
    return joined.astype(float)


def paired_differences(
    df: pd.DataFrame,
    a: str,
    b: str,
    metrics: Sequence[str] | None = None,
    by: str | Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean of the per-replication difference a − b, one row per group × metric.

    Rows are paired on ``run`` and the ``by`` columns (common random numbers make the pairs
    share their failure environment). Columns: n, mean_a, mean_b, mean_diff, std_diff, se,
    ci_low, ci_high (t interval), rel_diff = mean_a/mean_b − 1 with a delta-method t interval
    (rel_se = std(a − r·b)/(√n·|mean_b|), r = mean_a/mean_b). Pairs with a missing value are
    dropped per metric.
    """
    _check_confidence(confidence)
    by_t = _as_tuple(by)
    metric_list = (
        list(metrics) if metrics is not None else default_metrics(df, exclude=(*by_t, "strategy"))
    )
    if not metric_list:
        raise ValueError("paired_differences: no metric columns")
    wide = paired_frame(df, a, b, metric_list, by_t)
    q = sps.t.ppf  # local alias
    rows = []
    groups = wide.groupby(level=list(by_t), sort=True, dropna=False) if by_t else [((), wide)]
    for key, part in groups:
        key_t = key if isinstance(key, tuple) else (key,)
        for metric in metric_list:
            xa = part[(metric, a)].to_numpy()
            xb = part[(metric, b)].to_numpy()
            ok = ~(np.isnan(xa) | np.isnan(xb))
            xa, xb = xa[ok], xb[ok]
            n = xa.size
            d = xa - xb
            mean_a = float(xa.mean()) if n else math.nan
            mean_b = float(xb.mean()) if n else math.nan
            mean_d = float(d.mean()) if n else math.nan
            std_d = float(d.std(ddof=1)) if n >= 2 else math.nan
            se = std_d / math.sqrt(n) if n >= 2 else math.nan
            tq = float(q(0.5 + confidence / 2, n - 1)) if n >= 2 else math.nan
            if n and mean_b != 0:
                ratio = mean_a / mean_b
                rel = ratio - 1.0
                rel_se = (
                    float((xa - ratio * xb).std(ddof=1)) / (math.sqrt(n) * abs(mean_b))
                    if n >= 2
                    else math.nan
                )
            else:
                rel, rel_se = math.nan, math.nan
            rows.append(
                (
                    *key_t,
                    metric,
                    n,
                    mean_a,
                    mean_b,
                    mean_d,
                    std_d,
                    se,
                    mean_d - tq * se,
                    mean_d + tq * se,
                    rel,
                    rel - tq * rel_se,
                    rel + tq * rel_se,
                )
            )
    cols = [
        *by_t,
        "metric",
        "n",
        "mean_a",
        "mean_b",
        "mean_diff",
        "std_diff",
        "se",
        "ci_low",
        "ci_high",
        "rel_diff",
        "rel_ci_low",
        "rel_ci_high",
    ]
    out = pd.DataFrame(rows, columns=cols)
    out.insert(len(by_t), "a", a)
    out.insert(len(by_t) + 1, "b", b)
    return out


# --------------------------------------------------------------------------- stopping rules


def replications_needed(
    se: float, n: int, target_half_width: float, confidence: float = 0.95
) -> int:
    """Total replications m whose t half-width would reach ``target_half_width``.

    Uses the current standard deviation estimate s = se·√n and returns the smallest m ≥ 2
    with ``t_{(1+c)/2, m-1} · s/√m ≤ target`` (may be less than n if already met).
    """
    _check_confidence(confidence)
    if n < 2:
        raise ValueError(f"need at least 2 replications to estimate the spread, got n={n}")
    if not target_half_width > 0:
        raise ValueError(f"target_half_width must be > 0, got {target_half_width}")
    if not math.isfinite(se) or se < 0:
        raise ValueError(f"se must be finite and >= 0, got {se}")
    s = se * math.sqrt(n)
    p = 0.5 + confidence / 2

    def ok(m: int) -> bool:
        return float(sps.t.ppf(p, m - 1)) * s / math.sqrt(m) <= target_half_width

    z = float(sps.norm.ppf(p))
    lo = max(2, math.ceil((z * s / target_half_width) ** 2))  # t > z, so m >= this
    if ok(lo):
        # every m < lo fails even with z in place of t (t > z), so lo is the smallest
        return lo
    hi = lo * 2
    while not ok(hi):
        hi *= 2
    while hi - lo > 1:  # invariant: not ok(lo), ok(hi)
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class StoppingReport:
    """Outcome of :func:`run_until`."""

    runs: int
    batches: int
    mean: float
    half_width: float
    target_half_width: float
    met: bool
    metric: str
    confidence: float


def _estimate(
    df: pd.DataFrame,
    metric: str,
    strategy: str | None,
    paired: tuple[str, str] | None,
    confidence: float,
) -> tuple[float, float, int]:
    if paired is not None:
        row = paired_differences(df, paired[0], paired[1], [metric], confidence=confidence)
        return float(row["mean_diff"].iloc[0]), float(row["se"].iloc[0]), int(row["n"].iloc[0])
    if strategy is not None:
        values = df.loc[df["strategy"] == strategy, metric]
        if values.empty:
            raise ValueError(f"no rows for strategy {strategy!r}")
    else:
        if "strategy" in df.columns and df["strategy"].nunique() > 1:
            raise ValueError("results hold several strategies: pass strategy=... or paired=(a, b)")
        values = df[metric]
    x = values.dropna().to_numpy(dtype=float)
    n = x.size
    se = float(x.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
    return (float(x.mean()) if n else math.nan), se, n


def run_until(
    simulate_batch: Callable[[int, int], pd.DataFrame],
    metric: str,
    target: float,
    relative: bool = True,
    strategy: str | None = None,
    paired: tuple[str, str] | None = None,
    batch: int = 200,
    min_runs: int = 100,
    max_runs: int = 100_000,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, StoppingReport]:
    """Add replications until the t half-width of the mean reaches ``target``.

    ``simulate_batch(first_run, n_runs)`` must return the rows of runs
    ``first_run .. first_run + n_runs - 1``. The estimate is the mean of ``metric`` for
    ``strategy`` (or the only strategy), or the paired mean difference a − b when
    ``paired=(a, b)``. The target is absolute, or relative to |mean| when ``relative``.
    After ``min_runs``, each step adds the projected shortfall (:func:`replications_needed`)
    rounded up to a multiple of ``batch``, never more than ``max_runs`` in all. Deterministic
    when ``simulate_batch`` is.
    """
    _check_confidence(confidence)
    if strategy is not None and paired is not None:
        raise ValueError("pass strategy or paired, not both")
    if not target > 0:
        raise ValueError(f"target must be > 0, got {target}")
    if batch < 1 or min_runs < 2 or max_runs < min_runs:
        raise ValueError(
            f"need batch >= 1, min_runs >= 2, max_runs >= min_runs (got {batch}, {min_runs}, {max_runs})"
        )
    frames: list[pd.DataFrame] = []
    runs = 0
    batches = 0
    todo = min_runs
    while True:
        part = simulate_batch(runs, todo)
        if "run" in part.columns and len(part):
            lo, hi = int(part["run"].min()), int(part["run"].max())
            if lo < runs or hi >= runs + todo:
                raise ValueError(
                    f"simulate_batch({runs}, {todo}) returned runs {lo}..{hi}, "
                    f"outside {runs}..{runs + todo - 1}"
                )
        frames.append(part)
        runs += todo
        batches += 1
        df = pd.concat(frames, ignore_index=True)
        mean, se, n = _estimate(df, metric, strategy, paired, confidence)
        half = float(t_half_width(se, n, confidence))
        goal = target * abs(mean) if relative else target
        met = bool(half <= goal) if math.isfinite(half) else False
        if met or runs >= max_runs or not goal > 0 or not math.isfinite(se):
            report = StoppingReport(
                runs=runs,
                batches=batches,
                mean=mean,
                half_width=half,
                target_half_width=goal,
                met=met,
                metric=metric,
                confidence=confidence,
            )
            return df, report
        # runs per replication index may exceed n when rows drop NaNs; scale the projection.
        need = replications_needed(se, n, goal, confidence) * runs / n
        shortfall = max(1, math.ceil(need) - runs)
        todo = min(math.ceil(shortfall / batch) * batch, max_runs - runs)


# --------------------------------------------------------------------------- break-even


@dataclass(frozen=True, eq=False)
class BreakEven:
    """Where the mean paired difference a − b of ``metric`` changes sign along ``x``.

    ``status`` is ``"crossing"`` or ``"no_crossing"``. ``a_lower`` says on which side of the
    crossing strategy a has the lower metric (``"above"``/``"below"`` in x); with no
    crossing, ``winner`` names the strategy lower at every swept point (None for a tie).
    ``ci_low``/``ci_high`` is the bootstrap percentile interval; ±inf means the interval
    runs beyond the swept range. ``fraction_no_crossing`` is the share of bootstrap samples
    without a crossing in the estimated direction. ``points`` holds the per-point paired
    means and t intervals.
    """

    x: str
    metric: str
    a: str
    b: str
    status: Literal["crossing", "no_crossing"]
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    a_lower: Literal["above", "below"] | None
    winner: str | None
    bracket: tuple[float, float] | None
    crossings: tuple[float, ...]
    fraction_no_crossing: float
    scale: Literal["linear", "log"]
    method: Literal["linear", "pchip"]
    n_runs: int
    n_boot: int
    points: pd.DataFrame
    message: str

    def __str__(self) -> str:
        return self.message


def _is_log_spaced(x: np.ndarray) -> bool:
    if x.size < 3 or np.any(x <= 0):
        return False
    dlog = np.diff(np.log(x))
    dlin = np.diff(x)
    log_uniform = np.allclose(dlog, dlog.mean(), rtol=1e-3, atol=0)
    lin_uniform = np.allclose(dlin, dlin.mean(), rtol=1e-3, atol=0)
    return bool(log_uniform and not lin_uniform)


def _crossing_matrix(
    df: pd.DataFrame, x: str, metric: str, a: str, b: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted x values, run ids, and matrices (points × runs) of a − b, a and b."""
    wide = paired_frame(df, a, b, [metric], by=(x,))
    diff = (wide[(metric, a)] - wide[(metric, b)]).rename("d")
    if diff.isna().any():
        raise ValueError(f"{metric!r} has missing values; break-even needs complete pairs")
    mat = diff.unstack("run")
    if mat.isna().any().any():
        counts = wide.groupby(level=x).size()
        raise ValueError(
            "break-even needs the same run indices at every sweep point (common random "
            f"numbers); runs per point: {counts.to_dict()}"
        )
    mat = mat.sort_index()
    xs = mat.index.to_numpy(dtype=float)
    mat_a = wide[(metric, a)].unstack("run").loc[mat.index, mat.columns].to_numpy(float)
    mat_b = wide[(metric, b)].unstack("run").loc[mat.index, mat.columns].to_numpy(float)
    return xs, mat.columns.to_numpy(), mat.to_numpy(dtype=float), np.stack([mat_a, mat_b])


def _roots(
    u: np.ndarray,
    m: np.ndarray,
    method: Literal["linear", "pchip"],
    direction: int,
    target_bracket: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crossings of each column of ``m`` (points × samples) in coordinate ``u``.

    direction +1: from ≤ 0 to > 0 as u grows; −1: the reverse; 0: either. Picks per column
    the qualifying bracket nearest to ``target_bracket`` (the first one when None).
    Returns (root in u or NaN, chosen bracket index or −1, any sign change at all).
    """
    pos = m > 0
    change = pos[1:] != pos[:-1]  # (P-1, B)
    if direction > 0:
        valid = change & pos[1:]
    elif direction < 0:
        valid = change & ~pos[1:]
    else:
        valid = change
    n_br, n_s = valid.shape
    j = np.arange(n_br)[:, None]
    if target_bracket is None:
        rank = np.broadcast_to(j, valid.shape)
    else:  # nearest to target_bracket; on a tie the lower bracket
        rank = 2 * np.abs(j - target_bracket) + (j > target_bracket)
    dist = np.where(valid, rank, np.iinfo(np.int64).max)
    jb = np.argmin(dist, axis=0)
    has = valid[jb, np.arange(n_s)]
    cols = np.arange(n_s)
    u0, u1 = u[jb], u[jb + 1]
    m0, m1 = m[jb, cols], m[jb + 1, cols]
    if method == "linear":
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(m0 == m1, 0.0, m0 / (m0 - m1))
        root = u0 + (u1 - u0) * frac
    else:
        pp = PchipInterpolator(u, m, axis=0)
        c = pp.c[:, jb, cols]  # (4, B): c0 s^3 + c1 s^2 + c2 s + c3, s = u - u0
        lo = np.zeros(n_s)
        hi = u1 - u0
        f_lo = m0
        for _ in range(60):  # bisection, vectorised; the segment is monotone (PCHIP)
            mid = 0.5 * (lo + hi)
            f_mid = ((c[0] * mid + c[1]) * mid + c[2]) * mid + c[3]
            same = (f_mid > 0) == (f_lo > 0)
            lo = np.where(same, mid, lo)
            f_lo = np.where(same, f_mid, f_lo)
            hi = np.where(same, hi, mid)
        root = u0 + 0.5 * (lo + hi)
    root = np.where(has, root, np.nan)
    return root, np.where(has, jb, -1), change.any(axis=0)


def breakeven(
    df: pd.DataFrame,
    x: str,
    metric: str = "total_cost_usd",
    a: str = "durable",
    b: str = "restart",
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int | np.random.Generator = 0,
    scale: Literal["auto", "linear", "log"] = "auto",
    method: Literal["linear", "pchip"] = "linear",
) -> BreakEven:
    """Value of sweep column ``x`` where mean(a − b) of ``metric`` changes sign.

    The per-point paired means are interpolated between the first bracketing pair of sweep
    points (linearly, or with a monotone PCHIP fit when ``method="pchip"``) in x, or in log x
    when ``scale="log"`` (``"auto"``: log when all x > 0 and the grid is geometric). The
    interval is a percentile bootstrap: whole run indices are resampled, the same resample at
    every point, and the crossing is recomputed (nearest bracket of the same direction).
    """
    _check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    xs, _runs, d, ab = _crossing_matrix(df, x, metric, a, b)
    n_pts, n_runs = d.shape
    if n_pts < 2:
        raise ValueError(f"break-even needs at least 2 values of {x!r}, got {n_pts}")
    if n_runs < 2:
        raise ValueError("break-even needs at least 2 replications per point")

    if scale == "auto":
        scale_used: Literal["linear", "log"] = "log" if _is_log_spaced(xs) else "linear"
    elif scale == "log":
        if np.any(xs <= 0):
            raise ValueError("scale='log' needs all x > 0")
        scale_used = "log"
    elif scale == "linear":
        scale_used = "linear"
    else:
        raise ValueError(f"scale must be 'auto', 'linear' or 'log', got {scale!r}")
    if method not in ("linear", "pchip"):
        raise ValueError(f"method must be 'linear' or 'pchip', got {method!r}")
    u = np.log(xs) if scale_used == "log" else xs
    to_x = np.exp if scale_used == "log" else (lambda v: v)

    mean = d.mean(axis=1)
    sd = d.std(axis=1, ddof=1)
    se = sd / math.sqrt(n_runs)
    half = t_half_width(se, np.full(n_pts, n_runs), confidence)
    points = pd.DataFrame(
        {
            x: xs,
            "n": n_runs,
            "mean_a": ab[0].mean(axis=1),
            "mean_b": ab[1].mean(axis=1),
            "mean_diff": mean,
            "se": se,
            "ci_low": mean - half,
            "ci_high": mean + half,
        }
    )
    points["lower"] = np.where(mean < 0, a, np.where(mean > 0, b, "tie"))
    points["significant"] = (points["ci_low"] > 0) | (points["ci_high"] < 0)

    # every crossing of the point estimate, for the record
    pos = mean > 0
    brackets = np.flatnonzero(pos[1:] != pos[:-1])
    all_roots = []
    for j in brackets:
        r, _, _ = _roots(u, mean[:, None], method, direction=0, target_bracket=int(j))
        all_roots.append(float(to_x(r[0])))

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    idx = rng.integers(0, n_runs, size=(n_boot, n_runs))
    offsets = (np.arange(n_boot) * n_runs)[:, None]
    weights = np.bincount((idx + offsets).ravel(), minlength=n_boot * n_runs)
    weights = weights.reshape(n_boot, n_runs).astype(float)
    boot = d @ weights.T / n_runs  # (points, n_boot)

    alpha = 1.0 - confidence
    if brackets.size == 0:
        _, _, any_change = _roots(u, boot, method, direction=0, target_bracket=None)
        if np.all(mean == 0):
            winner, lower_txt = None, f"{a} and {b} tie at every point"
        else:
            winner = a if np.all(mean <= 0) else b
            lower_txt = f"{winner} has the lower mean {metric} at every swept point"
        message = (
            f"no break-even in {x} ∈ [{xs[0]:g}, {xs[-1]:g}]: {lower_txt}; "
            f"{np.mean(any_change):.1%} of bootstrap samples show a sign change"
        )
        return BreakEven(
            x=x,
            metric=metric,
            a=a,
            b=b,
            status="no_crossing",
            estimate=math.nan,
            ci_low=math.nan,
            ci_high=math.nan,
            confidence=confidence,
            a_lower=None,
            winner=winner,
            bracket=None,
            crossings=(),
            scale=scale_used,
            method=method,
            fraction_no_crossing=float(1.0 - np.mean(any_change)),
            n_runs=n_runs,
            n_boot=n_boot,
            points=points,
            message=message,
        )

    j0 = int(brackets[0])
    direction = 1 if pos[j0 + 1] else -1
    est_u, _, _ = _roots(u, mean[:, None], method, direction, target_bracket=j0)
    estimate = float(to_x(est_u[0]))
    boot_u, boot_j, _ = _roots(u, boot, method, direction, target_bracket=j0)
    crossing_x = to_x(boot_u)
    none = boot_j < 0
    # samples entirely on one side put the crossing beyond the swept range
    all_pos = np.all(boot > 0, axis=0)
    all_nonpos = np.all(boot <= 0, axis=0)
    beyond_high = (all_nonpos & (direction > 0)) | (all_pos & (direction < 0))
    beyond_low = (all_pos & (direction > 0)) | (all_nonpos & (direction < 0))
    crossing_x = np.where(none & beyond_high, np.inf, crossing_x)
    crossing_x = np.where(none & beyond_low, -np.inf, crossing_x)
    finite_or_inf = crossing_x[~np.isnan(crossing_x)]
    if finite_or_inf.size:
        ci_low = float(np.quantile(finite_or_inf, alpha / 2, method="lower"))
        ci_high = float(np.quantile(finite_or_inf, 1 - alpha / 2, method="higher"))
    else:
        ci_low = ci_high = math.nan
    a_lower: Literal["above", "below"] = "below" if direction > 0 else "above"
    lo_txt, hi_txt = (b, a) if a_lower == "above" else (a, b)
    extra = f"; {len(all_roots)} sign changes in the point estimate" if len(all_roots) > 1 else ""
    message = (
        f"break-even {x} ≈ {estimate:.6g} ({confidence:.0%} CI {ci_low:.6g} – {ci_high:.6g}); "
        f"{lo_txt} has the lower {metric} below it, {hi_txt} above it; "
        f"{np.mean(none):.1%} of {n_boot} bootstrap samples have no crossing{extra}"
    )
    return BreakEven(
        x=x,
        metric=metric,
        a=a,
        b=b,
        status="crossing",
        estimate=estimate,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        a_lower=a_lower,
        winner=None,
        bracket=(float(xs[j0]), float(xs[j0 + 1])),
        crossings=tuple(all_roots),
        fraction_no_crossing=float(np.mean(none)),
        scale=scale_used,
        method=method,
        n_runs=n_runs,
        n_boot=n_boot,
        points=points,
        message=message,
    )
