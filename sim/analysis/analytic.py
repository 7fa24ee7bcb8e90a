"""Closed forms for restart-from-scratch vs durable (per-step resume) execution.

Used to cross-check the simulator and to give instant answers. Units are in the names:
``_s`` seconds, ``_usd`` dollars, ``rate_per_s`` failures per second (λ = 1/MTBF).
Shared assumptions unless a docstring says otherwise: one worker; a failure kills the
attempt in flight at once; no failure strikes while the worker is down; retries start
right after the downtime (any fixed detection delay, restart time or backoff is folded
into ``downtime_s``); durable persistence costs no time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import integrate, optimize

__all__ = [
    "breakeven_crash_rate_per_s",
    "breakeven_failure_probability",
    "daly_completion_time_s",
    "daly_interval_s",
    "durable_compute_cost_exponential_usd",
    "durable_expected_cost_usd",
    "durable_makespan_exponential_s",
    "durable_step_attempts",
    "durable_wasted_compute_exponential_s",
    "erlang_c",
    "mmc_mean_wait_s",
    "restart_compute_cost_exponential_usd",
    "restart_expected_cost_usd",
    "restart_makespan_exponential_s",
    "restart_makespan_general_s",
    "restart_pipeline_attempts",
    "restart_step_attempts",
    "restart_wasted_compute_exponential_s",
    "restart_wasted_cost_usd",
    "single_failure_breakeven_probability",
    "young_interval_s",
]


def _check_rate(rate_per_s: float) -> None:
    if not rate_per_s >= 0 or not math.isfinite(rate_per_s):
        raise ValueError(f"rate_per_s must be finite and >= 0, got {rate_per_s}")


def _check_probabilities(p: Sequence[float]) -> np.ndarray:
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("need a non-empty sequence of per-step failure probabilities")
    if np.any(arr < 0) or np.any(arr >= 1):
        raise ValueError(f"failure probabilities must be in [0, 1), got {arr.tolist()}")
    return arr


def _expm1_over(rate_per_s: float, t: np.ndarray | float) -> np.ndarray | float:
    """(exp(λt) − 1)/λ, equal to t at λ = 0."""
    if rate_per_s == 0:
        return t
    return np.expm1(rate_per_s * np.asarray(t, dtype=float)) / rate_per_s


# --------------------------------------------------------------------------- crashes


def restart_makespan_exponential_s(
    work_s: float, rate_per_s: float, downtime_s: float = 0.0
) -> float:
    """E[makespan] of restart-from-scratch: (1/λ + D)(exp(λT) − 1).

    Work T, exponential times to failure at rate λ (memoryless, so renewal does not
    matter), downtime D after each failure.
    """
    _check_rate(rate_per_s)
    if rate_per_s == 0:
        return float(work_s)
    return float((1.0 / rate_per_s + downtime_s) * math.expm1(rate_per_s * work_s))


def durable_makespan_exponential_s(
    step_work_s: Sequence[float], rate_per_s: float, downtime_s: float = 0.0
) -> float:
    """E[makespan] of per-step resume: Σ_i (1/λ + D)(exp(λ t_i) − 1).

    Each step restarts on its own after a failure; completed steps are never redone.
    """
    return float(
        sum(restart_makespan_exponential_s(t, rate_per_s, downtime_s) for t in step_work_s)
    )


def restart_makespan_general_s(
    work_s: float, survival: Callable[[float], float], downtime_s: float = 0.0
) -> float:
    """E[makespan] of restart-from-scratch for i.i.d. times to failure with survival S.

    ∫_0^T S(u) du / S(T) + D(1/S(T) − 1). Each attempt starts a fresh failure clock
    (``renew_on_restart = true``); the number of failed attempts is geometric with mean
    1/S(T) − 1. Integrated with ``scipy.integrate.quad``.
    """
    s_t = float(survival(work_s))
    if not s_t > 0:
        raise ValueError(f"S(T) = {s_t}: the work can never finish")
    area, _err = integrate.quad(survival, 0.0, work_s, limit=200)
    return float(area / s_t + downtime_s * (1.0 / s_t - 1.0))


def restart_wasted_compute_exponential_s(work_s: float, rate_per_s: float) -> float:
    """E[wasted compute] of restart, zero delays: (exp(λT) − 1)/λ − T.

    With no downtime and all time spent computing, wasted = makespan − T.
    """
    _check_rate(rate_per_s)
    return float(_expm1_over(rate_per_s, work_s) - work_s)


def durable_wasted_compute_exponential_s(step_work_s: Sequence[float], rate_per_s: float) -> float:
    """E[wasted compute] of per-step resume, zero delays: Σ_i [(exp(λ t_i) − 1)/λ − t_i]."""
    _check_rate(rate_per_s)
    t = np.asarray(step_work_s, dtype=float)
    return float(np.sum(_expm1_over(rate_per_s, t) - t))


def restart_compute_cost_exponential_usd(
    step_work_s: Sequence[float], price_per_s: float | Sequence[float], rate_per_s: float
) -> float:
    """E[compute cost] of restart, exponential crashes, price p_k per busy second of step k.

    exp(λT) · Σ_k p_k · exp(−λ T_{k−1}) · (1 − exp(−λ t_k))/λ, with T_{k−1} the work before
    step k: exp(λT) pipeline attempts on average, and an attempt reaches step k with
    probability exp(−λ T_{k−1}) and then computes E[min(X, t_k)] in it. Killed time is billed.
    With one price this is p · (exp(λT) − 1)/λ.
    """
    _check_rate(rate_per_s)
    t = np.asarray(step_work_s, dtype=float)
    price = np.broadcast_to(np.asarray(price_per_s, dtype=float), t.shape)
    if rate_per_s == 0:
        return float(np.sum(price * t))
    before = np.concatenate([[0.0], np.cumsum(t)[:-1]])
    lam = rate_per_s
    # exp(λT − λT_{k−1}) (1 − exp(−λ t_k))/λ = exp(λ(T − T_k)) (exp(λ t_k) − 1)/λ
    after = t.sum() - before - t
    return float(np.sum(price * np.exp(lam * after) * np.expm1(lam * t) / lam))


def durable_compute_cost_exponential_usd(
    step_work_s: Sequence[float], price_per_s: float | Sequence[float], rate_per_s: float
) -> float:
    """E[compute cost] of per-step resume: Σ_k p_k (exp(λ t_k) − 1)/λ (killed time billed)."""
    _check_rate(rate_per_s)
    t = np.asarray(step_work_s, dtype=float)
    price = np.broadcast_to(np.asarray(price_per_s, dtype=float), t.shape)
    return float(np.sum(price * _expm1_over(rate_per_s, t)))


def breakeven_crash_rate_per_s(
    step_work_s: Sequence[float],
    price_per_s: float | Sequence[float],
    durable_overhead_usd: float,
) -> float:
    """Crash rate λ at which durable and restart have equal expected total cost.

    Solves restart_compute_cost(λ) = durable_compute_cost(λ) + overhead with ``brentq``,
    cost linear in busy time (see the two ``*_compute_cost_exponential_usd``) and a fixed
    durable overhead per run. Below this rate restart is cheaper, above it durable.
    Raises ValueError if restart never costs more (e.g. a single step).
    """
    if durable_overhead_usd < 0:
        raise ValueError("durable_overhead_usd must be >= 0")
    if durable_overhead_usd == 0:
        return 0.0
    t = np.asarray(step_work_s, dtype=float)
    price = np.broadcast_to(np.asarray(price_per_s, dtype=float), t.shape)
    total = float(t.sum())
    after = total - np.cumsum(t)  # work after step k

    def gap(lam: float) -> float:
        # restart − durable = Σ_k p_k (exp(λ t_k) − 1)/λ · (exp(λ(T − T_k)) − 1), no cancellation
        if lam == 0:
            return -durable_overhead_usd
        excess = np.sum(price * np.expm1(lam * t) / lam * np.expm1(lam * after))
        return float(excess) - durable_overhead_usd

    hi = 1.0 / total
    while gap(hi) <= 0:
        hi *= 2.0
        if hi * total > 700:  # exp overflow: restart never pays more than the overhead
            raise ValueError(
                "no break-even crash rate: restart's excess cost never reaches the overhead"
            )
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-15 / total, rtol=1e-12))


# --------------------------------------------------------------------------- per-attempt failures


def restart_pipeline_attempts(p: float, n_steps: int) -> float:
    """E[pipeline attempts] of restart when each of n steps fails w.p. p per attempt: (1−p)^(−n)."""
    _check_probabilities([p])
    return float((1.0 - p) ** (-n_steps))


def durable_step_attempts(p: float, n_steps: int) -> float:
    """E[step attempts] of per-step resume with failure probability p per attempt: n/(1−p)."""
    _check_probabilities([p])
    return float(n_steps / (1.0 - p))


def restart_step_attempts(p_steps: Sequence[float]) -> float:
    """E[step attempts] of restart when step i fails w.p. p_i per attempt (independent).

    Σ_k Q_{k−1} / Q_n with Q_k = Π_{i≤k}(1 − p_i), Q_0 = 1: a pipeline attempt tries step k
    with probability Q_{k−1}, and there are 1/Q_n pipeline attempts (Wald's identity).
    Equal p: (1 − q^n)/(p q^n), q = 1 − p.
    """
    p = _check_probabilities(p_steps)
    q = np.concatenate([[1.0], np.cumprod(1.0 - p)])
    return float(q[:-1].sum() / q[-1])


def restart_expected_cost_usd(step_cost_usd: Sequence[float], p_steps: Sequence[float]) -> float:
    """E[cost] of restart: Σ_k c_k Q_k / Q_n, Q_k = Π_{i≤k}(1 − p_i).

    Step k costs c_k per completed attempt; a failure of step k happens at its start (a 429:
    fails fast, costs nothing) with probability p_k; a failure restarts the pipeline at step 1.
    """
    p = _check_probabilities(p_steps)
    c = np.asarray(step_cost_usd, dtype=float)
    if c.shape != p.shape:
        raise ValueError(f"{c.size} step costs but {p.size} failure probabilities")
    q = np.cumprod(1.0 - p)
    return float(np.sum(c * q) / q[-1])


def restart_wasted_cost_usd(step_cost_usd: Sequence[float], p_steps: Sequence[float]) -> float:
    """E[wasted cost] of restart: Σ_k c_k Q_k / Q_n − Σ_k c_k (fail-fast failures).

    If only the last step fails, w.p. p: (Σ_{k<n} c_k) · p/(1 − p).
    """
    return restart_expected_cost_usd(step_cost_usd, p_steps) - float(np.sum(step_cost_usd))


def durable_expected_cost_usd(
    step_cost_usd: Sequence[float],
    p_steps: Sequence[float],
    overhead_usd: float = 0.0,
    per_action_usd: float = 0.0,
) -> float:
    """E[cost] of per-step resume with fail-fast failures: Σ c_k + overhead + per_action · E[actions].

    Each step completes exactly once; failed attempts cost nothing. Billable actions are the
    workflow start plus one per step attempt: 1 + Σ_k 1/(1 − p_k).
    """
    p = _check_probabilities(p_steps)
    c = np.asarray(step_cost_usd, dtype=float)
    if c.shape != p.shape:
        raise ValueError(f"{c.size} step costs but {p.size} failure probabilities")
    actions = 1.0 + float(np.sum(1.0 / (1.0 - p)))
    return float(c.sum() + overhead_usd + per_action_usd * actions)


def breakeven_failure_probability(
    step_cost_usd: Sequence[float],
    durable_overhead_usd: float,
    failing_steps: Sequence[bool] | None = None,
    per_action_usd: float = 0.0,
) -> float:
    """Failure probability p at which durable and restart have equal expected cost.

    The steps flagged in ``failing_steps`` (default: all) fail w.p. p at their start
    (fail fast, no cost). Solves restart_expected_cost(p) = durable_expected_cost(p) with
    ``brentq``; with ``per_action_usd = 0`` this is "restart's wasted cost = overhead".
    Example: only the last step fails, earlier steps cost C: C·p/(1−p) = overhead, so
    p = overhead/(C + overhead) (C = 0.0307, overhead = 0.0045: p ≈ 0.128).
    """
    c = np.asarray(step_cost_usd, dtype=float)
    mask = np.ones(c.size, bool) if failing_steps is None else np.asarray(failing_steps, bool)
    if mask.shape != c.shape:
        raise ValueError(f"{c.size} step costs but {mask.size} failing_steps flags")

    def gap(p: float) -> float:
        ps = np.where(mask, p, 0.0)
        return restart_expected_cost_usd(c, ps) - durable_expected_cost_usd(
            c, ps, durable_overhead_usd, per_action_usd
        )

    lo, hi = 0.0, 1.0 - 1e-12
    g_lo, g_hi = gap(lo), gap(hi)
    if g_lo >= 0:
        return 0.0
    if not g_hi > 0:
        raise ValueError("no break-even: restart is never more expensive than durable")
    return float(optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=1e-12))


def single_failure_breakeven_probability(
    wasted_cost_per_failure_usd: float, durable_overhead_usd: float
) -> float:
    """Break-even p if at most one failure happens: p · C_wasted = overhead, p = overhead/C.

    First-order approximation of :func:`breakeven_failure_probability` (it ignores repeated
    failures, so it overestimates p): 0.0045/0.0307 ≈ 0.147.
    """
    if not wasted_cost_per_failure_usd > 0:
        raise ValueError("wasted_cost_per_failure_usd must be > 0")
    return float(durable_overhead_usd / wasted_cost_per_failure_usd)


# --------------------------------------------------------------------------- checkpointing


def young_interval_s(checkpoint_cost_s: float, mtbf_s: float) -> float:
    """Young's first-order optimal checkpoint interval √(2 C M)."""
    return math.sqrt(2.0 * checkpoint_cost_s * mtbf_s)


def daly_interval_s(checkpoint_cost_s: float, mtbf_s: float) -> float:
    """Daly's higher-order optimal compute time between checkpoints.

    For C < 2M: √(2CM)·[1 + (1/3)√(C/(2M)) + (1/9)(C/(2M))] − C; otherwise M.
    Exponential failures with MTBF M, checkpoint cost C (Daly 2006).
    """
    c, m = checkpoint_cost_s, mtbf_s
    if c >= 2.0 * m:
        return float(m)
    r = c / (2.0 * m)
    return float(math.sqrt(2.0 * c * m) * (1.0 + math.sqrt(r) / 3.0 + r / 9.0) - c)


def daly_completion_time_s(
    work_s: float, interval_s: float, checkpoint_cost_s: float, restart_s: float, mtbf_s: float
) -> float:
    """Daly's expected wall time: T_w = M·exp(R/M)·(exp((τ + C)/M) − 1)·T/τ.

    Work T split in T/τ segments of τ compute + C checkpoint; exponential failures with MTBF M
    can strike during compute, checkpoint and the restart R; a failure loses the segment.
    """
    m, tau = mtbf_s, interval_s
    if not tau > 0:
        raise ValueError("interval_s must be > 0")
    return float(
        m * math.exp(restart_s / m) * math.expm1((tau + checkpoint_cost_s) / m) * work_s / tau
    )


# --------------------------------------------------------------------------- task queues


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: the probability that an arrival waits in an M/M/n queue with ``servers`` = n
    servers and offered load a = λ/μ < n (here n = workers × activity slots)."""
    n, a = int(servers), float(offered_load)
    if n < 1 or not 0.0 <= a < n:
        raise ValueError("need servers >= 1 and 0 <= offered_load < servers")
    term, below = 1.0, 1.0  # a^k/k! for k = 0, and the sum over k < n
    for k in range(1, n):
        term *= a / k
        below += term
    top = term * a / n * n / (n - a)  # a^n/n! · n/(n − a)
    return float(top / (below + top))


def mmc_mean_wait_s(servers: int, arrival_rate_per_s: float, service_rate_per_s: float) -> float:
    """Mean wait in queue of M/M/n (FIFO): C(n, λ/μ) / (nμ − λ)."""
    a = arrival_rate_per_s / service_rate_per_s
    return erlang_c(servers, a) / (servers * service_rate_per_s - arrival_rate_per_s)
