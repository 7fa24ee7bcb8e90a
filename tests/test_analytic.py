"""Closed forms in sim.analysis.analytic against hand numbers and independent numpy Monte Carlo.

Monte Carlo tolerances are 4 standard errors with fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from sim.analysis import analytic as an

# --------------------------------------------------------------------------- MC helpers


def mc_restart_makespan(work_s, draw, downtime_s, n, rng):
    """Restart from scratch: attempt until a time to failure exceeds the work."""
    total = np.zeros(n)
    active = np.arange(n)
    while active.size:
        x = draw(rng, active.size)
        fail = x < work_s
        total[active] += np.where(fail, x + downtime_s, work_s)
        active = active[fail]
    return total


def exp_draw(rate):
    return lambda rng, k: rng.exponential(1.0 / rate, k)


def assert_within_4se(samples, expected):
    mean = samples.mean()
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    assert abs(mean - expected) <= 4 * se, (mean, expected, se)


# --------------------------------------------------------------------------- crashes


def test_restart_makespan_hand_value():
    # λT = 1, no downtime: 3600 (e − 1)
    assert an.restart_makespan_exponential_s(3600, 1 / 3600) == pytest.approx(6185.8146, abs=1e-3)
    # with downtime 600 s: (3600 + 600)(e − 1)
    assert an.restart_makespan_exponential_s(3600, 1 / 3600, 600) == pytest.approx(
        7216.7837, abs=1e-3
    )
    assert an.restart_makespan_exponential_s(3600, 0.0, 600) == 3600


def test_restart_makespan_exponential_vs_monte_carlo():
    rng = np.random.default_rng(11)
    work, rate, down = 5400.0, 1 / 4000, 300.0
    samples = mc_restart_makespan(work, exp_draw(rate), down, 200_000, rng)
    assert_within_4se(samples, an.restart_makespan_exponential_s(work, rate, down))


def test_durable_makespan_vs_monte_carlo():
    rng = np.random.default_rng(12)
    steps, rate, down = [1200.0, 3000.0, 600.0, 1800.0], 1 / 3000, 120.0
    samples = sum(mc_restart_makespan(t, exp_draw(rate), down, 100_000, rng) for t in steps)
    assert_within_4se(samples, an.durable_makespan_exponential_s(steps, rate, down))
    assert an.durable_makespan_exponential_s(steps, rate, down) < an.restart_makespan_exponential_s(
        sum(steps), rate, down
    )


def test_general_survival_matches_exponential_closed_form():
    rate = 1 / 2500
    got = an.restart_makespan_general_s(4000.0, lambda u: math.exp(-rate * u), 200.0)
    assert got == pytest.approx(an.restart_makespan_exponential_s(4000.0, rate, 200.0), rel=1e-9)


def test_general_survival_weibull_vs_monte_carlo():
    rng = np.random.default_rng(13)
    shape, scale, work, down = 1.7, 3000.0, 2500.0, 90.0

    def survival(u):
        return math.exp(-((u / scale) ** shape))

    samples = mc_restart_makespan(
        work, lambda g, k: scale * g.weibull(shape, k), down, 200_000, rng
    )
    assert_within_4se(samples, an.restart_makespan_general_s(work, survival, down))


def test_wasted_compute_vs_monte_carlo():
    rng = np.random.default_rng(14)
    steps, rate = np.array([500.0, 1500.0, 1000.0]), 1 / 2000
    restart = mc_restart_makespan(steps.sum(), exp_draw(rate), 0.0, 200_000, rng) - steps.sum()
    assert_within_4se(restart, an.restart_wasted_compute_exponential_s(steps.sum(), rate))
    durable = sum(mc_restart_makespan(t, exp_draw(rate), 0.0, 200_000, rng) - t for t in steps)
    assert_within_4se(durable, an.durable_wasted_compute_exponential_s(steps, rate))
    assert an.restart_wasted_compute_exponential_s(1000.0, 0.0) == 0.0


def mc_restart_compute_cost(steps, prices, rate, n, rng):
    """Restart with exponential crashes; each busy second of step k costs prices[k]."""
    steps, prices = np.asarray(steps), np.asarray(prices)
    start = np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    cost = np.zeros(n)
    active = np.arange(n)
    while active.size:
        x = np.minimum(rng.exponential(1 / rate, active.size), steps.sum())
        busy = np.clip(x[:, None] - start[None, :], 0.0, steps[None, :])
        cost[active] += busy @ prices
        active = active[x < steps.sum()]
    return cost


def test_compute_cost_vs_monte_carlo():
    rng = np.random.default_rng(15)
    steps, prices, rate = [600.0, 1800.0, 300.0], [2.5 / 3600, 0.9 / 3600, 4.0 / 3600], 1 / 2500
    samples = mc_restart_compute_cost(steps, prices, rate, 200_000, rng)
    assert_within_4se(samples, an.restart_compute_cost_exponential_usd(steps, prices, rate))
    durable = sum(
        p * mc_restart_makespan(t, exp_draw(rate), 0.0, 200_000, rng)
        for t, p in zip(steps, prices, strict=True)
    )
    assert_within_4se(durable, an.durable_compute_cost_exponential_usd(steps, prices, rate))
    # one price: p (e^{λT} − 1)/λ
    one = an.restart_compute_cost_exponential_usd(steps, 0.001, rate)
    assert one == pytest.approx(0.001 * math.expm1(rate * 2700) / rate, rel=1e-12)


def test_breakeven_crash_rate_two_equal_steps():
    # two steps of t seconds at price p: restart − durable = p (e^{λt} − 1)^2 / λ
    t, price, overhead = 1800.0, 2.0 / 3600, 0.05

    def gap(lam):
        return price * math.expm1(lam * t) ** 2 / lam - overhead

    lo, hi = 1e-12, 1e-2
    for _ in range(200):  # plain bisection, independent of brentq
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
    got = an.breakeven_crash_rate_per_s([t, t], price, overhead)
    assert got == pytest.approx(0.5 * (lo + hi), rel=1e-9)
    # below the rate restart is cheaper, above it durable
    for lam, restart_cheaper in ((0.5 * got, True), (2 * got, False)):
        r = an.restart_compute_cost_exponential_usd([t, t], price, lam)
        d = an.durable_compute_cost_exponential_usd([t, t], price, lam) + overhead
        assert (r < d) == restart_cheaper


def test_breakeven_crash_rate_errors_and_zero_overhead():
    assert an.breakeven_crash_rate_per_s([100.0, 200.0], 0.01, 0.0) == 0.0
    with pytest.raises(ValueError, match="no break-even"):
        an.breakeven_crash_rate_per_s([100.0], 0.01, 1.0)  # one step: no difference


# --------------------------------------------------------------------------- per-attempt failures


def mc_restart_attempts(p_steps, costs, n, rng):
    """Restart with per-step fail-fast failures: (pipeline attempts, step attempts, cost)."""
    p_steps, costs = np.asarray(p_steps), np.asarray(costs)
    pipelines = np.zeros(n)
    steps = np.zeros(n)
    cost = np.zeros(n)
    active = np.arange(n)
    while active.size:
        pipelines[active] += 1
        alive = np.ones(active.size, bool)
        for p, c in zip(p_steps, costs, strict=True):
            steps[active[alive]] += 1
            ok = rng.random(active.size) >= p
            alive_next = alive & ok
            cost[active[alive_next]] += c
            alive = alive_next
        active = active[~alive]
    return pipelines, steps, cost


def test_attempt_counts_equal_p_vs_monte_carlo():
    rng = np.random.default_rng(21)
    p, n_steps = 0.1, 5
    pipes, steps, _ = mc_restart_attempts([p] * n_steps, [0.0] * n_steps, 200_000, rng)
    assert_within_4se(pipes, an.restart_pipeline_attempts(p, n_steps))
    assert an.restart_pipeline_attempts(p, n_steps) == pytest.approx(0.9**-5)
    q = 1 - p
    assert an.restart_step_attempts([p] * n_steps) == pytest.approx((1 - q**5) / (p * q**5))
    assert_within_4se(steps, an.restart_step_attempts([p] * n_steps))
    durable = rng.geometric(1 - p, size=(200_000, n_steps)).sum(axis=1).astype(float)
    assert_within_4se(durable, an.durable_step_attempts(p, n_steps))
    assert an.durable_step_attempts(p, n_steps) == pytest.approx(5 / 0.9)


def test_restart_unequal_p_vs_monte_carlo_and_hand():
    # hand: step 1 fails half the time, step 2 never: 2 tries of step 1 + 1 of step 2
    assert an.restart_step_attempts([0.5, 0.0]) == pytest.approx(3.0)
    rng = np.random.default_rng(22)
    p_steps, costs = [0.05, 0.2, 0.0, 0.3], [0.01, 0.02, 0.005, 0.04]
    _, steps, cost = mc_restart_attempts(p_steps, costs, 200_000, rng)
    assert_within_4se(steps, an.restart_step_attempts(p_steps))
    assert_within_4se(cost, an.restart_expected_cost_usd(costs, p_steps))
    wasted = an.restart_wasted_cost_usd(costs, p_steps)
    assert wasted == pytest.approx(an.restart_expected_cost_usd(costs, p_steps) - sum(costs))


def test_durable_cost_counts_actions():
    # 3 steps, p = 0.5 on step 2: actions = 1 + 1 + 2 + 1 = 5
    got = an.durable_expected_cost_usd([1.0, 2.0, 3.0], [0.0, 0.5, 0.0], 0.25, 0.01)
    assert got == pytest.approx(6.0 + 0.25 + 0.05)


def test_research_paper_breakeven():
    costs = [0.0120, 0.0150, 0.0037, 0.0100]  # steps 1–3 total 0.0307; summary fails
    failing = [False, False, False, True]
    p = an.breakeven_failure_probability(costs, 0.0045, failing)
    assert round(p, 3) == 0.128
    assert p == pytest.approx(0.0045 / (0.0307 + 0.0045), rel=1e-9)
    assert an.restart_wasted_cost_usd(costs, [0, 0, 0, p]) == pytest.approx(0.0045, rel=1e-9)
    assert round(an.single_failure_breakeven_probability(0.0307, 0.0045), 3) == 0.147
    # wasted cost per paper = 0.0307 · p/(1 − p) at any p
    assert an.restart_wasted_cost_usd(costs, [0, 0, 0, 0.2]) == pytest.approx(0.0307 * 0.25)


def test_breakeven_failure_probability_with_actions_and_no_solution():
    costs = [0.01, 0.02, 0.03]
    p = an.breakeven_failure_probability(costs, 0.002, per_action_usd=0.0001)
    r = an.restart_expected_cost_usd(costs, [p] * 3)
    d = an.durable_expected_cost_usd(costs, [p] * 3, 0.002, 0.0001)
    assert r == pytest.approx(d, rel=1e-9)
    with pytest.raises(ValueError, match="no break-even"):
        # only the first step fails: restart wastes nothing
        an.breakeven_failure_probability(costs, 0.002, [True, False, False])


# --------------------------------------------------------------------------- checkpointing


def test_young_and_daly_hand_values():
    assert an.young_interval_s(60, 86400) == pytest.approx(3219.9379, abs=1e-3)
    r = 60 / (2 * 86400)
    expected = 3219.9379 * (1 + math.sqrt(r) / 3 + r / 9) - 60
    assert an.daly_interval_s(60, 86400) == pytest.approx(expected, abs=1e-3)
    assert an.daly_interval_s(500, 200) == 200  # C >= 2M: τ = M


def test_daly_interval_near_numerical_optimum():
    c, m, r, work = 60.0, 86400.0, 300.0, 1e6

    def tw(tau):
        return an.daly_completion_time_s(work, tau, c, r, m)

    best = optimize.minimize_scalar(tw, bounds=(1.0, m), method="bounded", options={"xatol": 1e-6})
    tau = an.daly_interval_s(c, m)
    assert tau == pytest.approx(best.x, rel=1e-3)
    assert tw(tau) <= tw(an.young_interval_s(c, m))
    assert tw(tau) == pytest.approx(best.fun, rel=1e-9)


def test_daly_completion_time_vs_monte_carlo():
    rng = np.random.default_rng(31)
    m, c, r, tau, k = 1000.0, 20.0, 50.0, 200.0, 10  # work = k τ, failures during restart too
    n = 200_000
    seg = tau + c
    total = np.zeros(n)
    for _ in range(k):
        active = np.arange(n)
        while active.size:
            x = rng.exponential(m, active.size)
            ok = x >= seg
            total[active] += np.where(ok, seg, x)
            failed = active[~ok]
            while failed.size:  # restart phase, may itself fail
                y = rng.exponential(m, failed.size)
                done = y >= r
                total[failed] += np.where(done, r, y)
                failed = failed[~done]
            active = active[~ok]
    assert_within_4se(total, an.daly_completion_time_s(k * tau, tau, c, r, m))


# --------------------------------------------------------------------------- invariants


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(1.0, 5000.0), min_size=1, max_size=6),
    mtbf=st.floats(100.0, 1e6),
    down=st.floats(0.0, 600.0),
)
def test_durable_never_slower_than_restart(steps, mtbf, down):
    rate = 1 / mtbf
    d = an.durable_makespan_exponential_s(steps, rate, down)
    r = an.restart_makespan_exponential_s(sum(steps), rate, down)
    assert d <= r * (1 + 1e-12)
    assert d >= sum(steps) * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(p_steps=st.lists(st.floats(0.0, 0.9), min_size=1, max_size=6))
def test_restart_attempts_at_least_durable(p_steps):
    durable = sum(1 / (1 - p) for p in p_steps)
    assert an.restart_step_attempts(p_steps) >= durable * (1 - 1e-12)
    costs = [1.0] * len(p_steps)
    assert an.restart_expected_cost_usd(costs, p_steps) >= len(p_steps) * (1 - 1e-12)
