"""The vectorised fast path against the DES engine (the reference).

1. Run by run: both read the same random numbers, so every column agrees up to rounding,
   over random scenarios that exercise every feature the fast path claims.
2. Statistically, on every bundled scenario, with the fast path on a *different* seed (so the
   samples are independent): each metric's mean within 4 standard errors of the difference, and
   two-sample Kolmogorov–Smirnov tests on makespan and total cost not rejecting at 1%.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from sim import load_scenario, simulate
from sim.engines.fast import supports
from sim.experiment.api import RUN_COLUMNS, choose_engine

from helpers import gpu_steps, llm_steps, scenario

SCENARIOS = sorted(Path("experiments/scenarios").glob("*.toml"))
FLOAT_TOL = {"rtol": 1e-9, "atol": 1e-9}


def assert_same_runs(a, b):
    for col in RUN_COLUMNS:
        if col == "engine":
            continue
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, err_msg=col, **FLOAT_TOL)
        else:
            np.testing.assert_array_equal(x, y, err_msg=col)


retry = st.fixed_dictionaries({
    "initial_interval": st.sampled_from([0, "500ms", "1s", "5s"]),
    "backoff_coefficient": st.sampled_from([1.0, 1.5, 2.0]),
    "maximum_attempts": st.sampled_from([0, 0, 3, 10]),
    "jitter": st.sampled_from(["none", "full", "equal", "decorrelated"]),
})
duration = st.one_of(st.floats(1.0, 900.0), st.fixed_dictionaries({"dist": st.just("lognormal"), "median": st.just(30.0), "p95": st.just(90.0)}),
                     st.fixed_dictionaries({"dist": st.just("uniform"), "low": st.just(5.0), "high": st.just(50.0)}))
failures = st.fixed_dictionaries({}, optional={
    "crash": st.one_of(
        st.fixed_dictionaries({"mtbf": st.floats(60.0, 20000.0), "renew_on_restart": st.booleans(),
                               "detection_delay": st.floats(0, 60), "restart_time": st.floats(0, 60)}),
        st.fixed_dictionaries({"distribution": st.just("weibull"), "shape": st.floats(0.5, 3.0), "scale": st.floats(100.0, 10000.0),
                               "renew_on_restart": st.booleans(), "restart_time": st.floats(0, 60)})),
    "deploy": st.one_of(
        st.fixed_dictionaries({"mode": st.sampled_from(["periodic", "poisson"]), "every": st.floats(200.0, 20000.0),
                               "drain": st.floats(0, 200), "restart_time": st.floats(0, 60)}),
        st.fixed_dictionaries({"mode": st.just("scheduled"), "at": st.lists(st.floats(0, 3000), min_size=1, max_size=4).map(sorted),
                               "drain": st.floats(0, 100)})),
    "rate_limit": st.fixed_dictionaries({"probability": st.floats(0.0, 0.7),
                                         "retry_after": st.one_of(st.floats(0, 5), st.just({"dist": "exponential", "mean": 2.0})),
                                         "response_time": st.sampled_from([0.0, 0.2])}),
})


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(duration, min_size=1, max_size=4), failures, retry, retry, st.booleans(), st.integers(0, 2**31),
       st.sampled_from(["30d", "2h"]))
def test_fast_path_equals_engine_run_by_run(durations, fails, step_retry, pipe_retry, llm, seed, horizon):
    steps = llm_steps(len(durations)) if llm else gpu_steps([60.0] * len(durations))
    for step, d in zip(steps, durations, strict=True):
        step["duration"] = d
    sc = scenario(steps, fails, strategies={
        "restart": {"retry": pipe_retry}, "durable": {"persist_latency": "20ms"},
        "retry_in_place": {"retry": pipe_retry}, "checkpoint": {"every": 2, "persist_latency": "5ms"}},
        defaults={"retry": step_retry}, simulation={"max_time": horizon})
    assert supports(sc)
    a = simulate(sc, 40, seed, engine="des")
    b = simulate(sc, 40, seed, engine="fast")
    assert set(b["engine"]) == {"fast"} and set(a["engine"]) == {"des"}
    assert_same_runs(a, b)



crash_only = st.one_of(
    st.fixed_dictionaries({"mtbf": st.floats(60.0, 5000.0), "renew_on_restart": st.just(True),
                           "detection_delay": st.sampled_from([0, 30, 7.5]), "restart_time": st.sampled_from([0, 20, 3.25])}),
    st.fixed_dictionaries({"distribution": st.just("weibull"), "shape": st.floats(0.5, 3.0), "scale": st.floats(100.0, 5000.0),
                           "renew_on_restart": st.just(True), "restart_time": st.sampled_from([0, 20])}))
no_jitter_retry = st.fixed_dictionaries({
    "initial_interval": st.sampled_from([0, "500ms", "1s", "5s"]),
    "backoff_coefficient": st.sampled_from([1.0, 1.5, 2.0]),
    "maximum_attempts": st.sampled_from([0, 0, 2, 3, 10]),
})


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(0.5, 900.0), min_size=1, max_size=5), crash_only, no_jitter_retry, no_jitter_retry,
       st.booleans(), st.integers(0, 2**31), st.sampled_from(["1d", "2h", "20m"]))
def test_crash_only_sweep_equals_engine_to_the_bit(durations, crash, step_retry, pipe_retry, llm, seed, horizon):
    """Crash-only scenarios with fixed durations take ``_CrashLoop`` (a compiled loop per run), with
    frequent failures, retry limits and horizons within reach (those runs go back to the event
    loop): every column equals the engine's exactly, not just up to rounding."""
    from sim.engines.fast import chain as fastpath

    steps = llm_steps(len(durations)) if llm else gpu_steps([60.0] * len(durations))
    for step, d in zip(steps, durations, strict=True):
        step["duration"] = d
    sc = scenario(steps, {"crash": crash}, strategies={
        "restart": {"retry": pipe_retry}, "durable": {"persist_latency": "20ms"},
        "retry_in_place": {"retry": pipe_retry}, "checkpoint": {"every": 2, "persist_latency": "5ms"}},
        defaults={"retry": step_retry}, simulation={"max_time": horizon})
    assert fastpath._crash_only(fastpath._Chunk(sc, np.arange(1), seed))
    a = simulate(sc, 60, seed, engine="des")
    b = simulate(sc, 60, seed, engine="fast")
    for col in RUN_COLUMNS:
        if col != "engine":
            np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)


