"""The simulator against closed forms (expected values computed here, independently of sim).

Tolerance: 4 standard errors of the simulated mean (estimated from the runs), so a test
neither flakes nor passes by accident.
"""

import math

import numpy as np
import pytest
from scipy import integrate

from sim import simulate

from helpers import VIDEO_STEPS_S, gpu_steps, llm_steps, scenario

RUNS = 20000


def assert_mean(values, expected, k=4.0):
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - expected) <= k * se, f"mean {values.mean():.6g} vs {expected:.6g} (se {se:.3g})"


def by(df, strategy, column):
    return df.loc[df["strategy"] == strategy, column].to_numpy()


@pytest.mark.slow
@pytest.mark.parametrize("renew", [True, False])
def test_exponential_crashes_makespan(renew):
    mtbf = 3600.0
    lam = 1 / mtbf
    sc = scenario(gpu_steps(VIDEO_STEPS_S), {"crash": {"mtbf": mtbf, "renew_on_restart": renew}})
    df = simulate(sc, RUNS, seed=11, engine="des")
    total = sum(VIDEO_STEPS_S)
    sticky = 10.0  # Temporal's sticky schedule-to-start timeout (the default)
    assert_mean(by(df, "restart", "makespan_s"), (math.exp(lam * total) - 1) / lam)
    # durable: each step retried until an attempt survives, and a step that met a crash (probability
    # 1 − e^{−λT}) is recorded by a workflow task that first waits out the dead worker's sticky queue
    assert_mean(by(df, "durable", "makespan_s"),
                sum((math.exp(lam * t) - 1) / lam + sticky * (1 - math.exp(-lam * t)) for t in VIDEO_STEPS_S))
    # with no delays all time is compute (restart) or compute and sticky timeouts (durable, each adding
    # 2 history events to the 5 + 6n of a clean run): waste = makespan − work − waits, per run
    np.testing.assert_allclose(by(df, "restart", "wasted_compute_s"), by(df, "restart", "makespan_s") - total, atol=1e-6)
    timeouts = (by(df, "durable", "history_events") - (5 + 6 * len(VIDEO_STEPS_S))) / 2
    np.testing.assert_allclose(by(df, "durable", "wasted_compute_s"),
                               by(df, "durable", "makespan_s") - total - sticky * timeouts, atol=1e-6)


def test_exponential_crashes_with_downtime():
    mtbf, down = 1800.0, 120.0
    lam = 1 / mtbf
    # Temporal's sticky timeout off: a crash of the idle worker while the task waits would add a
    # restart that this formula leaves out (test_exponential_crashes_makespan covers the timeout)
    sc = scenario(gpu_steps(VIDEO_STEPS_S), {"crash": {"mtbf": mtbf, "restart_time": down}},
                  temporal={"sticky_schedule_to_start_timeout": 0})
    df = simulate(sc, RUNS, seed=5, engine="des")
    total = sum(VIDEO_STEPS_S)
    assert_mean(by(df, "restart", "makespan_s"), (1 / lam + down) * (math.exp(lam * total) - 1))
    assert_mean(by(df, "durable", "makespan_s"), sum((1 / lam + down) * (math.exp(lam * t) - 1) for t in VIDEO_STEPS_S))


def test_weibull_restart_renewal_formula():
    shape, scale = 1.8, 2400.0
    sc = scenario(gpu_steps(VIDEO_STEPS_S), {"crash": {"distribution": "weibull", "shape": shape, "scale": scale}},
                  strategies={"restart": {"retry": {"initial_interval": 0}}})
    df = simulate(sc, RUNS, seed=3, engine="des")
    total = sum(VIDEO_STEPS_S)

    def survival(t):
        return math.exp(-((t / scale) ** shape))

    expected = integrate.quad(survival, 0, total)[0] / survival(total)
    assert_mean(by(df, "restart", "makespan_s"), expected)


def test_poisson_deployments_act_like_exponential_crashes():
    every = 2400.0
    lam = 1 / every
    sc = scenario(gpu_steps(VIDEO_STEPS_S), {"deploy": {"mode": "poisson", "every": every}})
    df = simulate(sc, RUNS, seed=8, engine="des")
    total = sum(VIDEO_STEPS_S)
    assert_mean(by(df, "restart", "makespan_s"), (math.exp(lam * total) - 1) / lam)
    assert_mean(by(df, "durable", "makespan_s"), sum((math.exp(lam * t) - 1) / lam for t in VIDEO_STEPS_S))
    assert (by(df, "restart", "deploy_kills") >= 0).all()


@pytest.mark.parametrize("p, n", [(0.1, 4), (0.3, 3)])
def test_per_attempt_failure_probability(p, n):
    sc = scenario(llm_steps(n), {"rate_limit": {"probability": p}})
    df = simulate(sc, RUNS, seed=21, engine="des")
    # restart: pipeline attempts (each is one run of the classic orchestrator)
    assert_mean(by(df, "restart", "orchestration_actions"), (1 - p) ** (-n))
    # durable: step attempts
    assert_mean(by(df, "durable", "attempts"), n / (1 - p))
    # durable's billable actions = workflow start + every attempt
    np.testing.assert_array_equal(by(df, "durable", "orchestration_actions"), 1 + by(df, "durable", "attempts"))


def test_research_paper_wasted_cost_per_failure():
    """Only the summary fails (429, fail fast): restart wastes the cost of steps 1–3 per failure."""
    from sim import load_scenario

    sc = load_scenario("experiments/scenarios/research_paper.toml")
    df = simulate(sc, RUNS, seed=2, engine="des")
    p = sc.failures.rate_limit.probability
    steps_1_3 = 15000 * 1.39e-6 + 8000 * 0.40e-6 + 5000 * 1.39e-6
    assert_mean(by(df, "restart", "wasted_cost_usd"), steps_1_3 * p / (1 - p))
    assert by(df, "durable", "wasted_cost_usd").max() == 0.0
    np.testing.assert_allclose(by(df, "durable", "useful_cost_usd"), 0.061, rtol=1e-12)
