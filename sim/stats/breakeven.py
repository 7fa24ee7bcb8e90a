"""Break-even: where the paired difference of two strategies changes sign along a sweep, with a bootstrap interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.interpolate import PchipInterpolator

from sim.stats.common import (
    _check_confidence,
    mean_interval_of,
)
from sim.stats.paired import (
    paired_frame,
)


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

    mean, _, se, half = mean_interval_of(d, confidence)
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