def test_crash_only_sweep_with_many_failures_per_run(monkeypatch):
    """MTBF 5 min against an 18-minute pipeline (tens of failures per restart run), all delays zero
    (Temporal's sticky timeout too: the sweep does not model it), the runs split over several
    sweeps: the engine's numbers exactly, and every run finished by the sweep itself (none handed
    back to the event loop)."""
    from sim.engines.fast import chain as fastpath

    sc = scenario(gpu_steps([120.0, 30.0, 900.0, 45.0]), {"crash": {"mtbf": "5m"}},
                  strategies={"restart": {}, "durable": {}, "checkpoint": {"every": 2}},
                  temporal={"sticky_schedule_to_start_timeout": 0})
    reference = simulate(sc, 400, 3, engine="des")
    handed_back = []
    event_loop = fastpath._event_loop
    monkeypatch.setattr(fastpath, "_event_loop", lambda sc_, beh, runs, rows, seed, out: (
        handed_back.append(rows.size), event_loop(sc_, beh, runs, rows, seed, out)))
    monkeypatch.setattr(fastpath, "CRASH_BATCH", 97)
    fast = simulate(sc, 400, 3, engine="fast")
    assert reference["crashes"].mean() > 10
    assert handed_back == [0, 0, 0]
    for col in RUN_COLUMNS:
        if col != "engine":
            np.testing.assert_array_equal(reference[col].to_numpy(), fast[col].to_numpy(), err_msg=col)

