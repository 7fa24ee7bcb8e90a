"""The vectorised graph executor (``sim.engines.fast.graph``) against the DES engine (the reference).

Both read the same random numbers, so every column of every run is equal to the bit: on random
graphs (fan-out with fixed and random counts, ``max_concurrency``, activity slots, waits, 429s
with Retry-After and jittered back-off, crashes and deployments with drain, restart, durable,
retry_in_place and checkpoint groups) and on the bundled graph scenarios.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import load_scenario, scenario_from_dict, simulate
from sim.engines.fast import graph as fast_graph
from sim.engines.fast import supports, why_not
from sim.experiment.api import RUN_COLUMNS, _RunBuffer, choose_engine
from sim.model.strategies import behaviours_of

from helpers import scenario

GRAPHS = sorted(p for p in Path("experiments/scenarios").glob("graph_*.toml"))


def assert_equal_runs(a, b) -> None:
    assert set(a["engine"]) <= {"des"} and set(b["engine"]) <= {"fast"}
    for col in RUN_COLUMNS:
        if col != "engine":
            np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)


def bundled(path, mtbf: str | None = None):
    """A bundled graph scenario without its heartbeat strategies (which only the DES engine
    follows), with the crash MTBF set to ``mtbf`` if given."""
    raw = load_scenario(path).raw
    raw["strategies"] = {k: v for k, v in raw["strategies"].items() if v.get("kind", k) != "heartbeat"}
    if mtbf is not None:
        raw["failures"]["crash"]["mtbf"] = mtbf
    return scenario_from_dict(raw, file=str(path), base_dir=None)


@st.composite
def random_graphs(draw):
    n = draw(st.integers(1, 5))
    steps = []
    for i in range(n):
        preds = sorted(draw(st.sets(st.integers(0, i - 1), max_size=min(i, 3)))) if i else []
        kind = draw(st.sampled_from(["gpu", "llm", "wait"])) if i else draw(st.sampled_from(["gpu", "llm"]))
        duration = draw(st.one_of(st.floats(1.0, 600.0),
                                  st.just({"dist": "lognormal", "median": 20.0, "p95": 60.0}),
                                  st.just({"dist": "uniform", "low": 5.0, "high": 50.0})))
        step = {"name": f"s{i}", "duration": duration, "after": [f"s{p}" for p in preds]}
        if kind == "wait":
            step.update(kind="wait", wait=draw(st.sampled_from(["timer", "signal", "approval"])))
        else:
            step.update({"kind": "gpu", "price_per_hour": 3.6} if kind == "gpu" else
                        {"kind": "llm", "model": "m", "input_tokens": 1000, "output_tokens": 500})
            if draw(st.booleans()):
                step["count"] = draw(st.one_of(st.integers(1, 6), st.just({"dist": "uniform", "low": 1, "high": 6}),
                                               st.just({"dist": "poisson", "mean": 3, "min": 1})))
                if draw(st.booleans()):
                    step["max_concurrency"] = draw(st.integers(1, 3))
        steps.append(step)
    return steps


failures = st.fixed_dictionaries({}, optional={
    "crash": st.fixed_dictionaries({"mtbf": st.floats(300.0, 20000.0), "renew_on_restart": st.booleans(),
                                    "detection_delay": st.floats(0, 60), "restart_time": st.floats(0, 60)}),
    "deploy": st.one_of(
        st.fixed_dictionaries({"mode": st.sampled_from(["periodic", "poisson"]), "every": st.floats(600.0, 20000.0),
                               "drain": st.floats(0, 120), "restart_time": st.floats(0, 60)}),
        st.fixed_dictionaries({"mode": st.just("scheduled"), "at": st.lists(st.floats(0, 3000), min_size=1,
                                                                            max_size=3).map(sorted),
                               "drain": st.floats(0, 100)})),
    "rate_limit": st.fixed_dictionaries({"probability": st.floats(0.0, 0.5),
                                         "retry_after": st.one_of(st.floats(0, 5), st.just({"dist": "exponential",
                                                                                           "mean": 2.0})),
                                         "response_time": st.sampled_from([0.0, 0.2])}),
})
retry = st.fixed_dictionaries({
    "initial_interval": st.sampled_from([0, "500ms", "2s"]),
    "backoff_coefficient": st.sampled_from([1.0, 2.0]),
    "maximum_attempts": st.sampled_from([0, 0, 3]),
    "jitter": st.sampled_from(["none", "full", "equal", "decorrelated"]),
})


def _graph_scenario(steps, fails, slots, step_retry, pipe_retry, horizon="30d"):
    names = [s["name"] for s in steps]
    strategies = {"restart": {"retry": pipe_retry}, "durable": {"persist_latency": "10ms"},
                  "retry_in_place": {"retry": pipe_retry},
                  "singletons": {"kind": "checkpoint", "groups": [[n] for n in names], "persist_latency": "5ms"}}
    if len(names) >= 2 and not any(s.get("kind") == "wait" for s in steps):
        strategies["halves"] = {"kind": "checkpoint", "persist_latency": "5ms",
                                "groups": [names[:len(names) // 2], names[len(names) // 2:]]}
    extra = {"worker": {"activity_slots": slots}} if slots else {}
    sc = scenario(steps, fails, strategies=strategies, defaults={"retry": step_retry},
                  simulation={"max_time": horizon}, **extra)
    return sc


def _check(sc, runs, seed):
    assert supports(sc), why_not(sc)
    assert_equal_runs(simulate(sc, runs, seed, engine="des"), simulate(sc, runs, seed, engine="fast"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), failures, st.one_of(st.none(), st.integers(1, 4)), retry, retry, st.integers(0, 2**31))
def test_graph_executor_equals_engine_on_random_graphs_quick(steps, fails, slots, step_retry, pipe_retry, seed):
    _check(_graph_scenario(steps, fails, slots, step_retry, pipe_retry), 12, seed)


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), failures, st.one_of(st.none(), st.integers(1, 4)), retry, retry, st.integers(0, 2**31),
       st.sampled_from(["30d", "1h", "10m"]), st.sampled_from([fast_graph.BATCH, 16]))
def test_graph_executor_equals_engine_on_random_graphs(steps, fails, slots, step_retry, pipe_retry, seed, horizon,
                                                       batch):
    """``batch`` 16 (the least): the 40 runs are admitted as others finish, as in long calls."""
    old = fast_graph.BATCH
    fast_graph.BATCH = batch
    try:
        _check(_graph_scenario(steps, fails, slots, step_retry, pipe_retry, horizon), 40, seed)
    finally:
        fast_graph.BATCH = old


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_graph_executor_equals_engine_on_bundled_graphs(path):
    _check(bundled(path), 200, 9)


@pytest.mark.slow
@pytest.mark.parametrize("mtbf", ["4h", "20m"])
@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_graph_executor_equals_engine_on_bundled_graphs_at_two_mtbfs(path, mtbf):
    _check(bundled(path, mtbf), 2000, 11)


def test_small_batches_and_compaction_do_not_change_results(monkeypatch):
    """At most 37 runs under way, the next admitted as others finish, finished runs dropped from
    the arrays after each round."""
    sc = bundled("experiments/scenarios/graph_rag_ingestion.toml")
    reference = simulate(sc, 150, 4, engine="des")
    monkeypatch.setattr(fast_graph, "BATCH", 37)
    monkeypatch.setattr(fast_graph, "COMPACT", 0.0)
    assert_equal_runs(reference, simulate(sc, 150, 4, engine="fast"))


@pytest.mark.parametrize("compact", [0.0, 0.5])
def test_every_batch_is_run_when_one_finishes_in_a_single_round(monkeypatch, compact):
    """Failure-free runs of fixed durations all end in the same round: the batch under way is
    finished and dropped at once, and the runs not yet admitted must still be run (they were
    left as zeros when the loop stopped on an empty batch)."""
    steps = [{"name": "a", "kind": "gpu", "price_per_hour": 3.6, "duration": 1.0,
              "count": {"dist": "empirical", "values": [3, 5, 10], "weights": [0.2, 0.5, 0.3]}},
             {"name": "b", "kind": "gpu", "price_per_hour": 3.6, "duration": 2.0, "after": ["a"]}]
    sc = scenario(steps, strategies={"restart": {}, "durable": {}})
    reference = simulate(sc, 150, 2, engine="des")
    monkeypatch.setattr(fast_graph, "BATCH", 37)
    monkeypatch.setattr(fast_graph, "COMPACT", compact)
    got = simulate(sc, 150, 2, engine="fast")
    assert (got["makespan_s"] == 3.0).all() and (got["attempts"] >= 4).all()
    assert_equal_runs(reference, got)


def test_heartbeats_on_graphs_fall_back_to_the_engine():
    sc = load_scenario("experiments/scenarios/graph_video_scenes.toml")
    assert "heartbeat" in why_not(sc)
    assert choose_engine(sc) == "des"
    with pytest.raises(ValueError, match="heartbeat"):
        choose_engine(sc, "fast")
    assert choose_engine(bundled("experiments/scenarios/graph_video_scenes.toml")) == "fast"


@pytest.mark.parametrize(("horizon", "handed"), [("30d", False), ("40m", True)])
def test_only_the_horizon_and_give_ups_go_to_the_engine(horizon, handed, monkeypatch):
    """Crashes, deployments and 429s stay in the executor; runs the horizon cuts go to the
    engine's run logic, with the engine's results (here no batch's last runs are handed over)."""
    monkeypatch.setattr(fast_graph, "TAIL", 0)
    raw = load_scenario("experiments/scenarios/graph_agentic_research.toml").raw
    raw["failures"]["crash"]["mtbf"] = "20m"
    raw["simulation"] = {"max_time": horizon}
    sc = scenario_from_dict(raw, file="graph_agentic_research (MTBF 20 min)", base_dir=None)
    behs = behaviours_of(sc)
    buf = _RunBuffer(len(behs), 300)
    stats: dict[str, int] = {}
    fast_graph.run_into(sc, behs, np.arange(300), 3, [buf.fields(k) for k in range(len(behs))], stats)
    assert stats["runs"] == 900 and (stats["handed"] > 0) == handed
    assert_equal_runs(simulate(sc, 300, 3, engine="des"), simulate(sc, 300, 3, engine="fast"))


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_runs():
    """The executor works in batches: its peak working memory (outputs excluded) is the same for
    3 and 6 batches of runs."""
    sc = bundled("experiments/scenarios/graph_rag_ingestion.toml")
    behs = behaviours_of(sc, ["durable"])
    peaks = []
    for runs in (3 * 2048, 6 * 2048):
        buf = _RunBuffer(1, runs)
        outs = [buf.fields(0)]
        tracemalloc.start()
        old = fast_graph.BATCH
        fast_graph.BATCH = 2048
        try:
            fast_graph.run_into(sc, behs, np.arange(runs), 1, outs)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            fast_graph.BATCH = old
            tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks


def test_zero_and_offset_runs_on_a_graph():
    """No replications: an empty table with every column; a strategy subset at an offset: the
    same rows as the full run's."""
    sc = load_scenario("experiments/scenarios/graph_agentic_research.toml")
    empty = simulate(sc, 0, 1, engine="fast")
    assert list(empty.columns) == RUN_COLUMNS and len(empty) == 0
    full = simulate(sc, 40, 1, engine="fast")
    part = simulate(sc, 5, 1, first_run=30, engine="fast", strategies=["durable"]).reset_index(drop=True)
    expected = full[(full.strategy == "durable") & (full.run >= 30) & (full.run < 35)].reset_index(drop=True)
    for col in RUN_COLUMNS:
        if col not in ("engine", "strategy"):
            np.testing.assert_array_equal(expected[col].to_numpy(), part[col].to_numpy(), err_msg=col)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8), st.lists(st.integers(1, 5), min_size=1, max_size=4), st.integers(0, 4), st.data())
