"""Invariants over random scenarios (hypothesis)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import simulate

from helpers import gpu_steps, llm_steps, scenario

durations = st.lists(st.floats(1.0, 2000.0), min_size=1, max_size=5)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(durations, st.floats(0.0, 0.5), st.integers(0, 2**31))
def test_no_failures_no_waste(steps_s, latency_s, seed):
    sc = scenario(gpu_steps(steps_s), strategies={"restart": {}, "durable": {"persist_latency": latency_s}})
    df = simulate(sc, 5, seed=seed, engine="des")
    assert (df["wasted_compute_s"] == 0).all() and (df["wasted_cost_usd"] == 0).all()
    work = sum(steps_s)
    n = len(steps_s)
    np.testing.assert_allclose(df.loc[df.strategy == "restart", "makespan_s"], work, rtol=1e-12)
    np.testing.assert_allclose(df.loc[df.strategy == "durable", "makespan_s"], work + (5 + 6 * n) * latency_s, rtol=1e-12)
    assert (df["history_events"][df.strategy == "durable"] == 5 + 6 * n).all()
    assert df["completed"].all()


failure_tables = st.fixed_dictionaries({}, optional={
    "crash": st.fixed_dictionaries({"mtbf": st.floats(30.0, 20000.0), "renew_on_restart": st.booleans(),
                                    "detection_delay": st.floats(0, 60), "restart_time": st.floats(0, 60)}),
    "deploy": st.fixed_dictionaries({"mode": st.sampled_from(["periodic", "poisson"]), "every": st.floats(300.0, 20000.0),
                                     "drain": st.floats(0, 120), "restart_time": st.floats(0, 60)}),
    "rate_limit": st.fixed_dictionaries({"probability": st.floats(0.0, 0.6), "retry_after": st.floats(0, 5)}),
})


@pytest.mark.slow
@SETTINGS
@given(durations, failure_tables, st.integers(0, 2**31), st.booleans())
def test_accounting_identities(steps_s, failures, seed, llm):
    steps = llm_steps(len(steps_s), 30.0) if llm else gpu_steps(steps_s)
    sc = scenario(steps, failures, strategies={
        "restart": {"retry": {"initial_interval": "1s"}}, "durable": {"persist_latency": "10ms"},
        "retry_in_place": {}, "checkpoint": {"every": 2}})
    df = simulate(sc, 8, seed=seed, engine="des")
    assert (df["compute_s"] == df["useful_compute_s"] + df["wasted_compute_s"]).all()
    np.testing.assert_allclose(df["compute_cost_usd"], df["useful_cost_usd"] + df["wasted_cost_usd"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(df["total_cost_usd"], df["compute_cost_usd"] + df["orchestration_cost_usd"], rtol=1e-12)
    numeric = df.select_dtypes("number")
    assert (numeric >= 0).all().all()
    done = df[df["completed"]]
    if not llm:
        assert (done["useful_compute_s"] >= sum(steps_s) * (1 - 1e-12)).all()
        assert (done["makespan_s"] >= sum(steps_s) * (1 - 1e-12)).all()
    assert (df.loc[~df["completed"], "useful_compute_s"] == 0).all()


@pytest.mark.slow
@SETTINGS
@given(durations, st.floats(30.0, 20000.0), st.booleans(), st.floats(0, 60), st.floats(0, 60), st.integers(0, 2**31))
def test_durable_never_wastes_more_on_the_same_crashes(steps_s, mtbf, renew, detect, restart, seed):
    sc = scenario(gpu_steps(steps_s), {"crash": {"mtbf": mtbf, "renew_on_restart": renew,
                                                 "detection_delay": detect, "restart_time": restart}})
    df = simulate(sc, 10, seed=seed, engine="des")
    r = df[df.strategy == "restart"].set_index("run")
    d = df[df.strategy == "durable"].set_index("run")
    both = r["completed"] & d["completed"]
    assert (d.loc[both, "wasted_compute_s"] <= r.loc[both, "wasted_compute_s"] + 1e-6).all()
