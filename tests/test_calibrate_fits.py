"""The fits against synthetic data whose true parameters are known (fixed seeds).

Tolerances are standard errors of the estimators, computed independently of the code under
test (e.g. the MLE of an exponential rate from d events has relative SE 1/sqrt(d)).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.calibrate.attempts import validate_attempts
from sim.calibrate.fits import (
    fit_crashes,
    fit_deploys,
    fit_durations,
    fit_rate_limits,
    naive_crash_fit,
    wilson,
)
from sim.calibrate.report import kaplan_meier


def _attempts(dur: np.ndarray, ttf: np.ndarray, step: str = "s") -> pd.DataFrame:
    """One attempt per row: runs for dur unless the worker fails first (at ttf)."""
    crashed = ttf < dur
    return validate_attempts(pd.DataFrame({
        "workflow_id": np.arange(len(dur)).astype(str), "step": step, "attempt": 1,
        "start": 0.0, "end": np.where(crashed, ttf, dur),
        "outcome": np.where(crashed, "crashed", "completed")}))


def test_censored_exponential_fit_is_unbiased_and_the_naive_fit_is_not() -> None:
    rng = np.random.default_rng(20260401)
    n, mtbf = 20_000, 1800.0
    dur = rng.lognormal(math.log(60), 0.5, n)
    a = _attempts(dur, rng.exponential(mtbf, n))
    fit = fit_crashes(a, age="attempt")
    d = fit.n_crashes
    se = mtbf / math.sqrt(d)  # SE of the MLE of the mean, d events
    est = fit.exponential.mttf_s
    assert abs(est.value - mtbf) < 4 * se
    assert est.contains(mtbf)
    # the interval's width is about 2 * 1.96 SE
    assert (est.high - est.low) == pytest.approx(2 * 1.96 * se, rel=0.15)
    naive = naive_crash_fit(a).mttf_s
    # dropping the censored attempts: the mean running time of crashed attempts, < 60s-ish
    assert naive.value < 0.05 * mtbf
    assert abs(naive.value - mtbf) > 20 * se  # more than 20 standard errors off
    assert not naive.contains(mtbf)
    assert fit.chosen == "exponential" or fit.lr_test.p_value > 0.01


def test_censored_weibull_fit_recovers_shape_and_scale() -> None:
    rng = np.random.default_rng(7)
    n, shape, scale = 20_000, 0.6, 900.0
    dur = rng.lognormal(math.log(120), 0.6, n)
    a = _attempts(dur, scale * rng.weibull(shape, n))
    fit = fit_crashes(a, age="attempt")
    assert fit.chosen == "weibull"
    assert fit.lr_test.p_value < 1e-6
    w = fit.weibull.params
    # SE from the reported 95% interval (half-width / 1.96, log scale for the scale)
    se_shape = (w["shape"].high - w["shape"].low) / (2 * 1.96)
    assert abs(w["shape"].value - shape) < 4 * se_shape
    se_log_scale = (math.log(w["scale_s"].high) - math.log(w["scale_s"].low)) / (2 * 1.96)
    assert abs(math.log(w["scale_s"].value / scale)) < 4 * se_log_scale
    true_mean = scale * math.gamma(1 + 1 / shape)
    se_log_mean = (math.log(w["mttf_s"].high) - math.log(w["mttf_s"].low)) / (2 * 1.96)
    assert abs(math.log(w["mttf_s"].value / true_mean)) < 4 * se_log_mean
    assert fit.weibull.gof.p_value > 1e-3  # the right model is not rejected


def test_worker_age_uses_worker_lives() -> None:
    # two workers: w1 runs 3 attempts over 100 s and crashes; w2 runs 2 attempts, censored
    a = validate_attempts(pd.DataFrame({
        "workflow_id": list("abcde"), "step": "s", "attempt": 1,
        "start": [0.0, 30.0, 70.0, 0.0, 50.0], "end": [20.0, 60.0, 100.0, 40.0, 90.0],
        "outcome": ["completed", "completed", "crashed", "completed", "completed"],
        "worker_id": ["w1", "w1", "w1", "w2", "w2"]}))
    fit = fit_crashes(a)
    assert fit.age == "worker"
    assert sorted(fit.ages_s.tolist()) == [90.0, 100.0]
    assert fit.exponential.mttf_s.value == pytest.approx(190.0)  # exposure / crashes
    assert fit_crashes(a, age="attempt").exposure_s == pytest.approx(160.0)


def test_lognormal_durations_with_censoring() -> None:
    rng = np.random.default_rng(3)
    n, median, sigma = 4000, 45.0, 0.4
    dur = rng.lognormal(math.log(median), sigma, n)
    a = _attempts(dur, rng.exponential(300.0, n))  # heavy censoring: ~14% of attempts
    f = fit_durations(a)["s"]
    assert f.n_censored > 400
    p95 = median * math.exp(1.6448536 * sigma)
    for est, true in ((f.median_s, median), (f.p95_s, p95)):
        se_log = (math.log(est.high) - math.log(est.low)) / (2 * 1.96)
        assert abs(math.log(est.value / true)) < 4 * se_log
    # the completed attempts alone are biased short: their median is below the truth
    done = np.sort(dur[dur <= a["duration_s"].to_numpy()])
    assert np.median(done) < median
    assert f.gof.p_value > 1e-3


def test_fixed_durations() -> None:
    a = _attempts(np.full(50, 120.0), np.full(50, np.inf))
    f = fit_durations(a)["s"]
    assert f.dist == "fixed" and f.median_s.value == 120.0


def test_rate_limits_wilson_and_homogeneity() -> None:
    rng = np.random.default_rng(11)
    rows = []
    for step, p, n in (("classify", 0.03, 3000), ("summarize", 0.03, 4000), ("parse", 0.0, 500)):
        hit = rng.random(n) < p
        for i, h in enumerate(hit):
            rows.append((f"{step}{i}", step, 1, 0.0, 0.1 if h else 5.0,
                         "rate_limited" if h else "completed", 2.0 if h else np.nan))
    a = validate_attempts(pd.DataFrame(rows, columns=["workflow_id", "step", "attempt", "start",
                                                      "end", "outcome", "retry_after_s"]))
    rl = fit_rate_limits(a)
    assert rl.steps == ("classify", "summarize")
    se = math.sqrt(0.03 * 0.97 / rl.pooled.n)
    assert abs(rl.pooled.p.value - 0.03) < 4 * se
    assert rl.pooled.p.contains(0.03)
    assert rl.gof.p_value > 1e-3
    assert rl.per_step["parse"].p.low == 0.0
    assert rl.retry_after.dist == "fixed" and rl.retry_after.median_s.value == 2.0
    # Wilson interval of 0/20 and 20/20 (textbook values: [0, 0.1611])
    assert wilson(0, 20).p.high == pytest.approx(0.16113, abs=1e-4)
    assert wilson(20, 20).p.low == pytest.approx(1 - 0.16113, abs=1e-4)


def test_deploys_periodic_vs_poisson() -> None:
    rng = np.random.default_rng(5)
    day = 86400.0
    periodic = np.arange(60) * day + rng.normal(0, 1800, 60)
    f = fit_deploys(periodic)
    assert f.mode == "periodic"
    assert f.period_s.contains(day)
    assert f.cv < 0.1
    poisson = np.cumsum(rng.exponential(6 * 3600.0, 300))
    g = fit_deploys(poisson)
    assert g.mode == "poisson"
    se = 6 * 3600.0 / math.sqrt(299)
    assert abs(g.mean_interval_s.value - 6 * 3600.0) < 4 * se
    assert g.mean_interval_s.contains(6 * 3600.0)
    assert g.gof.p_value > 1e-3


def test_kaplan_meier_hand_example() -> None:
    # times 1,2+,3,3,4+ : S(1)=4/5, S(3)=4/5 * (1 - 2/3) = 4/15
    t, s = kaplan_meier(np.array([1, 2, 3, 3, 4.0]), np.array([1, 0, 1, 1, 0], dtype=bool))
    assert t.tolist() == [0.0, 1.0, 3.0]
    assert s.tolist() == pytest.approx([1.0, 0.8, 4 / 15])


def test_one_observation_is_fixed_without_an_interval() -> None:
    from sim.calibrate.fits import fit_positive
    from sim.calibrate.report import report_rows

    fit = fit_positive(np.array([5.83]), name="write")
    assert fit.dist == "fixed" and fit.median_s.value == 5.83 and fit.n == 1
    assert np.isnan(fit.median_s.low) and np.isnan(fit.median_s.high)
    assert fit.gof.test == "one observation" and np.isnan(fit.gof.statistic)
    a = pd.DataFrame({"workflow_id": ["w"], "step": ["write"], "attempt": [1], "start": [0.0],
                      "end": [5.83], "outcome": ["completed"]})
    from sim.calibrate.fits import calibrate

    (row,) = [r for r in report_rows(calibrate(validate_attempts(a))) if "write" in r[0]]
    assert row[1:3] == ("5.83s", "n/a (one observation)") and "D=" not in row[4]


def test_lognormal_sigma_is_the_maximum_likelihood_one() -> None:
    import statistics

    from sim.calibrate.fits import fit_positive

    x = np.array([3.1, 4.7, 5.2, 6.9, 9.4, 12.0])
    fit = fit_positive(x, name="s")
    logs = [math.log(v) for v in x]
    assert fit.mu == pytest.approx(statistics.fmean(logs), rel=1e-12)
    assert fit.sigma == pytest.approx(statistics.pstdev(logs), rel=1e-12)  # divisor n
    assert fit.p95_s.value == pytest.approx(
        math.exp(statistics.fmean(logs) + 1.6448536269514722 * statistics.pstdev(logs)), rel=1e-9)