def test_units_that_start_are_the_first_due_within_each_limit(rows, widths, slots, data):
    """``_runnable`` (a compiled loop) against the limits applied one after the other over masks:
    in each eligible run the due units, then each step's first free places (its limit less its
    attempts under way), then the worker's first free slots among the units that take one."""
    n, width = len(widths), sum(widths)
    col_step = np.repeat(np.arange(n), widths)

    def draw(elements, size):
        return np.array(data.draw(st.lists(elements, min_size=size, max_size=size)))

    offset = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    count = np.array([[data.draw(st.integers(0, w)) for w in widths] for _ in range(rows)], dtype=np.int64)
    instance = np.arange(width) - offset[col_step]
    due = draw(st.sampled_from([0.5, 1.0, 2.0, np.inf]), rows * width).reshape(rows, width)
    due[instance[None, :] >= count[:, col_step]] = np.inf  # (a run's absent instances are never due)
    now = draw(st.sampled_from([0.5, 1.0]), rows)
    ready = draw(st.sampled_from([0.0, 1.0]), rows)
    act, draining = draw(st.booleans(), rows), draw(st.booleans(), rows)
    running = draw(st.integers(0, 3), rows * n).reshape(rows, n).astype(np.int64)
    busy = draw(st.integers(0, 4), rows).astype(np.int64)
    step_limit = draw(st.integers(0, 3), n).astype(np.int64)
    takes_slot = draw(st.booleans(), width)

    def first(mask, free):  # keep the first ``free`` True entries of each row
        out = mask.copy()
        for r in range(out.shape[0]):
            out[r] &= np.cumsum(out[r]) <= free[r]
        return out

    ok = (due <= now[:, None]) & (act & ~draining & (now >= ready))[:, None]
    for i in range(n):
        if step_limit[i]:
            cols = col_step == i
            ok[:, cols] = first(ok[:, cols], step_limit[i] - running[:, i])
    if slots:
        ok[:, takes_slot] = first(ok[:, takes_slot], slots - busy)
    from sim.engines.fast.common import compile_cached

    r, c = np.empty(rows * width, dtype=np.int64), np.empty(rows * width, dtype=np.int64)
    k = compile_cached(fast_graph._runnable)(due, count, offset, now, act, draining, ready, running, busy, step_limit,
                                             takes_slot, slots, r, c)
    want_r, want_c = np.nonzero(ok)
    np.testing.assert_array_equal(r[:k], want_r)
    np.testing.assert_array_equal(c[:k], want_c)


@given(st.lists(st.integers(0, 6), max_size=30).map(sorted), st.integers(1, 5))
def test_array_helpers_equal_numpys_own(values, width):
    a = np.array(values, dtype=np.int64)
    expected = np.unique(a, return_index=True, return_counts=True)
    for got, want in zip(fast_graph._distinct(a, index=True, counts=True), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    mask = np.resize(a % 2 == 1, (max(1, a.size // width), width)) if a.size else np.zeros((2, width), bool)
    for got, want in zip(fast_graph._pairs(mask), np.nonzero(mask), strict=True):
        np.testing.assert_array_equal(got, want)