def test_crash_only_sweep_in_windows_and_draw_passes(monkeypatch):
    """The crash sweep in windows of 7 runs, each run given one crash draw at a time (so a run
    with many crashes is resumed many times, between crashes or while its worker is down); a
    persistence latency long against the MTBF (5 × 2 s before the first dispatch, MTBF 1 min)
    makes many workers crash while idle. Every column equals the engine's exactly, for one-unit,
    step-level and two-step units."""
    from sim.engines.fast import chain as fastpath
    from sim.engines.fast.crash_loop import _CrashLoop

    sc = scenario(gpu_steps([40.0, 5.0, 90.0, 12.0, 30.0]), {"crash": {"mtbf": "1m", "restart_time": "3s"}},
                  strategies={"restart": {"retry": {"initial_interval": "2s", "backoff_coefficient": 2.0,
                                                    "maximum_attempts": 6}},
                              "durable": {"persist_latency": "2s"},
                              "checkpoint": {"every": 2, "persist_latency": "2s"}})
    reference = simulate(sc, 300, 5, engine="des")
    passes, windows = [], []
    draws, window = _CrashLoop._draws, _CrashLoop._window
    monkeypatch.setattr(_CrashLoop, "_draws", lambda self, keys, j, k: (passes.append(keys.size), draws(self, keys, j, k))[1])
    monkeypatch.setattr(_CrashLoop, "_window", lambda self, out, lo: (windows.append(lo), window(self, out, lo))[1])
    monkeypatch.setattr(_CrashLoop, "FIRST_DRAWS", 1)
    monkeypatch.setattr(fastpath, "CRASH_BATCH", 7)
    fast = simulate(sc, 300, 5, engine="fast")
    assert max(passes) <= 7 and len(passes) > 2 * len(windows)  # several passes a window
    assert reference["crashes"].mean() > 3
    for col in RUN_COLUMNS:
        if col != "engine":
            np.testing.assert_array_equal(reference[col].to_numpy(), fast[col].to_numpy(), err_msg=col)


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_fast_path_agrees_statistically(path):
    sc = load_scenario(path)
    if not supports(sc):
        pytest.skip("the fast path does not cover this scenario")
    runs = 4000
    a = simulate(sc, runs, 1, engine="des")
    b = simulate(sc, runs, 2, engine="fast")
    for col in ("makespan_s", "compute_s", "wasted_compute_s", "total_cost_usd", "orchestration_cost_usd", "attempts"):
        for strategy in sc.strategies:
            x = a.loc[a.strategy == strategy, col].to_numpy(dtype=float)
            y = b.loc[b.strategy == strategy, col].to_numpy(dtype=float)
            se = np.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
            assert abs(x.mean() - y.mean()) <= 4 * se + 1e-12, (strategy, col, x.mean(), y.mean(), se)
    for col in ("makespan_s", "total_cost_usd"):
        for strategy in sc.strategies:
            x = a.loc[a.strategy == strategy, col]
            y = b.loc[b.strategy == strategy, col]
            if x.nunique() > 1 or y.nunique() > 1:
                assert stats.ks_2samp(x, y, method="asymp").pvalue > 0.01, (strategy, col)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_fast_path_equals_engine_on_bundled_scenarios(path):
    sc = load_scenario(path)
    if not supports(sc):
        pytest.skip("the fast path does not cover this scenario")
    assert_same_runs(simulate(sc, 300, 9, engine="des"), simulate(sc, 300, 9, engine="fast"))


def test_auto_engine_choice():
    plain = scenario(gpu_steps([10.0]))
    assert choose_engine(plain) == "fast"
    hb = scenario(gpu_steps([10.0]), strategies={"hb": {"kind": "heartbeat", "every": "1s"}})
    assert choose_engine(hb) == "des"
    with pytest.raises(ValueError, match="heartbeat"):
        choose_engine(hb, "fast")
    df = simulate(hb, 3, 0)
    assert set(df["engine"]) == {"des"}


def test_sub_chunks_and_loop_batches_do_not_change_results(monkeypatch):
    """Runs spread over many first-pass blocks and event-loop batches give the engine's numbers,
    for fixed durations (BLOCK) and random ones with 429s (SUB_CHUNK)."""
    from sim.engines.fast import chain as fastpath

    sc = load_scenario("experiments/scenarios/video.toml")
    random = load_scenario("experiments/scenarios/research_paper.toml")
    reference = simulate(sc, 500, 4, engine="des")
    reference_random = simulate(random, 300, 4, engine="des")
    monkeypatch.setattr(fastpath, "SUB_CHUNK", 37)
    monkeypatch.setattr(fastpath, "BLOCK", 53)
    monkeypatch.setattr(fastpath, "LOOP_BATCH", 11)
    monkeypatch.setattr(fastpath, "TAIL", 3)
    assert_same_runs(reference, simulate(sc, 500, 4, engine="fast"))
    assert_same_runs(reference_random, simulate(random, 300, 4, engine="fast"))


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_zero_and_offset_runs(engine):
    """No replications: an empty table with every column; a strategy subset at an offset: the
    same rows as the full run's."""
    sc = load_scenario("experiments/scenarios/video.toml")
    empty = simulate(sc, 0, 1, engine=engine)
    assert list(empty.columns) == RUN_COLUMNS and len(empty) == 0
    full = simulate(sc, 40, 1, engine=engine)
    part = simulate(sc, 5, 1, first_run=30, engine=engine, strategies=["durable"])
    expected = full[(full.strategy == "durable") & (full.run >= 30) & (full.run < 35)].reset_index(drop=True)
    assert_same_runs(expected, part.reset_index(drop=True))


def test_columns_left_unzeroed_are_written_for_every_run():
    """The runs table's buffer does not zero the columns every engine writes for every run: for the
    fast path, the first pass's fields, plus those the results table fills itself."""
    from sim.engines.fast import chain as fastpath
    from sim.experiment.api import WRITTEN_COLUMNS

    engine_columns = {"orchestration_actions" if name == "unit_attempts" else name for name in fastpath.CLEAN_FIELDS}
    assert set(WRITTEN_COLUMNS) == (engine_columns - {"completed"}) | {"run", "seed", "total_cost_usd"}
