"""sim.stats against hand numbers, known distributions and synthetic sweeps.

Coverage tests use fixed seeds and a tolerance of 4 binomial standard errors.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from sim import stats

T_975_1 = 12.706204736174698  # Student t quantile, 1 degree of freedom (tables)


def coverage_tolerance(p: float, trials: int) -> float:
    return 4 * math.sqrt(p * (1 - p) / trials)


def two_strategy_frame(a_values, b_values, extra=None):
    n = len(a_values)
    frames = []
    for label, values in (("durable", a_values), ("restart", b_values)):
        part = pd.DataFrame(
            {
                "scenario": "s",
                "strategy": label,
                "run": np.arange(n),
                "seed": 7,
                "completed": True,
                "makespan_s": np.asarray(values, float),
            }
        )
        for key, val in (extra or {}).items():
            part[key] = val
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- summarize


def test_summarize_hand_values():
    df = two_strategy_frame([0.0, 2.0], [5.0, 5.0])
    out = stats.summarize(df).set_index("strategy")
    assert list(out["metric"]) == ["makespan_s", "makespan_s"]  # run, seed, bool excluded
    d = out.loc["durable"]
    assert d["n"] == 2 and d["mean"] == 1.0
    assert d["std"] == pytest.approx(math.sqrt(2))
    assert d["se"] == pytest.approx(1.0)
    # the t interval 1 ± 12.706 would cross 0: a time gets the log-scale interval 1·exp(±12.706·1/1)
    assert d["ci_low"] == pytest.approx(math.exp(-T_975_1))
    assert d["ci_high"] == pytest.approx(math.exp(T_975_1))
    unbounded = stats.summarize(df.rename(columns={"makespan_s": "x"})).set_index("strategy").loc["durable"]
    assert unbounded["ci_low"] == pytest.approx(1 - T_975_1)
    assert unbounded["ci_high"] == pytest.approx(1 + T_975_1)
    assert (d["p50"], d["p95"], d["p99"]) == pytest.approx((1.0, 1.9, 1.98))
    r = out.loc["restart"]
    assert r["std"] == 0 and r["ci_low"] == r["ci_high"] == 5.0


def test_summarize_ci_coverage_normal_samples():
    rng = np.random.default_rng(101)
    trials, n, mu, sigma = 2000, 10, 3.0, 2.0
    df = pd.DataFrame(
        {
            "strategy": "restart",
            "trial": np.repeat(np.arange(trials), n),
            "makespan_s": rng.normal(mu, sigma, trials * n),
        }
    )
    for confidence in (0.95, 0.8):
        out = stats.summarize(df, ["makespan_s"], by=("trial",), confidence=confidence)
        assert len(out) == trials
        covered = ((out["ci_low"] <= mu) & (mu <= out["ci_high"])).mean()
        assert abs(covered - confidence) <= coverage_tolerance(confidence, trials)


def test_summarize_by_sweep_column_and_default_metrics():
    rng = np.random.default_rng(102)
    frames = []
    for mtbf in (3600.0, 7200.0, 14400.0):
        part = two_strategy_frame(rng.normal(size=30), rng.normal(size=30))
        part["failures.crash.mtbf"] = mtbf
        part["total_cost_usd"] = rng.gamma(2.0, 1.0, len(part))
        frames.append(part)
    df = pd.concat(frames, ignore_index=True)
    out = stats.summarize(df, by=("strategy", "failures.crash.mtbf"))
    assert set(out["metric"]) == {"makespan_s", "total_cost_usd"}
    assert len(out) == 2 * 3 * 2
    row = out[
        (out["strategy"] == "restart")
        & (out["failures.crash.mtbf"] == 7200.0)
        & (out["metric"] == "total_cost_usd")
    ].iloc[0]
    values = df.loc[
        (df["strategy"] == "restart") & (df["failures.crash.mtbf"] == 7200.0), "total_cost_usd"
    ].to_numpy()
    assert row["mean"] == pytest.approx(values.mean())
    assert row["p95"] == pytest.approx(np.quantile(values, 0.95))
    overall = stats.summarize(df, ["makespan_s"], by=())
    assert len(overall) == 1 and overall["n"].iloc[0] == len(df)


def test_summarize_errors():
    df = two_strategy_frame([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(KeyError, match="nope"):
        stats.summarize(df, ["nope"])
    with pytest.raises(ValueError, match="confidence"):
        stats.summarize(df, confidence=1.5)


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=40),
    confidence=st.floats(0.5, 0.999),
)
def test_summarize_interval_contains_mean(values, confidence):
    df = pd.DataFrame({"strategy": "x", "run": range(len(values)), "makespan_s": values})
    row = stats.summarize(df, confidence=confidence).iloc[0]
    assert row["n"] == len(values)
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert row["p50"] <= row["p95"] <= row["p99"]


# --------------------------------------------------------------------------- paired differences


def test_paired_difference_known_offset():
    rng = np.random.default_rng(201)
    n = 400
    base = rng.normal(100.0, 10.0, n)  # shared by both strategies (common random numbers)
    df = two_strategy_frame(base + 5.0 + rng.normal(0, 0.5, n), base)
    df = df.sample(frac=1.0, random_state=3).reset_index(drop=True)  # pairing must use `run`
    out = stats.paired_differences(df, "durable", "restart", ["makespan_s"]).iloc[0]
    assert out["n"] == n
    assert out["ci_low"] <= 5.0 <= out["ci_high"]
    assert out["se"] == pytest.approx(0.5 / math.sqrt(n), rel=0.15)  # paired: noise only
    assert out["rel_diff"] == pytest.approx(out["mean_a"] / out["mean_b"] - 1)


def test_paired_difference_coverage_by_group():
    rng = np.random.default_rng(202)
    trials, n, offset = 400, 8, -2.0
    frames = []
    for trial in range(trials):
        base = rng.exponential(50.0, n)
        part = two_strategy_frame(base + offset + rng.normal(0, 1.0, n), base)
        part["trial"] = trial
        frames.append(part)
    df = pd.concat(frames, ignore_index=True)
    out = stats.paired_differences(df, "durable", "restart", ["makespan_s"], by=("trial",))
    assert len(out) == trials
    covered = ((out["ci_low"] <= offset) & (offset <= out["ci_high"])).mean()
    assert abs(covered - 0.95) <= coverage_tolerance(0.95, trials)


def test_paired_relative_difference_hand_values():
    df = two_strategy_frame([2.0, 4.0], [1.0, 2.0])
    out = stats.paired_differences(df, "durable", "restart", ["makespan_s"]).iloc[0]
    assert out["mean_diff"] == 1.5
    assert out["std_diff"] == pytest.approx(math.sqrt(2) / 2)
    assert out["rel_diff"] == pytest.approx(1.0)
    # a = 2·b exactly, so the delta-method interval has zero width
    assert out["rel_ci_low"] == pytest.approx(1.0) and out["rel_ci_high"] == pytest.approx(1.0)


def test_paired_errors_when_runs_do_not_pair():
    df = two_strategy_frame([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    dropped = df.drop(index=df.index[(df["strategy"] == "restart") & (df["run"] == 1)])
    with pytest.raises(ValueError, match="do not pair"):
        stats.paired_differences(dropped, "durable", "restart", ["makespan_s"])
    doubled = pd.concat([df, df[df["strategy"] == "durable"]], ignore_index=True)
    with pytest.raises(ValueError, match="duplicated"):
        stats.paired_differences(doubled, "durable", "restart", ["makespan_s"])
    with pytest.raises(ValueError, match="no rows for strategy 'retry'"):
        stats.paired_differences(df, "retry", "restart", ["makespan_s"])


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30))
def test_paired_difference_of_identical_frames_is_zero(values):
    df = two_strategy_frame(values, values)
    out = stats.paired_differences(df, "durable", "restart", ["makespan_s"]).iloc[0]
    assert out["mean_diff"] == 0 and out["std_diff"] == 0
    assert out["ci_low"] == 0 and out["ci_high"] == 0


# --------------------------------------------------------------------------- stopping rules


def brute_force_needed(se, n, target, confidence):
    from scipy.stats import t

    s = se * math.sqrt(n)
    m = np.arange(2, 200_000)
    ok = t.ppf(0.5 + confidence / 2, m - 1) * s / np.sqrt(m) <= target
    assert ok.any()
    return int(m[np.argmax(ok)])


@pytest.mark.parametrize(
    ("se", "n", "target", "confidence"),
    [(1.0, 100, 0.5, 0.95), (0.3, 10, 0.25, 0.9), (2.0, 50, 20.0, 0.95), (0.05, 400, 0.01, 0.99)],
)
def test_replications_needed_matches_brute_force(se, n, target, confidence):
    assert stats.replications_needed(se, n, target, confidence) == brute_force_needed(
        se, n, target, confidence
    )


def test_replications_needed_normal_approximation():
    # s = 10, target 0.5: about (1.96 · 10 / 0.5)^2 ≈ 1537 replications
    m = stats.replications_needed(1.0, 100, 0.5, 0.95)
    assert 1537 <= m <= 1545


def make_batch_simulator(calls):
    """Replication r has its own Generator keyed on r: results do not depend on batching."""

    def simulate_batch(first_run, n_runs):
        calls.append((first_run, n_runs))
        rows = []
        for r in range(first_run, first_run + n_runs):
            g = np.random.default_rng([2024, r])
            base = g.normal(10.0, 2.0)
            rows.append(("restart", r, base))
            rows.append(("durable", r, base + 1.0 + g.normal(0.0, 0.3)))
        return pd.DataFrame(rows, columns=["strategy", "run", "makespan_s"])

    return simulate_batch


def test_run_until_reaches_relative_target_deterministically():
    calls = []
    df, report = stats.run_until(
        make_batch_simulator(calls),
        "makespan_s",
        0.01,
        strategy="restart",
        batch=100,
        min_runs=100,
        max_runs=20_000,
    )
    assert report.met and report.half_width <= 0.01 * abs(report.mean)
    # (1.96 · 2 / 0.1)^2 ≈ 1537 replications needed with the true σ
    assert 1200 <= report.runs <= 2500
    assert report.runs == len(df) // 2
    assert sorted(df.loc[df["strategy"] == "restart", "run"]) == list(range(report.runs))
    assert calls[0] == (0, 100)
    assert all(a[0] + a[1] == b[0] for a, b in zip(calls, calls[1:], strict=False))
    df2, report2 = stats.run_until(
        make_batch_simulator([]),
        "makespan_s",
        0.01,
        strategy="restart",
        batch=100,
        min_runs=100,
        max_runs=20_000,
    )
    assert report2 == report
    pd.testing.assert_frame_equal(df, df2)


def test_run_until_paired_absolute_and_cap():
    _, report = stats.run_until(
        make_batch_simulator([]),
        "makespan_s",
        0.05,
        relative=False,
        paired=("durable", "restart"),
        batch=50,
        min_runs=50,
        max_runs=5000,
    )
    assert report.met and report.half_width <= 0.05
    assert abs(report.mean - 1.0) <= report.half_width * 2  # true offset is 1.0
    _, capped = stats.run_until(
        make_batch_simulator([]),
        "makespan_s",
        1e-4,
        strategy="restart",
        batch=100,
        min_runs=100,
        max_runs=300,
    )
    assert not capped.met and capped.runs == 300 and capped.half_width > 1e-4 * capped.mean


def test_run_until_rejects_ambiguous_strategy_and_bad_batches():
    with pytest.raises(ValueError, match="several strategies"):
        stats.run_until(make_batch_simulator([]), "makespan_s", 0.1, min_runs=10)

    def wrong(first_run, n_runs):
        return pd.DataFrame({"strategy": "x", "run": range(n_runs + 5), "makespan_s": 1.0})

    with pytest.raises(ValueError, match="outside"):
        stats.run_until(wrong, "makespan_s", 0.1, min_runs=10)


# --------------------------------------------------------------------------- break-even


def synthetic_sweep(xs, n_runs, rng, curve, noise=1.0, run_sd=3.0):
    """Sweep with common random numbers: run r has the same shared effect at every point.

    a − b has mean curve(x); b carries a large run effect that cancels in the difference.
    """
    run_effect = rng.normal(0.0, run_sd, n_runs)
    run_slope = rng.normal(0.0, 0.3, n_runs)  # correlated across points, as CRN makes it
    frames = []
    for x in xs:
        b = 20.0 + run_effect + rng.normal(0.0, noise, n_runs)
        a = b + curve(x) + run_slope * (x - xs[0]) / (xs[-1] - xs[0]) + rng.normal(0, noise, n_runs)
        for label, values in (("durable", a), ("restart", b)):
            frames.append(
                pd.DataFrame(
                    {"strategy": label, "run": np.arange(n_runs), "x": x, "total_cost_usd": values}
                )
            )
    return pd.concat(frames, ignore_index=True)


def test_breakeven_exact_on_noise_free_line():
    xs = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    frames = []
    for x in xs:
        for label, value in (("durable", 2 * x), ("restart", 7.0)):
            frames.append(
                pd.DataFrame({"strategy": label, "run": range(4), "x": x, "total_cost_usd": value})
            )
    res = stats.breakeven(pd.concat(frames), "x", n_boot=50)
    assert res.status == "crossing" and res.scale == "linear"
    assert res.estimate == pytest.approx(3.5)
    assert res.ci_low == pytest.approx(3.5) and res.ci_high == pytest.approx(3.5)
    assert res.bracket == (3.0, 4.0)
    assert res.a_lower == "below"  # durable = 2x is cheaper below 3.5
    assert res.fraction_no_crossing == 0.0
    assert list(res.points["mean_diff"]) == pytest.approx([-5, -3, -1, 1, 3])


@pytest.mark.slow
def test_breakeven_interval_covers_true_crossing():
    # a − b = 0.8 (x − 4.3) + noise; true crossing 4.3; durable cheaper below
    rng = np.random.default_rng(301)
    xs = np.linspace(0.0, 10.0, 11)
    trials, hits, estimates = 150, 0, []
    for trial in range(trials):
        df = synthetic_sweep(xs, 80, rng, lambda x: 0.8 * (x - 4.3))
        res = stats.breakeven(df, "x", n_boot=300, seed=trial)
        assert res.status == "crossing" and res.a_lower == "below"
        hits += res.ci_low <= 4.3 <= res.ci_high
        estimates.append(res.estimate)
    assert abs(hits / trials - 0.95) <= coverage_tolerance(0.95, trials)
    est = np.asarray(estimates)
    assert abs(est.mean() - 4.3) <= 4 * est.std(ddof=1) / math.sqrt(trials)


@pytest.mark.parametrize("method", ["linear", "pchip"])
def test_breakeven_log_spaced_grid(method):
    # a − b = 1.5 log(x / 7200): the crossing is at x = 7200 s, restart cheaper below
    rng = np.random.default_rng(302)
    xs = np.geomspace(600.0, 86400.0, 12)
    df = synthetic_sweep(xs, 400, rng, lambda x: -1.5 * np.log(x / 7200.0))
    res = stats.breakeven(df, "x", method=method, n_boot=500, seed=5)
    assert res.scale == "log" and res.method == method
    assert res.a_lower == "above"
    assert res.ci_low <= 7200.0 <= res.ci_high
    assert res.ci_high / res.ci_low < 1.5
    assert res.bracket[0] <= res.estimate <= res.bracket[1]


def test_breakeven_no_crossing_names_the_winner():
    rng = np.random.default_rng(303)
    xs = np.linspace(1.0, 5.0, 5)
    df = synthetic_sweep(xs, 200, rng, lambda x: 3.0 + 0.0 * x)  # durable always dearer
    res = stats.breakeven(df, "x", n_boot=200)
    assert res.status == "no_crossing" and res.winner == "restart"
    assert math.isnan(res.estimate) and res.a_lower is None
    assert res.fraction_no_crossing > 0.99
    assert "restart" in res.message


def test_breakeven_interval_open_ended_near_range_edge():
    # a − b = −1 at x = 0 for every run; at x = 1 the runs have mean 0.1 and sd 1 (ddof 0).
    # A resample whose mean at x = 1 is ≤ 0 has no crossing and puts it above the range:
    # by the CLT that happens with probability Φ(−0.1 √n).
    n_runs = 40
    z = np.linspace(-1.0, 1.0, n_runs)
    z = (z - z.mean()) / z.std()
    frames = []
    for x, diff in ((0.0, np.full(n_runs, -1.0)), (1.0, 0.1 + z)):
        for label, values in (("durable", 10.0 + diff), ("restart", np.full(n_runs, 10.0))):
            frames.append(
                pd.DataFrame(
                    {"strategy": label, "run": np.arange(n_runs), "x": x, "total_cost_usd": values}
                )
            )
    res = stats.breakeven(pd.concat(frames), "x", n_boot=2000, seed=9)
    assert res.status == "crossing" and res.a_lower == "below"
    assert res.estimate == pytest.approx(1.0 / 1.1)
    expected = float(norm.cdf(-0.1 * math.sqrt(n_runs)))
    assert abs(res.fraction_no_crossing - expected) <= 0.05
    assert res.ci_high == math.inf and 0.0 < res.ci_low < res.estimate


def test_breakeven_requires_common_runs():
    rng = np.random.default_rng(305)
    df = synthetic_sweep(np.array([1.0, 2.0, 3.0]), 10, rng, lambda x: x - 2)
    df = df[~((df["x"] == 3.0) & (df["run"] == 9))]
    with pytest.raises(ValueError, match="same run indices"):
        stats.breakeven(df, "x")


def test_breakeven_bootstrap_is_fast_and_seeded():
    rng = np.random.default_rng(306)
    xs = np.geomspace(0.1, 100.0, 20)
    df = synthetic_sweep(xs, 2000, rng, lambda x: np.log(x / 3.0))
    start = time.perf_counter()
    res = stats.breakeven(df, "x", n_boot=1000, seed=42)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, elapsed
    again = stats.breakeven(df, "x", n_boot=1000, seed=42)
    assert (again.ci_low, again.ci_high) == (res.ci_low, res.ci_high)
    assert res.ci_low <= 3.0 <= res.ci_high


def test_mean_interval_of_matches_scipy_along_the_last_axis():
    """The one t interval shape (paired differences, break-evens, stopping rules) against scipy."""
    import scipy.stats as sps

    from sim.stats.common import mean_interval_of

    rng = np.random.default_rng(5)
    x = rng.normal(3.0, 2.0, size=(4, 50))
    mean, std, se, half = mean_interval_of(x, 0.9)
    for row in range(4):
        lo, hi = sps.t.interval(0.9, 49, loc=x[row].mean(), scale=sps.sem(x[row]))
        assert mean[row] == pytest.approx(x[row].mean(), rel=1e-12)
        assert std[row] == pytest.approx(np.std(x[row], ddof=1), rel=1e-12)
        assert mean[row] - half[row] == pytest.approx(lo, rel=1e-12)
        assert mean[row] + half[row] == pytest.approx(hi, rel=1e-12)
    one = mean_interval_of(np.array([2.5]))
    assert one[0] == 2.5 and all(math.isnan(v) for v in one[1:])
